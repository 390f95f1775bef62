//! A token's page: its state read fresh from Graph, its history, the
//! actions the operator's role allows.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use oathvault_store::{DeskDevice, DeskRole, DeskUser, EventRow};

use crate::pages::{Frame, NoticeQuery, Operator, enc, message, render, store_failed};
use crate::{DeskState, refresh_device};

#[derive(Template)]
#[template(path = "token.html")]
pub(super) struct TokenPage {
    frame: Frame,
    d: DeskDevice,
    users: Vec<DeskUser>,
    history: Vec<EventRow>,
    warning: Option<String>,
    chart: Option<String>,
    can_change: bool,
    admin: bool,
    /// The directory's code lock on the token (wrong codes in a row).
    lock: Option<oathvault_graph::TokenLock>,
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
pub(super) async fn fresh(
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
pub(super) async fn allowed(
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

pub(super) async fn detail(
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
        crate::drift::outlook(
            &d,
            drift,
            oathvault_otp::clock::unix_of(&d.last_used),
            &clock,
            op.now,
        )
        .warning
    });
    // Beyond Entra: the local directory counts wrong codes and locks.
    let lock = if st.clocks.load(std::sync::atomic::Ordering::Relaxed) == crate::CLOCKS_ABSENT {
        None
    } else {
        st.graph.token_lock(&d.serial).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the token's lock could not be read");
            None
        })
    };
    render(
        StatusCode::OK,
        &TokenPage {
            lock,
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
