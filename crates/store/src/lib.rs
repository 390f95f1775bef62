//! The portal's store: customers, contacts, orders, invoices, shipments,
//! tokens (secrets only sealed), staff, sessions, rate limits and the
//! audit chain; and the help-desk console's operators and its copy of the
//! tenant's token inventory.
//!
//! One code path for both backends through sqlx's `Any` driver: an embedded
//! SQLite file by default (WAL, created on first open), PostgreSQL for a
//! `postgres://` URL. Each backend has its own migrations, applied when the
//! store opens. Times are Unix seconds passed in by the caller; nothing is
//! cached in the process, so several portal processes can share one
//! PostgreSQL database.

mod api;
mod audit;
pub mod custody;
mod decode;
mod delivery_files;
mod desk;
mod enrolment;
mod gauges;
mod inventory;
pub mod lockout;
mod outbox;
mod requests;
mod shred;
mod staff;

use std::path::Path;

use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, AssertSqlSafe, Executor};

pub use api::{ApiKey, NewApiKey, TryOutcome, Webhook, WebhookDelivery};
pub use audit::{AuditCheck, AuditFilter, Event, EventRow};
pub use delivery_files::{DeliveryFile, FileLinks, FileState, NewFile, SealedContent};
pub use desk::{
    Approval, Cursor, DeskDevice, DeskRole, DeskUser, DevicePage, DeviceQuery, DriftSample,
    SyncState,
};
pub use enrolment::Enrolment;
pub use gauges::Gauges;
pub use inventory::{
    Counts, Customer, ImportReport, NewToken, Order, Shipment, ShipmentKey, TokenRow,
};
pub use outbox::OutboxMail;
pub use requests::{NewDraft, OrderMatch, PickedShipment, Request, RequestState, Swept};
pub use shred::{DoneShipment, Shredded};
pub use staff::{Role, Session, Staff};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// `n` bind placeholders numbered from `from`, comma-separated, as this
    /// backend takes them in a statement with many (SQLite `?`, PostgreSQL
    /// `$n`).
    #[must_use]
    pub fn placeholders(self, from: usize, n: usize) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(n * 5);
        for i in from..from + n {
            if i > from {
                out.push_str(", ");
            }
            match self {
                Self::Sqlite => out.push('?'),
                Self::Postgres => {
                    let _ = write!(out, "${i}");
                }
            }
        }
        out
    }
}

/// A store error. Messages name records (serials, numbers), never secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL names no supported database.
    #[error("unsupported database URL (use a file path, sqlite://FILE or postgres://…)")]
    Url,
    /// Something the caller referred to does not exist.
    #[error("{what} {name:?} does not exist")]
    NotFound {
        /// Kind of record.
        what: &'static str,
        /// Its name or number.
        name: String,
    },
    /// A name or number that must be unique is taken.
    #[error("{what} {name:?} already exists")]
    Exists {
        /// Kind of record.
        what: &'static str,
        /// Its name or number.
        name: String,
    },
    /// Serials already in the inventory (an import adds none of its tokens).
    #[error("{} serial(s) already in the inventory: {}", .0.len(), list(.0))]
    DuplicateSerials(Vec<String>),
    /// The audit chain does not verify.
    #[error("the audit log is broken at event {seq}: {why}")]
    AuditBroken {
        /// The first bad event.
        seq: i64,
        /// What is wrong.
        why: String,
    },
    /// The change would break a rule (named in the message).
    #[error("{0}")]
    Refused(String),
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A filesystem problem creating the SQLite file.
    #[error("{0}")]
    Io(String),
}

fn list(serials: &[String]) -> String {
    let shown: Vec<&str> = serials.iter().take(20).map(String::as_str).collect();
    let more = serials.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} … and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    chain: audit::Chain,
}

/// Turns a database setting into a URL: a plain path means a SQLite file.
fn url_for(database: &str) -> Result<(String, Backend), Error> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        return Ok((database.to_owned(), Backend::Postgres));
    }
    let path = database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
        .unwrap_or(database);
    if path.is_empty() || database.contains("://") && !database.starts_with("sqlite://") {
        return Err(Error::Url);
    }
    let file = path.split('?').next().unwrap_or(path);
    if let Some(dir) = Path::new(file).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    // A new database file is private to its owner (WAL files inherit it).
    if !Path::new(file).exists() {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(file)
            .map_err(|e| Error::Io(format!("cannot create {file}: {e}")))?;
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    Ok((format!("sqlite://{path}{sep}mode=rwc"), Backend::Sqlite))
}

/// Opens a database (creating a SQLite file, mode 0600, in WAL mode, if
/// needed) and applies the migrations of its backend. Shared by every
/// component that keeps its own tables (the portal's store, the directory).
pub async fn connect(
    database: &str,
    sqlite: &Migrator,
    postgres: &Migrator,
) -> Result<(AnyPool, Backend), Error> {
    sqlx::any::install_default_drivers();
    let (url, backend) = url_for(database)?;
    let options =
        AnyPoolOptions::new().max_connections(if backend == Backend::Sqlite { 4 } else { 8 });
    let options = if backend == Backend::Sqlite {
        options.after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    // Statement journals of many-row inserts in memory, not
                    // in temporary files.
                    // wal_autocheckpoint: a bulk upload's commits go to the
                    // log without a checkpoint every 4 MB (64 MB here);
                    // destroyed content is checkpointed out at once by
                    // `Store::scrub` regardless.
                    // secure_delete: freed content (a destroyed delivery
                    // file, a deleted draft) is overwritten with zeros,
                    // not left in free pages of the file.
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                     PRAGMA temp_store = MEMORY; PRAGMA secure_delete = ON; PRAGMA wal_autocheckpoint = 16384;",
                )
                .await?;
                Ok(())
            })
        })
    } else {
        options
    };
    let pool = options.connect(&url).await?;
    match backend {
        Backend::Sqlite => sqlite.run(&pool).await?,
        Backend::Postgres => postgres.run(&pool).await?,
    }
    Ok((pool, backend))
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database,
    /// and opens the audit chain's key with the master keyring (making one,
    /// with `rng`, the first time).
    pub async fn open(
        database: &str,
        keys: &Keyring,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, Error> {
        let (pool, backend) = connect(database, &SQLITE, &POSTGRES).await?;
        let mut store = Self {
            pool,
            backend,
            chain: audit::Chain::unkeyed(),
        };
        store.chain = store.key_chain(keys, rng).await?;
        Ok(store)
    }

    /// Leaves no copy of destroyed content behind: on SQLite the
    /// write-ahead log (which still holds the pages as they were) is
    /// checkpointed into the file (where `secure_delete` zeroed them) and
    /// truncated — tried again while readers keep it busy, and an error if
    /// it never completes. On PostgreSQL the tables that held sealed content
    /// are vacuumed (old row versions go; their bytes may stay in free
    /// space, WAL and backups until overwritten — which is why shredding
    /// destroys the key: see `docs/security.md`).
    pub async fn scrub(&self) -> Result<(), Error> {
        match self.backend {
            Backend::Sqlite => {
                for _ in 0..50 {
                    let (busy, log, done): (i64, i64, i64) =
                        sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                            .fetch_one(&self.pool)
                            .await?;
                    if busy == 0 && (log == done || log <= 0) {
                        return Ok(());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(Error::Refused(
                    "the database's write-ahead log could not be checkpointed (readers kept it busy for 5 s); destroyed content may remain in it until the next checkpoint".into(),
                ))
            }
            Backend::Postgres => {
                for table in [
                    "token",
                    "shipment",
                    "delivery_file",
                    "seed_request",
                    "mail_outbox",
                ] {
                    sqlx::query(AssertSqlSafe(format!("VACUUM {table}")))
                        .execute(&self.pool)
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// Starts a transaction that writes. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`, waiting up to the busy timeout): a
    /// deferred transaction that reads first fails with "database is
    /// locked", without waiting, when it comes to write after another
    /// connection wrote (seen as failed steps under concurrent requests).
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, Error> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// The backend in use.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool (for the web layer's own queries in tests).
    #[must_use]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection (the SQLite file is complete on disk after this).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// True when a database error is a unique-constraint violation.
#[must_use]
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        assert_eq!(Backend::Sqlite.placeholders(4, 3), "?, ?, ?");
        assert_eq!(Backend::Postgres.placeholders(4, 3), "$4, $5, $6");
        assert_eq!(Backend::Postgres.placeholders(1, 1), "$1");
        assert_eq!(Backend::Sqlite.placeholders(1, 0), "");
    }
}
