//! Enrolment links: nobody chooses another person's password or sees their
//! authenticator secret. An administrator who adds a staff member, or
//! resets one who lost their phone or password, sends a one-time link (24
//! hours) by mail; a staff member who wants a new authenticator opens one
//! from their account page. On the link's page the person sets a password
//! and scans a fresh authenticator secret, and proves it with a code.

use oathvault_accounts::{password, totp};
use oathvault_otp::{Otp, Window};
use oathvault_store::{Event, Role, Store};
use oathvault_token::{Digits, Hash, Kind, Secret, Step};
use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::journey::{new_token, token_hash};
use crate::mail;

/// How long an enrolment link works (seconds).
pub const LINK_TTL: i64 = 24 * 3600;

/// Why an enrolment step was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolError {
    /// The link is unknown, used or expired.
    #[error("this enrolment link is not valid any more: ask an administrator for a new one")]
    UnknownLink,
    /// What the person typed (every problem).
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// From the store.
    #[error(transparent)]
    Store(#[from] oathvault_store::Error),
    /// A seal did not open.
    #[error(transparent)]
    Vault(#[from] oathvault_vault::Error),
    /// Hashing failed.
    #[error("{0}")]
    Hash(String),
}

/// What the enrolment page shows: whose account, until when, and the
/// authenticator to scan (wiped when dropped).
pub struct Offer {
    /// The account's e-mail.
    pub email: String,
    /// The person's name.
    pub name: String,
    /// When the link stops working.
    pub expires: i64,
    /// The `otpauth://` URI.
    pub uri: Zeroizing<String>,
    /// The secret in Base32, for typing by hand.
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for Offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offer")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Enrolment over the store and the keyring.
#[derive(Debug)]
pub struct Enrolments<'a> {
    store: &'a Store,
    keys: &'a Keyring,
    issuer: &'a str,
    base_url: &'a str,
}

impl<'a> Enrolments<'a> {
    /// Over a store, the keyring, the issuer name (authenticator apps) and
    /// the address links point at.
    #[must_use]
    pub fn new(store: &'a Store, keys: &'a Keyring, issuer: &'a str, base_url: &'a str) -> Self {
        Self {
            store,
            keys,
            issuer,
            base_url: base_url.trim_end_matches('/'),
        }
    }

    /// Adds a staff member with no usable password or authenticator yet and
    /// mails them an enrolment link.
    pub async fn invite(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        who: &crate::Actor,
        email: &str,
        name: &str,
        role: Role,
    ) -> Result<(), crate::Error> {
        let email = oathvault_accounts::check_email(email)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(crate::Error::Invalid(
                "the name is missing or too long".into(),
            ));
        }
        let event = who
            .event("staff.add", &format!("staff:{email}"))
            .with_detail(format!(
                "portal role {}; enrolment link sent",
                role.as_str()
            ));
        let id = self
            .store
            .add_staff(&email, name, Some(role), None, "!", None, &event)
            .await?;
        self.send(rng, who, id, &email, name, false).await
    }

    /// Takes a staff member's password and authenticator away now (their
    /// sessions end) and mails them a link to set new ones.
    pub async fn reset(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        who: &crate::Actor,
        email: &str,
    ) -> Result<(), crate::Error> {
        let email = email.trim().to_ascii_lowercase();
        let staff = self.store.staff_by_email(&email).await?.ok_or_else(|| {
            crate::Error::Invalid(format!("there is no active staff member {email}"))
        })?;
        self.send(rng, who, staff.id, &staff.email, &staff.name, true)
            .await
    }

    async fn send(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        who: &crate::Actor,
        staff_id: i64,
        email: &str,
        name: &str,
        reset: bool,
    ) -> Result<(), crate::Error> {
        let (token, hash) = new_token(rng);
        let expires = who.now + LINK_TTL;
        let link = format!("{}/enrol/{token}", self.base_url);
        let m = mail::seal(
            self.keys,
            &mail::enrolment(
                email,
                name,
                &link,
                &oathvault_otp::clock::rfc3339(expires),
                reset,
            ),
        );
        let action = if reset {
            "staff.reset"
        } else {
            "staff.enrolment"
        };
        let event = who
            .event(action, &format!("staff:{email}"))
            .with_detail(if reset {
                "password and authenticator taken away; enrolment link sent"
            } else {
                "enrolment link sent"
            });
        self.store
            .start_enrolment(staff_id, &hash, expires, reset, &[m], &event)
            .await?;
        Ok(())
    }

    /// A signed-in staff member asks to replace their own authenticator and
    /// password: the current password checked; returns the link's token
    /// (they are sent to its page at once). Their credentials stay as they
    /// are until the new ones are set.
    pub async fn for_myself(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        staff: &oathvault_store::Staff,
        current: &str,
        source: &str,
        now: i64,
    ) -> Result<String, EnrolError> {
        if !password::verify(current, &staff.password_hash) {
            return Err(EnrolError::Invalid(vec![
                "the current password is not right".into(),
            ]));
        }
        let (token, hash) = new_token(rng);
        let event = Event::ok(
            now,
            &staff.email,
            source,
            "staff.enrolment",
            &format!("staff:{}", staff.email),
        )
        .with_detail("asked to replace their own authenticator");
        self.store
            .start_enrolment(staff.id, &hash, now + 3600, false, &[], &event)
            .await?;
        Ok(token)
    }

    /// The page of a link: its account and the authenticator to scan (made
    /// and kept sealed the first time the page is opened).
    pub async fn offer(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        token: &str,
        now: i64,
    ) -> Result<Offer, EnrolError> {
        let e = self
            .store
            .enrolment(&token_hash(token), now)
            .await?
            .ok_or(EnrolError::UnknownLink)?;
        let purpose = totp::purpose(&e.staff.email);
        let raw = if let Some(sealed) = &e.pending_sealed {
            self.keys.open(&purpose, sealed)?
        } else {
            let mut raw = Zeroizing::new(vec![0u8; 20]);
            rng.fill_bytes(&mut raw);
            let sealed = self.keys.seal(rng, &purpose, &raw);
            self.store.offer_enrolment_secret(e.id, &sealed).await?;
            // Another tab may have offered one first: show what is kept.
            let kept = self
                .store
                .enrolment(&token_hash(token), now)
                .await?
                .and_then(|e| e.pending_sealed)
                .ok_or(EnrolError::UnknownLink)?;
            self.keys.open(&purpose, &kept)?
        };
        let secret = Secret::new(raw.to_vec()).map_err(|e| EnrolError::Hash(e.to_string()))?;
        Ok(Offer {
            uri: totp::otpauth_uri(self.issuer, &e.staff.email, &secret),
            secret: oathvault_token::SecretEncoding::Base32.encode(&secret),
            email: e.staff.email,
            name: e.staff.name,
            expires: e.expires,
        })
    }

    /// Sets the password and the authenticator offered on the page, once
    /// the code from the authenticator matches. Every problem at once.
    #[allow(
        clippy::too_many_arguments,
        reason = "one form's fields and its context"
    )]
    pub async fn finish(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        token: &str,
        new: &str,
        repeat: &str,
        code: &str,
        source: &str,
        now: i64,
    ) -> Result<String, EnrolError> {
        let e = self
            .store
            .enrolment(&token_hash(token), now)
            .await?
            .ok_or(EnrolError::UnknownLink)?;
        let mut problems = Vec::new();
        if !password::strong_enough(new) {
            problems.push(format!(
                "the password is too short: at least {} characters",
                password::MIN_LEN
            ));
        }
        if new != repeat {
            problems.push("the password and its repetition differ".into());
        }
        let purpose = totp::purpose(&e.staff.email);
        let counter = match &e.pending_sealed {
            None => None,
            Some(sealed) => {
                let raw = self.keys.open(&purpose, sealed)?;
                let kind = Kind::Totp {
                    step: Step::S30,
                    t0: 0,
                };
                Otp::from_parts(&raw, Hash::Sha1, kind, Digits::SIX)
                    .ok()
                    .and_then(|otp| {
                        otp.verify_totp(code.trim(), u64::try_from(now).ok()?, Window::symmetric(1))
                            .ok()
                            .flatten()
                    })
                    .map(|m| i64::try_from(m.counter).unwrap_or(i64::MAX))
            }
        };
        if counter.is_none() {
            problems.push("that is not the code the new authenticator shows: scan the code on this page and type the 6 digits it shows now".into());
        }
        let (Some(counter), Some(sealed), true) = (counter, &e.pending_sealed, problems.is_empty())
        else {
            return Err(EnrolError::Invalid(problems));
        };
        let hash = password::hash(rng, new).map_err(|e| EnrolError::Hash(e.to_string()))?;
        let event = Event::ok(
            now,
            &e.staff.email,
            source,
            "staff.enrolled",
            &format!("staff:{}", e.staff.email),
        )
        .with_detail("set their password and authenticator through an enrolment link");
        self.store
            .finish_enrolment(e.id, &hash, sealed, counter, now, &event)
            .await
            .map_err(|err| match err {
                oathvault_store::Error::Refused(_) => EnrolError::UnknownLink,
                other => EnrolError::Store(other),
            })?;
        Ok(e.staff.email)
    }
}
