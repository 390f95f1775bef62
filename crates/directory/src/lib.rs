//! An Entra-compatible directory: the Microsoft Graph endpoints for
//! hardware OATH tokens (`/beta/directory/authenticationMethodDevices/
//! hardwareOathDevices`, users and their `hardwareOathMethods`), an OAuth
//! 2.0 token endpoint issuing RS256 JWTs, and its key set. Clients written
//! for Microsoft Graph work against it after changing only the base URLs.
//! `docs/directory.md` lists where Microsoft's documents disagree and what
//! this directory does.
//!
//! Time and randomness come from the caller (the state's clock; RNGs passed
//! to the administration functions).

mod access;
pub mod admin;
mod codes;
pub mod db;
mod graph;
mod locks_api;
mod oauth;
pub mod odata;
mod otp_api;
mod people;
pub mod rules;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oathvault_token::Secret;
use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use serde_json::json;

pub use admin::{Demo, Directory};
pub use db::{AppCertificate, Db, DbError, Device, Tenant, User};
pub use graph::Principal;
/// RS256 tokens, signing keys and certificates (the `oathvault-jwt` crate).
pub use oathvault_jwt as jwt;
pub use oathvault_jwt::SigningKey;
pub use otp_api::CheckResult;
pub use router as app;

/// The audience of Graph access tokens.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";

/// Settings of the running directory.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The URL clients reach this directory at, when it differs from the
    /// `Host` they send (used in `@odata.context`, `@odata.nextLink`, `iss`).
    pub public_url: Option<String>,
    /// The most tokens one `#$delta` request may create.
    pub max_delta: usize,
    /// Access token lifetime (seconds).
    pub token_ttl: i64,
    /// Answer every n-th Graph request with 429 (for testing clients).
    pub throttle: Option<Throttle>,
    /// Hold every Graph answer this many milliseconds: the round trip to
    /// Microsoft's cloud, which loopback does not have (for measuring
    /// clients as they would behave against Graph).
    pub latency_ms: u64,
    /// Attempt limits on codes: wrong codes in a row against a token or a
    /// user (activation, sign-in, the OTP check API) that lock it, and for
    /// how long.
    pub code_lockout: oathvault_store::lockout::Lockout,
    /// The bearer token that lets a scraper that is not on this machine
    /// read `/metrics` (`None`: loopback callers only).
    pub metrics_token: Option<oathvault_web::MetricsToken>,
}

/// Throttling for testing clients: every `every`-th Graph request gets
/// `429 Too Many Requests` with `Retry-After: retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Which requests (every n-th; at least 1).
    pub every: u64,
    /// Seconds in `Retry-After`.
    pub retry_after: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: None,
            max_delta: 1000,
            token_ttl: 3600,
            throttle: None,
            latency_ms: 0,
            code_lockout: oathvault_store::lockout::Lockout {
                after: 5,
                seconds: 15 * 60,
            },
            metrics_token: None,
        }
    }
}

/// What the handlers share.
pub struct DirState {
    /// The database.
    pub db: Db,
    /// Seals token secrets and the signing key.
    pub master: Keyring,
    /// Signs access tokens.
    pub key: SigningKey,
    /// Now, in Unix seconds.
    pub clock: Box<dyn Fn() -> i64 + Send + Sync>,
    /// Settings.
    pub settings: Settings,
}

impl std::fmt::Debug for DirState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DirState {
    /// Now, in Unix seconds.
    #[must_use]
    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// A Graph error: status, `error.code`, `error.message`; the response
/// carries `innerError.request-id` and `date` like Graph's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct GraphError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error.code`.
    pub code: &'static str,
    /// `error.message`.
    pub message: String,
}

impl GraphError {
    /// An error with `status`, `code` and `message`.
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The same error with `prefix` before its message.
    #[must_use]
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}{}", self.message);
        self
    }
}

impl From<DbError> for GraphError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Exists { name, .. } => Self::new(
                StatusCode::CONFLICT,
                "Request_MultipleObjectsWithSameKeyValue",
                format!("A hardware OATH token with serial number {name} already exists."),
            ),
            other => {
                tracing::error!(error = %other, "directory database failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Try again later.",
                )
            }
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let request_id = new_id(&mut oathvault_vault::random::os());
        let date = oathvault_otp::clock::rfc3339(now_for_errors());
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": date.trim_end_matches('Z'),
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }
        });
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            r.headers_mut().insert("request-id", v);
        }
        r
    }
}

/// Error bodies carry a date; the clock is read through the one clock module.
fn now_for_errors() -> i64 {
    use oathvault_otp::clock::{Clock, SystemClock};
    i64::try_from(SystemClock.now_unix()).unwrap_or(0)
}

/// A random GUID (version 4), lower case, as Entra writes ids.
pub fn new_id(rng: &mut (impl RngCore + CryptoRng)) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    guid(&b)
}

/// A time-ordered object id (an RFC 9562 version 7 UUID): the creation
/// time (`unix` seconds, as milliseconds), then `seq` (the position in a
/// bulk request, 12 bits), then 62 random bits. Ids made later sort later,
/// so a bulk insert appends to the id index instead of touching pages all
/// over it (each touched page is written to the log at commit). Clients
/// treat ids as opaque GUIDs, as Graph's are.
pub fn ordered_id(rng: &mut (impl RngCore + CryptoRng), unix: i64, seq: u16) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    let ms = u64::try_from(unix).unwrap_or(0).saturating_mul(1000);
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    let seq = seq & 0x0fff;
    b[6] = 0x70 | u8::try_from(seq >> 8).unwrap_or(0);
    b[7] = u8::try_from(seq & 0xff).unwrap_or(0);
    b[8] = (b[8] & 0x3f) | 0x80;
    guid(&b)
}

fn guid(b: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
    }
    out
}

/// What a device's secret is sealed for (binds it to the device).
#[must_use]
pub fn seal_purpose(device_id: &str) -> String {
    format!("directory-device:{device_id}")
}

/// Opens a device's sealed secret.
pub(crate) fn open_secret(st: &DirState, d: &Device) -> Result<Secret, GraphError> {
    let plain = st
        .master
        .open(&seal_purpose(&d.id), &d.sealed)
        .map_err(|e| {
            tracing::error!(error = %e, device = %d.id, "a token secret does not open");
            GraphError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                "The token's secret cannot be read (wrong master key?).",
            )
        })?;
    Secret::new(plain.to_vec()).map_err(|_| {
        GraphError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "The token's secret is damaged.",
        )
    })
}

/// The whole directory: OAuth endpoints, the Graph subset and the people
/// pages, wrapped in the web kit's layers like the portal and the desk
/// (cross-site form posts refused, request tracing, a strict content
/// security policy, no framing, no caching; HSTS when the public URL is
/// `https://`).
pub fn router(state: Arc<DirState>) -> Router {
    let hsts = state
        .settings
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let counts = Arc::new(oathvault_web::Metrics::new(
        "directory",
        state.settings.metrics_token.clone(),
    ));
    let app = Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .merge(metrics_routes(Arc::clone(&counts)))
        .merge(oauth::routes())
        .merge(otp_api::routes())
        .merge(locks_api::routes())
        .merge(people::routes())
        .merge(delayed(
            throttled(graph::routes(), state.settings.throttle),
            state.settings.latency_ms,
        ))
        .fallback(|| async {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Resource not found for the segment.",
            )
        })
        .with_state(state);
    oathvault_web::instrument(oathvault_web::harden(app, hsts), counts)
}

/// `GET /metrics`: request counts and the users and codes locked now.
fn metrics_routes(counts: Arc<oathvault_web::Metrics>) -> Router<Arc<DirState>> {
    Router::new().route(
        "/metrics",
        axum::routing::get(
            move |axum::extract::State(st): axum::extract::State<Arc<DirState>>,
                  oathvault_web::ClientAddr(client): oathvault_web::ClientAddr,
                  headers: axum::http::HeaderMap| {
                let counts = Arc::clone(&counts);
                async move {
                    let read = async {
                        let (users, codes) =
                            st.db.locked(st.now()).await.map_err(|e| e.to_string())?;
                        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
                        Ok(vec![
                            oathvault_web::Gauge::new(
                                "directory_users_locked",
                                "Users locked now by wrong passwords or codes.",
                                users as f64,
                            ),
                            oathvault_web::Gauge::new(
                                "directory_code_locks",
                                "Tokens and users whose codes are locked now by wrong codes in a row.",
                                codes as f64,
                            ),
                        ])
                    };
                    counts.answer(client, &headers, read).await
                }
            },
        ),
    )
}

/// Why the directory may not listen on `listen` with `settings`: without a
/// public URL, its issuer, the audience of client assertions and its links
/// come from the `Host` header a client sends, which only a loopback
/// address keeps to local clients.
///
/// # Errors
/// A message naming the address and what to add.
pub fn check_listen(listen: SocketAddr, settings: &Settings) -> Result<(), String> {
    if settings.public_url.is_none() && !listen.ip().is_loopback() {
        return Err(format!(
            "listening on {listen} needs --public-url (the URL clients reach the directory at, e.g. https://login.example.com): without it the token issuer, the audience of client assertions and every link would come from the Host header a client sends"
        ));
    }
    Ok(())
}

/// The Graph routes, each answer held `ms` milliseconds (0: not at all).
fn delayed(routes: Router<Arc<DirState>>, ms: u64) -> Router<Arc<DirState>> {
    if ms == 0 {
        return routes;
    }
    routes.route_layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            let (answer, ()) = tokio::join!(
                next.run(req),
                tokio::time::sleep(std::time::Duration::from_millis(ms))
            );
            answer
        },
    ))
}

/// The Graph routes behind the optional throttle (one counter per router).
fn throttled(routes: Router<Arc<DirState>>, throttle: Option<Throttle>) -> Router<Arc<DirState>> {
    let Some(t) = throttle else {
        return routes;
    };
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    routes.route_layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let count = Arc::clone(&count);
            async move {
                let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n.is_multiple_of(t.every.max(1)) {
                    let mut r = GraphError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "TooManyRequests",
                        "Too many requests. Retry after the time in Retry-After.",
                    )
                    .into_response();
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(t.retry_after));
                    return r;
                }
                next.run(req).await
            }
        },
    ))
}

/// Serves the directory on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<DirState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_lower_case_version_4_guids() {
        let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(7);
        for _ in 0..100 {
            let id = super::new_id(&mut rng);
            assert_eq!(id.len(), 36, "{id}");
            for (i, c) in id.char_indices() {
                if matches!(i, 8 | 13 | 18 | 23) {
                    assert_eq!(c, '-', "{id}");
                } else {
                    assert!(matches!(c, '0'..='9' | 'a'..='f'), "{id}");
                }
            }
            assert_eq!(id.get(14..15), Some("4"), "{id}");
            assert!(
                matches!(id.get(19..20), Some("8" | "9" | "a" | "b")),
                "{id}"
            );
        }
    }

    #[test]
    fn ordered_ids_are_version_7_guids_that_sort_by_time_then_place() {
        let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(7);
        let t = 1_795_696_620;
        let mut ids = Vec::new();
        for unix in [t, t + 1] {
            for seq in [0, 1, 2, 999, 4095] {
                ids.push(super::ordered_id(&mut rng, unix, seq));
            }
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "made later sorts later");
        for id in &ids {
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(id.get(14..15), Some("7"), "{id}");
            assert!(
                matches!(id.get(19..20), Some("8" | "9" | "a" | "b")),
                "{id}"
            );
        }
        // The time in the first 48 bits, in milliseconds.
        let ms = u64::from_str_radix(&ids[0][..8], 16).unwrap() << 16
            | u64::from_str_radix(&ids[0][9..13], 16).unwrap();
        assert_eq!(ms, 1_795_696_620_000);
        // Same time and place: still two ids.
        assert_ne!(
            super::ordered_id(&mut rng, t, 5),
            super::ordered_id(&mut rng, t, 5)
        );
    }
}
