//! `oathvault demo` as a newcomer runs it: it makes its data once, prints
//! the guide, and a customer can walk the journey at once — find the order,
//! prove a shipment with a printed serial, protect the file with a password
//! and the demo customer's OpenPGP key, submit — and the mail arrives at
//! the demo's SMTP sink, shown on `/demo/outbox`; the directory answers; the
//! secret files are 0600 and the tokens' codes come from the file the demo
//! wrote. A second start reuses the data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running demo and the guide it printed.
struct Demo {
    child: Child,
    guide: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oathvault"))
        .args(["demo", "--dir"])
        .arg(dir)
        .args([
            "--portal-listen",
            "127.0.0.1:0",
            "--directory-listen",
            "127.0.0.1:0",
            "--smtp-listen",
            "127.0.0.1:0",
            "--desk-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guide = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the demo stopped: {guide}"
        );
        guide.push_str(&line);
        if line.starts_with("Ctrl-C stops everything.") {
            break;
        }
    }
    Demo { child, guide }
}

/// The word after `label` on its line of the guide.
fn after<'a>(guide: &'a str, label: &str) -> &'a str {
    guide
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} in {guide}"))
}

async fn walk(base: &str, dir: &Path) {
    oathvault_graph::client::install_tls_provider();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |path: &str, cookie: Option<&str>, form: Vec<(String, String)>| {
        let mut r = http
            .post(format!("{base}{path}"))
            .header("sec-fetch-site", "same-origin")
            .form(&form);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let r = post(
        "/request",
        None,
        vec![
            pair("identifier", "PO-4711"),
            pair("email", "it@contoso.example"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = http
        .get(format!("{base}/request/shipments"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The first shipment listed is SHP-0001, which holds DEMO0001.
    let id = page
        .split("name=\"pick\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert!(page.contains("SHP-0001"), "{page}");
    let steps = [
        (
            "/request/shipments",
            vec![pair("pick", &id), pair(&format!("serial-{id}"), "DEMO0001")],
            "/request/protection",
        ),
        (
            "/request/protection",
            vec![
                pair("split", "one"),
                pair("mode", "both"),
                pair("password", "Tulip-Orbit-42-river"),
                pair("password2", "Tulip-Orbit-42-river"),
                pair(
                    "pgp_key",
                    &std::fs::read_to_string(dir.join("customer.asc")).unwrap(),
                ),
            ],
            "/request/format",
        ),
        (
            "/request/format",
            vec![pair("format", "entra-csv"), pair("action", "continue")],
            "/request/summary",
        ),
    ];
    for (path, form, next) in steps {
        let r = post(path, Some(&cookie), form).await.unwrap();
        assert_eq!(r.status(), 303, "{path}: {}", r.text().await.unwrap());
        assert_eq!(r.headers()["location"], next, "{path}");
    }
    let r = post("/request/submit", Some(&cookie), Vec::new())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("was submitted"));
    wait_for_mail(&http, base).await;
}

/// Both mails (to the customer, to the delivery team) reach the sink
/// within a few seconds.
async fn wait_for_mail(http: &reqwest::Client, base: &str) {
    for _ in 0..100 {
        let outbox = http
            .get(format!("{base}/demo/outbox"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if outbox.contains("received") && outbox.contains("New seed file request") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the mail did not arrive at the demo's sink");
}

/// The `name=value` of the cookie `name` a response sets.
fn set_cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

/// The desk's administrator signs in with what the guide prints and sees
/// the demo directory's twenty tokens.
async fn desk_signs_in_and_lists_the_demo_tokens(guide: &str, dir: &Path) {
    let desk = after(guide, "Help desk (tokens in the directory)")
        .trim_end_matches("/signin")
        .to_owned();
    let line = guide
        .lines()
        .skip_while(|l| !l.starts_with("Help desk"))
        .find(|l| l.trim_start().starts_with("administrator"))
        .unwrap();
    let mut words = line.split_whitespace().skip(1);
    let (email, _, password) = (
        words.next().unwrap().to_owned(),
        words.next(),
        words.next().unwrap().to_owned(),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(format!("{desk}/signin"))
        .form(&[("email", email.as_str()), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let pending = set_cookie(&r, "__Host-ovd_pending");
    let otp = Command::new(env!("CARGO_BIN_EXE_oathvault"))
        .arg("otp")
        .arg(dir.join("desk-totp.csv"))
        .output()
        .unwrap();
    let code = String::from_utf8(otp.stdout).unwrap();
    let r = http
        .post(format!("{desk}/signin/code"))
        .header("cookie", pending)
        .form(&[("code", code.trim())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r, "__Host-ovd_session");
    // The first sync runs as the desk starts.
    for _ in 0..100 {
        let page = http
            .get(format!("{desk}/tokens?q=DEMO"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("of 20") {
            assert!(page.contains("DEMO0001"), "{page}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the desk never listed the demo directory's 20 tokens");
}

#[tokio::test]
async fn a_newcomer_walks_the_journey_on_the_demo_and_the_mail_arrives() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let first = start(&dir);
    for label in ["order", "e-mail", "reviewer", "administrator"] {
        after(&first.guide, label);
    }
    let base = after(&first.guide, "Customer: request seed files")
        .trim_end_matches("/request")
        .to_owned();
    for file in [
        "customer.asc",
        "customer.sec",
        "customer.pass",
        "reviewer-totp.csv",
        "tokens.csv",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }
    walk(&base, &dir).await;
    let directory = after(&first.guide, "Entra-compatible directory").to_owned();
    let login = reqwest::get(format!("{directory}login")).await.unwrap();
    assert_eq!(login.status(), 200, "the directory's sign-in page");
    desk_signs_in_and_lists_the_demo_tokens(&first.guide, &dir).await;
    let reviewer = after(&first.guide, "reviewer").to_owned();
    drop(first);
    // Every secret file is the owner's alone.
    for file in [
        "master.key",
        "directory.key",
        "demo.json",
        "tokens.csv",
        "staff-totp.csv",
        "reviewer-totp.csv",
        "customer.sec",
        "customer.pass",
        "desk-totp.csv",
        "desk-viewer-totp.csv",
    ] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join(file)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // The demo tokens' codes come from the file the demo wrote.
    let otp = Command::new(env!("CARGO_BIN_EXE_oathvault"))
        .arg("otp")
        .arg(dir.join("tokens.csv"))
        .args(["--serial", "DEMO0001"])
        .output()
        .unwrap();
    assert!(otp.status.success());
    let code = String::from_utf8(otp.stdout).unwrap();
    assert!(
        code.trim().len() == 6 && code.trim().bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );

    // Started again: the same data, the same reviewer.
    let second = start(&dir);
    assert_eq!(after(&second.guide, "reviewer"), reviewer);
    assert!(second.guide.contains("reviewer@vendor.example"));
}
