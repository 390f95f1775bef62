//! Custody: every value sealed under the master keyring, where it lives and
//! what it is bound to; re-sealing it under the newest key (a rotation);
//! which key each value is under now; and the store's own secrets.
//!
//! The bindings (the purpose or owner a value is sealed for) are defined
//! here, once, so the code that seals a value and the rotation that
//! re-seals it cannot disagree.

use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::{Error, Store};

/// The purpose or owner each kind of sealed value is bound to.
pub mod bind {
    /// A staff member's TOTP secret (bound to the account).
    #[must_use]
    pub fn staff_totp(email: &str) -> String {
        format!("staff-totp:{}", email.to_ascii_lowercase())
    }

    /// A draft request's password (until it is submitted).
    #[must_use]
    pub fn request_secrets(request_id: i64) -> String {
        format!("request-secrets:{request_id}")
    }

    /// A delivery file's data key (the owner it is wrapped for).
    #[must_use]
    pub fn file_key(reference: &str, name: &str) -> String {
        format!("delivery:{reference}:{name}")
    }

    /// Mail waiting in the outbox.
    pub const MAIL: &str = "mail-outbox";

    /// One of the store's own secrets.
    #[must_use]
    pub fn store_secret(name: &str) -> String {
        format!("store-secret:{name}")
    }
}

/// A kind of value sealed under the master keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealedKind {
    /// A shipment's data key (it seals the shipment's seeds).
    ShipmentKey,
    /// A delivery file's data key.
    FileKey,
    /// A staff member's TOTP secret.
    StaffTotp,
    /// A draft request's password.
    DraftPassword,
    /// Queued mail.
    Mail,
    /// One of the store's own secrets (audit key, signing key).
    StoreSecret,
    /// An authenticator secret offered on an enrolment page.
    EnrolmentTotp,
}

impl SealedKind {
    /// Every kind, in the order a rotation takes them.
    pub const ALL: [Self; 7] = [
        Self::StoreSecret,
        Self::StaffTotp,
        Self::EnrolmentTotp,
        Self::ShipmentKey,
        Self::FileKey,
        Self::DraftPassword,
        Self::Mail,
    ];

    /// What an operator calls it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::ShipmentKey => "shipment data keys",
            Self::FileKey => "delivery file keys",
            Self::StaffTotp => "staff TOTP secrets",
            Self::DraftPassword => "draft passwords",
            Self::Mail => "queued mail",
            Self::StoreSecret => "store secrets (audit key, signing key)",
            Self::EnrolmentTotp => "authenticators offered by enrolment links",
        }
    }

    fn select(self) -> &'static str {
        match self {
            Self::ShipmentKey => {
                "SELECT id, number AS a, '' AS b, wrapped_key AS blob FROM shipment \
                 WHERE id > $1 AND shredded_at IS NULL ORDER BY id LIMIT $2"
            }
            Self::FileKey => {
                "SELECT f.id, r.reference AS a, f.name AS b, f.key_wrapped AS blob FROM delivery_file f \
                 JOIN seed_request r ON r.id = f.request_id \
                 WHERE f.id > $1 AND f.key_wrapped IS NOT NULL ORDER BY f.id LIMIT $2"
            }
            Self::StaffTotp => {
                "SELECT id, email AS a, '' AS b, totp_sealed AS blob FROM staff \
                 WHERE id > $1 AND totp_sealed IS NOT NULL ORDER BY id LIMIT $2"
            }
            Self::DraftPassword => {
                "SELECT id, '' AS a, '' AS b, password_sealed AS blob FROM seed_request \
                 WHERE id > $1 AND password_sealed IS NOT NULL ORDER BY id LIMIT $2"
            }
            Self::Mail => {
                "SELECT id, '' AS a, '' AS b, sealed AS blob FROM mail_outbox WHERE id > $1 ORDER BY id LIMIT $2"
            }
            Self::StoreSecret => {
                "SELECT id, name AS a, '' AS b, sealed AS blob FROM vault_secret WHERE id > $1 ORDER BY id LIMIT $2"
            }
            Self::EnrolmentTotp => {
                "SELECT e.id, s.email AS a, '' AS b, e.pending_sealed AS blob FROM staff_enrolment e \
                 JOIN staff s ON s.id = e.staff_id \
                 WHERE e.id > $1 AND e.pending_sealed IS NOT NULL ORDER BY e.id LIMIT $2"
            }
        }
    }

    /// Replaces a value only if it is still the one read (a row the portal
    /// changed meanwhile is left to the next pass). `$1` new value, `$2` id,
    /// `$3` old value, `$4` the new master key id where the table keeps one.
    fn update(self) -> &'static str {
        match self {
            Self::ShipmentKey => {
                "UPDATE shipment SET wrapped_key = $1, master_key_id = $4 \
                 WHERE id = $2 AND wrapped_key = $3"
            }
            Self::FileKey => {
                "UPDATE delivery_file SET key_wrapped = $1, master_key_id = $4 \
                 WHERE id = $2 AND key_wrapped = $3"
            }
            Self::StaffTotp => {
                "UPDATE staff SET totp_sealed = $1 WHERE id = $2 AND totp_sealed = $3"
            }
            Self::DraftPassword => {
                "UPDATE seed_request SET password_sealed = $1 WHERE id = $2 AND password_sealed = $3"
            }
            Self::Mail => "UPDATE mail_outbox SET sealed = $1 WHERE id = $2 AND sealed = $3",
            Self::StoreSecret => {
                "UPDATE vault_secret SET sealed = $1 WHERE id = $2 AND sealed = $3"
            }
            Self::EnrolmentTotp => {
                "UPDATE staff_enrolment SET pending_sealed = $1 WHERE id = $2 AND pending_sealed = $3"
            }
        }
    }

    fn keeps_key_id(self) -> bool {
        matches!(self, Self::ShipmentKey | Self::FileKey)
    }

    /// Opens `blob` with `keys` and seals it again under the newest key;
    /// `None` when it is already under the newest key.
    fn reseal(
        self,
        keys: &Keyring,
        rng: &mut (impl RngCore + CryptoRng),
        row: &SealedRow,
    ) -> Result<Option<Vec<u8>>, oathvault_vault::Error> {
        match self {
            Self::ShipmentKey => keys.rewrap(rng, &row.a, &row.blob),
            Self::FileKey => keys.rewrap(rng, &bind::file_key(&row.a, &row.b), &row.blob),
            // An offered authenticator is bound like the enrolled one.
            Self::StaffTotp | Self::EnrolmentTotp => {
                keys.reseal(rng, &bind::staff_totp(&row.a), &row.blob)
            }
            Self::DraftPassword => keys.reseal(rng, &bind::request_secrets(row.id), &row.blob),
            Self::Mail => keys.reseal(rng, bind::MAIL, &row.blob),
            Self::StoreSecret => keys.reseal(rng, &bind::store_secret(&row.a), &row.blob),
        }
    }
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    id: i64,
    a: String,
    b: String,
    blob: Vec<u8>,
}

/// How many values of a kind are under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// The kind of value.
    pub kind: SealedKind,
    /// The master key id, or `None` for values sealed before keyrings
    /// (they name no key).
    pub key: Option<String>,
    /// How many.
    pub count: usize,
}

/// What one re-sealing pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Values looked at.
    pub seen: usize,
    /// Values re-sealed under the newest key.
    pub moved: usize,
    /// Values the portal changed while they were re-sealed (left for the
    /// next pass).
    pub raced: usize,
}

/// A value that did not open with any key of the ring: the rotation stops
/// and names it, so nothing is lost.
fn unopened(kind: SealedKind, row: &SealedRow, e: &oathvault_vault::Error) -> Error {
    Error::Refused(format!(
        "{} #{} does not open with any key of the keyring ({e}); nothing was changed for it",
        kind.label(),
        row.id
    ))
}

impl Store {
    async fn sealed_rows(
        &self,
        kind: SealedKind,
        after: i64,
        limit: i64,
    ) -> Result<Vec<SealedRow>, Error> {
        Ok(sqlx::query_as(kind.select())
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Re-seals every value of every kind that is not under the newest key
    /// of `keys`, `batch` values per transaction. Each value is replaced
    /// only if unchanged since it was read, so a running portal is never
    /// overwritten; a pass can be stopped at any point and run again.
    pub async fn reseal_all(
        &self,
        keys: &Keyring,
        rng: &mut (impl RngCore + CryptoRng),
        batch: i64,
    ) -> Result<Resealed, Error> {
        let mut total = Resealed::default();
        let newest = keys.id();
        for kind in SealedKind::ALL {
            let mut after = 0;
            loop {
                let rows = self.sealed_rows(kind, after, batch.max(1)).await?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                total.seen += rows.len();
                let mut changes = Vec::new();
                for row in &rows {
                    if let Some(new) = kind
                        .reseal(keys, rng, row)
                        .map_err(|e| unopened(kind, row, &e))?
                    {
                        changes.push((row, new));
                    }
                }
                if changes.is_empty() {
                    continue;
                }
                let mut tx = self.begin().await?;
                for (row, new) in &changes {
                    let mut q = sqlx::query(kind.update())
                        .bind(new.as_slice())
                        .bind(row.id)
                        .bind(row.blob.as_slice());
                    if kind.keeps_key_id() {
                        q = q.bind(newest.as_str());
                    }
                    if q.execute(&mut *tx).await?.rows_affected() == 1 {
                        total.moved += 1;
                    } else {
                        total.raced += 1;
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(total)
    }

    /// Which master key every sealed value is under, by kind.
    pub async fn key_usage(&self) -> Result<Vec<KeyUse>, Error> {
        let mut uses: Vec<KeyUse> = Vec::new();
        for kind in SealedKind::ALL {
            let mut after = 0;
            loop {
                let rows = self.sealed_rows(kind, after, 1000).await?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                for row in &rows {
                    let key = Keyring::key_id_of(&row.blob);
                    match uses.iter_mut().find(|u| u.kind == kind && u.key == key) {
                        Some(u) => u.count += 1,
                        None => uses.push(KeyUse {
                            kind,
                            key,
                            count: 1,
                        }),
                    }
                }
            }
        }
        Ok(uses)
    }

    /// One of the store's own secrets, opened with `keys`; `None` if there
    /// is none by that name yet.
    pub async fn store_secret(
        &self,
        keys: &Keyring,
        name: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT sealed FROM vault_secret WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(sealed,)| keys.open(&bind::store_secret(name), &sealed))
            .transpose()
            .map_err(|e| Error::Refused(format!("the store secret {name:?} does not open: {e}")))
    }

    /// Seals and saves one of the store's own secrets (replacing one of
    /// that name), with the audit event.
    pub async fn set_store_secret(
        &self,
        keys: &Keyring,
        rng: &mut (impl RngCore + CryptoRng),
        name: &str,
        secret: &[u8],
        audit: &crate::Event,
    ) -> Result<(), Error> {
        let sealed = keys.seal(rng, &bind::store_secret(name), secret);
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM vault_secret WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO vault_secret (name, sealed) VALUES ($1, $2)")
            .bind(name)
            .bind(sealed.as_slice())
            .execute(&mut *tx)
            .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What [`Store::verify_sealed`] opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealedCheck {
    /// Values opened, by kind.
    pub opened: Vec<(SealedKind, usize)>,
    /// Token seeds opened with their shipment's data key.
    pub seeds: usize,
}

impl Store {
    /// Opens every sealed value with `keys` — each kind with its binding,
    /// and every token seed with its shipment's data key — and names the
    /// first that does not open. Nothing is changed or kept.
    pub async fn verify_sealed(&self, keys: &Keyring) -> Result<SealedCheck, Error> {
        let mut check = SealedCheck::default();
        for kind in SealedKind::ALL {
            let mut n = 0;
            let mut after = 0;
            loop {
                let rows = self.sealed_rows(kind, after, 500).await?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                for row in &rows {
                    let opened = match kind {
                        SealedKind::ShipmentKey => keys.unwrap(&row.blob, &row.a).map(|_| ()),
                        SealedKind::FileKey => keys
                            .unwrap(&row.blob, &bind::file_key(&row.a, &row.b))
                            .map(|_| ()),
                        SealedKind::StaffTotp | SealedKind::EnrolmentTotp => {
                            keys.open(&bind::staff_totp(&row.a), &row.blob).map(|_| ())
                        }
                        SealedKind::DraftPassword => keys
                            .open(&bind::request_secrets(row.id), &row.blob)
                            .map(|_| ()),
                        SealedKind::Mail => keys.open(bind::MAIL, &row.blob).map(|_| ()),
                        SealedKind::StoreSecret => keys
                            .open(&bind::store_secret(&row.a), &row.blob)
                            .map(|_| ()),
                    };
                    opened.map_err(|e| unopened(kind, row, &e))?;
                    n += 1;
                }
            }
            check.opened.push((kind, n));
        }
        let shipments: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
            "SELECT id, number, wrapped_key FROM shipment WHERE shredded_at IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        for (id, number, wrapped) in shipments {
            let data = keys.unwrap(&wrapped, &number).map_err(|e| {
                Error::Refused(format!("shipment {number}'s data key does not open ({e})"))
            })?;
            let tokens: Vec<(String, Vec<u8>)> =
                sqlx::query_as("SELECT serial, sealed FROM token WHERE shipment_id = $1")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
            for (serial, sealed) in tokens {
                data.open(&number, &serial, &sealed).map_err(|e| {
                    Error::Refused(format!(
                        "the seed of token {serial} (shipment {number}) does not open ({e})"
                    ))
                })?;
                check.seeds += 1;
            }
        }
        Ok(check)
    }

    /// The newest migration applied to this database, and the newest this
    /// program knows.
    pub async fn schema_version(&self) -> Result<(i64, i64), Error> {
        let (applied,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        let known = match self.backend {
            crate::Backend::Sqlite => &crate::SQLITE,
            crate::Backend::Postgres => &crate::POSTGRES,
        }
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
        Ok((applied, known))
    }

    /// A consistent copy of a SQLite database in `path` (which must not
    /// exist), taken while other connections keep working (`VACUUM INTO`).
    /// Secrets stay sealed in it; the master key is never in it.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<(), Error> {
        if self.backend != crate::Backend::Sqlite {
            return Err(Error::Refused(
                "this database is PostgreSQL: back it up with pg_dump (docs/operations.md gives the recipe and the checks)".into(),
            ));
        }
        let path = path
            .to_str()
            .ok_or_else(|| Error::Io(format!("{} is not a UTF-8 path", path.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
