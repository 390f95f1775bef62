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
