//! What pages of every app share: rendering a template, cookies, redirects
//! with a notice, the client's address, dates as pages show them, and the
//! operation id that ties a failure page to its log line.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use rand08::RngCore;

/// The number a failure page shows and the log line holds, so that what a
/// user quotes to support finds the cause (`op-` and 12 hex digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationId(String);

impl OperationId {
    /// A fresh id from `rng` (not a secret: it only names a log line).
    pub fn new(rng: &mut impl RngCore) -> Self {
        let mut b = [0u8; 6];
        rng.fill_bytes(&mut b);
        let mut id = String::from("op-");
        for x in b {
            for nibble in [x >> 4, x & 15] {
                id.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
            }
        }
        Self(id)
    }

    /// Logs `error` at ERROR with a fresh id, for a page that says what
    /// failed and gives the id.
    pub fn log(what: &str, error: &dyn std::fmt::Display) -> Self {
        let id = Self::new(&mut oathvault_vault::random::os());
        tracing::error!(operation = %id, error = %error, "{what}");
        id
    }
}

impl std::fmt::Display for OperationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Renders a template with `status`; a template that fails to render
/// becomes a plain 500 page with an operation id (also logged).
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            let op = OperationId::log("a page could not be rendered", &e);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(format!(
                    "<!doctype html><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                     <title>Error</title><p>This page could not be shown. \
                     If you ask for help, quote operation {op}.</p><p><a href=\"/\">Start page</a></p>"
                )),
            )
                .into_response()
        }
    }
}

/// The stylesheet, as `/static/oathvault.css` answers it.
pub async fn serve_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        crate::CSS,
    )
        .into_response()
}

/// The value of the cookie `name` the browser sent.
#[must_use]
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: `Secure; HttpOnly; SameSite=Strict`, for the whole site.
#[must_use]
pub fn set_cookie(name: &str, value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Percent-encodes a query value.
#[must_use]
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A redirect after a change, with a notice for the page it lands on
/// (added to the query `path` may already have).
#[must_use]
pub fn see_other(path: &str, notice: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}notice={}", query_value(notice))).into_response()
}

/// Unix seconds as pages show them: `YYYY-MM-DD HH:MM UTC`.
#[must_use]
pub fn when(unix: i64) -> String {
    oathvault_otp::clock::display(unix)
}

/// The address a request came from: the client named by a trusted proxy
/// ([`crate::with_client_addr`]), else the peer (`unknown` without
/// connection info).
#[must_use]
pub fn source_of(parts: &Parts) -> String {
    if let Some(c) = parts.extensions.get::<crate::ClientAddr>() {
        return c.0.to_string();
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

#[cfg(test)]
mod tests {
    use rand08::SeedableRng as _;

    use super::*;

    #[test]
    fn operation_ids_differ_and_read_well() {
        let mut rng = rand08::rngs::StdRng::seed_from_u64(3);
        let (a, b) = (OperationId::new(&mut rng), OperationId::new(&mut rng));
        assert_ne!(a, b);
        assert!(a.to_string().starts_with("op-") && a.to_string().len() == 15);
    }

    #[test]
    fn cookies_and_queries() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ov_session=xyz"),
        );
        assert_eq!(cookie(&h, "ov_session").as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(query_value("a b&c"), "a%20b%26c");
        let to = |r: Response| {
            r.headers()[header::LOCATION]
                .to_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(to(see_other("/tokens", "done")), "/tokens?notice=done");
        assert_eq!(
            to(see_other("/tokens?page=2", "a b")),
            "/tokens?page=2&notice=a%20b"
        );
        let c = set_cookie("s", "v", 60);
        assert_eq!(
            c.to_str().unwrap_or_default(),
            "s=v; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Strict"
        );
    }
}
