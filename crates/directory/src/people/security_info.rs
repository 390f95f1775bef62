//! Security info: the user's methods, "Add sign-in method" → "Hardware
//! token": serial number → name → code → done, and delete.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::{failed, render, signed_in};
use crate::codes::{self, Outcome};
use crate::db::{Device, User};
use crate::rules::{self, Purpose, status};
use crate::{DirState, GraphError};

pub(super) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/security-info", get(security_info))
        .route("/security-info/delete", post(delete_method))
        .route("/security-info/add", get(add_method))
        .route(
            "/security-info/hardware-token",
            get(token_serial_page).post(token_serial),
        )
        .route("/security-info/hardware-token/name", post(token_name))
        .route("/security-info/hardware-token/code", post(token_code))
}

/// A method row on Security info.
struct Method {
    id: String,
    name: String,
    serial: String,
    status: String,
}

#[derive(Template)]
#[template(path = "security_info.html")]
struct SecurityInfo {
    user: User,
    methods: Vec<Method>,
    notice: Option<String>,
}

fn methods(devices: Vec<Device>) -> Vec<Method> {
    devices
        .into_iter()
        .map(|d| Method {
            name: d
                .display_name
                .clone()
                .unwrap_or_else(|| format!("{} {}", d.manufacturer, d.model)),
            id: d.id,
            serial: d.serial,
            status: d.status,
        })
        .collect()
}

#[derive(serde::Deserialize, Default)]
struct Notice {
    notice: Option<String>,
}

async fn security_info(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<Notice>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match st.db.devices_of(&user.tenant_id, &user.id).await {
        Ok(devices) => render(
            StatusCode::OK,
            &SecurityInfo {
                user,
                methods: methods(devices),
                notice: q.notice.filter(|n| n == "added" || n == "deleted"),
            },
        ),
        Err(e) => failed(&e.into()),
    }
}

#[derive(serde::Deserialize)]
struct DeleteForm {
    id: String,
}

async fn delete_method(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<DeleteForm>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match st.db.device(&user.tenant_id, &f.id).await {
        Ok(Some(mut d)) if d.user.as_ref().is_some_and(|u| u.0 == user.id) => {
            d.user = None;
            d.assigned_at = None;
            d.status = status::AVAILABLE.into();
            d.drift = 0;
            match st.db.save_device(&d, Some(&user.id)).await {
                Ok(true) => Redirect::to("/security-info?notice=deleted").into_response(),
                Ok(false) => Redirect::to("/security-info").into_response(),
                Err(e) => failed(&e.into()),
            }
        }
        Ok(_) => Redirect::to("/security-info").into_response(),
        Err(e) => failed(&e.into()),
    }
}

#[derive(Template)]
#[template(path = "add_method.html")]
struct AddMethod {
    user: User,
}

async fn add_method(State(st): State<Arc<DirState>>, headers: HeaderMap) -> Response {
    match signed_in(&st, &headers).await {
        Ok(user) => render(StatusCode::OK, &AddMethod { user }),
        Err(r) => r,
    }
}

#[derive(Template)]
#[template(path = "hardware_token.html")]
struct TokenStep {
    user: User,
    step: &'static str,
    serial: String,
    name: String,
    interval: i64,
    problem: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct TokenForm {
    #[serde(default)]
    serial: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    code: String,
}

fn token_step(
    user: User,
    step: &'static str,
    f: &TokenForm,
    interval: i64,
    problem: Option<String>,
) -> Response {
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &TokenStep {
            user,
            step,
            serial: f.serial.trim().to_owned(),
            name: f.name.trim().to_owned(),
            interval,
            problem,
        },
    )
}

async fn token_serial_page(State(st): State<Arc<DirState>>, headers: HeaderMap) -> Response {
    match signed_in(&st, &headers).await {
        Ok(user) => token_step(user, "serial", &TokenForm::default(), 30, None),
        Err(r) => r,
    }
}

/// The token with this serial, if this user may enrol it: available, or
/// already theirs.
async fn enrollable(
    st: &DirState,
    user: &User,
    serial: &str,
) -> Result<Option<Device>, GraphError> {
    let d = st
        .db
        .device_by_serial(&user.tenant_id, serial.trim())
        .await?;
    Ok(d.filter(|d| match &d.user {
        None => true,
        Some((owner, _)) => *owner == user.id,
    }))
}

const NOT_FOUND: &str = "We couldn't find a hardware token with this serial number that you can add. Check the number on the back of the token, or contact your administrator.";

async fn token_serial(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match enrollable(&st, &user, &f.serial).await {
        Ok(Some(d)) => {
            let f = TokenForm {
                name: d.display_name.clone().unwrap_or_default(),
                ..f
            };
            token_step(user, "name", &f, d.interval, None)
        }
        Ok(None) => token_step(user, "serial", &f, 30, Some(NOT_FOUND.into())),
        Err(e) => failed(&e),
    }
}

async fn token_name(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match enrollable(&st, &user, &f.serial).await {
        Ok(Some(d)) if f.name.trim().is_empty() => token_step(
            user,
            "name",
            &f,
            d.interval,
            Some("Enter a name for this token.".into()),
        ),
        Ok(Some(d)) => token_step(user, "code", &f, d.interval, None),
        Ok(None) => token_step(user, "serial", &f, 30, Some(NOT_FOUND.into())),
        Err(e) => failed(&e),
    }
}

async fn token_code(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let d = match enrollable(&st, &user, &f.serial).await {
        Ok(Some(d)) => d,
        Ok(None) => return token_step(user, "serial", &f, 30, Some(NOT_FOUND.into())),
        Err(e) => return failed(&e),
    };
    if d.user.is_none() {
        match st.db.methods_of(&user.id).await {
            Ok(n) if n >= rules::MAX_METHODS_PER_USER => {
                return token_step(
                    user,
                    "serial",
                    &f,
                    d.interval,
                    Some(format!(
                        "You already have {} authenticator methods of this kind, the most allowed. Delete one first.",
                        rules::MAX_METHODS_PER_USER
                    )),
                );
            }
            Ok(_) => {}
            Err(e) => return failed(&e.into()),
        }
    }
    let now = st.now();
    let name = f.name.trim().to_owned();
    let accept = |d: &mut Device| {
        if d.user.is_none() {
            d.user = Some((user.id.clone(), user.display_name.clone()));
            d.assigned_at = Some(now);
        }
        d.display_name = Some(name.clone());
        d.status = status::ACTIVATED.into();
    };
    let outcome = codes::try_code(
        &st,
        Some(&user),
        std::slice::from_ref(&d),
        &f.code,
        Purpose::Activation,
        &accept,
    )
    .await;
    match outcome {
        Ok(Outcome::Accepted(d)) => {
            tracing::info!(user = %user.id, device = %d.id, "hardware token registered in Security info");
            token_step(user, "done", &f, d.interval, None)
        }
        Ok(Outcome::Locked(until)) => {
            let problem = codes::locked_message(until);
            token_step(user, "code", &f, d.interval, Some(problem))
        }
        Ok(Outcome::Refused) => token_step(
            user,
            "code",
            &f,
            d.interval,
            Some("That code didn't work. Enter the code shown on the token now.".into()),
        ),
        Err(e) => failed(&e),
    }
}
