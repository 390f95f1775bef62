//! Actions on a selection of tokens, after a confirmation page, with one
//! result row a token; and refreshing the whole copy from Graph.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use oathvault_store::{DeskDevice, DeskRole};

use crate::pages::{Frame, Operator, enc, message, render, see_other, store_failed};
use crate::{DeskState, refresh_device};

use super::actions::{Action, ActionError, run};
use super::detail::subject;

/// Reads repeated `id` fields and the `action` of a bulk form.
pub(super) fn bulk_form(body: &[u8]) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut action = String::new();
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "id" => ids.push(v.into_owned()),
            "action" => action = v.into_owned(),
            _ => {}
        }
    }
    ids.truncate(1000);
    (ids, action)
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(super) struct ConfirmPage {
    frame: Frame,
    title: String,
    text: String,
    button: String,
    action: String,
    rows: Vec<DeskDevice>,
}

pub(super) async fn selected(
    st: &DeskState,
    ids: &[String],
) -> Result<Vec<DeskDevice>, oathvault_store::Error> {
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(d) = st.store.desk_device(id).await? {
            rows.push(d);
        }
    }
    Ok(rows)
}

pub(super) async fn bulk(State(st): State<Arc<DeskState>>, op: Operator, body: Bytes) -> Response {
    let (ids, action) = bulk_form(&body);
    let Some(action) = Action::parse(&action) else {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            op.frame("tokens"),
            "Choose an action",
            "Choose what to do with the selected tokens.",
            Some("/tokens"),
        );
    };
    if let Err(r) = op
        .require(
            &st,
            action.needs(),
            action.as_str(),
            &format!("{} tokens", ids.len()),
        )
        .await
    {
        return r;
    }
    if ids.is_empty() {
        return see_other("/tokens", "select one or more tokens first");
    }
    let rows = match selected(&st, &ids).await {
        Ok(r) => r,
        Err(e) => return store_failed(&op, &e),
    };
    let n = rows.len();
    let (title, text) = match action {
        Action::Delete => (
            format!("Delete {n} token(s) from the tenant?"),
            "These tokens will be unassigned where assigned and deleted from the tenant's inventory for good. Users who sign in with them will not be able to.".to_owned(),
        ),
        Action::Unassign => (
            format!("Unassign {n} token(s)?"),
            "These tokens will be taken from their users and go back to the inventory as available.".to_owned(),
        ),
        Action::Deactivate => (
            format!("Deactivate {n} token(s)?"),
            "These tokens stay assigned, but their users cannot sign in with them until they are activated again.".to_owned(),
        ),
    };
    render(
        StatusCode::OK,
        &ConfirmPage {
            frame: op.frame("tokens"),
            title,
            text,
            button: format!("Yes, {} {n} token(s)", action.as_str()),
            action: action.as_str().to_owned(),
            rows,
        },
    )
}

/// One row of a results page.
#[derive(Debug, Clone)]
pub(crate) struct ResultRow {
    pub serial: String,
    pub id: Option<String>,
    pub outcome: String,
    pub class: &'static str,
    pub status: String,
    pub code: String,
    pub request_id: String,
    pub message: String,
}

impl ResultRow {
    fn failed(serial: String, id: Option<String>, status: String, e: &ActionError) -> Self {
        Self {
            serial,
            id,
            outcome: "failed".into(),
            class: "failed",
            status,
            code: e.code(),
            request_id: e.request_id(),
            message: e.to_string(),
        }
    }

    fn done(serial: String, after: Option<DeskDevice>) -> Self {
        Self {
            serial,
            id: after.as_ref().map(|a| a.id.clone()),
            outcome: "done".into(),
            class: "ok",
            status: after.map_or_else(|| "deleted".into(), |a| a.status),
            code: String::new(),
            request_id: String::new(),
            message: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "results.html")]
pub(crate) struct ResultsPage {
    pub frame: Frame,
    pub title: String,
    pub summary: String,
    pub results: Vec<ResultRow>,
}

impl ResultsPage {
    #[allow(clippy::unused_self, reason = "called from the template")]
    fn enc(&self, s: &str) -> String {
        enc(s)
    }
}

pub(super) async fn bulk_confirm(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    body: Bytes,
) -> Response {
    let (ids, action) = bulk_form(&body);
    let Some(action) = Action::parse(&action) else {
        return see_other("/tokens", "nothing was done: no action chosen");
    };
    if let Err(r) = op
        .require(
            &st,
            action.needs(),
            action.as_str(),
            &format!("{} tokens", ids.len()),
        )
        .await
    {
        return r;
    }
    if st.settings.two_person.needs_approval(action, ids.len()) {
        let rows = match selected(&st, &ids).await {
            Ok(r) => r,
            Err(e) => return store_failed(&op, &e),
        };
        return crate::approvals::ask(&st, &op, action, &rows).await;
    }
    let (results, ok) = match execute(&st, &op, &ids, action, "bulk").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    render(
        StatusCode::OK,
        &ResultsPage {
            frame: op.frame("tokens"),
            title: format!("{}: {} token(s)", action.as_str(), ids.len()),
            summary: format!("{ok} done, {} failed.", results.len() - ok),
            results,
        },
    )
}

/// Runs `action` on each token (read fresh first), auditing each with
/// `note`; one result row per token and how many succeeded.
pub(crate) async fn execute(
    st: &DeskState,
    op: &Operator,
    ids: &[String],
    action: Action,
    note: &str,
) -> Result<(Vec<ResultRow>, usize), Response> {
    let mut results = Vec::with_capacity(ids.len());
    let mut ok = 0usize;
    for id in ids {
        let d = match refresh_device(st, id).await {
            Ok(d) => d,
            Err(e) => {
                let serial = st
                    .store
                    .desk_device(id)
                    .await
                    .ok()
                    .flatten()
                    .map_or_else(|| id.clone(), |d| d.serial);
                let e = ActionError::from(e);
                results.push(ResultRow::failed(serial, None, String::new(), &e));
                continue;
            }
        };
        let result = run(st, op, &d, action).await;
        let event = op.event(action.as_str(), &subject(&d));
        let event = match &result {
            Ok(_) => event.with_detail(format!("{note}; was {}", d.status)),
            Err(e) => event
                .with_outcome("failed")
                .with_detail(format!("{note}; {e}")),
        };
        if let Err(e) = st.store.audit(&event).await {
            return Err(store_failed(op, &e));
        }
        results.push(match result {
            Ok(after) => {
                ok += 1;
                ResultRow::done(d.serial, after)
            }
            Err(e) => ResultRow::failed(d.serial, Some(d.id), d.status, &e),
        });
    }
    Ok((results, ok))
}

pub(super) async fn sync_now(State(st): State<Arc<DeskState>>, op: Operator) -> Response {
    if let Err(r) = op
        .require(&st, DeskRole::Helpdesk, "sync", "inventory")
        .await
    {
        return r;
    }
    let (event, notice) = match crate::sync(&st).await {
        Ok(s) => (
            op.event("sync", "inventory")
                .with_detail(format!("{} tokens, {} users", s.devices, s.users)),
            format!(
                "refreshed from Graph: {} tokens, {} users",
                s.devices, s.users
            ),
        ),
        Err(e) => (
            op.event("sync", "inventory")
                .with_outcome("failed")
                .with_detail(e.to_string()),
            format!("the refresh failed: {e}"),
        ),
    };
    if let Err(e) = st.store.audit(&event).await {
        return store_failed(&op, &e);
    }
    see_other("/tokens", &notice)
}
