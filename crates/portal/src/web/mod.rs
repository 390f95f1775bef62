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
mod enrol;
mod inventory;
mod journey;
mod metrics;
mod review;
mod signin;
mod staff;

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use oathvault_accounts::{App, Auth, Policy};
use oathvault_store::{Role, Session, Store};
use oathvault_vault::Keyring;
pub(crate) use oathvault_web::{
    OperationId, cookie, harden, query_value, render, see_other, set_cookie, source_of, when,
};

pub(crate) use inventory::import_seed_file;

use crate::Actor;
use crate::config::WebSettings;

/// What the pages need: the store, the master key, a clock and the settings.
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The master key (opens staff TOTP secrets, seals imported seeds).
    pub master: Keyring,
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
        Auth::new(&self.store, &self.master, self.policy, App::Portal)
    }

    fn enrolments(&self) -> crate::enrolment::Enrolments<'_> {
        crate::enrolment::Enrolments::new(
            &self.store,
            &self.master,
            &self.settings.issuer,
            self.settings
                .base_url
                .as_deref()
                .unwrap_or("http://127.0.0.1:8080"),
        )
    }

    pub(crate) fn admin(&self) -> crate::Admin<'_> {
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

pub(crate) const PENDING: &str = "__Host-ov_pending";
pub(crate) const SESSION: &str = "__Host-ov_session";

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
                admin: s.session.staff.role == Some(Role::Administrator),
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
            let op = OperationId::log("database failure", e);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the portal cannot reach its database; nothing was changed, try again later (operation {op})"
                ),
            )
        }
        crate::Error::WrongMasterKey { .. } | crate::Error::Vault(_) | crate::Error::Hash(_) => {
            let op = OperationId::log("key failure", e);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{e} (operation {op})"),
            )
        }
        _ => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

/// A database failure while showing a page.
pub(crate) fn unavailable(frame: Frame, e: &oathvault_store::Error) -> Response {
    let op = OperationId::log("database failure", e);
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        frame,
        "Database unavailable",
        &format!(
            "The portal cannot reach its database. Try again in a moment; if it goes on, quote operation {op}."
        ),
        None,
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
                    let op = OperationId::log("session lookup failed", &e);
                    return Err(message(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Frame::default(),
                        "Database unavailable",
                        &format!(
                            "The portal cannot reach its database. Try again in a moment; if it goes on, quote operation {op}."
                        ),
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
        if signed.session.staff.role == Some(Role::Administrator) {
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

/// The router, with security headers, request tracing and CSRF protection,
/// every request counted for `/metrics`.
pub fn router(state: Arc<AppState>) -> Router {
    let hsts = state
        .settings
        .base_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let max_upload = state.settings.max_upload;
    let proxies = state.settings.trusted_proxies.clone();
    let counts = Arc::new(oathvault_web::Metrics::new(
        "portal",
        state.settings.metrics_token.clone(),
    ));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(metrics::routes(Arc::clone(&counts)))
        .route(oathvault_web::CSS_PATH, get(oathvault_web::serve_css))
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
        .merge(enrol::routes())
        .merge(audit::routes())
        .merge(review::routes())
        .merge(delivery::routes())
        .merge(crate::api::router(max_upload))
        .with_state(state);
    oathvault_web::instrument(
        oathvault_web::with_client_addr(harden(app, hsts), proxies),
        counts,
    )
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
        match crate::retention::shred_due(&state.store, &state.settings.requests, now).await {
            Ok(done) => {
                for (number, seeds) in done {
                    tracing::info!(shipment = %number, seeds, "shredded a delivered shipment's seeds (retention rule)");
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention shredding failed; next try later"),
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
    let webhooks = tokio::spawn(crate::api::webhooks::webhooks_forever(
        Arc::clone(&state),
        std::time::Duration::from_secs(2),
    ));
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    sweeper.abort();
    webhooks.abort();
    served
}
