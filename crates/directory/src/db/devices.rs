//! Hardware OATH devices: the inventory, bulk inserts, assignments.

use sqlx::{AssertSqlSafe, Row};

use super::{Backend, Cond, Db, DbError, exists};

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

/// Devices per `INSERT` statement.
const INSERT_CHUNK: usize = 1000;
/// Columns each device binds.
const INSERT_COLUMNS: usize = 13;

impl Db {
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
    /// assignment, drift) if its owner is still `owner_before` (the one read
    /// before the change: `None` for nobody's). False: someone changed the
    /// assignment meanwhile, and nothing was written. The code fields
    /// (`last_counter`, `last_used`) are only ever written by
    /// [`Db::spend_code`].
    pub async fn save_device(
        &self,
        d: &Device,
        owner_before: Option<&str>,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE dir_device SET display_name = $1, manufacturer = $2, model = $3, interval = $4, \
             hash = $5, status = $6, user_id = $7, assigned_at = $8, drift = $9 \
             WHERE id = $10 AND COALESCE(user_id, '') = $11",
        )
        .bind(d.display_name.clone())
        .bind(&d.manufacturer)
        .bind(&d.model)
        .bind(d.interval)
        .bind(&d.hash)
        .bind(&d.status)
        .bind(d.user.as_ref().map(|u| u.0.clone()))
        .bind(d.assigned_at)
        .bind(d.drift)
        .bind(&d.id)
        .bind(owner_before.unwrap_or_default())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Spends a code: writes `d` — whose `last_counter` is the time step of
    /// the code just accepted, with its drift, last use, and the state the
    /// code leads to — only if no code of that step or a later one was
    /// accepted meanwhile and the owner is still `owner_before`. One
    /// conditional `UPDATE`: of two requests racing with one code, exactly
    /// one gets `true`.
    pub async fn spend_code(
        &self,
        d: &Device,
        owner_before: Option<&str>,
    ) -> Result<bool, DbError> {
        let Some(counter) = d.last_counter else {
            return Ok(false);
        };
        let done = sqlx::query(
            "UPDATE dir_device SET display_name = $1, status = $2, user_id = $3, assigned_at = $4, \
             drift = $5, last_counter = $6, last_used = $7 \
             WHERE id = $8 AND COALESCE(user_id, '') = $9 \
             AND (last_counter IS NULL OR last_counter < $6)",
        )
        .bind(d.display_name.clone())
        .bind(&d.status)
        .bind(d.user.as_ref().map(|u| u.0.clone()))
        .bind(d.assigned_at)
        .bind(d.drift)
        .bind(counter)
        .bind(d.last_used)
        .bind(&d.id)
        .bind(owner_before.unwrap_or_default())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a device that is nobody's; false when it is assigned (or gone).
    pub async fn delete_device(&self, id: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM dir_device WHERE id = $1 AND user_id IS NULL")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
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
}
