//! The tokens' drift histories: measurements added by each sync (and
//! after each code the desk checks), read back per token.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::inventory::{DEVICE_COLUMNS, DeskDevice};
use crate::{Error, Store};

/// A drift measurement: when the code was accepted (Unix seconds), and the
/// drift then (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DriftSample {
    /// When the code was accepted.
    pub at: i64,
    /// Seconds ahead of the clock.
    #[sqlx(rename = "drift_s")]
    pub drift: i64,
}

impl Store {
    /// Adds drift measurements to the tokens' histories.
    pub async fn desk_drift_add(&self, samples: &[(String, DriftSample)]) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        insert_samples(&mut tx, self.backend, samples).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The last use of every token in the copy whose drift is known, by
    /// serial (what the drift history already holds).
    pub async fn desk_last_used(&self) -> Result<std::collections::HashMap<String, String>, Error> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT serial, last_used FROM desk_device WHERE drift_s IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// A token's drift history, oldest first (at most the last 500).
    pub async fn desk_drift_history(&self, serial: &str) -> Result<Vec<DriftSample>, Error> {
        let mut out: Vec<DriftSample> = sqlx::query_as(
            "SELECT at, drift_s FROM desk_drift WHERE serial = $1 ORDER BY at DESC LIMIT 500",
        )
        .bind(serial.to_owned())
        .fetch_all(&self.pool)
        .await?;
        out.reverse();
        Ok(out)
    }

    /// Tokens whose drift is known, the largest (either way) first.
    pub async fn desk_drifting(&self, limit: i64) -> Result<Vec<DeskDevice>, Error> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM desk_device WHERE drift_s IS NOT NULL \
             ORDER BY ABS(drift_s) DESC, serial LIMIT $1"
        )))
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Adds drift measurements (one already there is kept once).
pub(super) async fn insert_samples(
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
