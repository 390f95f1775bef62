//! Rotating the master key under a running portal (issue 17): requests in
//! every state — drafts, submitted, approved with files, mail queued while
//! the SMTP server is down, downloaded, confirmed — and customers and a
//! reviewer still at work while `oathvault portal rotate-key` runs (once
//! cleanly; once killed with SIGKILL at random points and run again).
//! Afterwards every staff member signs in, every approved file downloads
//! and opens, the queued mail goes out, and the old key is retired: the key
//! file holds the new key only and nothing in the database names another.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::too_many_lines,
    reason = "test helpers: a failure is a failed test; one scenario, reported as it goes"
)]

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand08::Rng as _;

use crate::portal_crash::{
    CUSTOMERS, Load, PASSWORD, Portal, STAFF_PASSWORD, check, cli, client, count, free_port,
    inventory, link_token, ov, sign_in, sign_in_as,
};

const ADMIN: &str = "ada@vendor.example";

/// The key ids in the keyring file (one per key line).
fn key_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("data/master.key"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

async fn sql_count(dir: &Path, sql: &str) -> i64 {
    let keys = oathvault_vault::Keyring::open_file(&dir.join("data/master.key")).unwrap();
    let store = oathvault_store::Store::open(
        dir.join("data/portal.db").to_str().unwrap(),
        &keys,
        &mut oathvault_vault::random::os(),
    )
    .await
    .unwrap();
    let n = count(store.pool(), sql).await;
    store.close().await;
    n
}

/// The download and confirmation tokens of every "ready" mail at the sink.
fn links(sink: &Path) -> Vec<(String, String)> {
    let mails = oathvault_mail::outbox::list(sink).unwrap_or_default();
    mails
        .iter()
        .filter(|m| m.subject.contains(" ready: "))
        .map(|m| {
            let text = m.text.clone().unwrap_or_default();
            (link_token(&text, "/d/"), link_token(&text, "/c/"))
        })
        .collect()
}

/// Downloads a file with the customer's password; its bytes.
async fn download(base: &str, token: &str) -> (u16, Vec<u8>) {
    let r = client()
        .post(format!("{base}/d/{token}"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

/// Opens a downloaded package with the `oathvault open` command.
fn opens(dir: &Path, n: usize, bytes: &[u8]) {
    let file = dir.join(format!("download-{n}.zip"));
    std::fs::write(&file, bytes).unwrap();
    let pw = dir.join("customer.pass");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let out = dir.join(format!("opened-{n}"));
    let done = std::process::Command::new(env!("CARGO_BIN_EXE_oathvault"))
        .args(["open", file.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .args(["--password-file", pw.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "file {n} does not open: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

/// Waits until the portal's outbox is empty (the SMTP sink is back).
async fn outbox_drains(dir: &Path) {
    for _ in 0..300 {
        if sql_count(dir, "SELECT COUNT(*) FROM mail_outbox").await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the queued mail did not go out");
}

async fn scenario(kills: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let reviewer_uri = inventory(dir);
    let pass = dir.join("staff.pass");
    let out = cli(
        dir,
        &[
            "staff",
            "add",
            "--email",
            ADMIN,
            "--name",
            "Ada",
            "--role",
            "administrator",
            "--password-file",
            pass.to_str().unwrap(),
        ],
    );
    let admin_uri = out
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .unwrap()
        .to_owned();
    let old_keys = key_lines(dir);
    assert_eq!(old_keys.len(), 1);

    // Mail at first reaches the sink; customers download and confirm.
    let smtp = free_port();
    let sink_dir = dir.join("mail");
    let start_sink = || async {
        oathvault_mail::Sink::start(
            &sink_dir,
            format!("127.0.0.1:{smtp}").parse().unwrap(),
            Arc::new(oathvault_otp::clock::SystemClock),
        )
        .await
        .unwrap()
    };
    let sink = start_sink().await;
    let mut portal = Portal::start(dir, smtp);
    let session = sign_in(&portal.base, &reviewer_uri).await;
    let links_seen = Arc::default();
    let load = Arc::new(Load::new(
        client(),
        &portal.base,
        session.clone(),
        sink_dir.clone(),
        Arc::clone(&links_seen),
    ));
    for n in 0..10 {
        load.journey(n).await.unwrap();
    }
    load.review_queue().await.unwrap();
    for _ in 0..100 {
        if sql_count(dir, "SELECT COUNT(*) FROM mail_outbox").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let early = links(&sink_dir);
    assert!(early.len() >= 3, "{} files reached the sink", early.len());
    let mut confirmed = HashSet::new();
    for (i, (d, c)) in early.iter().enumerate() {
        assert_eq!(download(&portal.base, d).await.0, 200);
        if i % 2 == 0 {
            let a = load
                .send("POST", &format!("/c/{c}"), None, &[])
                .await
                .unwrap();
            assert_eq!(a.status, 200);
            confirmed.insert(d.clone());
        }
    }
    // The SMTP server goes away: the next approvals' mail waits, sealed.
    sink.stop().await;
    for n in 10..20 {
        load.journey(n).await.unwrap();
    }
    load.review_queue().await.unwrap();
    for n in 20..24 {
        load.journey(n).await.unwrap();
    }
    let queued = sql_count(dir, "SELECT COUNT(*) FROM mail_outbox").await;
    assert!(queued > 0, "no mail is queued");
    let before = check(dir, "before the rotation").await;
    for state in ["draft", "submitted", "approved", "confirmed"] {
        let n: i64 = before
            .split([',', ';'])
            .map(str::trim)
            .find_map(|part| part.strip_suffix(&format!(" {state}"))?.parse().ok())
            .unwrap_or(0);
        assert!(n > 0, "no request is {state}: {before}");
    }
    println!("before the rotation: {before}; {queued} mail(s) queued");

    // Customers and the reviewer keep working while the key rotates.
    let busy = Arc::new(Load::new(
        client(),
        &portal.base,
        session.clone(),
        sink_dir.clone(),
        Arc::clone(&links_seen),
    ));
    busy.next.store(100, Ordering::SeqCst);
    let mut tasks = Vec::new();
    for _ in 0..CUSTOMERS / 2 {
        tasks.push(tokio::spawn(Arc::clone(&busy).customer()));
    }
    tasks.push(tokio::spawn(Arc::clone(&busy).reviewer()));
    let mut rng = oathvault_vault::random::os();
    let rotate = || {
        let mut c = ov(dir);
        c.arg("rotate-key")
            .env("OATHVAULT_ROTATE_GRACE_MS", "200")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    for k in 1..=kills {
        let mut child = rotate().spawn().unwrap();
        let after = rng.gen_range(20..700);
        std::thread::sleep(Duration::from_millis(after));
        let _ = child.kill();
        let status = child.wait().unwrap();
        println!(
            "rotation {k}: SIGKILL after {after} ms ({}); keyring has {} key(s)",
            if status.success() {
                "it had finished"
            } else {
                "killed"
            },
            key_lines(dir).len()
        );
        check(dir, &format!("after killing rotation {k}")).await;
    }
    let done = rotate().output().unwrap();
    let report = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(
        done.status.success(),
        "rotate-key: {report}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    println!("{report}");
    busy.stop.store(true, Ordering::SeqCst);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("a client did not stop")
            .unwrap();
    }
    let faults = busy.faults.lock().unwrap().clone();
    assert!(
        faults.is_empty(),
        "wrong answers during the rotation:\n{}\n--- portal log:\n{}",
        faults.join("\n"),
        portal.logs()
    );

    // The old key is retired: one key, a new one, and nothing names another.
    let new_keys = key_lines(dir);
    assert_eq!(new_keys.len(), 1, "{new_keys:?}");
    assert_ne!(new_keys, old_keys);
    let status = cli(dir, &["key", "status"]);
    assert!(!status.contains("NOT IN THE KEYRING"), "{status}");
    assert!(!status.contains("no key id"), "{status}");
    assert!(!status.contains("opens only"), "{status}");
    let audit = cli(dir, &["audit", "verify"]);
    assert!(audit.contains("intact"), "{audit}");
    check(dir, "after the rotation").await;

    // The running portal follows the keyring: every staff member signs in,
    // before and after a restart on the new key alone.
    sign_in(&portal.base, &reviewer_uri).await;
    sign_in_as(&portal.base, ADMIN, &admin_uri).await;
    portal.kill();
    portal = Portal::start(dir, smtp);
    sign_in(&portal.base, &reviewer_uri).await;
    sign_in_as(&portal.base, ADMIN, &admin_uri).await;
    let _ = STAFF_PASSWORD;

    // The queued mail goes out once the SMTP server is back (its retry
    // time moved to now rather than waiting out the back-off).
    let sink = start_sink().await;
    let pool_keys = oathvault_vault::Keyring::open_file(&dir.join("data/master.key")).unwrap();
    let store = oathvault_store::Store::open(
        dir.join("data/portal.db").to_str().unwrap(),
        &pool_keys,
        &mut rng,
    )
    .await
    .unwrap();
    sqlx::query("UPDATE mail_outbox SET next_attempt = 0")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    outbox_drains(dir).await;

    // Every approved file that was not confirmed downloads and opens.
    let all = links(&sink_dir);
    assert!(all.len() > early.len(), "no queued link mail arrived");
    let mut opened = 0;
    for (n, (d, _)) in all.iter().enumerate() {
        let (status, bytes) = download(&portal.base, d).await;
        if confirmed.contains(d) {
            assert_eq!(status, 410, "a confirmed file is gone");
            continue;
        }
        assert_eq!(status, 200, "file {n} does not download after the rotation");
        opens(dir, n, &bytes);
        opened += 1;
    }
    println!(
        "after the rotation: {opened} file(s) downloaded and opened, {} confirmed before, mail delivered",
        confirmed.len()
    );
    assert!(opened >= 3);
    portal.kill();
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_the_master_key_under_a_running_portal_keeps_everything() {
    scenario(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_killed_at_random_points_and_run_again_loses_nothing() {
    scenario(3).await;
}
