//! Lockout: after a number of wrong passwords or codes in a row an account
//! is locked for a while. One implementation for every table that holds
//! accounts (the portal's and desk's `staff` here, the directory's
//! `dir_user` in its own database): each has an integer `failed_signins`
//! and a `locked_until` (Unix seconds).

use sqlx::{Any, AnyConnection, AssertSqlSafe, Encode, Row as _, Type};

/// How many wrong attempts in a row lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Wrong passwords or codes in a row that lock an account.
    pub after: i64,
    /// How long a lock lasts (seconds).
    pub seconds: i64,
}

impl Default for Lockout {
    fn default() -> Self {
        Self {
            after: 10,
            seconds: 15 * 60,
        }
    }
}

/// A table of accounts with the lockout columns `failed_signins` and
/// `locked_until`, and its key column. Names come from the code, never
/// from input (they are put into SQL).
#[derive(Debug, Clone, Copy)]
pub struct Accounts {
    /// The table.
    pub table: &'static str,
    /// Its key column.
    pub key: &'static str,
}

impl Lockout {
    /// The lock end after the `failed`th wrong attempt in a row at `now`
    /// (0: not locked).
    #[must_use]
    pub fn lock_end(&self, failed: i64, now: i64) -> i64 {
        if failed >= self.after {
            now.saturating_add(self.seconds)
        } else {
            0
        }
    }

    /// Counts a wrong attempt for the account `id` in `accounts`, inside
    /// the caller's transaction; when the count reaches the limit the
    /// account is locked and the count starts again. Returns the lock end
    /// (0: not locked).
    pub async fn record_failure<'q, I>(
        &self,
        conn: &mut AnyConnection,
        accounts: Accounts,
        id: I,
        now: i64,
    ) -> Result<i64, sqlx::Error>
    where
        I: Encode<'q, Any> + Type<Any> + Clone + Send + 'q,
    {
        let Accounts { table, key } = accounts;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET failed_signins = failed_signins + 1 WHERE {key} = $1"
        )))
        .bind(id.clone())
        .execute(&mut *conn)
        .await?;
        let failed: i64 = sqlx::query(AssertSqlSafe(format!(
            "SELECT failed_signins FROM {table} WHERE {key} = $1"
        )))
        .bind(id.clone())
        .fetch_one(&mut *conn)
        .await?
        .try_get("failed_signins")?;
        let until = self.lock_end(failed, now);
        if until > 0 {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} SET failed_signins = 0, locked_until = $1 WHERE {key} = $2"
            )))
            .bind(until)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(until)
    }
}

#[cfg(test)]
mod tests {
    use super::Lockout;

    #[test]
    fn the_tenth_wrong_attempt_locks_for_fifteen_minutes() {
        let l = Lockout::default();
        assert_eq!(l.lock_end(9, 1000), 0);
        assert_eq!(l.lock_end(10, 1000), 1000 + 900);
        assert_eq!(l.lock_end(1, i64::MAX), 0);
        assert_eq!(
            Lockout {
                after: 1,
                seconds: 5
            }
            .lock_end(1, i64::MAX),
            i64::MAX
        );
    }
}
