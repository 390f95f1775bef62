//! The portal's sign-in pages (the steps are the web kit's), the start
//! page and the account page.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::get;
use oathvault_store::Role;
use oathvault_web::{SignInApp, SignInForm, SignInSteps, signin_routes};

use super::{AppState, Frame, PENDING, SESSION, Signed, render, when};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home))
        .merge(signin_routes::<AppState>())
        .route("/account", get(account))
        .route("/account/password", axum::routing::post(change_password))
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    frame: Frame,
    step: &'static str,
}

fn signin_form(status: StatusCode, step: &'static str, problem: Option<String>) -> Response {
    render(
        status,
        &SigninPage {
            frame: Frame {
                problem,
                ..Frame::default()
            },
            step,
        },
    )
}

async fn home(signed: Signed) -> Redirect {
    if signed.session.staff.role == Some(Role::Administrator) {
        Redirect::to("/admin/")
    } else {
        Redirect::to("/admin/requests")
    }
}

impl SignInApp for AppState {
    fn steps(&self) -> SignInSteps<'_> {
        SignInSteps {
            auth: self.auth(),
            policy: self.policy,
            pending: PENDING,
            session: SESSION,
            landing: "/",
            app: "portal",
        }
    }

    fn unix_now(&self) -> i64 {
        self.now()
    }

    const FORM: SignInForm = signin_form;
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    email: String,
    role: &'static str,
    session_ends: String,
    problems: Vec<String>,
}

pub(super) fn account_view(
    signed: &Signed,
    status: StatusCode,
    frame: Frame,
    problems: Vec<String>,
) -> Response {
    let page = AccountPage {
        email: signed.session.staff.email.clone(),
        role: signed
            .session
            .staff
            .role
            .map_or("none", oathvault_store::Role::as_str),
        session_ends: when(signed.session.expires),
        frame,
        problems,
    };
    render(status, &page)
}

async fn account(signed: Signed) -> Response {
    let frame = Frame::for_staff(&signed, "account");
    account_view(&signed, StatusCode::OK, frame, Vec::new())
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: zeroize::Zeroizing<String>,
    #[serde(default)]
    password: zeroize::Zeroizing<String>,
    #[serde(default)]
    repeat: zeroize::Zeroizing<String>,
}

/// `POST /account/password`: a staff member changes their own password
/// (every problem listed at once; their other sessions end).
async fn change_password(
    axum::extract::State(st): axum::extract::State<Arc<AppState>>,
    signed: Signed,
    headers: axum::http::HeaderMap,
    axum::extract::Form(f): axum::extract::Form<PasswordForm>,
) -> Response {
    let token = oathvault_web::cookie(&headers, SESSION).unwrap_or_default();
    let done = st
        .auth()
        .change_password(
            &mut oathvault_vault::random::os(),
            &signed.session.staff,
            &token,
            &f.current,
            &f.password,
            &f.repeat,
            &signed.source,
            signed.now,
        )
        .await;
    let frame = Frame::for_staff(&signed, "account");
    match done {
        Ok(Ok(())) => account_view(
            &signed,
            StatusCode::OK,
            frame.notice(Some(
                "Your password was changed; your other sessions were signed out.".to_owned(),
            )),
            Vec::new(),
        ),
        Ok(Err(problems)) => {
            account_view(&signed, StatusCode::UNPROCESSABLE_ENTITY, frame, problems)
        }
        Err(e) => {
            let op = oathvault_web::OperationId::log("password change failed", &e);
            account_view(
                &signed,
                StatusCode::INTERNAL_SERVER_ERROR,
                frame.problem(format!(
                    "The password could not be changed; try again (operation {op})."
                )),
                Vec::new(),
            )
        }
    }
}
