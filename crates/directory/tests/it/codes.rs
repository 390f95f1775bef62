//! Codes under attack: requests racing with one valid code (exactly one
//! wins), on SQLite and PostgreSQL; wrong codes against activation, sign-in
//! and the OTP check API lock the token and the user at the configured
//! count, and the right code is then refused until the lock ends or the
//! help desk clears it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test; one attack reads top to bottom"
)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use oathvault_testkit::postgres::TempPostgres;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Dir, SECRET_1, T, code, directory, directory_at, graph};
use crate::people::{page, sign_in};

const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";

/// A token `serial` in the inventory, assigned to Ben and activated with
/// the code of `T` (so the code of `T + 30` is the next one it takes).
pub async fn activated_for_ben(dir: &Dir, serial: &str) -> String {
    let (s, d) = graph(
        dir,
        "POST",
        DEVICES,
        Some(json!({
            "serialNumber": serial, "manufacturer": "Contoso", "model": "T",
            "secretKey": SECRET_1, "timeIntervalInSeconds": 30
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let id = d["id"].as_str().unwrap().to_owned();
    let ben = "/beta/users/ben@contoso.example/authentication/hardwareOathMethods";
    let (s, body) = graph(
        dir,
        "POST",
        &format!("{ben}/assignAndActivate"),
        Some(json!({ "device": { "id": id }, "verificationCode": code(SECRET_1, T) })),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    id
}

async fn one_code_raced_a_hundred_times(database: &str) {
    let dir = directory(database).await;
    activated_for_ben(&dir, "RACE-1").await;
    let body = json!({ "serialNumber": "RACE-1", "code": code(SECRET_1, T + 30) }).to_string();
    let start = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let app = oathvault_directory::router(dir.state.clone());
        let token = dir.token.clone();
        let body = body.clone();
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            let r = Request::post("/api/otp/check")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap();
            start.wait().await;
            let resp = app.oneshot(r).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()["accepted"] == true
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        if t.await.unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(
        accepted, 1,
        "one code, a hundred requests: exactly one accepted"
    );
    let (_, d) = graph(
        &dir,
        "GET",
        &format!("{DEVICES}?$filter=serialNumber%20eq%20'RACE-1'"),
        None,
    )
    .await;
    assert_eq!(d["value"][0]["status"], "activated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_code_raced_a_hundred_times_is_accepted_once_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    one_code_raced_a_hundred_times(tmp.path().join("d.db").to_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_code_raced_a_hundred_times_is_accepted_once_on_postgres() {
    let pg = TempPostgres::start();
    one_code_raced_a_hundred_times(pg.url()).await;
}

/// A code the token shows at no step within a day either side of `at`
/// (the activation window): wrong for activation and sign-in alike.
fn wrong_code(at: i64) -> String {
    let taken: HashSet<String> = (-2882..=2882)
        .map(|k| code(SECRET_1, at + k * 30))
        .collect();
    (0..1_000_000u32)
        .map(|v| format!("{:06}", (v * 7919 + 123_457) % 1_000_000))
        .find(|c| !taken.contains(c))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_lock_tokens_and_users_until_the_lock_ends_or_is_cleared_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    wrong_codes_lock(tmp.path().join("d.db").to_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_lock_tokens_and_users_until_the_lock_ends_or_is_cleared_on_postgres() {
    let pg = TempPostgres::start();
    wrong_codes_lock(pg.url()).await;
}

async fn wrong_codes_lock(database: &str) {
    let now = Arc::new(AtomicI64::new(T));
    let clock = Arc::clone(&now);
    let dir = directory_at(
        database,
        oathvault_directory::Settings::default(),
        Box::new(move || clock.load(Ordering::SeqCst)),
    )
    .await;
    let t = || now.load(Ordering::SeqCst);

    // Activation (Graph): five wrong codes for Helga's token lock it and her.
    let (_, d) = graph(
        &dir,
        "POST",
        DEVICES,
        Some(json!({
            "serialNumber": "LOCK-A", "manufacturer": "C", "model": "M",
            "secretKey": SECRET_1, "timeIntervalInSeconds": 30
        })),
    )
    .await;
    let id = d["id"].as_str().unwrap().to_owned();
    let helga = "/beta/users/helga@contoso.example/authentication/hardwareOathMethods";
    let (s, _) = graph(&dir, "POST", helga, Some(json!({ "device": { "id": id } }))).await;
    assert_eq!(s, StatusCode::CREATED);
    let activate = format!("{helga}/{id}/activate");
    for i in 0..5 {
        let (s, body) = graph(
            &dir,
            "POST",
            &activate,
            Some(json!({ "verificationCode": wrong_code(t()) })),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "wrong code {i}: {body}");
        assert_eq!(
            body["error"]["code"], "BadRequest",
            "not locked yet at {i}: {body}"
        );
    }
    let (s, body) = graph(
        &dir,
        "POST",
        &activate,
        Some(json!({ "verificationCode": code(SECRET_1, t()) })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "TooManyAttempts", "{body}");
    let (_, d) = graph(&dir, "GET", &format!("{DEVICES}/{id}"), None).await;
    assert_eq!(d["status"], "failedActivation");
    let audit = dir
        .state
        .db
        .audit_events(&dir.demo.tenant_id, 10)
        .await
        .unwrap();
    let locked: Vec<&str> = audit
        .iter()
        .filter(|e| e.action == "code.locked")
        .map(|e| e.subject.as_str())
        .collect();
    assert!(
        locked.contains(&"token:LOCK-A") && locked.contains(&"user:helga@contoso.example"),
        "{audit:?}"
    );
    // The help desk sees both locks, and clears them.
    let (s, locks) = graph(&dir, "GET", "/api/locks", None).await;
    assert_eq!(s, StatusCode::OK, "{locks}");
    let names: Vec<&str> = locks["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["LOCK-A", "helga@contoso.example"], "{locks}");
    assert!(locks["value"][0]["lockedUntil"].is_string());
    let (s, state) = graph(&dir, "GET", "/api/tokens/LOCK-A", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(state["lockedUntil"].is_string(), "{state}");
    for path in [
        "/api/locks/tokens/LOCK-A",
        "/api/locks/users/helga@contoso.example",
    ] {
        let (s, body) = graph(&dir, "DELETE", path, None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    }
    let audit = dir
        .state
        .db
        .audit_events(&dir.demo.tenant_id, 10)
        .await
        .unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.action == "lock.cleared").count(),
        2,
        "{audit:?}"
    );
    let (s, body) = graph(
        &dir,
        "POST",
        &activate,
        Some(json!({ "verificationCode": code(SECRET_1, t()) })),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NO_CONTENT,
        "cleared: the right code works again: {body}"
    );

    // The OTP check API: five wrong codes by serial lock Ben's token.
    activated_for_ben(&dir, "LOCK-B").await;
    let check = |code: String| {
        let dir = &dir;
        async move {
            let (s, v) = graph(
                dir,
                "POST",
                "/api/otp/check",
                Some(json!({ "serialNumber": "LOCK-B", "code": code })),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v
        }
    };
    for _ in 0..5 {
        assert_eq!(check(wrong_code(t())).await["accepted"], false);
    }
    let v = check(code(SECRET_1, t() + 30)).await;
    assert_eq!(v["accepted"], false, "locked: {v}");
    assert!(v["lockedUntil"].is_string(), "{v}");
    // The lock ends after the configured time (15 minutes).
    now.fetch_add(15 * 60 + 1, Ordering::SeqCst);
    let v = check(code(SECRET_1, t())).await;
    assert_eq!(v["accepted"], true, "the lock ended: {v}");

    // Sign-in: five wrong codes lock Amy's codes; the right one is refused.
    let (_, d) = graph(
        &dir,
        "POST",
        DEVICES,
        Some(json!({
            "serialNumber": "LOCK-C", "manufacturer": "C", "model": "M",
            "secretKey": SECRET_1, "timeIntervalInSeconds": 30
        })),
    )
    .await;
    let id = d["id"].as_str().unwrap().to_owned();
    let (s, body) = graph(
        &dir,
        "POST",
        "/beta/users/amy@contoso.example/authentication/hardwareOathMethods/assignAndActivate",
        Some(json!({ "device": { "id": id }, "verificationCode": code(SECRET_1, t()) })),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let amy = &dir.demo.users[0];
    for i in 0..5 {
        let (_, pending, _) = sign_in(&dir, &amy.upn, &amy.password).await;
        let (s, _, _, body) = page(
            &dir,
            "POST",
            "/login/code",
            &pending,
            &format!("code={}", wrong_code(t())),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "wrong code {i}");
        assert!(body.contains("expected verification code"), "{body}");
    }
    let (_, pending, _) = sign_in(&dir, &amy.upn, &amy.password).await;
    let (s, _, _, body) = page(
        &dir,
        "POST",
        "/login/code",
        &pending,
        &format!("code={}", code(SECRET_1, t() + 30)),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "locked: {body}");
    assert!(body.contains("Too many wrong codes"), "{body}");
    let (s, _) = graph(&dir, "DELETE", "/api/locks/users/amy@contoso.example", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = graph(&dir, "DELETE", "/api/locks/tokens/LOCK-C", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, pending, _) = sign_in(&dir, &amy.upn, &amy.password).await;
    let (s, _, full, _) = page(
        &dir,
        "POST",
        "/login/code",
        &pending,
        &format!("code={}", code(SECRET_1, t() + 30)),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "cleared by the help desk");
    assert!(!full.is_empty());

    // Security info: wrong codes for an available token lock it and the
    // user, and never make it theirs.
    let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(21);
    oathvault_directory::Directory::new(&dir.state.db, &dir.state.master)
        .add_user(
            &mut rng,
            &dir.demo.tenant_id,
            "zoe@contoso.example",
            "Zoe",
            "zoe's long password",
            t(),
        )
        .await
        .unwrap();
    graph(
        &dir,
        "POST",
        DEVICES,
        Some(json!({
            "serialNumber": "LOCK-D", "manufacturer": "C", "model": "M",
            "secretKey": SECRET_1, "timeIntervalInSeconds": 30
        })),
    )
    .await;
    let (_, zoe, _) = sign_in(&dir, "zoe@contoso.example", "zoe's%20long%20password").await;
    assert!(!zoe.is_empty());
    let step = |code: String| {
        let (dir, zoe) = (&dir, &zoe);
        async move {
            let form = format!("serial=LOCK-D&name=Mine&code={code}");
            let (_, _, _, body) = page(
                dir,
                "POST",
                "/security-info/hardware-token/code",
                zoe,
                &form,
            )
            .await;
            body
        }
    };
    for _ in 0..5 {
        assert!(step(wrong_code(t())).await.contains("That code didn"));
    }
    let body = step(code(SECRET_1, t() + 60)).await;
    assert!(body.contains("Too many wrong codes"), "{body}");
    let (_, d) = graph(
        &dir,
        "GET",
        &format!("{DEVICES}?$filter=serialNumber%20eq%20'LOCK-D'"),
        None,
    )
    .await;
    assert_eq!(d["value"][0]["status"], "available", "{d}");
    assert!(d["value"][0]["assignedTo"].is_null(), "{d}");
}
