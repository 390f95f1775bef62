//! The portal behind a real reverse proxy (issue 17): Debian's nginx,
//! started by the test on loopback, forwards to `portal serve`, which trusts
//! only the proxy's address. Customers come from different loopback
//! addresses (127.0.0.2, 127.0.0.3 — all of 127/8 is this machine): the
//! order-lookup limit applies to each of them, not to the proxy; a forged
//! `X-Forwarded-For` changes nothing, through the proxy or straight to the
//! portal; and the audit records the customers' addresses, never the
//! proxy's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure is a failed test"
)]

use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::portal_crash::{EMAIL, free_port, inventory, ov};

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16, what: &str) {
    for _ in 0..1000 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not start");
}

/// nginx in the foreground, one process, every file in `dir`.
fn nginx(dir: &Path, port: u16, upstream: u16) -> Running {
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/nginx-error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/ngx-body;\n  proxy_temp_path {d}/ngx-proxy;\n\
         fastcgi_temp_path {d}/ngx-fcgi;\n  uwsgi_temp_path {d}/ngx-uwsgi;\n  scgi_temp_path {d}/ngx-scgi;\n\
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
         proxy_pass http://127.0.0.1:{upstream};\n      proxy_set_header Host $host;\n\
         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n  }}\n}}\n"
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, conf).unwrap();
    let child = Command::new("nginx")
        .args(["-p", &d.to_string(), "-e", &format!("{d}/nginx-error.log")])
        .args(["-c", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed by scripts/test (Debian package nginx-light)");
    let running = Running(child);
    wait_listening(port, "nginx");
    running
}

/// One order lookup from `from` to `base`, optionally with a forged
/// `X-Forwarded-For`; true when it found the order (the wizard starts).
async fn lookup(base: &str, from: &str, forged: Option<&str>) -> bool {
    oathvault_graph::client::install_tls_provider();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut r = http
        .post(format!("{base}/request"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("identifier", "PO-1"), ("email", EMAIL)]);
    if let Some(f) = forged {
        r = r.header("x-forwarded-for", f);
    }
    let status = r.send().await.unwrap().status().as_u16();
    assert!(status == 303 || status == 200, "lookup answered {status}");
    status == 303
}

async fn audit_sources(dir: &Path) -> Vec<(String, String)> {
    let keys = oathvault_vault::Keyring::open_file(&dir.join("data/master.key")).unwrap();
    let store = oathvault_store::Store::open(
        dir.join("data/portal.db").to_str().unwrap(),
        &keys,
        &mut oathvault_vault::random::os(),
    )
    .await
    .unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT source, outcome FROM audit WHERE action IN ('request.find', 'request.start') ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    store.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_limits_and_the_audit_see_each_client() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    inventory(dir);
    let portal_port = free_port();
    let portal = Running(
        ov(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{portal_port}")])
            .env("OATHVAULT_TRUSTED_PROXIES", "127.0.0.1")
            .env("OATHVAULT_REQUESTS__FIND_PER_SOURCE_PER_HOUR", "3")
            .env("OATHVAULT_REQUESTS__FIND_PER_IDENTIFIER_PER_HOUR", "1000")
            .env("OATHVAULT_REQUESTS__FIND_FLOOR_MS", "1")
            .env("OATHVAULT_REQUESTS__ASK_CODE", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(portal_port, "the portal");
    let proxy_port = free_port();
    let _nginx = nginx(dir, proxy_port, portal_port);
    let proxied = format!("http://127.0.0.1:{proxy_port}");
    let direct = format!("http://127.0.0.1:{portal_port}");

    // Client A uses up its three lookups; client B still has all of its.
    for n in 1..=3 {
        assert!(lookup(&proxied, "127.0.0.2", None).await, "A's lookup {n}");
    }
    assert!(
        !lookup(&proxied, "127.0.0.2", None).await,
        "A's fourth lookup passed"
    );
    assert!(
        lookup(&proxied, "127.0.0.3", None).await,
        "B was limited by A's lookups"
    );
    // A cannot get round its limit by naming another address: nginx adds
    // the address it saw, and the portal takes the nearest untrusted hop.
    assert!(
        !lookup(&proxied, "127.0.0.2", Some("203.0.113.5")).await,
        "a forged X-Forwarded-For through the proxy reset A's limit"
    );
    // Straight to the portal from a peer that is not a proxy, the header
    // is ignored: the peer is the client.
    for n in 1..=3 {
        assert!(
            lookup(&direct, "127.0.0.4", Some("127.0.0.3")).await,
            "direct lookup {n}"
        );
    }
    assert!(
        !lookup(&direct, "127.0.0.4", Some("198.51.100.1")).await,
        "a forged X-Forwarded-For from an untrusted peer was believed"
    );

    let sources = audit_sources(dir).await;
    let count = |who: &str, outcome: &str| {
        sources
            .iter()
            .filter(|(s, o)| s == who && o == outcome)
            .count()
    };
    assert_eq!(count("127.0.0.2", "refused"), 2, "{sources:?}");
    assert_eq!(count("127.0.0.4", "refused"), 1, "{sources:?}");
    assert_eq!(count("127.0.0.2", "ok"), 3, "{sources:?}");
    assert_eq!(count("127.0.0.3", "ok"), 1, "{sources:?}");
    assert_eq!(count("127.0.0.4", "ok"), 3, "{sources:?}");
    assert!(
        sources
            .iter()
            .all(|(s, _)| ["127.0.0.2", "127.0.0.3", "127.0.0.4"].contains(&s.as_str())),
        "the audit recorded an address that is not a client's: {sources:?}"
    );
    drop(portal);
}
