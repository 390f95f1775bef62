//! Enveloped XML signatures on PSKC files, made by `xmlsec1` (an independent
//! signer, `testkit::xmldsig`) with certificates made by `openssl`: each
//! canonicalization and algorithm accepted; any changed byte, another
//! signer's certificate or a second signature refused.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use oathvault_formats::pskc::{Keys, Reader, SignerKey, verify_signature};
use oathvault_testkit::pki::{openssl_certificate, openssl_ec_certificate};
use oathvault_testkit::xmldsig::{
    C14N, ECDSA_SHA256, EXC_C14N, RSA_SHA1, RSA_SHA256, SHA1, SHA256, sign,
};
use oathvault_token::SecretEncoding;
use zeroize::Zeroizing;

fn figure6() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/pskc/rfc6030/figure6.pskcxml"
    ))
    .unwrap()
}

fn key_of(cert: &std::path::Path) -> SignerKey {
    SignerKey::from_pem(&std::fs::read_to_string(cert).unwrap()).unwrap()
}

#[test]
fn xmlsec1_signatures_verify_and_any_change_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_certificate(dir.path(), "vendor-signing");
    let (other_cert, _) = openssl_certificate(dir.path(), "someone-else");
    let vendor = key_of(&cert);
    for (name, c14n, method, digest, sha1) in [
        ("exc.xml", EXC_C14N, RSA_SHA256, SHA256, false),
        ("inc.xml", C14N, RSA_SHA256, SHA256, false),
        ("old.xml", C14N, RSA_SHA1, SHA1, true),
    ] {
        let signed = sign(
            dir.path(),
            name,
            &figure6(),
            (&key, &cert),
            c14n,
            method,
            digest,
        );
        let xml = std::fs::read_to_string(&signed).unwrap();
        let ok =
            verify_signature(xml.as_bytes(), &vendor).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(ok.method.contains("vendor-signing"), "{ok:?}");
        assert_eq!(!ok.warnings.is_empty(), sha1, "{name}: {ok:?}");

        // The secret's ciphertext with one byte changed: the signature
        // refuses the file, whatever key would open it.
        let ct = "AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv";
        assert!(xml.contains(ct));
        let tampered = xml.replace(ct, &ct.replace("D+cI", "D+cJ"));
        let err = verify_signature(tampered.as_bytes(), &vendor).unwrap_err();
        assert!(
            err.to_string().contains("changed after signing"),
            "{name}: {err}"
        );
        // Outside any value too: a changed serial.
        let tampered = xml.replace("987654321", "987654320");
        assert!(
            verify_signature(tampered.as_bytes(), &vendor).is_err(),
            "{name}"
        );
        // A changed SignedInfo (the digest) or signature value.
        let tampered = xml.replace("#enveloped-signature\"/>", "#enveloped-signature\" />");
        assert!(
            verify_signature(tampered.as_bytes(), &vendor).is_ok(),
            "{name}: whitespace inside a tag is not content"
        );
        // Another signer's certificate.
        let err = verify_signature(xml.as_bytes(), &key_of(&other_cert)).unwrap_err();
        assert!(
            err.to_string()
                .contains("does not verify with the certificate"),
            "{name}: {err}"
        );
        // The file still reads to the RFC's secret with its pre-shared key.
        let keys = Keys {
            psk: Some(Zeroizing::new(
                SecretEncoding::Hex
                    .decode("12345678901234567890123456789012")
                    .unwrap()
                    .expose()
                    .to_vec(),
            )),
            passphrase: None,
        };
        let mut r = Reader::new(xml.as_bytes(), None, keys);
        let t: Vec<_> = r.by_ref().map(Result::unwrap).collect();
        assert_eq!(t[0].secret.expose(), b"12345678901234567890");
        assert!(
            r.skipped()
                .iter()
                .any(|n| n.contains("signed, not verified"))
        );
    }
}

#[test]
fn unsigned_twice_signed_or_partly_signed_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_certificate(dir.path(), "vendor-signing");
    let vendor = key_of(&cert);
    let err = verify_signature(figure6().as_bytes(), &vendor).unwrap_err();
    assert!(err.to_string().contains("not signed"), "{err}");
    let signed = sign(
        dir.path(),
        "s.xml",
        &figure6(),
        (&key, &cert),
        EXC_C14N,
        RSA_SHA256,
        SHA256,
    );
    let xml = std::fs::read_to_string(&signed).unwrap();
    let start = xml.find("<ds:Signature").unwrap();
    let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let twice = format!("{}{}{}", &xml[..end], &xml[start..end], &xml[end..]);
    let err = verify_signature(twice.as_bytes(), &vendor).unwrap_err();
    assert!(err.to_string().contains("more than one"), "{err}");
    let partial = xml.replacen("URI=\"\"", "URI=\"#somewhere\"", 1);
    let err = verify_signature(partial.as_bytes(), &vendor).unwrap_err();
    assert!(
        err.to_string().contains("does not cover the whole"),
        "{err}"
    );
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(
        SignerKey::from_pem(&pem).is_err(),
        "a private key is not a certificate"
    );
}

/// The signature value of a signed file, changed in its first character
/// (still Base64, another value).
fn other_signature_value(xml: &str) -> String {
    let at = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let first = &xml[at..=at];
    let other = if first == "A" { "B" } else { "A" };
    format!("{}{other}{}", &xml[..at], &xml[at + 1..])
}

/// ECDSA on P-256 with SHA-256 (RFC 4051), signed by `xmlsec1` with a key
/// `openssl` made: accepted with either canonicalization; a changed
/// ciphertext byte, a changed signature value, another EC signer or an RSA
/// certificate refused.
#[test]
fn xmlsec1_ecdsa_p256_signatures_verify_and_any_change_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_ec_certificate(dir.path(), "vendor-ec");
    let (other_cert, _) = openssl_ec_certificate(dir.path(), "other-ec");
    let (rsa_cert, rsa_key) = openssl_certificate(dir.path(), "vendor-rsa");
    let vendor = key_of(&cert);
    for (name, c14n, label) in [
        ("ec-exc.xml", EXC_C14N, "exclusive"),
        ("ec-inc.xml", C14N, "inclusive"),
    ] {
        let signed = sign(
            dir.path(),
            name,
            &figure6(),
            (&key, &cert),
            c14n,
            ECDSA_SHA256,
            SHA256,
        );
        let xml = std::fs::read_to_string(&signed).unwrap();
        assert!(xml.contains("xmldsig-more#ecdsa-sha256"), "{xml}");
        let ok =
            verify_signature(xml.as_bytes(), &vendor).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            ok.method
                .starts_with(&format!("ECDSA-SHA256, {label} C14N")),
            "{ok:?}"
        );
        assert!(ok.method.contains("vendor-ec"), "{ok:?}");
        assert!(ok.warnings.is_empty(), "{ok:?}");

        let ct = "AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv";
        let tampered = xml.replace(ct, &ct.replace("D+cI", "D+cJ"));
        let err = verify_signature(tampered.as_bytes(), &vendor).unwrap_err();
        assert!(
            err.to_string().contains("changed after signing"),
            "{name}: {err}"
        );
        let err = verify_signature(other_signature_value(&xml).as_bytes(), &vendor).unwrap_err();
        assert!(
            err.to_string()
                .contains("does not verify with the certificate of CN=vendor-ec"),
            "{name}: {err}"
        );
        let err = verify_signature(xml.as_bytes(), &key_of(&other_cert)).unwrap_err();
        assert!(
            err.to_string()
                .contains("does not verify with the certificate"),
            "{name}: {err}"
        );
        let err = verify_signature(xml.as_bytes(), &key_of(&rsa_cert)).unwrap_err();
        assert!(
            err.to_string().contains(
                "signed with ECDSA P-256, but the certificate of CN=vendor-rsa holds an RSA key"
            ),
            "{name}: {err}"
        );
    }
    // And an RSA signature checked against an EC certificate.
    let signed = sign(
        dir.path(),
        "rsa.xml",
        &figure6(),
        (&rsa_key, &rsa_cert),
        EXC_C14N,
        RSA_SHA256,
        SHA256,
    );
    let xml = std::fs::read_to_string(&signed).unwrap();
    let err = verify_signature(xml.as_bytes(), &vendor).unwrap_err();
    assert!(
        err.to_string().contains("holds an ECDSA P-256 key"),
        "{err}"
    );
}

/// A certificate whose EC key is on another curve is refused by name.
#[test]
fn an_ec_certificate_on_another_curve_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("p384.pem");
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:P-384")
        .args(["-nodes", "-keyout"])
        .arg(dir.path().join("p384-key.pem"))
        .arg("-out")
        .arg(&cert)
        .args(["-days", "1", "-subj", "/CN=p384"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = SignerKey::from_pem(&std::fs::read_to_string(&cert).unwrap()).unwrap_err();
    assert!(err.to_string().contains("not on the P-256 curve"), "{err}");
}
