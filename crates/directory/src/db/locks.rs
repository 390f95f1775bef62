//! Attempt limits on codes: wrong codes in a row against a token or a user
//! lock it for a while (the store's one lockout implementation, over
//! `dir_code_lock`), and the directory's audit events (locks engaged and
//! cleared).

use oathvault_store::lockout::{Accounts, Lockout};
use sqlx::Row;

use super::{Db, DbError};

/// The code locks, for the lockout.
const LOCKS: Accounts = Accounts {
    table: "dir_code_lock",
    key: "subject",
};

/// The lock subject of a token.
#[must_use]
pub fn device_subject(device_id: &str) -> String {
    format!("device:{device_id}")
}

/// The lock subject of a user.
#[must_use]
pub fn user_subject(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// A token's or a user's wrong codes in a row and its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLock {
    /// `device:<id>` or `user:<id>`.
    pub subject: String,
    /// Wrong codes since the last right one (or the last lock).
    pub failed: i64,
    /// Until when it is locked (0 or past: not locked).
    pub locked_until: i64,
}

/// An event of the directory's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When (Unix seconds).
    pub at: i64,
    /// Who: `directory`, `app:<client id>` or `user:<UPN>`.
    pub actor: String,
    /// What: `code.locked`, `lock.cleared`.
    pub action: String,
    /// On what: `token:<serial>` or `user:<UPN>`.
    pub subject: String,
    /// Details.
    pub detail: String,
}

fn lock_row(r: &sqlx::any::AnyRow) -> Result<CodeLock, sqlx::Error> {
    Ok(CodeLock {
        subject: r.try_get("subject")?,
        failed: r.try_get("failed_signins")?,
        locked_until: r.try_get("locked_until")?,
    })
}

impl Db {
    /// The lock of `subject`, if it ever had a wrong code.
    pub async fn code_lock(&self, subject: &str) -> Result<Option<CodeLock>, DbError> {
        let row = sqlx::query(
            "SELECT subject, failed_signins, locked_until FROM dir_code_lock WHERE subject = $1",
        )
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(lock_row).transpose()?)
    }

    /// The tokens and users of `tenant` locked at `now` or with wrong codes
    /// counted, by subject.
    pub async fn code_locks(&self, tenant: &str, now: i64) -> Result<Vec<CodeLock>, DbError> {
        let rows = sqlx::query(
            "SELECT subject, failed_signins, locked_until FROM dir_code_lock \
             WHERE tenant_id = $1 AND (locked_until > $2 OR failed_signins > 0) ORDER BY subject",
        )
        .bind(tenant)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(lock_row).collect::<Result<_, _>>()?)
    }

    /// Counts a wrong code against `subject` (of `tenant`) under
    /// `lockout`; returns the lock end when this one locked it (0: not).
    pub async fn code_failed(
        &self,
        tenant: &str,
        subject: &str,
        now: i64,
        lockout: &Lockout,
    ) -> Result<i64, DbError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO dir_code_lock (subject, tenant_id) VALUES ($1, $2) \
             ON CONFLICT (subject) DO NOTHING",
        )
        .bind(subject)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
        let until = lockout
            .record_failure(&mut tx, LOCKS, subject.to_owned(), now)
            .await?;
        tx.commit().await?;
        Ok(until)
    }

    /// A right code: the count of wrong ones starts again for `subjects`.
    pub async fn code_succeeded(&self, subjects: &[String]) -> Result<(), DbError> {
        for s in subjects {
            sqlx::query("UPDATE dir_code_lock SET failed_signins = 0 WHERE subject = $1")
                .bind(s)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Clears `subject`'s lock and count; false when there was none.
    pub async fn clear_code_lock(&self, subject: &str, now: i64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE dir_code_lock SET failed_signins = 0, locked_until = 0 \
             WHERE subject = $1 AND (locked_until > $2 OR failed_signins > 0)",
        )
        .bind(subject)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds an event to `tenant`'s audit log.
    pub async fn audit(&self, tenant: &str, e: &AuditEvent) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_audit (at, tenant_id, actor, action, subject, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(e.at)
        .bind(tenant)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.subject)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `tenant`'s audit log, newest first, at most `limit` events.
    pub async fn audit_events(&self, tenant: &str, limit: i64) -> Result<Vec<AuditEvent>, DbError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, subject, detail FROM dir_audit WHERE tenant_id = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| -> Result<AuditEvent, sqlx::Error> {
                Ok(AuditEvent {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<Result<_, _>>()?)
    }
}
