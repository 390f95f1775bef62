//! Every page of the help desk and of the directory's Security info fits a
//! phone (390×844) and a desktop (1280×900) without sideways scrolling, in
//! a real headless Chromium; every page is measured at both sizes and all
//! that overflow are reported at once. Screenshots of each page at each
//! size go to `target/tmp/layout-screenshots/desk` and `…/security-info`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use std::sync::Arc;

use axum::http::StatusCode;
use oathvault_testkit::browser::{
    browser, fill, overflow, overflow_here, run, screenshots, start_chromedriver, submit,
    wait_for_path, wait_for_text,
};

use crate::browser::sign_in;
use crate::common::{self, Local, device_id, golden, start, upload_and_push};

async fn desk_pages(d: thirtyfour::WebDriver, l: Arc<Local>) {
    let shots = screenshots(env!("CARGO_TARGET_TMPDIR"), "layout-screenshots/desk");
    // The other administrator: the first one used this period's code already.
    sign_in(&d, &l.desk, &l.admin2).await;
    let a = device_id(&l, "10001001").await;
    let b = device_id(&l, "10001002").await;
    let user = &l.demo.users[0];
    let mut problems = Vec::new();
    for (name, path) in [
        ("tokens", "/tokens".to_owned()),
        ("tokens-search", "/tokens?q=10001".to_owned()),
        ("tokens-assigned", "/tokens?status=assigned".to_owned()),
        ("token-assigned", format!("/tokens/{a}")),
        ("token-available", format!("/tokens/{b}")),
        ("users", "/users".to_owned()),
        (
            "users-search",
            format!(
                "/users?q={}",
                user.display_name.split(' ').next().unwrap_or("a")
            ),
        ),
        (
            "person",
            format!(
                "/users/{}",
                l.state
                    .store
                    .desk_user(&user.upn)
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            ),
        ),
        ("audit", "/audit".to_owned()),
        ("approvals", "/approvals".to_owned()),
        ("clocks", "/drift".to_owned()),
        ("upload", "/upload".to_owned()),
        ("reconcile", "/reconcile".to_owned()),
    ] {
        problems.extend(overflow(&d, &format!("{}{path}", l.desk), name, &shots).await);
    }
    assert!(
        problems.is_empty(),
        "pages overflow sideways:\n{}",
        problems.join("\n")
    );
}

async fn security_info_pages(d: thirtyfour::WebDriver, l: Arc<Local>) {
    let shots = screenshots(
        env!("CARGO_TARGET_TMPDIR"),
        "layout-screenshots/security-info",
    );
    let user = &l.demo.users[1];
    let base = &l.directory;
    let mut problems = Vec::new();
    problems.extend(overflow(&d, &format!("{base}/login"), "sign-in", &shots).await);
    fill(&d, "upn", &user.upn).await;
    submit(&d, "/login").await;
    wait_for_text(&d, "Enter password").await;
    problems.extend(overflow_here(&d, "sign-in-password", &shots).await);
    fill(&d, "password", &user.password).await;
    submit(&d, "/login/password").await;
    wait_for_path(&d, "/security-info").await;
    problems.extend(overflow_here(&d, "security-info", &shots).await);
    problems.extend(
        overflow(
            &d,
            &format!("{base}/security-info/add"),
            "add-method",
            &shots,
        )
        .await,
    );
    submit(&d, "/security-info/hardware-token").await;
    problems.extend(overflow_here(&d, "hardware-token-serial", &shots).await);
    fill(&d, "serial", "10001002").await;
    submit(&d, "/security-info/hardware-token").await;
    problems.extend(overflow_here(&d, "hardware-token-name", &shots).await);
    assert!(
        problems.is_empty(),
        "pages overflow sideways:\n{}",
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_desk_and_security_info_page_fits_a_phone_and_a_desktop() {
    let tmp = tempfile::tempdir().unwrap();
    let l = Arc::new(start(tmp.path()).await);
    let s = common::sign_in(&l, &l.admin).await;
    upload_and_push(&s, &golden()).await;
    let a = device_id(&l, "10001001").await;
    let (status, page) = s
        .post(
            &format!("/tokens/{a}/assign"),
            &format!("upn={}&code=", l.demo.users[0].upn),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let driver = start_chromedriver().await;
    let d = browser(&driver).await;
    run(d.clone(), desk_pages(d, Arc::clone(&l))).await;
    let d = browser(&driver).await;
    run(d.clone(), security_info_pages(d, Arc::clone(&l))).await;
}
