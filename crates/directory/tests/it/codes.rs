//! Codes under attack: requests racing with one valid code (exactly one
//! wins), on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use oathvault_testkit::postgres::TempPostgres;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Dir, SECRET_1, T, code, directory, graph};

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
