//! Delivery files: built and sealed at submission, linked at approval,
//! downloaded, and destroyed (content and key set to `NULL`) when
//! confirmed, expired or withdrawn.

use serde::Serialize;
use sqlx::{Any, AssertSqlSafe, Transaction};

use crate::audit::Event;
use crate::outbox::queue_mail;
use crate::requests::{RequestState, move_request, quoted};
use crate::{Error, Store};

/// Where a delivery file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileState {
    /// Built and sealed; downloadable once approved.
    Ready,
    /// Downloaded at least once.
    Downloaded,
    /// The customer confirmed it: destroyed.
    Confirmed,
    /// Not confirmed in time: destroyed.
    Expired,
    /// The request was rejected: destroyed.
    Withdrawn,
}

impl FileState {
    /// Every state.
    pub const ALL: [Self; 5] = [
        Self::Ready,
        Self::Downloaded,
        Self::Confirmed,
        Self::Expired,
        Self::Withdrawn,
    ];

    /// The stored word.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Downloaded => "downloaded",
            Self::Confirmed => "confirmed",
            Self::Expired => "expired",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Reads a stored word.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The only moves a file can make.
    #[must_use]
    pub fn can_become(self, next: Self) -> bool {
        use FileState::{Confirmed, Downloaded, Expired, Ready, Withdrawn};
        matches!(
            (self, next),
            (Ready, Downloaded | Confirmed | Expired | Withdrawn)
                | (Downloaded, Downloaded | Confirmed | Expired)
        )
    }

    /// Whether content and key still exist.
    #[must_use]
    pub fn holds_content(self) -> bool {
        matches!(self, Self::Ready | Self::Downloaded)
    }
}

/// Reads a stored word (for `#[sqlx(try_from = "String")]`).
impl TryFrom<String> for FileState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| format!("unknown file state {s:?}"))
    }
}

/// A file to store at submission.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Shipment numbers covered.
    pub shipments: Vec<String>,
    /// File name.
    pub name: String,
    /// Tokens in it.
    pub tokens: i64,
    /// Content sealed under `key_wrapped`'s data key.
    pub content_sealed: Vec<u8>,
    /// The data key, wrapped by the master key.
    pub key_wrapped: Vec<u8>,
    /// Which master key.
    pub master_key_id: String,
    /// SHA-256 of the (unsealed) content, hex.
    pub sha256: String,
    /// Bytes.
    pub size: i64,
}

/// A delivery file (content not read here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DeliveryFile {
    /// Row id.
    pub id: i64,
    /// Its request.
    pub request_id: i64,
    /// The request's reference.
    pub reference: String,
    /// Shipment numbers covered.
    pub shipments: String,
    /// File name.
    pub name: String,
    /// Tokens.
    pub tokens: i64,
    /// SHA-256, hex.
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// State.
    #[sqlx(try_from = "String")]
    pub state: FileState,
    /// Downloads so far.
    pub downloads: i64,
    /// When it expires (set at approval).
    pub expires: Option<i64>,
    /// Built.
    pub created: i64,
    /// When content and key were destroyed.
    pub destroyed: Option<i64>,
    /// Whether the request has a download password.
    pub password_hash: Option<String>,
}

/// A file's sealed content and wrapped key.
#[derive(Clone)]
pub struct SealedContent {
    /// Content sealed under the data key.
    pub content_sealed: Vec<u8>,
    /// The data key wrapped by the master key.
    pub key_wrapped: Vec<u8>,
    /// Which master key.
    pub master_key_id: String,
}

impl std::fmt::Debug for SealedContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedContent")
            .field("bytes", &self.content_sealed.len())
            .finish_non_exhaustive()
    }
}

/// Links made for a file at approval (hashes only).
#[derive(Debug, Clone)]
pub struct FileLinks {
    /// The file.
    pub file_id: i64,
    /// SHA-256 of the download token.
    pub download_hash: String,
    /// SHA-256 of the confirmation token.
    pub confirm_hash: String,
}

const FILE_COLUMNS: &str = "f.id, f.request_id, r.reference, f.shipments, f.name, f.tokens, \
    f.sha256, f.size, f.state, f.downloads, f.expires, f.created, f.destroyed, r.password_hash \
    FROM delivery_file f JOIN seed_request r ON r.id = f.request_id";

/// Moves file `id` to `to` (the only place a file's state is written);
/// a file that leaves the states holding content loses content and key.
pub(crate) async fn move_file(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    to: FileState,
    now: i64,
) -> Result<(), Error> {
    let from: Vec<&str> = FileState::ALL
        .into_iter()
        .filter(|s| s.can_become(to))
        .map(FileState::as_str)
        .collect();
    let from = quoted(&from);
    let query = if to.holds_content() {
        // Ready → downloaded (again): counted.
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE delivery_file SET state = $1, downloads = downloads + 1 \
             WHERE id = $2 AND state IN ({from})"
        )))
        .bind(to.as_str())
        .bind(id)
    } else {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE delivery_file SET state = $1, content_sealed = NULL, key_wrapped = NULL, \
             destroyed = $2 WHERE id = $3 AND state IN ({from})"
        )))
        .bind(to.as_str())
        .bind(now)
        .bind(id)
    };
    let done = query.execute(&mut **tx).await?.rows_affected();
    if done == 1 {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "the file cannot become {} now",
            to.as_str()
        )))
    }
}

impl Store {
    /// The files of a request, in the order they were built.
    pub async fn files_of(&self, request_id: i64) -> Result<Vec<DeliveryFile>, Error> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS} WHERE f.request_id = $1 ORDER BY f.id"
        )))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The file a download link names (by the token's hash), if any.
    pub async fn file_by_download(&self, hash: &str) -> Result<Option<DeliveryFile>, Error> {
        self.file_where("f.download_hash = $1", hash).await
    }

    /// The file a confirmation link names (by the token's hash), if any.
    pub async fn file_by_confirm(&self, hash: &str) -> Result<Option<DeliveryFile>, Error> {
        self.file_where("f.confirm_hash = $1", hash).await
    }

    async fn file_where(&self, cond: &str, hash: &str) -> Result<Option<DeliveryFile>, Error> {
        Ok(
            sqlx::query_as(AssertSqlSafe(format!("SELECT {FILE_COLUMNS} WHERE {cond}")))
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Counts a download and hands out the sealed content, in one
    /// transaction (a file already destroyed gives `Refused`).
    pub async fn download(&self, file_id: i64, audit: &Event) -> Result<SealedContent, Error> {
        let mut tx = self.begin().await?;
        let (content, key, master_key_id, state): (
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            String,
            String,
        ) = sqlx::query_as(
            "SELECT f.content_sealed, f.key_wrapped, f.master_key_id, r.state \
                 FROM delivery_file f JOIN seed_request r ON r.id = f.request_id WHERE f.id = $1",
        )
        .bind(file_id)
        .fetch_one(&mut *tx)
        .await?;
        if !matches!(state.as_str(), "approved" | "delivered") {
            return Err(Error::Refused(format!("the request is {state}")));
        }
        let (Some(content_sealed), Some(key_wrapped)) = (content, key) else {
            return Err(Error::Refused("the file no longer exists".into()));
        };
        move_file(&mut tx, file_id, FileState::Downloaded, audit.at).await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(SealedContent {
            content_sealed,
            key_wrapped,
            master_key_id,
        })
    }

    /// Confirms a file: content and key destroyed at once; when it was the
    /// request's last file holding content, the request is confirmed.
    /// Mail (sealed by the caller) is queued.
    pub async fn confirm(
        &self,
        file_id: i64,
        mail: &[Vec<u8>],
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        let request_id: i64 =
            sqlx::query_scalar("SELECT request_id FROM delivery_file WHERE id = $1")
                .bind(file_id)
                .fetch_one(&mut *tx)
                .await?;
        let state: String = sqlx::query_scalar("SELECT state FROM seed_request WHERE id = $1")
            .bind(request_id)
            .fetch_one(&mut *tx)
            .await?;
        if !matches!(state.as_str(), "approved" | "delivered") {
            return Err(Error::Refused(format!("the request is {state}")));
        }
        move_file(&mut tx, file_id, FileState::Confirmed, audit.at).await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) AS n FROM delivery_file WHERE request_id = $1 \
             AND state IN ('ready', 'downloaded')",
        )
        .bind(request_id)
        .fetch_one(&mut *tx)
        .await?;
        if open == 0 {
            if state == "approved" {
                move_request(&mut tx, request_id, RequestState::Delivered, audit.at).await?;
            }
            move_request(&mut tx, request_id, RequestState::Confirmed, audit.at).await?;
        }
        queue_mail(&mut tx, mail, audit.at).await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        self.scrub().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_lose_content_when_they_leave_ready_or_downloaded() {
        use FileState::*;
        assert!(Ready.can_become(Downloaded) && Downloaded.can_become(Downloaded));
        assert!(Ready.can_become(Confirmed) && Downloaded.can_become(Confirmed));
        assert!(
            !Confirmed.can_become(Confirmed),
            "a second confirm is refused"
        );
        assert!(!Expired.can_become(Downloaded) && !Withdrawn.can_become(Downloaded));
        assert!(
            !Downloaded.can_become(Withdrawn),
            "a downloaded file is not withdrawn"
        );
        let holding: Vec<_> = FileState::ALL
            .into_iter()
            .filter(|s| s.holds_content())
            .collect();
        assert_eq!(holding, [Ready, Downloaded]);
    }
}
