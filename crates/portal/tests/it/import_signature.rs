//! The import page's signature setting (`[import] signature_certificate`):
//! a PSKC file signed by `xmlsec1` with the vendor's key is imported; the
//! same file with one ciphertext byte changed, an unsigned file, or another
//! signer's file is refused with the reason on the page and in the audit
//! log, and nothing is stored. With `signed_only`, a CSV file is refused too.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use crate::common;

use axum::http::{StatusCode, header};
use common::{ADMIN, App, T, app_with, fetch, req, sign_in, upload};
use oathvault_portal::api::keys::{Scope, add_key};
use oathvault_portal::config::Import;
use oathvault_portal::{Actor, Admin, WebSettings};
use oathvault_testkit::pki::{openssl_certificate, openssl_ec_certificate};
use oathvault_testkit::xmldsig::{ECDSA_SHA256, EXC_C14N, SHA256, sign};
use rand08::SeedableRng;
use rand08::rngs::StdRng;

const FIGURE6: &str = include_str!("../../../formats/testdata/pskc/rfc6030/figure6.pskcxml");
const GOLDEN_CSV: &[u8] = include_bytes!("../../../formats/testdata/golden.entra.csv");
const PSK: &str = "12345678901234567890123456789012";
/// A byte of the secret's ciphertext in figure 6, and the same with one bit changed.
const CIPHERTEXT: (&str, &str) = (
    "AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv",
    "AAECAwQFBgcICQoLDA0OD+cJHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv",
);

/// A portal whose import page checks signatures with the certificate at
/// `cert`, with customer, order PO-7 and shipment SH-7 (empty).
async fn portal(cert: &std::path::Path, signed_only: bool) -> App {
    let rule = Import {
        signature_certificate: Some(cert.to_owned()),
        signed_only,
    }
    .rule()
    .unwrap();
    let app = app_with(WebSettings {
        import_signature: rule,
        ..WebSettings::default()
    })
    .await;
    let st = &app.state;
    let admin = Admin::new(&st.store, &st.master, "Test");
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: T,
    };
    admin
        .add_customer(&who, "Example Ltd", &["it@example.com".into()])
        .await
        .unwrap();
    admin
        .add_order(&who, "Example Ltd", "PO-7", &["INV-7".into()])
        .await
        .unwrap();
    admin
        .add_shipment(
            &mut StdRng::seed_from_u64(7),
            &who,
            "PO-7",
            "SH-7",
            Some("2026-10-01"),
        )
        .await
        .unwrap();
    app
}

async fn import(app: &App, cookie: &str, name: &str, file: &[u8]) -> (StatusCode, String) {
    let (s, loc, body) = fetch(
        app,
        upload(
            "/admin/import",
            cookie,
            &[("shipment", "SH-7"), ("psk", PSK)],
            (name, file),
        ),
    )
    .await;
    if s == StatusCode::SEE_OTHER {
        let (_, _, page) = fetch(app, req("GET", &loc, Some(cookie), None)).await;
        return (s, page);
    }
    (s, body)
}

/// The audit log's import events: (outcome, detail), oldest first.
async fn imports(app: &App) -> Vec<(String, String)> {
    let mut events: Vec<(String, String)> = app
        .state
        .store
        .audit_events(Some("import"), 20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event.outcome, e.event.detail))
        .collect();
    events.reverse();
    events
}

#[tokio::test]
async fn a_signed_pskc_file_is_imported_and_a_changed_one_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_ec_certificate(dir.path(), "vendor-signing");
    let (other_cert, other_key) = openssl_certificate(dir.path(), "someone-else");
    let app = portal(&cert, false).await;
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;

    let (s, _, page) = fetch(&app, req("GET", "/admin/import", Some(&admin), None)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("PSKC files must carry an XML signature by CN=vendor-signing."),
        "{page}"
    );

    let signed = std::fs::read_to_string(sign(
        dir.path(),
        "signed.xml",
        FIGURE6,
        (&key, &cert),
        EXC_C14N,
        ECDSA_SHA256,
        SHA256,
    ))
    .unwrap();
    assert!(signed.contains(CIPHERTEXT.0));

    // One byte of a secret's ciphertext changed: refused before any key is
    // read, even with the right pre-shared key; nothing stored.
    let tampered = signed.replace(CIPHERTEXT.0, CIPHERTEXT.1);
    let (s, body) = import(&app, &admin, "tampered.xml", tampered.as_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains(
            "tampered.xml: XML signature refused: the signature does not match the file: \
             it was changed after signing; nothing was read"
        ),
        "{body}"
    );
    // An unsigned file, and one signed by someone else.
    let (s, body) = import(&app, &admin, "unsigned.xml", FIGURE6.as_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("unsigned.xml: XML signature refused: the file is not signed"));
    let forged = std::fs::read_to_string(sign(
        dir.path(),
        "forged.xml",
        FIGURE6,
        (&other_key, &other_cert),
        EXC_C14N,
        oathvault_testkit::xmldsig::RSA_SHA256,
        SHA256,
    ))
    .unwrap();
    let (s, body) = import(&app, &admin, "forged.xml", forged.as_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("signed with RSA, but the certificate of CN=vendor-signing"),
        "{body}"
    );
    assert_eq!(app.state.store.counts().await.unwrap().tokens, 0);

    // A CSV file carries no signature; without signed_only it is imported.
    // The signed file is imported, and the audit log says it was verified.
    let (s, body) = import(&app, &admin, "signed.xml", signed.as_bytes()).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    assert!(
        body.contains(
            "Imported 1 tokens (0 TOTP, 1 HOTP) from signed.xml (pskc) into shipment SH-7."
        ),
        "{body}"
    );
    let (s, body) = import(&app, &admin, "golden.csv", GOLDEN_CSV).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(app.state.store.counts().await.unwrap().tokens, 3);

    let events = imports(&app).await;
    let outcomes: Vec<&str> = events.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(
        outcomes,
        ["refused", "refused", "refused", "ok", "ok"],
        "{events:?}"
    );
    assert!(
        events[0].1.contains(
            "tampered.xml: 1 problem(s) reading it, the first: tampered.xml: XML signature refused"
        ),
        "{events:?}"
    );
    assert!(
        events[3].1.contains("signed.xml (XML signature verified (ECDSA-SHA256, exclusive C14N, certificate CN=vendor-signing))"),
        "{events:?}"
    );
    assert!(!events[4].1.contains("signature"), "{events:?}");
}

/// The vendor API's seed-file import keeps the same rule: a changed file
/// is refused with the reason in its problem document, nothing stored.
#[tokio::test]
async fn the_api_import_keeps_the_signature_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_ec_certificate(dir.path(), "vendor-signing");
    let app = portal(&cert, false).await;
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: T,
    };
    let made = add_key(
        &app.state.store,
        &mut StdRng::seed_from_u64(3),
        &who,
        "ERP",
        &[Scope::TokensImport],
    )
    .await
    .unwrap();
    let signed = std::fs::read_to_string(sign(
        dir.path(),
        "signed.xml",
        FIGURE6,
        (&key, &cert),
        EXC_C14N,
        ECDSA_SHA256,
        SHA256,
    ))
    .unwrap();
    let tampered = signed.replace(CIPHERTEXT.0, CIPHERTEXT.1);
    for (name, file, status) in [
        ("tampered.xml", &tampered, StatusCode::UNPROCESSABLE_ENTITY),
        ("signed.xml", &signed, StatusCode::CREATED),
    ] {
        let mut r = upload(
            "/api/v1/shipments/SH-7/tokens",
            "",
            &[("psk", PSK)],
            (name, file.as_bytes()),
        );
        r.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {}", made.key.as_str()).parse().unwrap(),
        );
        let (s, _, body) = fetch(&app, r).await;
        assert_eq!(s, status, "{name}: {body}");
        if s == StatusCode::UNPROCESSABLE_ENTITY {
            assert!(
                body.contains(
                    "tampered.xml: XML signature refused: the signature does not match the file"
                ),
                "{body}"
            );
        }
    }
    assert_eq!(app.state.store.counts().await.unwrap().tokens, 1);
    // The import events (the key's own creation is audited too).
    let events: Vec<(String, String)> = imports(&app)
        .await
        .into_iter()
        .filter(|(_, d)| d.contains(".xml"))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "refused", "{events:?}");
    assert!(events[0].1.contains("XML signature refused"), "{events:?}");
    assert_eq!(events[1].0, "ok", "{events:?}");
    assert!(events[1].1.contains("XML signature verified"), "{events:?}");
}

#[tokio::test]
async fn signed_only_refuses_files_that_cannot_carry_a_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = openssl_certificate(dir.path(), "vendor-signing");
    let app = portal(&cert, true).await;
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;
    let (s, body) = import(&app, &admin, "golden.csv", GOLDEN_CSV).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains(
            "golden.csv: entra-csv files carry no signature, and this portal imports signed \
             PSKC files only; nothing was read"
        ),
        "{body}"
    );
    assert_eq!(app.state.store.counts().await.unwrap().tokens, 0);
    assert_eq!(imports(&app).await[0].0, "refused");
}

#[test]
fn the_setting_names_a_bad_certificate_and_needs_one_for_signed_only() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = Import {
        signature_certificate: Some(missing.clone()),
        signed_only: false,
    }
    .rule()
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!(
            "import.signature_certificate {}",
            missing.display()
        )),
        "{err}"
    );
    let (_, key) = openssl_certificate(dir.path(), "k");
    let err = Import {
        signature_certificate: Some(key),
        signed_only: false,
    }
    .rule()
    .unwrap_err()
    .to_string();
    assert!(err.contains("no PEM certificate"), "{err}");
    let err = Import {
        signature_certificate: None,
        signed_only: true,
    }
    .rule()
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("import.signed_only needs import.signature_certificate"),
        "{err}"
    );
    assert!(Import::default().rule().unwrap().is_none());
}
