//! Webhooks: the vendor's order system is told when a seed request is
//! submitted, approved, confirmed or locked.
//!
//! Events come from the audit log (each change writes its event in its own
//! transaction), so no workflow step has to know about webhooks, and an
//! event is queued for each webhook exactly once (a cursor per webhook,
//! moved with compare-and-set). Each delivery is a JSON `POST` signed with
//! the webhook's secret:
//!
//! ```text
//! Oathvault-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of "<t>.<body>">
//! ```
//!
//! A delivery that fails (no answer in 10 s, or a status other than 2xx) is
//! tried again after `retry_seconds`, doubled each time (at most an hour),
//! and given up after `max_attempts`; every try is in the delivery log.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use oathvault_store::{EventRow, Store, TryOutcome};
use oathvault_vault::Keyring;

use super::keys::{Caller, Scope};
use super::problem::{Body, Id, Problem};
use crate::Actor;
use crate::web::AppState;

/// The event types, and the audit actions they come from.
pub const EVENTS: [(&str, &str); 4] = [
    ("request.submitted", "request.submit"),
    ("request.approved", "request.approve"),
    ("request.confirmed", "file.confirm"),
    ("request.locked", "request.lock"),
];

/// Reads a comma- or space-separated list of event types (`*` for all).
///
/// # Errors
/// Names every unknown type.
pub fn parse_events(list: &str) -> Result<Vec<&'static str>, String> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut unknown = Vec::new();
    for word in list
        .split([',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        if word == "*" {
            return Ok(EVENTS.iter().map(|(e, _)| *e).collect());
        }
        match EVENTS.iter().find(|(e, _)| *e == word) {
            Some((e, _)) if !out.contains(e) => out.push(e),
            Some(_) => {}
            None => unknown.push(word.to_owned()),
        }
    }
    if !unknown.is_empty() {
        let known: Vec<&str> = EVENTS.iter().map(|(e, _)| *e).collect();
        return Err(format!(
            "unknown event type(s) {}; the types are {} (or *)",
            unknown.join(", "),
            known.join(", ")
        ));
    }
    if out.is_empty() {
        return Err("give at least one event type".into());
    }
    Ok(out)
}

/// Checks a webhook URL: `https://`, or `http://` only where the settings
/// allow it (a receiver on the same machine, tests).
///
/// # Errors
/// In words.
pub fn check_url(url: &str, allow_http: bool) -> Result<(), String> {
    let url = url.trim();
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !allow_http {
            return Err(
                "the webhook URL must start with https:// (events name customers and orders)"
                    .into(),
            );
        }
        rest
    } else {
        return Err("the webhook URL must start with https://".into());
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty()
        || host.contains('@')
        || url.len() > 2000
        || url.contains(char::is_whitespace)
    {
        return Err("the webhook URL has no usable host (no user info, no spaces)".into());
    }
    Ok(())
}

/// A webhook as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    /// Its id.
    pub id: i64,
    /// Where events are posted.
    pub url: String,
    /// The event types it gets.
    pub events: Vec<String>,
    /// When made (Unix seconds).
    pub created: i64,
    /// Who made it.
    pub created_by: String,
}

impl From<oathvault_store::Webhook> for WebhookOut {
    fn from(w: oathvault_store::Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events.split(' ').map(str::to_owned).collect(),
            created: w.created,
            created_by: w.created_by,
        }
    }
}

/// A new webhook, with its signing secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct MadeWebhook {
    /// The webhook.
    pub webhook: WebhookOut,
    /// The signing secret (hex): keep it in the receiver to check
    /// `Oathvault-Signature`. It is not shown again.
    pub secret: String,
}

/// A webhook to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to post events (`https://…`).
    pub url: String,
    /// Event types: `request.submitted`, `request.approved`,
    /// `request.confirmed`, `request.locked` (or `*`).
    pub events: Vec<String>,
}

/// One delivery of an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    /// Its id (also sent as `Oathvault-Delivery`).
    pub id: i64,
    /// Event type.
    pub event: String,
    /// `pending`, `delivered` or `failed` (given up).
    pub state: String,
    /// Tries so far.
    pub attempts: i64,
    /// The next try (Unix seconds), while pending.
    pub next_attempt: Option<i64>,
    /// The receiver's status on the last try.
    pub last_status: Option<i64>,
    /// Why the last try failed.
    pub last_error: Option<String>,
    /// When queued (Unix seconds).
    pub created: i64,
    /// When delivered.
    pub delivered: Option<i64>,
}

impl From<oathvault_store::WebhookDelivery> for DeliveryOut {
    fn from(d: oathvault_store::WebhookDelivery) -> Self {
        Self {
            id: d.id,
            next_attempt: (d.state == "pending").then_some(d.next_attempt),
            event: d.event,
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            created: d.created,
            delivered: d.delivered,
        }
    }
}

/// Adds a webhook (audited as `webhook.add`); the secret is returned once.
///
/// # Errors
/// A bad URL or event list, or a store failure.
pub async fn add_webhook(
    store: &Store,
    keys: &Keyring,
    who: &Actor,
    url: &str,
    events: &[&str],
    allow_http: bool,
) -> Result<(i64, Zeroizing<String>), crate::Error> {
    check_url(url, allow_http).map_err(crate::Error::Invalid)?;
    if events.is_empty() {
        return Err(crate::Error::Invalid("give at least one event type".into()));
    }
    let mut rng = oathvault_vault::random::os();
    let mut secret = Zeroizing::new([0u8; 32]);
    rand08::RngCore::fill_bytes(&mut rng, &mut *secret);
    let hex = Zeroizing::new(data_encoding::HEXLOWER.encode(&*secret));
    let event = who.event("webhook.add", "webhook");
    let id = store
        .add_webhook(
            keys,
            &mut rng,
            url.trim(),
            &events.join(" "),
            hex.as_bytes(),
            &event,
        )
        .await?;
    Ok((id, hex))
}

/// The routes of this module.
pub(super) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
}

/// Every webhook.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, description = "Done", body = Vec<WebhookOut>), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["webhooks:manage"])))]
async fn list_webhooks(
    State(st): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<WebhookOut>>, Problem> {
    caller.require(Scope::WebhooksManage)?;
    let all = st.store.webhooks().await?;
    Ok(Json(all.into_iter().map(WebhookOut::from).collect()))
}

/// Adds a webhook; the answer holds its signing secret, shown this once.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, description = "Created", body = MadeWebhook), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["webhooks:manage"])))]
async fn create_webhook(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<NewWebhook>,
) -> Result<(StatusCode, Json<MadeWebhook>), Problem> {
    caller.require(Scope::WebhooksManage)?;
    let events = parse_events(&body.events.join(" ")).map_err(Problem::invalid)?;
    let (id, secret) = add_webhook(
        &st.store,
        &st.master,
        &caller.actor(),
        &body.url,
        &events,
        st.settings.api.webhook_allow_http,
    )
    .await?;
    let webhook = st
        .store
        .webhooks()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .map(WebhookOut::from)
        .ok_or_else(|| Problem::not_found("the webhook vanished"))?;
    Ok((
        StatusCode::CREATED,
        Json(MadeWebhook {
            webhook,
            secret: secret.to_string(),
        }),
    ))
}

/// Removes a webhook with its delivery log.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's id")),
    responses((status = 204, description = "Removed"), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["webhooks:manage"])))]
async fn delete_webhook(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    caller.require(Scope::WebhooksManage)?;
    let event = caller
        .actor()
        .event("webhook.remove", &format!("webhook:{id}"));
    st.store.remove_webhook(id, &event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's deliveries, newest first (the last 100).
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's id")),
    responses((status = 200, description = "Done", body = Vec<DeliveryOut>), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["webhooks:manage"])))]
async fn list_deliveries(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<Vec<DeliveryOut>>, Problem> {
    caller.require(Scope::WebhooksManage)?;
    if !st.store.webhooks().await?.iter().any(|w| w.id == id) {
        return Err(Problem::not_found(format!("there is no webhook {id}")));
    }
    let all = st.store.webhook_deliveries(id, 100).await?;
    Ok(Json(all.into_iter().map(DeliveryOut::from).collect()))
}

/// The `Oathvault-Signature` value of `body` sent at `t` under `secret`.
#[must_use]
pub fn signature(secret: &[u8], t: i64, body: &str) -> String {
    // HMAC takes keys of any length: this never fails.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "t={t},v1={}",
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    )
}

/// The body of an event: its type, when, the request as it is now, and the
/// audit event's details (which never hold secrets).
async fn body_of(store: &Store, kind: &str, e: &EventRow, delivery_key: &str) -> String {
    let reference = e.event.subject.strip_prefix("request:").unwrap_or_default();
    let request = store.request_by_reference(reference).await.ok().map(|r| {
        serde_json::json!({
            "reference": r.reference,
            "po": r.po,
            "customer": r.customer,
            "state": r.state.as_str(),
        })
    });
    serde_json::json!({
        "id": delivery_key,
        "type": kind,
        "occurred": e.event.at,
        "request": request,
        "detail": e.event.detail,
    })
    .to_string()
}

/// Queues, for every webhook, the events written since it last looked.
async fn fan_out(store: &Store, now: i64) -> Result<usize, oathvault_store::Error> {
    let mut queued = 0;
    for w in store.webhooks().await? {
        let wanted: Vec<(&str, &str)> = EVENTS
            .iter()
            .copied()
            .filter(|(kind, _)| w.events.split(' ').any(|x| x == *kind))
            .collect();
        let actions: Vec<&str> = wanted.iter().map(|(_, a)| *a).collect();
        let (rows, seen) = store.audit_after(w.audit_cursor, &actions, 200).await?;
        if seen == w.audit_cursor {
            continue;
        }
        let mut out = Vec::with_capacity(rows.len());
        for e in &rows {
            let Some((kind, _)) = wanted.iter().find(|(_, a)| *a == e.event.action) else {
                continue;
            };
            let key = format!("{}-{}", w.id, e.seq);
            out.push((
                e.seq,
                (*kind).to_owned(),
                body_of(store, kind, e, &key).await,
            ));
        }
        if store
            .queue_webhook_deliveries(w.id, w.audit_cursor, seen, &out, now)
            .await?
        {
            queued += out.len();
        }
    }
    Ok(queued)
}

/// Settings of the sender.
#[derive(Debug, Clone, Copy)]
pub struct Sender {
    /// Seconds before the first retry (doubled each time, at most an hour).
    pub retry_seconds: i64,
    /// Tries before giving up.
    pub max_attempts: i64,
}

/// Tries every delivery due now once; how many were delivered and failed.
async fn send_due(
    store: &Store,
    keys: &Keyring,
    http: &reqwest::Client,
    cfg: Sender,
    now: i64,
) -> Result<(usize, usize), oathvault_store::Error> {
    let hooks = store.webhooks().await?;
    let (mut ok, mut failed) = (0, 0);
    for d in store.claim_webhook_deliveries(now, 50, 120).await? {
        let Some(hook) = hooks.iter().find(|w| w.id == d.webhook_id) else {
            continue;
        };
        let secret = store.webhook_secret(keys, hook.id).await?;
        let sent = http
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("oathvault-event", &d.event)
            .header("oathvault-delivery", format!("{}-{}", hook.id, d.audit_seq))
            .header("oathvault-signature", signature(&secret, now, &d.body))
            .body(d.body.clone())
            .send()
            .await;
        let (status, error) = match sent {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(r) => (
                Some(r.status().as_u16()),
                Some(format!("the receiver answered {}", r.status())),
            ),
            Err(e) => (None, Some(transport_error(&e))),
        };
        let outcome = if error.is_none() {
            ok += 1;
            TryOutcome::Delivered
        } else {
            failed += 1;
            if d.attempts + 1 >= cfg.max_attempts {
                tracing::warn!(
                    webhook = hook.id,
                    delivery = d.id,
                    "webhook delivery given up"
                );
                TryOutcome::GiveUp
            } else {
                let wait = cfg
                    .retry_seconds
                    .saturating_mul(1 << d.attempts.clamp(0, 20))
                    .min(3600);
                TryOutcome::Retry(now + wait)
            }
        };
        store
            .webhook_tried(d.id, now, status, error.as_deref(), outcome)
            .await?;
    }
    Ok((ok, failed))
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "cannot connect to the receiver".into()
    } else {
        "the request failed".into()
    }
}

/// Every `every`, queues new events and sends what is due. Safe to run in
/// several processes sharing a database.
pub async fn webhooks_forever(state: Arc<AppState>, every: std::time::Duration) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("oathvault-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks cannot be sent: no HTTP client");
            return;
        }
    };
    let cfg = Sender {
        retry_seconds: i64::from(state.settings.api.webhook_retry_seconds.max(1)),
        max_attempts: i64::from(state.settings.api.webhook_max_attempts.max(1)),
    };
    loop {
        let now = state.now();
        if let Err(e) = fan_out(&state.store, now).await {
            tracing::warn!(error = %e, "webhook events could not be queued; next try later");
        }
        match send_due(&state.store, &state.master, &http, cfg, now).await {
            Ok((0, 0)) => {}
            Ok((delivered, failed)) => tracing::info!(delivered, failed, "webhooks"),
            Err(e) => tracing::warn!(error = %e, "webhooks could not be sent; next try later"),
        }
        tokio::time::sleep(every).await;
    }
}
