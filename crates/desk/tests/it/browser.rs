//! End to end in a real headless Chromium (Debian `chromium` and
//! `chromium-driver`, installed by `scripts/test`) against the
//! Entra-compatible directory through real Graph calls on loopback:
//!
//! an administrator signs in (password, then the TOTP code), uploads the
//! golden-token file (tokens A and B), finds token A, assigns it to a user,
//! activates it with the code it shows now, sees it `activated`, unassigns
//! and deletes it; the directory agrees at every step. A viewer signs in,
//! sees the inventory, and can do none of it: no action on the pages, and
//! a 403 (audited) for every action posted by hand.
//!
//! Screenshots of the main pages go to `target/tmp/desk-screenshots/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test; a journey reads best in one piece"
)]

use crate::common;

use std::fmt::Write as _;
use std::path::PathBuf;

use common::{Local, Op, now, start};
use oathvault_otp::Otp;
use oathvault_testkit::browser::{
    browser, click, fill, follow, run, screenshots, start_chromedriver, submit, wait_for_path,
    wait_for_text,
};
use oathvault_token::{Digits, Kind};
use thirtyfour::prelude::*;

/// The golden tokens Entra takes (A: 30 s, B: 60 s), as a vendor's Entra CSV.
fn golden_file(dir: &std::path::Path) -> PathBuf {
    let mut csv = String::from("serial number,secret key,time interval,manufacturer,model\n");
    for t in oathvault_testkit::golden::entra() {
        let Kind::Totp { step, .. } = t.kind else {
            panic!("golden Entra tokens are TOTP")
        };
        let _ = writeln!(
            csv,
            "{},{},{},{},{}",
            t.serial.as_str(),
            oathvault_token::SecretEncoding::Base32
                .encode(&t.secret)
                .as_str(),
            step.seconds(),
            t.manufacturer.as_deref().unwrap(),
            t.model.as_deref().unwrap()
        );
    }
    let path = dir.join("golden-tokens.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// Token A's code now.
fn code_a() -> String {
    let a = oathvault_testkit::golden::token_a().token;
    let otp = Otp::from_parts(a.secret.expose(), a.hash, a.kind, Digits::SIX).unwrap();
    otp.totp(u64::try_from(now()).unwrap()).unwrap().to_string()
}

pub(crate) async fn sign_in(d: &WebDriver, base: &str, op: &Op) {
    d.goto(format!("{base}/signin")).await.unwrap();
    fill(d, "email", &op.email).await;
    fill(d, "password", &op.password).await;
    submit(d, "/signin").await;
    wait_for_path(d, "/signin/code").await;
    fill(d, "code", &op.code()).await;
    submit(d, "/signin/code").await;
    wait_for_path(d, "/tokens").await;
}

async fn shot(d: &WebDriver, dir: &std::path::Path, name: &str) {
    d.screenshot(&dir.join(name)).await.unwrap();
}

/// The token's status in the directory, through Graph.
async fn status_in_tenant(l: &Local, serial: &str) -> Option<String> {
    l.state
        .graph
        .device_by_serial(serial)
        .await
        .unwrap()
        .map(|d| d.status.unwrap_or_default())
}

async fn operator_journey(d: WebDriver, l: std::sync::Arc<Local>, file: PathBuf, shots: PathBuf) {
    let base = &l.desk;
    d.goto(format!("{base}/signin")).await.unwrap();
    shot(&d, &shots, "01-signin.png").await;
    sign_in(&d, base, &l.admin).await;
    wait_for_text(&d, "Hardware tokens").await;

    // Upload the golden-token file: read and checked first, then pushed.
    d.goto(format!("{base}/upload")).await.unwrap();
    d.find(By::Id("file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    shot(&d, &shots, "02-upload.png").await;
    submit(&d, "/upload").await;
    let page = wait_for_text(&d, "2 token(s)").await;
    assert!(
        page.contains("10001001") && page.contains("10001002"),
        "{page}"
    );
    assert!(
        page.contains("Entra CSV") || page.contains("entra"),
        "{page}"
    );
    shot(&d, &shots, "03-upload-check.png").await;
    click(&d, "form[action^=\"/upload/\"] button[type=submit]").await;
    let page = wait_for_text(&d, "2 created").await;
    assert!(page.contains("0 failed"), "{page}");
    shot(&d, &shots, "04-upload-results.png").await;
    assert_eq!(
        status_in_tenant(&l, "10001001").await.as_deref(),
        Some("available")
    );

    // Find token A.
    d.goto(format!("{base}/tokens")).await.unwrap();
    fill(&d, "q", "10001001").await;
    click(&d, "form[action=\"/tokens\"] button[type=submit]").await;
    wait_for_text(&d, "1 of 1: 10001001").await;
    shot(&d, &shots, "05-inventory-search.png").await;
    follow(&d, "10001001").await;
    wait_for_text(&d, "Assign to a user").await;
    shot(&d, &shots, "06-token-available.png").await;

    // Assign it to a user.
    let upn = l.demo.users[0].upn.clone();
    fill(&d, "upn", &upn).await;
    click(&d, "form[action$=\"/assign\"] button[type=submit]").await;
    let page = wait_for_text(&d, "now assigned").await;
    assert!(page.contains(&upn), "{page}");
    assert_eq!(
        status_in_tenant(&l, "10001001").await.as_deref(),
        Some("assigned")
    );
    shot(&d, &shots, "07-token-assigned.png").await;

    // Activate it with the code it shows now (the user reads it out).
    fill(&d, "code", &code_a()).await;
    click(&d, "form[action$=\"/activate\"] button[type=submit]").await;
    wait_for_text(&d, "now activated").await;
    let status = d
        .find(By::Id("status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "activated");
    assert_eq!(
        status_in_tenant(&l, "10001001").await.as_deref(),
        Some("activated")
    );
    // The directory measured its clock at activation: drift and a chart.
    let drift = d.find(By::Id("drift")).await.unwrap().text().await.unwrap();
    assert!(
        drift.ends_with(" s ahead") || drift.ends_with(" s behind") || drift == "0 s (on time)",
        "{drift}"
    );
    assert_eq!(
        d.find_all(By::Css("svg.drift-chart circle"))
            .await
            .unwrap()
            .len(),
        1
    );
    shot(&d, &shots, "08-token-activated.png").await;
    d.goto(format!("{base}/drift")).await.unwrap();
    let page = wait_for_text(&d, "Largest drift").await;
    assert!(page.contains("10001001"), "{page}");
    shot(&d, &shots, "08b-clocks.png").await;
    d.goto(format!(
        "{base}/tokens/{}",
        l.state
            .store
            .desk_device("10001001")
            .await
            .unwrap()
            .unwrap()
            .id
    ))
    .await
    .unwrap();
    wait_for_text(&d, "Clock drift").await;

    // The inventory shows it activated, with its user.
    d.goto(format!("{base}/tokens?status=activated"))
        .await
        .unwrap();
    let page = wait_for_text(&d, "10001001").await;
    assert!(page.contains(&upn), "{page}");
    shot(&d, &shots, "09-inventory-activated.png").await;
    follow(&d, "10001001").await;

    // Unassign, then delete.
    wait_for_text(&d, "Unassign").await;
    click(&d, "form[action$=\"/unassign\"] button[type=submit]").await;
    wait_for_text(&d, "now available").await;
    assert_eq!(
        status_in_tenant(&l, "10001001").await.as_deref(),
        Some("available")
    );
    click(&d, "form[action$=\"/delete\"] input[name=confirm]").await;
    shot(&d, &shots, "10-token-delete.png").await;
    click(&d, "form[action$=\"/delete\"] button[type=submit]").await;
    wait_for_path(&d, "/tokens").await;
    wait_for_text(&d, "token 10001001 is now deleted").await;
    assert!(
        d.find_all(By::LinkText("10001001"))
            .await
            .unwrap()
            .is_empty(),
        "the inventory still lists the deleted token"
    );
    assert!(
        !d.find_all(By::LinkText("10001002"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(status_in_tenant(&l, "10001001").await, None);
    assert_eq!(
        status_in_tenant(&l, "10001002").await.as_deref(),
        Some("available")
    );

    // Every step is in the audit log, with the operator.
    d.goto(format!("{base}/audit")).await.unwrap();
    let page = wait_for_text(&d, "Verify the chain").await;
    for action in ["upload", "assign", "activate", "unassign", "delete"] {
        assert!(page.contains(action), "{action} missing from\n{page}");
    }
    assert!(page.contains("ops@contoso.example"), "{page}");
    shot(&d, &shots, "11-audit.png").await;
    follow(&d, "Verify the chain").await;
    wait_for_text(&d, "verified").await;
    submit(&d, "/signout").await;
    wait_for_path(&d, "/signin").await;
}

async fn viewer_journey(d: WebDriver, l: std::sync::Arc<Local>, shots: PathBuf) {
    let base = &l.desk;
    sign_in(&d, base, &l.viewer).await;
    let page = wait_for_text(&d, "10001002").await;
    assert!(!page.contains("Refresh from Graph"), "{page}");
    assert!(!page.contains("With the selected tokens"), "{page}");
    assert!(
        !page.contains("Upload"),
        "a viewer's menu has no upload:\n{page}"
    );
    shot(&d, &shots, "12-viewer-inventory.png").await;
    follow(&d, "10001002").await;
    let page = wait_for_text(&d, "Token 10001002").await;
    for action in [
        "Assign to a user",
        "Activate",
        "Unassign",
        "Delete from the tenant",
    ] {
        assert!(!page.contains(action), "a viewer sees {action}:\n{page}");
    }
    assert_eq!(
        d.find_all(By::Css("form[action^=\"/tokens/\"]"))
            .await
            .unwrap()
            .len(),
        0
    );
    shot(&d, &shots, "13-viewer-token.png").await;
    d.goto(format!("{base}/upload")).await.unwrap();
    wait_for_text(&d, "Not allowed").await;
    shot(&d, &shots, "14-viewer-refused.png").await;

    // Posted by hand, with the viewer's own session: every action refused.
    let cookie = d.get_named_cookie("__Host-ovd_session").await.unwrap();
    let id = l
        .state
        .store
        .desk_device("10001002")
        .await
        .unwrap()
        .unwrap()
        .id;
    let upn = l.demo.users[0].upn.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, body) in [
        (format!("/tokens/{id}/assign"), format!("upn={upn}")),
        (format!("/tokens/{id}/activate"), "code=123456".to_owned()),
        (format!("/tokens/{id}/unassign"), String::new()),
        (format!("/tokens/{id}/deactivate"), String::new()),
        (format!("/tokens/{id}/delete"), "confirm=yes".to_owned()),
        (format!("/tokens/{id}/replace"), "serial=X".to_owned()),
        (
            "/tokens/bulk/confirm".to_owned(),
            format!("action=delete&id={id}"),
        ),
        ("/sync".to_owned(), String::new()),
    ] {
        let r = http
            .post(format!("{base}{path}"))
            .header("cookie", format!("__Host-ovd_session={}", cookie.value))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    assert_eq!(
        status_in_tenant(&l, "10001002").await.as_deref(),
        Some("available")
    );
    let refused = l
        .state
        .store
        .audit_search(
            &oathvault_store::AuditFilter {
                actor: Some("viewer@contoso.example".into()),
                outcome: Some("refused".into()),
                ..oathvault_store::AuditFilter::default()
            },
            100,
        )
        .await
        .unwrap();
    assert!(refused.len() >= 9, "{} refusals audited", refused.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_uploads_assigns_activates_unassigns_and_deletes_and_a_viewer_cannot() {
    let tmp = tempfile::tempdir().unwrap();
    let l = std::sync::Arc::new(start(tmp.path()).await);
    let file = golden_file(tmp.path());
    let shots = screenshots(env!("CARGO_TARGET_TMPDIR"), "desk-screenshots");
    let driver = start_chromedriver().await;

    let d = browser(&driver).await;
    run(
        d.clone(),
        operator_journey(d, std::sync::Arc::clone(&l), file, shots.clone()),
    )
    .await;
    let d = browser(&driver).await;
    run(
        d.clone(),
        viewer_journey(d, std::sync::Arc::clone(&l), shots),
    )
    .await;
}
