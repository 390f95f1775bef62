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
    /// Where the authorization code flow may send codes (Entra's web
    /// platform `redirectUris`): exact URIs, compared as strings.
    pub redirect_uris: Vec<String>,
    /// Whether its ID tokens carry the user's directory roles as `wids`
    /// (Entra's `groupMembershipClaims` with `DirectoryRole`).
    pub role_claims: bool,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("permissions", &self.permissions)
            .field("redirect_uris", &self.redirect_uris)
            .field("role_claims", &self.role_claims)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Adds an app registration.
    pub async fn add_app(&self, a: &App, now: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_app (client_id, tenant_id, name, secret_hash, permissions, redirect_uris, role_claims, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&a.client_id)
        .bind(&a.tenant_id)
        .bind(&a.name)
        .bind(&a.secret_hash)
        .bind(a.permissions.join(" "))
        .bind(a.redirect_uris.join(" "))
        .bind(i64::from(a.role_claims))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| exists(e, "app", &a.client_id))?;
        Ok(())
    }

    /// An app registration by client id.
    pub async fn app(&self, client_id: &str) -> Result<Option<App>, DbError> {
        let row = sqlx::query(
            "SELECT client_id, tenant_id, name, secret_hash, permissions, redirect_uris, role_claims \
             FROM dir_app WHERE client_id = $1",
        )
        .bind(client_id.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<App, sqlx::Error> {
                let perms: String = r.try_get("permissions")?;
                let uris: String = r.try_get("redirect_uris")?;
                let role_claims: i64 = r.try_get("role_claims")?;
                Ok(App {
                    client_id: r.try_get("client_id")?,
                    tenant_id: r.try_get("tenant_id")?,
                    name: r.try_get("name")?,
                    secret_hash: r.try_get("secret_hash")?,
                    permissions: perms.split_whitespace().map(str::to_owned).collect(),
                    redirect_uris: uris.split_whitespace().map(str::to_owned).collect(),
                    role_claims: role_claims != 0,
                })
            })
            .transpose()?)
    }

    /// Replaces the redirect URIs of `client_id` and whether its ID tokens
    /// carry directory roles; `false` when there is no such app.
    pub async fn set_app_signin(
        &self,
        client_id: &str,
        redirect_uris: &[String],
        role_claims: bool,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE dir_app SET redirect_uris = $1, role_claims = $2 WHERE client_id = $3",
        )
        .bind(redirect_uris.join(" "))
        .bind(i64::from(role_claims))
        .bind(client_id.to_ascii_lowercase())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
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
