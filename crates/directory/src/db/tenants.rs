//! Tenants.

use super::{Db, DbError, exists};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Tenant {
    /// GUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its verified domain (`contoso.example`).
    pub domain: String,
}

impl Db {
    /// Adds a tenant.
    pub async fn add_tenant(&self, t: &Tenant, now: i64) -> Result<(), DbError> {
        sqlx::query("INSERT INTO dir_tenant (id, name, domain, created) VALUES ($1, $2, $3, $4)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.domain.to_ascii_lowercase())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| exists(e, "tenant", &t.domain))?;
        Ok(())
    }

    /// A tenant by id or domain.
    pub async fn tenant(&self, id_or_domain: &str) -> Result<Option<Tenant>, DbError> {
        Ok(
            sqlx::query_as("SELECT id, name, domain FROM dir_tenant WHERE id = $1 OR domain = $2")
                .bind(id_or_domain.to_ascii_lowercase())
                .bind(id_or_domain.to_ascii_lowercase())
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
