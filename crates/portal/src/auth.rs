//! Staff sign-in: password (Argon2id), then the TOTP code; sessions kept
//! in the database under the SHA-256 of their cookie value; wrong attempts
//! counted per account (and per unknown e-mail, so the answers do not tell
//! which e-mails exist) and per source address. The web layer calls this.

use oathvault_otp::{Otp, Window};
use oathvault_store::{Event, Session, Store};
use oathvault_token::{Digits, Hash, Kind, Step};
use oathvault_vault::MasterKey;
use rand08::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::admin::verify_password;
use crate::totp;

/// Limits and lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Wrong passwords or codes in a row that lock an account.
    pub lock_after: i64,
    /// How long a lock lasts (seconds).
    pub lock_for: i64,
    /// Sign-in attempts allowed per source address per minute.
    pub per_source_per_minute: i64,
    /// Between the password and the code (seconds).
    pub pending_ttl: i64,
    /// A signed-in session (seconds).
    pub session_ttl: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            lock_after: 10,
            lock_for: 15 * 60,
            per_source_per_minute: 30,
            pending_ttl: 5 * 60,
            session_ttl: 8 * 3600,
        }
    }
}

/// Why a sign-in step was refused. The messages never say whether the
/// e-mail exists, or which of e-mail, password and code was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Wrong e-mail, password or code (deliberately one answer).
    #[error("wrong e-mail, password or code")]
    Refused,
    /// Too many wrong attempts for this account.
    #[error("too many wrong attempts: sign-in is locked for a while")]
    Locked,
    /// Too many attempts from this address.
    #[error("too many sign-in attempts from this address: wait a minute")]
    RateLimited,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] oathvault_store::Error),
}

/// A session cookie value (shown to the browser once; only its hash is stored).
pub type Token = Zeroizing<String>;

fn token_hash(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

fn new_token(rng: &mut (impl RngCore + CryptoRng)) -> Token {
    let mut raw = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut *raw);
    Zeroizing::new(data_encoding::BASE64URL_NOPAD.encode(&*raw))
}

/// An Argon2id hash (same parameters as real ones) checked when the e-mail
/// is unknown or locked, so a miss takes as long as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use argon2::PasswordHasher as _;
    argon2::Argon2::default()
        .hash_password_with_salt(b"not a password", b"oathvault-dummy-salt")
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Staff sign-in over the store.
#[derive(Debug)]
pub struct Auth<'a> {
    store: &'a Store,
    master: &'a MasterKey,
    policy: Policy,
}

impl<'a> Auth<'a> {
    /// Sign-in with `policy`.
    #[must_use]
    pub fn new(store: &'a Store, master: &'a MasterKey, policy: Policy) -> Self {
        Self {
            store,
            master,
            policy,
        }
    }

    async fn audit(
        &self,
        now: i64,
        actor: &str,
        source: &str,
        outcome: &str,
        detail: &str,
    ) -> Result<(), AuthError> {
        let e = Event::ok(now, actor, source, "signin", &format!("staff:{actor}"))
            .with_outcome(outcome)
            .with_detail(detail);
        Ok(self.store.audit(&e).await?)
    }

    /// First step: e-mail and password. Returns a pending token for the code step.
    pub async fn password<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        email: &str,
        password: &str,
        source: &str,
        now: i64,
    ) -> Result<Token, AuthError> {
        let email = email.trim().to_ascii_lowercase();
        if !self
            .store
            .rate_hit(
                &format!("signin-source:{source}"),
                now,
                60,
                self.policy.per_source_per_minute,
            )
            .await?
        {
            self.audit(now, &email, source, "refused", "rate limited")
                .await?;
            return Err(AuthError::RateLimited);
        }
        let Some(staff) = self.store.staff_by_email(&email).await? else {
            // Same work and the same answers as for a real account.
            let _ = verify_password(password, &DUMMY_HASH);
            let bucket = format!("signin-unknown:{email}");
            let within = self
                .store
                .rate_hit(&bucket, now, self.policy.lock_for, self.policy.lock_after)
                .await?;
            self.audit(now, &email, source, "refused", "unknown e-mail")
                .await?;
            return Err(if within {
                AuthError::Refused
            } else {
                AuthError::Locked
            });
        };
        if staff.locked_until > now {
            let _ = verify_password(password, &DUMMY_HASH);
            self.audit(now, &email, source, "refused", "locked").await?;
            return Err(AuthError::Locked);
        }
        if !verify_password(password, &staff.password_hash) {
            let until = self
                .store
                .signin_failed(staff.id, now, self.policy.lock_after, self.policy.lock_for)
                .await?;
            self.audit(now, &email, source, "refused", "wrong password")
                .await?;
            return Err(if until > 0 {
                AuthError::Locked
            } else {
                AuthError::Refused
            });
        }
        let token = new_token(rng);
        self.store
            .create_session(
                &token_hash(&token),
                staff.id,
                "password",
                now + self.policy.pending_ttl,
                now,
            )
            .await?;
        Ok(token)
    }

    /// Second step: the code from the authenticator app. Returns the session token.
    pub async fn code<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        pending: &str,
        code: &str,
        source: &str,
        now: i64,
    ) -> Result<Token, AuthError> {
        let pending_hash = token_hash(pending);
        let Some(session) = self.store.session(&pending_hash, now).await? else {
            return Err(AuthError::Refused);
        };
        let staff = &session.staff;
        if session.stage != "password" || staff.locked_until > now {
            return Err(if staff.locked_until > now {
                AuthError::Locked
            } else {
                AuthError::Refused
            });
        }
        let matched = staff
            .totp_sealed
            .as_deref()
            .and_then(|sealed| self.master.open(&totp::purpose(&staff.email), sealed).ok())
            .and_then(|secret| {
                let kind = Kind::Totp {
                    step: Step::S30,
                    t0: 0,
                };
                let otp = Otp::from_parts(&secret, Hash::Sha1, kind, Digits::SIX).ok()?;
                otp.verify_totp(code.trim(), u64::try_from(now).ok()?, Window::symmetric(1))
                    .ok()
                    .flatten()
            });
        let fresh = match matched {
            Some(m) => {
                let counter = i64::try_from(m.counter).unwrap_or(i64::MAX);
                self.store.signin_succeeded(staff.id, counter).await?
            }
            None => false,
        };
        if !fresh {
            let until = self
                .store
                .signin_failed(staff.id, now, self.policy.lock_after, self.policy.lock_for)
                .await?;
            let why = if matched.is_some() {
                "code used before"
            } else {
                "wrong code"
            };
            self.audit(now, &staff.email, source, "refused", why)
                .await?;
            return Err(if until > 0 {
                AuthError::Locked
            } else {
                AuthError::Refused
            });
        }
        self.store.delete_session(&pending_hash).await?;
        let token = new_token(rng);
        self.store
            .create_session(
                &token_hash(&token),
                staff.id,
                "full",
                now + self.policy.session_ttl,
                now,
            )
            .await?;
        self.audit(now, &staff.email, source, "ok", "password and code")
            .await?;
        Ok(token)
    }

    /// The signed-in staff member behind a session token, if any.
    pub async fn current(&self, token: &str, now: i64) -> Result<Option<Session>, AuthError> {
        Ok(self
            .store
            .session(&token_hash(token), now)
            .await?
            .filter(|s| s.stage == "full"))
    }

    /// Ends a session.
    pub async fn sign_out(&self, token: &str) -> Result<(), AuthError> {
        Ok(self.store.delete_session(&token_hash(token)).await?)
    }
}
