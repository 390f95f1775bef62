//! The sign-in lockout: wrong passwords or codes in a row lock a user for
//! a while.

use oathvault_store::lockout::{Accounts, Lockout};
use sqlx::Row;

use super::{Db, DbError};

/// The directory's users, for the lockout.
const USERS: Accounts = Accounts {
    table: "dir_user",
    key: "id",
};

impl Db {
    /// Counts a wrong password or code under `lockout` (the store's one
    /// lockout implementation, over the directory's users). Returns the
    /// lock end (0: none).
    pub async fn signin_failed(
        &self,
        user_id: &str,
        now: i64,
        lockout: &Lockout,
    ) -> Result<i64, DbError> {
        let mut tx = self.begin().await?;
        let until = lockout
            .record_failure(&mut tx, USERS, user_id.to_owned(), now)
            .await?;
        tx.commit().await?;
        Ok(until)
    }

    /// A good sign-in: the count of wrong ones starts again.
    pub async fn signin_succeeded(&self, user_id: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE dir_user SET failed_signins = 0 WHERE id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many users, and how many code subjects (tokens, users), are
    /// locked at `now` (for `/metrics`).
    pub async fn locked(&self, now: i64) -> Result<(i64, i64), DbError> {
        let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM dir_user WHERE locked_until > $1")
            .bind(now)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let codes: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM dir_code_lock WHERE locked_until > $1")
                .bind(now)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        Ok((users, codes))
    }

    /// Until when the user is locked (0 or past: not locked).
    pub async fn locked_until(&self, user_id: &str) -> Result<i64, DbError> {
        Ok(
            sqlx::query("SELECT locked_until FROM dir_user WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("locked_until"))
                .transpose()?
                .unwrap_or(0),
        )
    }
}
