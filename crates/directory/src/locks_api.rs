//! Beyond Entra, for the help desk: the tokens and users locked after too
//! many wrong codes (`GET /api/locks`), and clearing a lock
//! (`DELETE /api/locks/tokens/{serial}`, `DELETE /api/locks/users/{user}`),
//! which is written to the audit log.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::Serialize;

use crate::access::Operation;
use crate::db::{AuditEvent, device_subject, user_subject};
use crate::graph::Principal;
use crate::{DirState, GraphError};

pub(crate) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/api/locks", get(list))
        .route("/api/locks/tokens/{serial}", delete(clear_token))
        .route("/api/locks/users/{user}", delete(clear_user))
}

/// One locked (or counting) token or user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockState {
    /// `token` or `user`.
    pub kind: &'static str,
    /// The token's serial number or the user's UPN.
    pub name: String,
    /// Wrong codes in a row since the last right one (or the last lock).
    pub failed_attempts: i64,
    /// Until when it is locked (RFC 3339); absent when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
}

#[derive(Serialize)]
struct Locks {
    value: Vec<LockState>,
}

async fn list(State(st): State<Arc<DirState>>, who: Principal) -> Result<Json<Locks>, GraphError> {
    who.allow(Operation::ReadTokenStates, None)?;
    let now = st.now();
    let mut value = Vec::new();
    for l in st.db.code_locks(&who.tenant, now).await? {
        let named = if let Some(id) = l.subject.strip_prefix("device:") {
            st.db
                .device(&who.tenant, id)
                .await?
                .map(|d| ("token", d.serial))
        } else if let Some(id) = l.subject.strip_prefix("user:") {
            st.db.user(&who.tenant, id).await?.map(|u| ("user", u.upn))
        } else {
            None
        };
        if let Some((kind, name)) = named {
            value.push(LockState {
                kind,
                name,
                failed_attempts: l.failed,
                locked_until: (l.locked_until > now)
                    .then(|| oathvault_otp::clock::rfc3339(l.locked_until)),
            });
        }
    }
    Ok(Json(Locks { value }))
}

fn not_found(what: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!("Resource '{what}' does not exist."),
    )
}

async fn clear_token(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(serial): Path<String>,
) -> Result<Response, GraphError> {
    who.may_try(Operation::ClearLock)?;
    let d = st
        .db
        .device_by_serial(&who.tenant, &serial)
        .await?
        .ok_or_else(|| not_found(&serial))?;
    let owner = match &d.user {
        Some((id, _)) => st.db.user(&who.tenant, id).await?,
        None => None,
    };
    who.allow(Operation::ClearLock, owner.as_ref())?;
    clear(
        &st,
        &who,
        &device_subject(&d.id),
        format!("token:{}", d.serial),
    )
    .await
}

async fn clear_user(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(user): Path<String>,
) -> Result<Response, GraphError> {
    who.may_try(Operation::ClearLock)?;
    let u = st
        .db
        .user(&who.tenant, &user)
        .await?
        .ok_or_else(|| not_found(&user))?;
    who.allow(Operation::ClearLock, Some(&u))?;
    clear(&st, &who, &user_subject(&u.id), format!("user:{}", u.upn)).await
}

async fn clear(
    st: &DirState,
    who: &Principal,
    subject: &str,
    name: String,
) -> Result<Response, GraphError> {
    let now = st.now();
    if st.db.clear_code_lock(subject, now).await? {
        tracing::info!(%name, by = %who.actor(), "code lock cleared");
        st.db
            .audit(
                &who.tenant,
                &AuditEvent {
                    at: now,
                    actor: who.actor(),
                    action: "lock.cleared".into(),
                    subject: name,
                    detail: String::new(),
                },
            )
            .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
