//! API keys: made on the command line (`oathvault portal api-key add`),
//! shown once, kept only as a SHA-256; each carries scopes and is held to a
//! per-key rate limit. A call names its key with `Authorization: Bearer
//! ovk_<id>_<secret>`: the id finds the row, the hash of the whole key is
//! compared in constant time.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use rand08::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use oathvault_store::{ApiKey, NewApiKey, Store};

use super::problem::Problem;
use crate::Actor;
use crate::web::AppState;

/// What a key may do. A `write` scope includes its `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// List and read customers and contacts.
    CustomersRead,
    /// Add customers and contacts.
    CustomersWrite,
    /// List and read orders and shipments.
    OrdersRead,
    /// Add orders and shipments.
    OrdersWrite,
    /// Import seed files into shipments.
    TokensImport,
    /// Read seed requests' and deliveries' status.
    RequestsRead,
    /// Add, list and remove webhooks and read their delivery log.
    WebhooksManage,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 7] = [
        Self::CustomersRead,
        Self::CustomersWrite,
        Self::OrdersRead,
        Self::OrdersWrite,
        Self::TokensImport,
        Self::RequestsRead,
        Self::WebhooksManage,
    ];

    /// Its name, as keys carry it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomersRead => "customers:read",
            Self::CustomersWrite => "customers:write",
            Self::OrdersRead => "orders:read",
            Self::OrdersWrite => "orders:write",
            Self::TokensImport => "tokens:import",
            Self::RequestsRead => "requests:read",
            Self::WebhooksManage => "webhooks:manage",
        }
    }

    /// The scope named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }

    /// The scope that also grants this one.
    fn implied_by(self) -> Option<Self> {
        match self {
            Self::CustomersRead => Some(Self::CustomersWrite),
            Self::OrdersRead => Some(Self::OrdersWrite),
            _ => None,
        }
    }
}

/// Reads a comma- or space-separated scope list, naming every unknown one.
///
/// # Errors
/// When a name is not a scope or the list is empty.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    let mut unknown = Vec::new();
    for name in list.split([',', ' ']).filter(|s| !s.trim().is_empty()) {
        match Scope::parse(name) {
            Some(s) if !scopes.contains(&s) => scopes.push(s),
            Some(_) => {}
            None => unknown.push(name.trim().to_owned()),
        }
    }
    if !unknown.is_empty() {
        let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        return Err(format!(
            "unknown scope(s) {}; the scopes are {}",
            unknown.join(", "),
            known.join(", ")
        ));
    }
    if scopes.is_empty() {
        return Err("give at least one scope".into());
    }
    Ok(scopes)
}

const KEY_PREFIX: &str = "ovk_";

/// A freshly made key: the whole key (shown once) and its row.
pub struct MadeKey {
    /// The key to hand to the order system (`ovk_<id>_<secret>`).
    pub key: Zeroizing<String>,
    /// Its public first part (`ovk_<id>`).
    pub prefix: String,
    /// Its row id.
    pub id: i64,
}

impl std::fmt::Debug for MadeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MadeKey")
            .field("prefix", &self.prefix)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn hash_key(key: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(key.as_bytes()))
}

/// Makes and keeps a key named `name` with `scopes`, audited as `key.add`.
///
/// # Errors
/// A taken name, an empty name, or a store failure.
pub async fn add_key(
    store: &Store,
    rng: &mut (impl RngCore + CryptoRng),
    who: &Actor,
    name: &str,
    scopes: &[Scope],
) -> Result<MadeKey, crate::Error> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(crate::Error::Invalid(
            "give the key a name of 1 to 100 characters (e.g. the system that uses it)".into(),
        ));
    }
    let mut id = [0u8; 5];
    rng.fill_bytes(&mut id);
    let mut secret = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut *secret);
    let prefix = format!(
        "{KEY_PREFIX}{}",
        data_encoding::BASE32_NOPAD.encode(&id).to_ascii_lowercase()
    );
    let key = Zeroizing::new(format!(
        "{prefix}_{}",
        data_encoding::BASE64URL_NOPAD.encode(&*secret)
    ));
    let scope_words: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let scope_list = scope_words.join(" ");
    let event = who
        .event("api-key.add", &format!("api-key:{name}"))
        .with_detail(format!("{prefix}; scopes {scope_list}"));
    let row = store
        .add_api_key(
            NewApiKey {
                name,
                prefix: &prefix,
                key_hash: &hash_key(&key),
                scopes: &scope_list,
            },
            &event,
        )
        .await?;
    Ok(MadeKey {
        key,
        prefix,
        id: row,
    })
}

/// Revokes the key named `name`, audited as `api-key.revoke`.
///
/// # Errors
/// No such active key, or a store failure.
pub async fn revoke_key(store: &Store, who: &Actor, name: &str) -> Result<(), crate::Error> {
    let event = who.event("api-key.revoke", &format!("api-key:{name}"));
    Ok(store.revoke_api_key(name, &event).await?)
}

/// A call made with a valid key: the key, where the call came from, now.
#[derive(Debug)]
pub struct Caller {
    /// The key's row.
    pub key: ApiKey,
    /// The client's address.
    pub source: String,
    /// Now (Unix seconds).
    pub now: i64,
}

impl Caller {
    /// `Ok` when the key carries `scope` (or the scope that includes it).
    ///
    /// # Errors
    /// A 403 problem naming the scope.
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        let has = |s: Scope| self.key.scopes.split(' ').any(|w| w == s.as_str());
        if has(scope) || scope.implied_by().is_some_and(has) {
            Ok(())
        } else {
            Err(Problem::scope(scope.as_str()))
        }
    }

    /// The actor the audit names: `api:<key name>`.
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor {
            name: format!("api:{}", self.key.name),
            source: self.source.clone(),
            now: self.now,
        }
    }
}

/// Where the key check leaves who called, for [`audit_calls`] to record
/// the call once it is answered.
#[derive(Clone, Default)]
pub(crate) struct CallSlot(Arc<std::sync::Mutex<Option<CallBy>>>);

struct CallBy {
    state: Arc<AppState>,
    key: String,
    source: String,
    now: i64,
}

impl CallSlot {
    fn fill(&self, state: Arc<AppState>, key: &str, source: &str, now: i64) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(CallBy {
                state,
                key: key.to_owned(),
                source: source.to_owned(),
                now,
            });
        }
    }

    fn take(&self) -> Option<CallBy> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

/// Every call made with a valid key goes into the audit log as `api.call`
/// (the key's name, the route, the path and the status), besides the events
/// of the changes it made; calls without a valid key are logged, not
/// audited (they would let anyone fill the audit log).
pub(crate) async fn audit_calls(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let slot = CallSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |m| m.as_str().to_owned());
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    if let Some(by) = slot.take() {
        let status = response.status();
        let outcome = if status.is_server_error() {
            "failed"
        } else if status.is_client_error() {
            "refused"
        } else {
            "ok"
        };
        let event = oathvault_store::Event::ok(
            by.now,
            &format!("api:{}", by.key),
            &by.source,
            "api.call",
            &format!("{method} {route}"),
        )
        .with_outcome(outcome)
        .with_detail(format!("{} {path}", status.as_u16()));
        if let Err(e) = by.state.store.audit(&event).await {
            tracing::error!(error = %e, "an API call was not audited");
        }
    }
    response
}

/// The key in an `Authorization: Bearer …` header, split into its public
/// part and the whole; `None` when it is not shaped like one of ours.
fn bearer(parts: &Parts) -> Option<(String, Zeroizing<String>)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let key = Zeroizing::new(key.trim().to_owned());
    let prefix = key.strip_prefix(KEY_PREFIX)?.split_once('_')?.0;
    Some((format!("{KEY_PREFIX}{prefix}"), key))
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let now = st.now();
        let source = oathvault_web::source_of(parts);
        let Some((prefix, key)) = bearer(parts) else {
            return Err(Problem::unauthorized(
                "send the API key as `Authorization: Bearer ovk_…`",
            ));
        };
        let row = st
            .store
            .api_key_by_prefix(&prefix)
            .await
            .map_err(|e| Problem::internal("API key lookup failed", &e))?;
        // The same answer for an unknown key, a wrong secret and a revoked
        // key: a caller learns nothing about which keys exist.
        let refused = || Problem::unauthorized("the API key is not valid (unknown or revoked)");
        let Some(row) = row else {
            return Err(refused());
        };
        let right: bool = hash_key(&key)
            .as_bytes()
            .ct_eq(row.key_hash.as_bytes())
            .into();
        if !right || row.revoked.is_some() {
            tracing::warn!(key = %prefix, %source, "API call with an invalid key");
            return Err(refused());
        }
        let limit = i64::from(st.settings.api.rate_per_minute);
        match st
            .store
            .rate_hit(&format!("api:{}", row.id), now, 60, limit)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                let mut p = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many calls",
                    format!("this key may make {limit} calls a minute; wait for the next minute"),
                );
                p.retry_after = Some(60 - now.rem_euclid(60));
                return Err(p);
            }
            Err(e) => return Err(Problem::internal("rate limit failed", &e)),
        }
        if let Err(e) = st.store.api_key_used(row.id, now).await {
            tracing::warn!(error = %e, "could not note the key's use");
        }
        if let Some(slot) = parts.extensions.get::<CallSlot>() {
            slot.fill(Arc::clone(st), &row.name, &source, now);
        }
        Ok(Self {
            key: row,
            source,
            now,
        })
    }
}
