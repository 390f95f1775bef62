//! OAuth grants waiting to be redeemed: device codes (RFC 8628) and
//! refresh tokens, both stored as hashes.

use super::{Db, DbError};

/// A device-code grant (OAuth 2.0 device authorization, RFC 8628).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceCodeGrant {
    /// The code the user types on the page.
    pub user_code: String,
    /// Tenant id.
    pub tenant_id: String,
    /// The app asking.
    pub client_id: String,
    /// The scopes asked for (space-separated).
    pub scope: String,
    /// `pending`, `approved`, `declined`, `redeemed`.
    pub status: String,
    /// Who approved it.
    pub user_id: Option<String>,
    /// When it ends.
    pub expires: i64,
}

impl Db {
    /// Stores a device-code grant (the device code only as a hash).
    pub async fn add_device_code(
        &self,
        g: &DeviceCodeGrant,
        device_code_hash: &str,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_device_code (device_code_hash, user_code, tenant_id, client_id, scope, status, expires, created) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
        )
        .bind(device_code_hash)
        .bind(&g.user_code)
        .bind(&g.tenant_id)
        .bind(&g.client_id)
        .bind(&g.scope)
        .bind(g.expires)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A device-code grant by its device code hash or by its user code.
    pub async fn device_code(
        &self,
        device_code_hash: Option<&str>,
        user_code: Option<&str>,
    ) -> Result<Option<DeviceCodeGrant>, DbError> {
        Ok(sqlx::query_as(
            "SELECT user_code, tenant_id, client_id, scope, status, user_id, expires FROM dir_device_code \
             WHERE device_code_hash = $1 OR user_code = $2",
        )
        .bind(device_code_hash.unwrap_or(""))
        .bind(user_code.unwrap_or("").to_ascii_uppercase())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Moves a grant on: `approved`/`declined` (by the user) or `redeemed`;
    /// only from `pending` (approve, decline) or `approved` (redeem).
    pub async fn set_device_code(
        &self,
        user_code: &str,
        status: &str,
        user_id: Option<&str>,
    ) -> Result<bool, DbError> {
        let from = if status == "redeemed" {
            "approved"
        } else {
            "pending"
        };
        let done = sqlx::query(
            "UPDATE dir_device_code SET status = $1, user_id = COALESCE($2, user_id) WHERE user_code = $3 AND status = $4",
        )
        .bind(status)
        .bind(user_id.map(str::to_owned))
        .bind(user_code)
        .bind(from)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a refresh token (as a hash) of `family` (the hash of the
    /// first token of a sign-in; each refresh adds the next), granting
    /// `scope`; expired ones are dropped on the way.
    #[allow(
        clippy::too_many_arguments,
        reason = "one row's columns, each a plain value"
    )]
    pub async fn add_refresh(
        &self,
        token_hash: &str,
        family: &str,
        user_id: &str,
        client_id: &str,
        scope: &str,
        expires: i64,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query("DELETE FROM dir_refresh WHERE expires <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO dir_refresh (token_hash, family, user_id, client_id, scope, expires, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash)
        .bind(family)
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(expires)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A refresh token's grant, without using it (unknown or expired:
    /// `None`).
    pub async fn peek_refresh(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<RefreshGrant>, DbError> {
        Ok(sqlx::query_as(
            "SELECT user_id, client_id, scope, family, spent FROM dir_refresh \
             WHERE token_hash = $1 AND expires > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Uses a refresh token: each is good once. A spent one used again
    /// revokes its whole family (every token of that sign-in, the newest
    /// included), as does a use that loses a race with another.
    pub async fn use_refresh(&self, token_hash: &str, now: i64) -> Result<Refresh, DbError> {
        let mut tx = self.begin().await?;
        let row: Option<RefreshGrant> = sqlx::query_as(
            "SELECT user_id, client_id, scope, family, spent FROM dir_refresh \
             WHERE token_hash = $1 AND expires > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(grant) = row else {
            return Ok(Refresh::Unknown);
        };
        let fresh = grant.spent == 0
            && sqlx::query("UPDATE dir_refresh SET spent = 1 WHERE token_hash = $1 AND spent = 0")
                .bind(token_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if !fresh {
            sqlx::query("DELETE FROM dir_refresh WHERE family = $1")
                .bind(&grant.family)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(if fresh {
            Refresh::Valid(grant)
        } else {
            Refresh::Reused(grant)
        })
    }
}

/// A refresh token's grant.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshGrant {
    /// The signed-in user.
    pub user_id: String,
    /// The app it was issued to.
    pub client_id: String,
    /// The delegated scopes granted at sign-in (space-separated): a refresh
    /// never gets more.
    pub scope: String,
    /// The hash of the first token of the sign-in.
    pub family: String,
    /// 1 once used.
    pub spent: i64,
}

/// What came of using a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// Unknown or expired.
    Unknown,
    /// Used before: its family is now revoked.
    Reused(RefreshGrant),
    /// Good, and now spent.
    Valid(RefreshGrant),
}
