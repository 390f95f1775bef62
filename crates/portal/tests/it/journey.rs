//! The customer's pages, driven in-process as a browser would (cookies,
//! same-origin form posts): finding the order with uniform misses,
//! verifying shipments with the lockout, protection and format refusals,
//! and a submission that stores sealed files, drops the password and
//! queues the mail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure is a failed test"
)]

use crate::common;

use axum::http::{StatusCode, header};
use common::{App, CUSTOMER_EMAIL, T, app_with, encode, fetch, form, req, request_inventory, send};
use oathvault_packaging::Password;
use oathvault_packaging::pgp::SecretKey;
use oathvault_portal::Actor;
use oathvault_portal::WebSettings;
use oathvault_store::RequestState;
use oathvault_testkit::golden;
use rand08::SeedableRng;
use rand08::rngs::StdRng;

const EMAIL: &str = CUSTOMER_EMAIL;
const PASSWORD: &str = "Tulip-Orbit-42-river";

/// The common inventory, and a second customer.
async fn inventory(app: &App) {
    request_inventory(app).await;
    let st = &app.state;
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: T,
    };
    oathvault_portal::Admin::new(&st.store, &st.master, "Test")
        .add_customer(&who, "Other Corp", &["it@other.example".into()])
        .await
        .unwrap();
}

async fn app() -> App {
    let mut settings = WebSettings::default();
    settings.requests.find_floor_ms = 20;
    let app = app_with(settings).await;
    inventory(&app).await;
    app
}

/// Finds the order; returns the wizard cookie (`__Host-ov_wizard=…`).
async fn start(app: &App, identifier: &str) -> String {
    let r = send(
        app,
        req(
            "POST",
            "/request",
            None,
            Some(form(&[
                ("identifier", identifier),
                ("email", "IT@Example.com"),
            ])),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{identifier}");
    assert_eq!(r.headers()[header::LOCATION], "/request/shipments");
    let c = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Strict"));
    c.split(';').next().unwrap().to_owned()
}

async fn shipment_ids(app: &App) -> (i64, i64) {
    let all = app.state.store.shipments().await.unwrap();
    let id = |n: &str| all.iter().find(|s| s.number == n).unwrap().id;
    (id("SH-1"), id("SH-2"))
}

#[tokio::test]
async fn every_kind_of_miss_gets_the_same_answer() {
    let app = app().await;
    let mut bodies = Vec::new();
    for (identifier, email) in [
        ("PO-404", EMAIL),               // unknown number
        ("PO-1001", "it@other.example"), // another customer's e-mail
        ("SH-2", "nobody@example.com"),  // unknown e-mail
        ("INV-77", "it@example.co"),     // near miss
    ] {
        let (status, location, body) = fetch(
            &app,
            req(
                "POST",
                "/request",
                None,
                Some(form(&[("identifier", identifier), ("email", email)])),
            ),
        )
        .await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::OK, ""),
            "{identifier}"
        );
        assert!(body.contains("We could not find an order for that number and e-mail address."));
        // The page repeats what was typed; the rest is identical.
        bodies.push(
            body.replace(identifier, "#")
                .replace(&encode(email), "#")
                .replace(email, "#"),
        );
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "answers differ");
    // PO, invoice and shipment numbers all find the order.
    for identifier in ["PO-1001", "INV-77", "SH-2"] {
        start(&app, identifier).await;
    }
    // Misses are audited for staff with the reason; the customer never sees it.
    let events = app.state.store.audit_events(None, 1000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event.action == "request.find" && e.event.outcome == "refused")
            .count(),
        4
    );
}

#[tokio::test]
async fn lookups_are_rate_limited_per_identifier_with_the_same_answer() {
    let app = app().await;
    let limit = app.state.settings.requests.find_per_identifier;
    for i in 0..limit {
        let (status, _, _) = fetch(
            &app,
            req(
                "POST",
                "/request",
                None,
                Some(form(&[
                    ("identifier", "PO-1001"),
                    ("email", &format!("x{i}@example.com")),
                ])),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // Now even the right e-mail gets the miss page.
    let (status, location, body) = fetch(
        &app,
        req(
            "POST",
            "/request",
            None,
            Some(form(&[("identifier", "PO-1001"), ("email", EMAIL)])),
        ),
    )
    .await;
    assert_eq!((status, location.as_str()), (StatusCode::OK, ""));
    assert!(body.contains("We could not find an order"));
}

#[tokio::test]
async fn wrong_serials_lock_the_request_after_five_and_tell_the_delivery_team() {
    let app = app().await;
    let cookie = start(&app, "PO-1001").await;
    let (sh1, _) = shipment_ids(&app).await;
    let (status, _, page) =
        fetch(&app, req("GET", "/request/shipments", Some(&cookie), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("SH-1") && page.contains("SH-2"), "{page}");
    for left in (1..5).rev() {
        let (status, _, page) = fetch(
            &app,
            req(
                "POST",
                "/request/shipments",
                Some(&cookie),
                Some(form(&[
                    ("pick", &sh1.to_string()),
                    (&format!("serial-{sh1}"), "NOT-A-SERIAL"),
                ])),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            page.contains("shipment SH-1: that serial is not in it"),
            "{page}"
        );
        assert!(
            page.contains(&format!("{left} wrong answer(s) left")),
            "{page}"
        );
    }
    // A serial of the other shipment is wrong for this one.
    let b = golden::token_b().token.serial.as_str().to_owned();
    let (status, _, page) = fetch(
        &app,
        req(
            "POST",
            "/request/shipments",
            Some(&cookie),
            Some(form(&[
                ("pick", &sh1.to_string()),
                (&format!("serial-{sh1}"), &b),
            ])),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("this request is locked"), "{page}");
    let locked = app
        .state
        .store
        .requests(&[RequestState::Locked])
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].wrong_answers, 5);
    // The wizard is gone; the delivery team has mail.
    let (status, _, _) = fetch(&app, req("GET", "/request/shipments", Some(&cookie), None)).await;
    assert_eq!(status, StatusCode::GONE);
    let mail: Vec<_> = app
        .state
        .store
        .outbox_due(T, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| oathvault_portal::mail::open(&app.state.master, &m.sealed).unwrap())
        .collect();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].subject.contains("locked"), "{}", mail[0].subject);
    assert_eq!(mail[0].to, app.state.settings.requests.delivery_team);
}

#[tokio::test]
#[allow(
    clippy::too_many_lines,
    reason = "one journey, step by step, as a customer walks it"
)]
async fn a_customer_walks_the_journey_and_the_files_are_built_sealed_at_submission() {
    let app = app().await;
    let cookie = start(&app, "INV-77").await;
    let (sh1, sh2) = shipment_ids(&app).await;
    let a = golden::token_a().token.serial.as_str().to_owned();
    let c = golden::token_c().token.serial.as_str().to_owned();
    let r = send(
        &app,
        req(
            "POST",
            "/request/shipments",
            Some(&cookie),
            Some(form(&[
                ("pick", &sh1.to_string()),
                (&format!("serial-{sh1}"), &a),
                ("pick", &sh2.to_string()),
                (&format!("serial-{sh2}"), &c),
            ])),
        ),
    )
    .await;
    assert_eq!(r.headers()[header::LOCATION], "/request/protection");

    // Protection: a weak password, a bad key, then password + OpenPGP.
    let post_protection = |password: &str, key: &str| {
        req(
            "POST",
            "/request/protection",
            Some(&cookie),
            Some(form(&[
                ("split", "one"),
                ("mode", "both"),
                ("password", password),
                ("password2", password),
                ("pgp_key", key),
            ])),
        )
    };
    let (status, _, page) = fetch(&app, post_protection("short", "")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("at least 12 characters"), "{page}");
    let (status, _, page) = fetch(
        &app,
        post_protection(PASSWORD, "-----BEGIN PGP PUBLIC KEY BLOCK-----\nnonsense\n"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("the OpenPGP key cannot be used"), "{page}");
    let mut rng = StdRng::seed_from_u64(8);
    let secret_key =
        SecretKey::generate(&mut rng, "IT <it@example.com>", &Password::new("k")).unwrap();
    let public = secret_key.public().to_armored().unwrap();
    let r = send(&app, post_protection(PASSWORD, &public)).await;
    assert_eq!(r.headers()[header::LOCATION], "/request/format");

    // Format: the fingerprint is shown; Entra CSV cannot carry HOTP token C.
    let (_, _, page) = fetch(&app, req("GET", "/request/format", Some(&cookie), None)).await;
    assert!(page.contains(&secret_key.public().fingerprint()), "{page}");
    let (status, _, page) = fetch(
        &app,
        req(
            "POST",
            "/request/format",
            Some(&cookie),
            Some(form(&[("format", "entra-csv"), ("action", "continue")])),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("entra-csv cannot carry these tokens") && page.contains(&c),
        "{page}"
    );

    // Custom CSV with Base64 secrets: the preview masks them.
    let custom = [
        ("format", "custom-csv"),
        ("encoding", "base64"),
        ("col-name-0", "Serial"),
        ("col-value-0", "serial"),
        ("col-name-1", "Seed"),
        ("col-value-1", "secret"),
        ("col-name-2", "Vendor"),
        ("col-value-2", "\"Example\""),
        ("header", "yes"),
    ];
    let mut preview = custom.to_vec();
    preview.push(("action", "preview"));
    let (status, _, page) = fetch(
        &app,
        req(
            "POST",
            "/request/format",
            Some(&cookie),
            Some(form(&preview)),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Serial,Seed,Vendor") && page.contains(&a),
        "{page}"
    );
    oathvault_testkit::golden::assert_no_secret(page.as_bytes(), "the preview");
    let mut go = custom.to_vec();
    go.push(("action", "continue"));
    let r = send(
        &app,
        req("POST", "/request/format", Some(&cookie), Some(form(&go))),
    )
    .await;
    assert_eq!(r.headers()[header::LOCATION], "/request/summary");

    let (status, _, page) = fetch(&app, req("GET", "/request/summary", Some(&cookie), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("SH-1") && page.contains("SH-2") && page.contains("custom-csv"),
        "{page}"
    );

    let r = send(
        &app,
        req(
            "POST",
            "/request/submit",
            Some(&cookie),
            Some(String::new()),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    // Stored: one sealed file, the password only as an Argon2id hash.
    let store = &app.state.store;
    let submitted = store.requests(&[RequestState::Submitted]).await.unwrap();
    assert_eq!(submitted.len(), 1);
    let files = store.files_of(submitted[0].id).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].tokens, 3);
    assert!(files[0].name.ends_with(".zip.pgp"), "{}", files[0].name);
    assert!(
        files[0]
            .password_hash
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$")
    );
    assert_eq!(store.draft_password(submitted[0].id).await.unwrap(), None);
    // The wizard cannot be replayed.
    let (status, _, _) = fetch(
        &app,
        req(
            "POST",
            "/request/submit",
            Some(&cookie),
            Some(String::new()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    // Mail: the customer and the delivery team.
    let mail: Vec<_> = store
        .outbox_due(T, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| oathvault_portal::mail::open(&app.state.master, &m.sealed).unwrap())
        .collect();
    assert_eq!(mail.len(), 2);
    assert_eq!(mail[0].to, [EMAIL]);
    assert!(mail[0].subject.contains("received"));
    assert!(mail[1].subject.contains("New seed file request"));
    // No secret and no password anywhere in the database file.
    let db = std::fs::read(app.dir.path().join("p.db")).unwrap();
    let wal = std::fs::read(app.dir.path().join("p.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        oathvault_testkit::golden::assert_no_secret(bytes, "the database");
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes())
        );
    }
}

#[tokio::test]
async fn with_the_code_rule_the_token_in_hand_must_show_the_current_code() {
    let mut settings = WebSettings::default();
    settings.requests.find_floor_ms = 20;
    settings.requests.ask_code = true;
    let app = app_with(settings).await;
    inventory(&app).await;
    let cookie = start(&app, "PO-1001").await;
    let (sh1, _) = shipment_ids(&app).await;
    let (_, _, page) = fetch(&app, req("GET", "/request/shipments", Some(&cookie), None)).await;
    assert!(page.contains("code-"), "the page asks for the code: {page}");
    let a = golden::token_a().token;
    let now = u64::try_from(T).unwrap();
    let code = oathvault_otp::Otp::new(&a)
        .unwrap()
        .totp(now)
        .unwrap()
        .to_string();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let post = |c: &str| {
        req(
            "POST",
            "/request/shipments",
            Some(&cookie),
            Some(form(&[
                ("pick", &sh1.to_string()),
                (&format!("serial-{sh1}"), a.serial.as_str()),
                (&format!("code-{sh1}"), c),
            ])),
        )
    };
    let (status, _, page) = fetch(&app, post(wrong)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("that is not the code token"), "{page}");
    let r = send(&app, post(&code)).await;
    assert_eq!(r.headers()[header::LOCATION], "/request/protection");
    let draft = app
        .state
        .store
        .requests(&[RequestState::Draft])
        .await
        .unwrap();
    let picked = app.state.store.picked(draft[0].id).await.unwrap();
    assert!(
        picked[0]
            .evidence
            .contains("its current code matched (drift +0 steps)"),
        "{:?}",
        picked[0].evidence
    );
    assert_eq!(draft[0].wrong_answers, 1);
}
