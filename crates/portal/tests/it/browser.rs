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

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{ADMIN, PW, T, code_at};
use oathvault_accounts::Policy;
use oathvault_portal::WebSettings;
use oathvault_portal::web::{AppState, serve};
use oathvault_portal::{Actor, Admin, NewStaff};
use oathvault_store::{Role, Store};
use oathvault_testkit::browser::{
    browser, fill, follow, run, screenshots, start_chromedriver, submit, wait_for_path,
};
use oathvault_vault::Keyring;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use thirtyfour::prelude::*;
use zeroize::Zeroizing;

/// The portal on a free loopback port, with one administrator; returns its
/// address and the administrator's enrolment URI.
async fn start_portal(dir: &Path) -> (SocketAddr, String) {
    let mut rng = StdRng::seed_from_u64(11);
    let master = Keyring::generate(&mut rng);
    let store = Store::open(dir.join("portal.db").to_str().unwrap(), &master, &mut rng)
        .await
        .unwrap();
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

    follow(d, "Orders").await;
    fill(d, "po", "PO-4711").await;
    fill(d, "invoices", "INV-1001").await;
    submit(d, "/admin/orders").await;
    assert_eq!(notice(d).await, "Added order PO-4711 for Example Ltd.");

    follow(d, "Shipments").await;
    fill(d, "number", "SHP-0001").await;
    submit(d, "/admin/shipments").await;
    assert_eq!(notice(d).await, "Added shipment SHP-0001 to order PO-4711.");
}

async fn import_file(d: &WebDriver, shots: &Path) {
    follow(d, "Import a file").await;
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
    let driver = start_chromedriver().await;
    let d = browser(&driver).await;
    let shots = screenshots(env!("CARGO_TARGET_TMPDIR"), "portal-screenshots");
    run(d.clone(), journey(d, format!("http://{addr}"), uri, shots)).await;
}
