//! The review and delivery pages, in process: a request built through the
//! journey's library API is reviewed and approved by a reviewer; the
//! customer follows the links from the approval e-mails, downloads with
//! the password (the bytes open to exactly the imported tokens), confirms
//! (content and key gone from the database) and gets a receipt that
//! verifies. A rejected request loses its files and its requester learns
//! why. Unknown links all get the same page; GETs change nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use crate::common;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use common::{ADMIN, App, REVIEWER, T, app, fetch, req, request_inventory, send, sign_in};
use oathvault_formats::Format;
use oathvault_packaging::Password;
use oathvault_packaging::package::{self, Unseal};
use oathvault_packaging::pgp::SecretKey;
use oathvault_portal::Actor;
use oathvault_portal::journey::{FormatChoice, Found, Journey, Pick, Verified};
use oathvault_portal::mail::Outgoing;
use oathvault_portal::web::{AppState, router};
use oathvault_store::{DeliveryFile, FileState, Request, RequestState};
use oathvault_testkit::golden;
use oathvault_vault::Keyring;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tower::ServiceExt;

const EMAIL: &str = common::CUSTOMER_EMAIL;
const PASSWORD: &str = "Tulip-Orbit-42-river";
const KEY_PASSPHRASE: &str = "key passphrase";
const SOURCE: &str = "203.0.113.7";

async fn setup() -> App {
    let app = app().await;
    request_inventory(&app).await;
    app
}

/// What a customer asks for.
struct Ask<'a> {
    /// (shipment number, serial typed for it)
    picks: &'a [(&'a str, &'a str)],
    split: &'a str,
    mode: &'a str,
    key: Option<&'a SecretKey>,
}

/// Walks the journey through the library API and submits; returns the
/// submitted request.
async fn submit(app: &App, ask: &Ask<'_>, seed: u64) -> Request {
    let st = &app.state;
    let j = Journey::new(&st.store, &st.master, &st.settings.requests);
    let mut rng = StdRng::seed_from_u64(seed);
    let Found::Started { request, .. } =
        j.find("PO-1001", EMAIL, SOURCE, T, &mut rng).await.unwrap()
    else {
        panic!("the order was not found");
    };
    let shipments = st.store.shipments().await.unwrap();
    let picks: Vec<Pick> = ask
        .picks
        .iter()
        .map(|(number, serial)| Pick {
            shipment_id: shipments.iter().find(|s| s.number == *number).unwrap().id,
            serial: (*serial).to_owned(),
            code: None,
        })
        .collect();
    assert_eq!(
        j.verify(&request, &picks, T).await.unwrap(),
        Verified::Proved
    );
    let armored = ask
        .key
        .map(|k| k.public().to_armored().unwrap())
        .unwrap_or_default();
    j.protect(
        &request, ask.split, ask.mode, PASSWORD, PASSWORD, &armored, T, &mut rng,
    )
    .await
    .unwrap();
    let choice = FormatChoice {
        format: "jsonl".into(),
        ..FormatChoice::default()
    };
    j.choose_format(&request, &choice, T).await.unwrap();
    let request = st.store.request(request.id).await.unwrap();
    j.submit(&request, T, &mut rng).await.unwrap();
    let request = st.store.request(request.id).await.unwrap();
    assert_eq!(request.state, RequestState::Submitted);
    request
}

fn key() -> SecretKey {
    SecretKey::generate(
        &mut StdRng::seed_from_u64(8),
        "IT <it@example.com>",
        &Password::new(KEY_PASSPHRASE),
    )
    .unwrap()
}

async fn get(app: &App, path: &str, cookie: Option<&str>) -> (StatusCode, String, String) {
    fetch(app, req("GET", path, cookie, None)).await
}

async fn post(
    app: &App,
    path: &str,
    cookie: Option<&str>,
    form: &str,
) -> (StatusCode, String, String) {
    fetch(app, req("POST", path, cookie, Some(form.to_owned()))).await
}

/// Every mail in the outbox, opened.
async fn outbox(app: &App) -> Vec<Outgoing> {
    app.state
        .store
        .outbox_due(T, 100)
        .await
        .unwrap()
        .iter()
        .map(|m| oathvault_portal::mail::open(&app.state.master, &m.sealed).unwrap())
        .collect()
}

/// The path of the link in `text` that starts with `prefix` (`/d/`, `/c/`).
use common::link;

async fn file(app: &App, request_id: i64, id: i64) -> DeliveryFile {
    let files = app.state.store.files_of(request_id).await.unwrap();
    files.into_iter().find(|f| f.id == id).unwrap()
}

/// Whether content and key of a file are still in the database.
async fn stored(app: &App, file_id: i64) -> (bool, bool) {
    let row = sqlx::query("SELECT content_sealed, key_wrapped FROM delivery_file WHERE id = $1")
        .bind(file_id)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    (
        row.try_get::<Option<Vec<u8>>, _>("content_sealed")
            .unwrap()
            .is_some(),
        row.try_get::<Option<Vec<u8>>, _>("key_wrapped")
            .unwrap()
            .is_some(),
    )
}

fn form_password(p: &str) -> String {
    format!(
        "password={}",
        p.bytes()
            .map(|b| if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            })
            .collect::<String>()
    )
}

/// The tokens in a downloaded delivery: serial → secret.
fn tokens_in(bytes: &[u8], name: &str, key: &SecretKey) -> BTreeMap<String, Vec<u8>> {
    let password = Password::new(PASSWORD);
    let passphrase = Password::new(KEY_PASSPHRASE);
    let opened = package::open(
        bytes,
        name,
        &Unseal {
            password: Some(&password),
            key: Some((key, &passphrase)),
            vendor: None,
        },
    )
    .unwrap();
    assert!(opened.mismatches.is_empty(), "{:?}", opened.mismatches);
    assert_eq!(opened.files.len(), 1);
    let mut out = BTreeMap::new();
    for f in &opened.files {
        assert!(
            std::path::Path::new(&f.name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("jsonl")),
            "{}",
            f.name
        );
        for t in oathvault_formats::reader(Format::Jsonl, Cursor::new(f.data.to_vec()), None) {
            let t = t.unwrap();
            out.insert(t.serial.as_str().to_owned(), t.secret.expose().to_vec());
        }
    }
    out
}

#[tokio::test]
#[allow(
    clippy::too_many_lines,
    reason = "one delivery, step by step, as reviewer and customer walk it"
)]
async fn a_reviewer_approves_and_the_customer_downloads_confirms_and_gets_a_receipt() {
    let app = setup().await;
    let key = key();
    let (token_a, token_b, token_c) = (
        golden::token_a().token,
        golden::token_b().token,
        golden::token_c().token,
    );
    let r = submit(
        &app,
        &Ask {
            picks: &[
                ("SH-1", token_a.serial.as_str()),
                ("SH-2", token_c.serial.as_str()),
            ],
            split: "per-shipment",
            mode: "both",
            key: Some(&key),
        },
        21,
    )
    .await;
    let files = app.state.store.files_of(r.id).await.unwrap();
    assert_eq!(files.len(), 2, "one file per shipment");

    // The reviewer (not an administrator) sees it in the queue…
    let reviewer = sign_in(&app, REVIEWER, &app.reviewer_uri.clone()).await;
    let (s, _, queue) = get(&app, "/admin/requests", Some(&reviewer)).await;
    assert_eq!(s, StatusCode::OK);
    for want in [
        r.reference.as_str(),
        "Example Ltd",
        "PO-1001",
        EMAIL,
        "SH-1, SH-2",
        "jsonl",
        "both",
        "submitted",
        &format!("href=\"/admin/requests/{}\"", r.id),
        "href=\"/admin/requests\" aria-current=\"page\">Requests",
    ] {
        assert!(queue.contains(want), "{want} missing from {queue}");
    }
    assert!(
        !queue.contains("/admin/customers"),
        "reviewers see no admin links"
    );
    // …filtered by state…
    let (_, _, approved) = get(&app, "/admin/requests?state=approved", Some(&reviewer)).await;
    assert!(!approved.contains(&r.reference) && approved.contains("No requests in this state"));
    let (_, _, submitted) = get(&app, "/admin/requests?state=submitted", Some(&reviewer)).await;
    assert!(submitted.contains(&r.reference));

    // …and everything needed to decide.
    let detail_path = format!("/admin/requests/{}", r.id);
    let (s, _, detail) = get(&app, &detail_path, Some(&reviewer)).await;
    assert_eq!(s, StatusCode::OK);
    let fingerprint = key.public().fingerprint();
    for want in [
        format!("serial {} in the shipment", token_a.serial.as_str()),
        format!("serial {} in the shipment", token_c.serial.as_str()),
        EMAIL.to_owned(),
        SOURCE.to_owned(),
        fingerprint.clone(),
        "both".to_owned(),
        "a download password is set".to_owned(),
        "one per shipment".to_owned(),
        files[0].name.clone(),
        files[1].name.clone(),
        files[0].sha256.clone(),
        "Approve".to_owned(),
        "name=\"reason\"".to_owned(),
    ] {
        assert!(detail.contains(&want), "{want} missing from {detail}");
    }
    golden::assert_no_secret(detail.as_bytes(), "the review page");

    // Approve: back to the page with a notice; a second approval is refused.
    let (s, loc, _) = post(&app, &format!("{detail_path}/approve"), Some(&reviewer), "").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(loc.starts_with(&format!("{detail_path}?notice=")), "{loc}");
    let (_, _, detail) = get(&app, &loc, Some(&reviewer)).await;
    assert!(detail.contains("Approved. The requester gets one e-mail per file"));
    assert!(detail.contains("<strong>approved</strong>"));
    assert!(
        detail.contains(&format!("Decided by</dt><dd>{REVIEWER}")),
        "{detail}"
    );
    assert!(
        !detail.contains("/approve"),
        "no decision forms once decided"
    );
    let (s, _, page) = post(&app, &format!("{detail_path}/approve"), Some(&reviewer), "").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(page.contains("not waiting for review"), "{page}");
    let decided = app.state.store.request(r.id).await.unwrap();
    assert_eq!(decided.reviewer.as_deref(), Some(REVIEWER));
    assert_eq!(decided.state, RequestState::Approved);

    // One e-mail per file, each with its own two links.
    let mails: Vec<Outgoing> = outbox(&app)
        .await
        .into_iter()
        .filter(|m| m.subject.contains(" ready: "))
        .collect();
    assert_eq!(mails.len(), 2);
    let mut delivered = BTreeMap::new();
    let mut links = BTreeMap::new();
    for f in &files {
        let mail = mails.iter().find(|m| m.subject.ends_with(&f.name)).unwrap();
        assert_eq!(mail.to, [EMAIL]);
        let (download, confirm) = (link(&mail.text, "/d/"), link(&mail.text, "/c/"));
        assert!(mail.text.contains(&f.sha256));

        // GET changes nothing, however often a scanner opens it.
        let (s1, _, page1) = get(&app, &download, None).await;
        let (s2, _, page2) = get(&app, &download, None).await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
        assert_eq!(page1, page2);
        for want in [
            f.name.as_str(),
            f.sha256.as_str(),
            "type=\"password\"",
            "7-Zip",
            ">Download</button>",
        ] {
            assert!(page1.contains(want), "{want} missing from {page1}");
        }
        let now = file(&app, r.id, f.id).await;
        assert_eq!((now.downloads, now.state), (0, FileState::Ready));

        // A wrong password: 403, the same page with the problem.
        let (status, _, page) =
            post(&app, &download, None, &form_password("Wrong-Horse-77-x")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            page.contains("Wrong password") && page.contains(&f.sha256),
            "{page}"
        );

        // The right one: the bytes, whose SHA-256 the page showed.
        let resp = send(
            &app,
            req("POST", &download, None, Some(form_password(PASSWORD))),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let headers = resp.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "application/octet-stream");
        assert_eq!(
            headers[header::CONTENT_DISPOSITION],
            format!("attachment; filename=\"{}\"", f.name).as_str()
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap();
        let sha = data_encoding::HEXLOWER.encode(&Sha256::digest(&bytes));
        assert!(page1.contains(&sha), "the page's SHA-256 is the file's");
        assert_eq!(sha, f.sha256);
        delivered.extend(tokens_in(&bytes, &f.name, &key));
        let now = file(&app, r.id, f.id).await;
        assert_eq!((now.downloads, now.state), (1, FileState::Downloaded));
        golden::assert_no_secret(page1.as_bytes(), "the download page");
        links.insert(f.id, (download, confirm));
    }
    // Exactly the imported tokens of the picked shipments, secrets and all.
    let imported: BTreeMap<String, Vec<u8>> = [&token_a, &token_b, &token_c]
        .iter()
        .map(|t| (t.serial.as_str().to_owned(), t.secret.expose().to_vec()))
        .collect();
    assert_eq!(delivered, imported);

    // Confirm the first file.
    let first = &files[0];
    let (d, c) = (links[&first.id].0.as_str(), links[&first.id].1.as_str());
    let (s, _, page) = get(&app, c, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("at once") && page.contains("Confirm and delete the file"),
        "{page}"
    );
    // Opening the confirmation page deleted nothing: the download still works.
    let resp = send(&app, req("POST", d, None, Some(form_password(PASSWORD)))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(stored(&app, first.id).await, (true, true));

    let (s, _, page) = post(&app, c, None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("Download the deletion receipt") && page.contains("was deleted"),
        "{page}"
    );
    assert_eq!(
        stored(&app, first.id).await,
        (false, false),
        "content and key destroyed"
    );
    assert_eq!(file(&app, r.id, first.id).await.state, FileState::Confirmed);
    // Again: already deleted.
    let (s, _, page) = post(&app, c, None, "").await;
    assert_eq!(s, StatusCode::GONE);
    assert!(page.contains("already deleted"), "{page}");
    // The download link now says so.
    let (s, _, page) = post(&app, d, None, &form_password(PASSWORD)).await;
    assert_eq!(s, StatusCode::GONE);
    assert!(page.contains("This file was deleted (confirmed)"), "{page}");
    let (s, _, page) = get(&app, d, None).await;
    assert_eq!(s, StatusCode::GONE);
    assert!(page.contains("This file was deleted (confirmed)"), "{page}");
    // The confirmation page shows when, and the receipt.
    let (s, _, page) = get(&app, c, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("2026-11-26 12:37 UTC") && page.contains(&format!("{c}/receipt")));

    let resp = send(&app, req("GET", &format!("{c}/receipt"), None, None)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        resp.headers()[header::CONTENT_DISPOSITION],
        format!(
            "attachment; filename=\"deletion-receipt-{}.txt\"",
            r.reference
        )
        .as_str()
    );
    let receipt = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        receipt.contains(&first.name) && receipt.contains(&first.sha256),
        "{receipt}"
    );
    let vendor = oathvault_portal::signing::VendorKey::load(&app.state.store, &app.state.master)
        .await
        .unwrap()
        .unwrap()
        .public();
    let signed = oathvault_portal::delivery::verify_receipt(&vendor, &receipt)
        .expect("the receipt is signed by the vendor's key");
    assert!(
        signed.contains("destroyed: the file's content and its key"),
        "{signed}"
    );
    assert_eq!(
        oathvault_portal::delivery::verify_receipt(
            &vendor,
            &receipt.replace("state: confirmed", "state: ready")
        ),
        None
    );

    // The other file is untouched; its receipt does not exist yet.
    let second = &files[1];
    assert_eq!(stored(&app, second.id).await, (true, true));
    let c2 = links[&second.id].1.as_str();
    let (s, _, _) = get(&app, &format!("{c2}/receipt"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        app.state.store.request(r.id).await.unwrap().state,
        RequestState::Approved
    );
    // Confirming the last file confirms the request.
    let (s, _, _) = post(&app, c2, None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        app.state.store.request(r.id).await.unwrap().state,
        RequestState::Confirmed
    );
    let events = app.state.store.audit_events(None, 1000).await.unwrap();
    let count = |action: &str| events.iter().filter(|e| e.event.action == action).count();
    assert_eq!(count("request.approve"), 1);
    assert_eq!(count("file.confirm"), 2);
    assert_eq!(
        count("file.download"),
        5,
        "3 downloads and 2 wrong passwords"
    );
}

#[tokio::test]
async fn a_rejected_request_loses_its_files_and_the_requester_learns_why() {
    let app = setup().await;
    let b = golden::token_b().token;
    let ask = Ask {
        picks: &[("SH-2", b.serial.as_str())],
        split: "one",
        mode: "password",
        key: None,
    };
    let first = submit(&app, &ask, 31).await;
    let second = submit(&app, &ask, 32).await;
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;

    // The queue: both waiting, the oldest first.
    let (_, _, queue) = get(&app, "/admin/requests", Some(&admin)).await;
    let (p1, p2) = (
        queue.find(&first.reference).unwrap(),
        queue.find(&second.reference).unwrap(),
    );
    assert!(p1 < p2, "oldest first");

    // The second request's page names the first, with a link.
    let path = format!("/admin/requests/{}", second.id);
    let (s, _, page) = get(&app, &path, Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains(&format!("href=\"/admin/requests/{}\"", first.id))
            && page.contains(&first.reference),
        "{page}"
    );

    // No reason, no rejection.
    let (s, _, page) = post(&app, &format!("{path}/reject"), Some(&admin), "reason=+++").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Give the reason"), "{page}");
    assert_eq!(
        app.state.store.request(second.id).await.unwrap().state,
        RequestState::Submitted
    );

    let (s, loc, _) = post(
        &app,
        &format!("{path}/reject"),
        Some(&admin),
        "reason=Order+PO-1001+was+cancelled+%26+re-issued",
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, page) = get(&app, &loc, Some(&admin)).await;
    assert!(
        page.contains("Rejected. The requester is told the reason"),
        "{page}"
    );
    assert!(
        page.contains("Order PO-1001 was cancelled &#38; re-issued"),
        "{page}"
    );
    assert!(page.contains("<strong>rejected</strong>") && page.contains("withdrawn"));
    for f in app.state.store.files_of(second.id).await.unwrap() {
        assert_eq!(f.state, FileState::Withdrawn);
        assert_eq!(stored(&app, f.id).await, (false, false));
    }
    // The first request still has its files.
    for f in app.state.store.files_of(first.id).await.unwrap() {
        assert_eq!(stored(&app, f.id).await, (true, true));
    }
    // Too late to approve or reject again.
    let (s, _, _) = post(&app, &format!("{path}/approve"), Some(&admin), "").await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _, page) = post(
        &app,
        &format!("{path}/reject"),
        Some(&admin),
        "reason=again",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(page.contains("rejected"), "{page}");

    let mail = outbox(&app)
        .await
        .into_iter()
        .find(|m| m.subject.contains("not approved"))
        .unwrap();
    assert_eq!(mail.to, [EMAIL]);
    assert!(mail.subject.contains(&second.reference));
    assert!(
        mail.text
            .contains("Reason: Order PO-1001 was cancelled & re-issued"),
        "{}",
        mail.text
    );
    assert!(mail.html.contains("cancelled &amp; re-issued"));
}

#[tokio::test]
async fn every_unknown_link_gets_the_same_page() {
    let app = setup().await;
    let mut bodies = Vec::new();
    for (method, path) in [
        ("GET", "/d/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ("GET", "/d/something-else"),
        ("POST", "/d/something-else"),
        ("GET", "/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ("POST", "/c/zzz"),
        ("GET", "/c/zzz/receipt"),
    ] {
        let form = (method == "POST").then(|| form_password("x"));
        let (s, _, body) = fetch(&app, req(method, path, None, form)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}");
        assert!(!body.contains("AAAA") && !body.contains("zzz") && !body.contains("something"));
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "answers differ");
    assert!(bodies[0].contains("This link does not lead to a file"));
}

#[tokio::test]
async fn the_review_pages_are_for_signed_in_staff_only() {
    let app = setup().await;
    let c = golden::token_c().token;
    let r = submit(
        &app,
        &Ask {
            picks: &[("SH-2", c.serial.as_str())],
            split: "one",
            mode: "password",
            key: None,
        },
        41,
    )
    .await;
    let detail = format!("/admin/requests/{}", r.id);
    for (method, path) in [
        ("GET", "/admin/requests".to_owned()),
        ("GET", detail.clone()),
        ("POST", format!("{detail}/approve")),
        ("POST", format!("{detail}/reject")),
    ] {
        let form = (method == "POST").then(|| "reason=x".to_owned());
        let (s, loc, _) = fetch(&app, req(method, &path, None, form)).await;
        assert_eq!(
            (s, loc.as_str()),
            (StatusCode::SEE_OTHER, "/signin"),
            "{method} {path}"
        );
    }
    assert_eq!(
        app.state.store.request(r.id).await.unwrap().state,
        RequestState::Submitted
    );
    // A cross-site approval is refused.
    let reviewer = sign_in(&app, REVIEWER, &app.reviewer_uri.clone()).await;
    let mut cross = req(
        "POST",
        &format!("{detail}/approve"),
        Some(&reviewer),
        Some(String::new()),
    );
    cross
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    cross
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(send(&app, cross).await.status(), StatusCode::FORBIDDEN);
    // An administrator has the same pages; unknown requests are 404.
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;
    let (s, _, page) = get(&app, &detail, Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(&r.reference) && page.contains(">Customers</a>"));
    for path in ["/admin/requests/999", "/admin/requests/x"] {
        let (s, _, _) = get(&app, path, Some(&admin)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _, page) = get(&app, "/admin/requests?state=nonsense", Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("there is no request state") && page.contains(&r.reference));
}

/// The app over the same store and key, its clock at `now`.
fn app_at(app: &App, now: i64) -> axum::Router {
    let master = Keyring::from_file(app.state.master.to_file().as_bytes()).unwrap();
    router(Arc::new(AppState {
        store: app.state.store.clone(),
        master,
        policy: app.state.policy,
        clock: Box::new(move || now),
        settings: app.state.settings.clone(),
    }))
}

#[tokio::test]
async fn a_file_past_its_expiry_is_gone_before_the_sweeper_comes() {
    let app = setup().await;
    let token = golden::token_a().token;
    let r = submit(
        &app,
        &Ask {
            picks: &[("SH-1", token.serial.as_str())],
            split: "one",
            mode: "password",
            key: None,
        },
        51,
    )
    .await;
    let reviewer = sign_in(&app, REVIEWER, &app.reviewer_uri.clone()).await;
    let (status, _, _) = post(
        &app,
        &format!("/admin/requests/{}/approve", r.id),
        Some(&reviewer),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let mail = outbox(&app)
        .await
        .into_iter()
        .find(|m| m.subject.contains(" ready: "))
        .unwrap();
    let (download, confirm) = (link(&mail.text, "/d/"), link(&mail.text, "/c/"));
    let lapsed = app.state.store.files_of(r.id).await.unwrap().remove(0);
    let later = lapsed.expires.unwrap();

    let call = |method: &str, path: &str, form: Option<String>| {
        let r = req(method, path, None, form);
        let app = app_at(&app, later);
        async move {
            let resp = app.oneshot(r).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    // Looking changes nothing, and says it is gone.
    let (s, page) = call("GET", &download, None).await;
    assert_eq!(s, StatusCode::GONE);
    assert!(page.contains("This file was deleted (expired)"), "{page}");
    let (s, _) = call("GET", &confirm, None).await;
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(stored(&app, lapsed.id).await, (true, true));
    // A download is refused and destroys it.
    let (s, page) = call("POST", &download, Some(form_password(PASSWORD))).await;
    assert_eq!(s, StatusCode::GONE);
    assert!(page.contains("not confirmed in time"), "{page}");
    assert_eq!(stored(&app, lapsed.id).await, (false, false));
    assert_eq!(file(&app, r.id, lapsed.id).await.state, FileState::Expired);
    assert_eq!(
        app.state.store.request(r.id).await.unwrap().state,
        RequestState::Expired
    );
    let (s, _) = call("POST", &confirm, Some(String::new())).await;
    assert_eq!(s, StatusCode::GONE);
}

/// A request for SH-1 protected by a password, submitted and approved.
async fn approved_with_password(app: &App, seed: u64) -> Request {
    let a = golden::token_a().token.serial.as_str().to_owned();
    let r = submit(
        app,
        &Ask {
            picks: &[("SH-1", &a)],
            split: "one",
            mode: "password",
            key: None,
        },
        seed,
    )
    .await;
    app.state
        .delivery()
        .approve(r.id, REVIEWER, SOURCE, T, &mut StdRng::seed_from_u64(seed))
        .await
        .unwrap();
    r
}

#[tokio::test]
async fn sending_the_link_mail_delivers_the_request_and_failures_wait_and_retry() {
    let app = setup().await;
    let st = &app.state;
    let r = approved_with_password(&app, 21).await;
    // The SMTP server refuses: nothing is lost, the request stays approved,
    // and the mail waits before the next try.
    let deliver = |now: i64, ok: bool| {
        oathvault_portal::delivery::deliver_outbox(
            &st.store,
            &st.master,
            now,
            move |_m| async move {
                if ok {
                    Ok(())
                } else {
                    Err("421 try later".to_owned())
                }
            },
        )
    };
    assert_eq!(deliver(T, false).await.unwrap(), (0, 3));
    assert_eq!(
        st.store.request(r.id).await.unwrap().state,
        RequestState::Approved
    );
    assert_eq!(deliver(T + 1, true).await.unwrap(), (0, 0), "not due yet");
    assert_eq!(deliver(T + 31, true).await.unwrap(), (3, 0));
    assert_eq!(
        st.store.request(r.id).await.unwrap().state,
        RequestState::Delivered
    );
    assert!(outbox(&app).await.is_empty());
}

#[tokio::test]
async fn only_wrong_passwords_count_against_the_download_limit() {
    let app = setup().await;
    let st = &app.state;
    let _ = approved_with_password(&app, 22).await;
    let mail = outbox(&app).await;
    let d = link(&mail.last().unwrap().text, "/d/");
    let tries = st.settings.requests.download_tries;
    // Right passwords, more often than the limit: every one is served.
    for _ in 0..=tries {
        let (s, _, _) = post(&app, &d, None, &form_password(PASSWORD)).await;
        assert_eq!(s, StatusCode::OK);
    }
    for _ in 0..tries {
        let (s, _, _) = post(&app, &d, None, &form_password("wrong guess 123")).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let (s, _, body) = post(&app, &d, None, &form_password(PASSWORD)).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

/// An attacker sends many guesses at once: each is counted before Argon2
/// runs, so no more than the limit are ever checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_password_guesses_cannot_pass_the_download_limit() {
    let app = setup().await;
    let st = &app.state;
    let _ = approved_with_password(&app, 23).await;
    let mail = outbox(&app).await;
    let d = link(&mail.last().unwrap().text, "/d/");
    let token = d.trim_start_matches("/d/").to_owned();
    let tries = usize::try_from(st.settings.requests.download_tries).unwrap();
    let guesses: Vec<_> = (0..tries * 3)
        .map(|n| {
            let state = std::sync::Arc::clone(&app.state);
            let token = token.clone();
            tokio::spawn(async move {
                state
                    .delivery()
                    .download(&token, &format!("guess number {n}"), SOURCE, T)
                    .await
            })
        })
        .collect();
    let mut checked = 0;
    let mut limited = 0;
    for g in guesses {
        match g.await.unwrap() {
            Err(oathvault_portal::delivery::DeliveryError::WrongPassword) => checked += 1,
            Err(oathvault_portal::delivery::DeliveryError::Limited) => limited += 1,
            other => panic!("{:?}", other.map(|d| d.name)),
        }
    }
    assert_eq!((checked, limited), (tries, tries * 2));
}

#[tokio::test]
async fn with_four_eyes_whoever_last_changed_the_customer_cannot_approve() {
    let mut settings = oathvault_portal::WebSettings::default();
    settings.requests.four_eyes = true;
    let app = common::app_with(settings).await;
    request_inventory(&app).await;
    let st = &app.state;
    let a = golden::token_a().token.serial.as_str().to_owned();
    let r = submit(
        &app,
        &Ask {
            picks: &[("SH-1", &a)],
            split: "one",
            mode: "password",
            key: None,
        },
        23,
    )
    .await;
    // The reviewer adds a contact to the customer: now they may not approve.
    let as_reviewer = Actor {
        name: REVIEWER.into(),
        source: SOURCE.into(),
        now: T,
    };
    oathvault_portal::Admin::new(&st.store, &st.master, "Test")
        .add_contact(&as_reviewer, "Example Ltd", "ops@example.com")
        .await
        .unwrap();
    let refused = st
        .delivery()
        .approve(r.id, REVIEWER, SOURCE, T, &mut StdRng::seed_from_u64(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.starts_with("four eyes:"), "{refused}");
    assert_eq!(
        st.store.request(r.id).await.unwrap().state,
        RequestState::Submitted
    );
    // Someone else may.
    st.delivery()
        .approve(r.id, ADMIN, SOURCE, T, &mut StdRng::seed_from_u64(5))
        .await
        .unwrap();
    assert_eq!(
        st.store.request(r.id).await.unwrap().state,
        RequestState::Approved
    );
}
