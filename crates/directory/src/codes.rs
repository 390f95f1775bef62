//! Trying a code: the one place the directory accepts or refuses a hardware
//! token's code — at activation (Graph's `activate` and `assignAndActivate*`,
//! Security info), at sign-in and in the OTP check API.
//!
//! An accepted code is spent with one conditional `UPDATE`
//! ([`Db::spend_code`](crate::Db::spend_code)): of requests racing with the
//! same code, exactly one wins; the others are refused as if the code were
//! wrong. Wrong codes in a row lock the tokens tried and the user whose
//! code it is (`Settings::code_lockout`); while either is locked even the
//! right code is refused. A lock is written to the audit log, and the help
//! desk sees and clears it (`/api/locks`).

use crate::db::{AuditEvent, Device, User, device_subject, user_subject};
use crate::rules::{self, Purpose};
use crate::{DirState, GraphError};

/// What came of a code.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Accepted and spent: the token as written.
    Accepted(Box<Device>),
    /// Wrong, already used, or spent by a request that raced this one.
    Refused,
    /// Not tried: the user or every token is locked until then (Unix
    /// seconds) after too many wrong codes.
    Locked(i64),
}

/// Tries `code` of `user` (whose code it is, when known) on each of
/// `candidates` (as read, before any change) for `purpose`. The first that
/// takes it gets its drift, step and last use, then `accept` makes the rest
/// of the change the code leads to (activated, assigned, named), and the
/// whole is spent in one conditional write.
pub(crate) async fn try_code(
    st: &DirState,
    user: Option<&User>,
    candidates: &[Device],
    code: &str,
    purpose: Purpose,
    accept: &(dyn Fn(&mut Device) + Sync),
) -> Result<Outcome, GraphError> {
    let now = st.now();
    let user_lock = user.map(|u| user_subject(&u.id));
    if let Some(s) = &user_lock
        && let Some(until) = locked(st, s, now).await?
    {
        return Ok(Outcome::Locked(until));
    }
    let mut open = Vec::with_capacity(candidates.len());
    let mut latest = None;
    for d in candidates {
        match locked(st, &device_subject(&d.id), now).await? {
            Some(until) => latest = latest.max(Some(until)),
            None => open.push(d),
        }
    }
    if open.is_empty()
        && let Some(until) = latest
    {
        return Ok(Outcome::Locked(until));
    }
    for before in &open {
        let secret = crate::open_secret(st, before)?;
        let Some(ok) = rules::check(before, &secret, code, now, purpose) else {
            continue;
        };
        let mut d = (*before).clone();
        d.drift = ok.drift;
        d.last_counter = Some(ok.counter);
        d.last_used = Some(now);
        accept(&mut d);
        let owner = before.user.as_ref().map(|u| u.0.as_str());
        if st.db.spend_code(&d, owner).await? {
            let mut reset = vec![device_subject(&d.id)];
            reset.extend(user_lock);
            st.db.code_succeeded(&reset).await?;
            return Ok(Outcome::Accepted(Box::new(d)));
        }
        tracing::info!(device = %before.id, "a code was spent by another request first");
    }
    // Wrong: one more against every token tried and the user.
    let lockout = &st.settings.code_lockout;
    for d in &open {
        let until = st
            .db
            .code_failed(&d.tenant_id, &device_subject(&d.id), now, lockout)
            .await?;
        if until > 0 {
            locked_now(st, &d.tenant_id, format!("token:{}", d.serial), until).await?;
        }
    }
    if let (Some(u), Some(s)) = (user, &user_lock) {
        let until = st.db.code_failed(&u.tenant_id, s, now, lockout).await?;
        if until > 0 {
            locked_now(st, &u.tenant_id, format!("user:{}", u.upn), until).await?;
        }
    }
    Ok(Outcome::Refused)
}

/// Until when `subject` is locked, if it is at `now`.
async fn locked(st: &DirState, subject: &str, now: i64) -> Result<Option<i64>, GraphError> {
    Ok(st
        .db
        .code_lock(subject)
        .await?
        .map(|l| l.locked_until)
        .filter(|&until| until > now))
}

/// Logs and audits a lock that a wrong code just engaged.
async fn locked_now(
    st: &DirState,
    tenant: &str,
    subject: String,
    until: i64,
) -> Result<(), GraphError> {
    let lockout = &st.settings.code_lockout;
    tracing::warn!(%subject, until, "locked after {} wrong codes in a row", lockout.after);
    st.db
        .audit(
            tenant,
            &AuditEvent {
                at: st.now(),
                actor: "directory".into(),
                action: "code.locked".into(),
                subject,
                detail: format!(
                    "{} wrong codes in a row; locked until {}",
                    lockout.after,
                    oathvault_otp::clock::rfc3339(until)
                ),
            },
        )
        .await?;
    Ok(())
}

/// What to tell a person or a client about a lock.
pub(crate) fn locked_message(until: i64) -> String {
    format!(
        "Too many wrong codes: locked until {}. Try again then, or ask the help desk to clear the lock.",
        oathvault_otp::clock::display(until)
    )
}
