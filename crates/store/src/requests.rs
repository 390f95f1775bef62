//! Seed requests: the customer's wizard (a draft), submission, the
//! review, delivery and expiry of the request as a whole. Its files are
//! in `delivery_files`, the mail it sends in `outbox`.
//!
//! Every state change goes through [`RequestState::can_become`] /
//! [`FileState::can_become`](crate::FileState::can_become) and one guarded
//! `UPDATE … WHERE state IN (…)` inside the transaction that makes the
//! change (with its audit event), so two processes cannot both move the
//! same request, and a crash leaves the request where it was. Link tokens
//! and wizard cookies are stored only as hashes; file content and its key
//! are set to `NULL` when destroyed.

mod review;
mod sweep;
mod wizard;

use serde::Serialize;
use sqlx::{Any, AssertSqlSafe, Transaction};

use crate::decode::Flag;
use crate::{Error, Shipment, Store};

pub use sweep::Swept;

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

/// Reads a stored word (for `#[sqlx(try_from = "String")]`).
impl TryFrom<String> for RequestState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| format!("unknown request state {s:?}"))
    }
}

/// An order found by a customer's identifier and e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
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
    #[sqlx(try_from = "String")]
    pub state: RequestState,
    /// `one` or `per-shipment`.
    pub split: String,
    /// `password`, `pgp`, `both`.
    pub protection: Option<String>,
    /// Whether a password was given (sealed in the draft, hashed after).
    #[sqlx(try_from = "Flag")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PickedShipment {
    /// The shipment's row id.
    pub shipment_id: i64,
    /// Its number.
    pub number: String,
    /// What the customer proved.
    pub evidence: String,
}

const REQUEST_COLUMNS: &str = "r.id, r.reference, r.order_id, o.po, c.name AS customer, r.email, \
    r.source, r.state, r.split, r.protection, \
    (r.password_sealed IS NOT NULL OR r.password_hash IS NOT NULL) AS has_password, \
    r.pgp_key, r.pgp_fingerprint, r.format, r.format_options, r.wrong_answers, r.reviewer, \
    r.reason, r.created, r.submitted, r.decided, r.updated, r.expires \
    FROM seed_request r JOIN purchase_order o ON o.id = r.order_id \
    JOIN customer c ON c.id = o.customer_id";

/// Moves request `id` from one of the states that may become `to` (the
/// only place a request's state is written).
pub(crate) async fn move_request(
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
        let now_in: Option<String> =
            sqlx::query_scalar("SELECT state FROM seed_request WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
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

/// Words as SQL string literals for `IN (…)` (only the states' own words).
pub(crate) fn quoted(words: &[&str]) -> String {
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
        Ok(sqlx::query_as(
            "SELECT o.id AS order_id, o.po, c.name AS customer FROM purchase_order o \
             JOIN customer c ON c.id = o.customer_id \
             WHERE (o.po = $1 \
                OR o.id IN (SELECT order_id FROM invoice WHERE number = $1) \
                OR o.id IN (SELECT order_id FROM shipment WHERE number = $1)) \
             AND EXISTS (SELECT 1 FROM contact k WHERE k.customer_id = c.id AND k.email = $2)",
        )
        .bind(identifier.trim())
        .bind(email.trim().to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?)
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

    /// A request by its reference (`R-…`).
    pub async fn request_by_reference(&self, reference: &str) -> Result<Request, Error> {
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} WHERE r.reference = $1"
        )))
        .bind(reference)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "request",
            name: reference.to_owned(),
        })
    }

    /// A request by row id.
    pub async fn request(&self, id: i64) -> Result<Request, Error> {
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "request",
            name: id.to_string(),
        })
    }

    /// Requests in `states` (all when empty), newest change first.
    pub async fn requests(&self, states: &[RequestState]) -> Result<Vec<Request>, Error> {
        let filter = if states.is_empty() {
            String::new()
        } else {
            let words: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
            format!(" WHERE r.state IN ({})", quoted(&words))
        };
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS}{filter} ORDER BY r.updated DESC, r.id DESC"
        )))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The shipments picked for a request, with their evidence.
    pub async fn picked(&self, request_id: i64) -> Result<Vec<PickedShipment>, Error> {
        Ok(sqlx::query_as(
            "SELECT p.shipment_id, s.number, p.evidence FROM request_shipment p \
             JOIN shipment s ON s.id = p.shipment_id WHERE p.request_id = $1 ORDER BY s.number",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?)
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
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} WHERE r.id <> $1 AND r.state <> 'draft' AND r.id IN \
             (SELECT request_id FROM request_shipment WHERE shipment_id IN ({})) \
             ORDER BY r.created DESC, r.id DESC",
            ids.join(", ")
        )))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?)
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
}
