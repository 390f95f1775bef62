//! The inventory (search, filter by status or user, counts, pages), a
//! token's page with its history, and the actions: assign (and activate),
//! activate, deactivate, unassign, replace a lost token, delete; the same
//! in bulk on a selection, after a confirmation page; refresh from Graph.
//!
//! Every action goes to Graph, reads the token back into the copy, and is
//! audited with its outcome (Graph's error code and request id on failure).

use std::fmt::Write as _;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oathvault_store::{DeskDevice, DeskRole, DeskUser, DeviceQuery, EventRow};

use crate::pages::{Frame, NoticeQuery, Operator, enc, message, render, see_other, store_failed};
use crate::{DeskState, SyncError, refresh_device};

const PAGE: i64 = 50;
const STATUSES: [&str; 4] = ["available", "assigned", "activated", "failedActivation"];

pub(crate) fn routes() -> Router<Arc<DeskState>> {
    Router::new()
        .route("/tokens", get(inventory))
        .route("/tokens.csv", get(export))
        .route("/tokens/{id}", get(detail))
        .route("/tokens/{id}/assign", post(assign))
        .route("/tokens/{id}/activate", post(activate))
        .route("/tokens/{id}/deactivate", post(deactivate))
        .route("/tokens/{id}/unassign", post(unassign))
        .route("/tokens/{id}/replace", post(replace))
        .route("/tokens/{id}/delete", post(delete))
        .route("/tokens/bulk", post(bulk))
        .route("/tokens/bulk/confirm", post(bulk_confirm))
        .route("/sync", post(sync_now))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct InventoryQuery {
    q: String,
    status: String,
    user: String,
    page: i64,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct InventoryPage {
    frame: Frame,
    q: String,
    status: String,
    statuses: [&'static str; 4],
    user: Option<DeskUser>,
    counts: Vec<(String, i64)>,
    all: i64,
    rows: Vec<DeskDevice>,
    total: i64,
    first: i64,
    last: i64,
    prev: Option<String>,
    next: Option<String>,
    synced: String,
    /// The query string of this search, for the CSV export.
    export: String,
    can_change: bool,
    admin: bool,
}

impl InventoryPage {
    #[allow(clippy::unused_self, reason = "called from the template")]
    fn enc(&self, s: &str) -> String {
        enc(s)
    }
}

fn page_link(q: &InventoryQuery, page: i64) -> String {
    format!("page={page}{}", filters(q))
}

/// `&q=…&status=…&user=…`, the ones given.
fn filters(q: &InventoryQuery) -> String {
    let mut out = String::new();
    for (k, v) in [("q", &q.q), ("status", &q.status), ("user", &q.user)] {
        if !v.is_empty() {
            let _ = write!(out, "&{k}={}", enc(v));
        }
    }
    out
}

fn ago(now: i64, then: i64) -> String {
    let s = (now - then).max(0);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

async fn inventory(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Query(q): Query<InventoryQuery>,
) -> Response {
    let page = q.page.max(0);
    let query = DeviceQuery {
        text: q.q.clone(),
        status: Some(q.status.clone()).filter(|s| !s.is_empty()),
        user_id: Some(q.user.clone()).filter(|s| !s.is_empty()),
        offset: page * PAGE,
        limit: PAGE,
    };
    let (found, counts, sync, user) = match tokio::try_join!(
        st.store.desk_devices(&query),
        st.store.desk_counts(),
        st.store.desk_sync_state(),
        async {
            match &query.user_id {
                Some(u) => st.store.desk_user(u).await,
                None => Ok(None),
            }
        },
    ) {
        Ok(x) => x,
        Err(e) => return store_failed(&op, &e),
    };
    let synced = match sync {
        Some(s) => format!(
            "Copy of the tenant from {} ({} tokens, {} users)",
            ago(op.now, s.finished),
            s.devices,
            s.users
        ),
        None => "Not synced with the tenant yet".to_owned(),
    };
    let first = if found.rows.is_empty() {
        0
    } else {
        page * PAGE + 1
    };
    let last = if found.rows.is_empty() {
        0
    } else {
        page * PAGE + i64::try_from(found.rows.len()).unwrap_or(0)
    };
    let page_view = InventoryPage {
        frame: op.frame("tokens").notice(q.notice.clone()),
        all: counts.iter().map(|c| c.1).sum(),
        counts,
        statuses: STATUSES,
        user,
        prev: (page > 0).then(|| page_link(&q, page - 1)),
        next: (last > 0 && last < found.total).then(|| page_link(&q, page + 1)),
        total: found.total,
        rows: found.rows,
        first,
        last,
        synced,
        export: filters(&q).trim_start_matches('&').to_owned(),
        can_change: op.role >= DeskRole::Helpdesk,
        admin: op.role >= DeskRole::Administrator,
        q: q.q,
        status: q.status,
    };
    render(StatusCode::OK, &page_view)
}

/// A CSV field: quoted when it holds a comma, quote or line break, and a
/// leading `=`, `+`, `-` or `@` defused with a quote (a spreadsheet would
/// run it as a formula).
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The tokens the inventory page shows for this search and filter, all of
/// them, as CSV (no secrets: the copy has none).
async fn export(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Query(q): Query<InventoryQuery>,
) -> Response {
    let query = DeviceQuery {
        text: q.q.clone(),
        status: Some(q.status.clone()).filter(|s| !s.is_empty()),
        user_id: Some(q.user.clone()).filter(|s| !s.is_empty()),
        ..DeviceQuery::default()
    };
    let rows = match st.store.desk_devices_all(&query).await {
        Ok(r) => r,
        Err(e) => return store_failed(&op, &e),
    };
    let mut out = String::from(
        "serial,manufacturer,model,display name,status,user,last used,drift seconds,hash,interval,id\r\n",
    );
    for d in &rows {
        // Text from the tenant goes through csv_field; numbers as they are.
        let text = [
            d.serial.as_str(),
            &d.manufacturer,
            &d.model,
            &d.display_name,
            &d.status,
            &d.user_name,
            &d.last_used,
        ];
        let line: Vec<String> = text.iter().map(|f| csv_field(f)).collect();
        let drift = d.drift.map(|x| x.to_string()).unwrap_or_default();
        let _ = write!(
            out,
            "{},{drift},{},{},{}\r\n",
            line.join(","),
            csv_field(&d.hash_function),
            d.interval,
            csv_field(&d.id)
        );
    }
    let event = op
        .event("export", "inventory")
        .with_detail(format!("{} tokens as CSV", rows.len()));
    if let Err(e) = st.store.audit(&event).await {
        return store_failed(&op, &e);
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"hardware-tokens.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage {
    frame: Frame,
    d: DeskDevice,
    users: Vec<DeskUser>,
    history: Vec<EventRow>,
    warning: Option<String>,
    chart: Option<String>,
    can_change: bool,
    admin: bool,
}

impl TokenPage {
    #[allow(clippy::unused_self, reason = "called from the template")]
    fn enc(&self, s: &str) -> String {
        enc(s)
    }

    #[allow(
        clippy::unused_self,
        clippy::trivially_copy_pass_by_ref,
        reason = "called from the template, which passes a reference"
    )]
    fn when(&self, at: &i64) -> String {
        oathvault_web::when(*at)
    }
}

pub(crate) fn subject(d: &DeskDevice) -> String {
    format!("token:{}", d.serial)
}

/// The token's latest state from Graph (the copy when Graph fails, with
/// the failure as the page's problem).
async fn fresh(
    st: &DeskState,
    op: &Operator,
    id: &str,
) -> Result<(DeskDevice, Option<String>), Response> {
    match refresh_device(st, id).await {
        Ok(d) => Ok((d, None)),
        Err(e) => match st.store.desk_device(id).await {
            Ok(Some(d)) => Ok((d, Some(format!("showing the last copy: {e}")))),
            Ok(None) => Err(message(
                StatusCode::NOT_FOUND,
                op.frame("tokens"),
                "No such token",
                &format!("The tenant has no token with id {id}: {e}"),
                Some("/tokens"),
            )),
            Err(e) => Err(store_failed(op, &e)),
        },
    }
}

/// The token read fresh, when the operator's role allows `action` on it
/// (a refusal is audited and answered with a 403 page).
async fn allowed(
    st: &DeskState,
    op: &Operator,
    id: &str,
    needed: DeskRole,
    action: &str,
) -> Result<DeskDevice, Response> {
    let (d, _) = fresh(st, op, id).await?;
    op.require(st, needed, action, &subject(&d)).await?;
    Ok(d)
}

async fn detail(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let (d, problem) = match fresh(&st, &op, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let filter = oathvault_store::AuditFilter {
        text: Some(subject(&d)),
        ..oathvault_store::AuditFilter::default()
    };
    let (history, users, clock) = match tokio::try_join!(
        st.store.audit_search(&filter, 50),
        st.store.desk_users("", 500),
        st.store.desk_drift_history(&d.serial)
    ) {
        Ok(x) => x,
        Err(e) => return store_failed(&op, &e),
    };
    let mut frame = op.frame("tokens").notice(q.notice);
    if let Some(p) = problem {
        frame = frame.problem(p);
    }
    let warning = d.drift.and_then(|drift| {
        crate::drift::outlook(&d, drift, oathvault_otp::clock::unix_of(&d.last_used), &clock, op.now).warning
    });
    render(
        StatusCode::OK,
        &TokenPage {
            frame,
            chart: crate::drift::chart(&clock),
            warning,
            d,
            users,
            history,
            can_change: op.role >= DeskRole::Helpdesk,
            admin: op.role >= DeskRole::Administrator,
        },
    )
}

/// Why an action failed, in words for the page and the audit log.
#[derive(Debug)]
enum ActionError {
    Graph(oathvault_graph::Error),
    Store(oathvault_store::Error),
    Refused(String),
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Graph(e) => write!(f, "{e}"),
            Self::Store(e) => write!(f, "the desk's database: {e}"),
            Self::Refused(why) => f.write_str(why),
        }
    }
}

impl ActionError {
    fn code(&self) -> String {
        match self {
            Self::Graph(e) => e.code().to_owned(),
            Self::Store(_) => "database".into(),
            Self::Refused(_) => "refused".into(),
        }
    }

    fn request_id(&self) -> String {
        match self {
            Self::Graph(e) => e.request_id().unwrap_or_default().to_owned(),
            _ => String::new(),
        }
    }
}

impl From<oathvault_graph::Error> for ActionError {
    fn from(e: oathvault_graph::Error) -> Self {
        Self::Graph(e)
    }
}

impl From<oathvault_store::Error> for ActionError {
    fn from(e: oathvault_store::Error) -> Self {
        Self::Store(e)
    }
}

impl From<SyncError> for ActionError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Graph(e) => Self::Graph(e),
            SyncError::Store(e) => Self::Store(e),
        }
    }
}

/// The user with this UPN or id: from the copy, else from Graph.
async fn find_user(st: &DeskState, upn: &str) -> Result<DeskUser, ActionError> {
    let upn = upn.trim();
    if upn.is_empty() {
        return Err(ActionError::Refused("give the user's UPN".into()));
    }
    if let Some(u) = st.store.desk_user(upn).await? {
        return Ok(u);
    }
    let u = st.graph.user(upn).await?;
    Ok(DeskUser {
        upn: u.user_principal_name.unwrap_or_else(|| upn.to_owned()),
        display_name: u.display_name.unwrap_or_default(),
        id: u.id,
    })
}

fn six_digits(code: &str) -> Result<&str, ActionError> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(ActionError::Refused(
            "the code is the 6 digits the token shows (leading zeros included)".into(),
        ))
    }
}

fn assignee(d: &DeskDevice) -> Result<&str, ActionError> {
    d.user_id.as_deref().ok_or_else(|| {
        ActionError::Refused(format!(
            "token {} is not assigned to anyone (status {})",
            d.serial, d.status
        ))
    })
}

/// One action on one token (already read fresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Deactivate,
    Unassign,
    Delete,
}

impl Action {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "deactivate" => Some(Self::Deactivate),
            "unassign" => Some(Self::Unassign),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Deactivate => "deactivate",
            Self::Unassign => "unassign",
            Self::Delete => "delete",
        }
    }

    fn needs(self) -> DeskRole {
        match self {
            Self::Delete => DeskRole::Administrator,
            _ => DeskRole::Helpdesk,
        }
    }
}

/// Runs `action` on `d`; the token's state afterwards (`None`: deleted).
async fn run(
    st: &DeskState,
    d: &DeskDevice,
    action: Action,
) -> Result<Option<DeskDevice>, ActionError> {
    match action {
        Action::Deactivate => {
            if d.status != "activated" {
                return Err(ActionError::Refused(format!(
                    "token {} is {}, not activated",
                    d.serial, d.status
                )));
            }
            st.graph.deactivate(assignee(d)?, &d.id).await?;
        }
        Action::Unassign => {
            st.graph.unassign(assignee(d)?, &d.id).await?;
        }
        Action::Delete => {
            if let Some(user) = d.user_id.as_deref() {
                st.graph.unassign(user, &d.id).await?;
            }
            st.graph.delete_device(&d.id).await?;
            st.store.desk_remove(&d.id).await?;
            return Ok(None);
        }
    }
    Ok(Some(refresh_device(st, &d.id).await?))
}

/// Audits the outcome of `action` on `d` and answers with the token's page.
async fn finish(
    st: &DeskState,
    op: &Operator,
    d: &DeskDevice,
    action: &str,
    detail: String,
    result: Result<Option<DeskDevice>, ActionError>,
) -> Response {
    let (event, page) = match &result {
        Ok(after) => {
            let status = after.as_ref().map_or("deleted", |a| a.status.as_str());
            let note = format!("{action}: done; token {} is now {status}", d.serial);
            (
                op.event(action, &subject(d))
                    .with_detail(format!("{detail}; now {status}")),
                if after.is_some() {
                    see_other(&format!("/tokens/{}", enc(&d.id)), &note)
                } else {
                    see_other("/tokens", &note)
                },
            )
        }
        Err(e) => (
            op.event(action, &subject(d))
                .with_outcome(if matches!(e, ActionError::Refused(_)) {
                    "refused"
                } else {
                    "failed"
                })
                .with_detail(format!("{detail}; {e}")),
            message(
                if matches!(e, ActionError::Refused(_)) {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::BAD_GATEWAY
                },
                op.frame("tokens"),
                &format!("Could not {action} token {}", d.serial),
                &e.to_string(),
                Some(&format!("/tokens/{}", enc(&d.id))),
            ),
        ),
    };
    if let Err(e) = st.store.audit(&event).await {
        return store_failed(op, &e);
    }
    page
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AssignForm {
    upn: String,
    code: String,
}

async fn assign(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<AssignForm>,
) -> Response {
    let action = if f.code.trim().is_empty() {
        "assign"
    } else {
        "assign-activate"
    };
    let d = match allowed(&st, &op, &id, DeskRole::Helpdesk, action).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut detail = format!("to {}", f.upn.trim());
    let result = async {
        if d.status != "available" {
            return Err(ActionError::Refused(format!(
                "token {} is {} (to {}), not available",
                d.serial, d.status, d.user_name
            )));
        }
        let code = if f.code.trim().is_empty() {
            None
        } else {
            Some(six_digits(&f.code)?)
        };
        let user = find_user(&st, &f.upn).await?;
        detail = format!("to {}", user.upn);
        st.graph.assign(&user.id, &d.id).await?;
        if let Some(code) = code {
            st.graph.activate(&user.id, &d.id, code).await?;
        }
        Ok(Some(refresh_device(&st, &d.id).await?))
    }
    .await;
    finish(&st, &op, &d, action, detail, result).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct CodeForm {
    code: String,
}

async fn activate(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<CodeForm>,
) -> Response {
    let d = match allowed(&st, &op, &id, DeskRole::Helpdesk, "activate").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let result = async {
        let code = six_digits(&f.code)?;
        st.graph.activate(assignee(&d)?, &d.id, code).await?;
        Ok(Some(refresh_device(&st, &d.id).await?))
    }
    .await;
    let detail = format!("for {}", d.user_name);
    finish(&st, &op, &d, "activate", detail, result).await
}

async fn one(st: Arc<DeskState>, op: Operator, id: String, action: Action) -> Response {
    let d = match allowed(&st, &op, &id, action.needs(), action.as_str()).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let detail = if d.user_name.is_empty() {
        format!("was {}", d.status)
    } else {
        format!("was {} for {}", d.status, d.user_name)
    };
    let result = run(&st, &d, action).await;
    finish(&st, &op, &d, action.as_str(), detail, result).await
}

async fn deactivate(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
) -> Response {
    one(st, op, id, Action::Deactivate).await
}

async fn unassign(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
) -> Response {
    one(st, op, id, Action::Unassign).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct DeleteForm {
    confirm: String,
}

async fn delete(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<DeleteForm>,
) -> Response {
    if f.confirm != "yes" {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            op.frame("tokens"),
            "Not deleted",
            "Tick the box to confirm that the token is to be deleted for good.",
            Some(&format!("/tokens/{}", enc(&id))),
        );
    }
    if st.settings.two_person {
        let d = match allowed(&st, &op, &id, DeskRole::Administrator, "delete").await {
            Ok(d) => d,
            Err(r) => return r,
        };
        return crate::approvals::ask(&st, &op, Action::Delete, &[d]).await;
    }
    one(st, op, id, Action::Delete).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ReplaceForm {
    serial: String,
    code: String,
}

async fn replace(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<ReplaceForm>,
) -> Response {
    let old = match allowed(&st, &op, &id, DeskRole::Helpdesk, "replace").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let serial = f.serial.trim().to_owned();
    let mut detail = format!("by {serial} for {}", old.user_name);
    let result = async {
        let user = assignee(&old)?.to_owned();
        let code = if f.code.trim().is_empty() {
            None
        } else {
            Some(six_digits(&f.code)?)
        };
        let Some(new) = st.graph.device_by_serial(&serial).await? else {
            return Err(ActionError::Refused(format!(
                "the tenant has no token with serial {serial}; upload it first"
            )));
        };
        if new.status.as_deref().unwrap_or("available") != "available" {
            return Err(ActionError::Refused(format!(
                "the replacement {serial} is {}, not available",
                new.status.as_deref().unwrap_or("?")
            )));
        }
        // The new token first: if it cannot be assigned, the user keeps the old one.
        st.graph.assign(&user, &new.id).await?;
        if let Some(code) = code {
            st.graph.activate(&user, &new.id, code).await?;
        }
        st.graph.unassign(&user, &old.id).await?;
        let new_row = refresh_device(&st, &new.id).await?;
        detail = format!(
            "by {serial} for {} (new token {})",
            old.user_name, new_row.status
        );
        let e = op
            .event("replacement", &format!("token:{serial}"))
            .with_detail(format!("replaces {} for {}", old.serial, old.user_name));
        st.store.audit(&e).await?;
        Ok(Some(refresh_device(&st, &old.id).await?))
    }
    .await;
    finish(&st, &op, &old, "replace", detail, result).await
}

/// Reads repeated `id` fields and the `action` of a bulk form.
fn bulk_form(body: &[u8]) -> (Vec<String>, String) {
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
struct ConfirmPage {
    frame: Frame,
    title: String,
    text: String,
    button: String,
    action: String,
    rows: Vec<DeskDevice>,
}

async fn selected(
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

async fn bulk(State(st): State<Arc<DeskState>>, op: Operator, body: Bytes) -> Response {
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

async fn bulk_confirm(State(st): State<Arc<DeskState>>, op: Operator, body: Bytes) -> Response {
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
    if action == Action::Delete && st.settings.two_person {
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
        let result = run(st, &d, action).await;
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

async fn sync_now(State(st): State<Arc<DeskState>>, op: Operator) -> Response {
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

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(super::csv_field("10001001"), "10001001");
        assert_eq!(super::csv_field("Smith, Ann"), "\"Smith, Ann\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(super::csv_field("-cmd"), "'-cmd");
        assert_eq!(super::csv_field("@x,y"), "\"'@x,y\"");
    }
}
