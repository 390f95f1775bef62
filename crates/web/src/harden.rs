//! What every page of every app is wrapped in: CSRF refusal of cross-site
//! form posts (tower-http's `CsrfLayer`: `Sec-Fetch-Site` / `Origin`, no
//! tokens), request tracing with bearer tokens in paths masked, security
//! headers, and HSTS when the app is reached over `https://`.

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Wraps an app's routes (the portal's, the help desk's) in what every page
/// needs: CSRF refusal of cross-site form posts, request tracing (with the
/// tokens of download and confirmation links masked), and security headers
/// — a strict content security policy, no framing, no referrer, no
/// sniffing, no caching, and HSTS when `hsts` (the app is reached over
/// `https://`).
pub fn harden(app: Router, hsts: bool) -> Router {
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let mut app = app.layer(CsrfLayer::new()).layer(TraceLayer::new_for_http().make_span_with(
        |r: &axum::http::Request<axum::body::Body>| {
            tracing::debug_span!("request", method = %r.method(), path = %log_path(r.uri().path()))
        },
    ));
    for (name, value) in headers {
        app = app.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if hsts {
        app = app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    app
}

/// A request path as logs show it: the token in a download or confirmation
/// link (`/d/…`, `/c/…`) is a bearer secret and is replaced; the query is
/// never logged.
#[must_use]
pub fn log_path(path: &str) -> String {
    for prefix in ["/d/", "/c/", "/enrol/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.split_once('/').map_or("", |(_, t)| t);
            return if tail.is_empty() {
                format!("{prefix}[token]")
            } else {
                format!("{prefix}[token]/{tail}")
            };
        }
    }
    path.to_owned()
}

/// Log targets that print request URIs (which hold link tokens) and the
/// level they are capped at whatever the configured level:
/// tower-http's CSRF layer traces every request's full URI.
pub const QUIET_TARGETS: &[&str] = &["tower_http::csrf=debug"];

/// A log filter for `level` (a tracing filter such as `info` or
/// `oathvault_portal=debug,info`) with [`QUIET_TARGETS`] capped, so no
/// level shows a link token; `None` when `level` does not parse.
#[must_use]
pub fn log_filter(level: &str) -> Option<tracing_subscriber::EnvFilter> {
    let mut filter = tracing_subscriber::EnvFilter::try_new(level).ok()?;
    for d in QUIET_TARGETS {
        filter = filter.add_directive(d.parse().ok()?);
    }
    Some(filter)
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_tokens_never_reach_the_log() {
        assert_eq!(super::log_path("/d/AbC-123_x"), "/d/[token]");
        assert_eq!(
            super::log_path("/c/AbC-123_x/receipt"),
            "/c/[token]/receipt"
        );
        assert_eq!(super::log_path("/enrol/AbC-123_x"), "/enrol/[token]");
        assert_eq!(super::log_path("/admin/requests/7"), "/admin/requests/7");
    }
}
