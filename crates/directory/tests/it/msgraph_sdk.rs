//! Microsoft's own client: the Microsoft Graph beta Python SDK
//! (`msgraph-beta-sdk`, installed by `scripts/test` into a cached virtual
//! environment), with only its base URL changed and a token from our token
//! endpoint, creates, lists (paging past 1,000 tokens), filters, assigns,
//! activates, unassigns and deletes hardware OATH tokens on a directory
//! served on a loopback port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failure is a failed test"
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{SECRET_1, T, code, directory, graph};

const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";

fn python() -> PathBuf {
    let p = std::env::var_os("OATHVAULT_MSGRAPH_PYTHON").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap())
                .join(".cache/oathvault/msgraph-venv/bin/python")
        },
        PathBuf::from,
    );
    assert!(
        p.exists(),
        "{} is missing: scripts/test installs msgraph-beta-sdk into it",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsofts_graph_sdk_works_against_the_directory() {
    let python = python();
    let tmp = tempfile::tempdir().unwrap();
    let dir = directory(tmp.path().join("d.db").to_str().unwrap()).await;
    // 1,100 tokens already in the inventory: listing needs two pages.
    for chunk in 0..2 {
        let n = if chunk == 0 { 1000 } else { 100 };
        let value: Vec<Value> = (0..n)
            .map(|i| {
                json!({
                    "serialNumber": format!("SDK{chunk}{i:04}"), "manufacturer": "Contoso",
                    "model": "Bulk", "secretKey": SECRET_1, "timeIntervalInSeconds": 30
                })
            })
            .collect();
        let (s, _) = graph(
            &dir,
            "PATCH",
            DEVICES,
            Some(json!({ "@context": "#$delta", "value": value })),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (_, amy) = graph(&dir, "GET", "/beta/users/amy@contoso.example", None).await;
    let amy = amy["id"].as_str().unwrap().to_owned();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(oathvault_directory::serve(
        listener,
        dir.state.clone(),
        std::future::pending(),
    ));
    let config = json!({
        "authority": format!("http://{addr}"),
        "graph_url": format!("http://{addr}/beta"),
        "tenant_id": dir.demo.tenant_id,
        "client_id": dir.demo.client_id,
        "client_secret": dir.demo.client_secret,
        "secret": SECRET_1,
        "user": amy,
        "code": code(SECRET_1, T),
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/msgraph/sdk_check.py");
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(config.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the SDK script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["created"]["status"], "available", "{r}");
    assert!(r["created"]["secret"].is_null());
    assert_eq!(r["listed"], 1101, "{r}");
    assert_eq!(r["distinct"], 1101);
    assert_eq!(r["pages"], 2);
    assert_eq!(r["filtered"], json!(["TOTP123456"]));
    assert_eq!(r["assigned"], r["created"]["id"]);
    assert_eq!(r["activated"]["status"], "activated");
    assert_eq!(r["activated"]["display_name"], "Amy's token");
    assert_eq!(r["activated"]["assigned_to"], amy.as_str());
    assert_eq!(r["after_delete"], 0);
}
