//! PSKC files of the kinds found in the wild (`formats/testdata/pskc/README.md`
//! names each file's source), through the binary: `--serial-from`, notes on
//! draft layouts, vendor namespaces and signatures, another Version, a step
//! only some targets can carry.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn pskc(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../formats/testdata/pskc")
        .join(name)
}

fn ov() -> Command {
    Command::cargo_bin("oathvault").unwrap()
}

#[test]
fn keys_without_a_serial_are_named_with_serial_from_and_the_summary_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let psk = dir.path().join("psk.hex");
    std::fs::write(&psk, "000102030405060708090a0b0c0d0e0f\n").unwrap();
    let file = pskc("encryption/kw-aes128.pskcxml");
    ov().arg("convert")
        .arg(&file)
        .args(["--to", "jsonl", "--psk-file"])
        .arg(&psk)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no serial number")
                .and(predicate::str::contains("--serial-from")),
        );
    let out = dir.path().join("out.jsonl");
    ov().arg("convert")
        .arg(&file)
        .args([
            "--to",
            "jsonl",
            "--secret-encoding",
            "hex",
            "--serial-from",
            "sequence:KW-",
            "-o",
        ])
        .arg(&out)
        .arg("--psk-file")
        .arg(&psk)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "note: --serial-from sequence: 1 key(s) without a serial were named KW-1 to KW-1",
        ));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(r#""serial":"KW-1""#) && text.contains("00112233445566778899aabbccddeeff"),
        "{text}"
    );
    ov().arg("convert")
        .arg(&file)
        .args(["--to", "jsonl", "--serial-from", "device"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("known: key-id, sequence:PREFIX"));
}

#[test]
fn a_two_day_step_goes_to_jsonl_and_entra_refuses_it_by_serial() {
    let file = pskc("seeds/vendor-namespace.pskcxml");
    ov().arg("convert")
        .arg(&file)
        .args(["--to", "jsonl"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            r#""serial":"40000001","type":"totp","hash":"sha1","digits":6,"step":172800"#,
        ))
        .stderr(predicate::str::contains(
            "read as PSKC because its structure is",
        ));
    ov().arg("convert")
        .arg(&file)
        .args(["--to", "entra-csv"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("serial 40000001")
                .and(predicate::str::contains("30 or 60 seconds")),
        );
}

#[test]
fn inspect_says_signed_not_verified_and_names_the_layout() {
    ov().arg("inspect")
        .arg(pskc("rfc6030/figure9.pskcxml"))
        .assert()
        .stdout(predicate::str::contains("signed, not verified"));
    ov().arg("inspect")
        .arg(pskc("drafts/container-01-non-encrypted.pskcxml"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "notes:\n  read as a pre-RFC PSKC draft container",
        ));
}

#[test]
fn another_version_is_refused() {
    ov().arg("convert")
        .arg(pskc("invalid/wrongversion.pskcxml"))
        .args(["--to", "jsonl"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("KeyContainer Version is \"1.2\""));
}

/// `xmlsec1` signs a PSKC file: `--verify-signature` accepts it, and refuses
/// it after one byte of a secret's ciphertext changes, even with the right
/// pre-shared key; nothing is written.
#[test]
fn verify_signature_accepts_an_xmlsec1_signature_and_refuses_a_changed_byte() {
    use oathvault_testkit::xmldsig::{EXC_C14N, RSA_SHA256, SHA256, sign};
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = oathvault_testkit::pki::openssl_certificate(dir.path(), "vendor");
    let (other, _) = oathvault_testkit::pki::openssl_certificate(dir.path(), "other");
    let xml = std::fs::read_to_string(pskc("rfc6030/figure6.pskcxml")).unwrap();
    let signed = sign(
        dir.path(),
        "signed.xml",
        &xml,
        (&key, &cert),
        EXC_C14N,
        RSA_SHA256,
        SHA256,
    );
    let psk = dir.path().join("psk.hex");
    std::fs::write(&psk, "12345678901234567890123456789012").unwrap();
    let run = |file: &Path, cert: &Path, out: &Path| {
        let mut c = ov();
        c.arg("convert")
            .arg(file)
            .args(["--to", "jsonl", "--secret-encoding", "hex", "-o"])
            .arg(out)
            .arg("--psk-file")
            .arg(&psk)
            .arg("--verify-signature")
            .arg(cert);
        c
    };
    let out = dir.path().join("ok.jsonl");
    run(&signed, &cert, &out)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "note: signature verified (RSA-SHA256, exclusive C14N",
        ));
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("3132333435363738393031323334353637383930")
    );
    // Without the flag: read, and said to be unverified.
    ov().arg("inspect")
        .arg(&signed)
        .arg("--psk-file")
        .arg(&psk)
        .assert()
        .success()
        .stdout(predicate::str::contains("signed, not verified"));
    // One byte of the secret's ciphertext changed: refused, nothing written.
    let ct = "AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv";
    let text = std::fs::read_to_string(&signed).unwrap();
    assert!(text.contains(ct));
    let tampered = dir.path().join("tampered.xml");
    std::fs::write(&tampered, text.replace(ct, &ct.replace("D+cI", "D+cJ"))).unwrap();
    let bad_out = dir.path().join("bad.jsonl");
    run(&tampered, &cert, &bad_out).assert().code(1).stderr(
        predicate::str::contains("XML signature refused")
            .and(predicate::str::contains("changed after signing")),
    );
    assert!(!bad_out.exists());
    // Another signer's certificate: refused.
    run(&signed, &other, &bad_out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "does not verify with the certificate",
        ));
    // An unsigned file with the flag: refused.
    run(&pskc("rfc6030/figure6.pskcxml"), &cert, &bad_out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not signed"));
    assert!(!bad_out.exists());
}
