//! `oathvault entra …` against the Entra-compatible directory running in
//! this test process on a loopback port: push 10,000 tokens, kill the push
//! (SIGKILL) at a random point, `--resume`, and end with exactly 10,000
//! devices and no duplicate — also with the directory answering `429` to
//! every 50th request; validation before upload; every error path one line
//! with serial, Graph code and request id; no secret in any output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test; one scenario reads top to bottom"
)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use oathvault_otp::clock::Stopwatch;

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;
use oathvault_directory::{Db, DirState, Directory, Settings, SigningKey, Throttle};
use oathvault_otp::clock::{Clock, SystemClock};
use oathvault_token::{Secret, SecretEncoding};
use oathvault_vault::MasterKey;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use serde_json::Value;

/// The directory, served by its own runtime for as long as this lives.
struct Local {
    _runtime: tokio::runtime::Runtime,
    addr: String,
    tenant: String,
    client_id: String,
    secret_file: PathBuf,
    home: PathBuf,
}

fn now() -> i64 {
    i64::try_from(SystemClock.now_unix()).unwrap()
}

fn start(dir: &Path, settings: Settings) -> Local {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db_path = dir.join("directory.db");
    let (listener, demo, state) = runtime.block_on(async {
        let db = Db::open(db_path.to_str().unwrap()).await.unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let master = MasterKey::generate(&mut rng);
        let demo = Directory::new(&db, &master)
            .seed_demo(&mut rng, "contoso.example", now())
            .await
            .unwrap();
        let key = SigningKey::generate(&mut rng).unwrap();
        let state = Arc::new(DirState {
            db,
            master,
            key,
            clock: Box::new(now),
            settings,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        (listener, demo, state)
    });
    let addr = listener.local_addr().unwrap().to_string();
    runtime.spawn(oathvault_directory::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let secret_file = dir.join("client-secret");
    std::fs::write(&secret_file, &demo.client_secret).unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    Local {
        _runtime: runtime,
        addr,
        tenant: demo.tenant_id,
        client_id: demo.client_id,
        secret_file,
        home,
    }
}

fn entra(l: &Local) -> Command {
    let mut c = Command::new(cargo_bin("oathvault"));
    c.arg("entra")
        .arg("--client-secret-file")
        .arg(&l.secret_file)
        .env("OATHVAULT_TENANT", &l.tenant)
        .env("OATHVAULT_CLIENT_ID", &l.client_id)
        .env("OATHVAULT_AUTHORITY", format!("http://{}", l.addr))
        .env("OATHVAULT_GRAPH_URL", format!("http://{}/beta", l.addr))
        .env("HOME", &l.home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("OATHVAULT_CLIENT_SECRET");
    c
}

/// A vendor file (Entra CSV without UPNs) of `n` deterministic tokens.
fn vendor_file(path: &Path, n: usize) {
    let mut out = String::from("serial number,secret key,time interval,manufacturer,model\n");
    for i in 0..n {
        let mut bytes = [0u8; 20];
        for (k, b) in bytes.iter_mut().enumerate() {
            *b = u8::try_from((i * 31 + k * 7 + (i >> 8)) % 251).unwrap();
        }
        let secret = SecretEncoding::Base32.encode(&Secret::new(bytes.to_vec()).unwrap());
        writeln!(
            out,
            "{:08},{},30,Contoso,Hardware Token 1000",
            20_000_000 + i,
            secret.as_str()
        )
        .unwrap();
    }
    std::fs::write(path, out).unwrap();
}

/// Every device in the tenant: (count, distinct serials).
fn inventory(l: &Local) -> (usize, usize) {
    let out = entra(l)
        .args(["list", "--format", "json"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let list = v.as_array().unwrap();
    let serials: HashSet<&str> = list
        .iter()
        .map(|d| d["serialNumber"].as_str().unwrap())
        .collect();
    (list.len(), serials.len())
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Pushes 10,000 tokens, kills the push once the state file holds `kill_at`
/// results, resumes, and checks the tenant.
fn push_interrupt_resume(l: &Local, dir: &Path, kill_at: usize) {
    let file = dir.join("tokens.csv");
    vendor_file(&file, 10_000);
    let state = dir.join("tokens.csv.push-state.jsonl");
    let mut child = std::process::Command::new(cargo_bin("oathvault"))
        .args(entra(l).get_args())
        .envs(entra(l).get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .args(["push", "--quiet", "--chunk", "100"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let watch = Stopwatch::start();
    loop {
        if lines(&state) >= kill_at {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the push ended before {kill_at} results: nothing to interrupt"
        );
        assert!(
            watch.elapsed() < Duration::from_mins(2),
            "the push made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (before, _) = inventory(l);
    assert!(
        before >= kill_at && before < 10_000,
        "{before} devices after the kill at {kill_at}"
    );

    // Without --resume the unfinished state is not silently ignored.
    entra(l)
        .arg("push")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--resume"));
    let out = entra(l)
        .args(["push", "--quiet", "--resume", "--chunk", "100"])
        .arg(&file)
        .arg("--report")
        .arg(dir.join("report.csv"))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("10000 token(s)") && stdout.contains("failed 0"),
        "{stdout}"
    );
    assert_eq!(
        inventory(l),
        (10_000, 10_000),
        "exactly 10,000 devices, no duplicate"
    );
    assert!(
        !state.exists(),
        "the state file goes once the push is complete"
    );
    let report = std::fs::read_to_string(dir.join("report.csv")).unwrap();
    assert_eq!(report.lines().count(), 10_001);
    assert!(
        report
            .lines()
            .skip(1)
            .all(|l| l.contains(",created,") || l.contains(",exists,"))
    );
    // A rerun changes nothing.
    let out = entra(l)
        .args(["push", "--quiet"])
        .arg(&file)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("created 0, already in the tenant 10000"),
        "{stdout}"
    );
}

fn kill_point() -> usize {
    // A random point, reported so a failure can be replayed.
    let r = std::collections::hash_map::RandomState::new();
    let x = std::hash::BuildHasher::hash_one(&r, 0u8);
    let k = 200 + usize::try_from(x % 9_000).unwrap();
    #[allow(clippy::print_stderr, reason = "the random point, to replay a failure")]
    {
        eprintln!("interrupting after {k} results");
    }
    k
}

#[test]
fn push_ten_thousand_interrupted_and_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), Settings::default());
    push_interrupt_resume(&l, dir.path(), kill_point());
}

#[test]
fn push_resumes_while_the_directory_throttles_every_fiftieth_request() {
    let dir = tempfile::tempdir().unwrap();
    let l = start(
        dir.path(),
        Settings {
            throttle: Some(Throttle {
                every: 50,
                retry_after: 1,
            }),
            ..Settings::default()
        },
    );
    push_interrupt_resume(&l, dir.path(), kill_point());
    // And the client said it was throttled and waited.
    let file = dir.path().join("more.csv");
    std::fs::write(
        &file,
        "serial number,secret key,time interval,manufacturer,model\n",
    )
    .unwrap();
    let mut csv = String::from("serial number,secret key,time interval,manufacturer,model\n");
    for i in 0..120 {
        writeln!(csv, "X{i:04},JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP,30,Contoso,M").unwrap();
    }
    std::fs::write(&file, csv).unwrap();
    let out = entra(&l)
        .args(["push", "--quiet", "--chunk", "1"])
        .arg(&file)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("created 120") && !stdout.contains(" 0 throttled"),
        "{stdout}"
    );
}
