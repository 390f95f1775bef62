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
}

async fn account(signed: Signed) -> Response {
    let page = AccountPage {
        email: signed.session.staff.email.clone(),
        role: signed
            .session
            .staff
            .role
            .map_or("none", oathvault_store::Role::as_str),
        session_ends: when(signed.session.expires),
        frame: Frame::for_staff(&signed, "account"),
    };
    render(StatusCode::OK, &page)
}
