//! Entra's rules for hardware OATH tokens, in one place: what a new device
//! must look like, the state machine, and code checks with drift windows.
//!
//! Codes: 6 digits, TOTP, SHA-1 or SHA-256, 30 or 60 s steps. Activation
//! accepts a code within ±1 day (30 s tokens) or ±2 days (60 s); sign-in
//! within ±1 minute (±2 minutes), around the drift measured last time. A
//! code (a time step) is never accepted twice.

use oathvault_otp::{Otp, Window};
use oathvault_token::{Digits, Hash, Kind, Secret, SecretEncoding, Step};

use crate::db::Device;

/// The largest Base32 secret Entra takes (characters).
pub const MAX_SECRET_CHARS: usize = 128;
/// OATH methods a user may have.
pub const MAX_METHODS_PER_USER: i64 = 5;

/// Token states.
pub mod status {
    /// In the inventory, nobody's.
    pub const AVAILABLE: &str = "available";
    /// A user's, not yet activated.
    pub const ASSIGNED: &str = "assigned";
    /// A user's, usable for sign-in.
    pub const ACTIVATED: &str = "activated";
    /// The last activation code was wrong.
    pub const FAILED_ACTIVATION: &str = "failedActivation";
}

/// Why a value is refused (the message goes into Graph's error body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// A Base32 secret as Entra takes it: letters and 2–7, at most 128
/// characters; spaces and `=` padding are dropped, case is ignored.
pub fn secret(text: &str) -> Result<Secret, Invalid> {
    let clean: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
        text.chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .collect(),
    );
    if clean.is_empty() {
        return Err(Invalid("secretKey is required".into()));
    }
    if clean.len() > MAX_SECRET_CHARS {
        return Err(Invalid(format!(
            "secretKey is longer than {MAX_SECRET_CHARS} characters"
        )));
    }
    if let Some(bad) = clean
        .chars()
        .find(|c| !(c.is_ascii_alphabetic() || ('2'..='7').contains(c)))
    {
        return Err(Invalid(format!(
            "secretKey is not Base32: illegal character {bad:?} (use A-Z and 2-7)"
        )));
    }
    SecretEncoding::Base32
        .decode(&clean)
        .map_err(|e| Invalid(format!("secretKey: {e}")))
}

/// `hmacsha1` / `hmacsha256`, any case; default `hmacsha1`.
pub fn hash_function(text: Option<&str>) -> Result<&'static str, Invalid> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None | Some("hmacsha1") => Ok("hmacsha1"),
        Some("hmacsha256") => Ok("hmacsha256"),
        Some(other) => Err(Invalid(format!(
            "hashFunction {other:?} is not supported: use hmacsha1 or hmacsha256"
        ))),
    }
}

/// 30 or 60.
pub fn interval(value: i64) -> Result<i64, Invalid> {
    if value == 30 || value == 60 {
        Ok(value)
    } else {
        Err(Invalid(format!(
            "timeIntervalInSeconds {value} is not supported: use 30 or 60"
        )))
    }
}

/// What a code check is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Activating a token: a wide window (±1 or ±2 days).
    Activation,
    /// Signing in: ±1 or ±2 minutes around the measured drift.
    SignIn,
}

/// A code that was accepted: its time step and the drift it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The time step of the code.
    pub counter: i64,
    /// Steps between the token's clock and ours.
    pub drift: i64,
}

/// Checks `code` for `device` (whose secret is `secret`) at `now`. `None`:
/// wrong, malformed, or already used.
#[must_use]
pub fn check(
    device: &Device,
    secret: &Secret,
    code: &str,
    now: i64,
    purpose: Purpose,
) -> Option<Accepted> {
    let step = if device.interval == 60 {
        Step::S60
    } else {
        Step::S30
    };
    let hash = if device.hash == "hmacsha256" {
        Hash::Sha256
    } else {
        Hash::Sha1
    };
    let otp = Otp::from_parts(
        secret.expose(),
        hash,
        Kind::Totp { step, t0: 0 },
        Digits::SIX,
    )
    .ok()?;
    let now_counter = otp.counter_at(u64::try_from(now).ok()?).ok()?;
    let (centre, window) = match purpose {
        // ±1 day of 30 s steps, ±2 days of 60 s steps: 2,880 either way.
        Purpose::Activation => (now_counter, Window::symmetric(2880)),
        // ±1 minute of 30 s steps, ±2 minutes of 60 s steps: 2 either way,
        // around the drift measured last time.
        Purpose::SignIn => (
            now_counter.checked_add_signed(device.drift)?,
            Window::symmetric(2),
        ),
    };
    let found = otp.verify_counter(code.trim(), centre, window).ok()??;
    let counter = i64::try_from(found.counter).ok()?;
    if device.last_counter.is_some_and(|last| counter <= last) {
        return None;
    }
    Some(Accepted {
        counter,
        drift: counter - i64::try_from(now_counter).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(interval: i64) -> Device {
        Device {
            id: "d".into(),
            tenant_id: "t".into(),
            serial: "S".into(),
            display_name: None,
            manufacturer: "M".into(),
            model: "X".into(),
            sealed: Vec::new(),
            interval,
            hash: "hmacsha1".into(),
            status: status::ASSIGNED.into(),
            user: None,
            assigned_at: None,
            last_used: None,
            drift: 0,
            last_counter: None,
            created: 0,
        }
    }

    fn code(secret: &Secret, interval: u32, at: i64) -> String {
        let step = if interval == 60 { Step::S60 } else { Step::S30 };
        Otp::from_parts(
            secret.expose(),
            Hash::Sha1,
            Kind::Totp { step, t0: 0 },
            Digits::SIX,
        )
        .and_then(|o| o.totp(u64::try_from(at).unwrap_or(0)))
        .map(|c| c.to_string())
        .unwrap_or_default()
    }

    #[test]
    fn secrets_follow_entras_rules() {
        assert!(secret("6PJ4 UKIW 33NN XYZA EHQN FUFT ZF7W FTFB").is_ok());
        assert!(secret("gezdgnbvgy3tqojq====").is_ok(), "case and padding");
        assert!(
            secret("C2dE3fH4iJ5kL6mN7oP1qR2sT3uV4w").is_err(),
            "Microsoft's sample holds a 1"
        );
        assert!(secret(&"A".repeat(129)).is_err());
        assert!(secret("").is_err());
        assert_eq!(hash_function(Some("HMACSHA256")), Ok("hmacsha256"));
        assert!(hash_function(Some("md5")).is_err());
        assert!(interval(45).is_err());
    }

    #[test]
    fn activation_takes_a_day_of_drift_and_sign_in_a_minute() {
        let s = secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap_or_else(|e| panic!("{e}"));
        let now = 1_795_696_620;
        let d = device(30);
        // A token 20 hours fast activates, and its drift is measured.
        let fast = check(
            &d,
            &s,
            &code(&s, 30, now + 72_000),
            now,
            Purpose::Activation,
        );
        assert_eq!(fast.map(|a| a.drift), Some(2400));
        // Two days off: refused.
        assert!(
            check(
                &d,
                &s,
                &code(&s, 30, now + 2 * 86_400),
                now,
                Purpose::Activation
            )
            .is_none()
        );
        // At sign-in, ±1 minute around the stored drift.
        let mut drifted = device(30);
        drifted.drift = 2400;
        assert!(
            check(
                &drifted,
                &s,
                &code(&s, 30, now + 72_060),
                now,
                Purpose::SignIn
            )
            .is_some()
        );
        assert!(
            check(
                &drifted,
                &s,
                &code(&s, 30, now + 72_120),
                now,
                Purpose::SignIn
            )
            .is_none()
        );
        assert!(check(&d, &s, &code(&s, 30, now + 72_000), now, Purpose::SignIn).is_none());
        // No code twice: the last accepted step is refused.
        let first = check(&d, &s, &code(&s, 30, now), now, Purpose::SignIn);
        let mut used = device(30);
        used.last_counter = first.map(|a| a.counter);
        assert!(check(&used, &s, &code(&s, 30, now), now + 5, Purpose::SignIn).is_none());
        // 60 s tokens: ±2 days at activation.
        let d60 = device(60);
        assert!(
            check(
                &d60,
                &s,
                &code(&s, 60, now - 170_000),
                now,
                Purpose::Activation
            )
            .is_some()
        );
        assert!(
            check(&d, &s, "12345", now, Purpose::SignIn).is_none(),
            "five digits"
        );
    }
}
