//! The desk's sign-in pages (the steps are the web kit's) and its start page.

#[allow(
    clippy::wildcard_imports,
    reason = "the page parts every desk page shares"
)]
use super::*;

pub(super) async fn home(_op: Operator) -> Redirect {
    Redirect::to("/tokens")
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    frame: Frame,
    step: &'static str,
    /// Offer "Sign in with Microsoft Entra ID".
    entra: bool,
}

/// `GET /signin` with the Entra button when Entra sign-in is set up (the
/// web kit's sign-in form knows nothing of it); every other request passes.
pub(crate) async fn signin_page_with_entra(
    State(st): State<Arc<DeskState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if st.settings.entra.is_some()
        && req.method() == axum::http::Method::GET
        && req.uri().path() == "/signin"
    {
        return render(
            StatusCode::OK,
            &SigninPage {
                frame: Frame::default(),
                step: "password",
                entra: true,
            },
        );
    }
    next.run(req).await
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
            entra: false,
        },
    )
}

impl SignInApp for DeskState {
    fn steps(&self) -> SignInSteps<'_> {
        SignInSteps {
            auth: self.auth(),
            policy: self.policy,
            pending: PENDING,
            session: SESSION,
            landing: "/tokens",
            app: "desk",
        }
    }

    fn unix_now(&self) -> i64 {
        self.now()
    }

    const FORM: SignInForm = signin_form;
}
