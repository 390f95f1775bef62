//! The vendor API of a real `portal serve`, checked by independent tools:
//! `openapi-spec-validator` validates `/api/v1/openapi.json` as `OpenAPI`
//! 3.1, and `schemathesis` fuzzes the running API against it (bounded,
//! loopback only): no 5xx, and every response's status, content type and
//! body match the document. Both come from `PyPI` into a virtual environment
//! that `scripts/test` makes (`OATHVAULT_API_VENV`, by default
//! `~/.cache/oathvault/api-venv`); without them the test fails, naming the
//! command that installs them.
//!
//! Also the key commands: `api-key add` prints the key once, `list --json`
//! never shows it, and a revoked key is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure is a failed test"
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::portal_crash::{cli, free_port, ov};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("OATHVAULT_API_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/oathvault/api-venv"),
        PathBuf::from,
    );
    let tool = venv.join("bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: scripts/test installs schemathesis and openapi-spec-validator into {}",
        tool.display(),
        venv.display()
    );
    tool
}

fn wait_listening(port: u16) {
    for _ in 0..1000 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the portal did not start");
}

async fn status_with(base: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/customers"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_openapi_document_validates_and_the_running_api_matches_it_under_fuzzing() {
    let validator = venv_tool("openapi-spec-validator");
    let schemathesis = venv_tool("schemathesis");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    cli(dir, &["init"]);
    let key = cli(
        dir,
        &[
            "api-key",
            "add",
            "--name",
            "ERP",
            "--scopes",
            "customers:write,orders:write,tokens:import,requests:read,webhooks:manage",
        ],
    );
    let key = key.trim().to_owned();
    assert!(key.starts_with("ovk_") && key.len() > 50, "{key}");
    let listed = cli(dir, &["api-key", "list", "--json"]);
    assert!(
        listed.contains("\"ERP\"") && listed.contains("tokens:import"),
        "{listed}"
    );
    assert!(
        !listed.contains(&key) && !listed.contains("key_hash"),
        "{listed}"
    );

    let port = free_port();
    let _portal = Running(
        ov(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("OATHVAULT_API__RATE_PER_MINUTE", "100000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port);
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let doc = dir.join("openapi.json");
    oathvault_graph::client::install_tls_provider();
    let body = reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(&doc, &body).unwrap();
    let checked = Command::new(&validator).arg(&doc).output().unwrap();
    assert!(
        checked.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let fuzzed = Command::new(&schemathesis)
        .args(["run", &format!("{base}/openapi.json")])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "10", "--workers", "1", "--no-color"])
        .args(["--seed", "20261207"])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&fuzzed.stdout);
    assert!(
        fuzzed.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&fuzzed.stderr)
    );
    assert!(
        report.contains("Tested: 17"),
        "not every operation was tested:\n{report}"
    );

    assert_eq!(status_with(&base, &key).await, 200);
    cli(dir, &["api-key", "revoke", "ERP"]);
    assert_eq!(
        status_with(&base, &key).await,
        401,
        "a revoked key still works"
    );
}
