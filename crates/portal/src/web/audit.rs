//! The audit log: filters (actor, action, outcome, text, dates), paging,
//! and a check of the hash chain.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use oathvault_store::{AuditFilter, EventRow};

use super::{Administrator, AppState, Frame, query_value, render, unavailable, when};

const PAGE: i64 = 100;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit/verify", get(verify))
}

/// The filter form, as sent.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    before: Option<i64>,
}

impl Filters {
    fn to_filter(&self) -> Result<AuditFilter, String> {
        let date = |s: &str, what: &str| -> Result<Option<i64>, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            oathvault_otp::clock::parse_date(s)
                .map(Some)
                .ok_or_else(|| format!("the {what} date {s:?} is not a date: use YYYY-MM-DD"))
        };
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AuditFilter {
            actor: some(&self.actor),
            action: some(&self.action),
            outcome: some(&self.outcome),
            text: some(&self.q),
            since: date(&self.since, "from")?,
            // Until a date includes that whole day.
            until: date(&self.until, "to")?.map(|d| d + 86_400),
            before: self.before,
        })
    }

    /// The query string of these filters, for the link to older events.
    fn query(&self, before: i64) -> String {
        format!(
            "actor={}&action={}&outcome={}&q={}&since={}&until={}&before={before}",
            query_value(&self.actor),
            query_value(&self.action),
            query_value(&self.outcome),
            query_value(&self.q),
            query_value(&self.since),
            query_value(&self.until),
        )
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    frame: Frame,
    f: Filters,
    events: Vec<EventRow>,
    actions: Vec<String>,
    actors: Vec<String>,
    older: Option<String>,
}

impl AuditPage {
    #[allow(
        clippy::unused_self,
        clippy::trivially_copy_pass_by_ref,
        reason = "called from the template, which passes a reference"
    )]
    fn when(&self, at: &i64) -> String {
        when(*at)
    }
}

async fn audit_page(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Query(f): Query<Filters>,
) -> Response {
    let mut frame = Frame::for_staff(&me, "audit");
    let filter = match f.to_filter() {
        Ok(filter) => filter,
        Err(why) => {
            frame = frame.problem(why);
            AuditFilter::default()
        }
    };
    let events = match st.store.audit_search(&filter, PAGE).await {
        Ok(e) => e,
        Err(e) => return unavailable(frame, &e),
    };
    let (actions, actors) = match st.store.audit_facets().await {
        Ok(x) => x,
        Err(e) => return unavailable(frame, &e),
    };
    let older = (events.len() == usize::try_from(PAGE).unwrap_or(usize::MAX))
        .then(|| events.last().map(|e| f.query(e.seq)))
        .flatten();
    render(
        StatusCode::OK,
        &AuditPage {
            frame,
            f,
            events,
            actions,
            actors,
            older,
        },
    )
}

async fn verify(State(st): State<Arc<AppState>>, Administrator(me): Administrator) -> Response {
    let frame = Frame::for_staff(&me, "audit");
    match st.store.audit_verify().await {
        Ok(check) => super::message(
            StatusCode::OK,
            frame,
            "Audit log intact",
            &format!(
                "All {} events check out: every hash and every link of the chain is right. Head: {}",
                check.events, check.head
            ),
            Some("/admin/audit"),
        ),
        Err(oathvault_store::Error::AuditBroken { seq, why }) => super::message(
            StatusCode::CONFLICT,
            frame,
            "Audit log broken",
            &format!(
                "The chain breaks at event {seq}: {why}. Keep the database as it is and investigate."
            ),
            Some("/admin/audit"),
        ),
        Err(e) => unavailable(frame, &e),
    }
}
