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
    /// The application permissions it asks for (Entra's
    /// `requiredResourceAccess`); what it holds in a tenant is what was
    /// granted there ([`Db::app_grants`]).
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

    /// Grants `permissions` (application permissions) to the app
    /// `client_id` in `tenant` (Entra's app role assignments).
    pub async fn grant_app(
        &self,
        tenant: &str,
        client_id: &str,
        permissions: &[String],
        now: i64,
    ) -> Result<(), DbError> {
        for p in permissions {
            sqlx::query(
                "INSERT INTO dir_app_grant (tenant_id, client_id, permission, created) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(client_id)
            .bind(p)
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// The application permissions granted to `client_id` in `tenant`.
    pub async fn app_grants(&self, tenant: &str, client_id: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT permission FROM dir_app_grant WHERE tenant_id = $1 AND client_id = $2 ORDER BY permission",
        )
        .bind(tenant)
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("permission"))
            .collect::<Result<_, _>>()?)
    }

    /// Consents to delegated `scopes` for `client_id` in `tenant`: for every
    /// user (`principal` `None`: an administrator's consent for the
    /// tenant) or for one user themselves.
    pub async fn consent(
        &self,
        tenant: &str,
        client_id: &str,
        principal: Option<&str>,
        scopes: &[String],
        now: i64,
    ) -> Result<(), DbError> {
        for s in scopes {
            sqlx::query(
                "INSERT INTO dir_consent (tenant_id, client_id, principal_id, scope, created) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(client_id)
            .bind(principal.unwrap_or_default())
            .bind(s)
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// The delegated scopes consented for `client_id` in `tenant` that
    /// `user` may be given: for every user, or by that user themselves.
    pub async fn consented(
        &self,
        tenant: &str,
        client_id: &str,
        user: &str,
    ) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT DISTINCT scope FROM dir_consent WHERE tenant_id = $1 AND client_id = $2 \
             AND (principal_id = '' OR principal_id = $3) ORDER BY scope",
        )
        .bind(tenant)
        .bind(client_id)
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("scope"))
            .collect::<Result<_, _>>()?)
    }
}
