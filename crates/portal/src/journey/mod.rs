//! The customer's seed file request, step by step (`portal.md`, "Customer
//! journey"): find the order, prove each picked shipment, choose the
//! protection and the format, submit. The wizard lives in the database as
//! a draft behind a random cookie (only its hash is stored) and expires.
//!
//! At submission the files are built at once — rendered, zipped (AES-256
//! with a password), OpenPGP-encrypted (with a key) — and stored sealed
//! under a fresh data key per file; the password itself is dropped (only
//! an Argon2id hash stays, for the download page). Time and randomness come
//! from the caller.

use std::collections::HashSet;

use oathvault_formats::custom_csv::{Column, Property, Template, Value};
use oathvault_formats::pskc::Protection;
use oathvault_formats::{Format, Target, WriteOptions};
use oathvault_otp::{Otp, Window};
use oathvault_packaging::manifest::Manifest;
use oathvault_packaging::package::{self, Seal, Source};
use oathvault_packaging::pgp::{KeyInfo, PublicKey};
use oathvault_packaging::{Password, manifest::Entry};
use oathvault_store::{Event, NewDraft, NewFile, Request, Store, TokenRow};
use oathvault_token::{Digits, Hash, Kind, Secret, SecretEncoding, Serial, Step, Token};
use oathvault_vault::{DataKey, Keyring};
use rand08::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::mail;

mod choices;
mod submit;

pub use submit::file_key_owner;
use submit::{format_problems, token_of, write_options};

/// The vendor's rules for requests.
#[derive(Debug, Clone)]
pub struct RequestPolicy {
    /// How long a wizard lasts (seconds).
    pub draft_ttl: i64,
    /// Wrong serials and codes before a request is locked.
    pub wrong_limit: i64,
    /// Also ask for the code the picked token shows now.
    pub ask_code: bool,
    /// Steps either side of now a code may be from.
    pub code_window: u32,
    /// How long approved files can be downloaded (seconds).
    pub file_ttl: i64,
    /// Order lookups per source address per window.
    pub find_per_source: i64,
    /// Order lookups per identifier per window.
    pub find_per_identifier: i64,
    /// The rate-limit window (seconds).
    pub find_window: i64,
    /// Every answer to a lookup takes at least this long (milliseconds), so
    /// hits and every kind of miss take the same time.
    pub find_floor_ms: u64,
    /// Wrong download passwords per file per window.
    pub download_tries: i64,
    /// Where "new request" and "request locked" mail goes.
    pub delivery_team: Vec<String>,
    /// How customers reach the delivery team (shown on a miss).
    pub contact_hint: String,
    /// The vendor's name (manifest, mail).
    pub vendor: String,
    /// Four eyes: a reviewer who last changed the request's customer or
    /// order data cannot approve it.
    pub four_eyes: bool,
    /// Seconds after delivery before a shipment's seeds are shredded;
    /// `None`: they are kept until someone shreds them.
    pub shred_after: Option<i64>,
}

impl Default for RequestPolicy {
    fn default() -> Self {
        Self {
            draft_ttl: 3600,
            wrong_limit: 5,
            ask_code: false,
            code_window: 2,
            file_ttl: 7 * 24 * 3600,
            find_per_source: 20,
            find_per_identifier: 10,
            find_window: 3600,
            find_floor_ms: 250,
            download_tries: 10,
            delivery_team: vec!["delivery@vendor.example".into()],
            contact_hint: "your account manager, or the delivery team with your PO, invoice or \
                           shipment number"
                .into(),
            vendor: "oathvault demo vendor".into(),
            four_eyes: false,
            shred_after: Some(30 * 86_400),
        }
    }
}

/// Why a step was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JourneyError {
    /// What the customer sent is not acceptable (shown to them).
    #[error("{0}")]
    Invalid(String),
    /// The wizard is gone (expired, submitted or locked).
    #[error("this request has expired or was already sent; please start again")]
    Gone,
    /// From the store.
    #[error(transparent)]
    Store(#[from] oathvault_store::Error),
    /// A seal could not be opened.
    #[error(transparent)]
    Vault(#[from] oathvault_vault::Error),
    /// Building the files failed.
    #[error("building the files failed: {0}")]
    Build(String),
}

/// The stored form of a cookie or link token (the accounts' session-token hash).
pub use oathvault_accounts::session::token_hash;

/// A random token for a cookie or a link (the accounts' session token),
/// and its SHA-256 (hex) to store.
pub fn new_token(rng: &mut (impl RngCore + CryptoRng)) -> (String, String) {
    let token = oathvault_accounts::session::new_token(rng);
    let hash = token_hash(&token);
    (token.as_str().to_owned(), hash)
}

/// A request reference people can read out: `R-XXXX-XXXX` (no 0/O, 1/I).
pub fn new_reference(rng: &mut (impl RngCore + CryptoRng)) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut out = String::from("R-");
    for i in 0..8 {
        if i == 4 {
            out.push('-');
        }
        let n = usize::try_from(rng.next_u32() % 32).unwrap_or(0);
        out.push(char::from(ALPHABET.get(n).copied().unwrap_or(b'X')));
    }
    out
}

/// Checks a download password: typed twice alike, long enough, varied
/// enough, not a known weak one. Returns what is wrong, in words.
pub fn check_password(password: &str, again: &str) -> Result<(), String> {
    const WEAK: [&str; 12] = [
        "password", "123456", "qwerty", "letmein", "welcome", "admin", "iloveyou", "monkey",
        "dragon", "abc123", "passw0rd", "111111",
    ];
    if password != again {
        return Err("the two passwords differ".into());
    }
    let chars = password.chars().count();
    if chars < 12 {
        return Err("the password needs at least 12 characters".into());
    }
    let lower = password.to_lowercase();
    if let Some(w) = WEAK.iter().find(|w| lower.contains(*w)) {
        return Err(format!("the password contains the well-known {w:?}"));
    }
    let distinct: HashSet<char> = password.chars().collect();
    if distinct.len() < 6 {
        return Err("the password repeats too few different characters".into());
    }
    let classes = [
        password.chars().any(char::is_lowercase),
        password.chars().any(char::is_uppercase),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .into_iter()
    .filter(|x| *x)
    .count();
    // Either long (a passphrase) or mixed.
    if chars < 16 && classes < 3 {
        return Err(
            "use 16 or more characters, or mix at least three of lower case, upper case, digits \
             and symbols"
                .into(),
        );
    }
    Ok(())
}

/// Parses and checks a customer's OpenPGP key for encrypting a delivery.
pub fn check_pgp_key(armored: &str, now: i64) -> Result<(PublicKey, KeyInfo), String> {
    let key = PublicKey::parse(armored.trim().as_bytes())
        .map_err(|e| format!("the OpenPGP key cannot be used: {e}"))?;
    key.check_for_encryption(now)
        .map_err(|e| format!("the OpenPGP key cannot be used: {e}"))?;
    let info = key.info(now);
    Ok((key, info))
}

/// A picked shipment and the evidence typed for it.
#[derive(Debug, Clone, Default)]
pub struct Pick {
    /// The shipment's row id.
    pub shipment_id: i64,
    /// The serial of one token in it.
    pub serial: String,
    /// The code that token shows now (when the vendor asks for it).
    pub code: Option<String>,
}

/// What checking the picks gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Every pick proved; recorded.
    Proved,
    /// Some answers were wrong (counted); what to say, and tries left.
    Wrong {
        /// Per shipment number, what was wrong.
        problems: Vec<String>,
        /// Tries left before the request is locked.
        left: i64,
    },
    /// Too many wrong answers: the request is locked.
    Locked,
}

/// The format the customer chose and its options (stored as JSON; no
/// secrets: a PSKC pre-shared key or passphrase lives with the sealed
/// password until submission).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatChoice {
    /// Format name (`Format::name`).
    pub format: String,
    /// PSKC: `plain`, `psk` or `passphrase`.
    #[serde(default)]
    pub pskc: Option<String>,
    /// Secret encoding for formats that choose it: `hex`, `base32`, `base64`.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Custom CSV columns: (name, property name or `"fixed"`).
    #[serde(default)]
    pub columns: Vec<(String, String)>,
    /// Custom CSV header row.
    #[serde(default)]
    pub header: bool,
}

/// Secrets the wizard keeps sealed until submission.
#[derive(Default, Serialize, Deserialize)]
struct WizardSecrets {
    password: Option<String>,
    /// PSKC pre-shared key, hex.
    psk: Option<String>,
}

impl Drop for WizardSecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(p) = &mut self.password {
            p.zeroize();
        }
        if let Some(p) = &mut self.psk {
            p.zeroize();
        }
    }
}

fn secrets_purpose(request_id: i64) -> String {
    oathvault_store::custody::bind::request_secrets(request_id)
}

/// The customer side of the portal.
#[derive(Debug)]
pub struct Journey<'a> {
    store: &'a Store,
    master: &'a Keyring,
    policy: &'a RequestPolicy,
}

/// What the find step gives. `Debug` never shows the cookie.
pub enum Found {
    /// A draft was started; set this wizard cookie.
    Started {
        /// The cookie value.
        cookie: String,
        /// The draft.
        request: Box<Request>,
    },
    /// No order for that number and e-mail, or too many tries: the same
    /// answer for every kind of miss.
    Miss,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Started { request, .. } => f
                .debug_struct("Started")
                .field("request", &request.reference)
                .finish_non_exhaustive(),
            Self::Miss => f.write_str("Miss"),
        }
    }
}

impl<'a> Journey<'a> {
    /// Over a store, the master key and the vendor's rules.
    #[must_use]
    pub fn new(store: &'a Store, master: &'a Keyring, policy: &'a RequestPolicy) -> Self {
        Self {
            store,
            master,
            policy,
        }
    }

    /// Step 1: finds the order. Rate-limited per source and per
    /// identifier; every miss (unknown number, wrong e-mail, limited)
    /// is the same `Miss`, audited with the reason for staff.
    pub async fn find(
        &self,
        identifier: &str,
        email: &str,
        source: &str,
        now: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Found, JourneyError> {
        let p = self.policy;
        let id_key = identifier.trim().to_ascii_lowercase();
        let by_source = self
            .store
            .rate_hit(
                &format!("find:ip:{source}"),
                now,
                p.find_window,
                p.find_per_source,
            )
            .await?;
        let by_id = self
            .store
            .rate_hit(
                &format!("find:id:{id_key}"),
                now,
                p.find_window,
                p.find_per_identifier,
            )
            .await?;
        let found = self.store.find_order(identifier, email).await?;
        let miss = |why: &str| {
            Event::ok(
                now,
                "anonymous",
                source,
                "request.find",
                &format!("identifier:{}", identifier.trim()),
            )
            .with_outcome("refused")
            .with_detail(why.to_owned())
        };
        if !(by_source && by_id) {
            self.store.audit(&miss("rate limited")).await?;
            return Ok(Found::Miss);
        }
        let Some(order) = found else {
            self.store
                .audit(&miss("no order for that number and e-mail"))
                .await?;
            return Ok(Found::Miss);
        };
        let (cookie, hash) = new_token(rng);
        let reference = new_reference(rng);
        let email = email.trim().to_ascii_lowercase();
        let id = self
            .store
            .create_draft(
                &NewDraft {
                    reference: &reference,
                    wizard_hash: &hash,
                    order_id: order.order_id,
                    email: &email,
                    source,
                    expires: now + p.draft_ttl,
                },
                &Event::ok(
                    now,
                    &email,
                    source,
                    "request.start",
                    &format!("request:{reference}"),
                )
                .with_detail(format!("order {}", order.po)),
            )
            .await?;
        let request = self.store.request(id).await?;
        Ok(Found::Started {
            cookie,
            request: Box::new(request),
        })
    }

    /// The draft behind a wizard cookie.
    pub async fn draft(&self, cookie: &str, now: i64) -> Result<Request, JourneyError> {
        self.store
            .draft(&token_hash(cookie), now)
            .await?
            .ok_or(JourneyError::Gone)
    }

    /// Step 2: checks each pick (a serial in that shipment; with the
    /// vendor's rule, also the code that token shows at `now`). Wrong
    /// answers are counted; at the limit the request is locked and the
    /// delivery team is told.
    pub async fn verify(
        &self,
        request: &Request,
        picks: &[Pick],
        now: i64,
    ) -> Result<Verified, JourneyError> {
        if picks.is_empty() {
            return Err(JourneyError::Invalid("pick at least one shipment".into()));
        }
        let shipments = self.store.order_shipments(request.order_id).await?;
        let mut problems = Vec::new();
        let mut evidence = Vec::new();
        for pick in picks {
            let Some(s) = shipments.iter().find(|s| s.id == pick.shipment_id) else {
                return Err(JourneyError::Invalid(
                    "that shipment is not in this order".into(),
                ));
            };
            if let Some(at) = s.shredded_at {
                return Err(self.shredded(&s.number, at));
            }
            let serial = pick.serial.trim();
            if serial.is_empty() {
                return Err(JourneyError::Invalid(format!(
                    "shipment {}: type the serial of one of its tokens",
                    s.number
                )));
            }
            if !self.store.shipment_has_serial(s.id, serial).await? {
                problems.push(format!("shipment {}: that serial is not in it", s.number));
                continue;
            }
            if self.policy.ask_code {
                let code = pick.code.as_deref().unwrap_or("").trim();
                match self.code_matches(&request.po, &s.number, s.id, serial, code, now).await? {
                    Some(offset) => evidence.push((
                        s.id,
                        format!("serial {serial} in the shipment; its current code matched (drift {offset:+} steps)"),
                    )),
                    None => problems.push(format!(
                        "shipment {}: that is not the code token {serial} shows now",
                        s.number
                    )),
                }
            } else {
                evidence.push((s.id, format!("serial {serial} in the shipment")));
            }
        }
        let who = request.email.as_str();
        let subject = format!("request:{}", request.reference);
        if !problems.is_empty() {
            let wrong = i64::try_from(problems.len()).unwrap_or(i64::MAX);
            let (total, locked) = self
                .store
                .count_wrong(
                    request.id,
                    wrong,
                    self.policy.wrong_limit,
                    &Event::ok(now, who, &request.source, "request.verify", &subject)
                        .with_outcome("refused")
                        .with_detail(problems.join("; ")),
                    &Event::ok(now, who, &request.source, "request.lock", &subject)
                        .with_detail(format!("{} wrong answers", self.policy.wrong_limit)),
                )
                .await?;
            if locked {
                let note = mail::locked(self.policy, request, total);
                self.store
                    .queue_mail(&[mail::seal(self.master, &note)], now)
                    .await?;
                return Ok(Verified::Locked);
            }
            return Ok(Verified::Wrong {
                problems,
                left: self.policy.wrong_limit - total,
            });
        }
        self.store
            .set_picked(
                request.id,
                &evidence,
                &Event::ok(now, who, &request.source, "request.verify", &subject).with_detail(
                    evidence
                        .iter()
                        .map(|(_, e)| e.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            )
            .await?;
        Ok(Verified::Proved)
    }

    /// The refusal for a shipment whose seeds were shredded: no file can
    /// be made for it; whom to contact.
    fn shredded(&self, number: &str, at: i64) -> JourneyError {
        JourneyError::Invalid(format!(
            "shipment {number}: its seeds were destroyed on {} under {}'s retention rule, so no file can be made for it any more. Contact {} if you need the tokens replaced",
            oathvault_otp::clock::display(at),
            self.policy.vendor,
            self.policy.contact_hint
        ))
    }

    async fn code_matches(
        &self,
        po: &str,
        number: &str,
        shipment_id: i64,
        serial: &str,
        code: &str,
        now: i64,
    ) -> Result<Option<i64>, JourneyError> {
        if code.is_empty() {
            return Ok(None);
        }
        // Only this token's secret is opened, not the whole shipment's.
        let Some(row) = self.store.token_in(shipment_id, serial).await? else {
            return Ok(None);
        };
        let key = self.store.shipment_key(po, number).await?;
        let data = self.master.unwrap(&key.wrapped_key, &key.number)?;
        let t = token_of(&data, &key.number, &row)?;
        let Ok(otp) = Otp::new(&t) else {
            return Ok(None);
        };
        let at = u64::try_from(now).unwrap_or(0);
        Ok(match t.kind {
            Kind::Totp { .. } => otp
                .verify_totp(code, at, Window::symmetric(self.policy.code_window))
                .ok()
                .flatten()
                .map(|m| m.offset),
            Kind::Hotp { counter } => otp
                .verify_counter(
                    code,
                    counter,
                    Window {
                        behind: 0,
                        ahead: 20,
                    },
                )
                .ok()
                .flatten()
                .map(|m| m.offset),
        })
    }

    /// The tokens of a shipment with their secrets opened.
    async fn tokens(
        &self,
        po: &str,
        number: &str,
        shipment_id: i64,
    ) -> Result<Vec<Token>, JourneyError> {
        let key = self.store.shipment_key(po, number).await?;
        let data = self.master.unwrap(&key.wrapped_key, &key.number)?;
        let rows = self.store.tokens_of(shipment_id).await?;
        rows.iter()
            .map(|r| token_of(&data, &key.number, r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_length_and_variety() {
        assert!(check_password("a", "a").is_err());
        assert_eq!(
            check_password("Correct-Horse-9", "Correct-Horse-8").unwrap_err(),
            "the two passwords differ"
        );
        assert!(
            check_password("MyPassword2026!", "MyPassword2026!")
                .unwrap_err()
                .contains("well-known")
        );
        assert!(check_password("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa").is_err());
        assert!(
            check_password("abcdefghijkl", "abcdefghijkl").is_err(),
            "short and one class"
        );
        assert!(check_password("Tulip-Orbit-42", "Tulip-Orbit-42").is_ok());
        assert!(check_password("tulip orbit candle river", "tulip orbit candle river").is_ok());
    }

    #[test]
    fn references_are_readable() {
        let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(3);
        let r = new_reference(&mut rng);
        assert_eq!(r.len(), 11, "{r}");
        assert!(r.starts_with("R-") && r.get(6..7) == Some("-"), "{r}");
        assert!(!r.contains(['0', 'O', '1', 'I']), "{r}");
        let (token, hash) = new_token(&mut rng);
        assert_eq!(token_hash(&token), hash);
        assert_eq!(token.len(), 43);
    }
}
