//! The device code page (`/devicelogin`): a signed-in user types the code
//! an app shows and approves or declines its sign-in (RFC 8628).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::{failed, render, signed_in};
use crate::db::User;
use crate::{DirState, GraphError};

pub(super) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/devicelogin", get(devicelogin_page).post(devicelogin))
        .route("/devicelogin/confirm", post(devicelogin_confirm))
}

#[derive(Template)]
#[template(path = "devicelogin.html")]
struct DeviceLogin {
    user: User,
    step: &'static str,
    user_code: String,
    app: String,
    problem: Option<&'static str>,
}

fn device_page(
    user: User,
    step: &'static str,
    user_code: &str,
    app: &str,
    problem: Option<&'static str>,
) -> Response {
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &DeviceLogin {
            user,
            step,
            user_code: user_code.to_owned(),
            app: app.to_owned(),
            problem,
        },
    )
}

async fn devicelogin_page(State(st): State<Arc<DirState>>, headers: HeaderMap) -> Response {
    match signed_in(&st, &headers).await {
        Ok(user) => device_page(user, "code", "", "", None),
        Err(_) => Redirect::to("/login?next=devicelogin").into_response(),
    }
}

#[derive(serde::Deserialize)]
struct DeviceCodeForm {
    user_code: String,
    decision: Option<String>,
}

const UNKNOWN_CODE: &str = "That code didn't work. Check the code and try again.";

/// The pending grant with this user code in the user's tenant: its app's
/// name, its app and the scopes asked.
async fn pending_grant(
    st: &DirState,
    user: &User,
    user_code: &str,
) -> Result<Option<(String, String, String)>, GraphError> {
    let code = user_code.trim().replace(['-', ' '], "");
    let grant = st.db.device_code(None, Some(&code)).await?;
    let Some(g) = grant
        .filter(|g| g.status == "pending" && g.expires > st.now() && g.tenant_id == user.tenant_id)
    else {
        return Ok(None);
    };
    let app = st.db.app(&g.client_id).await?;
    let name = app.map_or_else(|| g.client_id.clone(), |a| a.name);
    Ok(Some((name, g.client_id, g.scope)))
}

async fn devicelogin(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<DeviceCodeForm>,
) -> Response {
    let Ok(user) = signed_in(&st, &headers).await else {
        return Redirect::to("/login?next=devicelogin").into_response();
    };
    match pending_grant(&st, &user, &f.user_code).await {
        Ok(Some((app, _, _))) => device_page(user, "confirm", f.user_code.trim(), &app, None),
        Ok(None) => device_page(user, "code", &f.user_code, "", Some(UNKNOWN_CODE)),
        Err(e) => failed(&e),
    }
}

async fn devicelogin_confirm(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<DeviceCodeForm>,
) -> Response {
    let Ok(user) = signed_in(&st, &headers).await else {
        return Redirect::to("/login?next=devicelogin").into_response();
    };
    let (app, client_id, scope) = match pending_grant(&st, &user, &f.user_code).await {
        Ok(Some(x)) => x,
        Ok(None) => return device_page(user, "code", &f.user_code, "", Some(UNKNOWN_CODE)),
        Err(e) => return failed(&e),
    };
    let approve = f.decision.as_deref() == Some("approve");
    let code = f
        .user_code
        .trim()
        .replace(['-', ' '], "")
        .to_ascii_uppercase();
    let status = if approve { "approved" } else { "declined" };
    if approve {
        // Approving is the user's consent, for themselves, to what they
        // may consent to; the rest needs an administrator's.
        let own = crate::oauth::self_consentable(&scope);
        if let Err(e) = st
            .db
            .consent(&user.tenant_id, &client_id, Some(&user.id), &own, st.now())
            .await
        {
            return failed(&e.into());
        }
    }
    match st.db.set_device_code(&code, status, Some(&user.id)).await {
        Ok(true) => {
            tracing::info!(user = %user.id, %status, "device code sign-in");
            device_page(
                user,
                if approve { "approved" } else { "declined" },
                &code,
                &app,
                None,
            )
        }
        Ok(false) => device_page(user, "code", &f.user_code, "", Some(UNKNOWN_CODE)),
        Err(e) => failed(&e.into()),
    }
}
