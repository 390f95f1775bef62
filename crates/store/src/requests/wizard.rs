//! The customer's wizard: a draft, its picked shipments, wrong answers
//! (which lock it), protection and format.

use sqlx::{Any, AssertSqlSafe, Transaction};

use super::{NewDraft, REQUEST_COLUMNS, Request, RequestState, move_request};
use crate::audit::Event;
use crate::{Error, Store};

impl Store {
    /// Starts a request in the wizard.
    pub async fn create_draft(&self, d: &NewDraft<'_>, audit: &Event) -> Result<i64, Error> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO seed_request (reference, wizard_hash, order_id, email, source, state, \
             created, updated, expires) VALUES ($1, $2, $3, $4, $5, 'draft', $6, $6, $7) RETURNING id",
        )
        .bind(d.reference)
        .bind(d.wizard_hash)
        .bind(d.order_id)
        .bind(d.email.to_ascii_lowercase())
        .bind(d.source)
        .bind(audit.at)
        .bind(d.expires)
        .fetch_one(&mut *tx)
        .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The draft behind a wizard cookie, while it lasts.
    pub async fn draft(&self, wizard_hash: &str, now: i64) -> Result<Option<Request>, Error> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} WHERE r.wizard_hash = $1 AND r.expires > $2"
        )))
        .bind(wizard_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Replaces a draft's picked shipments and their evidence.
    pub async fn set_picked(
        &self,
        request_id: i64,
        picked: &[(i64, String)],
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        draft_only(&mut tx, request_id).await?;
        sqlx::query("DELETE FROM request_shipment WHERE request_id = $1")
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        for (shipment_id, evidence) in picked {
            sqlx::query(
                "INSERT INTO request_shipment (request_id, shipment_id, evidence) VALUES ($1, $2, $3)",
            )
            .bind(request_id)
            .bind(shipment_id)
            .bind(evidence)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE seed_request SET updated = $1 WHERE id = $2")
            .bind(audit.at)
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts `wrong` answers against a draft; at `limit` or more it is
    /// locked (with `lock_audit`). Returns the total and whether it is now
    /// locked.
    pub async fn count_wrong(
        &self,
        request_id: i64,
        wrong: i64,
        limit: i64,
        audit: &Event,
        lock_audit: &Event,
    ) -> Result<(i64, bool), Error> {
        let mut tx = self.begin().await?;
        draft_only(&mut tx, request_id).await?;
        let total: i64 = sqlx::query_scalar(
            "UPDATE seed_request SET wrong_answers = wrong_answers + $1, updated = $2 \
             WHERE id = $3 RETURNING wrong_answers",
        )
        .bind(wrong)
        .bind(audit.at)
        .bind(request_id)
        .fetch_one(&mut *tx)
        .await?;
        self.chain.append(&mut tx, audit).await?;
        let locked = total >= limit;
        if locked {
            move_request(&mut tx, request_id, RequestState::Locked, audit.at).await?;
            sqlx::query(
                "UPDATE seed_request SET wizard_hash = NULL, password_sealed = NULL WHERE id = $1",
            )
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
            self.chain.append(&mut tx, lock_audit).await?;
        }
        tx.commit().await?;
        Ok((total, locked))
    }

    /// Records a draft's protection: split, mode, the wizard's sealed
    /// password (or none), the customer's OpenPGP key and its fingerprint.
    #[allow(clippy::too_many_arguments, reason = "one column each")]
    pub async fn set_protection(
        &self,
        request_id: i64,
        split: &str,
        protection: &str,
        password_sealed: Option<&[u8]>,
        pgp_key: Option<&str>,
        pgp_fingerprint: Option<&str>,
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        draft_only(&mut tx, request_id).await?;
        sqlx::query(
            "UPDATE seed_request SET split = $1, protection = $2, password_sealed = $3, \
             pgp_key = $4, pgp_fingerprint = $5, updated = $6 WHERE id = $7",
        )
        .bind(split)
        .bind(protection)
        .bind(password_sealed)
        .bind(pgp_key)
        .bind(pgp_fingerprint)
        .bind(audit.at)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The draft's sealed password, if one was given.
    pub async fn draft_password(&self, request_id: i64) -> Result<Option<Vec<u8>>, Error> {
        Ok(sqlx::query_scalar::<_, Option<Vec<u8>>>(
            "SELECT password_sealed FROM seed_request WHERE id = $1 AND state = 'draft'",
        )
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    /// Records a draft's format and its options (JSON).
    pub async fn set_format(
        &self,
        request_id: i64,
        format: &str,
        options: &str,
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        draft_only(&mut tx, request_id).await?;
        sqlx::query(
            "UPDATE seed_request SET format = $1, format_options = $2, updated = $3 WHERE id = $4",
        )
        .bind(format)
        .bind(options)
        .bind(audit.at)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Refuses a change to a request that is no longer a draft.
async fn draft_only(tx: &mut Transaction<'_, Any>, request_id: i64) -> Result<(), Error> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM seed_request WHERE id = $1")
        .bind(request_id)
        .fetch_optional(&mut **tx)
        .await?;
    match state.as_deref() {
        Some("draft") => Ok(()),
        Some(s) => Err(Error::Refused(format!(
            "the request is {s}, no longer a draft"
        ))),
        None => Err(Error::NotFound {
            what: "request",
            name: request_id.to_string(),
        }),
    }
}
