//! Users: their accounts and directory roles (the sign-in lockout is in
//! `lockout`).

use sqlx::Row;

use super::{Cond, Db, DbError, exists};

/// A user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Object id (GUID).
    pub id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// User principal name.
    pub upn: String,
    /// Display name.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Entra directory role template ids.
    pub roles: Vec<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("upn", &self.upn)
            .finish_non_exhaustive()
    }
}

/// A user from the columns `id, tenant_id, upn, display_name, password_hash,
/// roles` (roles space-separated, which a derived `FromRow` cannot split).
pub(super) fn user_row(r: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        upn: r.try_get("upn")?,
        display_name: r.try_get("display_name")?,
        password_hash: r.try_get("password_hash")?,
        roles: r
            .try_get::<String, _>("roles")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    })
}

impl Db {
    /// Adds a user.
    pub async fn add_user(&self, u: &User, now: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_user (id, tenant_id, upn, display_name, password_hash, roles, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&u.id)
        .bind(&u.tenant_id)
        .bind(u.upn.to_ascii_lowercase())
        .bind(&u.display_name)
        .bind(&u.password_hash)
        .bind(u.roles.join(" "))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| exists(e, "user", &u.upn))?;
        Ok(())
    }

    /// A user of `tenant` by object id or UPN.
    pub async fn user(&self, tenant: &str, id_or_upn: &str) -> Result<Option<User>, DbError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, upn, display_name, password_hash, roles FROM dir_user \
             WHERE tenant_id = $1 AND (id = $2 OR upn = $3)",
        )
        .bind(tenant)
        .bind(id_or_upn.to_ascii_lowercase())
        .bind(id_or_upn.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_row).transpose()?)
    }

    /// Users of `tenant` in UPN order, after `after` (paging), at most
    /// `limit`, matching `conds` on `id`, `upn`, `display_name`.
    pub async fn users(
        &self,
        tenant: &str,
        conds: &[Cond],
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>, DbError> {
        let mut sql = String::from(
            "SELECT id, tenant_id, upn, display_name, password_hash, roles FROM dir_user WHERE tenant_id = $1",
        );
        let rows = self
            .filtered(&mut sql, tenant, conds, after, "upn", limit)
            .await?;
        Ok(rows.iter().map(user_row).collect::<Result<_, _>>()?)
    }

    /// A user by object id (any tenant).
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, DbError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, upn, display_name, password_hash, roles FROM dir_user WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_row).transpose()?)
    }

    /// Sets a user's directory roles.
    pub async fn set_roles(&self, user_id: &str, roles: &[String]) -> Result<(), DbError> {
        sqlx::query("UPDATE dir_user SET roles = $1 WHERE id = $2")
            .bind(roles.join(" "))
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
