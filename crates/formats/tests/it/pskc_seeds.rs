//! PSKC files of the kinds found in the wild that are not RFC 6030 as
//! written: pre-RFC draft layouts, AES key wrap, vendors' namespaces, keys
//! without a serial, an unusual TOTP step, another Version. Each file's
//! provenance is in `testdata/pskc/README.md`; python-pskc 1.4 (installed by
//! `scripts/test`) reads the same files to the same secrets, or the test
//! says why not.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use std::path::PathBuf;
use std::sync::Arc;

use oathvault_formats::pskc::{Keys, Reader, SerialFrom};
use oathvault_formats::{Format, ReadOptions, Target, read_all};
use oathvault_token::{Kind, SecretEncoding, Token};
use zeroize::Zeroizing;

const RFC_SECRET: &str = "3132333435363738393031323334353637383930";
const SEQ_0_19: &str = "000102030405060708090a0b0c0d0e0f10111213";

fn path(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/testdata/pskc/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

fn psk(hex: &str) -> Keys {
    Keys {
        psk: Some(Zeroizing::new(
            SecretEncoding::Hex.decode(hex).unwrap().expose().to_vec(),
        )),
        passphrase: None,
    }
}

fn passphrase(p: &str) -> Keys {
    Keys {
        psk: None,
        passphrase: Some(Zeroizing::new(p.to_owned())),
    }
}

/// Every item and every note of reading `name`.
fn read(
    name: &str,
    keys: Keys,
    serial_from: Option<SerialFrom>,
) -> (Vec<Result<Token, String>>, Vec<String>) {
    let bytes = std::fs::read(path(name)).unwrap();
    let mut r =
        Reader::new(bytes.as_slice(), Some(Arc::from(name)), keys).with_serial_from(serial_from);
    let items = r.by_ref().map(|t| t.map_err(|e| e.to_string())).collect();
    (items, r.skipped().to_vec())
}

fn tokens(name: &str, keys: Keys, serial_from: Option<SerialFrom>) -> Vec<Token> {
    let (items, _) = read(name, keys, serial_from);
    items
        .into_iter()
        .map(|t| t.unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

/// "serial secret-hex kind digits step-or-counter" per token.
fn summary(tokens: &[Token]) -> Vec<String> {
    tokens
        .iter()
        .map(|t| {
            let (kind, n) = match t.kind {
                Kind::Totp { step, .. } => ("totp", u64::from(step.seconds())),
                Kind::Hotp { counter } => ("hotp", counter),
            };
            format!(
                "{} {} {kind} {} {n}",
                t.serial,
                SecretEncoding::Hex.encode(&t.secret).as_str(),
                t.digits
            )
        })
        .collect()
}

/// python-pskc's "serial secret-hex" per key (`tests/interop/pskc_peer.py`).
fn python(name: &str, mode: &str, key: &str) -> Vec<String> {
    let peer = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/pskc_peer.py");
    let out = std::process::Command::new("python3")
        .arg(peer)
        .arg("read")
        .arg(path(name))
        .args([mode, key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-pskc failed on {name} (is it installed? scripts/test installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

fn serial_secret(tokens: &[Token]) -> Vec<String> {
    tokens
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t.serial,
                SecretEncoding::Hex.encode(&t.secret).as_str()
            )
        })
        .collect()
}

#[test]
fn a_version_other_than_1_0_is_refused_clearly() {
    let (items, _) = read("invalid/wrongversion.pskcxml", Keys::default(), None);
    assert_eq!(items.len(), 1);
    let e = items[0].as_ref().unwrap_err();
    assert!(
        e.contains("line 2")
            && e.contains("KeyContainer Version is \"1.2\"")
            && e.contains("PSKC version 1.0 only"),
        "{e}"
    );
    // python-pskc refuses it too ("Unsupported version").
    let xml = r#"<KeyContainer Version="1" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"><KeyPackage/></KeyContainer>"#;
    let err: Vec<_> = Reader::new(xml.as_bytes(), None, Keys::default())
        .filter_map(Result::err)
        .collect();
    assert!(err[0].to_string().contains("Version is \"1\""), "{err:?}");
}

#[test]
fn aes_key_wrap_with_a_pre_shared_key_reads_rfc3394_vectors() {
    for (name, key, secret) in [
        (
            "encryption/kw-aes128.pskcxml",
            "000102030405060708090a0b0c0d0e0f",
            "00112233445566778899aabbccddeeff",
        ),
        (
            "encryption/kw-aes192.pskcxml",
            "000102030405060708090a0b0c0d0e0f1011121314151617",
            "00112233445566778899aabbccddeeff",
        ),
        (
            "encryption/kw-aes256.pskcxml",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "00112233445566778899aabbccddeeff0001020304050607",
        ),
    ] {
        // These keys carry neither SerialNo nor Id: refused, then named.
        let (items, _) = read(name, psk(key), None);
        let e = items[0].as_ref().unwrap_err();
        assert!(
            e.contains("no serial number") && e.contains("--serial-from"),
            "{e}"
        );
        let from = Some(SerialFrom::Sequence("KW-".into()));
        let t = tokens(name, psk(key), from.clone());
        assert_eq!(summary(&t), [format!("KW-1 {secret} hotp 6 0")], "{name}");
        let (_, notes) = read(name, psk(key), from);
        assert!(
            notes.iter().any(|n| n.contains("were named KW-1 to KW-1")),
            "{notes:?}"
        );
        // python-pskc: same secret (it has no serial to print).
        assert_eq!(python(name, "psk", key), [format!("None {secret}")]);
        // A wrong key fails the wrap's integrity check.
        let mut wrong = key.to_owned();
        wrong.replace_range(..2, "ff");
        let (items, _) = read(name, psk(&wrong), Some(SerialFrom::KeyId));
        let e = items[0].as_ref().unwrap_err();
        assert!(e.contains("MAC check failed"), "{name}: {e}");
        assert!(!e.contains(secret), "{e}");
    }
}

#[test]
fn python_pskc_kw_file_secrets_mac_key_and_a_two_day_step() {
    let name = "seeds/kw-aes256.pskcxml";
    let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let from = Some(SerialFrom::Sequence("NOSERIAL-".into()));
    let t = tokens(name, psk(key), from);
    assert_eq!(
        summary(&t),
        [
            format!("30000001 {RFC_SECRET} totp 6 172800"),
            format!("30000002 {SEQ_0_19} hotp 8 7"),
            "NOSERIAL-1 6465666768696a6b6c6d6e6f7071727374757677 totp 6 30".to_owned(),
        ]
    );
    let mut py = python(name, "psk", key);
    py[2] = py[2].replace("None", "NOSERIAL-1");
    assert_eq!(serial_secret(&t), py);
    // The MAC key is wrapped too: one changed byte of it is refused.
    let xml = std::fs::read_to_string(path(name)).unwrap();
    let bad = xml.replace("gsaTv/SH23wx", "gsaTv/SH23wy");
    assert_ne!(bad, xml);
    let errors: Vec<_> = Reader::new(bad.as_bytes(), None, psk(key))
        .filter_map(Result::err)
        .collect();
    assert!(
        errors[0].to_string().contains("MAC check failed"),
        "{errors:?}"
    );
}

#[test]
fn a_two_day_step_is_read_and_only_targets_that_cannot_carry_it_refuse() {
    let t = tokens("seeds/vendor-namespace.pskcxml", Keys::default(), None);
    assert_eq!(
        t[0].kind.step().map(oathvault_token::Step::seconds),
        Some(172_800)
    );
    assert!(Target::Any.check(&t[0]).is_empty());
    let v = Target::EntraCsv.check(&t[0]);
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].to_string(),
        "serial 40000001: Entra takes a time interval of 30 or 60 seconds only (this token: 172800 s)"
    );
}

#[test]
fn a_vendor_namespace_on_a_pskc_shaped_container_is_read_with_a_note() {
    let name = "seeds/vendor-namespace.pskcxml";
    let (items, notes) = read(name, Keys::default(), None);
    let t: Vec<Token> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        summary(&t),
        [
            format!("40000001 {RFC_SECRET} totp 6 172800"),
            format!("40000002 {SEQ_0_19} hotp 6 3"),
        ]
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("http://tokens.vendor.example/2007/pskc")
                && n.contains("read as PSKC because its structure is")),
        "{notes:?}"
    );
    assert_eq!(serial_secret(&t), python(name, "plain", "-"));
    // The same namespace with nothing PSKC-shaped in it is not PSKC.
    let xml =
        r#"<v:KeyContainer Version="1.0" xmlns:v="http://x.example/"><v:Other/></v:KeyContainer>"#;
    let errors: Vec<_> = Reader::new(xml.as_bytes(), None, Keys::default())
        .filter_map(Result::err)
        .collect();
    assert!(
        errors[0].to_string().contains("not PSKC") && errors[0].to_string().contains("x.example"),
        "{errors:?}"
    );
}

#[test]
fn draft_layouts_read_into_the_same_tokens() {
    // (file, keys, expected, python mode and key)
    let cases: [(&str, Keys, &str, (&str, &str)); 5] = [
        (
            "drafts/keyprov-pskc-02-figure2.pskcxml",
            Keys::default(),
            "987654321 3132333435363738393031323334353637383930 hotp 8 0",
            ("plain", "-"),
        ),
        (
            "drafts/keyprov-pskc-02-figure5.pskcxml",
            passphrase("qwerty"),
            "987654321 3132333435363738393031323334353637383930 hotp 8 0",
            ("passphrase", "qwerty"),
        ),
        (
            "drafts/algorithm-profiles-01-totp.pskcxml",
            Keys::default(),
            "987654323 3132333435363738393031323334353637383930 totp 6 30",
            ("plain", "-"),
        ),
        (
            "drafts/container-01-non-encrypted.pskcxml",
            Keys::default(),
            "98765432187 5a57634c7670466f584e4841472b6c78332b5277 hotp 6 42",
            ("plain", "-"),
        ),
        (
            "seeds/actividentity.pskcxml",
            psk("fe0de6b806c09b762c4b49a666a27b72"),
            "0950380269 dce70c2a0c1f5806f316ca8d09456eb4765ad053 hotp 8 837830147",
            ("psk", "fe0de6b806c09b762c4b49a666a27b72"),
        ),
    ];
    for (name, keys, want, (mode, key)) in cases {
        let t = tokens(name, keys, None);
        assert_eq!(summary(&t), [want], "{name}");
        assert_eq!(serial_secret(&t), python(name, mode, key), "{name}");
    }
    // The drafts' key Id is kept beside the device serial.
    let t = tokens(
        "drafts/keyprov-pskc-02-figure2.pskcxml",
        Keys::default(),
        None,
    );
    assert_eq!(t[0].key_id.as_deref(), Some("12345678"));
    assert_eq!(t[0].issuer.as_deref(), Some("Issuer"));
    // --serial-from key-id takes the Id instead.
    let t = tokens(
        "drafts/keyprov-pskc-02-figure2.pskcxml",
        Keys::default(),
        Some(SerialFrom::KeyId),
    );
    assert_eq!(t[0].serial.as_str(), "12345678");
    let (_, notes) = read(
        "drafts/container-01-non-encrypted.pskcxml",
        Keys::default(),
        None,
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("pre-RFC PSKC draft container")),
        "{notes:?}"
    );
}

#[test]
fn draft_values_fail_closed() {
    // ActivIdentity: a wrong key fails the ValueDigest; no key names the flag.
    let name = "seeds/actividentity.pskcxml";
    let (items, _) = read(name, psk("00000000000000000000000000000000"), None);
    let e = items[0].as_ref().unwrap_err();
    assert!(e.contains("MAC check failed"), "{e}");
    let (items, _) = read(name, Keys::default(), None);
    let e = items[0].as_ref().unwrap_err();
    assert!(
        e.contains("pre-shared key") && e.contains("--psk-file"),
        "{e}"
    );
    // draft-ietf-keyprov-pskc-02 figure 5: its ValueMAC (inside
    // EncryptedValue, which python-pskc ignores) is checked here.
    let xml = std::fs::read_to_string(path("drafts/keyprov-pskc-02-figure5.pskcxml")).unwrap();
    let bad = xml.replace("cOpiQ/H7Zlj6", "cOpiQ/H7Zlj7");
    assert_ne!(bad, xml);
    let errors: Vec<_> = Reader::new(bad.as_bytes(), None, passphrase("qwerty"))
        .filter_map(Result::err)
        .collect();
    assert!(
        errors[0].to_string().contains("MAC check failed"),
        "{errors:?}"
    );
    let (items, _) = read(
        "drafts/keyprov-pskc-02-figure5.pskcxml",
        passphrase("qwertz"),
        None,
    );
    assert!(items[0].as_ref().unwrap_err().contains("MAC check failed"));
    // A draft's password scheme with Triple DES: python-pskc decrypts it
    // (it implements 3DES); oathvault reads AES only and says so.
    let (items, _) = read(
        "drafts/container-01-password-encrypted.pskcxml",
        passphrase("qwerty"),
        None,
    );
    let e = items[0].as_ref().unwrap_err();
    assert!(
        e.contains("PBE-3DES112-CBC") && e.contains("Triple DES"),
        "{e}"
    );
}

#[test]
fn serial_from_reaches_read_all_and_its_notes() {
    let name: Arc<str> = Arc::from("kw-aes128.pskcxml");
    let bytes = std::fs::read(path("encryption/kw-aes128.pskcxml")).unwrap();
    let options = ReadOptions {
        pskc: psk("000102030405060708090a0b0c0d0e0f"),
        serial_from: Some(SerialFrom::Sequence("S".into())),
        ..ReadOptions::default()
    };
    let all = read_all(Format::Pskc, bytes.as_slice(), &name, &options);
    assert!(all.problems.is_empty(), "{:?}", all.problems);
    assert_eq!(all.tokens[0].serial.as_str(), "S1");
    assert!(
        all.notes
            .iter()
            .any(|n| n.contains("--serial-from sequence")),
        "{:?}",
        all.notes
    );
}

#[test]
fn pbkdf2_iterations_are_capped() {
    let name = "rfc6030/figure7.pskcxml";
    let bytes = std::fs::read(path(name)).unwrap();
    let read = |max: u32| -> Vec<Result<Token, String>> {
        Reader::new(bytes.as_slice(), None, passphrase("qwerty"))
            .with_max_iterations(max)
            .map(|t| t.map_err(|e| e.to_string()))
            .collect()
    };
    assert!(
        read(1000).iter().all(Result::is_ok),
        "figure 7 asks for 1000"
    );
    let refused = read(999);
    let e = refused[0].as_ref().unwrap_err();
    assert!(
        e.contains("IterationCount 1000 is more than the 999 this reader allows"),
        "{e}"
    );
}
