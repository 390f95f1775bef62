//! `/metrics`: the web kit's request counts and the portal's gauges — the
//! mail queue, files waiting for their customer, locked staff accounts.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use oathvault_web::{ClientAddr, Gauge, Metrics};

use super::AppState;

/// The portal's gauges now.
async fn gauges(st: &AppState) -> Result<Vec<Gauge>, String> {
    let g = st.store.gauges(st.now()).await.map_err(|e| e.to_string())?;
    #[expect(clippy::cast_precision_loss, reason = "counts and ages far below 2^52")]
    let f = |v: i64| v as f64;
    Ok(vec![
        Gauge::new(
            "mail_queue",
            "Mail in the outbox, not yet accepted by the SMTP server.",
            f(g.mail_queued),
        ),
        Gauge::new(
            "mail_queue_failing",
            "Mail in the outbox that the SMTP server refused at least once.",
            f(g.mail_failing),
        ),
        Gauge::new(
            "mail_queue_oldest_age_seconds",
            "Age of the oldest mail in the outbox (0: empty).",
            f(g.mail_oldest_age),
        ),
        Gauge::new(
            "files_awaiting_download",
            "Delivery files approved (link sent) and not downloaded yet.",
            f(g.files_awaiting_download),
        ),
        Gauge::new(
            "staff_locked",
            "Staff accounts locked now by wrong passwords or codes.",
            f(g.staff_locked),
        ),
    ])
}

/// `GET /metrics`, answered by `metrics`.
pub(crate) fn routes(metrics: Arc<Metrics>) -> Router<Arc<AppState>> {
    Router::new().route(
        "/metrics",
        get(
            move |State(st): State<Arc<AppState>>,
                  ClientAddr(client): ClientAddr,
                  headers: HeaderMap| {
                let metrics = Arc::clone(&metrics);
                async move { metrics.answer(client, &headers, gauges(&st)).await }
            },
        ),
    )
}
