//! Shared by the portal's tests.

use oathvault_otp::Otp;
use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Step};

/// The code a staff member's authenticator app shows at `at`, from the
/// `otpauth://` URI they enrolled with.
#[allow(
    clippy::unwrap_used,
    reason = "test helper: a failure is a failed test"
)]
pub fn code_at(uri: &str, at: i64) -> String {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = SecretEncoding::Base32.decode(b32).unwrap();
    let otp = Otp::from_parts(
        secret.expose(),
        Hash::Sha1,
        Kind::Totp {
            step: Step::S30,
            t0: 0,
        },
        Digits::SIX,
    )
    .unwrap();
    otp.totp(u64::try_from(at).unwrap()).unwrap().to_string()
}
