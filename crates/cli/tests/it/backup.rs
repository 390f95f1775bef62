//! Backup and restore drill (issue 22, part 2): a backup taken while the
//! portal serves customers' journeys and a reviewer's approvals (a bounded
//! in-test load), restored into a fresh data directory with the key file
//! copied apart, passes `portal verify`; a request approved after the
//! backup point is absent from it, and a file approved before it downloads
//! and opens from the restored portal. A wrong key fails `verify`, naming
//! what does not open; restoring over a database is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "test helpers: a failure is a failed test; one drill"
)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::portal_crash::{Load, Portal, SUBMITTED, client, free_port, inventory, ov, sign_in};

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

async fn references(dir: &Path, state: &str) -> HashSet<String> {
    let keys = oathvault_vault::Keyring::open_file(&dir.join("data/master.key")).unwrap();
    let store = oathvault_store::Store::open(
        dir.join("data/portal.db").to_str().unwrap(),
        &keys,
        &mut oathvault_vault::random::os(),
    )
    .await
    .unwrap();
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT reference FROM seed_request WHERE state = $1")
            .bind(state)
            .fetch_all(store.pool())
            .await
            .unwrap();
    store.close().await;
    rows.into_iter().map(|(r,)| r).collect()
}

async fn mails_settled(dir: &Path) {
    for _ in 0..200 {
        if references(dir, "approved").await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `load` has submitted at least `n` requests; returns the count.
async fn wait_for_submissions(load: &Load, n: usize) -> usize {
    for _ in 0..600 {
        let done = load.done[SUBMITTED].load(Ordering::SeqCst);
        if done >= n {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the load stalled: {}", load.counts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_verifies_and_serves_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let uri = inventory(dir);
    let sink_dir = dir.join("mail");
    let smtp = free_port();
    let sink = oathvault_mail::Sink::start(
        &sink_dir,
        format!("127.0.0.1:{smtp}").parse().unwrap(),
        Arc::new(oathvault_otp::clock::SystemClock),
    )
    .await
    .unwrap();
    let mut portal = Portal::start(dir, smtp);
    let session = sign_in(&portal.base, &uri).await;
    let load = Load::new(
        client(),
        &portal.base,
        session.clone(),
        sink_dir.clone(),
        Arc::default(),
    );
    for n in [1, 2, 5] {
        load.journey(n).await.unwrap();
    }
    load.review_queue().await.unwrap();
    mails_settled(dir).await;
    assert!(!references(dir, "delivered").await.is_empty());

    // The backup, while customers walk the journey and the reviewer
    // approves (a bounded in-test load like bench/portal_requests.sh).
    let busy = Arc::new(Load::new(
        client(),
        &portal.base,
        session,
        sink_dir.clone(),
        Arc::default(),
    ));
    busy.next.store(100, Ordering::SeqCst);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(tokio::spawn(Arc::clone(&busy).customer()));
    }
    tasks.push(tokio::spawn(Arc::clone(&busy).reviewer()));
    let busy_before = wait_for_submissions(&busy, 2).await;
    let backup = dir.join("portal-backup.db");
    let (ok, out) = {
        let (dir, backup) = (dir.to_owned(), backup.clone());
        tokio::task::spawn_blocking(move || run(&dir, &["backup", "-o", backup.to_str().unwrap()]))
            .await
            .unwrap()
    };
    assert!(ok, "{out}");
    assert!(out.contains("the master key is not in it"), "{out}");
    // The load went on after the backup point.
    wait_for_submissions(&busy, busy_before + 2).await;
    busy.stop.store(true, Ordering::SeqCst);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("a client did not stop")
            .unwrap();
    }
    let faults = busy.faults.lock().unwrap().clone();
    assert!(faults.is_empty(), "wrong answers under load: {faults:?}");
    println!("load around the backup: {}", busy.counts());
    load.review_queue().await.unwrap();
    mails_settled(dir).await;
    let at_stop = references(dir, "delivered").await;

    let (ok, out) = run(dir, &["backup", "-o", backup.to_str().unwrap()]);
    assert!(!ok && out.contains("exists"), "{out}");
    let bytes = std::fs::read(&backup).unwrap();
    let key_hex = std::fs::read_to_string(dir.join("data/master.key")).unwrap();
    let key_line = key_hex.lines().find(|l| !l.starts_with('#')).unwrap();
    assert!(
        !bytes
            .windows(key_line.len())
            .any(|w| w == key_line.as_bytes()),
        "the master key is in the backup"
    );

    // After the load: more requests approved (the reviewer rejects those
    // whose id is a multiple of four, so two are made: one or both pass).
    load.journey(7).await.unwrap();
    load.journey(8).await.unwrap();
    load.review_queue().await.unwrap();
    mails_settled(dir).await;
    let after: HashSet<String> = references(dir, "delivered")
        .await
        .difference(&at_stop)
        .cloned()
        .collect();
    assert!(!after.is_empty() && after.len() <= 2, "{after:?}");
    portal.kill();
    sink.stop().await;

    // Restored into a fresh directory, with the key file brought apart.
    let fresh = tempfile::tempdir().unwrap();
    let dir2 = fresh.path();
    std::fs::create_dir_all(dir2.join("data")).unwrap();
    std::fs::copy(dir.join("data/master.key"), dir2.join("data/master.key")).unwrap();
    let (ok, out) = run(dir2, &["restore", backup.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = run(dir2, &["restore", backup.to_str().unwrap()]);
    assert!(!ok && out.contains("empty data directory"), "{out}");
    let (ok, out) = run(dir2, &["verify"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("audit log intact") && out.contains("token seeds"),
        "{out}"
    );
    let restored = references(dir2, "delivered").await;
    let before = restored.clone();
    assert!(!restored.is_empty());
    assert!(
        restored.is_subset(&at_stop),
        "the restored portal holds a request the live one never delivered: {:?}",
        restored.difference(&at_stop).collect::<Vec<_>>()
    );
    assert!(
        restored.is_disjoint(&after),
        "a request approved after the backup point is in it"
    );

    // A file approved before the backup downloads from the restored portal.
    let sink2 = oathvault_mail::Sink::start(
        &dir2.join("mail"),
        format!("127.0.0.1:{smtp}").parse().unwrap(),
        Arc::new(oathvault_otp::clock::SystemClock),
    )
    .await
    .unwrap();
    let portal2 = Portal::start(dir2, smtp);
    let mails = oathvault_mail::outbox::list(&sink_dir).unwrap();
    let first = mails
        .iter()
        .find(|m| m.subject.contains(" ready: ") && before.iter().any(|r| m.subject.contains(r)))
        .expect("a link mail from before the backup");
    let text = first.text.clone().unwrap_or_default();
    let token = crate::portal_crash::link_token(&text, "/d/");
    assert!(!token.is_empty(), "{text}");
    let r = client()
        .post(format!("{}/d/{token}", portal2.base))
        .header("sec-fetch-site", "same-origin")
        .form(&[("password", crate::portal_crash::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let file = dir2.join("restored.zip");
    std::fs::write(&file, r.bytes().await.unwrap()).unwrap();
    let pw = dir2.join("pw");
    std::fs::write(&pw, format!("{}\n", crate::portal_crash::PASSWORD)).unwrap();
    let opened = std::process::Command::new(env!("CARGO_BIN_EXE_oathvault"))
        .args(["open", file.to_str().unwrap(), "-o"])
        .arg(dir2.join("opened"))
        .args(["--password-file", pw.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    drop(portal2);
    sink2.stop().await;

    // With another key, verify names what does not open.
    let other = tempfile::tempdir().unwrap();
    let dir3 = other.path();
    let (ok, out) = run(dir3, &["init"]);
    assert!(ok, "{out}");
    std::fs::remove_file(dir3.join("data/portal.db")).unwrap();
    let _ = std::fs::remove_file(dir3.join("data/portal.db-wal"));
    let _ = std::fs::remove_file(dir3.join("data/portal.db-shm"));
    let (ok, out) = run(dir3, &["restore", backup.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = run(dir3, &["verify"]);
    assert!(!ok, "{out}");
    assert!(out.contains("does not open"), "{out}");
}
