//! Seed requests and their delivery files: the customer's wizard (a draft),
//! submission with the built files, the review, delivery links, downloads,
//! confirmation and expiry, and the mail outbox.
//!
//! Every state change goes through [`RequestState::can_become`] /
//! [`FileState::can_become`] and one guarded `UPDATE … WHERE state IN (…)`
//! inside the transaction that makes the change (with its audit event), so
//! two processes cannot both move the same request, and a crash leaves the
//! request where it was. Link tokens and wizard cookies are stored only as
//! hashes; file content and its key are set to `NULL` when destroyed.

use serde::Serialize;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use crate::audit::{Event, append};
use crate::{Error, Shipment, Store};

/// Where a seed request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    /// The customer is still in the wizard.
    Draft,
    /// Submitted: files built and sealed, waiting for a reviewer.
    Submitted,
    /// Approved: links made, mail queued.
    Approved,
    /// The links went out by mail.
    Delivered,
    /// Every file was confirmed (and destroyed).
    Confirmed,
    /// A reviewer said no (files destroyed).
    Rejected,
    /// Too many wrong answers.
    Locked,
    /// Files or the draft ran out of time.
    Expired,
}

impl RequestState {
    /// Every state.
    pub const ALL: [Self; 8] = [
        Self::Draft,
        Self::Submitted,
        Self::Approved,
        Self::Delivered,
        Self::Confirmed,
        Self::Rejected,
        Self::Locked,
        Self::Expired,
    ];

    /// The stored word.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::Delivered => "delivered",
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
            Self::Locked => "locked",
            Self::Expired => "expired",
        }
    }

    /// Reads a stored word.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The only moves a request can make (`portal.md`, "States").
    #[must_use]
    pub fn can_become(self, next: Self) -> bool {
        use RequestState::{
            Approved, Confirmed, Delivered, Draft, Expired, Locked, Rejected, Submitted,
        };
        matches!(
            (self, next),
            (Draft, Submitted | Locked | Expired)
                | (Submitted, Approved | Rejected | Expired)
                | (Approved, Delivered | Expired)
                | (Delivered, Confirmed | Expired)
        )
    }

    /// No move leaves it.
    #[must_use]
    pub fn is_final(self) -> bool {
        Self::ALL.into_iter().all(|n| !self.can_become(n))
    }
}

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

/// An order found by a customer's identifier and e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderMatch {
    /// Row id.
    pub order_id: i64,
    /// PO number.
    pub po: String,
    /// The customer's name.
    pub customer: String,
}

/// A new draft.
#[derive(Debug, Clone)]
pub struct NewDraft<'a> {
    /// Shown to people (`R-…`).
    pub reference: &'a str,
    /// SHA-256 of the wizard cookie.
    pub wizard_hash: &'a str,
    /// The order.
    pub order_id: i64,
    /// Who asks.
    pub email: &'a str,
    /// From where (IP).
    pub source: &'a str,
    /// When the draft is forgotten.
    pub expires: i64,
}

/// A seed request (never a secret: the sealed password is not read here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Row id.
    pub id: i64,
    /// `R-…`.
    pub reference: String,
    /// The order's row id.
    pub order_id: i64,
    /// PO number.
    pub po: String,
    /// Customer name.
    pub customer: String,
    /// Who asked.
    pub email: String,
    /// From where.
    pub source: String,
    /// State.
    pub state: RequestState,
    /// `one` or `per-shipment`.
    pub split: String,
    /// `password`, `pgp`, `both`.
    pub protection: Option<String>,
    /// Whether a password was given (sealed in the draft, hashed after).
    pub has_password: bool,
    /// The customer's OpenPGP key (armored public key).
    pub pgp_key: Option<String>,
    /// Its fingerprint.
    pub pgp_fingerprint: Option<String>,
    /// Format name.
    pub format: Option<String>,
    /// Format options (JSON).
    pub format_options: Option<String>,
    /// Wrong serials and codes so far.
    pub wrong_answers: i64,
    /// Who decided.
    pub reviewer: Option<String>,
    /// Why rejected.
    pub reason: Option<String>,
    /// Started.
    pub created: i64,
    /// Submitted.
    pub submitted: Option<i64>,
    /// Decided.
    pub decided: Option<i64>,
    /// Last change.
    pub updated: i64,
    /// A draft's expiry.
    pub expires: i64,
}

/// A shipment picked for a request, with the evidence given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PickedShipment {
    /// The shipment's row id.
    pub shipment_id: i64,
    /// Its number.
    pub number: String,
    /// What the customer proved.
    pub evidence: String,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// A mail waiting to be sent (sealed by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    /// Row id.
    pub id: i64,
    /// The sealed message.
    pub sealed: Vec<u8>,
    /// Tries so far.
    pub attempts: i64,
}

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

const REQUEST_COLUMNS: &str = "r.id, r.reference, r.order_id, o.po, c.name AS customer, r.email, \
    r.source, r.state, r.split, r.protection, \
    (r.password_sealed IS NOT NULL OR r.password_hash IS NOT NULL) AS has_password, \
    r.pgp_key, r.pgp_fingerprint, r.format, r.format_options, r.wrong_answers, r.reviewer, \
    r.reason, r.created, r.submitted, r.decided, r.updated, r.expires \
    FROM seed_request r JOIN purchase_order o ON o.id = r.order_id \
    JOIN customer c ON c.id = o.customer_id";

const FILE_COLUMNS: &str = "f.id, f.request_id, r.reference, f.shipments, f.name, f.tokens, \
    f.sha256, f.size, f.state, f.downloads, f.expires, f.created, f.destroyed, r.password_hash \
    FROM delivery_file f JOIN seed_request r ON r.id = f.request_id";

fn request_row(r: &sqlx::any::AnyRow) -> Result<Request, Error> {
    let state: String = r.try_get("state")?;
    Ok(Request {
        id: r.try_get("id")?,
        reference: r.try_get("reference")?,
        order_id: r.try_get("order_id")?,
        po: r.try_get("po")?,
        customer: r.try_get("customer")?,
        email: r.try_get("email")?,
        source: r.try_get("source")?,
        state: RequestState::parse(&state)
            .ok_or_else(|| Error::Refused(format!("unknown request state {state:?}")))?,
        split: r.try_get("split")?,
        protection: r.try_get("protection")?,
        has_password: truthy(r, "has_password")?,
        pgp_key: r.try_get("pgp_key")?,
        pgp_fingerprint: r.try_get("pgp_fingerprint")?,
        format: r.try_get("format")?,
        format_options: r.try_get("format_options")?,
        wrong_answers: r.try_get("wrong_answers")?,
        reviewer: r.try_get("reviewer")?,
        reason: r.try_get("reason")?,
        created: r.try_get("created")?,
        submitted: r.try_get("submitted")?,
        decided: r.try_get("decided")?,
        updated: r.try_get("updated")?,
        expires: r.try_get("expires")?,
    })
}

/// A boolean expression's value (an integer on SQLite, a bool on PostgreSQL).
fn truthy(r: &sqlx::any::AnyRow, column: &str) -> Result<bool, Error> {
    match r.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => Ok(r.try_get::<i64, _>(column)? != 0),
    }
}

fn file_row(r: &sqlx::any::AnyRow) -> Result<DeliveryFile, Error> {
    let state: String = r.try_get("state")?;
    Ok(DeliveryFile {
        id: r.try_get("id")?,
        request_id: r.try_get("request_id")?,
        reference: r.try_get("reference")?,
        shipments: r.try_get("shipments")?,
        name: r.try_get("name")?,
        tokens: r.try_get("tokens")?,
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
        state: FileState::parse(&state)
            .ok_or_else(|| Error::Refused(format!("unknown file state {state:?}")))?,
        downloads: r.try_get("downloads")?,
        expires: r.try_get("expires")?,
        created: r.try_get("created")?,
        destroyed: r.try_get("destroyed")?,
        password_hash: r.try_get("password_hash")?,
    })
}

/// Moves request `id` from one of the states that may become `to` (the
/// only place a request's state is written).
async fn move_request(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    to: RequestState,
    now: i64,
) -> Result<(), Error> {
    let from: Vec<&str> = RequestState::ALL
        .into_iter()
        .filter(|s| s.can_become(to))
        .map(RequestState::as_str)
        .collect();
    let done = sqlx::query(AssertSqlSafe(format!(
        "UPDATE seed_request SET state = $1, updated = $2 WHERE id = $3 AND state IN ({})",
        quoted(&from)
    )))
    .bind(to.as_str())
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if done == 1 {
        Ok(())
    } else {
        let now_in: Option<String> = sqlx::query("SELECT state FROM seed_request WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get("state"))
            .transpose()?;
        Err(match now_in {
            None => Error::NotFound {
                what: "request",
                name: id.to_string(),
            },
            Some(s) => Error::Refused(format!(
                "the request is {s}; it cannot become {}",
                to.as_str()
            )),
        })
    }
}

/// Moves file `id` to `to` (the only place a file's state is written);
/// a file that leaves the states holding content loses content and key.
async fn move_file(
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

fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The order that `identifier` (a PO, invoice or shipment number) names,
    /// when `email` is one of its customer's contacts. `None` for every
    /// kind of miss.
    pub async fn find_order(
        &self,
        identifier: &str,
        email: &str,
    ) -> Result<Option<OrderMatch>, Error> {
        let row = sqlx::query(
            "SELECT o.id, o.po, c.name FROM purchase_order o JOIN customer c ON c.id = o.customer_id \
             WHERE (o.po = $1 \
                OR o.id IN (SELECT order_id FROM invoice WHERE number = $1) \
                OR o.id IN (SELECT order_id FROM shipment WHERE number = $1)) \
             AND EXISTS (SELECT 1 FROM contact k WHERE k.customer_id = c.id AND k.email = $2)",
        )
        .bind(identifier.trim())
        .bind(email.trim().to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(OrderMatch {
                order_id: r.try_get("id")?,
                po: r.try_get("po")?,
                customer: r.try_get("name")?,
            })
        })
        .transpose()
    }

    /// The shipments of an order, by number.
    pub async fn order_shipments(&self, order_id: i64) -> Result<Vec<Shipment>, Error> {
        let mut all = self.shipments_where(Some(order_id)).await?;
        all.sort_by(|a, b| a.number.cmp(&b.number));
        Ok(all)
    }

    /// Whether shipment `shipment_id` holds a token with this serial
    /// (exactly as given).
    pub async fn shipment_has_serial(&self, shipment_id: i64, serial: &str) -> Result<bool, Error> {
        Ok(
            sqlx::query("SELECT 1 AS x FROM token WHERE shipment_id = $1 AND serial = $2")
                .bind(shipment_id)
                .bind(serial)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Starts a request in the wizard.
    pub async fn create_draft(&self, d: &NewDraft<'_>, audit: &Event) -> Result<i64, Error> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query(
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
        .await?
        .try_get("id")?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The draft behind a wizard cookie, while it lasts.
    pub async fn draft(&self, wizard_hash: &str, now: i64) -> Result<Option<Request>, Error> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} WHERE r.wizard_hash = $1 AND r.expires > $2"
        )))
        .bind(wizard_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(request_row).transpose()
    }

    /// A request by row id.
    pub async fn request(&self, id: i64) -> Result<Request, Error> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "request",
            name: id.to_string(),
        })?;
        request_row(&row)
    }

    /// Requests in `states` (all when empty), newest change first.
    pub async fn requests(&self, states: &[RequestState]) -> Result<Vec<Request>, Error> {
        let filter = if states.is_empty() {
            String::new()
        } else {
            let words: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
            format!(" WHERE r.state IN ({})", quoted(&words))
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS}{filter} ORDER BY r.updated DESC, r.id DESC"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_row).collect()
    }

    /// The shipments picked for a request, with their evidence.
    pub async fn picked(&self, request_id: i64) -> Result<Vec<PickedShipment>, Error> {
        let rows = sqlx::query(
            "SELECT p.shipment_id, s.number, p.evidence FROM request_shipment p \
             JOIN shipment s ON s.id = p.shipment_id WHERE p.request_id = $1 ORDER BY s.number",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PickedShipment {
                    shipment_id: r.try_get("shipment_id")?,
                    number: r.try_get("number")?,
                    evidence: r.try_get("evidence")?,
                })
            })
            .collect()
    }

    /// Earlier requests (not this one, not drafts) that covered any of
    /// these shipments: for the reviewer.
    pub async fn earlier_requests(
        &self,
        request_id: i64,
        shipment_ids: &[i64],
    ) -> Result<Vec<Request>, Error> {
        if shipment_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = shipment_ids.iter().map(i64::to_string).collect();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} WHERE r.id <> $1 AND r.state <> 'draft' AND r.id IN \
             (SELECT request_id FROM request_shipment WHERE shipment_id IN ({})) \
             ORDER BY r.created DESC, r.id DESC",
            ids.join(", ")
        )))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_row).collect()
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
        append(&mut tx, audit).await?;
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
        let total: i64 = sqlx::query(
            "UPDATE seed_request SET wrong_answers = wrong_answers + $1, updated = $2 \
             WHERE id = $3 RETURNING wrong_answers",
        )
        .bind(wrong)
        .bind(audit.at)
        .bind(request_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("wrong_answers")?;
        append(&mut tx, audit).await?;
        let locked = total >= limit;
        if locked {
            move_request(&mut tx, request_id, RequestState::Locked, audit.at).await?;
            sqlx::query(
                "UPDATE seed_request SET wizard_hash = NULL, password_sealed = NULL WHERE id = $1",
            )
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
            append(&mut tx, lock_audit).await?;
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
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The draft's sealed password, if one was given.
    pub async fn draft_password(&self, request_id: i64) -> Result<Option<Vec<u8>>, Error> {
        Ok(sqlx::query(
            "SELECT password_sealed FROM seed_request WHERE id = $1 AND state = 'draft'",
        )
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get::<Option<Vec<u8>>, _>("password_sealed"))
        .transpose()?
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
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

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
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The files of a request, in the order they were built.
    pub async fn files_of(&self, request_id: i64) -> Result<Vec<DeliveryFile>, Error> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS} WHERE f.request_id = $1 ORDER BY f.id"
        )))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(file_row).collect()
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
        append(&mut tx, audit).await?;
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
        let ids: Vec<i64> = sqlx::query(
            "SELECT id FROM delivery_file WHERE request_id = $1 AND state IN ('ready', 'downloaded')",
        )
        .bind(request_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
        for id in ids {
            move_file(&mut tx, id, FileState::Withdrawn, audit.at).await?;
        }
        queue_mail(&mut tx, mail, audit.at).await?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        self.scrub().await?;
        Ok(())
    }

    /// Marks an approved request delivered (its link mail went out).
    pub async fn mark_delivered(&self, request_id: i64, audit: &Event) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        move_request(&mut tx, request_id, RequestState::Delivered, audit.at).await?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
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
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {FILE_COLUMNS} WHERE {cond}")))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(file_row).transpose()
    }

    /// Counts a download and hands out the sealed content, in one
    /// transaction (a file already destroyed gives `Refused`).
    pub async fn download(&self, file_id: i64, audit: &Event) -> Result<SealedContent, Error> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT f.content_sealed, f.key_wrapped, f.master_key_id, r.state FROM delivery_file f \
             JOIN seed_request r ON r.id = f.request_id WHERE f.id = $1",
        )
        .bind(file_id)
        .fetch_one(&mut *tx)
        .await?;
        let state: String = row.try_get("state")?;
        if !matches!(state.as_str(), "approved" | "delivered") {
            return Err(Error::Refused(format!("the request is {state}")));
        }
        let content: Option<Vec<u8>> = row.try_get("content_sealed")?;
        let key: Option<Vec<u8>> = row.try_get("key_wrapped")?;
        let master_key_id: String = row.try_get("master_key_id")?;
        let (Some(content_sealed), Some(key_wrapped)) = (content, key) else {
            return Err(Error::Refused("the file no longer exists".into()));
        };
        move_file(&mut tx, file_id, FileState::Downloaded, audit.at).await?;
        append(&mut tx, audit).await?;
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
        let request_id: i64 = sqlx::query("SELECT request_id FROM delivery_file WHERE id = $1")
            .bind(file_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("request_id")?;
        let state: String = sqlx::query("SELECT state FROM seed_request WHERE id = $1")
            .bind(request_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("state")?;
        if !matches!(state.as_str(), "approved" | "delivered") {
            return Err(Error::Refused(format!("the request is {state}")));
        }
        move_file(&mut tx, file_id, FileState::Confirmed, audit.at).await?;
        let open: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM delivery_file WHERE request_id = $1 \
             AND state IN ('ready', 'downloaded')",
        )
        .bind(request_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if open == 0 {
            if state == "approved" {
                move_request(&mut tx, request_id, RequestState::Delivered, audit.at).await?;
            }
            move_request(&mut tx, request_id, RequestState::Confirmed, audit.at).await?;
        }
        queue_mail(&mut tx, mail, audit.at).await?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        self.scrub().await?;
        Ok(())
    }

    /// Destroys files past their expiry, expires requests left with no
    /// file holding content, and forgets drafts past theirs. Each change
    /// is audited as `actor` from `source`.
    pub async fn sweep_requests(&self, now: i64, actor: &str) -> Result<Swept, Error> {
        let mut swept = Swept::default();
        let files: Vec<(i64, i64, String)> = sqlx::query(
            "SELECT f.id, f.request_id, r.reference FROM delivery_file f \
             JOIN seed_request r ON r.id = f.request_id \
             WHERE f.state IN ('ready', 'downloaded') AND f.expires IS NOT NULL AND f.expires <= $1 \
             ORDER BY f.id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("request_id")?, r.try_get("reference")?)))
        .collect::<Result<_, Error>>()?;
        for (file_id, request_id, reference) in files {
            let mut tx = self.begin().await?;
            if move_file(&mut tx, file_id, FileState::Expired, now)
                .await
                .is_err()
            {
                continue; // confirmed or swept by another process meanwhile
            }
            append(
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
            let open: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM delivery_file WHERE request_id = $1 \
                 AND state IN ('ready', 'downloaded')",
            )
            .bind(request_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if open == 0
                && move_request(&mut tx, request_id, RequestState::Expired, now)
                    .await
                    .is_ok()
            {
                swept.requests += 1;
                append(
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

    /// Mail due now, oldest first.
    pub async fn outbox_due(&self, now: i64, limit: i64) -> Result<Vec<OutboxMail>, Error> {
        let rows = sqlx::query(
            "SELECT id, sealed, attempts FROM mail_outbox WHERE next_attempt <= $1 ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxMail {
                    id: r.try_get("id")?,
                    sealed: r.try_get("sealed")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Claims up to `limit` mails due now for `lease` seconds: each is
    /// handed to one caller only, so several portal processes sharing a
    /// database never send the same message twice (a claimed mail whose
    /// sender dies is due again when the lease runs out).
    pub async fn outbox_claim(
        &self,
        now: i64,
        limit: i64,
        lease: i64,
    ) -> Result<Vec<OutboxMail>, Error> {
        let mut claimed = Vec::new();
        for m in self.outbox_due(now, limit).await? {
            let done = sqlx::query(
                "UPDATE mail_outbox SET next_attempt = $1 WHERE id = $2 AND next_attempt <= $3",
            )
            .bind(now + lease)
            .bind(m.id)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if done == 1 {
                claimed.push(m);
            }
        }
        Ok(claimed)
    }

    /// A mail was sent: gone from the outbox.
    pub async fn outbox_sent(&self, id: i64) -> Result<(), Error> {
        sqlx::query("DELETE FROM mail_outbox WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A mail could not be sent: try again at `next_attempt`.
    pub async fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1, next_attempt = $2 \
             WHERE id = $3",
        )
        .bind(error)
        .bind(next_attempt)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Queues mail outside any other change (a lock notice, say).
    pub async fn queue_mail(&self, mail: &[Vec<u8>], now: i64) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        queue_mail(&mut tx, mail, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn queue_mail(
    tx: &mut Transaction<'_, Any>,
    mail: &[Vec<u8>],
    now: i64,
) -> Result<(), Error> {
    for m in mail {
        sqlx::query("INSERT INTO mail_outbox (sealed, next_attempt, created) VALUES ($1, $2, $2)")
            .bind(m.as_slice())
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Refuses a change to a request that is no longer a draft.
async fn draft_only(tx: &mut Transaction<'_, Any>, request_id: i64) -> Result<(), Error> {
    let state: Option<String> = sqlx::query("SELECT state FROM seed_request WHERE id = $1")
        .bind(request_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("state"))
        .transpose()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_moves_follow_the_spec() {
        use RequestState::*;
        let allowed: Vec<(RequestState, RequestState)> = RequestState::ALL
            .into_iter()
            .flat_map(|a| RequestState::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            [
                (Draft, Submitted),
                (Draft, Locked),
                (Draft, Expired),
                (Submitted, Approved),
                (Submitted, Rejected),
                (Submitted, Expired),
                (Approved, Delivered),
                (Approved, Expired),
                (Delivered, Confirmed),
                (Delivered, Expired),
            ]
        );
        let finals: Vec<_> = RequestState::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(finals, [Confirmed, Rejected, Locked, Expired]);
        for s in RequestState::ALL {
            assert_eq!(RequestState::parse(s.as_str()), Some(s));
        }
    }

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
