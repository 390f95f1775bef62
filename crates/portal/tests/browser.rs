//! End to end in a real headless Chromium (Debian `chromium` and
//! `chromium-driver`, installed by `scripts/test`): an administrator signs
//! in with password and TOTP code, creates a customer, an order and a
//! shipment, and imports a seed file by upload. Screenshots of the pages go
//! to `target/tmp/portal-screenshots/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failure is a failed test"
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{ADMIN, PW, T, code_at};
use oathvault_portal::web::{AppState, WebSettings, serve};
use oathvault_portal::{Actor, Admin, NewStaff, Policy};
use oathvault_store::{Role, Store};
use oathvault_vault::MasterKey;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use thirtyfour::prelude::*;
use zeroize::Zeroizing;

/// The Debian browser and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_chromedriver() -> (Driver, u16) {
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "this test needs Debian's chromium and chromium-driver: run scripts/test, which installs them"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (driver, port);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

/// The portal on a free loopback port, with one administrator; returns its
/// address and the administrator's enrolment URI.
async fn start_portal(dir: &Path) -> (SocketAddr, String) {
    let store = Store::open(dir.join("portal.db").to_str().unwrap())
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let master = MasterKey::generate(&mut rng);
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: T,
    };
    let pw = Zeroizing::new(PW.to_owned());
    let (_, uri) = Admin::new(&store, &master, "Test")
        .add_staff(
            &mut rng,
            &who,
            &NewStaff {
                email: ADMIN,
                name: "Ada Admin",
                role: Role::Administrator,
                password: &pw,
            },
        )
        .await
        .unwrap();
    let state = Arc::new(AppState {
        store,
        master,
        policy: Policy::default(),
        clock: Box::new(|| T),
        settings: WebSettings::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, state, std::future::pending()));
    (addr, uri.to_string())
}

async fn browser(port: u16) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
    ] {
        caps.add_arg(arg).unwrap();
    }
    WebDriver::new(format!("http://127.0.0.1:{port}"), caps)
        .await
        .expect("a Chromium session")
}

fn screenshots() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn fill(d: &WebDriver, id: &str, text: &str) {
    let e = d.query(By::Id(id)).first().await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn submit(d: &WebDriver, form_action: &str) {
    d.query(By::Css(format!(
        "form[action=\"{form_action}\"] button[type=submit]"
    )))
    .first()
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
}

/// The text of the page's notice (after a change), or its problem.
async fn notice(d: &WebDriver) -> String {
    // The page after a submit may still be loading: wait for either answer.
    if let Ok(e) = d
        .query(By::Css(".notice"))
        .or(By::Css(".problem"))
        .first()
        .await
        && e.class_name().await.unwrap().as_deref() == Some("notice")
    {
        return e.text().await.unwrap();
    }
    let problem = match d.find(By::Css(".problem")).await {
        Ok(e) => e.text().await.unwrap(),
        Err(_) => d.source().await.unwrap(),
    };
    panic!("no notice; the page says: {problem}")
}

/// Waits (up to 10 s) until the browser is on `path`: a click starts a
/// navigation, it does not wait for it.
async fn wait_for_path(d: &WebDriver, path: &str) {
    for _ in 0..100 {
        if d.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the browser did not reach {path}; it is on {}",
        d.current_url().await.unwrap()
    );
}

async fn sign_in(d: &WebDriver, base: &str, uri: &str, shots: &Path) {
    d.goto(format!("{base}/signin")).await.unwrap();
    fill(d, "email", ADMIN).await;
    fill(d, "password", PW).await;
    d.screenshot(&shots.join("01-signin.png")).await.unwrap();
    submit(d, "/signin").await;
    wait_for_path(d, "/signin/code").await;
    fill(d, "code", &code_at(uri, T)).await;
    submit(d, "/signin/code").await;
    wait_for_path(d, "/admin/").await;
    d.screenshot(&shots.join("02-overview.png")).await.unwrap();
}

async fn create_inventory(d: &WebDriver, base: &str, shots: &Path) {
    d.goto(format!("{base}/admin/customers")).await.unwrap();
    fill(d, "name", "Example Ltd").await;
    fill(d, "emails", "it@example.com\nops@example.com").await;
    submit(d, "/admin/customers").await;
    assert_eq!(
        notice(d).await,
        "Added customer Example Ltd with 2 contact(s)."
    );
    d.screenshot(&shots.join("03-customers.png")).await.unwrap();

    d.query(By::LinkText("Orders"))
        .first()
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(d, "po", "PO-4711").await;
    fill(d, "invoices", "INV-1001").await;
    submit(d, "/admin/orders").await;
    assert_eq!(notice(d).await, "Added order PO-4711 for Example Ltd.");

    d.query(By::LinkText("Shipments"))
        .first()
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(d, "number", "SHP-0001").await;
    submit(d, "/admin/shipments").await;
    assert_eq!(notice(d).await, "Added shipment SHP-0001 to order PO-4711.");
}

async fn import_file(d: &WebDriver, shots: &Path) {
    d.query(By::LinkText("Import a file"))
        .first()
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../formats/testdata/golden.entra.csv")
        .canonicalize()
        .unwrap();
    d.query(By::Id("file"))
        .first()
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    d.screenshot(&shots.join("04-import.png")).await.unwrap();
    submit(d, "/admin/import").await;
    assert_eq!(
        notice(d).await,
        "Imported 2 tokens (2 TOTP, 0 HOTP) from golden.entra.csv (entra-csv) into shipment SHP-0001."
    );
    let row = d
        .query(By::XPath("//tr[td[1]='SHP-0001']"))
        .first()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("PO-4711") && row.contains('2') && row.contains("SafeID/Classic"),
        "{row}"
    );
    d.screenshot(&shots.join("05-shipments.png")).await.unwrap();
}

async fn journey(d: WebDriver, base: String, uri: String, shots: PathBuf) {
    sign_in(&d, &base, &uri, &shots).await;
    create_inventory(&d, &base, &shots).await;
    import_file(&d, &shots).await;
    d.goto(format!("{base}/admin/audit")).await.unwrap();
    let log = d
        .query(By::Css("table.audit"))
        .first()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for action in [
        "signin",
        "customer.add",
        "order.add",
        "shipment.add",
        "import",
    ] {
        assert!(log.contains(action), "{action} missing from the audit page");
    }
    d.screenshot(&shots.join("06-audit.png")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_signs_in_builds_the_inventory_and_imports_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, uri) = start_portal(dir.path()).await;
    let (_driver, port) = start_chromedriver().await;
    let d = browser(port).await;
    let steps = tokio::spawn(journey(
        d.clone(),
        format!("http://{addr}"),
        uri,
        screenshots(),
    ));
    // Quit the browser whatever happened, then report.
    let joined = steps.await;
    d.quit().await.unwrap();
    if let Err(e) = joined {
        std::panic::resume_unwind(e.into_panic());
    }
}
