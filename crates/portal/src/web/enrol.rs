//! `/enrol/{token}`: a staff member sets their own password and
//! authenticator through an enrolment link; and the account page's
//! "replace my authenticator".

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use zeroize::Zeroizing;

use super::{AppState, Frame, Signed, message, render, source_of, when};
use crate::enrolment::{EnrolError, Offer};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/enrol/{token}", get(page).post(finish))
        .route("/account/authenticator", post(for_myself))
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    frame: Frame,
    email: String,
    name: String,
    expires: String,
    token: String,
    qr: Zeroizing<String>,
    secret: Zeroizing<String>,
    problems: Vec<String>,
}

fn view(offer: Offer, token: &str, status: StatusCode, problems: Vec<String>) -> Response {
    let qr = oathvault_accounts::totp::qr_svg(&offer.uri).unwrap_or_default();
    render(
        status,
        &EnrolPage {
            frame: Frame::default(),
            expires: when(offer.expires),
            email: offer.email,
            name: offer.name,
            token: token.to_owned(),
            qr,
            secret: offer.secret,
            problems,
        },
    )
}

fn refused(e: &EnrolError) -> Response {
    match e {
        EnrolError::UnknownLink => message(
            StatusCode::NOT_FOUND,
            Frame::default(),
            "This link does not work any more",
            "Enrolment links work once, for a limited time. Ask an administrator of the portal to send you a new one.",
            None,
        ),
        other => {
            let op = oathvault_web::OperationId::log("enrolment failed", other);
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                Frame::default(),
                "Something went wrong",
                &format!(
                    "Nothing was changed. Try again in a moment; if it goes on, quote operation {op}."
                ),
                None,
            )
        }
    }
}

async fn page(State(st): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    match st
        .enrolments()
        .offer(&mut oathvault_vault::random::os(), &token, st.now())
        .await
    {
        Ok(offer) => view(offer, &token, StatusCode::OK, Vec::new()),
        Err(e) => refused(&e),
    }
}

#[derive(serde::Deserialize)]
struct FinishForm {
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    repeat: Zeroizing<String>,
    #[serde(default)]
    code: String,
}

async fn finish(
    State(st): State<Arc<AppState>>,
    Path(token): Path<String>,
    parts: axum::http::request::Parts,
    Form(f): Form<FinishForm>,
) -> Response {
    let source = source_of(&parts);
    let mut rng = oathvault_vault::random::os();
    let e = st.enrolments();
    match e
        .finish(
            &mut rng,
            &token,
            &f.password,
            &f.repeat,
            &f.code,
            &source,
            st.now(),
        )
        .await
    {
        Ok(email) => message(
            StatusCode::OK,
            Frame::default(),
            "You are set up",
            &format!(
                "{email} now signs in with the password you chose and a code from your authenticator."
            ),
            Some("/signin"),
        ),
        Err(EnrolError::Invalid(problems)) => match e.offer(&mut rng, &token, st.now()).await {
            Ok(offer) => view(offer, &token, StatusCode::UNPROCESSABLE_ENTITY, problems),
            Err(e) => refused(&e),
        },
        Err(e) => refused(&e),
    }
}

#[derive(serde::Deserialize)]
struct MyselfForm {
    #[serde(default)]
    current: Zeroizing<String>,
}

/// `POST /account/authenticator`: the current password again, then the
/// enrolment page for a new authenticator and password.
async fn for_myself(
    State(st): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<MyselfForm>,
) -> Response {
    match st
        .enrolments()
        .for_myself(
            &mut oathvault_vault::random::os(),
            &signed.session.staff,
            &f.current,
            &signed.source,
            signed.now,
        )
        .await
    {
        Ok(token) => {
            let to = format!("/enrol/{token}");
            axum::response::IntoResponse::into_response(Redirect::to(&to))
        }
        Err(EnrolError::Invalid(problems)) => super::signin::account_view(
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Frame::for_staff(&signed, "account"),
            problems,
        ),
        Err(e) => refused(&e),
    }
}
