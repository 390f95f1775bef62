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
use oathvault_vault::{DataKey, MasterKey};
use rand08::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::mail;

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

/// A random token for a cookie or a link, and its SHA-256 (hex) to store.
pub fn new_token(rng: &mut (impl RngCore + CryptoRng)) -> (String, String) {
    let mut raw = [0u8; 32];
    rng.fill_bytes(&mut raw);
    let token = data_encoding::BASE64URL_NOPAD.encode(&raw);
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a cookie or link token.
#[must_use]
pub fn token_hash(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
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
    format!("request-secrets:{request_id}")
}

/// The customer side of the portal.
#[derive(Debug)]
pub struct Journey<'a> {
    store: &'a Store,
    master: &'a MasterKey,
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
    pub fn new(store: &'a Store, master: &'a MasterKey, policy: &'a RequestPolicy) -> Self {
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

    /// Step 3: protection. Checks the password (twice, strength) and the
    /// OpenPGP key as the mode needs, and keeps them with the draft (the
    /// password sealed, until submission).
    #[allow(clippy::too_many_arguments, reason = "one per form field")]
    pub async fn protect(
        &self,
        request: &Request,
        split: &str,
        mode: &str,
        password: &str,
        again: &str,
        pgp_key: &str,
        now: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Option<KeyInfo>, JourneyError> {
        let split = match split {
            "one" | "per-shipment" => split,
            _ => {
                return Err(JourneyError::Invalid(
                    "choose one file or one per shipment".into(),
                ));
            }
        };
        let (wants_password, wants_pgp) = match mode {
            "password" => (true, false),
            "pgp" => (false, true),
            "both" => (true, true),
            _ => {
                return Err(JourneyError::Invalid(
                    "choose password, OpenPGP or both".into(),
                ));
            }
        };
        if wants_password {
            check_password(password, again).map_err(JourneyError::Invalid)?;
        }
        let key = if wants_pgp {
            if pgp_key.trim().is_empty() {
                return Err(JourneyError::Invalid(
                    "paste or upload your OpenPGP public key".into(),
                ));
            }
            let (key, info) = check_pgp_key(pgp_key, now).map_err(JourneyError::Invalid)?;
            Some((
                key.to_armored()
                    .map_err(|e| JourneyError::Invalid(format!("the OpenPGP key: {e}")))?,
                info,
            ))
        } else {
            None
        };
        let sealed = if wants_password {
            let secrets = WizardSecrets {
                password: Some(password.to_owned()),
                psk: None,
            };
            let json = Zeroizing::new(serde_json::to_vec(&secrets).unwrap_or_default());
            Some(self.master.seal(rng, &secrets_purpose(request.id), &json))
        } else {
            None
        };
        let fingerprint = key.as_ref().map(|(_, i)| i.fingerprint.clone());
        self.store
            .set_protection(
                request.id,
                split,
                mode,
                sealed.as_deref(),
                key.as_ref().map(|(k, _)| k.as_str()),
                fingerprint.as_deref(),
                &Event::ok(
                    now,
                    &request.email,
                    &request.source,
                    "request.protect",
                    &format!("request:{}", request.reference),
                )
                .with_detail(match &fingerprint {
                    Some(f) => format!("{mode}, {split}, OpenPGP {f}"),
                    None => format!("{mode}, {split}"),
                }),
            )
            .await?;
        Ok(key.map(|(_, i)| i))
    }

    /// The tokens a draft covers (secrets opened), grouped by shipment.
    pub async fn picked_tokens(
        &self,
        request: &Request,
    ) -> Result<Vec<(String, Vec<Token>)>, JourneyError> {
        let mut out = Vec::new();
        for p in self.store.picked(request.id).await? {
            out.push((
                p.number.clone(),
                self.tokens(&request.po, &p.number, p.shipment_id).await?,
            ));
        }
        Ok(out)
    }

    /// Step 4: the format. Refuses a format that cannot carry some of the
    /// picked tokens, naming every serial and why.
    pub async fn choose_format(
        &self,
        request: &Request,
        choice: &FormatChoice,
        now: i64,
    ) -> Result<(), JourneyError> {
        let (format, options) = write_options(choice, None)?;
        let groups = self.picked_tokens(request).await?;
        if groups.is_empty() {
            return Err(JourneyError::Gone);
        }
        let problems = format_problems(format, &options, &groups);
        if !problems.is_empty() {
            return Err(JourneyError::Invalid(format!(
                "{} cannot carry these tokens:\n{}",
                format.name(),
                problems.join("\n")
            )));
        }
        let json = serde_json::to_string(choice).unwrap_or_default();
        self.store
            .set_format(
                request.id,
                format.name(),
                &json,
                &Event::ok(
                    now,
                    &request.email,
                    &request.source,
                    "request.format",
                    &format!("request:{}", request.reference),
                )
                .with_detail(format.name()),
            )
            .await?;
        Ok(())
    }

    /// The first rows a Custom CSV choice gives, secrets masked.
    pub async fn preview(
        &self,
        request: &Request,
        choice: &FormatChoice,
    ) -> Result<String, JourneyError> {
        let (_, options) = write_options(choice, None)?;
        let Some(template) = &options.custom else {
            return Ok(String::new());
        };
        let groups = self.picked_tokens(request).await?;
        let first: Vec<Token> = groups
            .iter()
            .flat_map(|(_, ts)| ts.iter())
            .take(3)
            .cloned()
            .collect();
        Ok(template.preview(&first))
    }

    /// Step 5: submits — builds, packs and seals every file, stores them
    /// with the request in one transaction, queues the mail.
    pub async fn submit(
        &self,
        request: &Request,
        now: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), JourneyError> {
        let (Some(mode), Some(options_json)) = (&request.protection, &request.format_options)
        else {
            return Err(JourneyError::Invalid(
                "choose the protection and the format first".into(),
            ));
        };
        let choice: FormatChoice = serde_json::from_str(options_json)
            .map_err(|e| JourneyError::Build(format!("stored format options: {e}")))?;
        let secrets: WizardSecrets = match self.store.draft_password(request.id).await? {
            Some(sealed) => {
                let plain = self.master.open(&secrets_purpose(request.id), &sealed)?;
                serde_json::from_slice(&plain)
                    .map_err(|e| JourneyError::Build(format!("sealed wizard secrets: {e}")))?
            }
            None => WizardSecrets::default(),
        };
        let password = secrets.password.as_deref().map(Password::new);
        if matches!(mode.as_str(), "password" | "both") && password.is_none() {
            return Err(JourneyError::Invalid("type the password again".into()));
        }
        let recipient = match &request.pgp_key {
            Some(k) if mode != "password" => {
                Some(check_pgp_key(k, now).map_err(JourneyError::Invalid)?.0)
            }
            _ => None,
        };
        let (format, options) = write_options(&choice, password.as_ref())?;
        let groups = self.picked_tokens(request).await?;
        let problems = format_problems(format, &options, &groups);
        if !problems.is_empty() {
            return Err(JourneyError::Invalid(problems.join("\n")));
        }
        let parts: Vec<(Vec<String>, Vec<Token>)> = if request.split == "per-shipment" {
            groups.into_iter().map(|(n, ts)| (vec![n], ts)).collect()
        } else {
            vec![(
                groups.iter().map(|(n, _)| n.clone()).collect(),
                groups.into_iter().flat_map(|(_, ts)| ts).collect(),
            )]
        };
        // Rendering, zipping, OpenPGP and Argon2id take CPU for a while:
        // on the blocking pool, so the other pages keep answering.
        let job = PackJob {
            reference: request.reference.clone(),
            po: request.po.clone(),
            vendor: self.policy.vendor.clone(),
            format,
            options,
            password,
            recipient,
            now,
        };
        // At most one build per core at a time: Argon2id takes 19 MiB and a
        // core each, and a burst of submissions must not thrash.
        let _permit = builders()
            .acquire()
            .await
            .map_err(|e| JourneyError::Build(format!("the build queue closed: {e}")))?;
        let (packed, password_hash) = tokio::task::spawn_blocking(move || job.run(&parts))
            .await
            .map_err(|e| JourneyError::Build(format!("the build stopped: {e}")))??;
        let files: Vec<NewFile> = packed
            .into_iter()
            .map(|p| self.seal_file(request, p, rng))
            .collect();
        let mail = [
            mail::seal(self.master, &mail::received(self.policy, request, &files)),
            mail::seal(
                self.master,
                &mail::new_request(self.policy, request, &files),
            ),
        ];
        let total: i64 = files.iter().map(|f| f.tokens).sum();
        self.store
            .submit(
                request.id,
                password_hash.as_deref(),
                &files,
                &mail,
                &Event::ok(
                    now,
                    &request.email,
                    &request.source,
                    "request.submit",
                    &format!("request:{}", request.reference),
                )
                .with_detail(format!(
                    "{} file(s), {total} tokens, {}, {mode}",
                    files.len(),
                    format.name()
                )),
            )
            .await?;
        Ok(())
    }

    /// Seals a packed file under a fresh data key wrapped by the master key.
    fn seal_file(
        &self,
        request: &Request,
        p: Packed,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> NewFile {
        let sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(p.bytes.as_slice()));
        let data = DataKey::generate(rng);
        let content_sealed = data.seal(rng, &request.reference, &p.name, &p.bytes);
        let key_wrapped =
            self.master
                .wrap(rng, &data, &file_key_owner(&request.reference, &p.name));
        NewFile {
            shipments: p.numbers,
            name: p.name,
            tokens: p.tokens,
            content_sealed,
            key_wrapped,
            master_key_id: self.master.id(),
            sha256,
            size: i64::try_from(p.bytes.len()).unwrap_or(i64::MAX),
        }
    }
}

/// The builds allowed at once: one per core.
fn builders() -> &'static tokio::sync::Semaphore {
    static BUILDERS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    BUILDERS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from))
    })
}

/// What building a request's files needs, owned (it runs on the blocking
/// pool).
struct PackJob {
    reference: String,
    po: String,
    vendor: String,
    format: Format,
    options: WriteOptions,
    password: Option<Password>,
    recipient: Option<PublicKey>,
    now: i64,
}

/// One file, packed (not yet sealed).
struct Packed {
    numbers: Vec<String>,
    name: String,
    tokens: i64,
    bytes: Zeroizing<Vec<u8>>,
}

impl PackJob {
    /// Packs every part and hashes the download password.
    fn run(
        &self,
        parts: &[(Vec<String>, Vec<Token>)],
    ) -> Result<(Vec<Packed>, Option<String>), JourneyError> {
        let mut rng = oathvault_vault::random::os();
        let seal = Seal {
            password: self.password.as_ref(),
            recipient: self.recipient.as_ref(),
            pgp_password: None,
            signer: None,
            now: self.now,
        };
        let packed = parts
            .iter()
            .map(|(numbers, tokens)| self.pack(numbers, tokens, &seal, &mut rng))
            .collect::<Result<_, _>>()?;
        let password_hash = match &self.password {
            Some(p) => Some(
                crate::admin::hash_password(&mut rng, p.expose())
                    .map_err(|e| JourneyError::Build(e.to_string()))?,
            ),
            None => None,
        };
        Ok((packed, password_hash))
    }

    fn pack(
        &self,
        numbers: &[String],
        tokens: &[Token],
        seal: &Seal<'_>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Packed, JourneyError> {
        let mut rendered = Zeroizing::new(Vec::new());
        {
            let mut w = oathvault_formats::writer(self.format, &mut *rendered, &self.options)
                .map_err(|e| JourneyError::Build(e.to_string()))?;
            for t in tokens {
                w.write(t).map_err(|e| JourneyError::Build(e.to_string()))?;
            }
            w.finish().map_err(|e| JourneyError::Build(e.to_string()))?;
        }
        let stem = format!(
            "{}-{}",
            self.reference,
            numbers
                .join("+")
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        );
        let serials: Vec<&str> = tokens.iter().map(|t| t.serial.as_str()).collect();
        let mut manifest = Manifest::new(&[], seal.now);
        manifest.vendor = Some(self.vendor.clone());
        manifest.order = Some(self.po.clone());
        manifest.shipments = numbers.to_vec();
        let source = Source {
            entry: Entry {
                name: format!("{stem}.{}", self.format.extension()),
                bytes: 0,
                sha256: String::new(),
                format: Some(self.format.name().to_owned()),
                tokens: Some(u64::try_from(tokens.len()).unwrap_or(u64::MAX)),
                first_serial: serials.iter().min().map(|s| (*s).to_owned()),
                last_serial: serials.iter().max().map(|s| (*s).to_owned()),
            },
            content: Box::new(rendered.as_slice()),
        };
        let mut bytes = Zeroizing::new(Vec::new());
        package::pack_stream(rng, vec![source], manifest, seal, &mut *bytes)
            .map_err(|e| JourneyError::Build(e.to_string()))?;
        Ok(Packed {
            numbers: numbers.to_vec(),
            name: format!("{stem}.{}", package::extension(seal)),
            tokens: i64::try_from(tokens.len()).unwrap_or(i64::MAX),
            bytes,
        })
    }
}

/// Whom a file's data key belongs to (binds the wrapped key to the file).
#[must_use]
pub fn file_key_owner(reference: &str, name: &str) -> String {
    format!("delivery:{reference}:{name}")
}

/// Every reason `format` cannot carry the groups' tokens (serial: why).
fn format_problems(
    format: Format,
    options: &WriteOptions,
    groups: &[(String, Vec<Token>)],
) -> Vec<String> {
    let target: Target = format.target();
    let mut out: Vec<String> = groups
        .iter()
        .flat_map(|(_, ts)| ts.iter())
        .flat_map(|t| target.check(t))
        .map(|v| v.to_string())
        .collect();
    if out.is_empty()
        && let Err(e) = oathvault_formats::writer(format, std::io::sink(), options)
    {
        out.push(e.to_string());
    }
    out
}

/// The writer settings a choice names.
fn write_options(
    choice: &FormatChoice,
    password: Option<&Password>,
) -> Result<(Format, WriteOptions), JourneyError> {
    let format: Format = choice.format.parse().map_err(JourneyError::Invalid)?;
    if !format.writable() {
        return Err(JourneyError::Invalid(format!(
            "{} can only be read",
            format.name()
        )));
    }
    let mut options = WriteOptions::default();
    if let Some(e) = &choice.encoding {
        options.secret_encoding = match e.as_str() {
            "hex" => SecretEncoding::Hex,
            "base32" => SecretEncoding::Base32,
            "base64" => SecretEncoding::Base64,
            other => {
                return Err(JourneyError::Invalid(format!(
                    "unknown secret encoding {other:?}"
                )));
            }
        };
    }
    if format == Format::Pskc {
        options.pskc = match choice.pskc.as_deref().unwrap_or("plain") {
            "plain" => Protection::Plain,
            "passphrase" => match password {
                Some(p) => Protection::Passphrase {
                    passphrase: Zeroizing::new(p.expose().to_owned()),
                    iterations: oathvault_formats::pskc::DEFAULT_ITERATIONS,
                    name: "the download password".into(),
                },
                // Checked again at submission, when the password is known.
                None => Protection::Plain,
            },
            other => {
                return Err(JourneyError::Invalid(format!(
                    "unknown PSKC protection {other:?}"
                )));
            }
        };
    }
    if format == Format::CustomCsv {
        let mut columns = Vec::new();
        for (name, value) in &choice.columns {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let value =
                if let Some(fixed) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    Value::Fixed(fixed.to_owned())
                } else {
                    Value::Property(
                        Property::ALL
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(value.trim()))
                            .map(|(_, p)| *p)
                            .ok_or_else(|| {
                                JourneyError::Invalid(format!("unknown token property {value:?}"))
                            })?,
                    )
                };
            columns.push(Column {
                name: name.to_owned(),
                value,
            });
        }
        if columns.is_empty() {
            return Err(JourneyError::Invalid("add at least one column".into()));
        }
        options.custom = Some(Template {
            columns,
            header: choice.header,
            secret_encoding: options.secret_encoding,
        });
    }
    Ok((format, options))
}

/// A stored token with its secret opened.
fn token_of(data: &DataKey, shipment: &str, r: &TokenRow) -> Result<Token, JourneyError> {
    let bad =
        |what: &str| JourneyError::Build(format!("token {}: stored {what} unreadable", r.serial));
    let plain = data.open(shipment, &r.serial, &r.sealed)?;
    let secret = Secret::new(plain.to_vec()).map_err(|_| bad("secret"))?;
    let u = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let step = Step::new(u(r.step).max(1)).map_err(|_| bad("step"))?;
    let kind = Kind::parse_name(&r.kind, step, u(r.t0), u(r.counter)).map_err(|_| bad("kind"))?;
    let hash = match r.hash.as_str() {
        "sha1" => Hash::Sha1,
        "sha256" => Hash::Sha256,
        "sha512" => Hash::Sha512,
        _ => return Err(bad("hash")),
    };
    let digits = Digits::new(u(Some(r.digits))).map_err(|_| bad("digits"))?;
    let mut t = Token::totp(
        Serial::new(&r.serial).map_err(|_| bad("serial"))?,
        secret,
        step,
    );
    t.kind = kind;
    t.hash = hash;
    t.digits = digits;
    t.manufacturer.clone_from(&r.manufacturer);
    t.model.clone_from(&r.model);
    Ok(t)
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
