//! Every row of the RFC 4226 and RFC 6238 vector tables, and the golden tokens.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use oathvault_otp::{Otp, Window, hotp};
use oathvault_testkit::golden;
use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Step};

fn rows(name: &str) -> Vec<Vec<String>> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    lines.next().expect("header");
    lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[test]
fn rfc4226_appendix_d() {
    let rows = rows("rfc4226-appendix-d-hotp.csv");
    assert_eq!(rows.len(), 10);
    let key = b"12345678901234567890";
    for r in rows {
        let counter: u64 = r[0].parse().unwrap();
        let code = hotp(key, Hash::Sha1, counter, Digits::SIX).unwrap();
        assert_eq!(code.to_string(), r[4], "counter {counter}");
        // The truncated decimal modulo 10^6 is the code value.
        let truncated: u64 = r[3].parse().unwrap();
        assert_eq!(code.value(), truncated % 1_000_000);
    }
}

#[test]
fn rfc6238_appendix_b() {
    let rows = rows("rfc6238-appendix-b-totp.csv");
    assert_eq!(rows.len(), 18);
    for r in rows {
        let at: u64 = r[0].parse().unwrap();
        let hash: Hash = r[4].parse().unwrap();
        let seed = SecretEncoding::Hex.decode(&r[5]).unwrap();
        let kind = Kind::Totp {
            step: Step::S30,
            t0: 0,
        };
        let otp = Otp::from_parts(seed.expose(), hash, kind, Digits::EIGHT).unwrap();
        assert_eq!(
            otp.counter_at(at).unwrap(),
            u64::from_str_radix(&r[2], 16).unwrap()
        );
        assert_eq!(otp.totp(at).unwrap().to_string(), r[3], "{hash} at {at}");
        let m = otp
            .verify_totp(&r[3], at, Window::symmetric(1))
            .unwrap()
            .unwrap();
        assert_eq!(m.offset, 0);
    }
}

#[test]
fn golden_tokens() {
    for g in golden::all() {
        let otp = Otp::new(&g.token).unwrap();
        for &(at, code) in g.codes {
            match g.token.kind {
                Kind::Totp { .. } => {
                    assert_eq!(
                        otp.totp(at).unwrap().to_string(),
                        code,
                        "{} at {at}",
                        g.token.serial
                    );
                    assert!(otp.verify_totp(code, at, Window::EXACT).unwrap().is_some());
                }
                Kind::Hotp { .. } => {
                    assert_eq!(
                        otp.at_counter(at).to_string(),
                        code,
                        "{} counter {at}",
                        g.token.serial
                    );
                }
            }
        }
    }
}

#[test]
fn wrong_codes_are_rejected_not_errors() {
    let g = golden::token_a();
    let otp = Otp::new(&g.token).unwrap();
    assert_eq!(
        otp.verify_totp("000000", 59, Window::symmetric(1)).unwrap(),
        None
    );
}
