//! Users: `/beta/users`, `/beta/users/{user}` and `/beta/me`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value};

use super::list::{Listing, list};
use super::shapes::user_json;
use super::{Principal, bad_request, base_url, entity, not_found, query_error};
use crate::access::Operation;
use crate::db::{Cond, Db, DbError, User};
use crate::odata::{self, Allowed, Literal, Query};
use crate::{DirState, GraphError};

pub(super) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/beta/users", get(list::<Users>))
        .route("/beta/users/{user}", get(get_user))
        .route("/beta/me", get(get_me))
}

const USER_FILTER: &[&str] = &["id", "userPrincipalName", "displayName", "mail"];
const USER_SELECT: &[&str] = &[
    "id",
    "displayName",
    "userPrincipalName",
    "mail",
    "accountEnabled",
];

/// The users of a tenant, in user principal name order.
struct Users;

impl Listing for Users {
    type Item = User;
    const ALLOWED: Allowed<'static> = Allowed {
        filter: USER_FILTER,
        select: USER_SELECT,
        max_top: 999,
    };
    const DEFAULT_TOP: usize = 100;
    const PATH: &'static str = "/beta/users";
    const CONTEXT: &'static str = "users";

    fn authorize(who: &Principal) -> Result<(), GraphError> {
        who.allow(Operation::ReadUsers, None)
    }

    fn conditions(q: &Query) -> Result<Vec<Cond>, GraphError> {
        q.filter
            .iter()
            .map(|c| {
                let col = match c.property.as_str() {
                    "id" => "id",
                    "displayName" => "display_name",
                    _ => "upn",
                };
                match &c.value {
                    Literal::Str(s) if col == "upn" => Ok(Cond::Text(col, s.to_ascii_lowercase())),
                    Literal::Str(s) => Ok(Cond::Text(col, s.clone())),
                    _ => Err(bad_request(format!("{} takes a quoted string", c.property))),
                }
            })
            .collect()
    }

    fn fetch<'a>(
        db: &'a Db,
        tenant: &'a str,
        conds: &'a [Cond],
        after: Option<&'a str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<User>, DbError>> + Send + 'a {
        db.users(tenant, conds, after, limit)
    }

    fn key(u: &User) -> String {
        u.upn.clone()
    }

    fn json(u: &User) -> Map<String, Value> {
        user_json(u)
    }
}

pub(super) async fn find_user(
    st: &DirState,
    tenant: &str,
    id_or_upn: &str,
) -> Result<User, GraphError> {
    st.db
        .user(tenant, id_or_upn)
        .await?
        .ok_or_else(|| not_found(id_or_upn))
}

async fn get_user(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(user): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    who.may_try(Operation::ReadUsers)?;
    let q = odata::parse(
        raw.as_deref().unwrap_or(""),
        Allowed {
            filter: &[],
            select: USER_SELECT,
            max_top: 1,
        },
    )
    .map_err(query_error)?;
    let u = find_user(&st, &who.tenant, &user).await?;
    who.allow(Operation::ReadUsers, Some(&u))?;
    let mut m = user_json(&u);
    odata::apply_select(&mut m, q.select.as_deref());
    let base = base_url(&st, &headers);
    Ok(entity(
        StatusCode::OK,
        format!("{base}/beta/$metadata#users/$entity"),
        m,
    ))
}

async fn get_me(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let id = who.user.clone().ok_or_else(me_needs_user)?;
    let u = find_user(&st, &who.tenant, &id).await?;
    who.allow(Operation::ReadUsers, Some(&u))?;
    let base = base_url(&st, &headers);
    Ok(entity(
        StatusCode::OK,
        format!("{base}/beta/$metadata#users/$entity"),
        user_json(&u),
    ))
}

pub(super) fn me_needs_user() -> GraphError {
    bad_request("/me request is only valid with delegated authentication flow.")
}
