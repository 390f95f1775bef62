//! What can go wrong talking to Microsoft Graph and the identity platform,
//! with what the user needs to quote: the Graph error code and request id,
//! or the AADSTS code and trace id.

use std::fmt;

/// A Graph or sign-in failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Graph answered with an error body.
    #[error("{0}")]
    Graph(GraphError),
    /// The token endpoint refused (`error`, `error_description`).
    #[error("sign-in refused: {error}: {description}{}", trace(.trace_id.as_deref()))]
    SignIn {
        /// HTTP status.
        status: u16,
        /// `error` (`invalid_client`, `authorization_pending`, …).
        error: String,
        /// `error_description` (starts with `AADSTSnnnn:` at Microsoft).
        description: String,
        /// `trace_id`.
        trace_id: Option<String>,
    },
    /// The service could not be reached or did not answer in time, after
    /// every retry.
    #[error("{url}: {detail}")]
    Transport {
        /// Where.
        url: String,
        /// What happened (connection refused, timed out, …).
        detail: String,
    },
    /// An answer that is not what Microsoft documents.
    #[error("unexpected answer from {url}: {detail}")]
    Unexpected {
        /// Where.
        url: String,
        /// What was wrong with it.
        detail: String,
    },
    /// A setting or input the client cannot use.
    #[error("{0}")]
    Invalid(String),
}

fn trace(id: Option<&str>) -> String {
    id.map(|t| format!(" (trace id {t})")).unwrap_or_default()
}

impl Error {
    /// The Graph error, when Graph gave one.
    #[must_use]
    pub fn graph(&self) -> Option<&GraphError> {
        match self {
            Self::Graph(g) => Some(g),
            _ => None,
        }
    }

    /// The code to put in a report: Graph's `error.code`, the token
    /// endpoint's `error`, or a word for the rest.
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::Graph(g) => &g.code,
            Self::SignIn { error, .. } => error,
            Self::Transport { .. } => "transport",
            Self::Unexpected { .. } => "unexpected",
            Self::Invalid(_) => "invalid",
        }
    }

    /// The request id to quote to Microsoft, when there is one.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Graph(g) => g.request_id.as_deref(),
            Self::SignIn { trace_id, .. } => trace_id.as_deref(),
            _ => None,
        }
    }
}

/// Graph's error body: `{"error":{"code","message","innerError":{"request-id",
/// "date"}}}`, with the HTTP status and the `request-id` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    /// HTTP status.
    pub status: u16,
    /// `error.code` (branch on this, never on the message).
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `innerError.request-id` or the `request-id` header.
    pub request_id: Option<String>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph {} (HTTP {}", self.code, self.status)?;
        if let Some(id) = &self.request_id {
            write!(f, ", request-id {id}")?;
        }
        write!(f, "): {}", self.message)
    }
}

impl GraphError {
    /// Reads Graph's error body; anything else becomes a code named after
    /// the status, keeping a short, printable piece of the body.
    #[must_use]
    pub fn from_body(status: u16, header_request_id: Option<String>, body: &[u8]) -> Self {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let e = crate::field(&v, "error");
        let code = crate::field(e, "code")
            .as_str()
            .map_or_else(|| format!("http{status}"), str::to_owned);
        let message = crate::field(e, "message").as_str().map_or_else(
            || {
                String::from_utf8_lossy(body)
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect()
            },
            str::to_owned,
        );
        let inner = crate::field(e, "innerError");
        let request_id = crate::field(inner, "request-id")
            .as_str()
            .map(str::to_owned)
            .or(header_request_id);
        Self {
            status,
            code,
            message,
            request_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_names_code_status_and_request_id() {
        let body = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist.","innerError":{"date":"2026-11-27T00:00:00","request-id":"r-1","client-request-id":"c-1"}}}"#;
        let e = GraphError::from_body(404, Some("h-1".into()), body);
        assert_eq!(
            e.to_string(),
            "Graph Request_ResourceNotFound (HTTP 404, request-id r-1): Resource 'x' does not exist."
        );
        let e = GraphError::from_body(502, Some("h-2".into()), b"<html>bad gateway</html>\n");
        assert_eq!(e.code, "http502");
        assert_eq!(e.request_id.as_deref(), Some("h-2"));
        assert_eq!(e.message, "<html>bad gateway</html>");
    }
}
