//! Enrolment links: a staff member sets their own password and
//! authenticator through a one-time link (only its SHA-256 is kept). An
//! administrator's reset takes the old credentials away at once; the link
//! is mailed in the same transaction.

use crate::audit::Event;
use crate::staff::Staff;
use crate::{Error, Store};

/// An open enrolment link.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Row id.
    pub id: i64,
    /// The account it enrols.
    pub staff: Staff,
    /// When the link stops working.
    pub expires: i64,
    /// The authenticator secret offered on the page, sealed (once shown).
    pub pending_sealed: Option<Vec<u8>>,
}

impl Store {
    /// Opens an enrolment link for `staff_id` (replacing any older one).
    /// With `reset`, the account's password and authenticator stop working
    /// and its sessions end now. `mail` (sealed) is queued in the same
    /// transaction.
    pub async fn start_enrolment(
        &self,
        staff_id: i64,
        token_hash: &str,
        expires: i64,
        reset: bool,
        mail: &[Vec<u8>],
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        if reset {
            sqlx::query(
                "UPDATE staff SET password_hash = '!', totp_sealed = NULL, totp_last_counter = NULL, \
                 failed_signins = 0, locked_until = 0 WHERE id = $1",
            )
            .bind(staff_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM session WHERE staff_id = $1")
                .bind(staff_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM staff_enrolment WHERE staff_id = $1")
            .bind(staff_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO staff_enrolment (token_hash, staff_id, expires, created) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(staff_id)
        .bind(expires)
        .bind(audit.at)
        .execute(&mut *tx)
        .await?;
        crate::outbox::queue_mail(&mut tx, mail, audit.at).await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The open enrolment behind a link's hash, if it has not expired.
    pub async fn enrolment(&self, token_hash: &str, now: i64) -> Result<Option<Enrolment>, Error> {
        let row: Option<(i64, i64, i64, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT id, staff_id, expires, pending_sealed FROM staff_enrolment \
             WHERE token_hash = $1 AND expires > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, staff_id, expires, pending_sealed)) = row else {
            return Ok(None);
        };
        let staff = self.staff_by_id(staff_id).await?;
        Ok(staff.map(|staff| Enrolment {
            id,
            staff,
            expires,
            pending_sealed,
        }))
    }

    /// Keeps the authenticator secret the page offered (sealed), once.
    pub async fn offer_enrolment_secret(&self, id: i64, sealed: &[u8]) -> Result<(), Error> {
        sqlx::query(
            "UPDATE staff_enrolment SET pending_sealed = $1 WHERE id = $2 AND pending_sealed IS NULL",
        )
        .bind(sealed)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Finishes an enrolment: the new password hash and authenticator
    /// (its first code's counter spent), the link gone, the lock lifted.
    /// Refused if the link was used or expired meanwhile.
    pub async fn finish_enrolment(
        &self,
        id: i64,
        password_hash: &str,
        totp_sealed: &[u8],
        counter: i64,
        now: i64,
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        // Taking the link is the guard: of two finishes at once, only the
        // one whose DELETE removed the row goes on (on PostgreSQL the other
        // waits for the first and then deletes nothing).
        let staff: Option<(i64,)> = sqlx::query_as(
            "DELETE FROM staff_enrolment WHERE id = $1 AND expires > $2 RETURNING staff_id",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((staff_id,)) = staff else {
            return Err(Error::Refused(
                "this enrolment link was used or has expired".into(),
            ));
        };
        sqlx::query(
            "UPDATE staff SET password_hash = $1, totp_sealed = $2, totp_last_counter = $3, \
             failed_signins = 0, locked_until = 0 WHERE id = $4",
        )
        .bind(password_hash)
        .bind(totp_sealed)
        .bind(counter)
        .bind(staff_id)
        .execute(&mut *tx)
        .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
