//! Administration: what an administrator does on the pages and on the
//! command line (`oathvault portal …`).

use std::collections::HashSet;

use oathvault_accounts::{AccountError, NewAccount};
use oathvault_store::{Event, ImportReport, NewToken, Role, Store};
use oathvault_token::{Hash, Kind, Secret, Token};
use oathvault_vault::{DataKey, Keyring};
use rand08::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// Who acts, from where, when.
#[derive(Debug, Clone)]
pub struct Actor {
    /// A staff e-mail, or `cli:<user>`.
    pub name: String,
    /// An IP address, or `cli`.
    pub source: String,
    /// Now (Unix seconds).
    pub now: i64,
}

impl Actor {
    /// An event by this actor, now, with outcome `ok`.
    #[must_use]
    pub fn event(&self, action: &str, subject: &str) -> Event {
        Event::ok(self.now, &self.name, &self.source, action, subject)
    }
}

/// Why an administration step was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the store (not found, exists, duplicate serials, database).
    #[error(transparent)]
    Store(#[from] oathvault_store::Error),
    /// The master key does not open this shipment's data key.
    #[error(
        "the master key ({have}) is not the one shipment {shipment}'s key was wrapped with ({want}): check OATHVAULT_MASTER_KEY_FILE"
    )]
    WrongMasterKey {
        /// The shipment.
        shipment: String,
        /// The key id in use.
        have: String,
        /// The key id the shipment needs.
        want: String,
    },
    /// A sealed value does not open.
    #[error(transparent)]
    Vault(#[from] oathvault_vault::Error),
    /// The file repeats serials.
    #[error("the file holds serial(s) more than once: {}", .0.join(", "))]
    RepeatedSerials(Vec<String>),
    /// The file holds no token.
    #[error("the file holds no tokens")]
    Empty,
    /// A password that is too weak for a staff account.
    #[error("the password is too short: staff passwords need at least 12 characters")]
    WeakPassword,
    /// A value that cannot be used (named in the message).
    #[error("{0}")]
    Invalid(String),
    /// Password hashing failed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

impl From<AccountError> for Error {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(e) => Self::Store(e),
            AccountError::WeakPassword => Self::WeakPassword,
            AccountError::Hash(e) => Self::Hash(e.to_string()),
            other => Self::Invalid(other.to_string()),
        }
    }
}

/// A staff account to create.
#[derive(Debug)]
pub struct NewStaff<'a> {
    /// Sign-in e-mail.
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Role.
    pub role: Role,
    /// The password (checked for length, stored only as an Argon2id hash).
    pub password: &'a Zeroizing<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Tokens added.
    pub imported: u64,
    /// TOTP tokens among them.
    pub totp: u64,
    /// HOTP tokens among them.
    pub hotp: u64,
}

/// The administration workflow over a store and the master key.
#[derive(Debug)]
pub struct Admin<'a> {
    store: &'a Store,
    master: &'a Keyring,
    /// The issuer shown in authenticator apps for staff accounts.
    issuer: &'a str,
}

fn hash_name(h: Hash) -> &'static str {
    match h {
        Hash::Sha1 => "sha1",
        Hash::Sha256 => "sha256",
        Hash::Sha512 => "sha512",
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl<'a> Admin<'a> {
    /// Administration over `store`, sealing with `master`; `issuer` names the
    /// portal in staff members' authenticator apps.
    #[must_use]
    pub fn new(store: &'a Store, master: &'a Keyring, issuer: &'a str) -> Self {
        Self {
            store,
            master,
            issuer,
        }
    }

    /// Adds a customer with contact e-mails (at least one: customers find
    /// their orders by it).
    pub async fn add_customer(
        &self,
        who: &Actor,
        name: &str,
        emails: &[String],
    ) -> Result<i64, Error> {
        let name = required(name, "the customer's name")?;
        if emails.is_empty() {
            return Err(Error::Invalid(
                "give at least one contact e-mail: customers find their orders with it".into(),
            ));
        }
        let emails = emails
            .iter()
            .map(|e| check_email(e))
            .collect::<Result<Vec<_>, _>>()?;
        let emails = &emails[..];
        let event = who
            .event("customer.add", &format!("customer:{name}"))
            .with_detail(format!("{} contact(s)", emails.len()));
        Ok(self.store.add_customer(name, emails, &event).await?)
    }

    /// Adds a contact e-mail to a customer.
    pub async fn add_contact(&self, who: &Actor, customer: &str, email: &str) -> Result<(), Error> {
        let email = check_email(email)?;
        let event = who
            .event("contact.add", &format!("customer:{customer}"))
            .with_detail(email.clone());
        Ok(self.store.add_contact(customer, &email, &event).await?)
    }

    /// Adds an order with invoice numbers.
    pub async fn add_order(
        &self,
        who: &Actor,
        customer: &str,
        po: &str,
        invoices: &[String],
    ) -> Result<i64, Error> {
        let po = required(po, "the PO number")?;
        let event = who
            .event("order.add", &format!("order:{po}"))
            .with_detail(format!(
                "customer {customer}; invoices {}",
                invoices.join(", ")
            ));
        Ok(self.store.add_order(customer, po, invoices, &event).await?)
    }

    /// Adds a shipment to an order, with a fresh data key wrapped by the master key.
    pub async fn add_shipment<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        who: &Actor,
        po: &str,
        number: &str,
        shipped_on: Option<&str>,
    ) -> Result<i64, Error> {
        let number = required(number, "the shipment number")?;
        if let Some(d) = shipped_on
            && oathvault_otp::clock::parse_date(d).is_none()
        {
            return Err(Error::Invalid(format!(
                "the shipping date {d:?} is not a date: use YYYY-MM-DD"
            )));
        }
        let data = DataKey::generate(rng);
        let wrapped = self.master.wrap(rng, &data, number);
        let event = who
            .event("shipment.add", &format!("shipment:{number}"))
            .with_detail(format!("order {po}"));
        Ok(self
            .store
            .add_shipment(po, number, shipped_on, &wrapped, &self.master.id(), &event)
            .await?)
    }

    fn data_key(&self, shipment: &str, wrapped: &[u8], master_id: &str) -> Result<DataKey, Error> {
        if !self.master.ids().iter().any(|id| id == master_id) {
            return Err(Error::WrongMasterKey {
                shipment: shipment.to_owned(),
                have: self.master.ids().join(", "),
                want: master_id.to_owned(),
            });
        }
        Ok(self.master.unwrap(wrapped, shipment)?)
    }

    /// Imports `tokens` (every one read without error by the caller) into
    /// shipment `number` of order `po`: all or none; a serial repeated in
    /// the file or already in the inventory refuses the whole file. A
    /// refusal is audited on its own (the import itself rolled back).
    pub async fn import<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        who: &Actor,
        po: &str,
        number: &str,
        file: &str,
        tokens: &[Token],
    ) -> Result<ImportOutcome, Error> {
        match self.import_all(rng, who, po, number, file, tokens).await {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                self.import_refused(who, po, number, file, &e.to_string())
                    .await?;
                Err(e)
            }
        }
    }

    /// Records a refused import (also for files the caller could not read).
    pub async fn import_refused(
        &self,
        who: &Actor,
        po: &str,
        number: &str,
        file: &str,
        why: &str,
    ) -> Result<(), Error> {
        let refused = who
            .event("import", &format!("shipment:{number}"))
            .with_outcome("refused")
            .with_detail(format!("order {po}; {file}: {why}"));
        Ok(self.store.audit(&refused).await?)
    }

    async fn import_all<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        who: &Actor,
        po: &str,
        number: &str,
        file: &str,
        tokens: &[Token],
    ) -> Result<ImportOutcome, Error> {
        if tokens.is_empty() {
            return Err(Error::Empty);
        }
        let mut seen = HashSet::with_capacity(tokens.len());
        let mut repeated: Vec<String> = tokens
            .iter()
            .filter(|t| !seen.insert(t.serial.as_str()))
            .map(|t| t.serial.as_str().to_owned())
            .collect();
        if !repeated.is_empty() {
            repeated.sort();
            repeated.dedup();
            return Err(Error::RepeatedSerials(repeated));
        }
        let key = self.store.shipment_key(po, number).await?;
        let data = self.data_key(&key.number, &key.wrapped_key, &key.master_key_id)?;
        let mut totp = 0;
        let rows: Vec<NewToken> = tokens
            .iter()
            .map(|t| {
                let (kind, step, t0, counter) = match t.kind {
                    Kind::Totp { step, t0 } => {
                        totp += 1;
                        (
                            "totp",
                            Some(i64::from(step.seconds())),
                            Some(to_i64(t0)),
                            None,
                        )
                    }
                    Kind::Hotp { counter } => ("hotp", None, None, Some(to_i64(counter))),
                };
                NewToken {
                    serial: t.serial.as_str().to_owned(),
                    kind: kind.to_owned(),
                    hash: hash_name(t.hash).to_owned(),
                    digits: i64::from(t.digits.get()),
                    step,
                    t0,
                    counter,
                    manufacturer: t.manufacturer.clone(),
                    model: t.model.clone(),
                    sealed: data.seal(rng, &key.number, t.serial.as_str(), t.secret.expose()),
                }
            })
            .collect();
        let total = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        let event = who
            .event("import", &format!("shipment:{}", key.number))
            .with_detail(format!("{total} tokens from {file}"));
        let ImportReport { imported } = self
            .store
            .import_tokens(key.shipment_id, &rows, &event)
            .await?;
        Ok(ImportOutcome {
            imported,
            totp,
            hotp: total - totp,
        })
    }

    /// Opens the secrets of a shipment's tokens (for building delivery files).
    pub async fn open_secrets(
        &self,
        po: &str,
        number: &str,
    ) -> Result<Vec<(String, Secret)>, Error> {
        let key = self.store.shipment_key(po, number).await?;
        let data = self.data_key(&key.number, &key.wrapped_key, &key.master_key_id)?;
        let mut out = Vec::new();
        for row in self.store.tokens_of(key.shipment_id).await? {
            let plain = data.open(&key.number, &row.serial, &row.sealed)?;
            let secret =
                Secret::new(plain.to_vec()).map_err(|_| oathvault_vault::Error::Damaged)?;
            out.push((row.serial, secret));
        }
        Ok(out)
    }

    /// Creates a portal staff account (see [`oathvault_accounts::add_account`]).
    /// Returns the account id and the `otpauth://` URI to enrol an
    /// authenticator app (shown once).
    pub async fn add_staff<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        who: &Actor,
        staff: &NewStaff<'_>,
    ) -> Result<(i64, Zeroizing<String>), Error> {
        let event = who.event(
            "staff.add",
            &format!("staff:{}", staff.email.trim().to_ascii_lowercase()),
        );
        let account = NewAccount {
            email: staff.email,
            name: staff.name,
            role: Some(staff.role),
            desk_role: None,
            password: staff.password,
        };
        Ok(oathvault_accounts::add_account(
            rng,
            self.store,
            self.master,
            self.issuer,
            &account,
            event,
        )
        .await?)
    }

    /// Switches a staff member's sign-in off (ending their sessions) or on.
    /// Nobody switches themselves off; the last administrator stays.
    pub async fn set_staff_disabled(
        &self,
        who: &Actor,
        email: &str,
        disabled: bool,
    ) -> Result<(), Error> {
        let email = email.trim().to_ascii_lowercase();
        if disabled && email == who.name.to_ascii_lowercase() {
            return Err(Error::Invalid(
                "you cannot switch off your own account".into(),
            ));
        }
        let action = if disabled {
            "staff.disable"
        } else {
            "staff.enable"
        };
        let event = who.event(action, &format!("staff:{email}"));
        Ok(self
            .store
            .set_staff_disabled(&email, disabled, &event)
            .await?)
    }

    /// Shreds shipment `number`'s seeds: its data key and every sealed seed
    /// destroyed for good (audited as `shipment.shred` with the reason).
    pub async fn shred(
        &self,
        who: &Actor,
        number: &str,
        reason: &str,
    ) -> Result<oathvault_store::Shredded, Error> {
        let number = required(number, "the shipment number")?;
        let reason = required(reason, "the reason")?;
        let event = who
            .event("shipment.shred", &format!("shipment:{number}"))
            .with_detail(reason.to_owned());
        Ok(self.store.shred_shipment(number, reason, &event).await?)
    }

    /// Lifts a staff member's sign-in lock.
    pub async fn unlock_staff(&self, who: &Actor, email: &str) -> Result<(), Error> {
        let email = email.trim().to_ascii_lowercase();
        let event = who.event("staff.unlock", &format!("staff:{email}"));
        Ok(self.store.unlock_staff(&email, &event).await?)
    }
}

/// `value` trimmed, or an error naming `what` when it is empty or too long.
fn required<'s>(value: &'s str, what: &str) -> Result<&'s str, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::Invalid(format!("{what} is missing")));
    }
    if v.chars().count() > 200 || v.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} is too long or holds control characters"
        )));
    }
    Ok(v)
}

/// A plausible e-mail address, lower-cased (the accounts' rule).
fn check_email(e: &str) -> Result<String, Error> {
    Ok(oathvault_accounts::check_email(e)?)
}

/// An Argon2id hash (PHC string) of `password` with a salt from `rng`.
pub fn hash_password<R: RngCore + CryptoRng>(rng: &mut R, password: &str) -> Result<String, Error> {
    oathvault_accounts::password::hash(rng, password).map_err(|e| Error::Hash(e.to_string()))
}

/// Checks `password` against a stored Argon2id hash (constant time in the hash).
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    oathvault_accounts::password::verify(password, hash)
}
