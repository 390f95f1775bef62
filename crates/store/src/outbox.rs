//! The mail outbox: messages (sealed by the caller) queued inside the
//! transaction of the change they tell about, claimed by one sender,
//! retried when sending fails.

use sqlx::{Any, Transaction};

use crate::{Error, Store};

/// A mail waiting to be sent (sealed by the caller).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxMail {
    /// Row id.
    pub id: i64,
    /// The sealed message.
    pub sealed: Vec<u8>,
    /// Tries so far.
    pub attempts: i64,
}

impl Store {
    /// Mail due now, oldest first.
    pub async fn outbox_due(&self, now: i64, limit: i64) -> Result<Vec<OutboxMail>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, sealed, attempts FROM mail_outbox WHERE next_attempt <= $1 ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims up to `limit` mails due now for `lease` seconds: each is
    /// handed to one caller only, so several portal processes sharing a
    /// database never send the same message twice (a claimed mail whose
    /// sender dies is due again when the lease runs out).
    pub async fn outbox_claim(
        &self,
        now: i64,
        limit: i64,
        lease: i64,
    ) -> Result<Vec<OutboxMail>, Error> {
        let mut claimed = Vec::new();
        for m in self.outbox_due(now, limit).await? {
            let done = sqlx::query(
                "UPDATE mail_outbox SET next_attempt = $1 WHERE id = $2 AND next_attempt <= $3",
            )
            .bind(now + lease)
            .bind(m.id)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if done == 1 {
                claimed.push(m);
            }
        }
        Ok(claimed)
    }

    /// A mail was sent: gone from the outbox.
    pub async fn outbox_sent(&self, id: i64) -> Result<(), Error> {
        sqlx::query("DELETE FROM mail_outbox WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A mail could not be sent: try again at `next_attempt`.
    pub async fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1, next_attempt = $2 \
             WHERE id = $3",
        )
        .bind(error)
        .bind(next_attempt)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Queues mail outside any other change (a lock notice, say).
    pub async fn queue_mail(&self, mail: &[Vec<u8>], now: i64) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        queue_mail(&mut tx, mail, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Queues mail inside `tx` (the transaction of the change it tells about).
pub(crate) async fn queue_mail(
    tx: &mut Transaction<'_, Any>,
    mail: &[Vec<u8>],
    now: i64,
) -> Result<(), Error> {
    for m in mail {
        sqlx::query("INSERT INTO mail_outbox (sealed, next_attempt, created) VALUES ($1, $2, $2)")
            .bind(m.as_slice())
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
