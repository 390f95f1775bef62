//! The portal's web pages, first part: staff sign-in (password, then the
//! code), sign-out, and a read-only administration overview, behind
//! security headers and cross-site request forgery protection.
//!
//! Server-rendered HTML that works without JavaScript. Session cookies are
//! `Secure; HttpOnly; SameSite=Strict`; only their hashes are stored.
//! CSRF: tower-http's `CsrfLayer` (Sec-Fetch-Site / Origin, no tokens)
//! refuses cross-site form posts with 403.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use oathvault_store::{Role, Session, Store};
use oathvault_vault::MasterKey;
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::{Auth, AuthError, Policy};

/// What the pages need: the store, the master key, a clock and an RNG source.
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The master key (opens staff TOTP secrets).
    pub master: MasterKey,
    /// Sign-in limits.
    pub policy: Policy,
    /// Now, in Unix seconds (a real clock in production, a fixed one in tests).
    pub clock: Box<dyn Fn() -> i64 + Send + Sync>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

const PENDING: &str = "ov_pending";
const SESSION: &str = "ov_session";

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · oathvault portal</title></head><body><main>\
         <h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    ))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The router, with security headers and CSRF protection.
pub fn router(state: Arc<AppState>) -> Router {
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/signin", get(signin_page).post(signin))
        .route("/signin/code", get(code_page).post(code))
        .route("/signout", post(signout))
        .route("/admin/", get(admin_home))
        .with_state(state)
        .layer(CsrfLayer::new());
    for (name, value) in headers {
        app = app.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    app
}

async fn signin_page() -> Html<String> {
    page(
        "Sign in",
        "<form method=\"post\" action=\"/signin\">\
         <label>E-mail <input name=\"email\" type=\"email\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Continue</button></form>",
    )
}

#[derive(serde::Deserialize)]
struct SigninForm {
    email: String,
    password: String,
}

fn refused(e: &AuthError) -> Response {
    let status = match e {
        AuthError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNAUTHORIZED,
    };
    let msg = match e {
        AuthError::Store(_) => "the portal cannot reach its database; try again later".to_owned(),
        other => other.to_string(),
    };
    (
        status,
        page(
            "Sign in",
            &format!(
                "<p role=\"alert\">{}</p><p><a href=\"/signin\">Try again</a></p>",
                esc(&msg)
            ),
        ),
    )
        .into_response()
}

async fn signin(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<SigninForm>,
) -> Response {
    let auth = Auth::new(&st.store, &st.master, st.policy);
    let now = (st.clock)();
    let result = auth
        .password(
            &mut rand08::rngs::OsRng,
            &f.email,
            &f.password,
            &peer.ip().to_string(),
            now,
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
        Err(e) => refused(&e),
    }
}

async fn code_page() -> Html<String> {
    page(
        "Enter your code",
        "<form method=\"post\" action=\"/signin/code\">\
         <label>The 6-digit code from your authenticator app \
         <input name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{6}\" required></label>\
         <button type=\"submit\">Sign in</button></form>",
    )
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
    let auth = Auth::new(&st.store, &st.master, st.policy);
    let now = (st.clock)();
    match auth
        .code(
            &mut rand08::rngs::OsRng,
            &pending,
            &f.code,
            &peer.ip().to_string(),
            now,
        )
        .await
    {
        Ok(token) => {
            let mut r = Redirect::to("/admin/").into_response();
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(SESSION, &token, st.policy.session_ttl),
            );
            h.append(header::SET_COOKIE, set_cookie(PENDING, "", 0));
            r
        }
        Err(e) => refused(&e),
    }
}

async fn signout(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION) {
        let _ = Auth::new(&st.store, &st.master, st.policy)
            .sign_out(&token)
            .await;
    }
    (
        [(header::SET_COOKIE, set_cookie(SESSION, "", 0))],
        Redirect::to("/signin"),
    )
        .into_response()
}

/// The signed-in staff member, or the response to send instead.
async fn require(st: &AppState, headers: &HeaderMap, role: Role) -> Result<Session, Response> {
    let auth = Auth::new(&st.store, &st.master, st.policy);
    let session = match cookie(headers, SESSION) {
        Some(token) => auth.current(&token, (st.clock)()).await.ok().flatten(),
        None => None,
    };
    let Some(session) = session else {
        return Err(Redirect::to("/signin").into_response());
    };
    if role == Role::Administrator && session.staff.role != Role::Administrator {
        return Err((
            StatusCode::FORBIDDEN,
            page("Not allowed", "<p>This page is for administrators.</p>"),
        )
            .into_response());
    }
    Ok(session)
}

async fn admin_home(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let session = match require(&st, &headers, Role::Administrator).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(shipments) = st.store.shipments().await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            page("Error", "<p>The database is not reachable.</p>"),
        )
            .into_response();
    };
    let mut rows = String::new();
    for s in &shipments {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.number),
            esc(&s.po),
            esc(s.shipped_on.as_deref().unwrap_or("")),
            s.tokens,
            esc(&s.models.join(", "))
        );
    }
    page(
        "Administration",
        &format!(
            "<p>Signed in as {} ({}).</p>\
             <form method=\"post\" action=\"/signout\"><button>Sign out</button></form>\
             <h2>Shipments</h2><table><thead><tr><th>Shipment</th><th>Order</th><th>Shipped</th>\
             <th>Tokens</th><th>Models</th></tr></thead><tbody>{rows}</tbody></table>",
            esc(&session.staff.name),
            esc(session.staff.role.as_str())
        ),
    )
    .into_response()
}

/// Serves the pages on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
