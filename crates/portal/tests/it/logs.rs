//! What the portal logs, at the most verbose level, while staff sign in,
//! import seeds and enrol a colleague: the events are there, and no seed,
//! password, session cookie or TOTP secret is.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failure is a failed test"
)]

use crate::common;

use axum::http::StatusCode;
use common::{ADMIN, PW, app, fetch, req, sign_in, upload};
use oathvault_testkit::golden::assert_no_secret;
use oathvault_testkit::logs::LogSink;

#[tokio::test]
#[allow(
    clippy::too_many_lines,
    reason = "one scenario: every kind of secret, then the log"
)]
async fn logs_hold_events_and_no_secret() {
    let sink = LogSink::default();
    let writer = sink.clone();
    // The most verbose level the portal can be configured with.
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(oathvault_web::harden::log_filter("trace").unwrap())
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = app().await;
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;
    for (path, form) in [
        (
            "/admin/customers",
            "name=Example+Ltd&emails=it%40example.com",
        ),
        ("/admin/orders", "customer=Example+Ltd&po=PO-1"),
        ("/admin/shipments", "order=PO-1&number=SHP-1"),
    ] {
        let (s, _, _) = fetch(&app, req("POST", path, Some(&admin), Some(form.into()))).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{path}");
    }
    let csv = include_bytes!("../../../formats/testdata/golden.entra.csv");
    let (s, _, _) = fetch(
        &app,
        upload(
            "/admin/import",
            &admin,
            &[("shipment", "SHP-1")],
            ("golden.csv", csv),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _) = fetch(
        &app,
        req(
            "POST",
            "/admin/staff",
            Some(&admin),
            Some("email=bo%40vendor.example&name=Bo&role=reviewer".into()),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // Bo opens the enrolment link and sets a password.
    let (sealed,): (Vec<u8>,) =
        sqlx::query_as("SELECT sealed FROM mail_outbox ORDER BY id DESC LIMIT 1")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    let mail = oathvault_portal::mail::open(&app.state.master, &sealed).unwrap();
    let link = crate::common::link(&mail.text, "/enrol/");
    let token = link.trim_start_matches("/enrol/").to_owned();
    let (s, _, page) = fetch(&app, req("GET", &link, None, None)).await;
    assert_eq!(s, StatusCode::OK);
    let new_secret = page
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let (s, _, _) = fetch(
        &app,
        req(
            "POST",
            &link,
            None,
            Some("password=a+long+first+password&repeat=a+long+first+password&code=000000".into()),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let logs = sink.contents();
    let text = String::from_utf8_lossy(&logs);
    assert!(text.contains("\"sign-in\""), "sign-ins are logged: {text}");
    assert!(
        text.contains("\"import\"") && text.contains("SHP-1"),
        "imports are logged"
    );
    assert!(text.contains("/admin/customers"), "requests are traced");
    assert_no_secret(&logs, "the log");
    let cookie_value = admin.split_once('=').unwrap().1;
    for (what, secret) in [
        ("the password", PW),
        ("the new staff password", "a long first password"),
        ("the session cookie", cookie_value),
        ("the new TOTP secret", new_secret.as_str()),
        ("the enrolment link's token", token.as_str()),
    ] {
        assert!(
            secret.len() > 8 && !text.contains(secret),
            "{what} is in the log: {}",
            text.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
