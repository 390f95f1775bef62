//! App registrations (their certificates are in `credentials`).

use sqlx::Row;

use super::{Db, DbError, exists};

/// An app registration.
#[derive(Clone, PartialEq, Eq)]
pub struct App {
    /// Client id (GUID).
    pub client_id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Argon2id hash of the client secret.
    pub secret_hash: String,
    /// Granted application permissions.
    pub permissions: Vec<String>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Adds an app registration.
    pub async fn add_app(&self, a: &App, now: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_app (client_id, tenant_id, name, secret_hash, permissions, created) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.client_id)
        .bind(&a.tenant_id)
        .bind(&a.name)
        .bind(&a.secret_hash)
        .bind(a.permissions.join(" "))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| exists(e, "app", &a.client_id))?;
        Ok(())
    }

    /// An app registration by client id.
    pub async fn app(&self, client_id: &str) -> Result<Option<App>, DbError> {
        let row = sqlx::query(
            "SELECT client_id, tenant_id, name, secret_hash, permissions FROM dir_app WHERE client_id = $1",
        )
        .bind(client_id.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<App, sqlx::Error> {
                let perms: String = r.try_get("permissions")?;
                Ok(App {
                    client_id: r.try_get("client_id")?,
                    tenant_id: r.try_get("tenant_id")?,
                    name: r.try_get("name")?,
                    secret_hash: r.try_get("secret_hash")?,
                    permissions: perms.split_whitespace().map(str::to_owned).collect(),
                })
            })
            .transpose()?)
    }
}
