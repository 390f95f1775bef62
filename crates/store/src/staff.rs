//! Delivery-team accounts. The store keeps the Argon2id hash and the
//! sealed TOTP secret it is given; checking them is the caller's.

use serde::Serialize;
use sqlx::Row;

use crate::audit::Event;
use crate::{DeskRole, Error, Store, is_unique_violation};

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

/// An account of the vendor's people: portal staff, help-desk operators,
/// or both (hash and sealed TOTP included; `Debug` hides them). Roles
/// belong to each app: `role` in the portal, `desk_role` on the desk; an
/// account without a role in an app cannot sign in to it.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    /// Row id.
    pub id: i64,
    /// Sign-in e-mail (unique).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role in the vendor portal (`None`: no portal access).
    pub role: Option<Role>,
    /// Role on the help desk (`None`: no desk access).
    pub desk_role: Option<DeskRole>,
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
    /// Signing in is switched off.
    pub disabled: bool,
    /// When added.
    pub created: i64,
}

impl std::fmt::Debug for Staff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staff")
            .field("email", &self.email)
            .field("role", &self.role)
            .field("desk_role", &self.desk_role)
            .finish_non_exhaustive()
    }
}

/// The columns of a staff row, as stored.
#[derive(sqlx::FromRow)]
struct StaffRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    portal_access: i64,
    desk_role: Option<String>,
    password_hash: String,
    totp_sealed: Option<Vec<u8>>,
    failed_signins: i64,
    locked_until: i64,
    disabled: i64,
    created: i64,
}

/// The table of staff accounts, for the lockout.
const STAFF_ACCOUNTS: crate::lockout::Accounts = crate::lockout::Accounts {
    table: "staff",
    key: "id",
};

/// The staff columns, for `SELECT`.
macro_rules! staff_columns {
    () => {
        "id, email, name, role, portal_access, desk_role, password_hash, \
         totp_sealed, failed_signins, locked_until, disabled, created"
    };
}

fn staff_row(r: &sqlx::any::AnyRow) -> Result<Staff, Error> {
    let r = <StaffRow as sqlx::FromRow<'_, sqlx::any::AnyRow>>::from_row(r)?;
    Ok(Staff {
        id: r.id,
        email: r.email,
        name: r.name,
        role: (r.portal_access != 0)
            .then(|| Role::parse(&r.role))
            .flatten(),
        desk_role: r.desk_role.as_deref().and_then(DeskRole::parse),
        password_hash: r.password_hash,
        totp_sealed: r.totp_sealed,
        failed_signins: r.failed_signins,
        locked_until: r.locked_until,
        disabled: r.disabled != 0,
        created: r.created,
    })
}

impl Store {
    /// Adds an account with its role in each app (`None`: no access).
    #[allow(clippy::too_many_arguments)] // Reason: one row's columns, named at the call.
    pub async fn add_staff(
        &self,
        email: &str,
        name: &str,
        role: Option<Role>,
        desk_role: Option<DeskRole>,
        password_hash: &str,
        totp_sealed: Option<&[u8]>,
        audit: &Event,
    ) -> Result<i64, Error> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO staff (email, name, role, portal_access, desk_role, password_hash, totp_sealed, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(email.to_ascii_lowercase())
        .bind(name)
        // The column keeps its old check: an account without portal access
        // stores the least role, which `portal_access = 0` makes void.
        .bind(role.unwrap_or(Role::Reviewer).as_str())
        .bind(i64::from(role.is_some()))
        .bind(desk_role.map(DeskRole::as_str))
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
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// An active staff account by row id.
    pub(crate) async fn staff_by_id(&self, id: i64) -> Result<Option<Staff>, Error> {
        let row = sqlx::query(concat!(
            "SELECT ",
            staff_columns!(),
            " FROM staff WHERE id = $1 AND disabled = 0"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(staff_row).transpose()
    }

    /// Sets the name and desk role of an account made by an identity
    /// provider's sign-in (the provider says them again at every sign-in).
    pub async fn set_staff_desk_role(
        &self,
        staff_id: i64,
        name: &str,
        desk_role: DeskRole,
    ) -> Result<(), Error> {
        sqlx::query("UPDATE staff SET name = $1, desk_role = $2 WHERE id = $3")
            .bind(name)
            .bind(desk_role.as_str())
            .bind(staff_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A staff account by e-mail.
    pub async fn staff_by_email(&self, email: &str) -> Result<Option<Staff>, Error> {
        let row = sqlx::query(concat!(
            "SELECT ",
            staff_columns!(),
            " FROM staff WHERE email = $1 AND disabled = 0"
        ))
        .bind(email.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(staff_row).transpose()
    }

    /// Every staff account, by e-mail.
    pub async fn staff(&self) -> Result<Vec<Staff>, Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            staff_columns!(),
            " FROM staff ORDER BY email"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(staff_row).collect()
    }

    /// Switches signing in off (ending every session) or on again; refuses
    /// to switch off the last active administrator.
    pub async fn set_staff_disabled(
        &self,
        email: &str,
        disabled: bool,
        audit: &Event,
    ) -> Result<(), Error> {
        let email = email.to_ascii_lowercase();
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT id, role, portal_access FROM staff WHERE email = $1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "staff member",
                name: email.clone(),
            })?;
        let id: i64 = row.try_get("id")?;
        let role: String = row.try_get("role")?;
        let portal: i64 = row.try_get("portal_access")?;
        sqlx::query("UPDATE staff SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if disabled {
            let left: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM staff WHERE role = 'administrator' AND portal_access = 1 AND disabled = 0",
            )
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if portal != 0 && role == Role::Administrator.as_str() && left == 0 {
                return Err(Error::Refused(
                    "the last active administrator cannot be switched off".into(),
                ));
            }
            sqlx::query("DELETE FROM session WHERE staff_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lifts a sign-in lock and forgets the wrong attempts.
    pub async fn unlock_staff(&self, email: &str, audit: &Event) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE staff SET failed_signins = 0, locked_until = 0 WHERE email = $1")
                .bind(email.to_ascii_lowercase())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "staff member",
                name: email.to_owned(),
            });
        }
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many administrators exist (the first one is bootstrapped from the CLI).
    pub async fn administrators(&self) -> Result<i64, Error> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM staff WHERE role = 'administrator' AND portal_access = 1 AND disabled = 0",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }
}

/// A signed-in (or half signed-in) session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The staff member.
    pub staff: Staff,
    /// `password` (waiting for the second factor) or `full`.
    pub stage: String,
    /// When it ends.
    pub expires: i64,
}

impl Store {
    /// Replaces a staff member's password hash and ends every other session
    /// of theirs (`keep` is the session that made the change).
    pub async fn set_staff_password(
        &self,
        staff_id: i64,
        password_hash: &str,
        keep: &str,
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE staff SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(staff_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM session WHERE staff_id = $1 AND id_hash <> $2")
            .bind(staff_id)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts a wrong sign-in; `lockout` says when it locks the account.
    /// Returns the lock end (0: not locked).
    pub async fn signin_failed(
        &self,
        staff_id: i64,
        now: i64,
        lockout: &crate::lockout::Lockout,
    ) -> Result<i64, Error> {
        let mut tx = self.begin().await?;
        let until = lockout
            .record_failure(&mut tx, STAFF_ACCOUNTS, staff_id, now)
            .await?;
        tx.commit().await?;
        Ok(until)
    }

    /// A good second factor: clears the failure count and records the TOTP
    /// counter used, so the same code is never accepted twice. Returns
    /// false (and changes nothing) when `counter` is not newer than the last.
    pub async fn signin_succeeded(&self, staff_id: i64, counter: i64) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE staff SET failed_signins = 0, totp_last_counter = $1 \
             WHERE id = $2 AND (totp_last_counter IS NULL OR totp_last_counter < $1)",
        )
        .bind(counter)
        .bind(staff_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a session under the hash of its cookie value.
    pub async fn create_session(
        &self,
        id_hash: &str,
        staff_id: i64,
        stage: &str,
        expires: i64,
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query("INSERT INTO session (id_hash, staff_id, stage, expires, created) VALUES ($1, $2, $3, $4, $5)")
            .bind(id_hash)
            .bind(staff_id)
            .bind(stage)
            .bind(expires)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The live session with this hash, if any (a read only: expired rows
    /// are ignored here and removed by [`Store::sweep`]).
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, Error> {
        let row = sqlx::query(
            "SELECT s.stage, s.expires, t.id, t.email, t.name, t.role, t.portal_access, t.desk_role, \
             t.password_hash, t.totp_sealed, t.failed_signins, t.locked_until, t.disabled, t.created \
             FROM session s JOIN staff t ON t.id = s.staff_id \
             WHERE s.id_hash = $1 AND s.expires > $2 AND t.disabled = 0",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                staff: staff_row(&r)?,
                stage: r.try_get("stage")?,
                expires: r.try_get("expires")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM session WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes expired sessions and rate-limit windows older than
    /// `keep_windows_since`; returns how many rows went. Run it now and then
    /// (the portal does every few minutes; several processes may).
    pub async fn sweep(&self, now: i64, keep_windows_since: i64) -> Result<u64, Error> {
        let mut tx = self.begin().await?;
        let sessions = sqlx::query("DELETE FROM session WHERE expires <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let windows = sqlx::query("DELETE FROM rate_limit WHERE window_start < $1")
            .bind(keep_windows_since)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(sessions + windows)
    }

    /// The hits a rate-limit bucket has had in the current window of
    /// `window` seconds, without counting one (for limits that count only
    /// failures).
    pub async fn rate_peek(&self, bucket: &str, now: i64, window: i64) -> Result<i64, Error> {
        let start = now - now.rem_euclid(window.max(1));
        let row =
            sqlx::query("SELECT hits FROM rate_limit WHERE bucket = $1 AND window_start = $2")
                .bind(bucket)
                .bind(start)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => r.try_get("hits")?,
            None => 0,
        })
    }

    /// Takes back one hit of the current window (an attempt that was
    /// counted before it was checked, and turned out right).
    pub async fn rate_refund(&self, bucket: &str, now: i64, window: i64) -> Result<(), Error> {
        let start = now - now.rem_euclid(window.max(1));
        sqlx::query(
            "UPDATE rate_limit SET hits = hits - 1 WHERE bucket = $1 AND window_start = $2 AND hits > 0",
        )
        .bind(bucket)
        .bind(start)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts a hit on a rate-limit bucket (fixed windows of `window`
    /// seconds); true while the bucket has had at most `limit` hits in the
    /// current window. Shared by every process using the database.
    pub async fn rate_hit(
        &self,
        bucket: &str,
        now: i64,
        window: i64,
        limit: i64,
    ) -> Result<bool, Error> {
        let start = now - now.rem_euclid(window.max(1));
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO rate_limit (bucket, window_start, hits) VALUES ($1, $2, 0) \
             ON CONFLICT (bucket) DO NOTHING",
        )
        .bind(bucket)
        .bind(start)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE rate_limit SET hits = CASE WHEN window_start = $2 THEN hits + 1 ELSE 1 END, \
             window_start = $2 WHERE bucket = $1",
        )
        .bind(bucket)
        .bind(start)
        .execute(&mut *tx)
        .await?;
        let hits: i64 = sqlx::query("SELECT hits FROM rate_limit WHERE bucket = $1")
            .bind(bucket)
            .fetch_one(&mut *tx)
            .await?
            .try_get("hits")?;
        tx.commit().await?;
        Ok(hits <= limit)
    }
}
