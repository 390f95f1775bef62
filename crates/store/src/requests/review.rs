//! Submission and the review: a draft submitted with its built files,
//! approved (links made) or rejected (files withdrawn), then delivered.

use super::{RequestState, move_request};
use crate::audit::Event;
use crate::delivery_files::{FileLinks, FileState, NewFile, move_file};
use crate::outbox::queue_mail;
use crate::{Error, Store};

impl Store {
    /// Submits a draft with its built files, in one transaction: the files
    /// are stored, the wizard cookie and the sealed password are dropped
    /// (only `password_hash`, for the download page, remains), mail is
    /// queued.
    pub async fn submit(
        &self,
        request_id: i64,
        password_hash: Option<&str>,
        files: &[NewFile],
        mail: &[Vec<u8>],
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        move_request(&mut tx, request_id, RequestState::Submitted, audit.at).await?;
        sqlx::query(
            "UPDATE seed_request SET wizard_hash = NULL, password_sealed = NULL, \
             password_hash = $1, submitted = $2 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(audit.at)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
        for f in files {
            sqlx::query(
                "INSERT INTO delivery_file (request_id, shipments, name, tokens, content_sealed, \
                 key_wrapped, master_key_id, sha256, size, state, created) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'ready', $10)",
            )
            .bind(request_id)
            .bind(f.shipments.join(", "))
            .bind(&f.name)
            .bind(f.tokens)
            .bind(f.content_sealed.as_slice())
            .bind(f.key_wrapped.as_slice())
            .bind(&f.master_key_id)
            .bind(&f.sha256)
            .bind(f.size)
            .bind(audit.at)
            .execute(&mut *tx)
            .await?;
        }
        queue_mail(&mut tx, mail, audit.at).await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Approves a submitted request: each file gets its link hashes and
    /// expiry, the mail (sealed by the caller) is queued.
    pub async fn approve(
        &self,
        request_id: i64,
        reviewer: &str,
        links: &[FileLinks],
        expires: i64,
        mail: &[Vec<u8>],
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        move_request(&mut tx, request_id, RequestState::Approved, audit.at).await?;
        sqlx::query("UPDATE seed_request SET reviewer = $1, decided = $2 WHERE id = $3")
            .bind(reviewer)
            .bind(audit.at)
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        for l in links {
            let done = sqlx::query(
                "UPDATE delivery_file SET download_hash = $1, confirm_hash = $2, expires = $3 \
                 WHERE id = $4 AND request_id = $5 AND state = 'ready'",
            )
            .bind(&l.download_hash)
            .bind(&l.confirm_hash)
            .bind(expires)
            .bind(l.file_id)
            .bind(request_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done != 1 {
                return Err(Error::Refused(format!(
                    "file {} is not a ready file of this request",
                    l.file_id
                )));
            }
        }
        queue_mail(&mut tx, mail, audit.at).await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rejects a submitted request with a reason: its files are destroyed,
    /// the mail is queued.
    pub async fn reject(
        &self,
        request_id: i64,
        reviewer: &str,
        reason: &str,
        mail: &[Vec<u8>],
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        move_request(&mut tx, request_id, RequestState::Rejected, audit.at).await?;
        sqlx::query(
            "UPDATE seed_request SET reviewer = $1, decided = $2, reason = $3 WHERE id = $4",
        )
        .bind(reviewer)
        .bind(audit.at)
        .bind(reason)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM delivery_file WHERE request_id = $1 AND state IN ('ready', 'downloaded')",
        )
        .bind(request_id)
        .fetch_all(&mut *tx)
        .await?;
        for id in ids {
            move_file(&mut tx, id, FileState::Withdrawn, audit.at).await?;
        }
        queue_mail(&mut tx, mail, audit.at).await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        self.scrub().await?;
        Ok(())
    }

    /// Marks an approved request delivered (its link mail went out).
    pub async fn mark_delivered(&self, request_id: i64, audit: &Event) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        move_request(&mut tx, request_id, RequestState::Delivered, audit.at).await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
