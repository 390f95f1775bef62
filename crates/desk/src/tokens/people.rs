//! A person's page: who they are, the tokens they hold, what the desk did
//! for them, and a form to give them a token by its serial — callers give
//! their name, so the help desk starts from the person.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use oathvault_store::{AuditFilter, DeskDevice, DeskRole, DeskUser, DeviceQuery, EventRow};

use crate::DeskState;
use crate::pages::{Frame, Operator, enc, message, render, store_failed};

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    frame: Frame,
    user: DeskUser,
    tokens: Vec<DeskDevice>,
    total: i64,
    history: Vec<EventRow>,
    can_change: bool,
}

impl PersonPage {
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

fn no_such_user(op: &Operator, id: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        op.frame("users"),
        "No such user",
        &format!(
            "The desk's copy of the tenant has no user {id:?}. Search for them by name on the Users page; a user added in the last minutes appears after the next refresh from Graph."
        ),
        Some("/users"),
    )
}

/// The user with this id or UPN in the copy, or the page that says why not.
async fn user_of(st: &DeskState, op: &Operator, id: &str) -> Result<DeskUser, Response> {
    match st.store.desk_user(id).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(no_such_user(op, id)),
        Err(e) => Err(store_failed(op, &e)),
    }
}

pub(super) async fn person(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
) -> Response {
    let user = match user_of(&st, &op, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let query = DeviceQuery {
        user_id: Some(user.id.clone()),
        limit: 100,
        ..DeviceQuery::default()
    };
    let history = AuditFilter {
        text: Some(user.upn.clone()),
        ..AuditFilter::default()
    };
    let (tokens, history) = match tokio::try_join!(
        st.store.desk_devices(&query),
        st.store.audit_search(&history, 50)
    ) {
        Ok(x) => x,
        Err(e) => return store_failed(&op, &e),
    };
    render(
        StatusCode::OK,
        &PersonPage {
            frame: op.frame("users"),
            user,
            total: tokens.total,
            tokens: tokens.rows,
            history,
            can_change: op.role >= DeskRole::Helpdesk,
        },
    )
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct GiveForm {
    serial: String,
    code: String,
}

/// "Assign a token to this person": the serial the caller reads off the
/// token, and its code to activate it at once.
pub(super) async fn give(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<GiveForm>,
) -> Response {
    let user = match user_of(&st, &op, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let serial = f.serial.trim();
    if serial.is_empty() {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            op.frame("users"),
            "Which token?",
            "Type the serial printed on the back of the token.",
            Some(&format!("/users/{}", enc(&user.id))),
        );
    }
    super::actions::assign_to(&st, &op, serial, &user.upn, &f.code).await
}
