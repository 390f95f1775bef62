//! A Microsoft Graph client for hardware OATH tokens in Microsoft Entra ID:
//! sign-in (client secret, certificate, device code), the inventory and
//! user-method endpoints with paging and retries, and a bulk push that
//! validates first, creates in `#$delta` chunks, falls back to single
//! requests, and reconciles by serial so that a rerun never duplicates.
//!
//! Everything is `/beta`, as Microsoft ships it. Secrets go out only in
//! request bodies built in wiped buffers; nothing secret is logged.

pub mod auth;
pub mod certificate;
pub mod client;
mod error;
pub mod model;
pub mod ops;
pub mod preflight;
pub mod push;
pub mod reconcile;
pub mod retry;

pub use auth::{Auth, Credential, Endpoints};
pub use client::{AUTHORITY, GRAPH_URL, Graph, Reply};
pub use error::{Error, GraphError};
pub use model::{Device, Identity, TokenClock, TokenLock, User};
pub use retry::RetryPolicy;

/// `v[key]`, or `null` (no indexing that could panic).
pub(crate) fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    v.get(key).unwrap_or(&serde_json::Value::Null)
}
