//! The desk's copy of the tenant's token inventory and users, replaced
//! whole by a sync and row by row after each action the desk takes.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use serde::Serialize;
use sqlx::{Any, AssertSqlSafe, Transaction};

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
    /// Which page, by position in the order of (serial, id).
    pub cursor: Cursor,
    /// Rows to return.
    pub limit: i64,
}

/// Where a page starts (keyset paging: every page costs what the first
/// does, however deep).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cursor {
    /// The first page.
    #[default]
    First,
    /// The page after this (serial, id).
    After(String, String),
    /// The page before this (serial, id).
    Before(String, String),
    /// The last page.
    Last,
}

/// One page of a search.
#[derive(Debug, Clone, Default)]
pub struct DevicePage {
    /// The rows, by serial.
    pub rows: Vec<DeskDevice>,
    /// How many match in all.
    pub total: i64,
    /// Whether rows come before this page.
    pub more_before: bool,
    /// Whether rows come after it.
    pub more_after: bool,
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

/// `%word%` patterns with `%`, `_` and `\\` escaped (the users' search).
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

/// The words of a text as the search index keeps them: lower case, split
/// at every character that is not a letter or digit.
fn words_into(text: &str, out: &mut BTreeSet<String>) {
    for w in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= 200)
    {
        out.insert(w.to_owned());
    }
}

/// Every word a token is found by: its serial, model, manufacturer and
/// name, and its user's name and UPN.
fn device_words(d: &DeskDevice, user: Option<&DeskUser>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in [
        &d.serial,
        &d.model,
        &d.manufacturer,
        &d.display_name,
        &d.user_name,
    ] {
        words_into(t, &mut out);
    }
    if let Some(u) = user {
        words_into(&u.upn, &mut out);
        words_into(&u.display_name, &mut out);
    }
    out
}

/// `(word, device id)` for every word of these tokens.
fn words_of(devices: &[DeskDevice], users: &HashMap<&str, &DeskUser>) -> Vec<(String, String)> {
    devices
        .iter()
        .flat_map(|d| {
            let user = d.user_id.as_deref().and_then(|id| users.get(id).copied());
            device_words(d, user).into_iter().map(|w| (w, d.id.clone()))
        })
        .collect()
}

/// The words of a search: each is a prefix every match must have a word
/// starting with (at most eight). `None` when the text has something to
/// search for but no letter or digit (nothing can match it).
fn search_words(text: &str) -> Option<Vec<String>> {
    let lower = text.to_lowercase();
    let words: Vec<String> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(str::to_owned)
        .collect();
    if words.is_empty() && !text.trim().is_empty() {
        None
    } else {
        Some(words)
    }
}

/// The smallest text greater than every text starting with `prefix` (in
/// byte order, as the index compares).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// A device search's conditions and their text binds, in order (`$1`…).
struct Filter {
    sql: String,
    binds: Vec<String>,
}

impl Filter {
    fn new(q: &DeviceQuery, words: &[String]) -> Self {
        let mut f = Self {
            sql: String::from(" WHERE 1 = 1"),
            binds: Vec::new(),
        };
        for w in words {
            let (a, b) = (f.bind(w.clone()), f.bind(prefix_end(w)));
            let _ = write!(
                f.sql,
                " AND id IN (SELECT device_id FROM desk_word WHERE word >= {a} AND word < {b})"
            );
        }
        if let Some(s) = &q.status {
            let n = f.bind(s.clone());
            let _ = write!(f.sql, " AND status = {n}");
        }
        if let Some(u) = &q.user_id {
            let n = f.bind(u.clone());
            let _ = write!(f.sql, " AND user_id = {n}");
        }
        f
    }

    fn bind(&mut self, v: String) -> String {
        self.binds.push(v);
        format!("${}", self.binds.len())
    }
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
        sqlx::query("DELETE FROM desk_word")
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
        // The word index, a few thousand tokens at a time (a million
        // tokens hold about five million words).
        let by_id: HashMap<&str, &DeskUser> = users.iter().map(|u| (u.id.as_str(), u)).collect();
        for chunk in devices.chunks(2000) {
            let words = words_of(chunk, &by_id);
            self.insert_words(&mut tx, &words).await?;
        }
        recount(&mut tx).await?;
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
        take_out(&mut tx, &d.id).await?;
        let sql = format!(
            "INSERT INTO desk_device (id, serial, manufacturer, model, display_name, status, \
             hash_function, interval_s, user_id, user_name, last_used, drift_s, haystack, synced) VALUES ({})",
            self.backend.placeholders(1, 14)
        );
        bind_device(sqlx::query(AssertSqlSafe(sql)), d, now)
            .execute(&mut *tx)
            .await?;
        let user: Option<DeskUser> = match &d.user_id {
            Some(id) => {
                sqlx::query_as("SELECT id, upn, display_name FROM desk_user WHERE id = $1")
                    .bind(id.clone())
                    .fetch_optional(&mut *tx)
                    .await?
            }
            None => None,
        };
        let words: Vec<(String, String)> = device_words(d, user.as_ref())
            .into_iter()
            .map(|w| (w, d.id.clone()))
            .collect();
        self.insert_words(&mut tx, &words).await?;
        count_one(&mut tx, &d.status, 1).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes a deleted token out of the copy.
    pub async fn desk_remove(&self, id: &str) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        take_out(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Builds the word index and the counts from the copy when the index
    /// is empty but the copy is not (a copy made before the index existed);
    /// `true` when it did.
    pub async fn desk_reindex(&self) -> Result<bool, Error> {
        let mut tx = self.begin().await?;
        let words: Option<(String,)> = sqlx::query_as("SELECT word FROM desk_word LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let devices: Option<(String,)> = sqlx::query_as("SELECT id FROM desk_device LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        if words.is_some() || devices.is_none() {
            return Ok(false);
        }
        let users: Vec<DeskUser> = sqlx::query_as("SELECT id, upn, display_name FROM desk_user")
            .fetch_all(&mut *tx)
            .await?;
        let by_id: HashMap<&str, &DeskUser> = users.iter().map(|u| (u.id.as_str(), u)).collect();
        let mut after = String::new();
        loop {
            let chunk: Vec<DeskDevice> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {DEVICE_COLUMNS} FROM desk_device WHERE id > $1 ORDER BY id LIMIT 2000"
            )))
            .bind(after.clone())
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = chunk.last() else { break };
            after.clone_from(&last.id);
            let words = words_of(&chunk, &by_id);
            self.insert_words(&mut tx, &words).await?;
        }
        recount(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_words(
        &self,
        tx: &mut Transaction<'static, Any>,
        words: &[(String, String)],
    ) -> Result<(), Error> {
        for chunk in words.chunks(400) {
            let mut sql = String::from("INSERT INTO desk_word (word, device_id) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                sql.push_str(&self.backend.placeholders(i * 2 + 1, 2));
                sql.push(')');
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (w, id) in chunk {
                q = q.bind(w.clone()).bind(id.clone());
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// One page of tokens matching `q`, by serial (keyset paging), and
    /// how many match. The counts by status answer an unfiltered or
    /// status-only total; others are counted through their indexes.
    pub async fn desk_devices(&self, q: &DeviceQuery) -> Result<DevicePage, Error> {
        let Some(words) = search_words(&q.text) else {
            return Ok(DevicePage::default());
        };
        let limit = q.limit.clamp(1, 1000);
        let mut f = Filter::new(q, &words);
        let (cond, backwards) = match &q.cursor {
            Cursor::First => (String::new(), false),
            Cursor::Last => (String::new(), true),
            Cursor::After(serial, id) => {
                let (a, b) = (f.bind(serial.clone()), f.bind(id.clone()));
                (
                    format!(" AND (serial > {a} OR (serial = {a} AND id > {b}))"),
                    false,
                )
            }
            Cursor::Before(serial, id) => {
                let (a, b) = (f.bind(serial.clone()), f.bind(id.clone()));
                (
                    format!(" AND (serial < {a} OR (serial = {a} AND id < {b}))"),
                    true,
                )
            }
        };
        let order = if backwards {
            "serial DESC, id DESC"
        } else {
            "serial, id"
        };
        let page_sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM desk_device{}{cond} ORDER BY {order} LIMIT {}",
            f.sql,
            limit + 1
        );
        let mut page = sqlx::query_as(AssertSqlSafe(page_sql));
        for b in &f.binds {
            page = page.bind(b.clone());
        }
        let mut rows: Vec<DeskDevice> = page.fetch_all(&self.pool).await?;
        let beyond = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        if backwards {
            rows.reverse();
        }
        let (more_before, more_after) = match &q.cursor {
            Cursor::First => (false, beyond),
            Cursor::Last => (beyond, false),
            Cursor::After(..) => (true, beyond),
            Cursor::Before(..) => (beyond, true),
        };
        let total = if words.is_empty() && q.user_id.is_none() {
            let counts = self.desk_counts().await?;
            counts
                .iter()
                .filter(|(s, _)| q.status.as_ref().is_none_or(|want| want == s))
                .map(|(_, n)| n)
                .sum()
        } else {
            let f = Filter::new(q, &words);
            let mut count = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(*) AS n FROM desk_device{}",
                f.sql
            )));
            for b in f.binds {
                count = count.bind(b);
            }
            count.fetch_one(&self.pool).await?
        };
        Ok(DevicePage {
            rows,
            total,
            more_before,
            more_after,
        })
    }

    /// Every token matching `q` (its cursor and limit ignored), by serial:
    /// for an export.
    pub async fn desk_devices_all(&self, q: &DeviceQuery) -> Result<Vec<DeskDevice>, Error> {
        let Some(words) = search_words(&q.text) else {
            return Ok(Vec::new());
        };
        let f = Filter::new(q, &words);
        let mut query = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM desk_device{} ORDER BY serial, id",
            f.sql
        )));
        for b in f.binds {
            query = query.bind(b);
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
        Ok(
            sqlx::query_as("SELECT status, n FROM desk_count WHERE n > 0 ORDER BY n DESC, status")
                .fetch_all(&self.pool)
                .await?,
        )
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

    /// How many tokens each of these users holds in the copy (users with
    /// none are left out).
    pub async fn desk_token_counts(
        &self,
        user_ids: &[String],
    ) -> Result<HashMap<String, i64>, Error> {
        let mut out = HashMap::new();
        for chunk in user_ids.chunks(500) {
            let list = self.backend.placeholders(1, chunk.len());
            let mut q = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT user_id, COUNT(*) AS n FROM desk_device WHERE user_id IN ({list}) GROUP BY user_id"
            )));
            for id in chunk {
                q = q.bind(id.clone());
            }
            let rows: Vec<(String, i64)> = q.fetch_all(&self.pool).await?;
            out.extend(rows);
        }
        Ok(out)
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

/// Takes a token out of the copy, its words and its count.
async fn take_out(tx: &mut Transaction<'static, Any>, id: &str) -> Result<(), Error> {
    let old: Option<(String,)> = sqlx::query_as("SELECT status FROM desk_device WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    if let Some((status,)) = old {
        count_one(tx, &status, -1).await?;
    }
    sqlx::query("DELETE FROM desk_device WHERE id = $1")
        .bind(id.to_owned())
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM desk_word WHERE device_id = $1")
        .bind(id.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves the count of `status` by `by`.
async fn count_one(tx: &mut Transaction<'static, Any>, status: &str, by: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO desk_count (status, n) VALUES ($1, $2) \
         ON CONFLICT (status) DO UPDATE SET n = desk_count.n + $2",
    )
    .bind(status.to_owned())
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Counts the copy by status again, whole.
async fn recount(tx: &mut Transaction<'static, Any>) -> Result<(), Error> {
    sqlx::query("DELETE FROM desk_count")
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO desk_count (status, n) SELECT status, COUNT(*) FROM desk_device GROUP BY status",
    )
    .execute(&mut **tx)
    .await?;
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
}
