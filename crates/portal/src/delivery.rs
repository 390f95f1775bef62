//! The delivery team's decision and what follows (`portal.md`, "Delivery
//! team" and "Delivery and deletion"): approve (links made, one e-mail per
//! file) or reject with a reason (files destroyed); the download page's
//! password check and hand-out; confirmation, which destroys content and
//! key at once; the deletion receipt; the expiry sweep; the outbox sender.

use oathvault_otp::clock::rfc3339;
use oathvault_store::{DeliveryFile, Event, FileLinks, FileState, Request, RequestState, Store};
use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::journey::{RequestPolicy, file_key_owner, new_token, token_hash};
use crate::mail::{self, FileMail};
use crate::signing::{SigningError, VendorKey};
use oathvault_packaging::pgp::PublicKey;

/// Why a delivery step was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The link names no file (or no longer does).
    #[error("this link is not valid")]
    UnknownLink,
    /// The file was confirmed, expired or withdrawn: it is gone.
    #[error("this file was deleted ({})", .0.as_str())]
    Gone(FileState),
    /// Wrong password.
    #[error("wrong password")]
    WrongPassword,
    /// Too many wrong passwords for now.
    #[error("too many wrong passwords; try again later")]
    Limited,
    /// The request is not where the step needs it.
    #[error("{0}")]
    Refused(String),
    /// From the store.
    #[error(transparent)]
    Store(#[from] oathvault_store::Error),
    /// A seal did not open.
    #[error(transparent)]
    Vault(#[from] oathvault_vault::Error),
    /// The vendor's signing key.
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// A downloaded file.
pub struct Download {
    /// File name.
    pub name: String,
    /// Content (a sealed package: AES ZIP and/or OpenPGP).
    pub bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("name", &self.name)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The delivery side of the portal.
#[derive(Debug)]
pub struct Delivery<'a> {
    store: &'a Store,
    master: &'a Keyring,
    policy: &'a RequestPolicy,
    base_url: &'a str,
}

impl<'a> Delivery<'a> {
    /// Over a store, the master key, the vendor's rules and the address
    /// links point at.
    #[must_use]
    pub fn new(
        store: &'a Store,
        master: &'a Keyring,
        policy: &'a RequestPolicy,
        base_url: &'a str,
    ) -> Self {
        Self {
            store,
            master,
            policy,
            base_url: base_url.trim_end_matches('/'),
        }
    }

    /// Approves a submitted request: each file gets a download and a
    /// confirmation token (only hashes stored) and an expiry; the requester
    /// gets one e-mail per file.
    pub async fn approve(
        &self,
        request_id: i64,
        reviewer: &str,
        source: &str,
        now: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), DeliveryError> {
        let r = self.store.request(request_id).await?;
        if r.state != RequestState::Submitted {
            return Err(DeliveryError::Refused(format!(
                "request {} is {}, not waiting for review",
                r.reference,
                r.state.as_str()
            )));
        }
        if self.policy.four_eyes {
            let subjects = [
                format!("customer:{}", r.customer),
                format!("order:{}", r.po),
            ];
            let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
            if self.store.last_changed_by(&subjects).await?.as_deref() == Some(reviewer) {
                return Err(DeliveryError::Refused(format!(
                    "four eyes: you made the last change to {}'s data (customer {}, order {}); another reviewer must approve",
                    r.customer, r.customer, r.po
                )));
            }
        }
        let files = self.store.files_of(request_id).await?;
        let vendor = VendorKey::load_or_generate(
            self.store,
            self.master,
            rng,
            &self.policy.vendor,
            (now, reviewer, source),
        )
        .await?;
        let expires = now + self.policy.file_ttl;
        let mut links = Vec::new();
        let mut mails = Vec::new();
        for f in &files {
            let (download, download_hash) = new_token(rng);
            let (confirm, confirm_hash) = new_token(rng);
            links.push(FileLinks {
                file_id: f.id,
                download_hash,
                confirm_hash,
            });
            let m = FileMail {
                name: f.name.clone(),
                tokens: f.tokens,
                shipments: f.shipments.clone(),
                sha256: f.sha256.clone(),
                download_url: format!("{}/d/{download}", self.base_url),
                confirm_url: format!("{}/c/{confirm}", self.base_url),
                vendor_fingerprint: vendor.fingerprint(),
                vendor_key_url: format!("{}/vendor-key.asc", self.base_url),
            };
            mails.push(mail::seal(
                self.master,
                &mail::Outgoing {
                    delivers: Some(r.id),
                    ..mail::approved(self.policy, &r, &m, &rfc3339(expires), r.has_password)
                },
            ));
        }
        self.store
            .approve(
                request_id,
                reviewer,
                &links,
                expires,
                &mails,
                &Event::ok(
                    now,
                    reviewer,
                    source,
                    "request.approve",
                    &format!("request:{}", r.reference),
                )
                .with_detail(format!(
                    "{} file(s), links until {}",
                    files.len(),
                    rfc3339(expires)
                )),
            )
            .await?;
        Ok(())
    }

    /// Rejects a submitted request with a reason (told to the customer);
    /// its files are destroyed.
    pub async fn reject(
        &self,
        request_id: i64,
        reviewer: &str,
        reason: &str,
        source: &str,
        now: i64,
    ) -> Result<(), DeliveryError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(DeliveryError::Refused(
                "give the reason (the customer reads it)".into(),
            ));
        }
        let r = self.store.request(request_id).await?;
        let m = mail::seal(self.master, &mail::rejected(self.policy, &r, reason));
        self.store
            .reject(
                request_id,
                reviewer,
                reason,
                &[m],
                &Event::ok(
                    now,
                    reviewer,
                    source,
                    "request.reject",
                    &format!("request:{}", r.reference),
                )
                .with_detail(reason.to_owned()),
            )
            .await?;
        Ok(())
    }

    /// The file a download link names (GET: nothing changes).
    pub async fn file_for_download(&self, token: &str) -> Result<DeliveryFile, DeliveryError> {
        self.store
            .file_by_download(&token_hash(token))
            .await?
            .ok_or(DeliveryError::UnknownLink)
    }

    /// The file a confirmation link names (GET: nothing changes).
    pub async fn file_for_confirm(&self, token: &str) -> Result<DeliveryFile, DeliveryError> {
        self.store
            .file_by_confirm(&token_hash(token))
            .await?
            .ok_or(DeliveryError::UnknownLink)
    }

    /// Hands out a file (POST): the password checked (rate-limited per
    /// file), the download counted and audited.
    pub async fn download(
        &self,
        token: &str,
        password: &str,
        source: &str,
        now: i64,
    ) -> Result<Download, DeliveryError> {
        let f = self.file_for_download(token).await?;
        if !f.state.holds_content() {
            return Err(DeliveryError::Gone(f.state));
        }
        self.refuse_lapsed(&f, now).await?;
        let subject = format!("request:{}", f.reference);
        if let Some(hash) = &f.password_hash {
            // Every attempt is counted before the password is checked (so
            // guesses sent in parallel cannot all pass the limit), and a
            // right one is taken back: only wrong passwords count.
            let bucket = format!("download:{}", f.id);
            if !self
                .store
                .rate_hit(&bucket, now, 3600, self.policy.download_tries)
                .await?
            {
                self.store.rate_refund(&bucket, now, 3600).await?;
                return Err(DeliveryError::Limited);
            }
            // Argon2id takes a core for a while: on the blocking pool.
            let (typed, stored) = (Zeroizing::new(password.to_owned()), hash.clone());
            let right =
                tokio::task::spawn_blocking(move || crate::admin::verify_password(&typed, &stored))
                    .await
                    .unwrap_or(false);
            if right {
                self.store.rate_refund(&bucket, now, 3600).await?;
            } else {
                self.store
                    .audit(
                        &Event::ok(now, "anonymous", source, "file.download", &subject)
                            .with_outcome("refused")
                            .with_detail(format!("{}: wrong password", f.name)),
                    )
                    .await?;
                return Err(DeliveryError::WrongPassword);
            }
        }
        let sealed = self
            .store
            .download(
                f.id,
                &Event::ok(now, "anonymous", source, "file.download", &subject)
                    .with_detail(format!("{} ({} bytes)", f.name, f.size)),
            )
            .await
            .map_err(|e| match e {
                oathvault_store::Error::Refused(m) => DeliveryError::Refused(m),
                e => DeliveryError::Store(e),
            })?;
        let data = self
            .master
            .unwrap(&sealed.key_wrapped, &file_key_owner(&f.reference, &f.name))?;
        let bytes = data.open(&f.reference, &f.name, &sealed.content_sealed)?;
        Ok(Download {
            name: f.name,
            bytes,
        })
    }

    /// Confirms a file (POST): content and key destroyed at once; the
    /// customer and the delivery team are told. Returns the receipt.
    pub async fn confirm(
        &self,
        token: &str,
        source: &str,
        now: i64,
    ) -> Result<String, DeliveryError> {
        let f = self.file_for_confirm(token).await?;
        if !f.state.holds_content() {
            return Err(DeliveryError::Gone(f.state));
        }
        self.refuse_lapsed(&f, now).await?;
        let r = self.store.request(f.request_id).await?;
        let m = mail::seal(
            self.master,
            &mail::confirmed(self.policy, &r, &f.name, &f.shipments, &rfc3339(now)),
        );
        self.store
            .confirm(
                f.id,
                &[m],
                &Event::ok(
                    now,
                    &r.email,
                    source,
                    "file.confirm",
                    &format!("request:{}", r.reference),
                )
                .with_detail(format!("{} destroyed", f.name)),
            )
            .await
            .map_err(|e| match e {
                oathvault_store::Error::Refused(m) => DeliveryError::Refused(m),
                e => DeliveryError::Store(e),
            })?;
        let f = self.file_for_confirm(token).await?;
        self.receipt(&r, &f, &mut oathvault_vault::random::os())
            .await
    }

    /// A file past its expiry is gone even before the sweeper reaches
    /// it: the sweep runs now (destroying it), and the step is refused.
    async fn refuse_lapsed(&self, f: &DeliveryFile, now: i64) -> Result<(), DeliveryError> {
        if f.expires.is_some_and(|e| e <= now) {
            self.sweep(now).await?;
            return Err(DeliveryError::Gone(FileState::Expired));
        }
        Ok(())
    }

    /// The deletion receipt of a confirmed file: what was destroyed, when,
    /// and what the vendor still holds (and until when), as an OpenPGP
    /// cleartext-signed statement by the vendor's signing key — anyone with
    /// the key from `/vendor-key.asc` checks it with `gpg --verify`.
    pub async fn receipt(
        &self,
        r: &Request,
        f: &DeliveryFile,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<String, DeliveryError> {
        let mut remains = Vec::new();
        for number in f
            .shipments
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let line = match self.store.shredded_at(number).await? {
                Some(at) => format!(
                    "shipment {number}: its seeds were shredded at {}",
                    rfc3339(at)
                ),
                None => match self.policy.shred_after {
                    None => format!(
                        "shipment {number}: its seeds stay sealed in the vendor's vault (the vendor keeps them)"
                    ),
                    Some(after) => format!(
                        "shipment {number}: its seeds stay sealed in the vendor's vault until {} days after every file with them was confirmed or expired; then they are shredded",
                        after / 86_400
                    ),
                },
            };
            remains.push(line);
        }
        let body = format!(
            "oathvault deletion receipt\n\
             vendor: {}\n\
             request: {}\n\
             order: {}\n\
             customer: {}\n\
             file: {}\n\
             shipments: {}\n\
             tokens: {}\n\
             sha256: {}\n\
             state: {}\n\
             destroyed: the file's content and its key, at {}\n\
             {}",
            self.policy.vendor,
            r.reference,
            r.po,
            r.customer,
            f.name,
            f.shipments,
            f.tokens,
            f.sha256,
            f.state.as_str(),
            f.destroyed.map_or_else(|| "-".to_owned(), rfc3339),
            remains.iter().fold(String::new(), |mut out, l| {
                out.push_str("remains: ");
                out.push_str(l);
                out.push('\n');
                out
            }),
        );
        let key = VendorKey::load(self.store, self.master)
            .await?
            .ok_or(SigningError::Missing)?;
        Ok(key.clear_sign(rng, &body)?)
    }

    /// Expires files and forgets drafts past their time.
    pub async fn sweep(&self, now: i64) -> Result<oathvault_store::Swept, DeliveryError> {
        Ok(self.store.sweep_requests(now, "sweeper").await?)
    }
}

/// The statement a receipt signs, if it is signed by `vendor`'s key.
#[must_use]
pub fn verify_receipt(vendor: &PublicKey, receipt: &str) -> Option<String> {
    oathvault_packaging::pgp::verify_cleartext(vendor, receipt).ok()
}

/// Mails one round of [`deliver_outbox`] claims at most.
pub const OUTBOX_BATCH: u64 = 100;
#[allow(clippy::cast_possible_wrap, reason = "100")]
const OUTBOX_BATCH_SQL: i64 = OUTBOX_BATCH as i64;

/// Moves an approved request to `delivered` (its link mail went out);
/// already delivered or confirmed meanwhile: nothing to do.
async fn mark_delivered(
    store: &Store,
    request_id: i64,
    now: i64,
) -> Result<(), oathvault_store::Error> {
    let r = store.request(request_id).await?;
    if r.state != RequestState::Approved {
        return Ok(());
    }
    let event = Event::ok(
        now,
        "mailer",
        "smtp",
        "request.deliver",
        &format!("request:{}", r.reference),
    )
    .with_detail("the links went out by mail");
    match store.mark_delivered(request_id, &event).await {
        Ok(()) | Err(oathvault_store::Error::Refused(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sends what the outbox holds now through `send`; each sent message is
/// removed, each failure retried later with back-off. Returns (sent,
/// failed).
pub async fn deliver_outbox<F, Fut>(
    store: &Store,
    master: &Keyring,
    now: i64,
    mut send: F,
) -> Result<(u64, u64), oathvault_store::Error>
where
    F: FnMut(mail::Outgoing) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let (mut delivered, mut failed) = (0, 0);
    for m in store.outbox_claim(now, OUTBOX_BATCH_SQL, 300).await? {
        let (outcome, delivers) = match mail::open(master, &m.sealed) {
            Ok(message) => {
                let delivers = message.delivers;
                (send(message).await, delivers)
            }
            Err(e) => (Err(format!("cannot open: {e}")), None),
        };
        match outcome {
            Ok(()) => {
                // The request is marked first and the mail forgotten second:
                // a crash in between sends the mail again after its lease,
                // never leaves a request whose links went out `approved`.
                if let Some(request_id) = delivers {
                    mark_delivered(store, request_id, now).await?;
                }
                store.outbox_sent(m.id).await?;
                delivered += 1;
            }
            Err(e) => {
                let wait = 30_i64.saturating_mul(1 << m.attempts.clamp(0, 10));
                store.outbox_failed(m.id, &e, now + wait.min(3600)).await?;
                failed += 1;
            }
        }
    }
    Ok((delivered, failed))
}
