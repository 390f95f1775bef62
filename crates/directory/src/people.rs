//! The people pages, with Entra's steps: sign in (user name, password,
//! then the code of a hardware token when the user has an activated one),
//! and Security info: the user's methods, "Add sign-in method" → "Hardware
//! token": serial number → name → code → done, and delete.
//!
//! Server-rendered, no JavaScript. Wizard steps carry what was entered in
//! hidden fields and every step checks it again, so no state waits on the
//! server. Sessions are stored as the SHA-256 of their cookie;
//! cross-site posts are refused (`CsrfLayer`).
//!
//! This file holds the routes and the session cookie; the pages are in
//! `signin`, `security_info` and `devicelogin` (approving an app's device
//! code).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::db::User;
use crate::{DirState, GraphError};

mod devicelogin;
mod security_info;
mod signin;

const COOKIE: &str = "__Host-dir_session";
/// A signed-in session lasts this long (seconds).
const SESSION_TTL: i64 = 8 * 3600;
/// Between the password and the code.
const PENDING_TTL: i64 = 300;

pub(crate) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/security-info") }))
        .merge(signin::routes())
        .merge(devicelogin::routes())
        .merge(security_info::routes())
        .route(oathvault_web::CSS_PATH, get(oathvault_web::serve_css))
}

/// The stored form of a session cookie (the accounts' session-token hash).
fn hash(token: &str) -> String {
    oathvault_accounts::session::token_hash(token)
}

/// The directory's session cookie, if the browser sent one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    oathvault_web::cookie(headers, COOKIE)
}

fn set_cookie(value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn failed(e: &GraphError) -> Response {
    tracing::error!(error = %e, "people pages: failure");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The directory is not available. Try again later.",
    )
        .into_response()
}

/// A new session; returns the `Set-Cookie` header.
async fn start_session(
    st: &DirState,
    user: &User,
    stage: &str,
    ttl: i64,
) -> Result<HeaderValue, GraphError> {
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    rand08::RngCore::fill_bytes(&mut oathvault_vault::random::os(), &mut *raw);
    let token = data_encoding::BASE64URL_NOPAD.encode(&*raw);
    let now = st.now();
    st.db
        .create_session(&hash(&token), &user.id, stage, now + ttl, now)
        .await?;
    Ok(set_cookie(&token, ttl))
}

/// The user of a complete session (password and, when needed, the code),
/// if there is one (the authorize endpoint's check).
pub(crate) async fn full_session_user(
    st: &DirState,
    headers: &HeaderMap,
) -> Result<Option<User>, GraphError> {
    Ok(session(st, headers)
        .await?
        .filter(|(_, stage)| stage == "full")
        .map(|(u, _)| u))
}

/// The session's user and stage.
async fn session(st: &DirState, headers: &HeaderMap) -> Result<Option<(User, String)>, GraphError> {
    match cookie(headers) {
        Some(token) => Ok(st.db.session(&hash(&token), st.now()).await?),
        None => Ok(None),
    }
}

/// The signed-in user, or a redirect to sign in.
async fn signed_in(st: &DirState, headers: &HeaderMap) -> Result<User, Response> {
    match session(st, headers).await {
        Ok(Some((user, stage))) if stage == "full" => Ok(user),
        Ok(_) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(failed(&e)),
    }
}
