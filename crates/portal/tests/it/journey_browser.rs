//! The whole seed-file journey in a real headless Chromium (Debian
//! `chromium` and `chromium-driver`, installed by `scripts/test`) against a
//! real server: the portal on a loopback port, its mail sent every 200 ms
//! through SMTP to an [`oathvault_mail::Sink`] in this process.
//!
//! A customer finds order PO-1001 by its invoice number, proves both
//! shipments with a serial each, asks for a password-protected ZIP
//! encrypted to an OpenPGP key made here, picks Custom CSV (Base64 secrets)
//! after a masked preview, and submits. A reviewer, in a second browser,
//! signs in with password and code, sees the evidence and approves. The
//! approval mail arrives at the sink (plain text and HTML, both links); the
//! customer reads it on `/demo/outbox`, follows the download link, types
//! the password and downloads: Chromium saves the file in a directory of
//! the test (its `download.default_directory` preference). GnuPG and 7-Zip
//! open it to exactly the imported tokens. The customer confirms receipt,
//! downloads the deletion receipt (it verifies), and the download link then
//! says the file is deleted; neither the `delivery_file` row nor the SQLite
//! files hold its sealed content or wrapped key any more.
//!
//! The portal's clock is fixed at [`common::T`] (the staff codes are
//! computed for it); the mail's `Date:` and the sink use the system clock.
//! Screenshots of every page go to `target/tmp/portal-journey-screenshots/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{PW, REVIEWER, T, code_at};
use oathvault_mail::outbox::{self, StoredMail};
use oathvault_mail::{Mailer, Sink, SmtpConfig};
use oathvault_otp::clock::SystemClock;
use oathvault_packaging::Password;
use oathvault_packaging::pgp::SecretKey;
use oathvault_portal::WebSettings;
use oathvault_portal::web::{AppState, mail_forever, serve};
use oathvault_store::RequestState;
use oathvault_testkit::browser::{
    browser, browser_downloading_to, fill, follow, screenshots, start_chromedriver, submit,
    wait_for_download, wait_for_path, wait_for_text,
};
use oathvault_testkit::golden;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use sha2::{Digest, Sha256};
use sqlx::Row;
use thirtyfour::prelude::*;

const EMAIL: &str = common::CUSTOMER_EMAIL;
const PASSWORD: &str = "Tulip-Orbit-42-river";
const KEY_PASSPHRASE: &str = "key passphrase";

/// What the steps share: the portal's state and address, the reviewer's
/// enrolment, and the directories the test reads.
struct World {
    state: Arc<AppState>,
    base: String,
    reviewer_uri: String,
    /// The database file (its write-ahead log is beside it).
    db: PathBuf,
    /// The sink's outbox.
    outbox: PathBuf,
    /// Where the customer's browser saves downloads.
    downloads: PathBuf,
    shots: PathBuf,
}

/// Clicks the element the CSS selector (or, starting with `//`, the `XPath`)
/// finds, waiting for it to appear.
async fn click(d: &WebDriver, css: &str) {
    let by = if css.starts_with("//") {
        By::XPath(css)
    } else {
        By::Css(css)
    };
    d.query(by)
        .first()
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

/// Types `text` into the (emptied) field the CSS selector finds.
async fn type_into(d: &WebDriver, css: &str, text: &str) {
    let e = d
        .query(By::Css(css))
        .first()
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// A screenshot of the whole page: the window is made as tall as the page
/// for it, then set back.
async fn shot(d: &WebDriver, w: &World, name: &str) {
    let (width, height) = (1280_u32, 900_u32);
    let page: u32 = d
        .execute("return document.documentElement.scrollHeight", Vec::new())
        .await
        .unwrap()
        .convert()
        .unwrap();
    // The window is taller than its viewport by the browser's own bar.
    d.set_window_rect(0, 0, width, (page + 160).max(height))
        .await
        .unwrap();
    d.screenshot(&w.shots.join(name)).await.unwrap();
    d.set_window_rect(0, 0, width, height).await.unwrap();
}

/// The customer, from `/request` to "Request submitted"; returns the
/// request's reference.
async fn customer_requests(d: &WebDriver, w: &World, key: &SecretKey) -> String {
    let a = golden::token_a().token;
    let c = golden::token_c().token;
    d.goto(format!("{}/request", w.base)).await.unwrap();
    fill(d, "identifier", "INV-77").await;
    fill(d, "email", EMAIL).await;
    shot(d, w, "01-find.png").await;
    submit(d, "/request").await;

    wait_for_path(d, "/request/shipments").await;
    wait_for_text(d, "Order PO-1001: pick and verify shipments").await;
    for (number, serial) in [("SH-1", a.serial.as_str()), ("SH-2", c.serial.as_str())] {
        click(d, &format!("input[aria-label='Pick shipment {number}']")).await;
        type_into(
            d,
            &format!("input[aria-label='Serial of a token in shipment {number}']"),
            serial,
        )
        .await;
    }
    shot(d, w, "02-shipments.png").await;
    submit(d, "/request/shipments").await;

    wait_for_path(d, "/request/protection").await;
    click(d, "input[name=split][value=one]").await;
    click(d, "input[name=mode][value=both]").await;
    fill(d, "password", PASSWORD).await;
    fill(d, "password2", PASSWORD).await;
    fill(d, "pgp_key", &key.public().to_armored().unwrap()).await;
    shot(d, w, "03-protection.png").await;
    submit(d, "/request/protection").await;

    wait_for_path(d, "/request/format").await;
    let fingerprint = key.public().fingerprint();
    let page = wait_for_text(d, &fingerprint).await;
    assert!(page.contains("IT <it@example.com>"), "{page}");
    assert!(
        !page.contains("--template") && !page.contains("--secret-encoding"),
        "command-line flags on the customer's page: {page}"
    );
    click(
        d,
        "//label[contains(., 'Custom CSV: your own columns')]/input[@name='format']",
    )
    .await;
    let custom = d.find(By::Css("input[value=custom-csv]")).await.unwrap();
    assert!(custom.is_selected().await.unwrap());
    click(d, "#encoding option[value=base64]").await;
    for (i, (name, value)) in [
        ("Serial", "serial"),
        ("Seed", "secret"),
        ("Vendor", "\"Example\""),
    ]
    .iter()
    .enumerate()
    {
        type_into(d, &format!("input[name=col-name-{i}]"), name).await;
        type_into(d, &format!("input[name=col-value-{i}]"), value).await;
    }
    let header = d.find(By::Css("input[name=header]")).await.unwrap();
    assert!(
        header.is_selected().await.unwrap(),
        "a header row by default"
    );
    click(d, "button[name=action][value=preview]").await;
    let preview = d
        .query(By::Css("pre.preview"))
        .first()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        preview.starts_with("Serial,Seed,Vendor")
            && preview.contains(&format!("{},••••••,Example", a.serial.as_str())),
        "{preview}"
    );
    golden::assert_no_secret(d.source().await.unwrap().as_bytes(), "the preview");
    // The choices survive the preview.
    let encoding = d.find(By::Css("#encoding")).await.unwrap();
    assert_eq!(encoding.value().await.unwrap().as_deref(), Some("base64"));
    let vendor = d.find(By::Css("input[name=col-value-2]")).await.unwrap();
    assert_eq!(
        vendor.value().await.unwrap().as_deref(),
        Some("\"Example\"")
    );
    shot(d, w, "04-format-preview.png").await;
    click(d, "button[name=action][value=continue]").await;

    wait_for_path(d, "/request/summary").await;
    let summary = wait_for_text(d, "Check and submit").await;
    for want in ["SH-1", "SH-2", "custom-csv", "both", &fingerprint, EMAIL] {
        assert!(summary.contains(want), "{want} missing from {summary}");
    }
    shot(d, w, "05-summary.png").await;
    submit(d, "/request/submit").await;

    let done = wait_for_text(d, "Request submitted").await;
    shot(d, w, "06-submitted.png").await;
    done.split("Your request ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no reference in {done}"))
        .to_owned()
}

/// The reviewer signs in, opens the request, checks it and approves.
async fn reviewer_approves(d: &WebDriver, w: &World, reference: &str, key: &SecretKey) {
    d.goto(format!("{}/signin", w.base)).await.unwrap();
    fill(d, "email", REVIEWER).await;
    fill(d, "password", PW).await;
    shot(d, w, "07-signin.png").await;
    submit(d, "/signin").await;
    wait_for_path(d, "/signin/code").await;
    fill(d, "code", &code_at(&w.reviewer_uri, T)).await;
    submit(d, "/signin/code").await;
    wait_for_path(d, "/admin/requests").await;
    let queue = wait_for_text(d, reference).await;
    assert!(
        queue.contains("submitted") && queue.contains("SH-1, SH-2"),
        "{queue}"
    );
    shot(d, w, "08-queue.png").await;

    follow(d, reference).await;
    let submitted = w
        .state
        .store
        .requests(&[RequestState::Submitted])
        .await
        .unwrap();
    assert_eq!(submitted.len(), 1);
    let id = submitted[0].id;
    wait_for_path(d, &format!("/admin/requests/{id}")).await;
    let page = wait_for_text(d, "Shipments and the evidence given").await;
    let (a, c) = (golden::token_a().token, golden::token_c().token);
    for want in [
        format!("serial {} in the shipment", a.serial.as_str()),
        format!("serial {} in the shipment", c.serial.as_str()),
        EMAIL.to_owned(),
        "127.0.0.1".to_owned(),
        key.public().fingerprint(),
        "a download password is set".to_owned(),
        "custom-csv".to_owned(),
    ] {
        assert!(page.contains(&want), "{want} missing from {page}");
    }
    golden::assert_no_secret(d.source().await.unwrap().as_bytes(), "the review page");
    shot(d, w, "09-request.png").await;
    submit(d, &format!("/admin/requests/{id}/approve")).await;
    let page = wait_for_text(d, "Approved. The requester gets one e-mail per file").await;
    assert!(
        page.contains("approved") && page.contains(REVIEWER),
        "{page}"
    );
    shot(d, w, "10-approved.png").await;
}

/// Waits (up to 15 s) for the sink to hold the approval mail of `reference`.
async fn approval_mail(w: &World, reference: &str) -> StoredMail {
    let subject = format!("Seed file {reference} ready: ");
    for _ in 0..75 {
        let mails = outbox::list(&w.outbox).unwrap();
        if let Some(m) = mails.into_iter().find(|m| m.subject.starts_with(&subject)) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let subjects: Vec<_> = outbox::list(&w.outbox)
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect();
    panic!("no approval mail after 15 s; the outbox holds {subjects:?}");
}

/// The link in `text` that starts with `{base}{prefix}`.
fn link(text: &str, base: &str, prefix: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with(&format!("{base}{prefix}")))
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"))
        .to_owned()
}

/// The mail as the sink received it; returns the download and
/// confirmation links.
fn check_mail(w: &World, mail: &StoredMail, file_name: &str, sha256: &str) -> (String, String) {
    assert_eq!(mail.to, [EMAIL]);
    assert!(mail.subject.ends_with(file_name), "{}", mail.subject);
    let text = mail.text.as_deref().expect("a plain-text part");
    let html = mail.html.as_deref().expect("an HTML part");
    let download = link(text, &w.base, "/d/");
    let confirm = link(text, &w.base, "/c/");
    assert!(text.contains(sha256), "{text}");
    for url in [&download, &confirm] {
        assert!(
            html.contains(&format!("<a href=\"{url}\">")),
            "{url} not linked in {html}"
        );
    }
    // The customer was also told the request was received.
    let all = outbox::list(&w.outbox).unwrap();
    assert!(
        all.iter()
            .any(|m| m.to == [EMAIL] && m.subject.contains("received")),
        "{all:?}"
    );
    (download, confirm)
}

/// Reads the mail on `/demo/outbox` and follows its download link.
async fn read_in_demo_outbox(d: &WebDriver, w: &World, mail: &StoredMail, download: &str) {
    d.goto(format!("{}/demo/outbox", w.base)).await.unwrap();
    wait_for_text(d, &mail.subject).await;
    shot(d, w, "11-outbox.png").await;
    follow(d, &mail.subject).await;
    wait_for_path(d, &format!("/demo/outbox/{}", mail.id)).await;
    wait_for_text(d, "confirm receipt here").await;
    shot(d, w, "12-mail.png").await;
    click(d, &format!("a[href='{download}']")).await;
}

/// Stops the gpg-agent that GnuPG starts for a home directory, whatever
/// happened.
struct Agent(PathBuf);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.0)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Decrypts with GnuPG (the secret key imported into a fresh home), then
/// extracts with 7-Zip and the password; returns the files inside by name.
fn open_with_real_tools(bytes: &[u8], name: &str, key: &SecretKey) -> BTreeMap<String, Vec<u8>> {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let run = |cmd: &mut Command, what: &str| {
        let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let gpg = |args: &[&str]| {
        let mut c = Command::new("gpg");
        c.args(["--batch", "--homedir"])
            .arg(&home)
            .args([
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                KEY_PASSPHRASE,
            ])
            .args(args);
        c
    };
    let _agent = Agent(home.clone());
    let secret = tmp.path().join("secret.asc");
    std::fs::write(&secret, key.to_armored().unwrap().as_bytes()).unwrap();
    let encrypted = tmp.path().join(name);
    std::fs::write(&encrypted, bytes).unwrap();
    let zip = tmp
        .path()
        .join(name.strip_suffix(".pgp").expect("a .pgp file"));
    run(
        &mut gpg(&["--import", secret.to_str().unwrap()]),
        "gpg --import",
    );
    run(
        &mut gpg(&[
            "--output",
            zip.to_str().unwrap(),
            "--decrypt",
            encrypted.to_str().unwrap(),
        ]),
        "gpg --decrypt",
    );

    let listing = run(
        Command::new("7z")
            .args(["l", "-slt", &format!("-p{PASSWORD}")])
            .arg(&zip),
        "7z l",
    );
    assert!(listing.contains("AES-256"), "not AES-256: {listing}");
    let out = tmp.path().join("out");
    run(
        Command::new("7z")
            .args(["x", "-y", &format!("-p{PASSWORD}")])
            .arg(format!("-o{}", out.display()))
            .arg(&zip),
        "7z x",
    );
    std::fs::read_dir(&out)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

/// `gpg --verify` in a fresh home holding only the vendor's public key
/// (fetched from the portal's `/vendor-key.asc`): a detached signature over
/// `data`, or a cleartext-signed message when `data` is `None`. Returns
/// GnuPG's report.
fn gpg_verify(vendor_key: &str, signed: &[u8], data: Option<&[u8]>) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let _agent = Agent(home.clone());
    let key = tmp.path().join("vendor-key.asc");
    std::fs::write(&key, vendor_key).unwrap();
    let gpg = || {
        let mut c = Command::new("gpg");
        c.args(["--batch", "--homedir"]).arg(&home);
        c
    };
    let out = gpg().args(["--import"]).arg(&key).output().unwrap();
    assert!(
        out.status.success(),
        "gpg --import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = tmp.path().join("signed.asc");
    std::fs::write(&sig, signed).unwrap();
    let mut verify = gpg();
    verify.arg("--verify").arg(&sig);
    if let Some(d) = data {
        let file = tmp.path().join("data");
        std::fs::write(&file, d).unwrap();
        verify.arg(&file);
    }
    let out = verify.output().unwrap();
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && report.contains("Good signature"),
        "gpg --verify: {report}"
    );
    report
}

/// The CSV's rows as serial → secret (header `Serial,Seed,Vendor`, the
/// seed in Base64, the vendor the fixed value).
fn tokens_in_csv(csv: &str) -> BTreeMap<String, Vec<u8>> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("Serial,Seed,Vendor"), "{csv}");
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            assert_eq!(fields.len(), 3, "{l}");
            assert_eq!(fields[2], "Example", "{l}");
            let secret = data_encoding::BASE64
                .decode(fields[1].as_bytes())
                .unwrap_or_else(|e| panic!("{l}: not Base64: {e}"));
            (fields[0].to_owned(), secret)
        })
        .collect()
}

/// The HTTP status of a GET of `path`, asked over a plain socket (the
/// browser does not tell).
async fn status_of(base: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.strip_prefix("http://").unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

/// The body of a GET (the answer has a Content-Length).
async fn body_of(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.strip_prefix("http://").unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// The database file and its write-ahead log, as bytes on disk.
fn database_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).unwrap();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(PathBuf::from(wal)).unwrap_or_default());
    bytes
}

/// Whether any 32-byte piece of `needle` is in `haystack` (a large value
/// spans several database pages, so it is never in one piece).
fn holds_any_piece(haystack: &[u8], needle: &[u8]) -> bool {
    needle
        .chunks_exact(32)
        .any(|piece| haystack.windows(32).any(|w| w == piece))
}

async fn sealed(w: &World, file_id: i64) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let row = sqlx::query("SELECT content_sealed, key_wrapped FROM delivery_file WHERE id = $1")
        .bind(file_id)
        .fetch_one(w.state.store.pool())
        .await
        .unwrap();
    (
        row.try_get("content_sealed").unwrap(),
        row.try_get("key_wrapped").unwrap(),
    )
}

#[allow(
    clippy::too_many_lines,
    reason = "one journey, step by step, as customer and reviewer walk it"
)]
async fn journey(customer: WebDriver, reviewer: WebDriver, w: World) {
    let key = SecretKey::generate(
        &mut StdRng::seed_from_u64(8),
        "IT <it@example.com>",
        &Password::new(KEY_PASSPHRASE),
    )
    .unwrap();
    let reference = customer_requests(&customer, &w, &key).await;
    reviewer_approves(&reviewer, &w, &reference, &key).await;

    let r = w.state.store.requests(&[]).await.unwrap();
    let r = r.iter().find(|r| r.reference == reference).unwrap();
    let files = w.state.store.files_of(r.id).await.unwrap();
    assert_eq!(files.len(), 1, "one file for both shipments");
    let f = &files[0];
    assert_eq!((f.tokens, f.name.ends_with(".zip.pgp")), (3, true), "{f:?}");

    let mail = approval_mail(&w, &reference).await;
    let (download, confirm) = check_mail(&w, &mail, &f.name, &f.sha256);
    let d = &customer;
    read_in_demo_outbox(d, &w, &mail, &download).await;

    // The download page, then the file, saved by Chromium.
    let download_path = download.strip_prefix(&w.base).unwrap().to_owned();
    wait_for_path(d, &download_path).await;
    let page = wait_for_text(d, "Your seed file").await;
    for want in [
        f.name.clone(),
        format!("{} bytes", f.size),
        f.sha256.clone(),
        "2026-12-03 12:37 UTC".to_owned(),
    ] {
        assert!(page.contains(&want), "{want} missing from {page}");
    }
    fill(d, "password", PASSWORD).await;
    shot(d, &w, "13-download.png").await;
    submit(d, &download_path).await;
    let bytes = wait_for_download(&w.downloads, &f.name).await;
    assert_eq!(
        data_encoding::HEXLOWER.encode(&Sha256::digest(&bytes)),
        f.sha256,
        "the SHA-256 the page showed"
    );
    // The ZIP holds the CSV and the MANIFEST that describes it.
    let mut inside = open_with_real_tools(&bytes, &f.name, &key);
    let manifest_bytes = inside.remove("MANIFEST").expect("a MANIFEST");
    // The MANIFEST is signed by the vendor: GnuPG checks MANIFEST.asc with
    // the key the portal publishes.
    let vendor_key = body_of(&w.base, "/vendor-key.asc").await;
    assert!(
        vendor_key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{vendor_key}"
    );
    let signature = inside.remove("MANIFEST.asc").expect("a MANIFEST.asc");
    gpg_verify(&vendor_key, &signature, Some(&manifest_bytes));
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(inside.len(), 1, "one seed file: {:?}", inside.keys());
    let (inner, csv) = inside.pop_first().unwrap();
    assert!(
        Path::new(&inner)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv")),
        "{inner}"
    );
    let entry = &manifest["files"][0];
    assert_eq!(
        manifest["files"].as_array().map(Vec::len),
        Some(1),
        "{manifest}"
    );
    assert_eq!(entry["name"], inner.as_str(), "{manifest}");
    assert_eq!(entry["tokens"], 3, "{manifest}");
    assert_eq!(
        entry["sha256"],
        data_encoding::HEXLOWER
            .encode(&Sha256::digest(&csv))
            .as_str(),
        "{manifest}"
    );
    let imported: BTreeMap<String, Vec<u8>> = [
        golden::token_a().token,
        golden::token_b().token,
        golden::token_c().token,
    ]
    .iter()
    .map(|t| (t.serial.as_str().to_owned(), t.secret.expose().to_vec()))
    .collect();
    assert_eq!(
        tokens_in_csv(&String::from_utf8(csv).unwrap()),
        imported,
        "exactly the imported tokens"
    );

    // The page now counts the download (opening it changed nothing).
    d.goto(&download).await.unwrap();
    wait_for_text(d, "downloaded (1 download(s) so far)").await;

    // Before confirming: the sealed content and its key are in the database
    // (and the search below finds them there).
    let (Some(content), Some(wrapped)) = sealed(&w, f.id).await else {
        panic!("the file's content and key should still be stored");
    };
    let before = database_bytes(&w.db);
    assert!(holds_any_piece(&before, &content) && holds_any_piece(&before, &wrapped));

    // Confirm: the file is destroyed at once; the receipt verifies.
    d.goto(&confirm).await.unwrap();
    let page = wait_for_text(d, "Confirm receipt").await;
    assert!(
        page.contains(&f.sha256) && page.contains("at once"),
        "{page}"
    );
    shot(d, &w, "14-confirm.png").await;
    let confirm_path = confirm.strip_prefix(&w.base).unwrap().to_owned();
    submit(d, &confirm_path).await;
    let page = wait_for_text(d, "The file was deleted from our systems").await;
    assert!(page.contains("File deleted"), "{page}");
    shot(d, &w, "15-confirmed.png").await;
    submit(d, &format!("{confirm_path}/receipt")).await;
    let receipt =
        wait_for_download(&w.downloads, &format!("deletion-receipt-{reference}.txt")).await;
    let receipt = String::from_utf8(receipt).unwrap();
    assert!(
        receipt.contains(&f.name) && receipt.contains(&f.sha256),
        "{receipt}"
    );
    // The receipt is a cleartext-signed statement GnuPG checks.
    gpg_verify(&vendor_key, receipt.as_bytes(), None);
    assert!(receipt.contains("remains: shipment"), "{receipt}");

    // The download link now says the file is gone.
    d.goto(&download).await.unwrap();
    let page = wait_for_text(d, "File deleted").await;
    assert!(
        page.contains("This file was deleted (confirmed)")
            && page.contains("its content and key no longer exist"),
        "{page}"
    );
    shot(d, &w, "16-deleted.png").await;
    assert_eq!(status_of(&w.base, &download_path).await, 410);

    // No trace: the row is empty, the files on disk hold no piece of it.
    assert_eq!(sealed(&w, f.id).await, (None, None));
    let after = database_bytes(&w.db);
    assert!(
        !holds_any_piece(&after, &content),
        "sealed content left in the SQLite files"
    );
    assert!(
        !holds_any_piece(&after, &wrapped),
        "wrapped key left in the SQLite files"
    );
    assert_eq!(
        w.state.store.request(r.id).await.unwrap().state,
        RequestState::Confirmed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_requests_a_reviewer_approves_and_the_file_is_downloaded_opened_and_confirmed() {
    let outbox_dir = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let sink = Sink::start(
        outbox_dir.path(),
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = WebSettings {
        base_url: Some(format!("http://{addr}")),
        demo_outbox: Some(outbox_dir.path().to_owned()),
        ..WebSettings::default()
    };
    settings.requests.find_floor_ms = 20;
    let app = common::app_with(settings).await;
    common::request_inventory(&app).await;
    let state = Arc::clone(&app.state);
    tokio::spawn(serve(listener, Arc::clone(&state), std::future::pending()));
    let mailer = Mailer::new(
        &SmtpConfig {
            port: sink.addr().port(),
            from: "OATH tokens <tokens@vendor.example>".into(),
            ..SmtpConfig::default()
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    tokio::spawn(mail_forever(
        Arc::clone(&state),
        mailer,
        Duration::from_millis(200),
    ));

    let driver = start_chromedriver().await;
    let customer = browser_downloading_to(&driver, downloads.path()).await;
    let reviewer = browser(&driver).await;
    let world = World {
        state,
        base: format!("http://{addr}"),
        reviewer_uri: app.reviewer_uri.clone(),
        db: app.dir.path().join("p.db"),
        outbox: outbox_dir.path().to_owned(),
        downloads: downloads.path().to_owned(),
        shots: screenshots(env!("CARGO_TARGET_TMPDIR"), "portal-journey-screenshots"),
    };
    let joined = tokio::spawn(journey(customer.clone(), reviewer.clone(), world)).await;
    customer.quit().await.expect("quit the customer's browser");
    reviewer.quit().await.expect("quit the reviewer's browser");
    sink.stop().await;
    if let Err(e) = joined {
        std::panic::resume_unwind(e.into_panic());
    }
}
