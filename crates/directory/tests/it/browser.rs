//! End to end in a real headless Chromium (Debian `chromium` and
//! `chromium-driver`, installed by `scripts/test`): a user of the demo
//! tenant signs in with her password, adds golden token A through Security
//! info (serial → name → the code computed from its seed at that moment),
//! signs out, and signs in again with the password and the token's next
//! code. Screenshots go to `target/tmp/directory-screenshots/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failure is a failed test"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;
use oathvault_directory::Settings;
use oathvault_otp::clock::{Clock, FixedClock, SystemClock};
use oathvault_testkit::browser::{
    browser, fill, follow, run, screenshots, start_chromedriver, submit, wait_for_path,
    wait_for_text,
};
use oathvault_token::SecretEncoding;
use serde_json::json;
use thirtyfour::prelude::*;

use crate::common::{Dir, code, directory_at, graph};

const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";

struct Journey {
    base: String,
    upn: String,
    password: String,
    secret: String,
    /// The directory's clock, moved on between the two sign-ins.
    now: Arc<FixedClock>,
    shots: PathBuf,
}

fn now(j: &Journey) -> i64 {
    i64::try_from(j.now.now_unix()).unwrap()
}

async fn sign_in_with_password(d: &WebDriver, j: &Journey) {
    d.goto(format!("{}/login", j.base)).await.unwrap();
    fill(d, "upn", &j.upn).await;
    submit(d, "/login").await;
    fill(d, "password", &j.password).await;
    submit(d, "/login/password").await;
}

async fn add_hardware_token(d: &WebDriver, j: &Journey, shots: &Path) {
    wait_for_path(d, "/security-info").await;
    d.screenshot(&shots.join("01-security-info.png"))
        .await
        .unwrap();
    follow(d, "+ Add sign-in method").await;
    wait_for_path(d, "/security-info/add").await;
    submit(d, "/security-info/hardware-token").await;
    fill(d, "serial", "10001001").await;
    d.screenshot(&shots.join("02-serial.png")).await.unwrap();
    submit(d, "/security-info/hardware-token").await;
    fill(d, "name", "Golden A").await;
    submit(d, "/security-info/hardware-token/name").await;
    fill(d, "code", &code(&j.secret, now(j))).await;
    d.screenshot(&shots.join("03-code.png")).await.unwrap();
    submit(d, "/security-info/hardware-token/code").await;
    wait_for_text(d, "was successfully registered").await;
    d.screenshot(&shots.join("04-done.png")).await.unwrap();
    follow(d, "Done").await;
    let page = wait_for_text(d, "Golden A").await;
    assert!(page.contains("Serial 10001001"), "{page}");
    assert!(!page.contains("failedActivation"), "{page}");
}

async fn journey(d: WebDriver, j: Journey) {
    sign_in_with_password(&d, &j).await;
    add_hardware_token(&d, &j, &j.shots).await;
    submit(&d, "/logout").await;
    wait_for_path(&d, "/login").await;

    // A minute later she signs in again: password, then the token's code.
    j.now.advance(60);
    sign_in_with_password(&d, &j).await;
    wait_for_path(&d, "/login/password").await;
    wait_for_text(&d, "Enter code").await;
    d.screenshot(&j.shots.join("05-enter-code.png"))
        .await
        .unwrap();
    fill(&d, "code", &code(&j.secret, now(&j))).await;
    submit(&d, "/login/code").await;
    wait_for_path(&d, "/security-info").await;
    wait_for_text(&d, "Golden A").await;
    d.screenshot(&j.shots.join("06-signed-in-with-token.png"))
        .await
        .unwrap();
}

async fn upload_golden_token(dir: &Dir) -> String {
    let a = oathvault_testkit::golden::token_a().token;
    let secret = SecretEncoding::Base32.encode(&a.secret).to_string();
    let (s, body) = graph(
        dir,
        "POST",
        DEVICES,
        Some(json!({
            "serialNumber": a.serial.as_str(), "manufacturer": "Deepnet Security",
            "model": "SafeID/Enterprise", "secretKey": secret, "timeIntervalInSeconds": 30
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    secret
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_adds_a_hardware_token_and_signs_in_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    // The real time, so the code is the one the token would show now.
    let now = Arc::new(FixedClock::new(SystemClock.now_unix()));
    let clock = now.clone();
    let dir = directory_at(
        tmp.path().join("d.db").to_str().unwrap(),
        Settings::default(),
        Box::new(move || i64::try_from(clock.now_unix()).unwrap()),
    )
    .await;
    let secret = upload_golden_token(&dir).await;
    let amy = dir.demo.users[0].clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(oathvault_directory::serve(
        listener,
        dir.state.clone(),
        std::future::pending(),
    ));

    let driver = start_chromedriver().await;
    let d = browser(&driver).await;
    let j = Journey {
        base: format!("http://{addr}"),
        upn: amy.upn,
        password: amy.password,
        secret,
        now,
        shots: screenshots(env!("CARGO_TARGET_TMPDIR"), "directory-screenshots"),
    };
    run(d.clone(), journey(d, j)).await;

    // The directory agrees: the token is Amy's and activated.
    let (s, body) = graph(
        &dir,
        "GET",
        &format!("{DEVICES}?$filter=serialNumber%20eq%20'10001001'"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["value"][0]["status"], "activated", "{body}");
    let (_, user) = graph(&dir, "GET", "/beta/users/amy@contoso.example", None).await;
    assert_eq!(body["value"][0]["assignedTo"]["id"], user["id"], "{body}");
}
