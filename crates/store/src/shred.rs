//! Crypto-shredding: a shipment's data key and every sealed seed under it
//! destroyed for good (the serials and models stay, so the inventory and
//! the audit still say what was delivered), by hand or by the retention
//! rule once its deliveries are done.

use crate::audit::Event;
use crate::{Error, Store};

/// A shipment whose deliveries are done.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DoneShipment {
    /// Its number.
    pub number: String,
    /// When its last file was confirmed or expired (Unix seconds).
    pub done_at: i64,
}

/// What a shred destroyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shredded {
    /// Sealed seeds destroyed.
    pub seeds: u64,
}

impl Store {
    /// Destroys shipment `number`'s data key and sealed seeds in one
    /// transaction (recording `shredded_at` and `reason`), then scrubs the
    /// database file so no copy stays in the write-ahead log. A shipment
    /// already shredded is refused.
    pub async fn shred_shipment(
        &self,
        number: &str,
        reason: &str,
        audit: &Event,
    ) -> Result<Shredded, Error> {
        let mut tx = self.begin().await?;
        let row: Option<(i64, Option<i64>)> =
            sqlx::query_as("SELECT id, shredded_at FROM shipment WHERE number = $1")
                .bind(number)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((id, shredded)) = row else {
            return Err(Error::NotFound {
                what: "shipment",
                name: number.to_owned(),
            });
        };
        if let Some(at) = shredded {
            return Err(Error::Refused(format!(
                "the seeds of shipment {number} were already shredded (at {at})"
            )));
        }
        let empty: Vec<u8> = Vec::new();
        let seeds = sqlx::query("UPDATE token SET sealed = $1 WHERE shipment_id = $2")
            .bind(empty.clone())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE shipment SET wrapped_key = $1, master_key_id = '', shredded_at = $2, \
             shred_reason = $3 WHERE id = $4",
        )
        .bind(empty)
        .bind(audit.at)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        self.scrub().await?;
        Ok(Shredded { seeds })
    }

    /// Shipments not yet shredded whose deliveries are done — at least one
    /// file covering them was confirmed or expired, and none is still
    /// waiting to be downloaded or confirmed — with when the last was done.
    pub async fn shipments_delivered(&self) -> Result<Vec<DoneShipment>, Error> {
        Ok(sqlx::query_as(
            "SELECT s.number, MAX(COALESCE(f.destroyed, f.expires, 0)) AS done_at \
             FROM shipment s \
             JOIN request_shipment rs ON rs.shipment_id = s.id \
             JOIN delivery_file f ON f.request_id = rs.request_id \
             WHERE s.shredded_at IS NULL AND f.state IN ('confirmed', 'expired') \
             AND NOT EXISTS (SELECT 1 FROM request_shipment rs2 \
                 JOIN delivery_file f2 ON f2.request_id = rs2.request_id \
                 WHERE rs2.shipment_id = s.id AND f2.state IN ('ready', 'downloaded')) \
             GROUP BY s.number ORDER BY s.number",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// When shipment `number`'s seeds were shredded, if they were.
    pub async fn shredded_at(&self, number: &str) -> Result<Option<i64>, Error> {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT shredded_at FROM shipment WHERE number = $1")
                .bind(number)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(at,)| at))
    }
}
