//! Customers, contacts, orders, invoices, shipments and their tokens.
//! Every change is one transaction with its audit event.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{Any, AssertSqlSafe};

use crate::audit::Event;
use crate::{Error, Store, is_unique_violation};

/// A customer with its contact e-mails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Customer {
    /// Row id.
    pub id: i64,
    /// Company name (unique).
    pub name: String,
    /// Contact e-mail addresses.
    #[sqlx(skip)]
    pub emails: Vec<String>,
    /// Orders.
    pub orders: i64,
    /// When added.
    pub created: i64,
}

/// An order (purchase order) with its invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Order {
    /// Row id.
    pub id: i64,
    /// The customer's name.
    pub customer: String,
    /// PO number (unique).
    pub po: String,
    /// Invoice numbers.
    #[sqlx(skip)]
    pub invoices: Vec<String>,
    /// Shipments.
    pub shipments: i64,
    /// When added.
    pub created: i64,
}

/// A shipment with its token count and models (never secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Shipment {
    /// Row id.
    pub id: i64,
    /// Its order's PO number.
    pub po: String,
    /// Shipment number (unique).
    pub number: String,
    /// Shipping date (`YYYY-MM-DD`) when known.
    pub shipped_on: Option<String>,
    /// Tokens in it.
    pub tokens: i64,
    /// Distinct models of its tokens.
    #[sqlx(skip)]
    pub models: Vec<String>,
    /// When added.
    pub created: i64,
    /// When its seeds were shredded (data key and ciphertexts destroyed).
    pub shredded_at: Option<i64>,
}

/// How much the inventory holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Counts {
    /// Customers.
    pub customers: i64,
    /// Orders.
    pub orders: i64,
    /// Shipments.
    pub shipments: i64,
    /// Tokens.
    pub tokens: i64,
}

/// A shipment's wrapped data key.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ShipmentKey {
    /// Row id.
    #[sqlx(rename = "id")]
    pub shipment_id: i64,
    /// Shipment number (the key's binding).
    pub number: String,
    /// The data key wrapped by the master key.
    pub wrapped_key: Vec<u8>,
    /// Which master key wrapped it.
    pub master_key_id: String,
}

impl std::fmt::Debug for ShipmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipmentKey")
            .field("shipment", &self.number)
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

/// A token to import: its description and its sealed secret.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NewToken {
    /// Serial number (unique in the inventory).
    pub serial: String,
    /// `totp` or `hotp`.
    pub kind: String,
    /// `sha1`, `sha256`, `sha512`.
    pub hash: String,
    /// Code length.
    pub digits: i64,
    /// TOTP step (seconds).
    pub step: Option<i64>,
    /// TOTP T0.
    pub t0: Option<i64>,
    /// HOTP counter.
    pub counter: Option<i64>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// The secret, sealed under the shipment's data key.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("serial", &self.serial)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A stored token (its secret still sealed).
pub type TokenRow = NewToken;

/// A shipment's key and the PO number of its order.
#[derive(sqlx::FromRow)]
struct KeyOfOrder {
    #[sqlx(flatten)]
    key: ShipmentKey,
    po: String,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Tokens added.
    pub imported: u64,
}

/// Rows per multi-row INSERT (12 columns: well under SQLite's variable limit).
const BATCH: usize = 500;
/// Columns of a token row in the INSERT.
const COLUMNS: usize = 12;

/// `n` bind placeholders numbered from `from`: `$from, $from+1, …` for
/// PostgreSQL; plain `?` for SQLite, whose lookup of named parameters is
/// linear per parameter (quadratic in a 6,000-value INSERT: 10× slower).
fn not_found(what: &'static str, name: &str) -> Error {
    Error::NotFound {
        what,
        name: name.to_owned(),
    }
}

pub(crate) fn exists(e: sqlx::Error, what: &'static str, name: &str) -> Error {
    if is_unique_violation(&e) {
        Error::Exists {
            what,
            name: name.to_owned(),
        }
    } else {
        Error::Db(e)
    }
}

impl Store {
    /// Adds a customer with contact e-mails.
    pub async fn add_customer(
        &self,
        name: &str,
        emails: &[String],
        audit: &Event,
    ) -> Result<i64, Error> {
        let mut tx = self.begin().await?;
        let id: i64 =
            sqlx::query_scalar("INSERT INTO customer (name, created) VALUES ($1, $2) RETURNING id")
                .bind(name)
                .bind(audit.at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| exists(e, "customer", name))?;
        for email in emails {
            sqlx::query("INSERT INTO contact (customer_id, email) VALUES ($1, $2)")
                .bind(id)
                .bind(email.to_ascii_lowercase())
                .execute(&mut *tx)
                .await
                .map_err(|e| exists(e, "contact", email))?;
        }
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Adds a contact e-mail to a customer.
    pub async fn add_contact(
        &self,
        customer: &str,
        email: &str,
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        let id = customer_id(&mut tx, customer).await?;
        sqlx::query("INSERT INTO contact (customer_id, email) VALUES ($1, $2)")
            .bind(id)
            .bind(email.to_ascii_lowercase())
            .execute(&mut *tx)
            .await
            .map_err(|e| exists(e, "contact", email))?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many customers, orders, shipments and tokens there are.
    pub async fn counts(&self) -> Result<Counts, Error> {
        Ok(sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM customer) AS customers, \
             (SELECT COUNT(*) FROM purchase_order) AS orders, \
             (SELECT COUNT(*) FROM shipment) AS shipments, (SELECT COUNT(*) FROM token) AS tokens",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Every customer, by name.
    pub async fn customers(&self) -> Result<Vec<Customer>, Error> {
        let mut customers: Vec<Customer> = sqlx::query_as(
            "SELECT c.id, c.name, c.created, \
             (SELECT COUNT(*) FROM purchase_order o WHERE o.customer_id = c.id) AS orders \
             FROM customer c ORDER BY c.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut contacts = group(
            sqlx::query_as("SELECT customer_id, email FROM contact ORDER BY email")
                .fetch_all(&self.pool)
                .await?,
        );
        for c in &mut customers {
            c.emails = contacts.remove(&c.id).unwrap_or_default();
        }
        Ok(customers)
    }

    /// Adds an order for a customer, with invoice numbers.
    pub async fn add_order(
        &self,
        customer: &str,
        po: &str,
        invoices: &[String],
        audit: &Event,
    ) -> Result<i64, Error> {
        let mut tx = self.begin().await?;
        let customer_id = customer_id(&mut tx, customer).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO purchase_order (customer_id, po, created) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(customer_id)
        .bind(po)
        .bind(audit.at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| exists(e, "order", po))?;
        for inv in invoices {
            sqlx::query("INSERT INTO invoice (order_id, number) VALUES ($1, $2)")
                .bind(id)
                .bind(inv)
                .execute(&mut *tx)
                .await
                .map_err(|e| exists(e, "invoice", inv))?;
        }
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every order, newest first.
    pub async fn orders(&self) -> Result<Vec<Order>, Error> {
        let mut orders: Vec<Order> = sqlx::query_as(
            "SELECT o.id, o.po, o.created, c.name AS customer, \
             (SELECT COUNT(*) FROM shipment s WHERE s.order_id = o.id) AS shipments \
             FROM purchase_order o JOIN customer c ON c.id = o.customer_id ORDER BY o.id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut invoices = group(
            sqlx::query_as("SELECT order_id, number FROM invoice ORDER BY number")
                .fetch_all(&self.pool)
                .await?,
        );
        for o in &mut orders {
            o.invoices = invoices.remove(&o.id).unwrap_or_default();
        }
        Ok(orders)
    }

    /// Adds a shipment to an order, with its freshly wrapped data key.
    pub async fn add_shipment(
        &self,
        po: &str,
        number: &str,
        shipped_on: Option<&str>,
        wrapped_key: &[u8],
        master_key_id: &str,
        audit: &Event,
    ) -> Result<i64, Error> {
        let mut tx = self.begin().await?;
        let order_id: i64 = sqlx::query_scalar("SELECT id FROM purchase_order WHERE po = $1")
            .bind(po)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| not_found("order", po))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO shipment (order_id, number, shipped_on, wrapped_key, master_key_id, created) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(order_id)
        .bind(number)
        .bind(shipped_on)
        .bind(wrapped_key)
        .bind(master_key_id)
        .bind(audit.at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| exists(e, "shipment", number))?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every shipment, newest first, with token counts and models.
    pub async fn shipments(&self) -> Result<Vec<Shipment>, Error> {
        self.shipments_where(None).await
    }

    /// The shipments of one order (all when `None`), newest first, with
    /// token counts and models; only that order's rows are read.
    pub(crate) async fn shipments_where(
        &self,
        order_id: Option<i64>,
    ) -> Result<Vec<Shipment>, Error> {
        let (only, only_tokens) = match order_id {
            Some(_) => (
                " WHERE s.order_id = $1",
                " AND shipment_id IN (SELECT id FROM shipment WHERE order_id = $1)",
            ),
            None => ("", ""),
        };
        let shipments = format!(
            "SELECT s.id, s.number, s.shipped_on, s.created, s.shredded_at, o.po, \
             (SELECT COUNT(*) FROM token t WHERE t.shipment_id = s.id) AS tokens \
             FROM shipment s JOIN purchase_order o ON o.id = s.order_id{only} ORDER BY s.id DESC"
        );
        let models = format!(
            "SELECT DISTINCT shipment_id, model FROM token WHERE model IS NOT NULL{only_tokens} \
             ORDER BY model"
        );
        let mut q = sqlx::query_as(AssertSqlSafe(shipments));
        let mut m = sqlx::query_as(AssertSqlSafe(models));
        if let Some(id) = order_id {
            q = q.bind(id);
            m = m.bind(id);
        }
        let mut shipments: Vec<Shipment> = q.fetch_all(&self.pool).await?;
        let mut models = group(m.fetch_all(&self.pool).await?);
        for s in &mut shipments {
            s.models = models.remove(&s.id).unwrap_or_default();
        }
        Ok(shipments)
    }

    /// The wrapped data key of shipment `number`, which must belong to order `po`.
    pub async fn shipment_key(&self, po: &str, number: &str) -> Result<ShipmentKey, Error> {
        let row: KeyOfOrder = sqlx::query_as(
            "SELECT s.id, s.number, s.wrapped_key, s.master_key_id, o.po FROM shipment s \
             JOIN purchase_order o ON o.id = s.order_id WHERE s.number = $1",
        )
        .bind(number)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("shipment", number))?;
        if row.po != po {
            return Err(Error::NotFound {
                what: "shipment",
                name: format!("{number} in order {po} (it belongs to order {})", row.po),
            });
        }
        Ok(row.key)
    }

    /// Every shipment's wrapped data key (for rotating the master key).
    pub async fn shipment_keys(&self) -> Result<Vec<ShipmentKey>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, number, wrapped_key, master_key_id FROM shipment ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Replaces wrapped data keys (all or none), with the audit event.
    pub async fn rewrap(&self, keys: &[ShipmentKey], audit: &Event) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        for k in keys {
            sqlx::query("UPDATE shipment SET wrapped_key = $1, master_key_id = $2 WHERE id = $3")
                .bind(&k.wrapped_key)
                .bind(&k.master_key_id)
                .bind(k.shipment_id)
                .execute(&mut *tx)
                .await?;
        }
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Serials of `serials` that are already in the inventory.
    pub async fn existing_serials(&self, serials: &[&str]) -> Result<Vec<String>, Error> {
        let mut found = Vec::new();
        for chunk in serials.chunks(BATCH) {
            // `$n` placeholders work on both backends (the Any driver's query
            // builder would write `?`, which PostgreSQL rejects).
            let sql = format!(
                "SELECT serial FROM token WHERE serial IN ({})",
                self.backend.placeholders(1, chunk.len())
            );
            let mut q = sqlx::query_scalar(AssertSqlSafe(sql));
            for s in chunk {
                q = q.bind(*s);
            }
            found.extend(q.fetch_all(&self.pool).await?);
        }
        found.sort();
        Ok(found)
    }

    /// Adds `tokens` to a shipment: all or none. Serials already in the
    /// inventory are refused, every one named.
    pub async fn import_tokens(
        &self,
        shipment_id: i64,
        tokens: &[NewToken],
        audit: &Event,
    ) -> Result<ImportReport, Error> {
        let serials: Vec<&str> = tokens.iter().map(|t| t.serial.as_str()).collect();
        let dups = self.existing_serials(&serials).await?;
        if !dups.is_empty() {
            return Err(Error::DuplicateSerials(dups));
        }
        let mut tx = self.begin().await?;
        for chunk in tokens.chunks(BATCH) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", self.backend.placeholders(i * COLUMNS + 1, COLUMNS)))
                .collect();
            let sql = format!(
                "INSERT INTO token (shipment_id, serial, kind, hash, digits, step, t0, counter, \
                 manufacturer, model, sealed, created) VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for t in chunk {
                q = q
                    .bind(shipment_id)
                    .bind(t.serial.as_str())
                    .bind(t.kind.as_str())
                    .bind(t.hash.as_str())
                    .bind(t.digits)
                    .bind(t.step)
                    .bind(t.t0)
                    .bind(t.counter)
                    .bind(t.manufacturer.as_deref())
                    .bind(t.model.as_deref())
                    .bind(t.sealed.as_slice())
                    .bind(audit.at);
            }
            if let Err(e) = q.execute(&mut *tx).await {
                // Another process imported one of these serials meanwhile.
                if is_unique_violation(&e) {
                    drop(tx);
                    let dups = self.existing_serials(&serials).await?;
                    return Err(Error::DuplicateSerials(dups));
                }
                return Err(e.into());
            }
        }
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(ImportReport {
            imported: u64::try_from(tokens.len()).unwrap_or(u64::MAX),
        })
    }

    /// The tokens of a shipment (secrets sealed), by serial.
    pub async fn tokens_of(&self, shipment_id: i64) -> Result<Vec<TokenRow>, Error> {
        self.tokens_where(shipment_id, None).await
    }

    /// The token of shipment `shipment_id` with exactly this serial, if any
    /// (secret sealed).
    pub async fn token_in(
        &self,
        shipment_id: i64,
        serial: &str,
    ) -> Result<Option<TokenRow>, Error> {
        Ok(self.tokens_where(shipment_id, Some(serial)).await?.pop())
    }

    async fn tokens_where(
        &self,
        shipment_id: i64,
        serial: Option<&str>,
    ) -> Result<Vec<TokenRow>, Error> {
        let only = if serial.is_some() {
            " AND serial = $2"
        } else {
            ""
        };
        let mut q = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT serial, kind, hash, digits, step, t0, counter, manufacturer, model, sealed \
             FROM token WHERE shipment_id = $1{only} ORDER BY serial"
        )))
        .bind(shipment_id);
        if let Some(s) = serial {
            q = q.bind(s);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }
}

/// Child rows (a parent id, text) grouped by parent, in row order.
fn group(rows: Vec<(i64, String)>) -> HashMap<i64, Vec<String>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (k, v) in rows {
        out.entry(k).or_default().push(v);
    }
    out
}

async fn customer_id(tx: &mut sqlx::Transaction<'_, Any>, name: &str) -> Result<i64, Error> {
    sqlx::query_scalar("SELECT id FROM customer WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| not_found("customer", name))
}
