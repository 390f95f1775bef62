//! The help-desk console's tables: operators' desk roles, and the desk's
//! copy of the tenant's token inventory and users (no secrets: Graph never
//! returns them), so that its pages search, filter, count and page a large
//! inventory in milliseconds. The copy is replaced whole by a sync and
//! row by row after each action the desk takes.

use std::fmt::Write as _;

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use crate::audit::{Event, append};
use crate::{Error, Store};

/// What an operator may do on the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeskRole {
    /// Sees the inventory, the users and the audit log.
    Viewer,
    /// Also assigns, activates, unassigns, deactivates and replaces tokens.
    Helpdesk,
    /// Also uploads seed files, deletes tokens and manages operators.
    Administrator,
}

impl DeskRole {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Helpdesk => "helpdesk",
            Self::Administrator => "administrator",
        }
    }

    /// Parses a stored or typed name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "helpdesk" | "help-desk" => Some(Self::Helpdesk),
            "administrator" | "admin" => Some(Self::Administrator),
            _ => None,
        }
    }
}

/// A token as the desk last saw it in the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeskDevice {
    /// Graph object id.
    pub id: String,
    /// Serial number.
    pub serial: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Display name.
    pub display_name: String,
    /// `available`, `assigned`, `activated`, `failedActivation`.
    pub status: String,
    /// `hmacsha1` or `hmacsha256`.
    pub hash_function: String,
    /// 30 or 60.
    pub interval: i64,
    /// The user's object id, when assigned.
    pub user_id: Option<String>,
    /// The user's display name (or UPN), when assigned.
    pub user_name: String,
    /// Last use, as Graph gives it.
    pub last_used: String,
    /// Seconds ahead of the clock at the last accepted code, where known.
    pub drift: Option<i64>,
}

impl DeskDevice {
    fn haystack(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.serial, self.model, self.display_name, self.user_name, self.manufacturer
        )
        .to_lowercase()
    }
}

/// A user as the desk last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeskUser {
    /// Object id.
    pub id: String,
    /// User principal name.
    pub upn: String,
    /// Display name.
    pub display_name: String,
}

/// A destructive action waiting for (or decided by) a second administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// Row id.
    pub id: i64,
    /// What is to be done (`delete`).
    pub action: String,
    /// Graph object ids of the tokens.
    pub device_ids: Vec<String>,
    /// Their serials, in the same order.
    pub serials: Vec<String>,
    /// Who asked.
    pub requested_by: String,
    /// When (Unix seconds).
    pub requested_at: i64,
    /// Undecided after this, it can no longer be approved.
    pub expires: i64,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// What carrying it out did, in words.
    pub outcome: Option<String>,
}

const APPROVAL_COLUMNS: &str = "id, action, device_ids, serials, requested_by, requested_at, \
     expires, state, decided_by, outcome";

fn approval_row(r: &sqlx::any::AnyRow) -> Result<Approval, Error> {
    let lines = |s: String| -> Vec<String> {
        s.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(Approval {
        id: r.try_get("id")?,
        action: r.try_get("action")?,
        device_ids: lines(r.try_get("device_ids")?),
        serials: lines(r.try_get("serials")?),
        requested_by: r.try_get("requested_by")?,
        requested_at: r.try_get("requested_at")?,
        expires: r.try_get("expires")?,
        state: r.try_get("state")?,
        decided_by: r.try_get("decided_by")?,
        outcome: r.try_get("outcome")?,
    })
}

/// A search of the inventory copy.
#[derive(Debug, Clone, Default)]
pub struct DeviceQuery {
    /// Words that must all appear in serial, model, name or user (any case).
    pub text: String,
    /// Only this status.
    pub status: Option<String>,
    /// Only this user's tokens.
    pub user_id: Option<String>,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

/// One page of a search.
#[derive(Debug, Clone, Default)]
pub struct DevicePage {
    /// The rows, by serial.
    pub rows: Vec<DeskDevice>,
    /// How many match in all.
    pub total: i64,
}

/// When the copy was last refreshed whole, and what it held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Unix seconds.
    pub finished: i64,
    /// Tokens.
    pub devices: i64,
    /// Users.
    pub users: i64,
}

const DEVICE_COLUMNS: &str = "id, serial, manufacturer, model, display_name, status, \
     hash_function, interval_s, user_id, user_name, last_used, drift_s";

/// A drift measurement: when the code was accepted (Unix seconds), and the
/// drift then (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DriftSample {
    /// When the code was accepted.
    pub at: i64,
    /// Seconds ahead of the clock.
    pub drift: i64,
}

fn device_row(r: &sqlx::any::AnyRow) -> Result<DeskDevice, Error> {
    Ok(DeskDevice {
        id: r.try_get("id")?,
        serial: r.try_get("serial")?,
        manufacturer: r.try_get("manufacturer")?,
        model: r.try_get("model")?,
        display_name: r.try_get("display_name")?,
        status: r.try_get("status")?,
        hash_function: r.try_get("hash_function")?,
        interval: r.try_get("interval_s")?,
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        last_used: r.try_get("last_used")?,
        drift: r.try_get("drift_s")?,
    })
}

/// `%word%` patterns with `%`, `_` and `\` escaped.
fn like_patterns(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split_whitespace()
        .take(8)
        .map(|w| {
            let mut p = String::with_capacity(w.len() + 2);
            p.push('%');
            for c in w.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    p.push('\\');
                }
                p.push(c);
            }
            p.push('%');
            p
        })
        .collect()
}

/// The WHERE clause of a device search and its text binds (status and
/// user come after the words, in that order, when given).
fn device_where(q: &DeviceQuery, words: &[String]) -> String {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut n = 0;
    for _ in words {
        n += 1;
        let _ = write!(sql, " AND haystack LIKE ${n} ESCAPE '\\'");
    }
    if q.status.is_some() {
        n += 1;
        let _ = write!(sql, " AND status = ${n}");
    }
    if q.user_id.is_some() {
        n += 1;
        let _ = write!(sql, " AND user_id = ${n}");
    }
    sql
}

impl Store {
    /// The desk role of the staff member with this id (`None`: no access).
    pub async fn desk_role(&self, staff_id: i64) -> Result<Option<DeskRole>, Error> {
        let row = sqlx::query("SELECT desk_role FROM staff WHERE id = $1 AND disabled = 0")
            .bind(staff_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let role: Option<String> = row.try_get("desk_role")?;
        Ok(role.as_deref().and_then(DeskRole::parse))
    }

    /// Gives (or with `None` takes away) a staff member's desk role.
    pub async fn set_desk_role(
        &self,
        email: &str,
        role: Option<DeskRole>,
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE staff SET desk_role = $1 WHERE email = $2")
            .bind(role.map(|r| r.as_str().to_owned()))
            .bind(email.to_ascii_lowercase())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "staff member",
                name: email.to_owned(),
            });
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Operators: staff with a desk role, by e-mail.
    pub async fn desk_operators(&self) -> Result<Vec<(String, String, DeskRole)>, Error> {
        let rows = sqlx::query(
            "SELECT email, name, desk_role FROM staff \
             WHERE desk_role IS NOT NULL AND disabled = 0 ORDER BY email",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let role: String = r.try_get("desk_role")?;
            if let Some(role) = DeskRole::parse(&role) {
                out.push((r.try_get("email")?, r.try_get("name")?, role));
            }
        }
        Ok(out)
    }

    /// Replaces the whole copy of the inventory and users (one
    /// transaction: pages never see half a sync).
    ///
    /// `samples` (serial, measurement) are added to the tokens' drift
    /// histories (a measurement already there is kept once).
    pub async fn desk_replace(
        &self,
        devices: &[DeskDevice],
        users: &[DeskUser],
        samples: &[(String, DriftSample)],
        now: i64,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM desk_device")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM desk_user")
            .execute(&mut *tx)
            .await?;
        // Many rows per statement; 14 binds a device stays under every
        // backend's bind limit at 500 a statement.
        for chunk in devices.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO desk_device (id, serial, manufacturer, model, display_name, status, \
                 hash_function, interval_s, user_id, user_name, last_used, drift_s, haystack, synced) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                sql.push_str(&self.backend.placeholders(i * 14 + 1, 14));
                sql.push(')');
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for d in chunk {
                q = bind_device(q, d, now);
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in users.chunks(500) {
            let mut sql =
                String::from("INSERT INTO desk_user (id, upn, display_name, haystack) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                sql.push_str(&self.backend.placeholders(i * 4 + 1, 4));
                sql.push(')');
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for u in chunk {
                q = q
                    .bind(u.id.clone())
                    .bind(u.upn.clone())
                    .bind(u.display_name.clone())
                    .bind(format!("{} {}", u.upn, u.display_name).to_lowercase());
            }
            q.execute(&mut *tx).await?;
        }
        insert_samples(&mut tx, self.backend, samples).await?;
        sqlx::query("DELETE FROM desk_sync")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO desk_sync (id, finished, devices, users) VALUES (1, $1, $2, $3)")
            .bind(now)
            .bind(i64::try_from(devices.len()).unwrap_or(i64::MAX))
            .bind(i64::try_from(users.len()).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts one token's latest state in the copy (after an action).
    pub async fn desk_put(&self, d: &DeskDevice, now: i64) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM desk_device WHERE id = $1")
            .bind(d.id.clone())
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "INSERT INTO desk_device (id, serial, manufacturer, model, display_name, status, \
             hash_function, interval_s, user_id, user_name, last_used, drift_s, haystack, synced) VALUES ({})",
            self.backend.placeholders(1, 14)
        );
        bind_device(sqlx::query(AssertSqlSafe(sql)), d, now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds drift measurements to the tokens' histories.
    pub async fn desk_drift_add(&self, samples: &[(String, DriftSample)]) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        insert_samples(&mut tx, self.backend, samples).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes a deleted token out of the copy.
    pub async fn desk_remove(&self, id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM desk_device WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One page of tokens matching `q`, by serial, and how many match.
    pub async fn desk_devices(&self, q: &DeviceQuery) -> Result<DevicePage, Error> {
        let words = like_patterns(&q.text);
        let filter = device_where(q, &words);
        let n = words.len() + usize::from(q.status.is_some()) + usize::from(q.user_id.is_some());
        let page_sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM desk_device{filter} ORDER BY serial, id LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let count_sql = format!("SELECT COUNT(*) AS n FROM desk_device{filter}");
        let mut page = sqlx::query(AssertSqlSafe(page_sql));
        let mut count = sqlx::query(AssertSqlSafe(count_sql));
        for w in &words {
            page = page.bind(w.clone());
            count = count.bind(w.clone());
        }
        for v in [&q.status, &q.user_id].into_iter().flatten() {
            page = page.bind(v.clone());
            count = count.bind(v.clone());
        }
        let rows = page
            .bind(q.limit.clamp(1, 1000))
            .bind(q.offset.max(0))
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
        Ok(DevicePage {
            rows: rows.iter().map(device_row).collect::<Result<_, _>>()?,
            total,
        })
    }

    /// Every token matching `q` (its offset and limit ignored), by serial:
    /// for an export.
    pub async fn desk_devices_all(&self, q: &DeviceQuery) -> Result<Vec<DeskDevice>, Error> {
        let words = like_patterns(&q.text);
        let filter = device_where(q, &words);
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM desk_device{filter} ORDER BY serial, id"
        )));
        for w in words {
            query = query.bind(w);
        }
        for v in [&q.status, &q.user_id].into_iter().flatten() {
            query = query.bind(v.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(device_row).collect()
    }

    /// The token with this Graph id or serial in the copy.
    pub async fn desk_device(&self, id_or_serial: &str) -> Result<Option<DeskDevice>, Error> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM desk_device WHERE id = $1 OR serial = $1 \
             ORDER BY id LIMIT 1"
        )))
        .bind(id_or_serial.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(device_row).transpose()
    }

    /// The last use of every token in the copy whose drift is known, by
    /// serial (what the drift history already holds).
    pub async fn desk_last_used(&self) -> Result<std::collections::HashMap<String, String>, Error> {
        let rows =
            sqlx::query("SELECT serial, last_used FROM desk_device WHERE drift_s IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("serial")?, r.try_get("last_used")?)))
            .collect()
    }

    /// Every serial in the copy.
    pub async fn desk_serials(&self) -> Result<std::collections::HashSet<String>, Error> {
        let rows = sqlx::query("SELECT serial FROM desk_device")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("serial")?))
            .collect()
    }

    /// Tokens by status, in the copy (`status`, count), most first.
    pub async fn desk_counts(&self) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM desk_device GROUP BY status ORDER BY n DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    /// Users whose UPN or name holds every word of `text`, by UPN.
    pub async fn desk_users(&self, text: &str, limit: i64) -> Result<Vec<DeskUser>, Error> {
        let words = like_patterns(text);
        let mut sql = String::from("SELECT id, upn, display_name FROM desk_user WHERE 1 = 1");
        for i in 1..=words.len() {
            let _ = write!(sql, " AND haystack LIKE ${i} ESCAPE '\\'");
        }
        let _ = write!(sql, " ORDER BY upn LIMIT ${}", words.len() + 1);
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for w in words {
            q = q.bind(w);
        }
        let rows = q.bind(limit.clamp(1, 1000)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(DeskUser {
                    id: r.try_get("id")?,
                    upn: r.try_get("upn")?,
                    display_name: r.try_get("display_name")?,
                })
            })
            .collect()
    }

    /// The user with this id or UPN (any case) in the copy.
    pub async fn desk_user(&self, id_or_upn: &str) -> Result<Option<DeskUser>, Error> {
        let row = sqlx::query(
            "SELECT id, upn, display_name FROM desk_user WHERE id = $1 OR LOWER(upn) = $2 LIMIT 1",
        )
        .bind(id_or_upn.to_owned())
        .bind(id_or_upn.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(DeskUser {
                id: r.try_get("id")?,
                upn: r.try_get("upn")?,
                display_name: r.try_get("display_name")?,
            })
        })
        .transpose()
    }

    /// A token's drift history, oldest first (at most the last 500).
    pub async fn desk_drift_history(&self, serial: &str) -> Result<Vec<DriftSample>, Error> {
        let rows = sqlx::query(
            "SELECT at, drift_s FROM desk_drift WHERE serial = $1 ORDER BY at DESC LIMIT 500",
        )
        .bind(serial.to_owned())
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(DriftSample {
                    at: r.try_get("at")?,
                    drift: r.try_get("drift_s")?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        out.reverse();
        Ok(out)
    }

    /// Tokens whose drift is known, the largest (either way) first.
    pub async fn desk_drifting(&self, limit: i64) -> Result<Vec<DeskDevice>, Error> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM desk_device WHERE drift_s IS NOT NULL \
             ORDER BY ABS(drift_s) DESC, serial LIMIT $1"
        )))
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(device_row).collect()
    }

    /// Files a destructive action for a second administrator; returns its id.
    pub async fn desk_approval_add(
        &self,
        action: &str,
        tokens: &[(String, String)],
        requested_by: &str,
        now: i64,
        expires: i64,
        audit: &Event,
    ) -> Result<i64, Error> {
        let ids: Vec<&str> = tokens.iter().map(|t| t.0.as_str()).collect();
        let serials: Vec<&str> = tokens.iter().map(|t| t.1.as_str()).collect();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO desk_approval (action, device_ids, serials, requested_by, requested_at, \
             expires, state) VALUES ($1, $2, $3, $4, $5, $6, 'pending') RETURNING id",
        )
        .bind(action.to_owned())
        .bind(ids.join("\n"))
        .bind(serials.join("\n"))
        .bind(requested_by.to_owned())
        .bind(now)
        .bind(expires)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Pending approvals (oldest first) and the 50 latest decided ones.
    pub async fn desk_approvals(&self) -> Result<(Vec<Approval>, Vec<Approval>), Error> {
        let pending = sqlx::query(AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLUMNS} FROM desk_approval WHERE state = 'pending' ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        let decided = sqlx::query(AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLUMNS} FROM desk_approval WHERE state <> 'pending' \
             ORDER BY id DESC LIMIT 50"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok((
            pending.iter().map(approval_row).collect::<Result<_, _>>()?,
            decided.iter().map(approval_row).collect::<Result<_, _>>()?,
        ))
    }

    /// Decides a pending approval, in one guarded step: it must be pending,
    /// and an approval must be in time and by someone other than who
    /// asked. Returns it as decided.
    pub async fn desk_approval_decide(
        &self,
        id: i64,
        by: &str,
        approve: bool,
        now: i64,
        audit: &Event,
    ) -> Result<Approval, Error> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLUMNS} FROM desk_approval WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "approval",
            name: id.to_string(),
        })?;
        let a = approval_row(&row)?;
        if a.state != "pending" {
            return Err(Error::Refused(format!(
                "request {id} was already {} by {}",
                a.state,
                a.decided_by.as_deref().unwrap_or("someone")
            )));
        }
        // The one who asked may withdraw (reject) it, never approve it.
        if approve && a.requested_by.eq_ignore_ascii_case(by) {
            return Err(Error::Refused(
                "a second administrator must decide: you asked for this yourself".into(),
            ));
        }
        if approve && a.expires <= now {
            return Err(Error::Refused(format!(
                "request {id} expired unapproved; ask for it again"
            )));
        }
        let state = if approve { "approved" } else { "rejected" };
        let done = sqlx::query(
            "UPDATE desk_approval SET state = $1, decided_by = $2, decided_at = $3 \
             WHERE id = $4 AND state = 'pending'",
        )
        .bind(state)
        .bind(by.to_owned())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Error::Refused(format!(
                "request {id} was decided meanwhile"
            )));
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Approval {
            state: state.into(),
            decided_by: Some(by.to_owned()),
            ..a
        })
    }

    /// Records what carrying out an approved action did.
    pub async fn desk_approval_outcome(&self, id: i64, outcome: &str) -> Result<(), Error> {
        sqlx::query("UPDATE desk_approval SET outcome = $1 WHERE id = $2")
            .bind(outcome.to_owned())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// When the copy was last refreshed whole (`None`: never).
    pub async fn desk_sync_state(&self) -> Result<Option<SyncState>, Error> {
        let row = sqlx::query("SELECT finished, devices, users FROM desk_sync WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(SyncState {
                finished: r.try_get("finished")?,
                devices: r.try_get("devices")?,
                users: r.try_get("users")?,
            })
        })
        .transpose()
    }
}

/// Adds drift measurements (one already there is kept once).
async fn insert_samples(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: crate::Backend,
    samples: &[(String, DriftSample)],
) -> Result<(), Error> {
    for chunk in samples.chunks(500) {
        let mut sql = String::from("INSERT INTO desk_drift (serial, at, drift_s) VALUES ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&backend.placeholders(i * 3 + 1, 3));
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT (serial, at) DO NOTHING");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (serial, sample) in chunk {
            q = q.bind(serial.clone()).bind(sample.at).bind(sample.drift);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

fn bind_device<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    d: &DeskDevice,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(d.id.clone())
        .bind(d.serial.clone())
        .bind(d.manufacturer.clone())
        .bind(d.model.clone())
        .bind(d.display_name.clone())
        .bind(d.status.clone())
        .bind(d.hash_function.clone())
        .bind(d.interval)
        .bind(d.user_id.clone())
        .bind(d.user_name.clone())
        .bind(d.last_used.clone())
        .bind(d.drift)
        .bind(d.haystack())
        .bind(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_lower_case() {
        assert_eq!(
            like_patterns("  Amy 10%_x\\ "),
            vec!["%amy%".to_owned(), "%10\\%\\_x\\\\%".to_owned()]
        );
        assert!(like_patterns("   ").is_empty());
    }

    #[test]
    fn roles_parse_and_order() {
        for r in [
            DeskRole::Viewer,
            DeskRole::Helpdesk,
            DeskRole::Administrator,
        ] {
            assert_eq!(DeskRole::parse(r.as_str()), Some(r));
        }
        assert!(DeskRole::Viewer < DeskRole::Helpdesk);
        assert!(DeskRole::Helpdesk < DeskRole::Administrator);
        assert_eq!(DeskRole::parse("root"), None);
    }
}
