//! The three golden tokens of `shared/vectors/README.md` ("Golden tokens"),
//! with the codes the vectors give for them.

use oathvault_token::{Hash, Kind, Secret, SecretEncoding, Serial, Step, Token};

/// A golden token and its known codes.
#[derive(Debug, Clone)]
pub struct Golden {
    /// The token.
    pub token: Token,
    /// `(time or counter, code)`: Unix seconds for TOTP, counter values for HOTP.
    pub codes: &'static [(u64, &'static str)],
}

fn secret(hex: &str) -> Secret {
    SecretEncoding::Hex.decode(hex).expect("golden secret")
}

fn serial(s: &str) -> Serial {
    Serial::new(s).expect("golden serial")
}

/// Token A: 10001001, TOTP SHA-1, 6 digits, 30 s.
#[must_use]
pub fn token_a() -> Golden {
    let mut token = Token::totp(
        serial("10001001"),
        secret("3132333435363738393031323334353637383930"),
        Step::S30,
    );
    token.manufacturer = Some("Deepnet Security".into());
    token.model = Some("SafeID/Enterprise".into());
    Golden {
        token,
        codes: &[
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
        ],
    }
}

/// Token B: 10001002, TOTP SHA-1, 6 digits, 60 s.
#[must_use]
pub fn token_b() -> Golden {
    let mut token = Token::totp(
        serial("10001002"),
        secret("d6f9df7c0110c8531d0952d8d73e1194e95b5f19"),
        Step::S60,
    );
    token.manufacturer = Some("Deepnet Security".into());
    token.model = Some("SafeID/Classic".into());
    Golden {
        token,
        codes: &[
            (59, "285124"),
            (1_111_111_109, "917892"),
            (1_234_567_890, "290557"),
            (2_000_000_000, "088492"),
        ],
    }
}

/// Token C: 20000001, HOTP SHA-1, 6 digits, counter 0.
#[must_use]
pub fn token_c() -> Golden {
    let mut token = Token::hotp(
        serial("20000001"),
        secret("3132333435363738393031323334353637383930"),
        0,
    );
    token.manufacturer = Some("Deepnet Security".into());
    token.model = Some("SafeID/HOTP".into());
    Golden {
        token,
        codes: &[(0, "755224"), (1, "287082")],
    }
}

/// A, B and C.
#[must_use]
pub fn all() -> Vec<Golden> {
    vec![token_a(), token_b(), token_c()]
}

/// The golden tokens Entra can take (A and B: TOTP).
#[must_use]
pub fn entra() -> Vec<Token> {
    vec![token_a().token, token_b().token]
}

/// Whether a token is the HOTP golden token (a helper for filters in tests).
#[must_use]
pub fn is_hotp(t: &Token) -> bool {
    matches!(t.kind, Kind::Hotp { .. }) && t.hash == Hash::Sha1
}

/// Every encoding of the golden secrets that could leak into a database
/// dump, a page or a log: raw bytes, hex (both cases), Base32, Base64 (with
/// and without padding).
#[must_use]
pub fn secret_encodings() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for t in entra() {
        let s = t.secret.expose();
        v.push(s.to_vec());
        v.push(
            SecretEncoding::Hex
                .encode(&t.secret)
                .to_lowercase()
                .into_bytes(),
        );
        v.push(
            SecretEncoding::Hex
                .encode(&t.secret)
                .to_uppercase()
                .into_bytes(),
        );
        v.push(
            SecretEncoding::Base32
                .encode(&t.secret)
                .trim_end_matches('=')
                .as_bytes()
                .to_vec(),
        );
        let b64 = SecretEncoding::Base64.encode(&t.secret);
        v.push(b64.as_bytes().to_vec());
        v.push(b64.trim_end_matches('=').as_bytes().to_vec());
    }
    v
}

/// Panics (a failed test) if `haystack` holds any golden secret in any encoding.
pub fn assert_no_secret(haystack: &[u8], what: &str) {
    for f in secret_encodings() {
        assert!(
            !haystack.windows(f.len()).any(|w| w == f.as_slice()),
            "{what} contains a golden secret"
        );
    }
}
