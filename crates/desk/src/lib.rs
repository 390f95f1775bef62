//! `oathvault desk`: the help-desk web console for hardware OATH tokens in
//! Microsoft Entra ID, which Entra itself does not have.
//!
//! It talks to Microsoft Graph through [`oathvault_graph`] — a real tenant
//! or the local directory — as the app registration it is given. Its own
//! operators sign in with a password and a TOTP code (the web kit's
//! sign-in over [`oathvault_accounts`]: Argon2id, lockout, rate limit) and
//! have a desk role: a
//! *viewer* sees, a *help desk* operator assigns, activates, unassigns,
//! deactivates and replaces tokens, an *administrator* also uploads seed
//! files and deletes tokens. Every action, allowed or refused, is in the
//! audit chain.
//!
//! The inventory pages read a copy of the tenant's tokens and users kept in
//! the desk's database (refreshed whole by a sync, and token by token after
//! each action), so that searching, filtering, counting and paging stay
//! fast with 100,000 tokens; actions always go to Graph and read the token
//! back. No seed is kept: an uploaded file lives in memory, sealed from
//! logs and `Debug`, until it is pushed or its 15 minutes are up.

mod approvals;
mod drift;
pub mod entra;
pub mod operators;
mod pages;
mod tokens;
mod upload;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use oathvault_graph::{Device, Graph, TokenClock};
use oathvault_store::{DeskDevice, DeskUser, DriftSample, Store};
use oathvault_vault::Keyring;

pub use oathvault_store::DeskRole;
pub use oathvault_web::TrustedProxies;
pub use operators::{Actor, NewOperator, add_operator};

/// Settings of the console that are not the store, the key, Graph or the clock.
#[derive(Debug, Clone)]
pub struct DeskSettings {
    /// The name shown in operators' authenticator apps.
    pub issuer: String,
    /// The largest seed file the upload page accepts (bytes).
    pub max_upload: usize,
    /// The address the desk is reached at; an `https://` URL turns on HSTS.
    pub base_url: Option<String>,
    /// Where Graph is (shown on the pages, so operators know which tenant).
    pub graph_url: String,
    /// The two-person rule: which actions a second administrator approves
    /// before they are carried out.
    pub two_person: TwoPerson,
    /// Reverse proxies whose forwarding headers name the client.
    pub trusted_proxies: oathvault_web::TrustedProxies,
    /// The bearer token that lets a scraper that is not on this machine
    /// read `/metrics` (`None`: loopback callers only).
    pub metrics_token: Option<oathvault_web::MetricsToken>,
    /// Operators may sign in with their Entra account (`None`: desk
    /// accounts only).
    pub entra: Option<Arc<entra::EntraSignin>>,
}

/// The two-person rule: actions on tokens filed as a request that a second
/// administrator approves (then they are carried out) or rejects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TwoPerson {
    /// Deleting tokens, one or many.
    pub delete: bool,
    /// Unassigning or deactivating more than one token at once.
    pub bulk: bool,
    /// Any action (deactivate, unassign, delete) on more than this many
    /// tokens at once.
    pub above: Option<usize>,
}

impl TwoPerson {
    /// Whether the rule is on at all.
    #[must_use]
    pub fn is_on(&self) -> bool {
        self.delete || self.bulk || self.above.is_some()
    }

    /// Whether `action` on `tokens` tokens needs a second administrator.
    pub(crate) fn needs_approval(&self, action: tokens::Action, tokens: usize) -> bool {
        (self.delete && action == tokens::Action::Delete)
            || (self.bulk && tokens > 1 && action != tokens::Action::Delete)
            || self.above.is_some_and(|n| tokens > n)
    }
}

impl Default for DeskSettings {
    fn default() -> Self {
        Self {
            issuer: "oathvault desk".into(),
            max_upload: 64 << 20,
            base_url: None,
            graph_url: oathvault_graph::GRAPH_URL.into(),
            two_person: TwoPerson::default(),
            trusted_proxies: oathvault_web::TrustedProxies::default(),
            metrics_token: None,
            entra: None,
        }
    }
}

/// What the pages need.
pub struct DeskState {
    /// Operators, sessions, the audit chain and the inventory copy.
    pub store: Store,
    /// Opens operators' TOTP secrets.
    pub master: Keyring,
    /// Microsoft Graph (or the local directory).
    pub graph: Graph,
    /// Sign-in limits.
    pub policy: oathvault_accounts::Policy,
    /// Now, in Unix seconds.
    pub clock: Box<dyn Fn() -> i64 + Send + Sync>,
    /// Everything else.
    pub settings: DeskSettings,
    /// Seed files read but not yet pushed (in memory only).
    pub(crate) uploads: Mutex<HashMap<String, upload::Pending>>,
    /// Uploads running or finished in the last hour.
    pub(crate) jobs: Mutex<HashMap<String, Arc<upload::UploadJob>>>,
    /// One sync at a time.
    pub(crate) syncing: tokio::sync::Mutex<()>,
    /// Whether Graph reports token clocks (the local directory does,
    /// Microsoft's cloud does not): unknown until the first sync, so a real
    /// tenant is not asked again for every token page.
    pub(crate) clocks: std::sync::atomic::AtomicU8,
    /// Requests, sign-in refusals and push results since start (`/metrics`).
    pub(crate) metrics: Arc<oathvault_web::Metrics>,
    /// Entra sign-ins started and not yet back (in memory only).
    pub(crate) entra_pending: Mutex<HashMap<String, entra::Pending>>,
    /// For the identity provider (discovery, token endpoint, keys).
    pub(crate) http: reqwest::Client,
}

const CLOCKS_UNKNOWN: u8 = 0;
const CLOCKS_REPORTED: u8 = 1;
pub(crate) const CLOCKS_ABSENT: u8 = 2;

impl std::fmt::Debug for DeskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeskState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DeskState {
    /// A state over these parts.
    #[must_use]
    pub fn new(
        store: Store,
        master: Keyring,
        graph: Graph,
        clock: Box<dyn Fn() -> i64 + Send + Sync>,
        settings: DeskSettings,
    ) -> Self {
        let metrics = Arc::new(oathvault_web::Metrics::new(
            "desk",
            settings.metrics_token.clone(),
        ));
        Self {
            store,
            master,
            graph,
            policy: oathvault_accounts::Policy::default(),
            clock,
            settings,
            uploads: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            syncing: tokio::sync::Mutex::new(()),
            clocks: std::sync::atomic::AtomicU8::new(CLOCKS_UNKNOWN),
            metrics,
            entra_pending: Mutex::new(HashMap::new()),
            http: oathvault_graph::client::http_client(std::time::Duration::from_secs(20))
                .unwrap_or_default(),
        }
    }

    /// Now, from the state's clock.
    #[must_use]
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    fn auth(&self) -> oathvault_accounts::Auth<'_> {
        oathvault_accounts::Auth::new(
            &self.store,
            &self.master,
            self.policy,
            oathvault_accounts::App::Desk,
        )
    }
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Graph refused or failed.
    #[error("Microsoft Graph: {0}")]
    Graph(#[from] oathvault_graph::Error),
    /// The desk's database failed.
    #[error(transparent)]
    Store(#[from] oathvault_store::Error),
}

/// What a sync saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Tokens in the tenant.
    pub devices: usize,
    /// Users in the tenant.
    pub users: usize,
}

/// The desk's row for a Graph device; `users` names the assignee.
fn desk_device(d: Device, users: &HashMap<String, DeskUser>) -> DeskDevice {
    let user_id = d.assigned_to.as_ref().and_then(|a| a.id.clone());
    let user_name = match user_id.as_ref().and_then(|id| users.get(id)) {
        Some(u) => u.upn.clone(),
        None => d
            .assigned_to
            .as_ref()
            .and_then(|a| a.display_name.clone())
            .unwrap_or_default(),
    };
    DeskDevice {
        status: d.status.clone().unwrap_or_else(|| "available".into()),
        id: d.id,
        serial: d.serial_number,
        manufacturer: d.manufacturer.unwrap_or_default(),
        model: d.model.unwrap_or_default(),
        display_name: d.display_name.unwrap_or_default(),
        hash_function: d.hash_function.unwrap_or_default(),
        interval: i64::from(d.time_interval_in_seconds.unwrap_or(30)),
        user_id,
        user_name,
        last_used: d.last_used_date_time.unwrap_or_default(),
        drift: None,
    }
}

/// The drift measurements in `clocks`, for the tokens' histories.
fn samples(clocks: &[TokenClock]) -> Vec<(String, DriftSample)> {
    clocks
        .iter()
        .filter_map(|c| {
            let at = oathvault_otp::clock::unix_of(c.last_used_date_time.as_deref()?)?;
            Some((
                c.serial_number.clone(),
                DriftSample {
                    at,
                    drift: c.drift_seconds,
                },
            ))
        })
        .collect()
}

/// Refreshes the whole copy from Graph: every token and every user.
///
/// # Errors
/// Graph or the database failed; the copy is then as it was.
pub async fn sync(st: &DeskState) -> Result<Synced, SyncError> {
    let _one = st.syncing.lock().await;
    // Users name the assignees and fill the user search; without
    // `User.Read.All` the inventory still syncs (assignees by display name).
    let users = match st.graph.list_users().await {
        Ok(u) => u,
        Err(e) if e.graph().is_some_and(|g| g.status == 403) => {
            tracing::warn!(error = %e, "users cannot be listed (grant User.Read.All); syncing tokens only");
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    let users: Vec<DeskUser> = users
        .into_iter()
        .map(|u| DeskUser {
            upn: u.user_principal_name.unwrap_or_default(),
            display_name: u.display_name.unwrap_or_default(),
            id: u.id,
        })
        .collect();
    let by_id: HashMap<String, DeskUser> =
        users.iter().map(|u| (u.id.clone(), u.clone())).collect();
    let mut devices: Vec<DeskDevice> = st
        .graph
        .list_devices(None, |_| {})
        .await?
        .into_iter()
        .map(|d| desk_device(d, &by_id))
        .collect();
    // Drift where the directory reports it (Microsoft Graph does not).
    // Drift is extra: a failure to read it never fails the sync.
    let clocks = match st.graph.token_clocks().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "token clocks could not be read; drift left as it was");
            None
        }
    };
    st.clocks.store(
        if clocks.is_some() {
            CLOCKS_REPORTED
        } else {
            CLOCKS_ABSENT
        },
        Ordering::Relaxed,
    );
    let clocks = clocks.unwrap_or_default();
    let drift: HashMap<&str, i64> = clocks
        .iter()
        .map(|c| (c.serial_number.as_str(), c.drift_seconds))
        .collect();
    for d in &mut devices {
        d.drift = drift.get(d.serial.as_str()).copied();
    }
    // Only measurements the history has not seen: a token used since the
    // last sync has a new last-use time (the others were added before).
    let before = st.store.desk_last_used().await?;
    let fresh: Vec<TokenClock> = clocks
        .into_iter()
        .filter(|c| {
            before.get(&c.serial_number).map(String::as_str)
                != Some(c.last_used_date_time.as_deref().unwrap_or(""))
        })
        .collect();
    st.store
        .desk_replace(&devices, &users, &samples(&fresh), st.now())
        .await?;
    Ok(Synced {
        devices: devices.len(),
        users: users.len(),
    })
}

/// Reads one token back from Graph and puts it in the copy.
pub(crate) async fn refresh_device(st: &DeskState, id: &str) -> Result<DeskDevice, SyncError> {
    let d = st.graph.device(id).await?;
    let mut users = HashMap::new();
    if let Some(uid) = d.assigned_to.as_ref().and_then(|a| a.id.as_deref())
        && let Some(u) = st.store.desk_user(uid).await?
    {
        users.insert(u.id.clone(), u);
    }
    let mut row = desk_device(d, &users);
    let ask = st.clocks.load(Ordering::Relaxed) != CLOCKS_ABSENT;
    if ask && let Some(c) = st.graph.token_clock(&row.serial).await? {
        row.drift = Some(c.drift_seconds);
        st.store
            .desk_drift_add(&samples(std::slice::from_ref(&c)))
            .await?;
    }
    st.store.desk_put(&row, st.now()).await?;
    Ok(row)
}

/// The router, with security headers, request tracing and CSRF protection
/// (the web kit's, see [`oathvault_web::harden()`]).
pub fn router(state: Arc<DeskState>) -> Router {
    let hsts = state
        .settings
        .base_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let max_upload = state.settings.max_upload;
    let proxies = state.settings.trusted_proxies.clone();
    let counts = Arc::clone(&state.metrics);
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics_page))
        .route(oathvault_web::CSS_PATH, get(oathvault_web::serve_css))
        .merge(pages::routes())
        .merge(entra::routes())
        .merge(tokens::routes())
        .merge(drift::routes())
        .merge(approvals::routes())
        .merge(upload::routes().layer(DefaultBodyLimit::max(max_upload)))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            pages::signin_page_with_entra,
        ))
        .with_state(state);
    oathvault_web::instrument(
        oathvault_web::with_client_addr(oathvault_web::harden(app, hsts), proxies),
        counts,
    )
}

/// `GET /metrics`: request counts, sign-in refusals, push results, and
/// the operators locked now.
async fn metrics_page(
    State(st): State<Arc<DeskState>>,
    oathvault_web::ClientAddr(client): oathvault_web::ClientAddr,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let read = async {
        let g = st.store.gauges(st.now()).await.map_err(|e| e.to_string())?;
        #[expect(clippy::cast_precision_loss, reason = "a count far below 2^52")]
        let locked = g.staff_locked as f64;
        Ok(vec![oathvault_web::Gauge::new(
            "staff_locked",
            "Operator accounts locked now by wrong passwords or codes.",
            locked,
        )])
    };
    st.metrics.answer(client, &headers, read).await
}

/// Serves the console on `listener` until `shutdown` completes; refreshes
/// the inventory copy at start and every `sync_every`, and sweeps expired
/// uploads.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<DeskState>,
    sync_every: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = tokio::spawn(sync_forever(Arc::clone(&state), sync_every));
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    background.abort();
    served
}

async fn sync_forever(state: Arc<DeskState>, every: std::time::Duration) {
    // A copy made before the search index existed gets its index now (the
    // first sync would too, but it may be long in coming or fail).
    match state.store.desk_reindex().await {
        Ok(true) => tracing::info!("indexed the inventory copy for search"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "the inventory copy could not be indexed"),
    }
    loop {
        match sync(&state).await {
            Ok(s) => tracing::info!(devices = s.devices, users = s.users, "inventory synced"),
            Err(e) => tracing::warn!(error = %e, "inventory sync failed; next try later"),
        }
        upload::sweep(&state);
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::TwoPerson;
    use crate::tokens::Action;

    #[test]
    fn the_two_person_rule_as_configured() {
        let off = TwoPerson::default();
        assert!(!off.is_on() && !off.needs_approval(Action::Delete, 1000));
        let delete = TwoPerson {
            delete: true,
            ..TwoPerson::default()
        };
        assert!(delete.needs_approval(Action::Delete, 1));
        assert!(!delete.needs_approval(Action::Unassign, 1000));
        let bulk = TwoPerson {
            bulk: true,
            ..TwoPerson::default()
        };
        assert!(!bulk.needs_approval(Action::Unassign, 1));
        assert!(bulk.needs_approval(Action::Unassign, 2));
        assert!(bulk.needs_approval(Action::Deactivate, 2));
        assert!(
            !bulk.needs_approval(Action::Delete, 2),
            "deletion is its own switch"
        );
        let above = TwoPerson {
            above: Some(10),
            ..TwoPerson::default()
        };
        assert!(!above.needs_approval(Action::Delete, 10));
        assert!(above.needs_approval(Action::Deactivate, 11));
    }
}
