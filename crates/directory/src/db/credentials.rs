//! Certificates registered on apps, and the client assertion ids (`jti`)
//! already spent.

use super::{Db, DbError, exists};

/// A certificate registered on an app (one of Entra's `keyCredentials`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppCertificate {
    /// The app's client id.
    pub client_id: String,
    /// base64url SHA-1 over the DER (`x5t`).
    pub thumbprint_sha1: String,
    /// base64url SHA-256 over the DER (`x5t#S256`).
    pub thumbprint_sha256: String,
    /// The certificate (DER).
    pub der: Vec<u8>,
    /// Its subject, for display.
    pub subject: String,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds).
    pub not_after: i64,
}

impl Db {
    /// Registers a certificate on an app; the same certificate twice on
    /// one app is [`DbError::Exists`].
    pub async fn add_certificate(&self, c: &AppCertificate, now: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_app_certificate (client_id, thumbprint_sha1, thumbprint_sha256, der, \
             subject, not_before, not_after, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.client_id)
        .bind(&c.thumbprint_sha1)
        .bind(&c.thumbprint_sha256)
        .bind(c.der.clone())
        .bind(&c.subject)
        .bind(c.not_before)
        .bind(c.not_after)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| exists(e, "certificate", &c.thumbprint_sha1))?;
        Ok(())
    }

    /// The certificates registered on an app, oldest first.
    pub async fn certificates(&self, client_id: &str) -> Result<Vec<AppCertificate>, DbError> {
        Ok(sqlx::query_as(
            "SELECT client_id, thumbprint_sha1, thumbprint_sha256, der, subject, not_before, not_after \
             FROM dir_app_certificate WHERE client_id = $1 ORDER BY created, thumbprint_sha1",
        )
        .bind(client_id.to_ascii_lowercase())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Spends a client assertion id: true the first time `jti` is seen for
    /// `client_id`, false when it was already used. It is kept until
    /// `expires`; ids whose assertions expired by `now` are forgotten.
    pub async fn spend_jti(
        &self,
        client_id: &str,
        jti: &str,
        expires: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        sqlx::query("DELETE FROM dir_assertion_jti WHERE expires <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let spent = sqlx::query(
            "INSERT INTO dir_assertion_jti (client_id, jti, expires) VALUES ($1, $2, $3)",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires)
        .execute(&self.pool)
        .await;
        match spent {
            Ok(_) => Ok(true),
            Err(e) if oathvault_store::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
