//! The audit log: append-only events, each carrying an HMAC-SHA-256 of its
//! content and of the event before it, so a changed, removed or reordered
//! event breaks the chain (`oathvault portal audit verify`). The HMAC key is
//! random, kept sealed under the master keyring in the store's secrets: who
//! can write the database but has no master key cannot recompute the chain
//! after rewriting an event. A store whose chain predates keys (plain
//! SHA-256 links) has it checked and re-linked with the key once, when the
//! key is made.
//!
//! Events are appended inside the transaction of the change they record;
//! the one-row `audit_head` is updated first, which serialises writers on
//! both backends (a row lock on PostgreSQL, the write lock on SQLite).

use std::fmt::Write as _;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use sqlx::{Any, AssertSqlSafe, Transaction};

use crate::{Error, Store};

/// What happened (the caller fills it; `at` is Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Event {
    /// When.
    pub at: i64,
    /// Who: a staff e-mail, `cli:<user>`, or `anonymous`.
    pub actor: String,
    /// What, e.g. `customer.add`, `import`, `signin`.
    pub action: String,
    /// On what, e.g. `customer:Example Ltd`.
    pub subject: String,
    /// From where: an IP address or `cli`.
    pub source: String,
    /// `ok`, `refused`, `failed`.
    pub outcome: String,
    /// Details (counts, reasons; never secrets).
    pub detail: String,
}

impl Event {
    /// A successful action by `actor` from `source` at `at`.
    #[must_use]
    pub fn ok(at: i64, actor: &str, source: &str, action: &str, subject: &str) -> Self {
        Self {
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            source: source.to_owned(),
            outcome: "ok".to_owned(),
            detail: String::new(),
        }
    }

    /// The same event with details.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// The same event with another outcome.
    #[must_use]
    pub fn with_outcome(mut self, outcome: &str) -> Self {
        outcome.clone_into(&mut self.outcome);
        self
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct EventRow {
    /// Position in the chain (1, 2, …).
    pub seq: i64,
    /// The event.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub event: Event,
    /// This event's hash.
    pub hash: String,
}

/// Conditions for [`Store::audit_search`]; empty ones match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this actor.
    pub actor: Option<String>,
    /// Exactly this action.
    pub action: Option<String>,
    /// Exactly this outcome (`ok`, `refused`, `failed`).
    pub outcome: Option<String>,
    /// Contained in the actor, action, subject, detail or source.
    pub text: Option<String>,
    /// At or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Before this time (Unix seconds).
    pub until: Option<i64>,
    /// Older than this event (paging).
    pub before: Option<i64>,
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheck {
    /// Events checked.
    pub events: i64,
    /// The head's hash.
    pub head: String,
}

/// The canonical bytes of a link: a JSON array (unambiguous field
/// boundaries, stable across versions).
fn canonical(seq: i64, e: &Event, prev: &str) -> String {
    serde_json::json!([
        seq, e.at, e.actor, e.action, e.subject, e.source, e.outcome, e.detail, prev
    ])
    .to_string()
}

/// A link as chains were before keys: plain SHA-256 (checked once, when a
/// store's chain is re-linked with its key).
fn plain_link(seq: i64, e: &Event, prev: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(canonical(seq, e, prev).as_bytes()))
}

/// The name of the chain's key among the store's secrets.
const CHAIN_KEY: &str = "audit-chain";

/// The audit chain's HMAC key.
#[derive(Clone)]
pub(crate) struct Chain {
    key: Arc<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Chain([redacted])")
    }
}

impl Chain {
    /// A chain with an all-zero key, only while the store opens its real
    /// one (nothing is appended in between).
    pub(crate) fn unkeyed() -> Self {
        Self {
            key: Arc::new(Zeroizing::new([0u8; 32])),
        }
    }

    fn random(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *key);
        Self { key: Arc::new(key) }
    }

    fn from_secret(secret: &[u8]) -> Option<Self> {
        let key: [u8; 32] = secret.try_into().ok()?;
        Some(Self {
            key: Arc::new(Zeroizing::new(key)),
        })
    }

    /// The link of event `seq` after `prev`: HMAC-SHA-256, hex.
    fn link(&self, seq: i64, e: &Event, prev: &str) -> String {
        let Ok(mut mac) =
            <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(self.key.as_slice())
        else {
            return String::new();
        };
        mac.update(canonical(seq, e, prev).as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }

    /// Appends `e` inside `tx`.
    pub(crate) async fn append(
        &self,
        tx: &mut Transaction<'_, Any>,
        e: &Event,
    ) -> Result<(), Error> {
        sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1")
            .execute(&mut **tx)
            .await?;
        let (seq, prev): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut **tx)
                .await?;
        let hash = self.link(seq, e, &prev);
        sqlx::query(
            "INSERT INTO audit (seq, at, actor, action, subject, source, outcome, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(seq)
        .bind(e.at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.subject)
        .bind(&e.source)
        .bind(&e.outcome)
        .bind(&e.detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Where [`check_links`] found the first break.
struct Break {
    seq: i64,
    why: String,
}

/// Checks rows in order against `link`: every link, no gap. Returns the
/// number of events and the last hash.
fn check_links(
    rows: &[Linked],
    link: impl Fn(i64, &Event, &str) -> String,
) -> Result<(i64, String), Break> {
    let mut prev = "0".repeat(64);
    let mut expect = 1i64;
    for Linked {
        row,
        prev_hash: stored_prev,
    } in rows
    {
        if row.seq != expect {
            return Err(Break {
                seq: expect,
                why: format!("event {expect} is missing (found {} next)", row.seq),
            });
        }
        if *stored_prev != prev {
            return Err(Break {
                seq: row.seq,
                why: "it does not link to the event before it".into(),
            });
        }
        if link(row.seq, &row.event, &prev) != row.hash {
            return Err(Break {
                seq: row.seq,
                why: "its content does not match its keyed hash (changed after it was written)"
                    .into(),
            });
        }
        prev.clone_from(&row.hash);
        expect += 1;
    }
    Ok((expect - 1, prev))
}

/// A stored event with the hash it links to.
#[derive(sqlx::FromRow)]
struct Linked {
    #[sqlx(flatten)]
    row: EventRow,
    prev_hash: String,
}

/// The audit columns, as a literal for `concat!` (queries stay static strings).
macro_rules! columns {
    () => {
        "seq, at, actor, action, subject, source, outcome, detail, prev_hash, hash"
    };
}

impl Store {
    /// Records an event on its own (a refused sign-in, a failed import).
    pub async fn audit(&self, e: &Event) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        self.chain.append(&mut tx, e).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Who made the latest successful change recorded for any of
    /// `subjects` (e.g. `customer:Example Ltd`), if anyone.
    pub async fn last_changed_by(&self, subjects: &[&str]) -> Result<Option<String>, Error> {
        let mut latest: Option<(i64, String)> = None;
        for subject in subjects {
            let row: Option<(i64, String)> = sqlx::query_as(
                "SELECT seq, actor FROM audit WHERE subject = $1 AND outcome = 'ok' \
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(*subject)
            .fetch_optional(&self.pool)
            .await?;
            if let Some((seq, actor)) = row
                && latest.as_ref().is_none_or(|(s, _)| seq > *s)
            {
                latest = Some((seq, actor));
            }
        }
        Ok(latest.map(|(_, actor)| actor))
    }

    /// The newest events first, optionally only those whose actor, action
    /// or subject contains `filter`.
    pub async fn audit_events(
        &self,
        filter: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EventRow>, Error> {
        let f = AuditFilter {
            text: filter.map(str::to_owned),
            ..AuditFilter::default()
        };
        self.audit_search(&f, limit).await
    }

    /// The newest events first that match every condition of `f`, at most `limit`.
    pub async fn audit_search(&self, f: &AuditFilter, limit: i64) -> Result<Vec<EventRow>, Error> {
        let mut sql = String::from(concat!("SELECT ", columns!(), " FROM audit WHERE 1 = 1"));
        let mut text: Vec<String> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        let mut binds: Vec<bool> = Vec::new(); // true: text, false: integer, in order
        let cond = |sql: &mut String, binds: &mut Vec<bool>, clause: &str, is_text: bool| {
            let n = binds.len() + 1;
            sql.push_str(" AND ");
            sql.push_str(&clause.replace('?', &format!("${n}")));
            binds.push(is_text);
        };
        for (value, clause) in [
            (&f.actor, "actor = ?"),
            (&f.action, "action = ?"),
            (&f.outcome, "outcome = ?"),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                cond(&mut sql, &mut binds, clause, true);
                text.push(v.to_owned());
            }
        }
        if let Some(t) = f.text.as_deref().filter(|t| !t.is_empty()) {
            // One placeholder used three times: write it out three times
            // with the same number.
            let n = binds.len() + 1;
            let _ = write!(
                sql,
                " AND (actor LIKE ${n} OR action LIKE ${n} OR subject LIKE ${n} OR detail LIKE ${n} OR source LIKE ${n})"
            );
            binds.push(true);
            text.push(format!("%{}%", t.replace(['%', '_'], "")));
        }
        for (value, clause) in [
            (f.since, "at >= ?"),
            (f.until, "at < ?"),
            (f.before, "seq < ?"),
        ] {
            if let Some(v) = value {
                cond(&mut sql, &mut binds, clause, false);
                ints.push(v);
            }
        }
        let _ = write!(sql, " ORDER BY seq DESC LIMIT ${}", binds.len() + 1);
        let mut q = sqlx::query_as(AssertSqlSafe(sql));
        let (mut t, mut i) = (text.into_iter(), ints.into_iter());
        for is_text in binds {
            q = if is_text {
                q.bind(t.next().unwrap_or_default())
            } else {
                q.bind(i.next().unwrap_or_default())
            };
        }
        Ok(q.bind(limit).fetch_all(&self.pool).await?)
    }

    /// The distinct actions and actors in the log (for filter menus).
    pub async fn audit_facets(&self) -> Result<(Vec<String>, Vec<String>), Error> {
        let mut out: Vec<Vec<String>> = Vec::with_capacity(2);
        for sql in [
            "SELECT DISTINCT action AS v FROM audit ORDER BY v",
            "SELECT DISTINCT actor AS v FROM audit ORDER BY v",
        ] {
            out.push(sqlx::query_scalar(sql).fetch_all(&self.pool).await?);
        }
        let actors = out.pop().unwrap_or_default();
        let actions = out.pop().unwrap_or_default();
        Ok((actions, actors))
    }

    /// Checks the whole chain: every keyed hash, every link, no gap, and
    /// the head. The head is read first, so events appended meanwhile by a
    /// running portal are left for the next check.
    pub async fn audit_verify(&self) -> Result<AuditCheck, Error> {
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        let rows: Vec<Linked> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM audit WHERE seq <= $1 ORDER BY seq"
        ))
        .bind(head_seq)
        .fetch_all(&self.pool)
        .await?;
        let (events, head) = check_links(&rows, |seq, e, prev| self.chain.link(seq, e, prev))
            .map_err(|b| Error::AuditBroken {
                seq: b.seq,
                why: b.why,
            })?;
        if head_seq != events || head_hash != head {
            return Err(Error::AuditBroken {
                seq: head_seq,
                why: "the newest events were removed (the head does not match the last event)"
                    .into(),
            });
        }
        Ok(AuditCheck { events, head })
    }

    /// The hash of event `seq` (for checking a checkpoint), if it exists.
    pub async fn audit_hash_at(&self, seq: i64) -> Result<Option<String>, Error> {
        let row: Option<(String,)> = sqlx::query_as("SELECT hash FROM audit WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(h,)| h))
    }

    /// Opens the chain's key with `keys`; on the first open, makes one and
    /// re-links the events written before keys (after checking their plain
    /// links), all in one transaction.
    pub(crate) async fn key_chain(
        &self,
        keys: &Keyring,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Chain, Error> {
        let opened = |secret: Zeroizing<Vec<u8>>| {
            Chain::from_secret(&secret)
                .ok_or_else(|| Error::Refused("the audit chain's key is damaged".into()))
        };
        if let Some(secret) = self.store_secret(keys, CHAIN_KEY).await? {
            return opened(secret);
        }
        let mut tx = self.begin().await?;
        // Serialises with every writer of the chain (and another process
        // making the key at the same time).
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let existing: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT sealed FROM vault_secret WHERE name = $1")
                .bind(CHAIN_KEY)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((sealed,)) = existing {
            tx.commit().await?;
            let secret = keys
                .open(&crate::custody::bind::store_secret(CHAIN_KEY), &sealed)
                .map_err(|e| Error::Refused(format!("the audit chain's key does not open: {e}")))?;
            return opened(secret);
        }
        let rows: Vec<Linked> =
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM audit ORDER BY seq"))
                .fetch_all(&mut *tx)
                .await?;
        check_links(&rows, plain_link).map_err(|b| Error::AuditBroken {
            seq: b.seq,
            why: format!(
                "{} (found while moving the log to a keyed chain; nothing was changed)",
                b.why
            ),
        })?;
        let chain = Chain::random(rng);
        let mut prev = "0".repeat(64);
        for Linked { row, .. } in &rows {
            let hash = chain.link(row.seq, &row.event, &prev);
            sqlx::query("UPDATE audit SET prev_hash = $1, hash = $2 WHERE seq = $3")
                .bind(&prev)
                .bind(&hash)
                .bind(row.seq)
                .execute(&mut *tx)
                .await?;
            prev = hash;
        }
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&prev)
            .execute(&mut *tx)
            .await?;
        let sealed = keys.seal(
            rng,
            &crate::custody::bind::store_secret(CHAIN_KEY),
            chain.key.as_slice(),
        );
        sqlx::query("INSERT INTO vault_secret (name, sealed) VALUES ($1, $2)")
            .bind(CHAIN_KEY)
            .bind(sealed)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(chain)
    }
}
