//! The caller, from the bearer token: tenant, user, grants, roles.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde_json::Value;

use crate::{DirState, GraphError};

/// The caller, from the bearer token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Tenant id.
    pub tenant: String,
    /// The signed-in user's object id (delegated tokens).
    pub user: Option<String>,
    /// Application permissions (`roles`) or delegated scopes (`scp`).
    pub grants: Vec<String>,
    /// The client application.
    pub app: String,
    /// The signed-in user's directory roles (`wids`; delegated tokens).
    pub wids: Vec<String>,
    /// The signed-in user's UPN (delegated tokens).
    pub upn: Option<String>,
}

impl FromRequestParts<Arc<DirState>> for Principal {
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<DirState>,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized =
            |m: &str| GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Access token is empty."))?;
        let claims = st.key.verify(token, st.now()).map_err(|e| match e {
            crate::jwt::JwtError::Expired => {
                unauthorized("Lifetime validation failed, the token is expired.")
            }
            _ => unauthorized("Access token validation failure. Invalid audience or signature."),
        })?;
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        if text("aud").as_deref() != Some(crate::GRAPH_AUDIENCE) {
            return Err(unauthorized(
                "Access token validation failure. Invalid audience.",
            ));
        }
        let tenant = text("tid").ok_or_else(|| unauthorized("Access token has no tenant."))?;
        let mut grants: Vec<String> = claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(scp) = text("scp") {
            grants.extend(scp.split_whitespace().map(str::to_owned));
        }
        let wids = claims
            .get("wids")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            tenant,
            user: text("oid").filter(|_| claims.contains_key("scp")),
            grants,
            app: text("appid").unwrap_or_default(),
            upn: text("upn"),
            wids,
        })
    }
}
