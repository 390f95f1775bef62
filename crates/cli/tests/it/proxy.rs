//! The portal behind a real reverse proxy (issues 17 and 22): Debian's
//! nginx and Caddy, each started by the test on loopback from the example
//! in `deploy/` with TLS from a throwaway authority, forward to `portal
//! serve`, which trusts only the proxy's address. Through the proxy: HSTS,
//! `__Host-` cookies that are `Secure`, `/metrics` closed. Customers come
//! from different loopback addresses (127.0.0.2, 127.0.0.3 — all of 127/8
//! is this machine): the
//! order-lookup limit applies to each of them, not to the proxy; a forged
//! `X-Forwarded-For` changes nothing, through the proxy or straight to the
//! portal; and the audit records the customers' addresses, never the
//! proxy's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "test helpers: a failure is a failed test; one scenario per proxy"
)]

use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oathvault_testkit::pki::{ServerTls, throwaway_ca};

use crate::portal_crash::{EMAIL, REVIEWER, STAFF_PASSWORD, free_port, inventory, ov};

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

/// Replaces `from` (which must be in `text`: the example changed
/// otherwise) with `to`.
fn swap(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is no longer in the example");
    text.replace(from, to)
}

/// Where a proxy listens and what it forwards to.
struct Ports {
    http: u16,
    https: u16,
    upstream: u16,
}

/// The example `deploy/nginx.conf` (names, paths and ports replaced), in
/// the foreground, one process, every file in `dir`.
fn nginx(dir: &Path, tls: &ServerTls, p: &Ports) -> Running {
    let d = dir.display();
    let site = include_str!("../../../../deploy/nginx.conf");
    let site = swap(site, "listen 80;", &format!("listen 127.0.0.1:{};", p.http));
    let site = swap(
        &site,
        "listen 443 ssl;",
        &format!("listen 127.0.0.1:{} ssl;", p.https),
    );
    let site = swap(
        &site,
        "/etc/ssl/oathvault/portal.crt",
        tls.cert.to_str().unwrap(),
    );
    let site = swap(
        &site,
        "/etc/ssl/oathvault/portal.key",
        tls.key.to_str().unwrap(),
    );
    let site = swap(
        &site,
        "http://127.0.0.1:8080",
        &format!("http://127.0.0.1:{}", p.upstream),
    );
    std::fs::write(dir.join("nginx-site.conf"), site).unwrap();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/nginx-error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/ngx-body;\n  proxy_temp_path {d}/ngx-proxy;\n\
         fastcgi_temp_path {d}/ngx-fcgi;\n  uwsgi_temp_path {d}/ngx-uwsgi;\n  scgi_temp_path {d}/ngx-scgi;\n\
         include {d}/nginx-site.conf;\n}}\n"
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
    wait_listening(p.https, "nginx");
    running
}

/// The example `deploy/Caddyfile` (paths and ports replaced; a global block
/// keeps Caddy on loopback, its admin API off and its files in `dir`).
fn caddy(dir: &Path, tls: &ServerTls, p: &Ports) -> Running {
    let d = dir.display();
    let site = include_str!("../../../../deploy/Caddyfile");
    let site = swap(
        site,
        "/etc/ssl/oathvault/portal.crt",
        tls.cert.to_str().unwrap(),
    );
    let site = swap(
        &site,
        "/etc/ssl/oathvault/portal.key",
        tls.key.to_str().unwrap(),
    );
    let site = swap(
        &site,
        "reverse_proxy 127.0.0.1:8080",
        &format!("reverse_proxy 127.0.0.1:{}", p.upstream),
    );
    let conf = format!(
        "{{\n\tadmin off\n\thttp_port {}\n\thttps_port {}\n\tdefault_bind 127.0.0.1\n\tstorage file_system {d}/caddy-data\n}}\n\n{site}",
        p.http, p.https
    );
    let file = dir.join("Caddyfile");
    std::fs::write(&file, conf).unwrap();
    let child = Command::new("caddy")
        .args([
            "run",
            "--adapter",
            "caddyfile",
            "--config",
            file.to_str().unwrap(),
        ])
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("caddy-xdg-data"))
        .env("XDG_CONFIG_HOME", dir.join("caddy-xdg-config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("caddy.log")).unwrap())
        .spawn()
        .expect("caddy is installed by scripts/test (Debian package caddy)");
    let running = Running(child);
    wait_listening(p.https, "caddy");
    running
}

/// The portal's name in the examples and the certificate.
const HOST: &str = "portal.example.com";

/// A client from the local address `from` that trusts only `tls`'s
/// authority and finds [`HOST`] on loopback at `port`.
fn client(tls: &ServerTls, from: &str, port: u16) -> reqwest::Client {
    oathvault_graph::client::install_tls_provider();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&tls.ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(ca)
        .resolve(HOST, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .local_address(from.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// One order lookup from `from` to `base`, optionally with a forged
/// `X-Forwarded-For`; true when it found the order (the wizard starts).
async fn lookup(http: &reqwest::Client, base: &str, forged: Option<&str>) -> bool {
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
        "SELECT source, outcome FROM audit WHERE action IN ('request.find', 'request.start', 'signin') ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    store.close().await;
    rows
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proxy {
    Nginx,
    Caddy,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_with_tls_limits_cookies_and_the_audit_see_each_client() {
    behind(Proxy::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_caddy_with_tls_limits_cookies_and_the_audit_see_each_client() {
    behind(Proxy::Caddy).await;
}

/// The portal behind `proxy` (the example file from `deploy/`), TLS from a
/// throwaway authority, `trusted_proxies` set to the proxy's address.
async fn behind(proxy: Proxy) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    inventory(dir);
    let tls = throwaway_ca(dir, HOST);
    let ports = Ports {
        http: free_port(),
        https: free_port(),
        upstream: free_port(),
    };
    let portal = Running(
        ov(dir)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", ports.upstream),
            ])
            .env("OATHVAULT_BASE_URL", format!("https://{HOST}"))
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
    wait_listening(ports.upstream, "the portal");
    let _proxy = match proxy {
        Proxy::Nginx => nginx(dir, &tls, &ports),
        Proxy::Caddy => caddy(dir, &tls, &ports),
    };
    let proxied = format!("https://{HOST}:{}", ports.https);
    let direct = format!("http://127.0.0.1:{}", ports.upstream);
    let from_a = client(&tls, "127.0.0.2", ports.https);
    let from_b = client(&tls, "127.0.0.3", ports.https);

    // Plain HTTP is sent to HTTPS.
    let r = from_a
        .get(format!("http://{HOST}:{}/signin", ports.http))
        .send()
        .await
        .unwrap();
    assert!(
        [301, 308].contains(&r.status().as_u16()),
        "{proxy:?}: plain HTTP answered {}",
        r.status()
    );
    // Through the proxy: HSTS, and the sign-in cookie is `__Host-` and
    // Secure (host-only, path /).
    let r = from_a
        .get(format!("{proxied}/signin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{proxy:?}");
    let hsts = r.headers()["strict-transport-security"].to_str().unwrap();
    assert!(hsts.starts_with("max-age=63072000"), "{proxy:?}: {hsts}");
    let from_c = client(&tls, "127.0.0.5", ports.https);
    let r = from_c
        .post(format!("{proxied}/signin"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", REVIEWER), ("password", STAFF_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{proxy:?}");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-ov_pending=")
            && cookie.contains("; Secure")
            && cookie.contains("Path=/;")
            && !cookie.contains("Domain"),
        "{proxy:?}: {cookie}"
    );
    // A wrong password: audited with the client's address.
    let r = from_c
        .post(format!("{proxied}/signin"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", REVIEWER), ("password", "not-the-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "{proxy:?}");
    // /metrics is not for the internet: the proxy answers 404; on the
    // portal's own loopback address it is there.
    let r = from_a
        .get(format!("{proxied}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "{proxy:?}");

    // Client A uses up its three lookups; client B still has all of its.
    for n in 1..=3 {
        assert!(
            lookup(&from_a, &proxied, None).await,
            "{proxy:?}: A's lookup {n}"
        );
    }
    assert!(
        !lookup(&from_a, &proxied, None).await,
        "{proxy:?}: A's fourth lookup passed"
    );
    assert!(
        lookup(&from_b, &proxied, None).await,
        "{proxy:?}: B was limited by A's lookups"
    );
    // A cannot get round its limit by naming another address: nginx adds
    // the address it saw (Caddy replaces the header with it), and the
    // portal takes the nearest untrusted hop.
    assert!(
        !lookup(&from_a, &proxied, Some("203.0.113.5")).await,
        "{proxy:?}: a forged X-Forwarded-For through the proxy reset A's limit"
    );
    // Straight to the portal from a peer that is not a proxy, the header
    // is ignored: the peer is the client.
    let from_d = client(&tls, "127.0.0.4", ports.https);
    for n in 1..=3 {
        assert!(
            lookup(&from_d, &direct, Some("127.0.0.3")).await,
            "direct lookup {n}"
        );
    }
    assert!(
        !lookup(&from_d, &direct, Some("198.51.100.1")).await,
        "a forged X-Forwarded-For from an untrusted peer was believed"
    );
    let local = client(&tls, "127.0.0.1", ports.https);
    let r = local.get(format!("{direct}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let metrics = r.text().await.unwrap();
    assert!(
        metrics.contains("route=\"/request\",method=\"POST\",status=\"303\""),
        "{metrics}"
    );

    let sources = audit_sources(dir).await;
    let count = |who: &str, outcome: &str| {
        sources
            .iter()
            .filter(|(s, o)| s == who && o == outcome)
            .count()
    };
    assert_eq!(count("127.0.0.2", "refused"), 2, "{proxy:?}: {sources:?}");
    assert_eq!(count("127.0.0.4", "refused"), 1, "{proxy:?}: {sources:?}");
    assert_eq!(count("127.0.0.2", "ok"), 3, "{proxy:?}: {sources:?}");
    assert_eq!(count("127.0.0.3", "ok"), 1, "{proxy:?}: {sources:?}");
    assert_eq!(count("127.0.0.4", "ok"), 3, "{proxy:?}: {sources:?}");
    assert!(
        sources
            .iter()
            .any(|(s, o)| s == "127.0.0.5" && o == "refused"),
        "{proxy:?}: the sign-in was not audited with the client's address: {sources:?}"
    );
    assert!(
        sources.iter().all(|(s, _)| {
            ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"].contains(&s.as_str())
        }),
        "{proxy:?}: the audit recorded an address that is not a client's: {sources:?}"
    );
    drop(portal);
}
