//! PSKC against the RFC 6030 figures and python-pskc's test files (see
//! `testdata/pskc/README.md`); expected values from `shared/vectors/README.md`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use std::sync::Arc;

use oathvault_formats::pskc::{Keys, Reader};
use oathvault_formats::{Error, ErrorKind};
use oathvault_token::{Hash, Kind, SecretEncoding, Token};
use zeroize::Zeroizing;

const RFC_SECRET: &str = "3132333435363738393031323334353637383930";

fn hex(s: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(SecretEncoding::Hex.decode(s).unwrap().expose().to_vec())
}

fn psk(s: &str) -> Keys {
    Keys {
        psk: Some(hex(s)),
        passphrase: None,
    }
}

fn passphrase(p: &str) -> Keys {
    Keys {
        psk: None,
        passphrase: Some(Zeroizing::new(p.to_owned())),
    }
}

fn read(name: &str, keys: Keys) -> (Vec<Result<Token, Error>>, Vec<String>) {
    let bytes = std::fs::read(format!(
        "{}/testdata/pskc/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut r = Reader::new(bytes.as_slice(), Some(Arc::from(name)), keys);
    let items: Vec<_> = r.by_ref().collect();
    (items, r.skipped().to_vec())
}

fn tokens(name: &str, keys: Keys) -> Vec<Token> {
    let (items, _) = read(name, keys);
    items
        .into_iter()
        .map(|t| t.unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

fn secret_hex(t: &Token) -> String {
    SecretEncoding::Hex.encode(&t.secret).to_string()
}

#[test]
fn figure2_plain_hotp() {
    let t = tokens("rfc6030/figure2.pskcxml", Keys::default());
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].serial.as_str(), "12345678");
    assert_eq!(t[0].issuer.as_deref(), Some("Issuer-A"));
    assert_eq!(secret_hex(&t[0]), "31323334");
}

#[test]
fn figure3_plain_with_device_info() {
    let t = tokens("rfc6030/figure3.pskcxml", Keys::default());
    assert_eq!(t[0].serial.as_str(), "987654321");
    assert_eq!(t[0].digits.get(), 8);
    assert_eq!(t[0].kind, Kind::Hotp { counter: 0 });
    assert_eq!(secret_hex(&t[0]), RFC_SECRET);
    assert_eq!(t[0].key_id.as_deref(), Some("12345678"));
}

#[test]
fn figure4_no_secret_is_reported() {
    let (items, _) = read("rfc6030/figure4.pskcxml", Keys::default());
    let e = items[0].as_ref().unwrap_err().to_string();
    assert!(
        e.contains("serial 987654321: no secret") && e.contains("key profile"),
        "{e}"
    );
}

#[test]
fn figure5_pin_key_is_skipped() {
    let (items, skipped) = read("rfc6030/figure5.pskcxml", Keys::default());
    let t: Vec<Token> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(t.len(), 1);
    assert!(matches!(t[0].kind, Kind::Hotp { .. }));
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].contains("pskc:pin"), "{skipped:?}");
}

#[test]
fn figure6_pre_shared_key() {
    let t = tokens(
        "rfc6030/figure6.pskcxml",
        psk("12345678901234567890123456789012"),
    );
    assert_eq!(secret_hex(&t[0]), RFC_SECRET);
    assert_eq!(t[0].serial.as_str(), "987654321");
}

#[test]
fn figure7_passphrase() {
    let t = tokens("rfc6030/figure7.pskcxml", passphrase("qwerty"));
    assert_eq!(secret_hex(&t[0]), RFC_SECRET);
    assert_eq!(t[0].serial.as_str(), "987654321");
    assert_eq!(t[0].digits.get(), 8);
}

#[test]
fn wrong_key_or_passphrase_is_a_mac_failure() {
    for (name, keys) in [
        (
            "rfc6030/figure6.pskcxml",
            psk("00000000000000000000000000000000"),
        ),
        ("rfc6030/figure7.pskcxml", passphrase("azerty")),
    ] {
        let (items, _) = read(name, keys);
        let e = items[0].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("MAC check failed — wrong key or tampered file"),
            "{name}: {e}"
        );
    }
}

#[test]
fn missing_key_says_which() {
    let (items, _) = read("rfc6030/figure6.pskcxml", Keys::default());
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("pre-shared key")
    );
    let (items, _) = read("rfc6030/figure7.pskcxml", Keys::default());
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("passphrase")
    );
}

#[test]
fn figure8_rsa_is_refused_clearly() {
    let (items, _) = read("rfc6030/figure8.pskcxml", Keys::default());
    let e = items[0].as_ref().unwrap_err().to_string();
    assert!(e.contains("X.509") && e.contains("does not decrypt"), "{e}");
}

#[test]
fn figure9_leading_zero_serial_and_signature() {
    let t = tokens("rfc6030/figure9.pskcxml", Keys::default());
    assert_eq!(t[0].serial.as_str(), "0755225266");
}

#[test]
fn figure10_bulk_with_duplicate_serial() {
    let t = tokens("rfc6030/figure10.pskcxml", Keys::default());
    let serials: Vec<&str> = t.iter().map(|t| t.serial.as_str()).collect();
    assert_eq!(serials, ["654321", "123456", "9999999", "9999999"]);
}

#[test]
fn encryption_variants() {
    let k16 = "12345678901234567890123456789012";
    let k32 = "1234567890123456789012345678901234567890123456789012345678901234";
    // These files have no serial: the secret must decrypt and its MAC check
    // (a wrong key fails the MAC), and then the missing serial is reported.
    for (name, key) in [
        ("encryption/aes128-cbc.pskcxml", k16),
        ("encryption/aes256-cbc.pskcxml", k32),
        ("encryption/no-mac-key.pskcxml", k16),
        ("encryption/mac-over-plaintext.pskcxml", k16),
    ] {
        let (items, _) = read(name, psk(key));
        let e = items[0].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("its secret decrypted and its MAC checked"),
            "{name}: {e}"
        );
        let wrong = if key.len() == 32 {
            "0".repeat(32)
        } else {
            "0".repeat(64)
        };
        let (items, _) = read(name, psk(&wrong));
        let e = items[0].as_ref().unwrap_err().to_string();
        assert!(e.contains("MAC check failed"), "{name}: {e}");
    }
}

#[test]
fn invalid_files_are_rejected_clearly() {
    let k = "12345678901234567890123456789012";
    for (name, want) in [
        (
            "incomplete-derivation.pskcxml",
            "PBKDF2 parameters are missing",
        ),
        ("mac-algorithm.pskcxml", "unsupported MAC algorithm"),
        (
            "missing-encryption-method.pskcxml",
            "EncryptionMethod is missing",
        ),
        (
            "missing-encryption.pskcxml",
            "EncryptionMethod has no Algorithm",
        ),
        ("no-mac-method.pskcxml", "no MACMethod"),
        ("not-boolean.pskcxml", "not a boolean"),
        ("not-integer.pskcxml", "not a whole number"),
        ("notxml.pskcxml", "not PSKC"),
        (
            "unknown-encryption.pskcxml",
            "unsupported encryption algorithm",
        ),
        ("wrongelement.pskcxml", "not PSKC"),
    ] {
        let keys = if name.starts_with("incomplete") {
            passphrase("qwerty")
        } else {
            psk(k)
        };
        let (items, _) = read(&format!("invalid/{name}"), keys);
        let errors: Vec<String> = items
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(ToString::to_string)
            .collect();
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{name}: {errors:?}"
        );
        assert!(
            errors
                .iter()
                .all(|e| e.starts_with(&format!("invalid/{name}"))),
            "{errors:?}"
        );
    }
}

#[test]
fn empty_container_has_no_tokens() {
    let xml = r#"<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"/>"#;
    let items: Vec<_> = Reader::new(xml.as_bytes(), None, Keys::default()).collect();
    assert!(matches!(
        items[0].as_ref().unwrap_err().kind,
        ErrorKind::NoTokens
    ));
}

#[test]
fn vendor_quirks() {
    // BOM, odd prefix, pre-RFC namespace and #totp, hashalgo attribute,
    // whitespace in Base64, serial only in Key/@Id.
    let xml = "\u{feff}<?xml version=\"1.0\"?>\n<foo:KeyContainer Version=\"1.0\" xmlns:foo=\"urn:ietf:params:xml:ns:keyprov:pskc:1.0\">\
        <foo:KeyPackage><foo:Key Id=\"10944003:1\" Algorithm=\"urn:ietf:params:xml:ns:keyprov:pskc#totp\">\
        <foo:AlgorithmParameters><foo:Suite hashalgo=\"SHA256\"/><foo:ResponseFormat Length=\"6\" Encoding=\"DECIMAL\"/></foo:AlgorithmParameters>\
        <foo:Data><foo:Secret><foo:PlainValue>MTIzNDU2\n  Nzg5MDEyMzQ1Njc4OTA=</foo:PlainValue></foo:Secret>\
        <foo:TimeInterval><foo:PlainValue>60</foo:PlainValue></foo:TimeInterval></foo:Data></foo:Key></foo:KeyPackage></foo:KeyContainer>";
    let t: Vec<Token> = Reader::new(xml.as_bytes(), None, Keys::default())
        .map(Result::unwrap)
        .collect();
    assert_eq!(t[0].serial.as_str(), "10944003:1");
    assert_eq!(t[0].hash, Hash::Sha256);
    assert_eq!(secret_hex(&t[0]), RFC_SECRET);
    assert_eq!(t[0].kind.step().unwrap().seconds(), 60);
}

#[test]
fn errors_keep_secrets_out() {
    let (items, _) = read(
        "rfc6030/figure6.pskcxml",
        psk("00000000000000000000000000000000"),
    );
    let shown = format!("{:?} {}", items, items[0].as_ref().unwrap_err());
    assert!(
        !shown.contains("AAECAwQFBgcICQoLDA0OD") && !shown.contains("3132333435"),
        "{shown}"
    );
    let keys = psk("12345678901234567890123456789012");
    assert!(!format!("{keys:?}").contains("1234"));
}

mod writing {
    use super::*;
    use oathvault_formats::TokenWriter;
    use oathvault_formats::pskc::{OsRandom, Protection, Random, Writer};
    use oathvault_testkit::{golden, synth};
    use proptest::prelude::*;

    /// Hands out scripted bytes: the MAC key, its IV, then one IV per secret.
    struct Scripted(Vec<Vec<u8>>);

    impl Random for Scripted {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), oathvault_formats::Error> {
            let next = self.0.remove(0);
            buf.copy_from_slice(&next);
            Ok(())
        }
    }

    fn write(tokens: &[Token], protection: &Protection, random: Box<dyn Random>) -> String {
        let mut out = Vec::new();
        let mut w = Box::new(Writer::new(&mut out, protection, random).unwrap());
        for t in tokens {
            w.write(t).unwrap();
        }
        w.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    fn figure6_psk() -> Protection {
        Protection::PreSharedKey {
            key: hex("12345678901234567890123456789012"),
            name: "Pre-shared-key".into(),
        }
    }

    #[test]
    fn reproduces_figure6_and_golden_ciphertexts_byte_for_byte() {
        let secret_iv = hex("000102030405060708090a0b0c0d0e0f").to_vec();
        let script = Scripted(vec![
            hex("1122334455667788990011223344556677889900").to_vec(),
            hex("11223344556677889900112233445566").to_vec(),
            secret_iv.clone(),
            secret_iv,
        ]);
        let xml = write(&golden::entra(), &figure6_psk(), Box::new(script));
        // RFC 6030 figure 6: the wrapped MAC key, and token A's secret and MAC.
        assert!(xml.contains("<xenc:CipherValue>ESIzRFVmd4iZABEiM0RVZgKn6WjLaTC1sbeBMSvIhRejN9vJa2BOlSaMrR7I5wSX</xenc:CipherValue>"));
        assert!(xml.contains("<xenc:CipherValue>AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv</xenc:CipherValue>"));
        assert!(xml.contains("<ValueMAC>Su+NvtQfmvfJzF6bmQiJqoLRExc=</ValueMAC>"));
        // Golden token B with the same parameters.
        assert!(xml.contains("<xenc:CipherValue>AAECAwQFBgcICQoLDA0OD42UE1sGkDAFhHm2yoVPP5sRNR+o3Kkex3EyjcOMFuTN</xenc:CipherValue>"));
        assert!(xml.contains("<ValueMAC>SwFqXT7LrXB70rMBiIKcg7QkYS0=</ValueMAC>"));
        // And it reads back.
        let back: Vec<Token> = Reader::new(
            xml.as_bytes(),
            None,
            psk("12345678901234567890123456789012"),
        )
        .map(Result::unwrap)
        .collect();
        assert_eq!(back, golden::entra());
    }

    #[test]
    fn fresh_ivs_in_production() {
        let tokens = vec![golden::token_a().token, golden::token_a().token];
        let xml = write(&tokens, &figure6_psk(), Box::new(OsRandom::default()));
        let values: Vec<&str> = xml
            .match_indices("<ValueMAC>")
            .map(|(i, _)| &xml[i..i + 40])
            .collect();
        assert_eq!(values.len(), 2);
        assert_ne!(
            values[0], values[1],
            "same secret, same MAC: the IV was reused"
        );
    }

    #[test]
    fn every_golden_token_in_every_mode() {
        let all: Vec<Token> = golden::all().into_iter().map(|g| g.token).collect();
        let modes = [
            (Protection::Plain, Keys::default()),
            (figure6_psk(), psk("12345678901234567890123456789012")),
            (
                Protection::Passphrase {
                    passphrase: Zeroizing::new("correct horse".into()),
                    iterations: 1000,
                    name: "pw".into(),
                },
                passphrase("correct horse"),
            ),
        ];
        for (protection, keys) in modes {
            let xml = write(&all, &protection, Box::new(OsRandom::default()));
            let back: Vec<Token> = Reader::new(xml.as_bytes(), None, keys)
                .map(|t| t.unwrap_or_else(|e| panic!("{protection:?}: {e}")))
                .collect();
            assert_eq!(back, all, "{protection:?}");
        }
    }

    #[test]
    fn passphrase_mode_defaults_to_100k_iterations_and_a_16_byte_salt() {
        let p = Protection::Passphrase {
            passphrase: Zeroizing::new("x".into()),
            iterations: oathvault_formats::pskc::DEFAULT_ITERATIONS,
            name: "pw".into(),
        };
        let xml = write(&golden::entra(), &p, Box::new(OsRandom::default()));
        assert!(xml.contains("<xenc11:IterationCount>100000</xenc11:IterationCount>"));
        let salt = xml
            .split("<xenc11:Specified>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        assert_eq!(
            data_encoding::BASE64.decode(salt.as_bytes()).unwrap().len(),
            16
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn read_write_round_trip(tokens in proptest::collection::vec(synth::any_token(), 1..6), mode in 0usize..3) {
            // key_id equal to the serial is not written separately.
            let tokens: Vec<Token> = tokens.into_iter().map(|mut t| {
                if t.key_id.as_deref() == Some(t.serial.as_str()) { t.key_id = None; }
                t
            }).collect();
            let (protection, keys) = match mode {
                0 => (Protection::Plain, Keys::default()),
                1 => (figure6_psk(), psk("12345678901234567890123456789012")),
                _ => (
                    Protection::Passphrase { passphrase: Zeroizing::new("pw".into()), iterations: 10, name: "n".into() },
                    passphrase("pw"),
                ),
            };
            let xml = write(&tokens, &protection, Box::new(OsRandom::default()));
            let back: Vec<Token> = Reader::new(xml.as_bytes(), None, keys).map(Result::unwrap).collect();
            prop_assert_eq!(back, tokens);
        }
    }
}
