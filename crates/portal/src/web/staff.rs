//! Staff accounts: the list, adding one (its authenticator enrolment shown
//! once, as a QR code), switching sign-in off and on, lifting a lock.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use oathvault_store::{Role, Staff};

use super::inventory::Notice;
use super::{Administrator, AppState, Frame, refusal, render, see_other, unavailable, when};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/staff", get(staff_page).post(add_staff))
        .route("/admin/staff/access", post(access))
}

/// A staff row for the table.
struct Row {
    staff: Staff,
    status: String,
    /// The account's role in each app, in words.
    roles: String,
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    frame: Frame,
    rows: Vec<Row>,
    draft: StaffForm,
    me: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct StaffForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

async fn staff_view(
    st: &AppState,
    me: &super::Signed,
    frame: Frame,
    status: StatusCode,
    draft: StaffForm,
) -> Response {
    let staff = match st.store.staff().await {
        Ok(s) => s,
        Err(e) => return unavailable(frame, &e),
    };
    let now = st.now();
    let rows = staff
        .into_iter()
        .map(|s| {
            let status = if s.disabled {
                "switched off".to_owned()
            } else if s.locked_until > now {
                format!("locked until {}", when(s.locked_until))
            } else if s.failed_signins > 0 {
                format!("active ({} wrong attempt(s))", s.failed_signins)
            } else {
                "active".to_owned()
            };
            let roles = match (s.role, s.desk_role) {
                (Some(p), Some(d)) => format!("{}; help desk: {}", p.as_str(), d.as_str()),
                (Some(p), None) => p.as_str().to_owned(),
                (None, Some(d)) => format!("help desk only: {}", d.as_str()),
                (None, None) => "none".to_owned(),
            };
            Row {
                staff: s,
                status,
                roles,
            }
        })
        .collect();
    render(
        status,
        &StaffPage {
            frame,
            rows,
            draft,
            me: me.session.staff.email.clone(),
        },
    )
}

async fn staff_page(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Query(q): Query<Notice>,
) -> Response {
    let frame = Frame::for_staff(&me, "staff").notice(q.notice);
    staff_view(&st, &me, frame, StatusCode::OK, StaffForm::default()).await
}

async fn add_staff(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Form(f): Form<StaffForm>,
) -> Response {
    let Some(role) = Role::parse(&f.role) else {
        let frame = Frame::for_staff(&me, "staff").problem("choose a role".to_owned());
        return staff_view(&st, &me, frame, StatusCode::UNPROCESSABLE_ENTITY, f).await;
    };
    let invited = st
        .enrolments()
        .invite(
            &mut oathvault_vault::random::os(),
            &me.actor(),
            &f.email,
            &f.name,
            role,
        )
        .await;
    match invited {
        Ok(()) => see_other(
            "/admin/staff",
            &format!(
                "Added {} as {}. An enrolment link went to them by mail (it works once, for 24 hours): they choose their own password and authenticator.",
                f.email.trim(),
                role.as_str()
            ),
        ),
        Err(e) => {
            let (status, why) = refusal(&e);
            let frame = Frame::for_staff(&me, "staff").problem(why);
            staff_view(&st, &me, frame, status, f).await
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct AccessForm {
    email: String,
    /// `disable`, `enable`, `unlock` or `reset`.
    change: String,
}

async fn access(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Form(f): Form<AccessForm>,
) -> Response {
    let admin = st.admin();
    let who = me.actor();
    let (done, notice) = match f.change.as_str() {
        "disable" => (
            admin.set_staff_disabled(&who, &f.email, true).await,
            format!("Switched off {}; their sessions ended.", f.email),
        ),
        "enable" => (
            admin.set_staff_disabled(&who, &f.email, false).await,
            format!("Switched on {}.", f.email),
        ),
        "unlock" => (
            admin.unlock_staff(&who, &f.email).await,
            format!("Lifted the sign-in lock of {}.", f.email),
        ),
        "reset" => (
            st.enrolments()
                .reset(&mut oathvault_vault::random::os(), &who, &f.email)
                .await,
            format!(
                "Reset {}: their password and authenticator no longer work, their sessions ended, and an enrolment link went to them by mail.",
                f.email
            ),
        ),
        _ => (
            Err(crate::Error::Invalid("unknown change".into())),
            String::new(),
        ),
    };
    match done {
        Ok(()) => see_other("/admin/staff", &notice),
        Err(e) => {
            let (status, why) = refusal(&e);
            let frame = Frame::for_staff(&me, "staff").problem(why);
            staff_view(&st, &me, frame, status, StaffForm::default()).await
        }
    }
}
