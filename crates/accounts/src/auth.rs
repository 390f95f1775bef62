//! Signing in to one app over the store: password (Argon2id), then the
//! TOTP code; sessions kept in the database under the SHA-256 of their
//! cookie value; wrong attempts counted per account (and per unknown
//! e-mail, so the answers do not tell which e-mails exist) and per source
//! address. An account without a role in the app is answered as an
//! unknown one.

use crate::session::{Token, new_token, token_hash};
use crate::{App, Policy, password, totp};
use oathvault_otp::{Otp, Window};
use oathvault_store::{Event, Session, Staff, Store};
use oathvault_token::{Digits, Hash, Kind, Step};
use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};

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

/// Whether `staff` has a role in `app`.
#[must_use]
pub fn may_use(staff: &Staff, app: App) -> bool {
    match app {
        App::Portal => staff.role.is_some(),
        App::Desk => staff.desk_role.is_some(),
    }
}

/// Sign-in to one app over the store.
#[derive(Debug)]
pub struct Auth<'a> {
    store: &'a Store,
    master: &'a Keyring,
    policy: Policy,
    app: App,
}

impl<'a> Auth<'a> {
    /// Sign-in to `app` with `policy`: an account without a role in `app`
    /// is answered as an unknown one.
    #[must_use]
    pub fn new(store: &'a Store, master: &'a Keyring, policy: Policy, app: App) -> Self {
        Self {
            store,
            master,
            policy,
            app,
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
            .with_detail(format!("{}: {detail}", self.app.as_str()));
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
        let staff = self.store.staff_by_email(&email).await?;
        let known = staff.as_ref().is_some_and(|s| may_use(s, self.app));
        let Some(staff) = staff.filter(|_| known) else {
            // Same work and the same answers as for a real account.
            password::waste_a_check(password);
            let bucket = format!("signin-unknown:{email}");
            let lockout = self.policy.lockout;
            let within = self
                .store
                .rate_hit(&bucket, now, lockout.seconds, lockout.after)
                .await?;
            self.audit(
                now,
                &email,
                source,
                "refused",
                "unknown e-mail or no role here",
            )
            .await?;
            return Err(if within {
                AuthError::Refused
            } else {
                AuthError::Locked
            });
        };
        if staff.locked_until > now {
            password::waste_a_check(password);
            self.audit(now, &email, source, "refused", "locked").await?;
            return Err(AuthError::Locked);
        }
        if !password::verify(password, &staff.password_hash) {
            let until = self
                .store
                .signin_failed(staff.id, now, &self.policy.lockout)
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

    /// A signed-in staff member changes their own password: the current one
    /// checked, the new one strong enough, typed twice and different. Every
    /// problem is returned at once; on success the account's other sessions
    /// end. `session` is the token of the session making the change.
    #[allow(
        clippy::too_many_arguments,
        reason = "one form's fields and its context"
    )]
    pub async fn change_password<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        staff: &Staff,
        session: &str,
        current: &str,
        new: &str,
        repeat: &str,
        source: &str,
        now: i64,
    ) -> Result<Result<(), Vec<String>>, AuthError> {
        let mut problems = Vec::new();
        if !password::verify(current, &staff.password_hash) {
            problems.push("the current password is not right".to_owned());
        }
        if !password::strong_enough(new) {
            problems.push(format!(
                "the new password is too short: at least {} characters",
                password::MIN_LEN
            ));
        }
        if new != repeat {
            problems.push("the new password and its repetition differ".to_owned());
        }
        if new == current {
            problems.push("the new password is the current one".to_owned());
        }
        if !problems.is_empty() {
            let e = Event::ok(
                now,
                &staff.email,
                source,
                "staff.password",
                &format!("staff:{}", staff.email),
            )
            .with_outcome("refused")
            .with_detail(problems.join("; "));
            self.store.audit(&e).await?;
            return Ok(Err(problems));
        }
        let hash = password::hash(rng, new)
            .map_err(|e| AuthError::Store(oathvault_store::Error::Refused(e.to_string())))?;
        let event = Event::ok(
            now,
            &staff.email,
            source,
            "staff.password",
            &format!("staff:{}", staff.email),
        )
        .with_detail("changed their own password; their other sessions ended");
        self.store
            .set_staff_password(staff.id, &hash, &token_hash(session), &event)
            .await?;
        Ok(Ok(()))
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
        if session.stage != "password" || staff.locked_until > now || !may_use(staff, self.app) {
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
            // A refused code ends the pending sign-in: the next try starts
            // again from the password.
            self.store.delete_session(&pending_hash).await?;
            let until = self
                .store
                .signin_failed(staff.id, now, &self.policy.lockout)
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
            .filter(|s| s.stage == "full" && may_use(&s.staff, self.app)))
    }

    /// Ends a session.
    pub async fn sign_out(&self, token: &str) -> Result<(), AuthError> {
        Ok(self.store.delete_session(&token_hash(token)).await?)
    }
}
