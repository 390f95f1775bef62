//! The desk's copy of the tenant's token inventory and users, replaced
//! whole by a sync and row by row after each action the desk takes.

use std::fmt::Write as _;

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::drift::{DriftSample, insert_samples};
use crate::{Error, Store};

/// A token as the desk last saw it in the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
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
    #[sqlx(rename = "interval_s")]
    pub interval: i64,
    /// The user's object id, when assigned.
    pub user_id: Option<String>,
    /// The user's display name (or UPN), when assigned.
    pub user_name: String,
    /// Last use, as Graph gives it.
    pub last_used: String,
    /// Seconds ahead of the clock at the last accepted code, where known.
    #[sqlx(rename = "drift_s")]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DeskUser {
    /// Object id.
    pub id: String,
    /// User principal name.
    pub upn: String,
    /// Display name.
    pub display_name: String,
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncState {
    /// Unix seconds.
    pub finished: i64,
    /// Tokens.
    pub devices: i64,
    /// Users.
    pub users: i64,
}

pub(super) const DEVICE_COLUMNS: &str = "id, serial, manufacturer, model, display_name, status, \
     hash_function, interval_s, user_id, user_name, last_used, drift_s";

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
        let mut page = sqlx::query_as(AssertSqlSafe(page_sql));
        let mut count = sqlx::query_scalar(AssertSqlSafe(count_sql));
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
        let total = count.fetch_one(&self.pool).await?;
        Ok(DevicePage { rows, total })
    }

    /// Every token matching `q` (its offset and limit ignored), by serial:
    /// for an export.
    pub async fn desk_devices_all(&self, q: &DeviceQuery) -> Result<Vec<DeskDevice>, Error> {
        let words = like_patterns(&q.text);
        let filter = device_where(q, &words);
        let mut query = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM desk_device{filter} ORDER BY serial, id"
        )));
        for w in words {
            query = query.bind(w);
        }
        for v in [&q.status, &q.user_id].into_iter().flatten() {
            query = query.bind(v.clone());
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// The token with this Graph id or serial in the copy.
    pub async fn desk_device(&self, id_or_serial: &str) -> Result<Option<DeskDevice>, Error> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM desk_device WHERE id = $1 OR serial = $1 \
             ORDER BY id LIMIT 1"
        )))
        .bind(id_or_serial.to_owned())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every serial in the copy.
    pub async fn desk_serials(&self) -> Result<std::collections::HashSet<String>, Error> {
        let serials: Vec<String> = sqlx::query_scalar("SELECT serial FROM desk_device")
            .fetch_all(&self.pool)
            .await?;
        Ok(serials.into_iter().collect())
    }

    /// Tokens by status, in the copy (`status`, count), most first.
    pub async fn desk_counts(&self) -> Result<Vec<(String, i64)>, Error> {
        Ok(sqlx::query_as(
            "SELECT status, COUNT(*) AS n FROM desk_device GROUP BY status ORDER BY n DESC",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Users whose UPN or name holds every word of `text`, by UPN.
    pub async fn desk_users(&self, text: &str, limit: i64) -> Result<Vec<DeskUser>, Error> {
        let words = like_patterns(text);
        let mut sql = String::from("SELECT id, upn, display_name FROM desk_user WHERE 1 = 1");
        for i in 1..=words.len() {
            let _ = write!(sql, " AND haystack LIKE ${i} ESCAPE '\\'");
        }
        let _ = write!(sql, " ORDER BY upn LIMIT ${}", words.len() + 1);
        let mut q = sqlx::query_as(AssertSqlSafe(sql));
        for w in words {
            q = q.bind(w);
        }
        Ok(q.bind(limit.clamp(1, 1000)).fetch_all(&self.pool).await?)
    }

    /// The user with this id or UPN (any case) in the copy.
    pub async fn desk_user(&self, id_or_upn: &str) -> Result<Option<DeskUser>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, upn, display_name FROM desk_user WHERE id = $1 OR LOWER(upn) = $2 LIMIT 1",
        )
        .bind(id_or_upn.to_owned())
        .bind(id_or_upn.to_lowercase())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// When the copy was last refreshed whole (`None`: never).
    pub async fn desk_sync_state(&self) -> Result<Option<SyncState>, Error> {
        Ok(
            sqlx::query_as("SELECT finished, devices, users FROM desk_sync WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }
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
}
