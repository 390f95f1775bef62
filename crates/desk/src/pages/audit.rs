//! The audit log, and checking its chain on demand.

use super::users::SearchQuery;
#[allow(
    clippy::wildcard_imports,
    reason = "the page parts every desk page shares"
)]
use super::*;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    frame: Frame,
    q: String,
    events: Vec<EventRow>,
}

impl AuditPage {
    #[allow(
        clippy::unused_self,
        clippy::trivially_copy_pass_by_ref,
        reason = "called from the template, which passes a reference"
    )]
    fn when(&self, at: &i64) -> String {
        oathvault_web::when(*at)
    }
}

pub(super) async fn audit(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Query(q): Query<SearchQuery>,
) -> Response {
    let f = oathvault_store::AuditFilter {
        text: Some(q.q.clone()).filter(|t| !t.trim().is_empty()),
        ..oathvault_store::AuditFilter::default()
    };
    let events = match st.store.audit_search(&f, 500).await {
        Ok(e) => e,
        Err(e) => return store_failed(&op, &e),
    };
    render(
        StatusCode::OK,
        &AuditPage {
            frame: op.frame("audit"),
            q: q.q,
            events,
        },
    )
}

/// Checks the whole hash chain (it reads every event: on demand, not on
/// every view of the log).
pub(super) async fn audit_verify(State(st): State<Arc<DeskState>>, op: Operator) -> Response {
    match st.store.audit_verify().await {
        Ok(c) => message(
            StatusCode::OK,
            op.frame("audit"),
            "Audit log verified",
            &format!(
                "{} events, every one chained to the one before; the head is {}.",
                c.events, c.head
            ),
            Some("/audit"),
        ),
        Err(oathvault_store::Error::AuditBroken { seq, why }) => message(
            StatusCode::CONFLICT,
            op.frame("audit"),
            "The audit log does not verify",
            &format!("It is broken at event {seq}: {why}"),
            Some("/audit"),
        ),
        Err(e) => store_failed(&op, &e),
    }
}
