//! Sign-in (password, then the code), sign-out, and the account page.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use oathvault_store::Role;

use super::{AppState, Frame, PENDING, SESSION, Signed, cookie, render, set_cookie, when};
use crate::auth::AuthError;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin))
        .route("/signin/code", get(code_page).post(code))
        .route("/signout", axum::routing::post(signout))
        .route("/account", get(account))
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    frame: Frame,
    step: &'static str,
}

fn signin_form(status: StatusCode, step: &'static str, problem: Option<String>) -> Response {
    render(
        status,
        &SigninPage {
            frame: Frame {
                problem,
                ..Frame::default()
            },
            step,
        },
    )
}

async fn home(signed: Signed) -> Redirect {
    if signed.session.staff.role == Role::Administrator {
        Redirect::to("/admin/")
    } else {
        Redirect::to("/admin/requests")
    }
}

async fn signin_page() -> Response {
    signin_form(StatusCode::OK, "password", None)
}

#[derive(serde::Deserialize)]
struct SigninForm {
    email: String,
    password: zeroize::Zeroizing<String>,
}

fn refused(step: &'static str, e: &AuthError) -> Response {
    let status = match e {
        AuthError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNAUTHORIZED,
    };
    let msg = match e {
        AuthError::Store(e) => {
            tracing::error!(error = %e, "sign-in: database failure");
            "the portal cannot reach its database; try again later".to_owned()
        }
        other => other.to_string(),
    };
    // After a refused code the pending step is gone: start again.
    let step = if step == "code" && !matches!(e, AuthError::RateLimited) {
        "password"
    } else {
        step
    };
    signin_form(status, step, Some(msg))
}

async fn signin(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<SigninForm>,
) -> Response {
    let result = st
        .auth()
        .password(
            &mut rand08::rngs::OsRng,
            &f.email,
            &f.password,
            &peer.ip().to_string(),
            st.now(),
        )
        .await;
    match result {
        Ok(token) => (
            [(
                header::SET_COOKIE,
                set_cookie(PENDING, &token, st.policy.pending_ttl),
            )],
            Redirect::to("/signin/code"),
        )
            .into_response(),
        Err(e) => {
            tracing::info!(source = %peer.ip(), outcome = "refused", "sign-in: password step");
            refused("password", &e)
        }
    }
}

async fn code_page(headers: HeaderMap) -> Response {
    if cookie(&headers, PENDING).is_none() {
        return Redirect::to("/signin").into_response();
    }
    signin_form(StatusCode::OK, "code", None)
}

#[derive(serde::Deserialize)]
struct CodeForm {
    code: String,
}

async fn code(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let Some(pending) = cookie(&headers, PENDING) else {
        return Redirect::to("/signin").into_response();
    };
    let result = st
        .auth()
        .code(
            &mut rand08::rngs::OsRng,
            &pending,
            f.code.trim(),
            &peer.ip().to_string(),
            st.now(),
        )
        .await;
    match result {
        Ok(token) => {
            tracing::info!(source = %peer.ip(), outcome = "ok", "sign-in");
            let mut r = Redirect::to("/").into_response();
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(SESSION, &token, st.policy.session_ttl),
            );
            h.append(header::SET_COOKIE, set_cookie(PENDING, "", 0));
            r
        }
        Err(e) => {
            tracing::info!(source = %peer.ip(), outcome = "refused", "sign-in: code step");
            refused("code", &e)
        }
    }
}

async fn signout(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION)
        && let Err(e) = st.auth().sign_out(&token).await
    {
        tracing::error!(error = %e, "sign-out: database failure");
    }
    (
        [(header::SET_COOKIE, set_cookie(SESSION, "", 0))],
        Redirect::to("/signin"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    email: String,
    role: &'static str,
    session_ends: String,
}

async fn account(signed: Signed) -> Response {
    let page = AccountPage {
        email: signed.session.staff.email.clone(),
        role: signed.session.staff.role.as_str(),
        session_ends: when(signed.session.expires),
        frame: Frame::for_staff(&signed, "account"),
    };
    render(StatusCode::OK, &page)
}
