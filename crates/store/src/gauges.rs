//! What the `/metrics` page reads at scrape time: the mail queue, files
//! waiting for their customer, locked accounts. Counts and ages only.

use sqlx::Row as _;

use crate::{Error, Store};

/// The state of the queues an operator watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Mail in the outbox (not yet accepted by the SMTP server).
    pub mail_queued: i64,
    /// Of those, mail that failed at least once.
    pub mail_failing: i64,
    /// Age in seconds of the oldest mail in the outbox (0: none).
    pub mail_oldest_age: i64,
    /// Delivery files approved (a link was sent) but not downloaded yet.
    pub files_awaiting_download: i64,
    /// Staff accounts locked now by wrong passwords or codes.
    pub staff_locked: i64,
}

impl Store {
    /// The gauges at `now`.
    pub async fn gauges(&self, now: i64) -> Result<Gauges, Error> {
        let mail = sqlx::query(
            "SELECT COUNT(*) AS n, \
                    COUNT(CASE WHEN attempts > 0 THEN 1 END) AS failing, \
                    COALESCE(MIN(created), 0) AS oldest \
             FROM mail_outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        let mail_queued: i64 = mail.try_get("n")?;
        let oldest: i64 = mail.try_get("oldest")?;
        let files: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM delivery_file \
             WHERE state = 'ready' AND download_hash IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let locked: i64 = sqlx::query("SELECT COUNT(*) AS n FROM staff WHERE locked_until > $1")
            .bind(now)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(Gauges {
            mail_queued,
            mail_failing: mail.try_get("failing")?,
            mail_oldest_age: if mail_queued > 0 {
                (now - oldest).max(0)
            } else {
                0
            },
            files_awaiting_download: files,
            staff_locked: locked,
        })
    }
}
