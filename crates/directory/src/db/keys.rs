//! The token signing key, sealed under the master key.

use sqlx::Row;

use super::{Db, DbError};

impl Db {
    /// The sealed signing key, if one was made.
    pub async fn signing_key(&self) -> Result<Option<Vec<u8>>, DbError> {
        let row = sqlx::query("SELECT sealed FROM dir_signing_key ORDER BY created DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("sealed")).transpose()?)
    }

    /// Stores a sealed signing key.
    pub async fn add_signing_key(&self, kid: &str, sealed: &[u8], now: i64) -> Result<(), DbError> {
        sqlx::query("INSERT INTO dir_signing_key (kid, sealed, created) VALUES ($1, $2, $3)")
            .bind(kid)
            .bind(sealed.to_vec())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
