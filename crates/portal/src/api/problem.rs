//! Errors as RFC 9457 problem details (`application/problem+json`): a
//! `type` URI naming the kind of problem, a `title` for it, the `status`,
//! a `detail` in words for this occurrence, and extension members where
//! there is more to say (`errors` for every problem of a file, `scope` for
//! a missing permission).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use oathvault_web::OperationId;

/// One problem of a file or form (a line and field where known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Item {
    /// What is wrong and what to do, naming the line and field.
    pub message: String,
}

/// A problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// The kind of problem: `urn:oathvault:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time, in words.
    pub detail: String,
    /// The scope the key lacks (for `insufficient-scope`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Every problem found (for `invalid-file` and `invalid-body`), up to
    /// a cap; `more` counts the rest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Item>,
    /// Problems not listed in `errors`.
    #[serde(skip_serializing_if = "is_zero")]
    pub more: usize,
    /// Seconds to wait (sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<i64>,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How many problems a document lists before it only counts.
pub const MAX_ITEMS: usize = 50;

impl Problem {
    /// A problem of `kind` with `status`, `title` and `detail`.
    #[must_use]
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:oathvault:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            scope: None,
            errors: Vec::new(),
            more: 0,
            retry_after: None,
        }
    }

    /// No key, an unknown key or a revoked one.
    #[must_use]
    pub fn unauthorized(detail: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid API key",
            detail,
        )
    }

    /// The key lacks `scope`.
    #[must_use]
    pub fn scope(scope: &str) -> Self {
        let mut p = Self::new(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "The API key lacks a scope",
            format!(
                "this call needs the scope {scope}; make a key with it (`oathvault portal api-key add --scopes {scope},…`)"
            ),
        );
        p.scope = Some(scope.to_owned());
        p
    }

    /// Nothing by that name.
    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// The body or a parameter cannot be used.
    #[must_use]
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            "The request cannot be used",
            detail,
        )
    }

    /// The store failed: logged with an operation id the answer quotes.
    #[must_use]
    pub fn internal(what: &str, e: &dyn std::fmt::Display) -> Self {
        let op = OperationId::log(what, e);
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The portal failed",
            format!("nothing was changed; try again later (operation {op})"),
        )
    }

    /// The same problem listing `items` (capped at [`MAX_ITEMS`]).
    #[must_use]
    pub fn with_items(mut self, items: impl IntoIterator<Item = String>) -> Self {
        let all: Vec<String> = items.into_iter().collect();
        self.more = all.len().saturating_sub(MAX_ITEMS);
        self.errors = all
            .into_iter()
            .take(MAX_ITEMS)
            .map(|message| Item { message })
            .collect();
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let retry_after = self.retry_after;
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(wait) = retry_after
            && let Ok(v) = HeaderValue::from_str(&wait.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"oathvault\""),
            );
        }
        response
    }
}

/// A store error as a problem: a missing record is 404, a taken name 409,
/// a refused change 422, anything else 500 (logged).
impl From<oathvault_store::Error> for Problem {
    fn from(e: oathvault_store::Error) -> Self {
        use oathvault_store::Error as S;
        match &e {
            S::NotFound { .. } => Self::not_found(e.to_string()),
            S::Exists { .. } => Self::new(
                StatusCode::CONFLICT,
                "exists",
                "Already exists",
                e.to_string(),
            ),
            S::DuplicateSerials(_) | S::Refused(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                "The change was refused",
                e.to_string(),
            ),
            _ => Self::internal("database failure", &e),
        }
    }
}

/// An administration error as a problem.
impl From<crate::Error> for Problem {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Store(s) => s.into(),
            crate::Error::Invalid(_)
            | crate::Error::Empty
            | crate::Error::RepeatedSerials(_)
            | crate::Error::WeakPassword => Self::invalid(e.to_string()),
            other => Self::internal("key failure", &other),
        }
    }
}

/// A JSON body whose rejections (not JSON, wrong fields, wrong content
/// type) are problem documents too.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(Problem::new(
                r.status(),
                "invalid-body",
                "The request body cannot be used",
                r.body_text(),
            )),
        }
    }
}

/// A path segment that must be a number (a webhook id): anything else is
/// a 404 problem, as for an id that does not exist.
#[derive(Debug, Clone, Copy)]
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(s)) => s
                .parse()
                .map(Self)
                .map_err(|_| Problem::not_found(format!("there is no webhook {s:?}"))),
            Err(r) => Err(Problem::not_found(r.body_text())),
        }
    }
}
