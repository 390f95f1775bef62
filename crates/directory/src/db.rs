//! The directory's tables: tenants, users, app registrations, hardware
//! OATH devices (secrets sealed under the master key) and the token
//! signing key. SQLite by default, PostgreSQL when configured; the same
//! queries on both (`$n` placeholders through sqlx's Any driver).

use std::fmt::Write as _;
use std::sync::Arc;

use sqlx::migrate::Migrator;
use sqlx::{AnyPool, AssertSqlSafe, Row};

pub use credentials::AppCertificate;
pub use oathvault_store::Backend;

mod credentials;

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

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// GUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its verified domain (`contoso.example`).
    pub domain: String,
}

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
    /// Granted application permissions.
    pub permissions: Vec<String>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

/// A hardware OATH device as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    /// GUID (also the user method's id).
    pub id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Serial number.
    pub serial: String,
    /// Optional name.
    pub display_name: Option<String>,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// The secret, sealed under the master key (purpose: the device id).
    pub sealed: Vec<u8>,
    /// 30 or 60.
    pub interval: i64,
    /// `hmacsha1` or `hmacsha256`.
    pub hash: String,
    /// `available`, `assigned`, `activated`, `failedActivation`.
    pub status: String,
    /// The user it is assigned to: (object id, display name).
    pub user: Option<(String, String)>,
    /// When it was assigned (the user method's `createdDateTime`).
    pub assigned_at: Option<i64>,
    /// Last accepted code.
    pub last_used: Option<i64>,
    /// Measured drift in time steps.
    pub drift: i64,
    /// The last accepted time step (no code twice).
    pub last_counter: Option<i64>,
    /// When created.
    pub created: i64,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("serial", &self.serial)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// A device-code grant (OAuth 2.0 device authorization, RFC 8628).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodeGrant {
    /// The code the user types on the page.
    pub user_code: String,
    /// Tenant id.
    pub tenant_id: String,
    /// The app asking.
    pub client_id: String,
    /// The scopes asked for (space-separated).
    pub scope: String,
    /// `pending`, `approved`, `declined`, `redeemed`.
    pub status: String,
    /// Who approved it.
    pub user_id: Option<String>,
    /// When it ends.
    pub expires: i64,
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

const DEVICE_COLUMNS: &str = "d.id, d.tenant_id, d.serial, d.display_name, d.manufacturer, d.model, \
     d.secret_sealed, d.interval, d.hash, d.status, d.user_id, u.display_name AS user_name, \
     d.assigned_at, d.last_used, d.drift, d.last_counter, d.created";

fn device_row(r: &sqlx::any::AnyRow) -> Result<Device, sqlx::Error> {
    let user_id: Option<String> = r.try_get("user_id")?;
    let user_name: Option<String> = r.try_get("user_name")?;
    Ok(Device {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        serial: r.try_get("serial")?,
        display_name: r.try_get("display_name")?,
        manufacturer: r.try_get("manufacturer")?,
        model: r.try_get("model")?,
        sealed: r.try_get("secret_sealed")?,
        interval: r.try_get("interval")?,
        hash: r.try_get("hash")?,
        status: r.try_get("status")?,
        user: user_id.map(|id| (id, user_name.unwrap_or_default())),
        assigned_at: r.try_get("assigned_at")?,
        last_used: r.try_get("last_used")?,
        drift: r.try_get("drift")?,
        last_counter: r.try_get("last_counter")?,
        created: r.try_get("created")?,
    })
}

fn user_row(r: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
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

/// Devices per `INSERT` statement.
const INSERT_CHUNK: usize = 1000;
/// Columns each device binds.
const INSERT_COLUMNS: usize = 13;

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
        let row =
            sqlx::query("SELECT id, name, domain FROM dir_tenant WHERE id = $1 OR domain = $2")
                .bind(id_or_domain.to_ascii_lowercase())
                .bind(id_or_domain.to_ascii_lowercase())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row
            .map(|r| -> Result<Tenant, sqlx::Error> {
                Ok(Tenant {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    domain: r.try_get("domain")?,
                })
            })
            .transpose()?)
    }

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

    /// How many OATH methods (assigned devices) a user has.
    pub async fn methods_of(&self, user_id: &str) -> Result<i64, DbError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM dir_device WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// Adds an app registration.
    pub async fn add_app(&self, a: &App, now: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_app (client_id, tenant_id, name, secret_hash, permissions, created) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.client_id)
        .bind(&a.tenant_id)
        .bind(&a.name)
        .bind(&a.secret_hash)
        .bind(a.permissions.join(" "))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| exists(e, "app", &a.client_id))?;
        Ok(())
    }

    /// An app registration by client id.
    pub async fn app(&self, client_id: &str) -> Result<Option<App>, DbError> {
        let row = sqlx::query(
            "SELECT client_id, tenant_id, name, secret_hash, permissions FROM dir_app WHERE client_id = $1",
        )
        .bind(client_id.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<App, sqlx::Error> {
                let perms: String = r.try_get("permissions")?;
                Ok(App {
                    client_id: r.try_get("client_id")?,
                    tenant_id: r.try_get("tenant_id")?,
                    name: r.try_get("name")?,
                    secret_hash: r.try_get("secret_hash")?,
                    permissions: perms.split_whitespace().map(str::to_owned).collect(),
                })
            })
            .transpose()?)
    }

    /// Inserts devices, all or none; a serial already in the tenant refuses
    /// the whole set (naming it).
    pub async fn insert_devices(&self, devices: &[Device]) -> Result<(), DbError> {
        // Many rows a statement: one round trip to the database per chunk.
        let _writer = match self.backend {
            Backend::Sqlite => Some(self.bulk_writer.lock().await),
            Backend::Postgres => None,
        };
        let mut tx = self.begin().await?;
        for chunk in devices.chunks(INSERT_CHUNK) {
            let sql = if chunk.len() == INSERT_CHUNK {
                self.insert_full_chunk
                    .get_or_init(|| self.insert_sql(INSERT_CHUNK))
                    .clone()
            } else {
                self.insert_sql(chunk.len())
            };
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for d in chunk {
                q = q
                    .bind(&d.id)
                    .bind(&d.tenant_id)
                    .bind(&d.serial)
                    .bind(d.display_name.clone())
                    .bind(&d.manufacturer)
                    .bind(&d.model)
                    .bind(d.sealed.clone())
                    .bind(d.interval)
                    .bind(&d.hash)
                    .bind(&d.status)
                    .bind(d.user.as_ref().map(|u| u.0.clone()))
                    .bind(d.assigned_at)
                    .bind(d.created);
            }
            if let Err(e) = q.execute(&mut *tx).await {
                drop(tx);
                // Name a serial that is taken (one statement holds many).
                if oathvault_store::is_unique_violation(&e) {
                    for d in chunk {
                        if self
                            .device_by_serial(&d.tenant_id, &d.serial)
                            .await?
                            .is_some()
                        {
                            return Err(exists(
                                e,
                                "hardware OATH token with serial number",
                                &d.serial,
                            ));
                        }
                    }
                }
                return Err(DbError::Db(e));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    fn insert_sql(&self, rows: usize) -> String {
        let mut sql = String::from(
            "INSERT INTO dir_device (id, tenant_id, serial, display_name, manufacturer, model, \
             secret_sealed, interval, hash, status, user_id, assigned_at, created) VALUES ",
        );
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(
                &self
                    .backend
                    .placeholders(i * INSERT_COLUMNS + 1, INSERT_COLUMNS),
            );
            sql.push(')');
        }
        sql
    }

    /// A device of `tenant` by id.
    pub async fn device(&self, tenant: &str, id: &str) -> Result<Option<Device>, DbError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM dir_device d LEFT JOIN dir_user u ON u.id = d.user_id \
             WHERE d.tenant_id = $1 AND d.id = $2"
        )))
        .bind(tenant.to_owned())
        .bind(id.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(device_row).transpose()?)
    }

    /// A device of `tenant` by serial number.
    pub async fn device_by_serial(
        &self,
        tenant: &str,
        serial: &str,
    ) -> Result<Option<Device>, DbError> {
        let found = self
            .devices(
                tenant,
                &[Cond::Text("d.serial", serial.to_owned())],
                None,
                1,
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// Devices of `tenant` in serial order after `after`, matching `conds`
    /// (columns prefixed `d.`), at most `limit`.
    pub async fn devices(
        &self,
        tenant: &str,
        conds: &[Cond],
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Device>, DbError> {
        let mut sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM dir_device d LEFT JOIN dir_user u ON u.id = d.user_id \
             WHERE d.tenant_id = $1"
        );
        let rows = self
            .filtered(&mut sql, tenant, conds, after, "d.serial", limit)
            .await?;
        Ok(rows.iter().map(device_row).collect::<Result<_, _>>()?)
    }

    /// Writes a device's changeable fields (names, model data, state,
    /// assignment, drift, last use).
    pub async fn save_device(&self, d: &Device) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE dir_device SET display_name = $1, manufacturer = $2, model = $3, interval = $4, \
             hash = $5, status = $6, user_id = $7, assigned_at = $8, last_used = $9, drift = $10, \
             last_counter = $11 WHERE id = $12",
        )
        .bind(d.display_name.clone())
        .bind(&d.manufacturer)
        .bind(&d.model)
        .bind(d.interval)
        .bind(&d.hash)
        .bind(&d.status)
        .bind(d.user.as_ref().map(|u| u.0.clone()))
        .bind(d.assigned_at)
        .bind(d.last_used)
        .bind(d.drift)
        .bind(d.last_counter)
        .bind(&d.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a device.
    pub async fn delete_device(&self, id: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM dir_device WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts a people's session (only the hash of its cookie is stored).
    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: &str,
        stage: &str,
        expires: i64,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_session (id_hash, user_id, stage, expires, created) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(stage)
        .bind(expires)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this hash: its user and stage.
    pub async fn session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<(User, String)>, DbError> {
        let row = sqlx::query(
            "SELECT u.id, u.tenant_id, u.upn, u.display_name, u.password_hash, u.roles, s.stage \
             FROM dir_session s JOIN dir_user u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<(User, String), sqlx::Error> {
                Ok((user_row(&r)?, r.try_get("stage")?))
            })
            .transpose()?)
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM dir_session WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Devices assigned to a user.
    pub async fn devices_of(&self, tenant: &str, user_id: &str) -> Result<Vec<Device>, DbError> {
        self.devices(
            tenant,
            &[Cond::Text("d.user_id", user_id.to_owned())],
            None,
            100,
        )
        .await
    }

    /// Stores a device-code grant (the device code only as a hash).
    pub async fn add_device_code(
        &self,
        g: &DeviceCodeGrant,
        device_code_hash: &str,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_device_code (device_code_hash, user_code, tenant_id, client_id, scope, status, expires, created) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
        )
        .bind(device_code_hash)
        .bind(&g.user_code)
        .bind(&g.tenant_id)
        .bind(&g.client_id)
        .bind(&g.scope)
        .bind(g.expires)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A device-code grant by its device code hash or by its user code.
    pub async fn device_code(
        &self,
        device_code_hash: Option<&str>,
        user_code: Option<&str>,
    ) -> Result<Option<DeviceCodeGrant>, DbError> {
        let row = sqlx::query(
            "SELECT user_code, tenant_id, client_id, scope, status, user_id, expires FROM dir_device_code \
             WHERE device_code_hash = $1 OR user_code = $2",
        )
        .bind(device_code_hash.unwrap_or(""))
        .bind(user_code.unwrap_or("").to_ascii_uppercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<DeviceCodeGrant, sqlx::Error> {
                Ok(DeviceCodeGrant {
                    user_code: r.try_get("user_code")?,
                    tenant_id: r.try_get("tenant_id")?,
                    client_id: r.try_get("client_id")?,
                    scope: r.try_get("scope")?,
                    status: r.try_get("status")?,
                    user_id: r.try_get("user_id")?,
                    expires: r.try_get("expires")?,
                })
            })
            .transpose()?)
    }

    /// Moves a grant on: `approved`/`declined` (by the user) or `redeemed`;
    /// only from `pending` (approve, decline) or `approved` (redeem).
    pub async fn set_device_code(
        &self,
        user_code: &str,
        status: &str,
        user_id: Option<&str>,
    ) -> Result<bool, DbError> {
        let from = if status == "redeemed" {
            "approved"
        } else {
            "pending"
        };
        let done = sqlx::query(
            "UPDATE dir_device_code SET status = $1, user_id = COALESCE($2, user_id) WHERE user_code = $3 AND status = $4",
        )
        .bind(status)
        .bind(user_id.map(str::to_owned))
        .bind(user_code)
        .bind(from)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a refresh token (as a hash).
    pub async fn add_refresh(
        &self,
        token_hash: &str,
        user_id: &str,
        client_id: &str,
        scope: &str,
        expires: i64,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_refresh (token_hash, user_id, client_id, scope, expires, created) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(expires)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Redeems a refresh token (it is removed: each is used once): its
    /// user id, client id and scope.
    pub async fn take_refresh(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(String, String, String)>, DbError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT user_id, client_id, scope FROM dir_refresh WHERE token_hash = $1 AND expires > $2")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM dir_refresh WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row
            .map(|r| -> Result<(String, String, String), sqlx::Error> {
                Ok((
                    r.try_get("user_id")?,
                    r.try_get("client_id")?,
                    r.try_get("scope")?,
                ))
            })
            .transpose()?)
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

    /// Counts a wrong password or code; after `lock_after` in a row the
    /// user is locked until `now + lock_for`. Returns the lock end (0: none).
    pub async fn signin_failed(
        &self,
        user_id: &str,
        now: i64,
        lock_after: i64,
        lock_for: i64,
    ) -> Result<i64, DbError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE dir_user SET failed_signins = failed_signins + 1 WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let failed: i64 = sqlx::query("SELECT failed_signins FROM dir_user WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("failed_signins")?;
        let until = if failed >= lock_after {
            now + lock_for
        } else {
            0
        };
        if until > 0 {
            sqlx::query("UPDATE dir_user SET failed_signins = 0, locked_until = $1 WHERE id = $2")
                .bind(until)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(until)
    }

    /// A good sign-in: the count of wrong ones starts again.
    pub async fn signin_succeeded(&self, user_id: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE dir_user SET failed_signins = 0 WHERE id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Until when the user is locked (0 or past: not locked).
    pub async fn locked_until(&self, user_id: &str) -> Result<i64, DbError> {
        Ok(
            sqlx::query("SELECT locked_until FROM dir_user WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("locked_until"))
                .transpose()?
                .unwrap_or(0),
        )
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

    /// The sealed signing key, if one was made.
    pub async fn signing_key(&self) -> Result<Option<Vec<u8>>, DbError> {
        let row = sqlx::query("SELECT sealed FROM dir_signing_key ORDER BY created DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("sealed")).transpose()?)
    }

    /// Stores a sealed signing key.
    pub async fn add_signing_key(&self, kid: &str, sealed: &[u8], now: i64) -> Result<(), DbError> {
        sqlx::query("INSERT INTO dir_signing_key (kid, sealed, created) VALUES ($1, $2, $3)")
            .bind(kid)
            .bind(sealed.to_vec())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
