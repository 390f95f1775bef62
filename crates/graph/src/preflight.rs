//! Before a bulk push: does a code read off a real token fit the file? If
//! not, which common mistake would make it fit — a hex secret read as
//! Base32 (or the reverse), the secret's text used as the key, SHA-1 vs
//! SHA-256, 30 vs 60 seconds.

use oathvault_otp::{Otp, Window};
use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Step, Token};
use zeroize::Zeroizing;

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The code fits the file as read, `drift` seconds off the clock
    /// (within Entra's activation window).
    Fits {
        /// Measured drift in seconds (negative: the token is behind).
        drift: i64,
    },
    /// The code does not fit the file as read; it fits if the file is
    /// read differently.
    Misread {
        /// The reading that fits, in words.
        reading: &'static str,
    },
    /// The code fits nothing tried.
    NoMatch,
    /// The file's token is not a 6-digit TOTP token Entra can take.
    NotTotp,
}

struct Reading {
    what: &'static str,
    secret: Zeroizing<Vec<u8>>,
    hash: Hash,
    step: Step,
}

fn fits(r: &Reading, code: &str, at: u64, window: Window) -> Option<i64> {
    let otp = Otp::from_parts(&r.secret, r.hash, Kind::totp(r.step), Digits::SIX).ok()?;
    let m = otp.verify_totp(code, at, window).ok()??;
    Some(m.offset * i64::from(r.step.seconds()))
}

/// Checks `code` (as read off the token with this serial) at Unix time `at`.
#[must_use]
pub fn preflight(token: &Token, code: &str, at: u64) -> Finding {
    let Kind::Totp { step, .. } = token.kind else {
        return Finding::NotTotp;
    };
    if token.digits != Digits::SIX {
        return Finding::NotTotp;
    }
    let secret = token.secret.expose();
    let as_read = Reading {
        what: "as the file says",
        secret: Zeroizing::new(secret.to_vec()),
        hash: token.hash,
        step,
    };
    // Entra's activation window: ±1 day for 30 s tokens, ±2 days for 60 s.
    let days = if step.seconds() >= 60 { 2 } else { 1 };
    let wide = Window::symmetric(days * 86_400 / step.seconds().max(1));
    if let Some(drift) = fits(&as_read, code, at, wide) {
        return Finding::Fits { drift };
    }
    // Other readings, each only near the clock (a wide window over many
    // readings would find a 6-digit code by chance).
    let near = Window::symmetric(2);
    let other_step = if step.seconds() == 30 {
        Step::S60
    } else {
        Step::S30
    };
    let mut readings = Vec::new();
    for (what, hash) in [
        ("with HMAC-SHA-1", Hash::Sha1),
        ("with HMAC-SHA-256", Hash::Sha256),
        ("with HMAC-SHA-512", Hash::Sha512),
    ] {
        if hash != token.hash {
            readings.push(Reading {
                what,
                secret: Zeroizing::new(secret.to_vec()),
                hash,
                step,
            });
        }
    }
    readings.push(Reading {
        what: if other_step == Step::S60 {
            "with a 60-second step"
        } else {
            "with a 30-second step"
        },
        secret: Zeroizing::new(secret.to_vec()),
        hash: token.hash,
        step: other_step,
    });
    let base32 = SecretEncoding::Base32.encode(&token.secret);
    let hex = SecretEncoding::Hex.encode(&token.secret);
    if let Ok(s) = SecretEncoding::Hex.decode(&base32) {
        readings.push(Reading {
            what: "with the secret read as hex, not Base32",
            secret: Zeroizing::new(s.expose().to_vec()),
            hash: token.hash,
            step,
        });
    }
    if let Ok(s) = SecretEncoding::Base32.decode(&hex) {
        readings.push(Reading {
            what: "with the secret read as Base32, not hex",
            secret: Zeroizing::new(s.expose().to_vec()),
            hash: token.hash,
            step,
        });
    }
    readings.push(Reading {
        what: "with the secret's Base32 text used as the key",
        secret: Zeroizing::new(base32.as_bytes().to_vec()),
        hash: token.hash,
        step,
    });
    readings.push(Reading {
        what: "with the secret's hex text used as the key",
        secret: Zeroizing::new(hex.as_bytes().to_vec()),
        hash: token.hash,
        step,
    });
    for r in &readings {
        if fits(r, code, at, near).is_some() {
            return Finding::Misread { reading: r.what };
        }
    }
    Finding::NoMatch
}

#[cfg(test)]
mod tests {
    use super::*;
    use oathvault_token::{Secret, Serial};

    fn token(secret: &[u8], hash: Hash, step: Step) -> Token {
        let mut t = Token::totp(
            Serial::new("1").unwrap(),
            Secret::new(secret.to_vec()).unwrap(),
            step,
        );
        t.hash = hash;
        t
    }

    fn code(secret: &[u8], hash: Hash, step: Step, at: u64) -> String {
        Otp::from_parts(secret, hash, Kind::totp(step), Digits::SIX)
            .unwrap()
            .totp(at)
            .unwrap()
            .to_string()
    }

    const AT: u64 = 1_795_696_620;

    #[test]
    fn a_fitting_code_reports_drift() {
        let s = b"12345678901234567890";
        let t = token(s, Hash::Sha1, Step::S30);
        assert_eq!(
            preflight(&t, &code(s, Hash::Sha1, Step::S30, AT), AT),
            Finding::Fits { drift: 0 }
        );
        // Three hours slow: still inside the activation window.
        assert_eq!(
            preflight(&t, &code(s, Hash::Sha1, Step::S30, AT - 10_800), AT),
            Finding::Fits { drift: -10_800 }
        );
    }

    #[test]
    fn common_mistakes_are_named() {
        let s = b"12345678901234567890";
        let t = token(s, Hash::Sha1, Step::S30);
        let misread = |c: String| preflight(&t, &c, AT);
        assert_eq!(
            misread(code(s, Hash::Sha256, Step::S30, AT)),
            Finding::Misread {
                reading: "with HMAC-SHA-256"
            }
        );
        assert_eq!(
            misread(code(s, Hash::Sha1, Step::S60, AT)),
            Finding::Misread {
                reading: "with a 60-second step"
            }
        );
        let text = SecretEncoding::Base32.encode(&t.secret);
        assert_eq!(
            misread(code(text.as_bytes(), Hash::Sha1, Step::S30, AT)),
            Finding::Misread {
                reading: "with the secret's Base32 text used as the key"
            }
        );
        // The vendor meant hex "abcdef2345…", the file was read as Base32.
        let meant = SecretEncoding::Hex
            .decode("abcdef234567abcdef234567abcdef234567abcd")
            .unwrap();
        let as_base32 = SecretEncoding::Base32
            .decode("abcdef234567abcdef234567abcdef234567abcd")
            .unwrap();
        let t = token(as_base32.expose(), Hash::Sha1, Step::S30);
        assert_eq!(
            preflight(&t, &code(meant.expose(), Hash::Sha1, Step::S30, AT), AT),
            Finding::Misread {
                reading: "with the secret read as hex, not Base32"
            }
        );
        let t = token(s, Hash::Sha1, Step::S30);
        assert_eq!(
            preflight(
                &t,
                &code(b"another token's seed", Hash::Sha1, Step::S30, AT),
                AT
            ),
            Finding::NoMatch
        );
    }
}
