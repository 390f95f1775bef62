//! `/metrics` in Prometheus' text format (version 0.0.4), shared by the
//! portal, the help desk and the directory.
//!
//! - [`instrument`] counts every request by **route template** (axum's
//!   matched path, e.g. `/d/{token}` — never the path a client sent, which
//!   holds link tokens), method and status, and times it in a histogram;
//! - a handler adds its own counts to its response ([`count`]): sign-in
//!   refusals, push results. Names and label values are `&'static str`, so
//!   nothing a client sends, and no secret, can become a label;
//! - [`Metrics::answer`] serves the text with the app's gauges (mail queue,
//!   files awaiting download, locked accounts) read at scrape time, only to
//!   a loopback caller that no proxy forwarded, or to one that presents the
//!   configured bearer token (compared in constant time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use oathvault_otp::clock::Stopwatch;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Upper bounds (seconds) of the request latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The bearer token that lets a non-loopback scraper read `/metrics`.
/// Never printed: its `Debug` says only that there is one.
#[derive(Clone)]
pub struct MetricsToken(Zeroizing<String>);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken([redacted])")
    }
}

/// A metrics token file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file cannot be read.
    #[error("metrics token file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file holds fewer than 16 characters (after trimming).
    #[error(
        "metrics token file {path}, line 1: the token is shorter than 16 characters; write a long random one (e.g. `openssl rand -hex 32`)"
    )]
    Short {
        /// The file.
        path: String,
    },
}

impl MetricsToken {
    /// The token in `path` (its first line, trimmed; at least 16 characters).
    pub fn read(path: &Path) -> Result<Self, TokenError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| TokenError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?);
        let line = text.lines().next().unwrap_or("").trim();
        if line.chars().count() < 16 {
            return Err(TokenError::Short {
                path: path.display().to_string(),
            });
        }
        Ok(Self(Zeroizing::new(line.to_owned())))
    }

    /// Whether `presented` is this token, in time that does not depend on
    /// where they differ (both are hashed first, so not on length either).
    fn matches(&self, presented: &str) -> bool {
        let want = Sha256::digest(self.0.as_bytes());
        let got = Sha256::digest(presented.as_bytes());
        want.as_slice().ct_eq(got.as_slice()).into()
    }
}

/// A count a handler adds to its response (see [`count`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The counter (`oathvault_` and `_total` are added).
    pub name: &'static str,
    /// What it counts (the `# HELP` line).
    pub help: &'static str,
    /// Label names and values, from the code only.
    pub labels: Vec<(&'static str, &'static str)>,
    /// How much to add.
    pub by: u64,
}

/// The counts a response carries to [`instrument`] (a response extension).
#[derive(Debug, Clone, Default)]
struct Events(Vec<Event>);

/// Adds `event` to `response`'s counts (summed by [`instrument`]).
pub fn count(response: &mut Response, event: Event) {
    let ext = response.extensions_mut();
    if let Some(events) = ext.get_mut::<Events>() {
        events.0.push(event);
    } else {
        ext.insert(Events(vec![event]));
    }
}

/// A value read at scrape time (queue depth, ages, locked accounts).
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// The gauge (`oathvault_` is added).
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// Label names and values, from the code only.
    pub labels: Vec<(&'static str, &'static str)>,
    /// The value.
    pub value: f64,
}

impl Gauge {
    /// A gauge without labels.
    #[must_use]
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            name,
            help,
            labels: Vec::new(),
            value,
        }
    }
}

type Labels = Vec<(&'static str, &'static str)>;

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    /// (route, method, status) → requests.
    requests: BTreeMap<(String, &'static str, u16), u64>,
    /// route → latency.
    latency: BTreeMap<String, Histogram>,
    /// name → (help, labels → count).
    events: BTreeMap<&'static str, (&'static str, BTreeMap<Labels, u64>)>,
}

/// One app's metrics: the request counts and the handlers' counts since
/// start, and who may read them.
#[derive(Debug)]
pub struct Metrics {
    app: &'static str,
    token: Option<MetricsToken>,
    inner: Mutex<Inner>,
}

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A label value as the text format writes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Metrics {
    /// Metrics of `app` (`portal`, `desk`, `directory`: the `app` label),
    /// readable with `token` from anywhere when one is given.
    #[must_use]
    pub fn new(app: &'static str, token: Option<MetricsToken>) -> Self {
        Self {
            app,
            token,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn record(
        &self,
        route: String,
        method: &'static str,
        status: u16,
        seconds: f64,
        events: Events,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *inner
            .requests
            .entry((route.clone(), method, status))
            .or_default() += 1;
        let h = inner.latency.entry(route).or_default();
        h.count += 1;
        h.sum += seconds;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets.iter_mut()) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        drop(inner);
        for e in events.0 {
            self.add(e);
        }
    }

    /// Adds `event` to the counts now (for work that outlives its request,
    /// such as a push running in the background).
    pub fn add(&self, event: Event) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, by_labels) = inner
            .events
            .entry(event.name)
            .or_insert((event.help, BTreeMap::new()));
        *by_labels.entry(event.labels).or_default() += event.by;
    }

    /// Whether a caller at `client` (after trusted proxies) sending
    /// `headers` may read the metrics: a loopback caller whose request no
    /// proxy forwarded (a proxy on this machine that is not listed in
    /// `trusted_proxies` makes every request look local), or anyone with
    /// the bearer token.
    #[must_use]
    pub fn allows(&self, client: IpAddr, headers: &HeaderMap) -> bool {
        if let Some(token) = &self.token
            && let Some(presented) = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        {
            return token.matches(presented.trim());
        }
        let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"]
            .iter()
            .any(|h| headers.contains_key(*h));
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            IpAddr::V4(_) => client,
        };
        client.is_loopback() && !forwarded
    }

    /// The text format: every request count, latency histogram and handler
    /// count so far, then `gauges`.
    #[must_use]
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let app = self.app;
        let mut out = String::new();
        out.push_str("# HELP oathvault_http_requests_total HTTP requests answered, by route template, method and status.\n# TYPE oathvault_http_requests_total counter\n");
        for ((route, method, status), n) in &inner.requests {
            let status = status.to_string();
            let labels = label_text(&[
                ("app", app),
                ("route", route),
                ("method", method),
                ("status", &status),
            ]);
            let _ = writeln!(out, "oathvault_http_requests_total{labels} {n}");
        }
        out.push_str("# HELP oathvault_http_request_duration_seconds Time to answer a request, by route template.\n# TYPE oathvault_http_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets.iter()) {
                let le = bound.to_string();
                let labels = label_text(&[("app", app), ("route", route), ("le", &le)]);
                let _ = writeln!(
                    out,
                    "oathvault_http_request_duration_seconds_bucket{labels} {n}"
                );
            }
            let labels = label_text(&[("app", app), ("route", route), ("le", "+Inf")]);
            let _ = writeln!(
                out,
                "oathvault_http_request_duration_seconds_bucket{labels} {}",
                h.count
            );
            let labels = label_text(&[("app", app), ("route", route)]);
            let _ = writeln!(
                out,
                "oathvault_http_request_duration_seconds_sum{labels} {}\noathvault_http_request_duration_seconds_count{labels} {}",
                h.sum, h.count
            );
        }
        for (name, (help, by_labels)) in &inner.events {
            let _ = writeln!(
                out,
                "# HELP oathvault_{name}_total {help}\n# TYPE oathvault_{name}_total counter"
            );
            for (labels, n) in by_labels {
                let mut all = vec![("app", app)];
                all.extend(labels.iter().copied());
                let _ = writeln!(out, "oathvault_{name}_total{} {n}", label_text(&all));
            }
        }
        let mut helped = std::collections::BTreeSet::new();
        for g in gauges {
            if helped.insert(g.name) {
                let _ = writeln!(
                    out,
                    "# HELP oathvault_{0} {1}\n# TYPE oathvault_{0} gauge",
                    g.name, g.help
                );
            }
            let mut all = vec![("app", app)];
            all.extend(g.labels.iter().copied());
            let _ = writeln!(out, "oathvault_{}{} {}", g.name, label_text(&all), g.value);
        }
        out
    }

    /// The answer to `GET /metrics`: 404 to a caller [`Self::allows`]
    /// refuses (the gauges are not read), else the text format with the
    /// gauges `read` gives (a gauge that could not be read is left out and
    /// `oathvault_scrape_errors` says so).
    pub async fn answer<F>(&self, client: IpAddr, headers: &HeaderMap, read: F) -> Response
    where
        F: Future<Output = Result<Vec<Gauge>, String>>,
    {
        if !self.allows(client, headers) {
            return (StatusCode::NOT_FOUND, "not found\n").into_response();
        }
        let (mut gauges, failed) = match read.await {
            Ok(g) => (g, 0.0),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: gauges could not be read");
                (Vec::new(), 1.0)
            }
        };
        gauges.push(Gauge::new(
            "scrape_errors",
            "1 when the app's gauges could not be read for this scrape (see the log).",
            failed,
        ));
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            self.render(&gauges),
        )
            .into_response()
    }
}

/// Counts and times every request of `app` in `metrics` by route template
/// (apply it last, so it sees every layer's answer).
pub fn instrument(app: Router, metrics: Arc<Metrics>) -> Router {
    app.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let metrics = Arc::clone(&metrics);
            async move {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned());
                let method = method_label(req.method());
                let watch = Stopwatch::start();
                let mut res = next.run(req).await;
                let events = res.extensions_mut().remove::<Events>().unwrap_or_default();
                metrics.record(
                    route,
                    method,
                    res.status().as_u16(),
                    watch.elapsed().as_secs_f64(),
                    events,
                );
                res
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_loopback_unforwarded_or_the_token_may_read() {
        let dir = tempfile_dir();
        let file = dir.join("token");
        std::fs::write(&file, "0123456789abcdef0123\n").unwrap();
        let m = Metrics::new("portal", Some(MetricsToken::read(&file).unwrap()));
        let none = HeaderMap::new();
        assert!(m.allows(ip("127.0.0.1"), &none));
        assert!(m.allows(ip("::1"), &none));
        assert!(m.allows(ip("::ffff:127.0.0.1"), &none));
        assert!(!m.allows(ip("203.0.113.9"), &none));
        let mut fwd = HeaderMap::new();
        fwd.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        assert!(!m.allows(ip("127.0.0.1"), &fwd), "forwarded by a proxy");
        let mut good = HeaderMap::new();
        good.insert(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef0123".parse().unwrap(),
        );
        assert!(m.allows(ip("203.0.113.9"), &good));
        let mut bad = HeaderMap::new();
        bad.insert(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef0124".parse().unwrap(),
        );
        assert!(!m.allows(ip("203.0.113.9"), &bad));
        assert!(
            !m.allows(ip("127.0.0.1"), &bad),
            "a wrong token is refused even locally"
        );
        assert!(
            !format!("{m:?}").contains("0123456789"),
            "Debug hides the token"
        );
        std::fs::write(&file, "short\n").unwrap();
        let e = MetricsToken::read(&file).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("token"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ov-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn text_format_escapes_and_sums() {
        let m = Metrics::new("desk", None);
        let e = Events(vec![Event {
            name: "push_results",
            help: "Tokens pushed.",
            labels: vec![("result", "ok")],
            by: 3,
        }]);
        m.record("/a/{id}".into(), "GET", 200, 0.02, e.clone());
        m.record("/a/{id}".into(), "GET", 200, 0.2, e);
        let text = m.render(&[Gauge::new("mail_queue", "Mail waiting.", 4.0)]);
        assert!(text.contains(
            "oathvault_http_requests_total{app=\"desk\",route=\"/a/{id}\",method=\"GET\",status=\"200\"} 2"
        ), "{text}");
        assert!(text.contains("oathvault_http_request_duration_seconds_bucket{app=\"desk\",route=\"/a/{id}\",le=\"0.025\"} 1"), "{text}");
        assert!(text.contains("oathvault_http_request_duration_seconds_bucket{app=\"desk\",route=\"/a/{id}\",le=\"+Inf\"} 2"), "{text}");
        assert!(
            text.contains("oathvault_push_results_total{app=\"desk\",result=\"ok\"} 6"),
            "{text}"
        );
        assert!(
            text.contains(
                "# TYPE oathvault_mail_queue gauge\noathvault_mail_queue{app=\"desk\"} 4"
            ),
            "{text}"
        );
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
