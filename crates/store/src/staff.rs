//! Delivery-team accounts. The store keeps the Argon2id hash and the
//! sealed TOTP secret it is given; checking them is the caller's.

use serde::Serialize;
use sqlx::Row;

use crate::audit::{Event, append};
use crate::{Error, Store, is_unique_violation};

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reviews and approves requests.
    Reviewer,
    /// Also manages customers, orders, shipments, imports and staff.
    Administrator,
}

impl Role {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reviewer => "reviewer",
            Self::Administrator => "administrator",
        }
    }

    /// Parses a stored or typed name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reviewer" => Some(Self::Reviewer),
            "administrator" | "admin" => Some(Self::Administrator),
            _ => None,
        }
    }
}

/// A staff account (hash and sealed TOTP included; `Debug` hides them).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    /// Row id.
    pub id: i64,
    /// Sign-in e-mail (unique).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// TOTP secret sealed under the master key, once enrolled.
    #[serde(skip)]
    pub totp_sealed: Option<Vec<u8>>,
    /// Wrong sign-ins since the last good one.
    pub failed_signins: i64,
    /// Sign-in refused until this time (Unix seconds).
    pub locked_until: i64,
    /// When added.
    pub created: i64,
}

impl std::fmt::Debug for Staff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staff")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn staff_row(r: &sqlx::any::AnyRow) -> Result<Staff, Error> {
    let role: String = r.try_get("role")?;
    Ok(Staff {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::parse(&role).unwrap_or(Role::Reviewer),
        password_hash: r.try_get("password_hash")?,
        totp_sealed: r.try_get("totp_sealed")?,
        failed_signins: r.try_get("failed_signins")?,
        locked_until: r.try_get("locked_until")?,
        created: r.try_get("created")?,
    })
}

impl Store {
    /// Adds a staff account.
    pub async fn add_staff(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
        totp_sealed: Option<&[u8]>,
        audit: &Event,
    ) -> Result<i64, Error> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO staff (email, name, role, password_hash, totp_sealed, created) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(email.to_ascii_lowercase())
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(totp_sealed)
        .bind(audit.at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Exists {
                    what: "staff member",
                    name: email.to_owned(),
                }
            } else {
                Error::Db(e)
            }
        })?
        .try_get("id")?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A staff account by e-mail.
    pub async fn staff_by_email(&self, email: &str) -> Result<Option<Staff>, Error> {
        let row = sqlx::query(
            "SELECT id, email, name, role, password_hash, totp_sealed, failed_signins, locked_until, created \
             FROM staff WHERE email = $1 AND disabled = 0",
        )
        .bind(email.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(staff_row).transpose()
    }

    /// Every staff account, by e-mail.
    pub async fn staff(&self) -> Result<Vec<Staff>, Error> {
        let rows = sqlx::query(
            "SELECT id, email, name, role, password_hash, totp_sealed, failed_signins, locked_until, created \
             FROM staff ORDER BY email",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(staff_row).collect()
    }

    /// How many administrators exist (the first one is bootstrapped from the CLI).
    pub async fn administrators(&self) -> Result<i64, Error> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM staff WHERE role = 'administrator' AND disabled = 0",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }
}
