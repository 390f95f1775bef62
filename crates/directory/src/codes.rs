//! Trying a code: the one place the directory accepts or refuses a hardware
//! token's code — at activation (Graph's `activate` and `assignAndActivate*`,
//! Security info), at sign-in and in the OTP check API.
//!
//! An accepted code is spent with one conditional `UPDATE`
//! ([`Db::spend_code`](crate::Db::spend_code)): of requests racing with the
//! same code, exactly one wins; the others are refused as if the code were
//! wrong.

use crate::db::Device;
use crate::rules::{self, Purpose};
use crate::{DirState, GraphError};

/// What came of a code.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Accepted and spent: the token as written.
    Accepted(Device),
    /// Wrong, already used, or spent by a request that raced this one.
    Refused,
}

/// Tries `code` on each of `candidates` (as read, before any change) for
/// `purpose`. The first that takes it gets its drift, step and last use,
/// then `accept` makes the rest of the change the code leads to (activated,
/// assigned, named), and the whole is spent in one conditional write.
pub(crate) async fn try_code(
    st: &DirState,
    candidates: &[Device],
    code: &str,
    purpose: Purpose,
    accept: &(dyn Fn(&mut Device) + Sync),
) -> Result<Outcome, GraphError> {
    let now = st.now();
    for before in candidates {
        let secret = crate::open_secret(st, before)?;
        let Some(ok) = rules::check(before, &secret, code, now, purpose) else {
            continue;
        };
        let mut d = before.clone();
        d.drift = ok.drift;
        d.last_counter = Some(ok.counter);
        d.last_used = Some(now);
        accept(&mut d);
        let owner = before.user.as_ref().map(|u| u.0.as_str());
        if st.db.spend_code(&d, owner).await? {
            return Ok(Outcome::Accepted(d));
        }
        tracing::info!(device = %before.id, "a code was spent by another request first");
    }
    Ok(Outcome::Refused)
}
