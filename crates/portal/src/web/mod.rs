//! The portal's web pages: staff sign-in (password, then the code), the
//! administration pages under `/admin/` (customers and contacts, orders,
//! shipments, importing seed files, staff, the audit log) and `/account`,
//! behind security headers and cross-site request forgery protection.
//!
//! Server-rendered HTML (askama templates, escaped by default) that works
//! without JavaScript. Session cookies are `Secure; HttpOnly;
//! SameSite=Strict`; only their hashes are stored. CSRF: tower-http's
//! `CsrfLayer` (Sec-Fetch-Site / Origin, no tokens) refuses cross-site form
//! posts with 403. No page ever shows a seed.

mod audit;
mod delivery;
mod demo;
mod inventory;
mod journey;
mod review;
mod signin;
mod staff;
pub mod upload;

pub use signin::{SignInApp, SignInForm, SignInSteps, signin_routes};

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use oathvault_store::{Role, Session, Store};
use oathvault_vault::MasterKey;
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::Actor;
use crate::auth::{Auth, Policy};

/// Settings of the web app that are not the store, the key or the clock.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The name shown in staff members' authenticator apps.
    pub issuer: String,
    /// The address staff and customers reach the portal at (for links in
    /// e-mails); an `https://` URL also turns on HSTS.
    pub base_url: Option<String>,
    /// The largest seed file the import page accepts (bytes).
    pub max_upload: usize,
    /// The vendor's rules for seed requests.
    pub requests: crate::journey::RequestPolicy,
    /// `oathvault demo` only: the local SMTP sink's directory, shown at
    /// `/demo/outbox` so the demo's mail can be read in the browser.
    pub demo_outbox: Option<std::path::PathBuf>,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            issuer: "oathvault portal".into(),
            base_url: None,
            max_upload: 256 << 20,
            requests: crate::journey::RequestPolicy::default(),
            demo_outbox: None,
        }
    }
}

/// What the pages need: the store, the master key, a clock and the settings.
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The master key (opens staff TOTP secrets, seals imported seeds).
    pub master: MasterKey,
    /// Sign-in limits.
    pub policy: Policy,
    /// Now, in Unix seconds (a real clock in production, a fixed one in tests).
    pub clock: Box<dyn Fn() -> i64 + Send + Sync>,
    /// Everything else.
    pub settings: WebSettings,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    fn auth(&self) -> Auth<'_> {
        Auth::new(&self.store, &self.master, self.policy)
    }

    fn admin(&self) -> crate::Admin<'_> {
        crate::Admin::new(&self.store, &self.master, &self.settings.issuer)
    }

    /// Now, from the state's clock.
    #[must_use]
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The customer side of seed requests over this state.
    #[must_use]
    pub fn journey(&self) -> crate::journey::Journey<'_> {
        crate::journey::Journey::new(&self.store, &self.master, &self.settings.requests)
    }

    /// Review, links, downloads, confirmation and expiry over this state.
    #[must_use]
    pub fn delivery(&self) -> crate::delivery::Delivery<'_> {
        crate::delivery::Delivery::new(
            &self.store,
            &self.master,
            &self.settings.requests,
            self.settings
                .base_url
                .as_deref()
                .unwrap_or("http://127.0.0.1:8080"),
        )
    }
}

pub(crate) const PENDING: &str = "ov_pending";
pub(crate) const SESSION: &str = "ov_session";

/// The parts every page shares: who is signed in (for the navigation), a
/// notice after a change, a problem with what was sent.
#[derive(Debug, Default)]
pub(crate) struct Frame {
    pub chrome: Option<Chrome>,
    pub notice: Option<String>,
    pub problem: Option<String>,
}

/// The signed-in staff member, for the page header.
#[derive(Debug)]
pub(crate) struct Chrome {
    pub name: String,
    pub email: String,
    pub admin: bool,
    /// Which navigation entry is current.
    pub section: &'static str,
}

impl Frame {
    pub(crate) fn for_staff(s: &Signed, section: &'static str) -> Self {
        Self {
            chrome: Some(Chrome {
                name: s.session.staff.name.clone(),
                email: s.session.staff.email.clone(),
                admin: s.session.staff.role == Role::Administrator,
                section,
            }),
            ..Self::default()
        }
    }

    pub(crate) fn notice(mut self, n: Option<String>) -> Self {
        self.notice = n.filter(|n| !n.is_empty());
        self
    }

    pub(crate) fn problem(mut self, p: impl Into<String>) -> Self {
        self.problem = Some(p.into());
        self
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    frame: Frame,
    title: &'a str,
    text: &'a str,
    back: Option<&'a str>,
}

/// Renders a template with `status`; a template error becomes a 500 page.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(
                    "<!doctype html><title>Error</title><p>This page could not be shown."
                        .to_owned(),
                ),
            )
                .into_response()
        }
    }
}

/// A page that only says something.
pub(crate) fn message(
    status: StatusCode,
    frame: Frame,
    title: &str,
    text: &str,
    back: Option<&str>,
) -> Response {
    render(
        status,
        &Message {
            frame,
            title,
            text,
            back,
        },
    )
}

/// The status and words for a refused administration step. Database
/// failures are logged, and the page says only that the database failed.
pub(crate) fn refusal(e: &crate::Error) -> (StatusCode, String) {
    use oathvault_store::Error as S;
    match e {
        crate::Error::Store(S::Exists { .. }) => (StatusCode::CONFLICT, e.to_string()),
        crate::Error::Store(S::Db(_) | S::Migrate(_) | S::Io(_)) => {
            tracing::error!(error = %e, "database failure");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the portal cannot reach its database; nothing was changed, try again later".into(),
            )
        }
        crate::Error::WrongMasterKey { .. } | crate::Error::Vault(_) | crate::Error::Hash(_) => {
            tracing::error!(error = %e, "key failure");
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        _ => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

/// A database failure while showing a page.
pub(crate) fn unavailable(frame: Frame, e: &oathvault_store::Error) -> Response {
    tracing::error!(error = %e, "database failure");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        frame,
        "Database unavailable",
        "The portal cannot reach its database. Try again in a moment.",
        None,
    )
}

/// The value of the cookie `name` the browser sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: `Secure; HttpOnly; SameSite=Strict`, for the whole site.
#[must_use]
pub fn set_cookie(name: &str, value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Percent-encodes a query value.
#[must_use]
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A redirect after a change, with a notice for the page it lands on.
pub(crate) fn see_other(path: &str, notice: &str) -> Response {
    Redirect::to(&format!("{path}?notice={}", query_value(notice))).into_response()
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
#[must_use]
pub fn when(unix: i64) -> String {
    let t = oathvault_packaging::rfc3339(unix);
    format!(
        "{} {} UTC",
        t.get(..10).unwrap_or_default(),
        t.get(11..16).unwrap_or_default()
    )
}

/// A signed-in staff member (any role) and where the request came from.
#[derive(Debug)]
pub(crate) struct Signed {
    pub session: Session,
    pub source: String,
    pub now: i64,
}

impl Signed {
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            name: self.session.staff.email.clone(),
            source: self.source.clone(),
            now: self.now,
        }
    }
}

/// A signed-in administrator.
#[derive(Debug)]
pub(crate) struct Administrator(pub Signed);

/// The address a request came from (`unknown` without connection info).
#[must_use]
pub fn source_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

impl FromRequestParts<Arc<AppState>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let now = st.now();
        let session = match cookie(&parts.headers, SESSION) {
            Some(token) => match st.auth().current(&token, now).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "session lookup failed");
                    return Err(message(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Frame::default(),
                        "Database unavailable",
                        "The portal cannot reach its database. Try again in a moment.",
                        None,
                    ));
                }
            },
            None => None,
        };
        match session {
            Some(session) => Ok(Self {
                session,
                source: source_of(parts),
                now,
            }),
            None => Err(Redirect::to("/signin").into_response()),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Administrator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let signed = Signed::from_request_parts(parts, st).await?;
        if signed.session.staff.role == Role::Administrator {
            return Ok(Self(signed));
        }
        Err(message(
            StatusCode::FORBIDDEN,
            Frame::for_staff(&signed, ""),
            "Not allowed",
            "This page is for administrators.",
            Some("/account"),
        ))
    }
}

/// The style sheet (the help-desk console uses it too, for one look).
pub const CSS: &str = include_str!("../../static/portal.css");

/// The router, with security headers, request tracing and CSRF protection.
pub fn router(state: Arc<AppState>) -> Router {
    let hsts = state
        .settings
        .base_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let max_upload = state.settings.max_upload;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/static/portal.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS) }),
        )
        .merge(signin::routes())
        .merge(journey::routes())
        .merge(demo::routes())
        .merge(inventory::routes())
        .route(
            "/admin/import",
            get(inventory::import_page)
                .post(inventory::import)
                .layer(DefaultBodyLimit::max(max_upload)),
        )
        .merge(staff::routes())
        .merge(audit::routes())
        .merge(review::routes())
        .merge(delivery::routes())
        .with_state(state);
    harden(app, hsts)
}

/// Wraps an app's routes (the portal's, the help desk's) in what every page
/// needs: CSRF refusal of cross-site form posts, request tracing (with the
/// tokens of download and confirmation links masked), and security headers
/// — a strict content security policy, no framing, no referrer, no
/// sniffing, no caching, and HSTS when `hsts` (the app is reached over
/// `https://`).
pub fn harden(app: Router, hsts: bool) -> Router {
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let mut app = app.layer(CsrfLayer::new()).layer(TraceLayer::new_for_http().make_span_with(
        |r: &axum::http::Request<axum::body::Body>| {
            tracing::debug_span!("request", method = %r.method(), path = %log_path(r.uri().path()))
        },
    ));
    for (name, value) in headers {
        app = app.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if hsts {
        app = app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    app
}

/// A request path as logs show it: the token in a download or confirmation
/// link (`/d/…`, `/c/…`) is a bearer secret and is replaced; the query is
/// never logged.
fn log_path(path: &str) -> String {
    for prefix in ["/d/", "/c/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.split_once('/').map_or("", |(_, t)| t);
            return if tail.is_empty() {
                format!("{prefix}[token]")
            } else {
                format!("{prefix}[token]/{tail}")
            };
        }
    }
    path.to_owned()
}

/// Every `every`, removes expired sessions and rate-limit windows older
/// than an hour. Safe to run in several processes sharing a database.
pub async fn sweep_forever(state: Arc<AppState>, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        let now = state.now();
        match state.store.sweep(now, now - 3600).await {
            Ok(n) => tracing::debug!(rows = n, "swept expired sessions and rate limits"),
            Err(e) => tracing::warn!(error = %e, "sweep failed; next try later"),
        }
        match state.delivery().sweep(now).await {
            Ok(s) if s.files + s.requests + s.drafts > 0 => tracing::info!(
                files = s.files,
                requests = s.requests,
                drafts = s.drafts,
                "deleted expired delivery files and unfinished requests"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "request sweep failed; next try later"),
        }
    }
}

/// Every `every`, sends what the outbox holds through `mailer` (a failed
/// message waits and is tried again; see [`crate::delivery::deliver_outbox`]).
pub async fn mail_forever(
    state: Arc<AppState>,
    mailer: oathvault_mail::Mailer,
    every: std::time::Duration,
) {
    loop {
        let now = state.now();
        let sent = crate::delivery::deliver_outbox(&state.store, &state.master, now, |m| {
            let mailer = mailer.clone();
            async move {
                let mail = oathvault_mail::Mail {
                    to: m.to,
                    subject: m.subject,
                    text: m.text,
                    html: m.html,
                    ..oathvault_mail::Mail::default()
                };
                mailer
                    .send(&mail)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
        .await;
        let busy = match sent {
            Ok((0, 0)) => false,
            Ok((sent, failed)) => {
                tracing::info!(sent, failed, server = mailer.server(), "mail");
                // A full batch: there may be more waiting; go on at once.
                sent + failed >= crate::delivery::OUTBOX_BATCH
            }
            Err(e) => {
                tracing::warn!(error = %e, "the outbox could not be read; next try later");
                false
            }
        };
        if !busy {
            tokio::time::sleep(every).await;
        }
    }
}

/// Serves the pages on `listener` until `shutdown` completes, sweeping
/// expired sessions every five minutes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(sweep_forever(
        Arc::clone(&state),
        std::time::Duration::from_mins(5),
    ));
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    sweeper.abort();
    served
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_tokens_never_reach_the_log() {
        assert_eq!(super::log_path("/d/AbC-123_x"), "/d/[token]");
        assert_eq!(
            super::log_path("/c/AbC-123_x/receipt"),
            "/c/[token]/receipt"
        );
        assert_eq!(super::log_path("/admin/requests/7"), "/admin/requests/7");
    }
}
