//! `--json` on every listing: `formats`, `portal customer|order|shipment|
//! staff list`, `portal audit list`, `desk operators`, `directory user
//! list`. Each prints one JSON array with the same rows as the text form,
//! and no password hash or sealed secret.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::portal_crash::{EMAIL, ORDERS, REVIEWER, cli, inventory};

const BIN: &str = env!("CARGO_BIN_EXE_oathvault");

fn json_of(text: &str) -> Vec<Value> {
    match serde_json::from_str(text) {
        Ok(Value::Array(rows)) => rows,
        other => panic!("not a JSON array: {other:?}\n{text}"),
    }
}

/// Rows of `portal ARGS --json`, checked against the text form's lines.
fn portal_rows(dir: &Path, args: &[&str]) -> Vec<Value> {
    let text = cli(dir, args);
    let mut with = args.to_vec();
    with.push("--json");
    let rows = json_of(&cli(dir, &with));
    assert_eq!(rows.len(), text.lines().count(), "{args:?}: {text}");
    rows
}

fn no_secrets(rows: &[Value]) {
    let text = serde_json::to_string(rows).unwrap();
    for word in ["$argon2", "password", "totp", "sealed", "hash"] {
        assert!(!text.to_lowercase().contains(word), "{word} in {text}");
    }
}

#[test]
fn portal_listings_print_json_arrays() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    inventory(dir);
    let customers = portal_rows(dir, &["customer", "list"]);
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["name"], "Crash Ltd");
    assert_eq!(customers[0]["emails"][0], EMAIL);
    assert_eq!(customers[0]["orders"], ORDERS);
    let orders = portal_rows(dir, &["order", "list"]);
    assert_eq!(orders.len(), ORDERS);
    assert!(
        orders
            .iter()
            .any(|o| o["po"] == "PO-1" && o["shipments"] == 2)
    );
    let shipments = portal_rows(dir, &["shipment", "list"]);
    assert_eq!(shipments.len(), ORDERS * 2);
    assert!(shipments.iter().all(|s| s["tokens"] == 2), "{shipments:?}");
    let staff = portal_rows(dir, &["staff", "list"]);
    assert_eq!(staff.len(), 1);
    assert_eq!(staff[0]["email"], REVIEWER);
    assert_eq!(staff[0]["portal_role"], "reviewer");
    assert_eq!(staff[0]["desk_role"], Value::Null);
    let audit = portal_rows(dir, &["audit", "list", "--limit", "5"]);
    assert_eq!(audit.len(), 5);
    assert!(
        audit
            .iter()
            .all(|e| e["seq"].is_i64() && e["action"].is_string())
    );
    for rows in [&customers, &orders, &shipments, &staff] {
        no_secrets(rows);
    }
}

fn run(args: &[&str], data: &Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env("OATHVAULT_DATA_DIR", data)
        .env_remove("OATHVAULT_DESK_DATABASE")
        .env_remove("OATHVAULT_DESK_KEY_FILE")
        .env_remove("OATHVAULT_DIRECTORY_DATABASE")
        .env_remove("OATHVAULT_DIRECTORY_KEY_FILE")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn formats_desk_operators_and_directory_users_print_json_arrays() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let formats = json_of(&run(&["formats", "--json"], &data));
    assert_eq!(formats.len(), run(&["formats"], &data).lines().count());
    assert!(
        formats
            .iter()
            .any(|f| f["name"] == "pskc" && f["read"] == true && f["write"] == true),
        "{formats:?}"
    );

    run(&["desk", "init"], &data);
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "operator password long\n").unwrap();
    run(
        &[
            "desk",
            "add-operator",
            "--email",
            "op@desk.example",
            "--name",
            "Op",
            "--role",
            "helpdesk",
            "--password-file",
            pw.to_str().unwrap(),
        ],
        &data,
    );
    let ops = json_of(&run(&["desk", "operators", "--json"], &data));
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["email"], "op@desk.example");
    assert_eq!(ops[0]["role"], "helpdesk");
    no_secrets(&ops);

    run(&["directory", "seed-demo"], &data);
    let args = ["directory", "user", "list", "--tenant", "contoso.example"];
    let text = run(&args, &data);
    let mut with = args.to_vec();
    with.push("--json");
    let users = json_of(&run(&with, &data));
    assert_eq!(users.len(), text.lines().count());
    assert!(
        users.iter().any(|u| u["upn"] == "amy@contoso.example"),
        "{users:?}"
    );
    no_secrets(&users);
}
