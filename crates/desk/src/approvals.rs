//! The two-person rule (`DeskSettings::two_person`, see [`TwoPerson`]):
//! deleting tokens, bulk unassign or deactivate, or any action on more than
//! N tokens — as configured — is filed as a request that a second
//! administrator approves (then it is carried out, token by token, with
//! results) or rejects. Whoever asked cannot decide; a request not approved
//! within a day expires; one whose asker no longer holds the role the
//! action needs is refused when approved. Every step is audited.
//!
//! [`TwoPerson`]: crate::TwoPerson

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use oathvault_store::{Approval, DeskDevice, DeskRole};

use crate::DeskState;
use crate::pages::{Frame, NoticeQuery, Operator, message, render, see_other, store_failed};
use crate::tokens::{Action, ResultsPage, execute};

/// How long a request waits for its second administrator.
const WAIT: i64 = 24 * 3600;

pub(crate) fn routes() -> Router<Arc<DeskState>> {
    Router::new()
        .route("/approvals", get(list))
        .route("/approvals/{id}/approve", post(approve))
        .route("/approvals/{id}/reject", post(reject))
}

/// Files `action` on `tokens` for a second administrator and says so.
pub(crate) async fn ask(
    st: &DeskState,
    op: &Operator,
    action: Action,
    tokens: &[DeskDevice],
) -> Response {
    if tokens.is_empty() {
        return see_other("/tokens", "select one or more tokens first");
    }
    let pairs: Vec<(String, String)> = tokens
        .iter()
        .map(|d| (d.id.clone(), d.serial.clone()))
        .collect();
    let serials: Vec<&str> = tokens.iter().map(|d| d.serial.as_str()).collect();
    let event = op
        .event("approval.ask", &format!("{} tokens", tokens.len()))
        .with_detail(format!("{} {}", action.as_str(), serials.join(", ")));
    match st
        .store
        .desk_approval_add(
            action.as_str(),
            &pairs,
            op.email(),
            op.now,
            op.now + WAIT,
            &event,
        )
        .await
    {
        Ok(id) => message(
            StatusCode::ACCEPTED,
            op.frame("approvals"),
            "Waiting for a second administrator",
            &format!(
                "Request {id}: {} {} token(s) ({}). Nothing has changed yet: another administrator must approve it on the Approvals page within a day.",
                action.as_str(),
                tokens.len(),
                serials.join(", ")
            ),
            Some("/approvals"),
        ),
        Err(e) => store_failed(op, &e),
    }
}

struct Row {
    a: Approval,
    serials: String,
    own: bool,
    expired: bool,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    frame: Frame,
    pending: Vec<Row>,
    decided: Vec<Row>,
    two_person: bool,
}

impl ApprovalsPage {
    #[allow(
        clippy::unused_self,
        clippy::trivially_copy_pass_by_ref,
        reason = "called from the template, which passes a reference"
    )]
    fn when(&self, at: &i64) -> String {
        oathvault_web::when(*at)
    }
}

async fn list(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Query(q): Query<NoticeQuery>,
) -> Response {
    if let Err(r) = op
        .require(&st, DeskRole::Administrator, "see approvals", "approvals")
        .await
    {
        return r;
    }
    let (pending, decided) = match st.store.desk_approvals().await {
        Ok(x) => x,
        Err(e) => return store_failed(&op, &e),
    };
    let row = |a: Approval| Row {
        serials: a.serials.join(", "),
        own: a.requested_by.eq_ignore_ascii_case(op.email()),
        expired: a.expires <= op.now,
        a,
    };
    render(
        StatusCode::OK,
        &ApprovalsPage {
            frame: op.frame("approvals").notice(q.notice),
            pending: pending.into_iter().map(row).collect(),
            decided: decided.into_iter().map(row).collect(),
            two_person: st.settings.two_person.is_on(),
        },
    )
}

async fn decide(
    st: &DeskState,
    op: &Operator,
    id: i64,
    approve: bool,
) -> Result<Approval, Response> {
    let verb = if approve { "approve" } else { "reject" };
    op.require(st, DeskRole::Administrator, verb, &format!("approval:{id}"))
        .await?;
    let event = op.event(&format!("approval.{verb}"), &format!("approval:{id}"));
    match st
        .store
        .desk_approval_decide(id, op.email(), approve, op.now, &event)
        .await
    {
        Ok(a) => Ok(a),
        Err(oathvault_store::Error::Refused(why)) => {
            let refused = op
                .event(&format!("approval.{verb}"), &format!("approval:{id}"))
                .with_outcome("refused")
                .with_detail(why.clone());
            if let Err(e) = st.store.audit(&refused).await {
                return Err(store_failed(op, &e));
            }
            Err(message(
                StatusCode::CONFLICT,
                op.frame("approvals"),
                "Not decided",
                &why,
                Some("/approvals"),
            ))
        }
        Err(oathvault_store::Error::NotFound { .. }) => Err(message(
            StatusCode::NOT_FOUND,
            op.frame("approvals"),
            "No such request",
            &format!("There is no request {id}."),
            Some("/approvals"),
        )),
        Err(e) => Err(store_failed(op, &e)),
    }
}

async fn approve(State(st): State<Arc<DeskState>>, op: Operator, Path(id): Path<i64>) -> Response {
    let a = match decide(&st, &op, id, true).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(action) = Action::parse(&a.action) else {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            op.frame("approvals"),
            "Unknown action",
            &format!(
                "Request {id} asks for {:?}, which the desk does not know.",
                a.action
            ),
            Some("/approvals"),
        );
    };
    // The asker's role, read again now that it is carried out: a request
    // from someone who has since lost the role is not.
    if let Err(e) = crate::tokens::holds_by_email(&st, &a.requested_by, action.needs()).await {
        let refused = op
            .event("approval.approve", &format!("approval:{id}"))
            .with_outcome("refused")
            .with_detail(e.to_string());
        let summary = format!("not carried out: {e}");
        if let Err(e) = st.store.audit(&refused).await {
            return store_failed(&op, &e);
        }
        if let Err(e) = st.store.desk_approval_outcome(id, &summary).await {
            return store_failed(&op, &e);
        }
        return message(
            StatusCode::CONFLICT,
            op.frame("approvals"),
            "Not carried out",
            &format!("Request {id}: {e}. Nothing was changed."),
            Some("/approvals"),
        );
    }
    let note = format!("approved request {id} of {}", a.requested_by);
    let (results, ok) = match execute(&st, &op, &a.device_ids, action, &note).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let summary = format!("{ok} done, {} failed.", results.len() - ok);
    if let Err(e) = st.store.desk_approval_outcome(id, &summary).await {
        return store_failed(&op, &e);
    }
    render(
        StatusCode::OK,
        &ResultsPage {
            frame: op.frame("approvals"),
            title: format!(
                "Request {id} approved: {} {} token(s)",
                action.as_str(),
                a.device_ids.len()
            ),
            summary,
            results,
        },
    )
}

async fn reject(State(st): State<Arc<DeskState>>, op: Operator, Path(id): Path<i64>) -> Response {
    match decide(&st, &op, id, false).await {
        Ok(_) => see_other(
            "/approvals",
            &format!("request {id} rejected; nothing was changed"),
        ),
        Err(r) => r,
    }
}
