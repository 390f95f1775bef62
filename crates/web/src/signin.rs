//! The sign-in pages of an app (the portal's staff pages, the help desk):
//! `/signin` (password), `/signin/code`, `/signout`, generic over the app,
//! which brings its cookies, landing page and form.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::page::{OperationId, cookie, set_cookie};
use oathvault_accounts::{Auth, AuthError};

/// An app with staff sign-in pages (the portal, the help desk).
pub trait SignInApp: Send + Sync + 'static {
    /// The sign-in steps with this app's cookies and landing page.
    fn steps(&self) -> SignInSteps<'_>;
    /// Now, in Unix seconds.
    fn unix_now(&self) -> i64;
    /// Renders this app's sign-in form.
    const FORM: SignInForm;
}

/// `/signin` (password), `/signin/code`, `/signout` for `S`.
pub fn signin_routes<S: SignInApp>() -> Router<Arc<S>> {
    Router::new()
        .route(
            "/signin",
            get(|| async { S::FORM(StatusCode::OK, "password", None) }).post(signin::<S>),
        )
        .route("/signin/code", get(code_page::<S>).post(code::<S>))
        .route("/signout", axum::routing::post(signout::<S>))
}

#[derive(serde::Deserialize)]
struct SigninForm {
    email: String,
    password: zeroize::Zeroizing<String>,
}

/// The sign-in steps over HTTP for an app with its own cookie names,
/// landing page and sign-in form: the portal's staff pages and the help
/// desk's. Password, then the TOTP code; the pending and the session
/// cookie; one answer for every kind of refusal.
#[derive(Debug)]
pub struct SignInSteps<'a> {
    /// The store-backed sign-in.
    pub auth: Auth<'a>,
    /// Limits and lifetimes.
    pub policy: oathvault_accounts::Policy,
    /// The cookie between the password and the code.
    pub pending: &'static str,
    /// The session cookie.
    pub session: &'static str,
    /// Where a completed sign-in lands.
    pub landing: &'static str,
    /// The app's name in messages ("portal", "desk").
    pub app: &'static str,
}

/// Renders the sign-in form: status, step (`password` or `code`), problem.
pub type SignInForm = fn(StatusCode, &'static str, Option<String>) -> Response;

impl SignInSteps<'_> {
    fn refused(&self, step: &'static str, e: &AuthError, form: SignInForm) -> Response {
        let status = match e {
            AuthError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        };
        let msg = match e {
            AuthError::Store(e) => {
                let op = OperationId::log("sign-in: database failure", e);
                format!(
                    "the {} cannot reach its database; try again later (operation {op})",
                    self.app
                )
            }
            other => other.to_string(),
        };
        let reason = match e {
            AuthError::Refused => "wrong",
            AuthError::Locked => "locked",
            AuthError::RateLimited => "rate_limited",
            _ => "error",
        };
        let counted = crate::metrics::Event {
            name: "signin_refusals",
            help: "Sign-ins refused, by step and reason (wrong, locked, rate_limited, error).",
            labels: vec![("step", step), ("reason", reason)],
            by: 1,
        };
        // After a refused code the pending step is gone: start again.
        let step = if step == "code" && !matches!(e, AuthError::RateLimited) {
            "password"
        } else {
            step
        };
        let mut r = form(status, step, Some(msg));
        crate::metrics::count(&mut r, counted);
        r
    }

    /// The password step: a pending cookie and the code page, or the form again.
    pub async fn password(
        &self,
        email: &str,
        password: &str,
        peer: SocketAddr,
        now: i64,
        form: SignInForm,
    ) -> Response {
        let source = peer.ip().to_string();
        match self
            .auth
            .password(
                &mut oathvault_vault::random::os(),
                email,
                password,
                &source,
                now,
            )
            .await
        {
            Ok(token) => (
                [(
                    header::SET_COOKIE,
                    set_cookie(self.pending, &token, self.policy.pending_ttl),
                )],
                Redirect::to("/signin/code"),
            )
                .into_response(),
            Err(e) => {
                tracing::info!(source = %peer.ip(), outcome = "refused", app = self.app, "sign-in: password step");
                self.refused("password", &e, form)
            }
        }
    }

    /// The code page, or back to the start without a pending sign-in.
    pub fn code_page(&self, headers: &HeaderMap, form: SignInForm) -> Response {
        if cookie(headers, self.pending).is_none() {
            return Redirect::to("/signin").into_response();
        }
        form(StatusCode::OK, "code", None)
    }

    /// The code step: the session cookie and the landing page, or the form.
    pub async fn code(
        &self,
        headers: &HeaderMap,
        code: &str,
        peer: SocketAddr,
        now: i64,
        form: SignInForm,
    ) -> Response {
        let Some(pending) = cookie(headers, self.pending) else {
            return Redirect::to("/signin").into_response();
        };
        let source = peer.ip().to_string();
        match self
            .auth
            .code(
                &mut oathvault_vault::random::os(),
                &pending,
                code.trim(),
                &source,
                now,
            )
            .await
        {
            Ok(token) => {
                tracing::info!(source = %peer.ip(), outcome = "ok", app = self.app, "sign-in");
                let mut r = Redirect::to(self.landing).into_response();
                let h = r.headers_mut();
                h.append(
                    header::SET_COOKIE,
                    set_cookie(self.session, &token, self.policy.session_ttl),
                );
                h.append(header::SET_COOKIE, set_cookie(self.pending, "", 0));
                r
            }
            Err(e) => {
                tracing::info!(source = %peer.ip(), outcome = "refused", app = self.app, "sign-in: code step");
                self.refused("code", &e, form)
            }
        }
    }

    /// Ends the session and goes back to the sign-in page.
    pub async fn sign_out(&self, headers: &HeaderMap) -> Response {
        if let Some(token) = cookie(headers, self.session)
            && let Err(e) = self.auth.sign_out(&token).await
        {
            OperationId::log("sign-out: database failure", &e);
        }
        (
            [(header::SET_COOKIE, set_cookie(self.session, "", 0))],
            Redirect::to("/signin"),
        )
            .into_response()
    }
}

async fn signin<S: SignInApp>(
    State(st): State<Arc<S>>,
    crate::ClientAddr(client): crate::ClientAddr,
    Form(f): Form<SigninForm>,
) -> Response {
    st.steps()
        .password(
            &f.email,
            &f.password,
            SocketAddr::new(client, 0),
            st.unix_now(),
            S::FORM,
        )
        .await
}

async fn code_page<S: SignInApp>(State(st): State<Arc<S>>, headers: HeaderMap) -> Response {
    st.steps().code_page(&headers, S::FORM)
}

#[derive(serde::Deserialize)]
struct CodeForm {
    code: String,
}

async fn code<S: SignInApp>(
    State(st): State<Arc<S>>,
    crate::ClientAddr(client): crate::ClientAddr,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    st.steps()
        .code(
            &headers,
            &f.code,
            SocketAddr::new(client, 0),
            st.unix_now(),
            S::FORM,
        )
        .await
}

async fn signout<S: SignInApp>(State(st): State<Arc<S>>, headers: HeaderMap) -> Response {
    st.steps().sign_out(&headers).await
}
