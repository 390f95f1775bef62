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
use oathvault_vault::Keyring;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use serde_json::Value;

/// The directory, served by its own runtime for as long as this lives.
struct Local {
    runtime: tokio::runtime::Runtime,
    addr: String,
    tenant: String,
    client_id: String,
    secret_file: PathBuf,
    home: PathBuf,
    demo: oathvault_directory::Demo,
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
        let master = Keyring::generate(&mut rng);
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
        runtime,
        addr,
        tenant: demo.tenant_id.clone(),
        client_id: demo.client_id.clone(),
        secret_file,
        home,
        demo,
    }
}

fn entra(l: &Local) -> Command {
    entra_as(l, &l.secret_file)
}

fn entra_as(l: &Local, secret_file: &Path) -> Command {
    let mut c = connected(l);
    c.arg("--client-secret-file").arg(secret_file);
    c
}

/// `oathvault entra` pointed at the local directory, with no credential.
fn connected(l: &Local) -> Command {
    let mut c = Command::new(cargo_bin("oathvault"));
    c.arg("entra")
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

/// Output of a failed command: (exit code, stdout, stderr).
fn fails(c: &mut Command) -> (i32, String, String) {
    let out = c.assert().failure();
    let o = out.get_output();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const GOLDEN: &str = "../formats/testdata/golden.entra.csv";

/// A code golden token A (10001001) shows at no step within a day either
/// side of now — Entra's activation window — so an activation with it fails
/// every time (a fixed "000000" is valid in such a window once in ~170).
fn code_never_shown_by_a() -> String {
    let a = oathvault_testkit::golden::token_a().token;
    let otp = oathvault_otp::Otp::new(&a).unwrap();
    let now = otp.counter_at(SystemClock.now_unix()).unwrap();
    let shown: HashSet<u64> = (now - 5760..=now + 5760)
        .map(|c| otp.at_counter(c).value())
        .collect();
    (0..1_000_000u64)
        .find(|v| !shown.contains(v))
        .map(|v| format!("{v:06}"))
        .unwrap()
}

#[test]
fn every_error_is_one_line_with_serial_graph_code_and_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), Settings::default());
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    let mut seen = Vec::new();

    // A file Entra would refuse: every problem named, nothing uploaded.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        concat!(
            r#"{"serial":"H1","type":"hotp","hash":"sha1","digits":6,"counter":0,"secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","secret_encoding":"base32","manufacturer":"C","model":"M"}"#,
            "\n",
            r#"{"serial":"T8","type":"totp","hash":"sha1","digits":8,"step":30,"t0":0,"secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","secret_encoding":"base32","manufacturer":"C","model":"M"}"#,
            "\n",
            r#"{"serial":"B0","type":"totp","hash":"sha1","digits":6,"step":30,"t0":0,"secret":"0000","secret_encoding":"base32","manufacturer":"C","model":"M"}"#,
            "\n"
        ),
    )
    .unwrap();
    let (code, _, err) = fails(entra(&l).args(["push", "--from", "jsonl"]).arg(&bad));
    assert_eq!(code, 1, "{err}");
    // Every problem at once: the line that cannot be read and the tokens
    // Entra would refuse, in one listing.
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(
        err.contains("serial H1: Entra takes TOTP tokens only"),
        "{err}"
    );
    assert!(
        err.contains("serial T8: Entra takes 6-digit tokens only"),
        "{err}"
    );
    assert!(err.contains("nothing was uploaded"), "{err}");
    assert_eq!(inventory(&l), (0, 0));

    // Dry run: says what would happen, changes nothing.
    let out = entra(&l)
        .args(["push", "--dry-run"])
        .arg(&golden)
        .assert()
        .success();
    seen.extend_from_slice(&out.get_output().stdout);
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("would create 2"));
    assert_eq!(inventory(&l), (0, 0));

    // Pushed with an assignment; the state file and report hold no secret.
    let map = dir.path().join("assign.csv");
    std::fs::write(&map, "serial,upn\n10001001,amy@contoso.example\n").unwrap();
    let report = dir.path().join("report.json");
    let out = entra(&l)
        .args(["push", "--assign"])
        .arg(&map)
        .arg("--report")
        .arg(&report)
        .arg(&golden)
        .assert()
        .success();
    seen.extend_from_slice(&out.get_output().stdout);
    seen.extend_from_slice(&out.get_output().stderr);
    seen.extend_from_slice(&std::fs::read(&report).unwrap());
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r[0]["outcome"], "created");
    assert_eq!(r[0]["status"], "assigned");

    // Wrong code: Graph's code and request id on one line, exit 1.
    let wrong = code_never_shown_by_a();
    let (code, _, err) = fails(entra(&l).args(["activate", "10001001", "--code", &wrong]));
    assert_eq!(code, 1);
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(
        line.contains("serial 10001001")
            && line.contains("Graph BadRequest (HTTP 400, request-id ")
            && err.lines().count() == 1,
        "{err}"
    );
    // A leading zero is kept: the code goes as typed.
    let (_, _, err) = fails(entra(&l).args(["activate", "10001001", "--code", "012345"]));
    assert!(err.contains("BadRequest"), "{err}");
    // Not in the tenant.
    let (_, _, err) = fails(entra(&l).args(["assign", "NOPE", "amy@contoso.example"]));
    assert_eq!(
        err.trim(),
        "error: serial NOPE: not in the tenant's inventory"
    );
    // Unknown user: Graph's 404 with its code and request id.
    let (_, _, err) = fails(entra(&l).args(["assign", "10001002", "nobody@contoso.example"]));
    assert!(
        err.contains("serial 10001002: user nobody@contoso.example: Graph Request_ResourceNotFound (HTTP 404, request-id "),
        "{err}"
    );
    // Delete of an assigned token is refused before Graph is asked.
    let (_, _, err) = fails(entra(&l).args(["delete", "10001001"]));
    assert!(
        err.contains("serial 10001001: assigned to") && err.contains("--unassign"),
        "{err}"
    );
    // Activation from the seed file warns that it proves nothing.
    let out = entra(&l)
        .args(["activate", "10001001", "--from-seed"])
        .arg(&golden)
        .assert()
        .success();
    seen.extend_from_slice(&out.get_output().stdout);
    seen.extend_from_slice(&out.get_output().stderr);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("proves nothing"));
    let out = entra(&l)
        .args(["list", "--status", "activated", "--format", "csv"])
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("10001001,activated,Amy Masters"),
        "{csv}"
    );
    seen.extend_from_slice(csv.as_bytes());

    // Bulk from CSV: one line per row, the failures counted.
    let bulk = dir.path().join("bulk.csv");
    std::fs::write(&bulk, "serial\n10001001\nNOPE\n").unwrap();
    let (code, out, err) = fails(entra(&l).args(["deactivate", "--csv"]).arg(&bulk));
    assert_eq!(code, 1);
    assert!(
        out.contains("serial 10001001: deactivated") && out.contains("1 of 2 done, 1 failed"),
        "{out}"
    );
    assert_eq!(
        err.trim(),
        "error: serial NOPE: not in the tenant's inventory"
    );
    entra(&l)
        .args(["delete", "10001001", "--unassign"])
        .assert()
        .success();

    // Reconcile: one missing now.
    let (_, out, _) = fails(entra(&l).arg("reconcile").arg(&golden));
    assert!(
        out.contains("missing in tenant:  1") && out.contains("  10001001"),
        "{out}"
    );

    // Wrong credentials: the identity platform's error, one line.
    std::fs::write(dir.path().join("wrong"), "not-the-secret").unwrap();
    let (code, _, err) = fails(entra_as(&l, &dir.path().join("wrong")).arg("list"));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: sign-in refused: invalid_client: AADSTS"),
        "{err}"
    );
    // No credential at all: a usage error saying where one comes from.
    let mut c = Command::new(cargo_bin("oathvault"));
    let (code, _, err) = fails(
        c.args(["entra", "--tenant", "t", "--client-id", "c", "list"])
            .env("HOME", &l.home)
            .env_remove("OATHVAULT_CLIENT_SECRET"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("--client-secret-file"), "{err}");
    // Nothing secret in anything printed or written.
    oathvault_testkit::golden::assert_no_secret(&seen, "entra output");
}

#[test]
fn preflight_tells_a_fitting_file_from_a_misread_one() {
    let dir = tempfile::tempdir().unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    let code = |secret: &[u8], hash| {
        oathvault_otp::Otp::from_parts(
            secret,
            hash,
            oathvault_token::Kind::totp(oathvault_token::Step::S30),
            oathvault_token::Digits::SIX,
        )
        .unwrap()
        .totp(SystemClock.now_unix())
        .unwrap()
        .to_string()
    };
    let a = oathvault_testkit::golden::token_a().token;
    let run = |c: &str| {
        let mut cmd = Command::new(cargo_bin("oathvault"));
        cmd.current_dir(dir.path())
            .args(["entra", "preflight", "--serial", "10001001", "--code", c])
            .arg(&golden);
        cmd.assert()
    };
    let ok = run(&code(a.secret.expose(), oathvault_token::Hash::Sha1)).success();
    assert!(String::from_utf8_lossy(&ok.get_output().stdout).contains("the code fits the file"));
    // The SHA-256 code of a step near now that SHA-1 shows nowhere in
    // Entra's ±1 day window (else "fits as read" would be right, by chance).
    let sha1 = oathvault_otp::Otp::new(&a).unwrap();
    let now = sha1.counter_at(SystemClock.now_unix()).unwrap();
    let shown: HashSet<String> = (now - 2880..=now + 2880)
        .map(|c| sha1.at_counter(c).to_string())
        .collect();
    let sha256 = oathvault_otp::Otp::from_parts(
        a.secret.expose(),
        oathvault_token::Hash::Sha256,
        oathvault_token::Kind::totp(oathvault_token::Step::S30),
        oathvault_token::Digits::SIX,
    )
    .unwrap();
    let misread = [now, now + 1, now - 1]
        .into_iter()
        .map(|c| sha256.at_counter(c).to_string())
        .find(|c| !shown.contains(c))
        .unwrap();
    let bad = run(&misread).code(1);
    let err = String::from_utf8_lossy(&bad.get_output().stderr).into_owned();
    assert!(
        err.contains("does NOT fit the file as read; it fits with HMAC-SHA-256"),
        "{err}"
    );
}

#[test]
fn sign_in_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), Settings::default());
    let (cert, key) =
        oathvault_testkit::pki::openssl_certificate(dir.path(), "oathvault-entra-test");
    // Azure's combined PEM: the certificate, then its key.
    let combined = dir.path().join("app.pem");
    let mut pem = std::fs::read_to_string(&cert).unwrap();
    pem.push_str(&std::fs::read_to_string(&key).unwrap());
    std::fs::write(&combined, pem).unwrap();
    let with_cert = |pem: &Path| {
        let mut c = connected(&l);
        c.arg("--certificate").arg(pem);
        c
    };
    // Not registered yet: the identity platform says so.
    let (code, _, err) = fails(with_cert(&combined).arg("list"));
    assert_eq!(code, 1);
    assert!(
        err.contains("sign-in refused: invalid_client: AADSTS700027"),
        "{err}"
    );
    // Registered on the app (the directory's database is shared, WAL).
    Command::new(cargo_bin("oathvault"))
        .args(["directory", "--database"])
        .arg(dir.path().join("directory.db"))
        .arg("--master-key-file")
        .arg(dir.path().join("unused.key"))
        .args([
            "app",
            "certificate",
            "add",
            "--tenant",
            &l.tenant,
            "--client-id",
            &l.client_id,
        ])
        .arg(&cert)
        .assert()
        .success();
    let out = with_cert(&combined).arg("list").assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("0 token(s)"));
    // A key that is not the certificate's is refused before anything is sent.
    let other = dir.path().join("other.pem");
    let mut mixed = std::fs::read_to_string(&cert).unwrap();
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(dir.path().join("k2.pem"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    mixed.push_str(&std::fs::read_to_string(dir.path().join("k2.pem")).unwrap());
    std::fs::write(&other, mixed).unwrap();
    let (_, _, err) = fails(with_cert(&other).arg("list"));
    assert!(err.contains("does not belong to its certificate"), "{err}");
}

/// What a person does in the browser: sign in and approve `user_code`.
async fn approve_device_code(base: &str, upn: &str, password: &str, user_code: &str) {
    let http = oathvault_graph::client::http_client(Duration::from_secs(30)).unwrap();
    let post = |path: &str, form: Vec<(&'static str, String)>, cookie: Option<String>| {
        let mut r = http
            .post(format!("{base}{path}"))
            .header("sec-fetch-site", "same-origin")
            .form(&form);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    let signed_in = post(
        "/login/password",
        vec![
            ("upn", upn.to_owned()),
            ("password", password.to_owned()),
            ("next", "devicelogin".to_owned()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-dir_session=") && !v.starts_with("__Host-dir_session=;"))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap();
    let page = post(
        "/devicelogin",
        vec![("user_code", user_code.to_owned())],
        Some(cookie.clone()),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(page.contains("Are you trying to sign in"), "{page}");
    let done = post(
        "/devicelogin/confirm",
        vec![
            ("user_code", user_code.to_owned()),
            ("decision", "approve".to_owned()),
        ],
        Some(cookie),
    )
    .await
    .unwrap();
    assert!(done.status().is_success(), "{}", done.status());
}

#[test]
fn an_administrator_signs_in_with_a_device_code() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), Settings::default());
    let as_admin = || connected(&l);
    let mut child = std::process::Command::new(cargo_bin("oathvault"))
        .args(as_admin().get_args())
        .envs(as_admin().get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env_remove("OATHVAULT_CLIENT_SECRET")
        .arg("sign-in")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut prompt = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut prompt)
        .unwrap();
    let user_code = prompt
        .split("enter the code ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no code in {prompt:?}"))
        .to_owned();
    assert!(prompt.contains("/devicelogin"), "{prompt}");
    let amy = &l.demo.users[0];
    l.runtime.block_on(approve_device_code(
        &format!("http://{}", l.addr),
        &amy.upn,
        &amy.password,
        &user_code,
    ));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("signed in; the sign-in is kept in"));
    let kept = std::fs::read_dir(l.home.join(".config/oathvault/entra"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first = std::fs::read(&kept).unwrap();
    // Later commands need no secret: the kept refresh token signs in as Amy
    // (an Authentication Policy Administrator in the demo tenant), and is
    // replaced by the new one each time.
    as_admin().arg("list").assert().success();
    assert_ne!(
        std::fs::read(&kept).unwrap(),
        first,
        "refresh tokens are used once"
    );
    as_admin().arg("list").assert().success();
    as_admin()
        .arg("sign-out")
        .assert()
        .success()
        .stdout(predicates::str::contains("signed out"));
    as_admin().arg("list").assert().code(2);
}
