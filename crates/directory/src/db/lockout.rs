//! The sign-in lockout: wrong passwords or codes in a row lock a user for
//! a while.

use sqlx::Row;

use super::{Db, DbError};

impl Db {
    /// Counts a wrong password or code; after `lock_after` in a row the
    /// user is locked until `now + lock_for`. Returns the lock end (0: none).
    pub async fn signin_failed(
        &self,
        user_id: &str,
        now: i64,
        lock_after: i64,
        lock_for: i64,
    ) -> Result<i64, DbError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE dir_user SET failed_signins = failed_signins + 1 WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let failed: i64 = sqlx::query("SELECT failed_signins FROM dir_user WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("failed_signins")?;
        let until = if failed >= lock_after {
            now + lock_for
        } else {
            0
        };
        if until > 0 {
            sqlx::query("UPDATE dir_user SET failed_signins = 0, locked_until = $1 WHERE id = $2")
                .bind(until)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
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
