//! A user's hardware OATH methods (also as `/me`): list, get, assign,
//! activate, deactivate, unassign.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};

use super::devices::find_device;
use super::shapes::{method_json, rfc3339};
use super::users::{find_user, me_needs_user};
use super::{
    METHOD_TYPE, Principal, bad_request, base_url, body_json, entity, not_found, ok_json, str_field,
};
use crate::access::Operation;
use crate::codes::{self, Outcome};
use crate::db::{Cond, Device, User};
use crate::rules::{self, Purpose, status};
use crate::{DirState, GraphError};

/// The routes under `/beta/users/{user}` and `/beta/me`.
pub(super) fn routes() -> Router<Arc<DirState>> {
    let methods = "/authentication/hardwareOathMethods";
    let mut r = Router::new();
    for base in ["/beta/users/{user}", "/beta/me"] {
        r = r
            .route(&format!("{base}{methods}"), get(list_methods).post(assign))
            .route(
                &format!("{base}{methods}/assignAndActivate"),
                post(assign_and_activate),
            )
            .route(
                &format!("{base}{methods}/assignAndActivateBySerialNumber"),
                post(assign_and_activate_by_serial),
            )
            .route(
                &format!("{base}{methods}/{{method}}"),
                get(get_method).delete(unassign),
            )
            .route(
                &format!("{base}{methods}/{{method}}/activate"),
                post(activate),
            )
            .route(
                &format!("{base}{methods}/{{method}}/deactivate"),
                post(deactivate),
            )
            .route(
                &format!("{base}{methods}/{{method}}/device/assignTo/$ref"),
                put(assign_ref),
            );
    }
    r
}

/// The user a `/users/{user}/…` or `/me/…` path names (under `/me`, the
/// caller), if the caller may read (or, with `write`, change) their
/// methods.
async fn target(
    st: &DirState,
    who: &Principal,
    user: Option<&str>,
    write: bool,
) -> Result<User, GraphError> {
    let op = if write {
        Operation::WriteMethods
    } else {
        Operation::ReadMethods
    };
    let u = if let Some(u) = user {
        who.may_try(op)?;
        find_user(st, &who.tenant, u).await?
    } else {
        let me = who.user.clone().ok_or_else(me_needs_user)?;
        find_user(st, &who.tenant, &me).await?
    };
    who.allow(op, Some(&u))?;
    Ok(u)
}

/// Path parameters of the per-user routes (`user` is absent under `/me`).
#[derive(Debug, serde::Deserialize)]
struct UserPath {
    user: Option<String>,
    method: Option<String>,
}

/// The user's method `method` (its device).
async fn users_device(
    st: &DirState,
    who: &Principal,
    user: &User,
    method: Option<&str>,
) -> Result<Device, GraphError> {
    let id = method.unwrap_or_default();
    let d = find_device(st, &who.tenant, id).await?;
    if d.user.as_ref().map(|u| u.0.as_str()) != Some(user.id.as_str()) {
        return Err(not_found(id));
    }
    Ok(d)
}

async fn list_methods(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(p): Path<UserPath>,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), false).await?;
    let devices = st
        .db
        .devices(
            &who.tenant,
            &[Cond::Text("d.user_id", user.id.clone())],
            None,
            100,
        )
        .await?;
    let base = base_url(&st, &headers);
    let value: Vec<Value> = devices
        .iter()
        .map(|d| Value::Object(method_json(d)))
        .collect();
    Ok(ok_json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{base}/beta/$metadata#users('{}')/authentication/hardwareOathMethods", user.id),
            "value": value,
        }),
    ))
}

async fn get_method(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(p): Path<UserPath>,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), false).await?;
    let d = users_device(&st, &who, &user, p.method.as_deref()).await?;
    let base = base_url(&st, &headers);
    Ok(entity(
        StatusCode::OK,
        format!(
            "{base}/beta/$metadata#users('{}')/authentication/hardwareOathMethods/$entity",
            user.id
        ),
        method_json(&d),
    ))
}

pub(super) async fn check_method_cap(st: &DirState, user_id: &str) -> Result<(), GraphError> {
    if st.db.methods_of(user_id).await? >= rules::MAX_METHODS_PER_USER {
        return Err(bad_request(format!(
            "The user already has {} OATH methods, the most allowed.",
            rules::MAX_METHODS_PER_USER
        )));
    }
    Ok(())
}

/// Whether `user` may be given `d`: it is nobody's (and the user has room
/// for another method), or already theirs.
async fn may_give(st: &DirState, d: &Device, user: &User) -> Result<(), GraphError> {
    match &d.user {
        Some((owner, _)) if *owner == user.id => Ok(()),
        Some(_) => Err(GraphError::new(
            StatusCode::CONFLICT,
            "Request_BadRequest",
            "The hardware OATH token is assigned to another user.",
        )),
        None => check_method_cap(st, &user.id).await,
    }
}

/// Makes a nobody's `d` the user's (`assigned`); a token already theirs
/// keeps its state.
fn assign_to(d: &mut Device, user: &User, now: i64) {
    if d.user.is_none() {
        d.user = Some((user.id.clone(), user.display_name.clone()));
        d.assigned_at = Some(now);
        d.status = status::ASSIGNED.into();
    }
}

fn changed_meanwhile() -> GraphError {
    GraphError::new(
        StatusCode::CONFLICT,
        "Request_BadRequest",
        "The hardware OATH token was changed by another request meanwhile; read it again and retry.",
    )
}

/// Writes `d` if its owner is still `owner_before`; `409` otherwise.
async fn save(st: &DirState, d: &Device, owner_before: Option<&str>) -> Result<(), GraphError> {
    if st.db.save_device(d, owner_before).await? {
        Ok(())
    } else {
        Err(changed_meanwhile())
    }
}

/// Gives `before` to `user` (see [`may_give`]) and writes it.
async fn give(st: &DirState, before: &Device, user: &User) -> Result<Device, GraphError> {
    may_give(st, before, user).await?;
    let mut d = before.clone();
    if d.user.is_none() {
        assign_to(&mut d, user, st.now());
        save(st, &d, None).await?;
    }
    Ok(d)
}

fn device_id(m: &Map<String, Value>) -> Result<String, GraphError> {
    m.get("device")
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| bad_request("device.id is required"))
}

async fn assign(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let before = find_device(&st, &who.tenant, &device_id(&m)?).await?;
    let d = give(&st, &before, &user).await?;
    let base = base_url(&st, &headers);
    let mut out = Map::new();
    out.insert("@odata.type".into(), METHOD_TYPE.into());
    out.insert("id".into(), d.id.clone().into());
    out.insert(
        "createdDateTime".into(),
        rfc3339(d.assigned_at).map_or(Value::Null, Value::String),
    );
    Ok(entity(
        StatusCode::CREATED,
        format!(
            "{base}/beta/$metadata#users('{}')/authentication/hardwareOathMethods/$entity",
            user.id
        ),
        out,
    ))
}

async fn assign_ref(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let reference =
        str_field(&m, "@odata.id").ok_or_else(|| bad_request("@odata.id is required"))?;
    // The reference names the user the path is about (under `/me`, the
    // caller): it cannot hand the token to someone else.
    let named = reference.rsplit('/').next().unwrap_or_default();
    let to = find_user(&st, &who.tenant, named).await?;
    if to.id != user.id {
        return Err(bad_request(
            "@odata.id must name the user of the request path.",
        ));
    }
    let before = find_device(&st, &who.tenant, p.method.as_deref().unwrap_or_default()).await?;
    give(&st, &before, &user).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Checks an activation code for `user` on `before` (the token as read:
/// theirs, or nobody's when assigning and activating at once). The right
/// code activates it (and assigns it, names it) in one write; a wrong one
/// leaves the user's token `failedActivation` and a nobody's token as it
/// was — never assigned to anyone.
async fn activate_with(
    st: &DirState,
    user: &User,
    before: &Device,
    m: &Map<String, Value>,
) -> Result<(), GraphError> {
    let code = match m.get("verificationCode") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(bad_request("verificationCode is required")),
    };
    let name = str_field(m, "displayName");
    let now = st.now();
    let accept = |d: &mut Device| {
        assign_to(d, user, now);
        d.status = status::ACTIVATED.into();
        if let Some(name) = name {
            d.display_name = Some(name.to_owned());
        }
    };
    match codes::try_code(
        st,
        Some(user),
        std::slice::from_ref(before),
        &code,
        Purpose::Activation,
        &accept,
    )
    .await?
    {
        Outcome::Accepted(_) => Ok(()),
        Outcome::Locked(until) => Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "TooManyAttempts",
            codes::locked_message(until),
        )),
        Outcome::Refused => {
            if before.user.as_ref().is_some_and(|u| u.0 == user.id) {
                let mut d = before.clone();
                d.status = status::FAILED_ACTIVATION.into();
                save(st, &d, Some(&user.id)).await?;
            }
            Err(bad_request(
                "The verification code is not valid for this token.",
            ))
        }
    }
}

async fn activate(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let d = users_device(&st, &who, &user, p.method.as_deref()).await?;
    activate_with(&st, &user, &d, &m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn deactivate(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let mut d = users_device(&st, &who, &user, p.method.as_deref()).await?;
    d.status = status::ASSIGNED.into();
    save(&st, &d, Some(&user.id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn assign_and_activate(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let d = find_device(&st, &who.tenant, &device_id(&m)?).await?;
    may_give(&st, &d, &user).await?;
    activate_with(&st, &user, &d, &m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn assign_and_activate_by_serial(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let serial =
        str_field(&m, "serialNumber").ok_or_else(|| bad_request("serialNumber is required"))?;
    let d = st
        .db
        .device_by_serial(&who.tenant, serial)
        .await?
        .ok_or_else(|| not_found(serial))?;
    may_give(&st, &d, &user).await?;
    activate_with(&st, &user, &d, &m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unassign(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let mut d = users_device(&st, &who, &user, p.method.as_deref()).await?;
    d.user = None;
    d.assigned_at = None;
    d.status = status::AVAILABLE.into();
    d.drift = 0;
    save(&st, &d, Some(&user.id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
