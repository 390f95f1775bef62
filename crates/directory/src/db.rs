//! The directory's tables: tenants, users, app registrations, hardware
//! OATH devices (secrets sealed under the master key) and the token
//! signing key. SQLite by default, PostgreSQL when configured; the same
//! queries on both (`$n` placeholders through sqlx's Any driver).
//!
//! This file holds the pool and its migrations, the error type and the
//! filtered, keyset-paged `SELECT` the list queries share; each table's
//! queries live in a module of their own.

use std::fmt::Write as _;
use std::sync::Arc;

use sqlx::migrate::Migrator;
use sqlx::{AnyPool, AssertSqlSafe};

pub use apps::App;
pub use authcodes::{AuthCode, Redeemed};
pub use credentials::AppCertificate;
pub use devices::Device;
pub use grants::{DeviceCodeGrant, Refresh, RefreshGrant};
pub use locks::{AuditEvent, CodeLock, device_subject, user_subject};
pub use oathvault_store::Backend;
pub use tenants::Tenant;
pub use users::User;

mod apps;
mod authcodes;
mod credentials;
mod devices;
mod grants;
mod keys;
mod lockout;
mod locks;
mod sessions;
mod tenants;
mod users;

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// A store error; messages name records, never secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// Opening or migrating failed.
    #[error(transparent)]
    Open(#[from] oathvault_store::Error),
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A unique name or serial is taken.
    #[error("{what} {name:?} already exists")]
    Exists {
        /// Kind of record.
        what: &'static str,
        /// Its name.
        name: String,
    },
}

/// A condition on a device column (from an OData `$filter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// `column = text`.
    Text(&'static str, String),
    /// `column = integer`.
    Int(&'static str, i64),
    /// `column IS NULL`.
    Null(&'static str),
    /// `column IS NOT NULL`.
    NotNull(&'static str),
}

fn exists(e: sqlx::Error, what: &'static str, name: &str) -> DbError {
    if oathvault_store::is_unique_violation(&e) {
        DbError::Exists {
            what,
            name: name.to_owned(),
        }
    } else {
        DbError::Db(e)
    }
}

/// The directory's database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// Bulk writers queue here rather than in SQLite's busy handler, which
    /// sleeps in growing steps while another connection holds the lock.
    bulk_writer: Arc<tokio::sync::Mutex<()>>,
    /// The `INSERT` of a full chunk of devices, made once.
    insert_full_chunk: Arc<std::sync::OnceLock<String>>,
}

impl Db {
    /// Opens (creating a SQLite file if needed) and migrates.
    pub async fn open(database: &str) -> Result<Self, DbError> {
        let (pool, backend) = oathvault_store::connect(database, &SQLITE, &POSTGRES).await?;
        Ok(Self {
            pool,
            backend,
            bulk_writer: Arc::default(),
            insert_full_chunk: Arc::default(),
        })
    }

    /// Starts a transaction that writes: on SQLite with the write lock
    /// taken at once (`BEGIN IMMEDIATE`, waiting up to the busy timeout),
    /// since a deferred one that reads first fails without waiting when
    /// another connection writes meanwhile.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The backend in use.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs `sql` (which already selects by tenant as `$1`) with `conds`,
    /// keyset paging on `order` after `after`, and `limit`.
    async fn filtered(
        &self,
        sql: &mut String,
        tenant: &str,
        conds: &[Cond],
        after: Option<&str>,
        order: &str,
        limit: i64,
    ) -> Result<Vec<sqlx::any::AnyRow>, DbError> {
        let mut n = 1;
        for c in conds {
            match c {
                Cond::Text(col, _) | Cond::Int(col, _) => {
                    n += 1;
                    let _ = write!(sql, " AND {col} = ${n}");
                }
                Cond::Null(col) => {
                    let _ = write!(sql, " AND {col} IS NULL");
                }
                Cond::NotNull(col) => {
                    let _ = write!(sql, " AND {col} IS NOT NULL");
                }
            }
        }
        if after.is_some() {
            n += 1;
            let _ = write!(sql, " AND {order} > ${n}");
        }
        let _ = write!(sql, " ORDER BY {order} LIMIT ${}", n + 1);
        let mut q = sqlx::query(AssertSqlSafe(sql.clone())).bind(tenant.to_owned());
        for c in conds {
            q = match c {
                Cond::Text(_, v) => q.bind(v.clone()),
                Cond::Int(_, v) => q.bind(*v),
                Cond::Null(_) | Cond::NotNull(_) => q,
            };
        }
        if let Some(a) = after {
            q = q.bind(a.to_owned());
        }
        Ok(q.bind(limit).fetch_all(&self.pool).await?)
    }
}
