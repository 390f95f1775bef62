//! The sweep: files past their expiry destroyed, requests left with no
//! file holding content expired, drafts past theirs forgotten.

use serde::Serialize;

use super::{RequestState, move_request};
use crate::audit::Event;
use crate::delivery_files::{FileState, move_file};
use crate::{Error, Store};

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    /// Files destroyed because they expired.
    pub files: u64,
    /// Requests that became `expired`.
    pub requests: u64,
    /// Drafts forgotten.
    pub drafts: u64,
}

impl Store {
    /// Destroys files past their expiry, expires requests left with no
    /// file holding content, and forgets drafts past theirs. Each change
    /// is audited as `actor` from `source`.
    pub async fn sweep_requests(&self, now: i64, actor: &str) -> Result<Swept, Error> {
        let mut swept = Swept::default();
        let files: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT f.id, f.request_id, r.reference FROM delivery_file f \
             JOIN seed_request r ON r.id = f.request_id \
             WHERE f.state IN ('ready', 'downloaded') AND f.expires IS NOT NULL AND f.expires <= $1 \
             ORDER BY f.id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for (file_id, request_id, reference) in files {
            let mut tx = self.begin().await?;
            if move_file(&mut tx, file_id, FileState::Expired, now)
                .await
                .is_err()
            {
                continue; // confirmed or swept by another process meanwhile
            }
            self.chain
                .append(
                    &mut tx,
                    &Event::ok(
                        now,
                        actor,
                        "sweeper",
                        "file.expire",
                        &format!("request:{reference}"),
                    )
                    .with_detail(format!("file {file_id}")),
                )
                .await?;
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) AS n FROM delivery_file WHERE request_id = $1 \
                 AND state IN ('ready', 'downloaded')",
            )
            .bind(request_id)
            .fetch_one(&mut *tx)
            .await?;
            if open == 0
                && move_request(&mut tx, request_id, RequestState::Expired, now)
                    .await
                    .is_ok()
            {
                swept.requests += 1;
                self.chain
                    .append(
                        &mut tx,
                        &Event::ok(
                            now,
                            actor,
                            "sweeper",
                            "request.expire",
                            &format!("request:{reference}"),
                        ),
                    )
                    .await?;
            }
            tx.commit().await?;
            swept.files += 1;
        }
        swept.drafts =
            sqlx::query("DELETE FROM seed_request WHERE state = 'draft' AND expires <= $1")
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        if swept.files + swept.drafts > 0 {
            self.scrub().await?;
        }
        Ok(swept)
    }
}
