//! Custody you can prove (issue 17), through the `oathvault portal`
//! commands on a real SQLite file:
//! - shredding a shipment leaves no 16-byte piece of its sealed seeds or
//!   its wrapped data key anywhere in the database files — so not even the
//!   master key recovers them — and a request for it is refused;
//! - an event rewritten in SQL, with the plain SHA-256 chain recomputed
//!   after it, is named by `portal audit verify` (the links are keyed);
//! - cutting the newest events and moving the head back passes the chain
//!   check but not a signed checkpoint taken before.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "test helpers: a failure is a failed test; each test one scenario"
)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::portal_crash::{Load, client, free_port, inventory, ov};

async fn store(dir: &Path) -> oathvault_store::Store {
    let keys = oathvault_vault::Keyring::open_file(&dir.join("data/master.key")).unwrap();
    oathvault_store::Store::open(
        dir.join("data/portal.db").to_str().unwrap(),
        &keys,
        &mut oathvault_vault::random::os(),
    )
    .await
    .unwrap()
}

/// The database file and its write-ahead log, as bytes.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["portal.db", "portal.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join("data").join(name)) {
            bytes.extend(b);
        }
    }
    bytes
}

/// Whether any 16-byte window of `needle` is in `haystack`.
fn holds_any_piece(haystack: &[u8], needle: &[u8]) -> bool {
    needle
        .windows(16)
        .any(|w| haystack.windows(16).any(|h| h == w))
}

fn run(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = ov(dir).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shredded_shipment_leaves_no_trace_and_cannot_be_requested() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    inventory(dir);
    let s = store(dir).await;
    let sealed: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT t.sealed FROM token t JOIN shipment s ON s.id = t.shipment_id WHERE s.number = 'SH-1-a'",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    let (wrapped,): (Vec<u8>,) =
        sqlx::query_as("SELECT wrapped_key FROM shipment WHERE number = 'SH-1-a'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    s.close().await;
    assert_eq!(sealed.len(), 2);
    // The search finds them before (so its silence afterwards means something).
    let before = database_bytes(dir);
    assert!(holds_any_piece(&before, &wrapped));
    assert!(sealed.iter().all(|(c,)| holds_any_piece(&before, c)));

    let (ok, out) = run(
        dir,
        &[
            "shred",
            "--shipment",
            "SH-1-a",
            "--reason",
            "customer asked",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("2 sealed seed(s) were destroyed"), "{out}");
    let after = database_bytes(dir);
    assert!(
        !holds_any_piece(&after, &wrapped),
        "a piece of the wrapped data key is left"
    );
    for (c,) in &sealed {
        assert!(
            !holds_any_piece(&after, c),
            "a piece of a sealed seed is left"
        );
    }
    let (ok, out) = run(dir, &["shred", "--shipment", "SH-1-a"]);
    assert!(!ok && out.contains("already shredded"), "{out}");
    let (_, audit) = run(dir, &["audit", "list", "--filter", "shred"]);
    assert!(
        audit.contains("shipment.shred") && audit.contains("customer asked"),
        "{audit}"
    );

    // A customer who picks it is told it is gone, and whom to contact; the
    // other shipment of the order still goes through.
    let port = free_port();
    let _portal = Killed(
        ov(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("OATHVAULT_REQUESTS__FIND_FLOOR_MS", "1")
            .env("OATHVAULT_REQUESTS__ASK_CODE", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let load = Load::new(
        client(),
        &format!("http://127.0.0.1:{port}"),
        String::new(),
        dir.join("mail"),
        Arc::default(),
    );
    let (cookie, ids) = load.find(1).await.map_err(|_| "find").unwrap();
    let serial = crate::portal_crash::serial(1, 0, 0);
    let field = format!("serial-{}", ids[0]);
    let a = load
        .send(
            "POST",
            "/request/shipments",
            Some(&cookie),
            &[("pick", ids[0].as_str()), (field.as_str(), serial.as_str())],
        )
        .await
        .map_err(|_| "post")
        .unwrap();
    assert!(
        a.body.contains("its seeds were destroyed") && a.body.contains("retention rule"),
        "{}: {}",
        a.status,
        a.body
    );
    let serial_b = crate::portal_crash::serial(1, 1, 0);
    let field_b = format!("serial-{}", ids[1]);
    let b = load
        .send(
            "POST",
            "/request/shipments",
            Some(&cookie),
            &[
                ("pick", ids[1].as_str()),
                (field_b.as_str(), serial_b.as_str()),
            ],
        )
        .await
        .map_err(|_| "post")
        .unwrap();
    assert_eq!(
        (b.status, b.location.as_str()),
        (303, "/request/protection")
    );
}

/// A child process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One audit event, as stored.
#[derive(sqlx::FromRow)]
struct Ev {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    subject: String,
    source: String,
    outcome: String,
    detail: String,
}

/// The plain link of the chains before keys.
fn plain_link(e: &Ev, prev: &str) -> String {
    let canonical = serde_json::json!([
        e.seq, e.at, e.actor, e.action, e.subject, e.source, e.outcome, e.detail, prev
    ]);
    data_encoding::HEXLOWER.encode(&Sha256::digest(canonical.to_string().as_bytes()))
}

/// What someone with the database but not the master key can do: rewrite
/// event 5 and recompute every plain SHA-256 link after it, and the head.
async fn rewrite_event_5(dir: &Path) {
    let s = store(dir).await;
    sqlx::query("UPDATE audit SET detail = 'nothing happened here' WHERE seq = 5")
        .execute(s.pool())
        .await
        .unwrap();
    let rows: Vec<Ev> = sqlx::query_as(
        "SELECT seq, at, actor, action, subject, source, outcome, detail FROM audit \
         WHERE seq >= 5 ORDER BY seq",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    let (mut prev,): (String,) = sqlx::query_as("SELECT hash FROM audit WHERE seq = 4")
        .fetch_one(s.pool())
        .await
        .unwrap();
    for e in &rows {
        let hash = plain_link(e, &prev);
        sqlx::query("UPDATE audit SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(e.seq)
            .execute(s.pool())
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(s.pool())
        .await
        .unwrap();
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_event_is_named_and_a_cut_log_fails_its_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    inventory(dir);
    let (ok, out) = run(dir, &["audit", "verify"]);
    assert!(ok && out.contains("audit log intact"), "{out}");
    let checkpoint = dir.join("checkpoint.asc");
    let (ok, out) = run(
        dir,
        &["audit", "checkpoint", "-o", checkpoint.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    let (ok, out) = run(
        dir,
        &[
            "audit",
            "verify",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ],
    );
    assert!(
        ok && out.contains("still holds the checkpoint's head"),
        "{out}"
    );

    // On a copy, someone with the database but not the master key
    // rewrites event 5 and recomputes the plain chain after it.
    let copy = tempfile::tempdir().unwrap();
    let cdir = copy.path();
    std::fs::create_dir_all(cdir.join("data")).unwrap();
    for f in ["portal.db", "portal.db-wal", "master.key"] {
        if dir.join("data").join(f).exists() {
            std::fs::copy(dir.join("data").join(f), cdir.join("data").join(f)).unwrap();
        }
    }
    rewrite_event_5(cdir).await;
    let (ok, out) = run(cdir, &["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("broken at event 5") && out.contains("keyed hash"),
        "{out}"
    );

    // Cutting the newest events and moving the head back leaves a chain that
    // checks; the checkpoint taken before catches it.
    let s = store(dir).await;
    let (events,): (i64,) = sqlx::query_as("SELECT seq FROM audit_head WHERE id = 1")
        .fetch_one(s.pool())
        .await
        .unwrap();
    let keep = events - 3;
    let (h,): (String,) = sqlx::query_as("SELECT hash FROM audit WHERE seq = $1")
        .bind(keep)
        .fetch_one(s.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit WHERE seq > $1")
        .bind(keep)
        .execute(s.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(keep)
        .bind(&h)
        .execute(s.pool())
        .await
        .unwrap();
    s.close().await;
    let (ok, out) = run(dir, &["audit", "verify"]);
    assert!(ok, "the cut chain itself checks: {out}");
    let (ok, out) = run(
        dir,
        &[
            "audit",
            "verify",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ],
    );
    assert!(!ok && out.contains("was rewritten"), "{out}");
    assert!(out.contains(&format!("event {events}")), "{out}");
}

/// The desk's keyring rotates the same way: its operators still sign in
/// (their TOTP secrets re-sealed), and the old key is retired.
#[test]
fn the_desk_rotates_its_key_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let desk = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_oathvault"))
            .arg("desk")
            .arg("--data-dir")
            .arg(dir.join("desk"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = desk(&["init"]);
    assert!(ok, "{out}");
    let pw = dir.join("pw");
    std::fs::write(&pw, "operator password long\n").unwrap();
    let (ok, out) = desk(&[
        "add-operator",
        "--email",
        "op@desk.example",
        "--name",
        "Op",
        "--role",
        "helpdesk",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = desk(&["rotate-key"]);
    assert!(ok, "{out}");
    assert!(out.contains("retired master key(s)"), "{out}");
    let (ok, status) = desk(&["key", "status"]);
    assert!(ok && status.contains("1 key(s)"), "{status}");
    assert!(
        status.contains("staff TOTP secrets") && !status.contains("no key id"),
        "{status}"
    );
}
