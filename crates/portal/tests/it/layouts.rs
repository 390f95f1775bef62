//! Every customer and staff page of the portal fits a phone (390×844) and
//! a desktop (1280×900) without sideways scrolling, in a real headless
//! Chromium: the customer's steps from finding the order to "Request
//! submitted" (and a lookup that misses, and an unknown address), then
//! every staff page with that request in the queue. All pages that
//! overflow are reported at once; screenshots of each page at each size go
//! to `target/tmp/layout-screenshots/portal`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failure is a failed test"
)]

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::{ADMIN, PW, T, code_at};
use oathvault_portal::WebSettings;
use oathvault_portal::web::serve;
use oathvault_testkit::browser::{
    browser, click, fill, overflow, overflow_here, run, screenshots, start_chromedriver, submit,
    wait_for_path, wait_for_text,
};
use thirtyfour::prelude::*;

async fn customer(d: &WebDriver, base: &str, shots: &Path) -> Vec<String> {
    let a = oathvault_testkit::golden::token_a().token;
    let b = oathvault_testkit::golden::token_b().token;
    let mut problems = Vec::new();
    problems.extend(overflow(d, &format!("{base}/request"), "find", shots).await);
    fill(d, "identifier", "INV-404").await;
    fill(d, "email", common::CUSTOMER_EMAIL).await;
    submit(d, "/request").await;
    wait_for_path(d, "/request").await;
    problems.extend(overflow_here(d, "find-missed", shots).await);
    problems.extend(overflow(d, &format!("{base}/no-such-page"), "not-found", shots).await);

    d.goto(format!("{base}/request")).await.unwrap();
    fill(d, "identifier", "INV-77").await;
    fill(d, "email", common::CUSTOMER_EMAIL).await;
    submit(d, "/request").await;
    wait_for_path(d, "/request/shipments").await;
    problems.extend(overflow_here(d, "shipments", shots).await);
    for (number, serial) in [("SH-1", a.serial.as_str()), ("SH-2", b.serial.as_str())] {
        click(d, &format!("input[aria-label='Pick shipment {number}']")).await;
        d.query(By::Css(format!(
            "input[aria-label='Serial of a token in shipment {number}']"
        )))
        .first()
        .await
        .unwrap()
        .send_keys(serial)
        .await
        .unwrap();
    }
    submit(d, "/request/shipments").await;
    wait_for_path(d, "/request/protection").await;
    problems.extend(overflow_here(d, "protection", shots).await);
    click(d, "input[name=split][value=one]").await;
    click(d, "input[name=mode][value=password]").await;
    fill(d, "password", "Tulip-Orbit-42-river").await;
    fill(d, "password2", "Tulip-Orbit-42-river").await;
    submit(d, "/request/protection").await;
    wait_for_path(d, "/request/format").await;
    problems.extend(overflow_here(d, "format", shots).await);
    click(d, "input[name=format][value=custom-csv]").await;
    click(d, "button[name=action][value=preview]").await;
    wait_for_text(d, "Preview").await;
    problems.extend(overflow_here(d, "format-preview", shots).await);
    click(d, "input[name=format][value=jsonl]").await;
    click(d, "button[name=action][value=continue]").await;
    wait_for_path(d, "/request/summary").await;
    problems.extend(overflow_here(d, "summary", shots).await);
    submit(d, "/request/submit").await;
    wait_for_text(d, "Request submitted").await;
    problems.extend(overflow_here(d, "submitted", shots).await);
    problems
}

async fn staff(d: &WebDriver, base: &str, admin_uri: &str, shots: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    problems.extend(overflow(d, &format!("{base}/signin"), "signin", shots).await);
    fill(d, "email", ADMIN).await;
    fill(d, "password", PW).await;
    submit(d, "/signin").await;
    wait_for_path(d, "/signin/code").await;
    problems.extend(overflow_here(d, "signin-code", shots).await);
    fill(d, "code", &code_at(admin_uri, T)).await;
    submit(d, "/signin/code").await;
    wait_for_path(d, "/admin/").await;
    for (name, path) in [
        ("admin-home", "/admin/"),
        ("customers", "/admin/customers"),
        ("orders", "/admin/orders"),
        ("shipments", "/admin/shipments"),
        ("import", "/admin/import"),
        ("staff", "/admin/staff"),
        ("audit", "/admin/audit"),
        ("requests", "/admin/requests"),
        ("account", "/account"),
    ] {
        problems.extend(overflow(d, &format!("{base}{path}"), name, shots).await);
    }
    // The request the customer submitted, as the reviewer sees it.
    d.goto(format!("{base}/admin/requests")).await.unwrap();
    d.query(By::Css("a[href^='/admin/requests/']"))
        .first()
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(d, "Approve").await;
    problems.extend(overflow_here(d, "request-review", shots).await);
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_customer_and_staff_page_fits_a_phone_and_a_desktop() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = WebSettings {
        base_url: Some(format!("http://{addr}")),
        ..WebSettings::default()
    };
    settings.requests.find_floor_ms = 20;
    settings.requests.ask_code = false;
    let app = common::app_with(settings).await;
    common::request_inventory(&app).await;
    tokio::spawn(serve(
        listener,
        Arc::clone(&app.state),
        std::future::pending(),
    ));
    let base = format!("http://{addr}");
    let shots = screenshots(env!("CARGO_TARGET_TMPDIR"), "layout-screenshots/portal");
    let driver = start_chromedriver().await;
    let d = browser(&driver).await;
    let admin_uri = app.admin_uri.clone();
    run(d.clone(), async move {
        let mut problems = customer(&d, &base, &shots).await;
        problems.extend(staff(&d, &base, &admin_uri, &shots).await);
        assert!(
            problems.is_empty(),
            "pages overflow sideways:\n{}",
            problems.join("\n")
        );
    })
    .await;
}
