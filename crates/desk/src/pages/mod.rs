//! What every page shares (the frame, the signed-in operator and their
//! role), sign-in and sign-out, the users page and the audit log.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use oathvault_store::{DeskRole, DeskUser, Event, EventRow, Session};
use oathvault_web::{
    SignInApp, SignInForm, SignInSteps, cookie, query_value, signin_routes, source_of,
};

use crate::DeskState;

mod audit;
mod signin;

pub(crate) use signin::signin_page_with_entra;
mod users;

const PENDING: &str = "__Host-ovd_pending";
pub(crate) const SESSION: &str = "__Host-ovd_session";

pub(crate) fn routes() -> Router<Arc<DeskState>> {
    Router::new()
        .route("/", get(signin::home))
        .merge(signin_routes::<DeskState>())
        .route("/users", get(users::users))
        .route("/audit", get(audit::audit))
        .route("/audit/verify", get(audit::audit_verify))
}

/// The signed-in operator, for the page header.
#[derive(Debug)]
pub(crate) struct Chrome {
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub can_change: bool,
    pub admin: bool,
    pub graph: String,
    pub section: &'static str,
}

/// The parts every page shares.
#[derive(Debug, Default)]
pub(crate) struct Frame {
    pub chrome: Option<Chrome>,
    pub notice: Option<String>,
    pub problem: Option<String>,
}

impl Frame {
    pub(crate) fn notice(mut self, n: Option<String>) -> Self {
        self.notice = n.filter(|n| !n.is_empty());
        self
    }

    pub(crate) fn problem(mut self, p: impl Into<String>) -> Self {
        self.problem = Some(p.into());
        self
    }
}

/// A signed-in operator with a desk role, and where the request came from.
#[derive(Debug)]
pub(crate) struct Operator {
    pub session: Session,
    pub role: DeskRole,
    pub source: String,
    pub now: i64,
    graph: String,
}

impl Operator {
    pub(crate) fn frame(&self, section: &'static str) -> Frame {
        Frame {
            chrome: Some(Chrome {
                name: self.session.staff.name.clone(),
                email: self.session.staff.email.clone(),
                role: self.role.as_str(),
                can_change: self.role >= DeskRole::Helpdesk,
                admin: self.role >= DeskRole::Administrator,
                graph: self.graph.clone(),
                section,
            }),
            ..Frame::default()
        }
    }

    pub(crate) fn email(&self) -> &str {
        &self.session.staff.email
    }

    /// An audit event by this operator.
    pub(crate) fn event(&self, action: &str, subject: &str) -> Event {
        Event::ok(self.now, self.email(), &self.source, action, subject)
    }

    /// `Ok` when the operator's role is at least `needed`; otherwise the
    /// refusal is audited and a 403 page comes back.
    pub(crate) async fn require(
        &self,
        st: &DeskState,
        needed: DeskRole,
        action: &str,
        subject: &str,
    ) -> Result<(), Response> {
        if self.role >= needed {
            return Ok(());
        }
        let e = self
            .event(action, subject)
            .with_outcome("refused")
            .with_detail(format!(
                "needs the {} role; {} has {}",
                needed.as_str(),
                self.email(),
                self.role.as_str()
            ));
        if let Err(err) = st.store.audit(&e).await {
            tracing::error!(error = %err, "audit failed");
        }
        Err(message(
            StatusCode::FORBIDDEN,
            self.frame(""),
            "Not allowed",
            &format!(
                "Your role ({}) cannot {action}; it needs {}. Ask a desk administrator.",
                self.role.as_str(),
                match needed {
                    DeskRole::Administrator => "an administrator",
                    DeskRole::Helpdesk => "a help desk operator or an administrator",
                    DeskRole::Viewer => "a viewer",
                }
            ),
            Some("/tokens"),
        ))
    }
}

impl FromRequestParts<Arc<DeskState>> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<DeskState>,
    ) -> Result<Self, Self::Rejection> {
        let now = st.now();
        let Some(token) = cookie(&parts.headers, SESSION) else {
            return Err(Redirect::to("/signin").into_response());
        };
        // Signed in with a password and a code (`full`) or with Entra.
        let hash = oathvault_accounts::session::token_hash(&token);
        let session = match st.store.session(&hash, now).await {
            Ok(Some(s))
                if crate::entra::signed_in_stage(&s.stage)
                    && oathvault_accounts::may_use(&s.staff, oathvault_accounts::App::Desk) =>
            {
                s
            }
            Ok(_) => return Err(Redirect::to("/signin").into_response()),
            Err(e) => return Err(unavailable("session lookup failed", &e)),
        };
        let role = match st.store.desk_role(session.staff.id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Err(message(
                    StatusCode::FORBIDDEN,
                    Frame::default(),
                    "No access to the desk",
                    "Your account has no desk role. Ask a desk administrator.",
                    None,
                ));
            }
            Err(e) => return Err(unavailable("role lookup failed", &e)),
        };
        Ok(Self {
            session,
            role,
            source: source_of(parts),
            now,
            graph: st.settings.graph_url.clone(),
        })
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    frame: Frame,
    title: &'a str,
    text: &'a str,
    back: Option<&'a str>,
}

pub(crate) use oathvault_web::render;

/// A page that only says something.
pub(crate) fn message(
    status: StatusCode,
    frame: Frame,
    title: &str,
    text: &str,
    back: Option<&str>,
) -> Response {
    render(
        status,
        &Message {
            frame,
            title,
            text,
            back,
        },
    )
}

/// The page for a database failure before the operator is known; the
/// failure is logged under the operation id the page shows.
pub(crate) fn unavailable(what: &str, e: &dyn std::fmt::Display) -> Response {
    let id = oathvault_web::OperationId::log(what, e);
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        Frame::default(),
        "Database unavailable",
        &format!(
            "The desk cannot reach its database. Try again in a moment; if it goes on, quote operation {id}."
        ),
        None,
    )
}

/// A database failure while showing a page to `op`.
pub(crate) fn store_failed(op: &Operator, e: &oathvault_store::Error) -> Response {
    let id = oathvault_web::OperationId::log("database failure", e);
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        op.frame(""),
        "Database unavailable",
        &format!(
            "The desk cannot reach its database. Nothing was changed; try again in a moment. If it goes on, quote operation {id}."
        ),
        None,
    )
}

pub(crate) use oathvault_web::see_other;

/// Percent-encodes a path segment or query value (for templates).
pub(crate) fn enc(s: &str) -> String {
    query_value(s)
}

/// `?notice=…`: what a redirect after a change says on the page it lands on.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(crate) struct NoticeQuery {
    pub notice: Option<String>,
}
