//! The HTTP side: one Graph request with its bearer token, retried as
//! [`RetryPolicy`] says, answered as JSON or as a [`GraphError`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::auth::{Auth, transport};
use crate::retry::{Jitter, RetryPolicy, Verdict};
use crate::{Error, GraphError};

/// `https://graph.microsoft.com/beta`.
pub const GRAPH_URL: &str = "https://graph.microsoft.com/beta";
/// `https://login.microsoftonline.com`.
pub const AUTHORITY: &str = "https://login.microsoftonline.com";

/// A successful answer, its body as it came (parsed by the caller into the
/// type it expects, without an intermediate JSON tree).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body (empty for `204`).
    pub bytes: Bytes,
    /// The `request-id` header.
    pub request_id: Option<String>,
    /// The URL it answers (for errors).
    pub url: String,
}

impl Reply {
    /// The body read as `T`.
    ///
    /// # Errors
    /// `Unexpected`, naming the URL, when the body is not JSON of that shape.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.bytes).map_err(|e| Error::Unexpected {
            url: self.url.clone(),
            detail: format!("HTTP {} with a body that does not parse: {e}", self.status),
        })
    }

    /// The body as a JSON tree (`Null` when empty).
    ///
    /// # Errors
    /// As [`Reply::json`].
    pub fn value(&self) -> Result<Value, Error> {
        if self.bytes.is_empty() {
            return Ok(Value::Null);
        }
        self.json()
    }
}

/// A request body that may hold secrets: one wiped buffer, shared by every
/// attempt and handed to the HTTP stack without a copy; it is wiped when
/// the last attempt lets go of it.
#[derive(Clone)]
pub struct SecretBody(Arc<Zeroizing<Vec<u8>>>);

impl SecretBody {
    fn bytes(&self) -> Bytes {
        Bytes::from_owner(self.clone())
    }
}

impl AsRef<[u8]> for SecretBody {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretBody {
    fn from(body: Zeroizing<Vec<u8>>) -> Self {
        Self(Arc::new(body))
    }
}

impl std::fmt::Debug for SecretBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBody({} bytes, redacted)", self.0.len())
    }
}

/// Requests made, retried and throttled so far.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP requests sent (retries included).
    pub requests: AtomicU64,
    /// Requests answered `429` or `503`.
    pub throttled: AtomicU64,
    /// Retries for any reason.
    pub retries: AtomicU64,
}

/// A Microsoft Graph client (beta endpoint) for one tenant.
#[derive(Debug)]
pub struct Graph {
    http: reqwest::Client,
    base: String,
    origin: String,
    auth: Arc<Auth>,
    retry: RetryPolicy,
    jitter: Jitter,
    /// Counters, for reports.
    pub stats: Stats,
}

/// Installs the process's TLS provider (ring) once; reqwest needs it before
/// its first client is built.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client for Graph and the token endpoint: no redirects, a
/// timeout, this program's user agent.
///
/// # Errors
/// When the TLS stack cannot be set up.
pub fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, Error> {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("oathvault/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot set up HTTPS: {e}")))
}

fn origin_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_len = rest.find('/').unwrap_or(rest.len());
    url.get(..url.len() - rest.len() + host_len)
        .unwrap_or(url)
        .to_owned()
}

impl Graph {
    /// A client for `graph_url` (such as [`GRAPH_URL`]) signing in through
    /// `auth`; `seed` seeds the back-off jitter.
    #[must_use]
    pub fn new(
        http: reqwest::Client,
        graph_url: &str,
        auth: Arc<Auth>,
        retry: RetryPolicy,
        seed: u64,
    ) -> Self {
        let base = graph_url.trim_end_matches('/').to_owned();
        Self {
            http,
            origin: origin_of(&base),
            base,
            auth,
            retry,
            jitter: Jitter::new(seed),
            stats: Stats::default(),
        }
    }

    /// The sign-in behind this client.
    #[must_use]
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The scheme, host and port of Graph's base URL.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `path` under the base URL, or an absolute `@odata.nextLink` — only on
    /// the same origin, so the bearer token never goes elsewhere.
    fn url(&self, path: &str) -> Result<String, Error> {
        if path.starts_with("http://") || path.starts_with("https://") {
            if origin_of(path) == self.origin {
                return Ok(path.to_owned());
            }
            return Err(Error::Unexpected {
                url: self.base.clone(),
                detail: format!(
                    "a link to another site ({}) was not followed",
                    origin_of(path)
                ),
            });
        }
        Ok(format!("{}{path}", self.base))
    }

    /// Sends a request with a JSON body (or none) and retries it as the
    /// policy says.
    ///
    /// # Errors
    /// Graph's error (with code and request id), a sign-in refusal, or a
    /// transport failure after the last attempt.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, Error> {
        let bytes = body.map(|b| SecretBody::from(Zeroizing::new(b.to_string().into_bytes())));
        self.call_bytes(method, path, bytes).await
    }

    /// As [`Graph::call`], with the body already serialized (bodies holding
    /// secrets are built in wiped buffers).
    ///
    /// # Errors
    /// As [`Graph::call`].
    pub async fn call_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<SecretBody>,
    ) -> Result<Reply, Error> {
        let url = self.url(path)?;
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let token = self.auth.access_token().await?;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.as_str())
                .header("client-request-id", uuid::Uuid::new_v4().to_string());
            if let Some(b) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.bytes());
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    if attempt >= self.retry.attempts {
                        return Err(transport(&url, &e));
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.retry.backoff(attempt, &self.jitter)).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let request_id = header("request-id");
            let retry_after = header("retry-after");
            if status == 401 && !reauthenticated {
                reauthenticated = true;
                self.auth.invalidate().await;
                continue;
            }
            if matches!(status, 429 | 503) {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            if let Verdict::Wait(wait) =
                self.retry
                    .verdict(status, retry_after.as_deref(), attempt, &self.jitter)
            {
                tracing::debug!(status, ?wait, attempt, "graph: retrying");
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                continue;
            }
            let bytes = resp.bytes().await.map_err(|e| transport(&url, &e))?;
            if !(200..300).contains(&status) {
                return Err(Error::Graph(GraphError::from_body(
                    status, request_id, &bytes,
                )));
            }
            return Ok(Reply {
                status,
                bytes,
                request_id,
                url,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://graph.microsoft.com/beta"),
            "https://graph.microsoft.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8090/beta/x?y"),
            "http://127.0.0.1:8090"
        );
        assert_eq!(origin_of("http://127.0.0.1:8090"), "http://127.0.0.1:8090");
    }
}
