//! Staff second factor: a TOTP secret per staff member (SHA-1, 6 digits,
//! 30 s: what every authenticator app takes), enrolled with an `otpauth://`
//! URI, sealed under the master key at rest.

use oathvault_token::{Secret, SecretEncoding};
use zeroize::Zeroizing;

/// The `otpauth://` URI an authenticator app scans at enrolment (it holds
/// the secret: wiped when dropped, shown once).
#[must_use]
pub fn otpauth_uri(issuer: &str, account: &str, secret: &Secret) -> Zeroizing<String> {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let b32 = SecretEncoding::Base32.encode(secret);
    Zeroizing::new(format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        b32.as_str(),
        enc(issuer)
    ))
}

/// The purpose a staff member's TOTP secret is sealed for (binds it to the account).
#[must_use]
pub fn purpose(email: &str) -> String {
    format!("staff-totp:{}", email.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_what_authenticator_apps_read() {
        let secret =
            Secret::new(b"12345678901234567890".to_vec()).unwrap_or_else(|e| panic!("{e}"));
        let uri = otpauth_uri("Example Tokens", "ada@vendor.example", &secret);
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Example%20Tokens:ada@vendor.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Example%20Tokens&algorithm=SHA1&digits=6&period=30"
        );
    }
}
