//! The vendor API's records: API keys (only their SHA-256 is kept), webhooks
//! (their signing secrets are store secrets, sealed under the master
//! keyring) and the log of webhook deliveries.
//!
//! Webhook deliveries are made from the audit log, which every change
//! writes in its own transaction: a webhook keeps the sequence number of
//! the last event it was given (`audit_cursor`), so an event is offered to
//! a webhook exactly once, even with several portal processes, and nothing
//! the workflow does has to know about webhooks.

use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::custody::bind;
use crate::inventory::exists;
use crate::{Error, Event, EventRow, Store};

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    /// Row id.
    pub id: i64,
    /// The name given (e.g. `ERP`).
    pub name: String,
    /// The key's public first part (`ovk_…`), to tell keys apart.
    pub prefix: String,
    /// SHA-256 of the whole key, hex.
    #[serde(skip)]
    pub key_hash: String,
    /// Scopes, space-separated.
    pub scopes: String,
    /// When made.
    pub created: i64,
    /// Who made it.
    pub created_by: String,
    /// Last call made with it.
    pub last_used: Option<i64>,
    /// When revoked.
    pub revoked: Option<i64>,
}

/// A new API key to keep.
#[derive(Debug, Clone, Copy)]
pub struct NewApiKey<'a> {
    /// The name.
    pub name: &'a str,
    /// The public first part.
    pub prefix: &'a str,
    /// SHA-256 of the whole key, hex.
    pub key_hash: &'a str,
    /// Scopes, space-separated.
    pub scopes: &'a str,
}

/// A webhook as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Webhook {
    /// Row id.
    pub id: i64,
    /// Where events are posted.
    pub url: String,
    /// Event types, space-separated.
    pub events: String,
    /// When made.
    pub created: i64,
    /// Who made it.
    pub created_by: String,
    /// The last audit event offered to it.
    #[serde(skip)]
    pub audit_cursor: i64,
}

/// One delivery of one event to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WebhookDelivery {
    /// Row id.
    pub id: i64,
    /// The webhook.
    pub webhook_id: i64,
    /// The audit event it tells about.
    pub audit_seq: i64,
    /// Event type (`request.submitted`, …).
    pub event: String,
    /// The JSON body posted.
    pub body: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub state: String,
    /// Tries so far.
    pub attempts: i64,
    /// Next try (Unix seconds).
    pub next_attempt: i64,
    /// HTTP status of the last try.
    pub last_status: Option<i64>,
    /// Why the last try failed.
    pub last_error: Option<String>,
    /// When made.
    pub created: i64,
    /// When delivered.
    pub delivered: Option<i64>,
}

fn webhook_secret_name(id: i64) -> String {
    format!("webhook:{id}")
}

impl Store {
    /// Keeps a new API key, with the audit event.
    pub async fn add_api_key(&self, key: NewApiKey<'_>, audit: &Event) -> Result<i64, Error> {
        let mut tx = self.begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_key (name, prefix, key_hash, scopes, created, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(key.name)
        .bind(key.prefix)
        .bind(key.key_hash)
        .bind(key.scopes)
        .bind(audit.at)
        .bind(&audit.actor)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| exists(e, "API key", key.name))?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every API key, revoked ones too, by name.
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, name, prefix, key_hash, scopes, created, created_by, last_used, revoked \
             FROM api_key ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The key whose public part is `prefix` (revoked or not).
    pub async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKey>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, name, prefix, key_hash, scopes, created, created_by, last_used, revoked \
             FROM api_key WHERE prefix = $1",
        )
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Notes a call made with a key (at most once a minute, to spare writes).
    pub async fn api_key_used(&self, id: i64, now: i64) -> Result<(), Error> {
        sqlx::query(
            "UPDATE api_key SET last_used = $1 WHERE id = $2 \
             AND (last_used IS NULL OR last_used < $3)",
        )
        .bind(now)
        .bind(id)
        .bind(now - 60)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revokes the key named `name`, with the audit event; `NotFound` when
    /// there is no such key or it is revoked already.
    pub async fn revoke_api_key(&self, name: &str, audit: &Event) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE api_key SET revoked = $1 WHERE name = $2 AND revoked IS NULL")
                .bind(audit.at)
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if done == 0 {
            return Err(Error::NotFound {
                what: "active API key",
                name: name.to_owned(),
            });
        }
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a webhook whose signing secret is `secret` (sealed under `keys`),
    /// given only events after the newest one in the audit log now.
    pub async fn add_webhook(
        &self,
        keys: &Keyring,
        rng: &mut (impl RngCore + CryptoRng),
        url: &str,
        events: &str,
        secret: &[u8],
        audit: &Event,
    ) -> Result<i64, Error> {
        let mut tx = self.begin().await?;
        let (head,): (i64,) = sqlx::query_as("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO webhook (url, events, created, created_by, audit_cursor) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(url)
        .bind(events)
        .bind(audit.at)
        .bind(&audit.actor)
        .bind(head)
        .fetch_one(&mut *tx)
        .await?;
        let name = webhook_secret_name(id);
        let sealed = keys.seal(rng, &bind::store_secret(&name), secret);
        sqlx::query("INSERT INTO vault_secret (name, sealed) VALUES ($1, $2)")
            .bind(&name)
            .bind(sealed.as_slice())
            .execute(&mut *tx)
            .await?;
        let audit = audit.clone().with_detail(format!(
            "webhook {id} to {url} for {events}{}",
            if audit.detail.is_empty() {
                String::new()
            } else {
                format!("; {}", audit.detail)
            }
        ));
        self.chain.append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every webhook, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, url, events, created, created_by, audit_cursor FROM webhook ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// A webhook's signing secret, opened with `keys`.
    pub async fn webhook_secret(
        &self,
        keys: &Keyring,
        id: i64,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.store_secret(keys, &webhook_secret_name(id))
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "webhook secret",
                name: id.to_string(),
            })
    }

    /// Removes a webhook, its secret and its delivery log, with the audit event.
    pub async fn remove_webhook(&self, id: i64, audit: &Event) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM webhook_delivery WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM webhook WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(Error::NotFound {
                what: "webhook",
                name: id.to_string(),
            });
        }
        sqlx::query("DELETE FROM vault_secret WHERE name = $1")
            .bind(webhook_secret_name(id))
            .execute(&mut *tx)
            .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Successful audit events after `after` whose action is one of
    /// `actions`, oldest first, at most `limit`; and the newest event
    /// sequence number looked at (to move a cursor past events of other
    /// actions too).
    pub async fn audit_after(
        &self,
        after: i64,
        actions: &[&str],
        limit: i64,
    ) -> Result<(Vec<EventRow>, i64), Error> {
        let (head,): (i64,) = sqlx::query_as("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let list = actions
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT seq, at, actor, action, subject, source, outcome, detail, hash FROM audit \
             WHERE seq > $1 AND seq <= $2 AND outcome = 'ok' AND action IN ({list}) \
             ORDER BY seq LIMIT $3"
        )))
        .bind(after)
        .bind(head)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        // A full page: the next call goes on from its last row.
        let seen = if i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit {
            rows.last().map_or(head, |r| r.seq)
        } else {
            head
        };
        Ok((rows, seen))
    }

    /// Queues `deliveries` (`(audit seq, event type, body)`) for a webhook
    /// and moves its cursor from `from` to `to`, only if no other process
    /// moved it meanwhile (then nothing is queued and `false` returned).
    pub async fn queue_webhook_deliveries(
        &self,
        webhook: i64,
        from: i64,
        to: i64,
        deliveries: &[(i64, String, String)],
        now: i64,
    ) -> Result<bool, Error> {
        let mut tx = self.begin().await?;
        let moved =
            sqlx::query("UPDATE webhook SET audit_cursor = $1 WHERE id = $2 AND audit_cursor = $3")
                .bind(to)
                .bind(webhook)
                .bind(from)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if moved == 0 {
            return Ok(false);
        }
        for (seq, event, body) in deliveries {
            sqlx::query(
                "INSERT INTO webhook_delivery (webhook_id, audit_seq, event, body, state, attempts, \
                 next_attempt, created) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
            )
            .bind(webhook)
            .bind(*seq)
            .bind(event)
            .bind(body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Claims up to `limit` deliveries due now for `lease` seconds, each
    /// for one caller only (as the mail outbox does).
    pub async fn claim_webhook_deliveries(
        &self,
        now: i64,
        limit: i64,
        lease: i64,
    ) -> Result<Vec<WebhookDelivery>, Error> {
        let due: Vec<WebhookDelivery> = sqlx::query_as(
            "SELECT id, webhook_id, audit_seq, event, body, state, attempts, next_attempt, \
             last_status, last_error, created, delivered FROM webhook_delivery \
             WHERE state = 'pending' AND next_attempt <= $1 ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for d in due {
            let done = sqlx::query(
                "UPDATE webhook_delivery SET next_attempt = $1 \
                 WHERE id = $2 AND state = 'pending' AND next_attempt <= $3",
            )
            .bind(now + lease)
            .bind(d.id)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if done == 1 {
                claimed.push(d);
            }
        }
        Ok(claimed)
    }

    /// Records one try of a delivery: the receiver's status (if it
    /// answered), why it failed (if it did), and what comes next.
    pub async fn webhook_tried(
        &self,
        id: i64,
        now: i64,
        status: Option<u16>,
        error: Option<&str>,
        outcome: TryOutcome,
    ) -> Result<(), Error> {
        let (state, next, delivered) = match outcome {
            TryOutcome::Delivered => ("delivered", now, Some(now)),
            TryOutcome::Retry(at) => ("pending", at, None),
            TryOutcome::GiveUp => ("failed", now, None),
        };
        sqlx::query(
            "UPDATE webhook_delivery SET attempts = attempts + 1, state = $1, next_attempt = $2, \
             last_status = $3, last_error = $4, delivered = $5 WHERE id = $6",
        )
        .bind(state)
        .bind(next)
        .bind(status.map(i64::from))
        .bind(error)
        .bind(delivered)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A webhook's deliveries, newest first, at most `limit`.
    pub async fn webhook_deliveries(
        &self,
        webhook: i64,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, webhook_id, audit_seq, event, body, state, attempts, next_attempt, \
             last_status, last_error, created, delivered FROM webhook_delivery \
             WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(webhook)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// What became of one try of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Failed; try again at this time.
    Retry(i64),
    /// Failed too often; no more tries.
    GiveUp,
}
