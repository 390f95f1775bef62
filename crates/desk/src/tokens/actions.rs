//! The actions on one token: assign (and activate), activate, deactivate,
//! unassign, replace a lost token, delete; each goes to Graph, reads the
//! token back into the copy, and is audited with its outcome.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use oathvault_store::{DeskDevice, DeskRole, DeskUser};

use crate::pages::{Operator, enc, message, see_other, store_failed};
use crate::{DeskState, SyncError, refresh_device};

use super::detail::{allowed, subject};

/// Why an action failed, in words for the page and the audit log.
#[derive(Debug)]
pub(crate) enum ActionError {
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
    pub(super) fn code(&self) -> String {
        match self {
            Self::Graph(e) => e.code().to_owned(),
            Self::Store(_) => "database".into(),
            Self::Refused(_) => "refused".into(),
        }
    }

    pub(super) fn request_id(&self) -> String {
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
pub(super) async fn find_user(st: &DeskState, upn: &str) -> Result<DeskUser, ActionError> {
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

pub(super) fn six_digits(code: &str) -> Result<&str, ActionError> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(ActionError::Refused(
            "the code is the 6 digits the token shows (leading zeros included)".into(),
        ))
    }
}

pub(super) fn assignee(d: &DeskDevice) -> Result<&str, ActionError> {
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

    pub(crate) fn needs(self) -> DeskRole {
        match self {
            Self::Delete => DeskRole::Administrator,
            _ => DeskRole::Helpdesk,
        }
    }
}

/// `Ok` when the staff member `staff_id` (`who`, for the message) holds
/// `needed` now: read again where an action is carried out, since a role
/// taken away after the request began must stop it.
pub(crate) async fn holds(
    st: &DeskState,
    staff_id: i64,
    who: &str,
    needed: DeskRole,
) -> Result<(), ActionError> {
    match st.store.desk_role(staff_id).await? {
        Some(r) if r >= needed => Ok(()),
        _ => Err(ActionError::Refused(format!(
            "{who} no longer holds the {} role",
            needed.as_str()
        ))),
    }
}

/// As [`holds`], for the staff member with this e-mail.
pub(crate) async fn holds_by_email(
    st: &DeskState,
    email: &str,
    needed: DeskRole,
) -> Result<(), ActionError> {
    match st.store.staff_by_email(email).await? {
        Some(s) => holds(st, s.id, email, needed).await,
        None => Err(ActionError::Refused(format!(
            "{email} is no longer an operator"
        ))),
    }
}

/// Runs `action` on `d` for `op`, whose role is checked again first; the
/// token's state afterwards (`None`: deleted).
pub(super) async fn run(
    st: &DeskState,
    op: &Operator,
    d: &DeskDevice,
    action: Action,
) -> Result<Option<DeskDevice>, ActionError> {
    holds(st, op.session.staff.id, op.email(), action.needs()).await?;
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
pub(super) async fn finish(
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
pub(super) struct AssignForm {
    upn: String,
    code: String,
}

pub(super) async fn assign(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<AssignForm>,
) -> Response {
    assign_to(&st, &op, &id, &f.upn, &f.code).await
}

/// Assigns the token with this id or serial to `upn`, and activates it
/// when a code is given (the token page's form and the person page's).
pub(super) async fn assign_to(
    st: &Arc<DeskState>,
    op: &Operator,
    id: &str,
    upn: &str,
    code: &str,
) -> Response {
    let f = AssignForm {
        upn: upn.to_owned(),
        code: code.to_owned(),
    };
    let action = if f.code.trim().is_empty() {
        "assign"
    } else {
        "assign-activate"
    };
    let d = match allowed(st, op, id, DeskRole::Helpdesk, action).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut detail = format!("to {}", f.upn.trim());
    let result = async {
        holds(st, op.session.staff.id, op.email(), DeskRole::Helpdesk).await?;
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
        let user = find_user(st, &f.upn).await?;
        detail = format!("to {}", user.upn);
        st.graph.assign(&user.id, &d.id).await?;
        if let Some(code) = code {
            st.graph.activate(&user.id, &d.id, code).await?;
        }
        Ok(Some(refresh_device(st, &d.id).await?))
    }
    .await;
    finish(st, op, &d, action, detail, result).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct CodeForm {
    code: String,
}

pub(super) async fn activate(
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
        holds(&st, op.session.staff.id, op.email(), DeskRole::Helpdesk).await?;
        let code = six_digits(&f.code)?;
        st.graph.activate(assignee(&d)?, &d.id, code).await?;
        Ok(Some(refresh_device(&st, &d.id).await?))
    }
    .await;
    let detail = format!("for {}", d.user_name);
    finish(&st, &op, &d, "activate", detail, result).await
}

pub(super) async fn one(st: Arc<DeskState>, op: Operator, id: String, action: Action) -> Response {
    let d = match allowed(&st, &op, &id, action.needs(), action.as_str()).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let detail = if d.user_name.is_empty() {
        format!("was {}", d.status)
    } else {
        format!("was {} for {}", d.status, d.user_name)
    };
    if st.settings.two_person.needs_approval(action, 1) {
        return crate::approvals::ask(&st, &op, action, &[d]).await;
    }
    let result = run(&st, &op, &d, action).await;
    finish(&st, &op, &d, action.as_str(), detail, result).await
}

pub(super) async fn deactivate(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
) -> Response {
    one(st, op, id, Action::Deactivate).await
}

pub(super) async fn unassign(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
) -> Response {
    one(st, op, id, Action::Unassign).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct DeleteForm {
    confirm: String,
}

pub(super) async fn delete(
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
    one(st, op, id, Action::Delete).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct ReplaceForm {
    serial: String,
    code: String,
}

pub(super) async fn replace(
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
        holds(&st, op.session.staff.id, op.email(), DeskRole::Helpdesk).await?;
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

/// Clears the directory's code locks on a token and its user (beyond
/// Entra: the local directory locks both after too many wrong codes).
pub(super) async fn unlock(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
) -> Response {
    let d = match allowed(&st, &op, &id, DeskRole::Helpdesk, "unlock").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let result = async {
        holds(&st, op.session.staff.id, op.email(), DeskRole::Helpdesk).await?;
        st.graph.clear_token_lock(&d.serial).await?;
        if let Some(user) = d.user_id.as_deref() {
            st.graph.clear_user_lock(user).await?;
        }
        Ok(Some(refresh_device(&st, &d.id).await?))
    }
    .await;
    finish(&st, &op, &d, "unlock", "code lock cleared".into(), result).await
}
