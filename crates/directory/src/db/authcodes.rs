//! Authorization codes (the authorization code flow): stored as the
//! SHA-256 of the code, redeemed once.

use sqlx::Row;

use super::{Db, DbError};

/// What an authorization code was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    /// Tenant id.
    pub tenant_id: String,
    /// The app it was issued to.
    pub client_id: String,
    /// The signed-in user.
    pub user_id: String,
    /// The redirect URI of the authorize request (the token request must
    /// name the same).
    pub redirect_uri: String,
    /// The scopes asked.
    pub scope: String,
    /// The `nonce` of the authorize request (empty: none), for the ID token.
    pub nonce: String,
    /// The PKCE `code_challenge` (S256).
    pub challenge: String,
    /// When it expires (Unix seconds).
    pub expires: i64,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// First use: the code's grant.
    Fresh(AuthCode),
    /// Used before (a replay): the grant, so that its tokens are revoked.
    Replayed(AuthCode),
    /// No such code.
    Unknown,
}

impl Db {
    /// Stores a new code (as `code_hash`); expired ones are dropped on the way.
    pub async fn add_auth_code(
        &self,
        code_hash: &str,
        c: &AuthCode,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query("DELETE FROM dir_auth_code WHERE expires <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO dir_auth_code (code_hash, tenant_id, client_id, user_id, redirect_uri, scope, nonce, challenge, used, expires, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10)",
        )
        .bind(code_hash)
        .bind(&c.tenant_id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(&c.nonce)
        .bind(&c.challenge)
        .bind(c.expires)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Spends a code: the first call gets [`Redeemed::Fresh`], every later
    /// one [`Redeemed::Replayed`] (the mark is set in one `UPDATE`, so two
    /// racing redemptions cannot both win). Expiry is the caller's check.
    pub async fn redeem_auth_code(&self, code_hash: &str) -> Result<Redeemed, DbError> {
        let row = sqlx::query(
            "SELECT tenant_id, client_id, user_id, redirect_uri, scope, nonce, challenge, expires \
             FROM dir_auth_code WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(Redeemed::Unknown);
        };
        let code = AuthCode {
            tenant_id: r.try_get("tenant_id")?,
            client_id: r.try_get("client_id")?,
            user_id: r.try_get("user_id")?,
            redirect_uri: r.try_get("redirect_uri")?,
            scope: r.try_get("scope")?,
            nonce: r.try_get("nonce")?,
            challenge: r.try_get("challenge")?,
            expires: r.try_get("expires")?,
        };
        let done =
            sqlx::query("UPDATE dir_auth_code SET used = 1 WHERE code_hash = $1 AND used = 0")
                .bind(code_hash)
                .execute(&self.pool)
                .await?;
        Ok(if done.rows_affected() == 1 {
            Redeemed::Fresh(code)
        } else {
            Redeemed::Replayed(code)
        })
    }

    /// Revokes every refresh token of `family` (a replayed code's sign-in).
    pub async fn revoke_refresh_family(&self, family: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM dir_refresh WHERE family = $1")
            .bind(family)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
