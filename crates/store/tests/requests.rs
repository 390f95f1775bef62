//! Seed requests and their delivery files (`portal.md`: "Customer journey",
//! "Delivery and deletion", "States"): finding the order, the wizard's
//! draft, locking, submission, review, downloads, confirmation, expiry and
//! the mail outbox — the same on SQLite and on a real PostgreSQL (a
//! throwaway cluster; `scripts/test` installs the server).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure is a failed test"
)]

use oathvault_store::{
    AuditFilter, Backend, DeliveryFile, Error, Event, FileLinks, FileState, NewDraft, NewFile,
    NewToken, OrderMatch, PickedShipment, Request, RequestState, Store, Swept,
};
use oathvault_testkit::postgres::TempPostgres;
use sqlx::Row;

/// The inventory is set up at this time; drafts start at it.
const NOW: i64 = 1_795_696_620;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// Wizard steps.
const WIZARD: i64 = NOW + 60;
/// Submissions.
const SUBMIT: i64 = NOW + 600;
/// A draft is forgotten at this time.
const DRAFT_EXPIRY: i64 = NOW + HOUR;
/// Reviews (after the drafts' expiry: a submitted request does not expire).
const REVIEW: i64 = NOW + 2 * HOUR;
/// Downloads and confirmations.
const DELIVERY: i64 = NOW + DAY;
/// Files approved at `REVIEW` expire at this time.
const FILE_EXPIRY: i64 = REVIEW + 7 * DAY;
/// Wrong answers that lock a draft.
const LIMIT: i64 = 3;

const CUSTOMER_IP: &str = "192.0.2.10";
const REVIEWER: &str = "reviewer@vendor.example";
const SWEEPER: &str = "system:sweeper";
const PASSWORD_SEALED: &[u8] = b"password sealed under the master key";
const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$stub";

/// Row ids of the inventory every section uses.
struct Fixture {
    /// PO-100 of Example Ltd (contacts it@ and ops@example.com).
    order: i64,
    /// PO-200 of `Other GmbH` (contact buyer@other.example).
    other_order: i64,
    /// SHP-101 of PO-100: serials 20001001, 20001002.
    shp_101: i64,
    /// SHP-102 of PO-100: serial 20002001.
    shp_102: i64,
    /// SHP-201 of PO-200: serial 30001001.
    shp_201: i64,
}

fn ev(at: i64, action: &str, subject: &str) -> Event {
    Event::ok(at, "cli:test", "cli", action, subject)
}

/// An event about a request, by the customer.
fn req_ev(at: i64, action: &str, reference: &str) -> Event {
    Event::ok(
        at,
        "it@example.com",
        CUSTOMER_IP,
        action,
        &format!("request:{reference}"),
    )
}

/// An event about a request, by the delivery team.
fn staff_ev(at: i64, action: &str, reference: &str) -> Event {
    Event::ok(
        at,
        REVIEWER,
        "198.51.100.7",
        action,
        &format!("request:{reference}"),
    )
}

fn mail(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

fn wizard_hash(reference: &str) -> String {
    format!("wizard-hash-{reference}")
}

fn download_hash(reference: &str, i: usize) -> String {
    format!("download-hash-{reference}-{i}")
}

fn confirm_hash(reference: &str, i: usize) -> String {
    format!("confirm-hash-{reference}-{i}")
}

/// The sealed content of a file (distinctive bytes).
fn content(reference: &str, shipments: &[&str]) -> Vec<u8> {
    format!("CONTENT<{reference}:{}>", shipments.join("+")).into_bytes()
}

fn key_wrapped(reference: &str, shipments: &[&str]) -> Vec<u8> {
    format!("WRAPPED-KEY<{reference}:{}>", shipments.join("+")).into_bytes()
}

fn new_file(reference: &str, shipments: &[&str], tokens: i64) -> NewFile {
    let content_sealed = content(reference, shipments);
    NewFile {
        shipments: shipments.iter().map(|s| (*s).to_owned()).collect(),
        name: format!("{reference}-{}.zip", shipments.join("-")),
        tokens,
        size: i64::try_from(content_sealed.len()).unwrap(),
        content_sealed,
        key_wrapped: key_wrapped(reference, shipments),
        master_key_id: "mk-test".into(),
        sha256: format!("{tokens:0>64}"),
    }
}

#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Events in the audit chain (which verifies).
async fn events(store: &Store) -> i64 {
    store.audit_verify().await.unwrap().events
}

/// The mail due at `at`, as text, marked sent.
async fn take_mail(store: &Store, at: i64) -> Vec<String> {
    let due = store.outbox_due(at, 100).await.unwrap();
    for m in &due {
        assert_eq!(m.attempts, 0);
        store.outbox_sent(m.id).await.unwrap();
    }
    due.into_iter()
        .map(|m| String::from_utf8(m.sealed).unwrap())
        .collect()
}

/// One number from a raw `SELECT COUNT(*) AS n …` with integer binds.
async fn count(store: &Store, sql: &'static str, binds: &[i64]) -> i64 {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_one(store.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn shipment(store: &Store, po: &str, number: &str, serials: &[&str]) -> i64 {
    let id = store
        .add_shipment(
            po,
            number,
            Some("2026-11-20"),
            &[7; 40],
            "mk-test",
            &ev(NOW, "shipment.add", number),
        )
        .await
        .unwrap();
    let tokens: Vec<NewToken> = serials
        .iter()
        .map(|s| NewToken {
            serial: (*s).to_owned(),
            kind: "totp".into(),
            hash: "sha1".into(),
            digits: 6,
            step: Some(30),
            t0: Some(0),
            counter: None,
            manufacturer: Some("Example".into()),
            model: Some("C200".into()),
            sealed: format!("SEED<{s}>").into_bytes(),
        })
        .collect();
    store
        .import_tokens(id, &tokens, &ev(NOW, "import", number))
        .await
        .unwrap();
    id
}

/// Two customers, each with an order and shipments (10 audit events).
async fn inventory(store: &Store) -> Fixture {
    store
        .add_customer(
            "Example Ltd",
            &["IT@Example.com".into(), "ops@example.com".into()],
            &ev(NOW, "customer.add", "Example Ltd"),
        )
        .await
        .unwrap();
    store
        .add_customer(
            "Other GmbH",
            &["buyer@other.example".into()],
            &ev(NOW, "customer.add", "Other GmbH"),
        )
        .await
        .unwrap();
    let order = store
        .add_order(
            "Example Ltd",
            "PO-100",
            &["INV-100".into(), "INV-101".into()],
            &ev(NOW, "order.add", "PO-100"),
        )
        .await
        .unwrap();
    let other_order = store
        .add_order(
            "Other GmbH",
            "PO-200",
            &["INV-200".into()],
            &ev(NOW, "order.add", "PO-200"),
        )
        .await
        .unwrap();
    Fixture {
        order,
        other_order,
        shp_101: shipment(store, "PO-100", "SHP-101", &["20001001", "20001002"]).await,
        shp_102: shipment(store, "PO-100", "SHP-102", &["20002001"]).await,
        shp_201: shipment(store, "PO-200", "SHP-201", &["30001001"]).await,
    }
}

/// A draft for PO-100 started at `NOW`, asked by `IT@Example.com`.
async fn start(store: &Store, fx: &Fixture, reference: &str) -> i64 {
    store
        .create_draft(
            &NewDraft {
                reference,
                wizard_hash: &wizard_hash(reference),
                order_id: fx.order,
                email: "IT@Example.com",
                source: CUSTOMER_IP,
                expires: DRAFT_EXPIRY,
            },
            &req_ev(NOW, "request.start", reference),
        )
        .await
        .unwrap()
}

async fn pick(store: &Store, id: i64, reference: &str, picks: &[(i64, &str)]) {
    let picks: Vec<(i64, String)> = picks.iter().map(|(s, e)| (*s, (*e).to_owned())).collect();
    store
        .set_picked(id, &picks, &req_ev(WIZARD, "request.verify", reference))
        .await
        .unwrap();
}

/// Submits at `SUBMIT`, queueing the customer's and the team's mail.
async fn submit(
    store: &Store,
    id: i64,
    reference: &str,
    password_hash: Option<&str>,
    files: &[NewFile],
) {
    store
        .submit(
            id,
            password_hash,
            files,
            &[
                mail(&format!("{reference} submitted (to the customer)")),
                mail(&format!("{reference} submitted (to the team)")),
            ],
            &req_ev(SUBMIT, "request.submit", reference),
        )
        .await
        .unwrap();
    assert_eq!(
        take_mail(store, SUBMIT).await,
        [
            format!("{reference} submitted (to the customer)"),
            format!("{reference} submitted (to the team)"),
        ]
    );
}

/// Approves at `REVIEW` with links for every file (one mail each).
async fn approve(store: &Store, id: i64, reference: &str, expires: i64) -> Vec<DeliveryFile> {
    let files = store.files_of(id).await.unwrap();
    let links: Vec<FileLinks> = files
        .iter()
        .enumerate()
        .map(|(i, f)| FileLinks {
            file_id: f.id,
            download_hash: download_hash(reference, i),
            confirm_hash: confirm_hash(reference, i),
        })
        .collect();
    let mails: Vec<Vec<u8>> = (0..files.len())
        .map(|i| mail(&format!("{reference} file {i}: links")))
        .collect();
    store
        .approve(
            id,
            REVIEWER,
            &links,
            expires,
            &mails,
            &staff_ev(REVIEW, "request.approve", reference),
        )
        .await
        .unwrap();
    let sent: Vec<String> = (0..files.len())
        .map(|i| format!("{reference} file {i}: links"))
        .collect();
    assert_eq!(take_mail(store, REVIEW).await, sent);
    store.files_of(id).await.unwrap()
}

async fn confirm(store: &Store, file: &DeliveryFile) {
    store
        .confirm(
            file.id,
            &[mail(&format!(
                "{} file {}: confirmed",
                file.reference, file.id
            ))],
            &req_ev(DELIVERY, "file.confirm", &file.reference),
        )
        .await
        .unwrap();
    assert_eq!(
        take_mail(store, DELIVERY).await,
        [format!("{} file {}: confirmed", file.reference, file.id)]
    );
}

async fn download(store: &Store, file: &DeliveryFile) -> Result<Vec<u8>, Error> {
    store
        .download(file.id, &req_ev(DELIVERY, "file.download", &file.reference))
        .await
        .map(|s| {
            assert_eq!(s.master_key_id, "mk-test");
            let shipments: Vec<&str> = file.shipments.split(", ").collect();
            assert_eq!(s.key_wrapped, key_wrapped(&file.reference, &shipments));
            s.content_sealed
        })
}

/// Confirms a file once more (refused in every test).
async fn confirm_again(store: &Store, f: &DeliveryFile) -> Result<(), Error> {
    store
        .confirm(
            f.id,
            &[mail("confirmed again")],
            &req_ev(DELIVERY, "file.confirm", &f.reference),
        )
        .await
}

/// Marks a request delivered at `DELIVERY`.
async fn deliver(store: &Store, id: i64, reference: &str) -> Result<(), Error> {
    store
        .mark_delivered(id, &staff_ev(DELIVERY, "request.deliver", reference))
        .await
}

async fn request_state(store: &Store, id: i64) -> RequestState {
    store.request(id).await.unwrap().state
}

/// The shipment ids of these numbers.
fn shipment_ids(fx: &Fixture, numbers: &[&str]) -> Vec<i64> {
    numbers
        .iter()
        .map(|n| match *n {
            "SHP-101" => fx.shp_101,
            "SHP-102" => fx.shp_102,
            other => panic!("no shipment {other} in PO-100"),
        })
        .collect()
}

/// Tokens in a shipment of PO-100.
fn tokens_in(numbers: &[&str]) -> i64 {
    numbers
        .iter()
        .map(|n| if *n == "SHP-101" { 2 } else { 1 })
        .sum()
}

/// Picks the shipments the files cover and submits one file per entry.
async fn pick_and_submit(
    store: &Store,
    fx: &Fixture,
    id: i64,
    reference: &str,
    password_hash: Option<&str>,
    files: &[&[&str]],
) {
    let mut numbers: Vec<&str> = files.iter().flat_map(|f| f.iter().copied()).collect();
    numbers.sort_unstable();
    let picks: Vec<(i64, &str)> = shipment_ids(fx, &numbers)
        .into_iter()
        .map(|s| (s, "serial given"))
        .collect();
    pick(store, id, reference, &picks).await;
    let files: Vec<NewFile> = files
        .iter()
        .map(|f| new_file(reference, f, tokens_in(f)))
        .collect();
    submit(store, id, reference, password_hash, &files).await;
}

/// A new request of PO-100, submitted with one file per entry of `files`.
async fn submitted(
    store: &Store,
    fx: &Fixture,
    reference: &str,
    password_hash: Option<&str>,
    files: &[&[&str]],
) -> i64 {
    let id = start(store, fx, reference).await;
    pick_and_submit(store, fx, id, reference, password_hash, files).await;
    id
}

/// Each file's state, downloads and time of destruction.
async fn file_states(store: &Store, id: i64) -> Vec<(FileState, i64, Option<i64>)> {
    store
        .files_of(id)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.state, f.downloads, f.destroyed))
        .collect()
}

/// References of the requests in these states, newest change first.
async fn references(store: &Store, states: &[RequestState]) -> Vec<String> {
    store
        .requests(states)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.reference)
        .collect()
}

/// Tries every wizard step on a request: the refusals, in order (picking,
/// protection, format, a wrong answer, submission).
async fn wizard_refusals(store: &Store, id: i64, reference: &str) -> Vec<String> {
    let e = |action: &str| req_ev(WIZARD, action, reference);
    vec![
        refused(store.set_picked(id, &[], &e("request.verify")).await),
        refused(
            store
                .set_protection(id, "one", "pgp", None, None, None, &e("request.protect"))
                .await,
        ),
        refused(
            store
                .set_format(id, "csv", "{}", &e("request.format"))
                .await,
        ),
        refused(
            store
                .count_wrong(id, 1, LIMIT, &e("request.wrong-answer"), &e("request.lock"))
                .await,
        ),
        refused(
            store
                .submit(
                    id,
                    Some(PASSWORD_HASH),
                    &[new_file(reference, &["SHP-101"], 2)],
                    &[mail("submitted again")],
                    &e("request.submit"),
                )
                .await,
        ),
    ]
}

/// The sweeper's events, oldest first: action, subject, detail.
async fn sweeper_events(store: &Store) -> Vec<(String, String, String)> {
    let filter = AuditFilter {
        actor: Some(SWEEPER.into()),
        ..AuditFilter::default()
    };
    let mut events: Vec<(String, String, String)> = store
        .audit_search(&filter, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event.action, e.event.subject, e.event.detail))
        .collect();
    events.reverse();
    events
}

/// What a sweep returns.
fn swept(files: u64, requests: u64, drafts: u64) -> Swept {
    Swept {
        files,
        requests,
        drafts,
    }
}

/// A request's files still holding content or key.
const CONTENT_OF_REQUEST: &str = "SELECT COUNT(*) AS n FROM delivery_file WHERE request_id = $1 \
    AND (content_sealed IS NOT NULL OR key_wrapped IS NOT NULL)";

/// A request's sealed password or wizard cookie hash still stored.
const SECRETS_OF_REQUEST: &str = "SELECT COUNT(*) AS n FROM seed_request WHERE id = $1 \
    AND (password_sealed IS NOT NULL OR wizard_hash IS NOT NULL)";

/// Every behaviour, on one backend.
async fn suite(store: &Store) {
    let fx = inventory(store).await;
    assert_eq!(events(store).await, 10);
    finding_orders(store, &fx).await;
    shipments_and_serials(store, &fx).await;
    let before = events(store).await;
    let (r1, ready) = wizard(store, &fx).await;
    submission(store, r1, ready).await;
    assert_eq!(
        events(store).await - before,
        8,
        "start, 3 picks, protection, format, wrong answer, submit"
    );
    let r4 = locking(store, &fx).await;
    approval(store, r1).await;
    rejection(store, &fx, r1, r4).await;
    delivery_of_one(store, r1).await;
    delivery_of_two(store, &fx).await;
    expiry(store, &fx).await;
    outbox(store).await;
    nothing_left(store).await;
}

/// `find_order`: by PO, invoice or shipment number with a contact's e-mail
/// (any case); every kind of miss is `None`.
async fn finding_orders(store: &Store, fx: &Fixture) {
    let example = Some(OrderMatch {
        order_id: fx.order,
        po: "PO-100".into(),
        customer: "Example Ltd".into(),
    });
    for (identifier, email) in [
        ("PO-100", "it@example.com"),
        ("INV-100", "IT@Example.com"),
        ("INV-101", "ops@example.com"),
        ("SHP-101", "Ops@EXAMPLE.com"),
        ("SHP-102", "it@example.com"),
        (" PO-100 ", " it@example.com "),
    ] {
        assert_eq!(
            store.find_order(identifier, email).await.unwrap(),
            example,
            "{identifier} {email}"
        );
    }
    assert_eq!(
        store
            .find_order("SHP-201", "Buyer@Other.example")
            .await
            .unwrap(),
        Some(OrderMatch {
            order_id: fx.other_order,
            po: "PO-200".into(),
            customer: "Other GmbH".into(),
        })
    );
    for (identifier, email) in [
        // Unknown numbers.
        ("PO-999", "it@example.com"),
        ("INV-999", "it@example.com"),
        ("SHP-999", "it@example.com"),
        ("", "it@example.com"),
        // Real numbers with another customer's contact.
        ("PO-100", "buyer@other.example"),
        ("INV-101", "buyer@other.example"),
        ("SHP-101", "buyer@other.example"),
        ("PO-200", "it@example.com"),
        ("SHP-201", "ops@example.com"),
        // Real numbers with an unknown e-mail.
        ("PO-100", "nobody@example.com"),
        ("INV-100", "it@example.org"),
        ("SHP-102", ""),
        // Only whole numbers match.
        ("PO-10", "it@example.com"),
        ("po-100", "it@example.com"),
    ] {
        assert_eq!(
            store.find_order(identifier, email).await.unwrap(),
            None,
            "{identifier:?} {email:?}"
        );
    }
}

/// An order's shipments, and the serial check (exact, within the shipment).
async fn shipments_and_serials(store: &Store, fx: &Fixture) {
    let of = |v: Vec<oathvault_store::Shipment>| -> Vec<(i64, String, i64, Vec<String>)> {
        v.into_iter()
            .map(|s| {
                assert_eq!(s.shipped_on.as_deref(), Some("2026-11-20"));
                (s.id, s.number, s.tokens, s.models)
            })
            .collect()
    };
    let c200 = vec!["C200".to_owned()];
    assert_eq!(
        of(store.order_shipments(fx.order).await.unwrap()),
        [
            (fx.shp_101, "SHP-101".to_owned(), 2, c200.clone()),
            (fx.shp_102, "SHP-102".to_owned(), 1, c200.clone()),
        ]
    );
    assert_eq!(
        of(store.order_shipments(fx.other_order).await.unwrap()),
        [(fx.shp_201, "SHP-201".to_owned(), 1, c200)]
    );
    for (shipment, serial, holds) in [
        (fx.shp_101, "20001001", true),
        (fx.shp_101, "20001002", true),
        (fx.shp_102, "20002001", true),
        (fx.shp_201, "30001001", true),
        // Another shipment's serial, of the same order or another.
        (fx.shp_101, "20002001", false),
        (fx.shp_102, "20001001", false),
        (fx.shp_101, "30001001", false),
        (fx.shp_201, "20001001", false),
        // Exactly as given.
        (fx.shp_101, "2000100", false),
        (fx.shp_101, "020001001", false),
        (fx.shp_101, "20001001 ", false),
        (fx.shp_101, "", false),
    ] {
        assert_eq!(
            store.shipment_has_serial(shipment, serial).await.unwrap(),
            holds,
            "{shipment} {serial:?}"
        );
    }
}

/// R-0001 through the wizard (one file, a password): its id and the draft.
async fn wizard(store: &Store, fx: &Fixture) -> (i64, Request) {
    let id = start(store, fx, "R-0001").await;
    let started = Request {
        id,
        reference: "R-0001".into(),
        order_id: fx.order,
        po: "PO-100".into(),
        customer: "Example Ltd".into(),
        email: "it@example.com".into(),
        source: CUSTOMER_IP.into(),
        state: RequestState::Draft,
        split: "one".into(),
        protection: None,
        has_password: false,
        pgp_key: None,
        pgp_fingerprint: None,
        format: None,
        format_options: None,
        wrong_answers: 0,
        reviewer: None,
        reason: None,
        created: NOW,
        submitted: None,
        decided: None,
        updated: NOW,
        expires: DRAFT_EXPIRY,
    };
    assert_eq!(store.request(id).await.unwrap(), started);
    assert_eq!(
        store.requests(&[]).await.unwrap(),
        std::slice::from_ref(&started)
    );
    // The wizard's cookie finds the draft until it expires.
    let hash = wizard_hash("R-0001");
    for (at, found) in [(NOW, true), (DRAFT_EXPIRY - 1, true), (DRAFT_EXPIRY, false)] {
        let draft = store.draft(&hash, at).await.unwrap();
        assert_eq!(draft, found.then(|| started.clone()), "at {at}");
    }
    assert_eq!(store.draft("wizard-hash-R-9999", NOW).await.unwrap(), None);

    picking(store, fx, id).await;

    // Protection, the sealed password, the format, one wrong answer.
    assert_eq!(store.draft_password(id).await.unwrap(), None);
    store
        .set_protection(
            id,
            "one",
            "password",
            Some(PASSWORD_SEALED),
            None,
            None,
            &req_ev(WIZARD, "request.protect", "R-0001"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.draft_password(id).await.unwrap().as_deref(),
        Some(PASSWORD_SEALED)
    );
    let options = r#"{"header":true}"#;
    store
        .set_format(
            id,
            "entra-csv",
            options,
            &req_ev(WIZARD, "request.format", "R-0001"),
        )
        .await
        .unwrap();
    let answered = store
        .count_wrong(
            id,
            1,
            LIMIT,
            &req_ev(WIZARD, "request.wrong-answer", "R-0001"),
            &req_ev(WIZARD, "request.lock", "R-0001"),
        )
        .await
        .unwrap();
    assert_eq!(answered, (1, false));
    let ready = Request {
        protection: Some("password".into()),
        has_password: true,
        format: Some("entra-csv".into()),
        format_options: Some(options.into()),
        wrong_answers: 1,
        updated: WIZARD,
        ..started
    };
    assert_eq!(
        store.draft(&hash, WIZARD).await.unwrap(),
        Some(ready.clone())
    );
    (id, ready)
}

/// Picking replaces what was picked before.
async fn picking(store: &Store, fx: &Fixture, id: i64) {
    let (a, b) = (fx.shp_101, fx.shp_102);
    for picks in [
        &[(b, "serial 20002001"), (a, "serial 20001001")][..],
        &[(b, "serial 20002001, code")],
        &[(a, "serial 20001002"), (b, "serial 20002001")],
    ] {
        pick(store, id, "R-0001", picks).await;
        let mut expected: Vec<PickedShipment> = picks
            .iter()
            .map(|(s, e)| PickedShipment {
                shipment_id: *s,
                number: if *s == a { "SHP-101" } else { "SHP-102" }.into(),
                evidence: (*e).into(),
            })
            .collect();
        expected.sort_by(|x, y| x.number.cmp(&y.number));
        assert_eq!(store.picked(id).await.unwrap(), expected);
    }
}

/// R-0001 submitted: the files stored, the cookie and sealed password
/// gone; then no wizard step changes it.
async fn submission(store: &Store, id: i64, ready: Request) {
    let hash = wizard_hash("R-0001");
    let shipments = ["SHP-101", "SHP-102"];
    submit(
        store,
        id,
        "R-0001",
        Some(PASSWORD_HASH),
        &[new_file("R-0001", &shipments, 3)],
    )
    .await;
    let submitted = Request {
        state: RequestState::Submitted,
        submitted: Some(SUBMIT),
        updated: SUBMIT,
        ..ready
    };
    assert_eq!(store.request(id).await.unwrap(), submitted);
    assert_eq!(store.draft(&hash, WIZARD).await.unwrap(), None);
    assert_eq!(store.draft_password(id).await.unwrap(), None);
    assert_eq!(count(store, SECRETS_OF_REQUEST, &[id]).await, 0);
    let files = store.files_of(id).await.unwrap();
    assert_eq!(
        files,
        [DeliveryFile {
            id: files[0].id,
            request_id: id,
            reference: "R-0001".into(),
            shipments: "SHP-101, SHP-102".into(),
            name: "R-0001-SHP-101-SHP-102.zip".into(),
            tokens: 3,
            sha256: format!("{:0>64}", 3),
            size: i64::try_from(content("R-0001", &shipments).len()).unwrap(),
            state: FileState::Ready,
            downloads: 0,
            expires: None,
            created: SUBMIT,
            destroyed: None,
            password_hash: Some(PASSWORD_HASH.into()),
        }]
    );

    // Nothing changes a submitted request but its review; nothing is audited.
    let audited = events(store).await;
    let no_longer = "the request is submitted, no longer a draft";
    assert_eq!(
        wizard_refusals(store, id, "R-0001").await,
        [
            no_longer,
            no_longer,
            no_longer,
            no_longer,
            "the request is submitted; it cannot become submitted"
        ]
    );
    assert_eq!(
        refused(download(store, &files[0]).await),
        "the request is submitted"
    );
    assert_eq!(store.request(id).await.unwrap(), submitted);
    assert_eq!(store.files_of(id).await.unwrap(), files);
    assert_eq!(events(store).await, audited);
    assert!(store.outbox_due(SUBMIT, 10).await.unwrap().is_empty());
}

/// R-0004: wrong answers lock the draft at the limit; then nothing moves it.
async fn locking(store: &Store, fx: &Fixture) -> i64 {
    let id = start(store, fx, "R-0004").await;
    pick(store, id, "R-0004", &[(fx.shp_101, "serial 20001001")]).await;
    store
        .set_protection(
            id,
            "per-shipment",
            "password",
            Some(PASSWORD_SEALED),
            None,
            None,
            &req_ev(WIZARD, "request.protect", "R-0004"),
        )
        .await
        .unwrap();
    let (wrong_ev, lock_ev) = (
        req_ev(WIZARD, "request.wrong-answer", "R-0004"),
        req_ev(WIZARD, "request.lock", "R-0004"),
    );
    let wrong = |n: i64| store.count_wrong(id, n, LIMIT, &wrong_ev, &lock_ev);
    let before = events(store).await;
    assert_eq!(wrong(2).await.unwrap(), (2, false));
    assert_eq!(request_state(store, id).await, RequestState::Draft);
    assert_eq!(events(store).await, before + 1);
    assert_eq!(wrong(1).await.unwrap(), (3, true));
    assert_eq!(events(store).await, before + 3, "the answer and the lock");
    let locked = store.request(id).await.unwrap();
    assert_eq!(
        (locked.state, locked.wrong_answers, locked.has_password),
        (RequestState::Locked, 3, false)
    );
    assert_eq!(
        store.draft(&wizard_hash("R-0004"), WIZARD).await.unwrap(),
        None
    );
    assert_eq!(store.draft_password(id).await.unwrap(), None);
    assert_eq!(count(store, SECRETS_OF_REQUEST, &[id]).await, 0);

    // Every further change is refused and leaves no trace.
    let no_longer = "the request is locked, no longer a draft";
    assert_eq!(
        wizard_refusals(store, id, "R-0004").await,
        [
            no_longer,
            no_longer,
            no_longer,
            no_longer,
            "the request is locked; it cannot become submitted"
        ]
    );
    assert_eq!(store.request(id).await.unwrap(), locked);
    assert!(store.files_of(id).await.unwrap().is_empty());
    assert!(store.outbox_due(SUBMIT, 10).await.unwrap().is_empty());
    assert_eq!(events(store).await, before + 3);
    id
}

/// R-0001 approved: links and expiry for its file.
async fn approval(store: &Store, r1: i64) {
    let files = approve(store, r1, "R-0001", FILE_EXPIRY).await;
    let approved = store.request(r1).await.unwrap();
    assert_eq!(
        (approved.state, approved.reviewer.as_deref()),
        (RequestState::Approved, Some(REVIEWER))
    );
    assert_eq!(
        (
            approved.decided,
            approved.reason.as_deref(),
            approved.updated
        ),
        (Some(REVIEW), None, REVIEW)
    );
    let file = &files[0];
    assert_eq!(files.len(), 1);
    assert_eq!(
        (file.state, file.expires, file.downloads, file.destroyed),
        (FileState::Ready, Some(FILE_EXPIRY), 0, None)
    );
    // The links find the file by their hashes, and only by their own.
    let (download_link, confirm_link) = (download_hash("R-0001", 0), confirm_hash("R-0001", 0));
    let by_download = store.file_by_download(&download_link).await.unwrap();
    let by_confirm = store.file_by_confirm(&confirm_link).await.unwrap();
    assert_eq!(
        (by_download.as_ref(), by_confirm.as_ref()),
        (Some(file), Some(file))
    );
    assert_eq!(store.file_by_download(&confirm_link).await.unwrap(), None);
    assert_eq!(store.file_by_confirm(&download_link).await.unwrap(), None);
    assert_eq!(store.file_by_download("unknown").await.unwrap(), None);
}

/// R-0003 rejected (files withdrawn and destroyed); no second decision
/// on it or on the approved R-0001.
async fn rejection(store: &Store, fx: &Fixture, r1: i64, r4: i64) {
    let before = events(store).await;
    let approved = store.request(r1).await.unwrap();
    let files = store.files_of(r1).await.unwrap();
    // R-0003: submitted with two files; the reviewer sees who else asked
    // for SHP-101 (the locked R-0004 too).
    let r3 = submitted(store, fx, "R-0003", None, &[&["SHP-101"], &["SHP-102"]]).await;
    assert!(!store.request(r3).await.unwrap().has_password);
    let earlier = store.earlier_requests(r3, &[fx.shp_101]).await.unwrap();
    assert_eq!(
        earlier,
        [
            store.request(r4).await.unwrap(),
            store.request(r1).await.unwrap()
        ]
    );
    let earlier = store.earlier_requests(r3, &[fx.shp_201]).await.unwrap();
    assert!(earlier.is_empty());

    // Rejected: both files withdrawn, content and key destroyed.
    let reason = "the serials do not match our records";
    store
        .reject(
            r3,
            REVIEWER,
            reason,
            &[mail("R-0003 rejected")],
            &staff_ev(REVIEW, "request.reject", "R-0003"),
        )
        .await
        .unwrap();
    assert_eq!(take_mail(store, REVIEW).await, ["R-0003 rejected"]);
    let rejected = store.request(r3).await.unwrap();
    assert_eq!(
        (rejected.state, rejected.reviewer.as_deref()),
        (RequestState::Rejected, Some(REVIEWER))
    );
    assert_eq!(
        (rejected.decided, rejected.reason.as_deref()),
        (Some(REVIEW), Some(reason))
    );
    assert_eq!(
        file_states(store, r3).await,
        [
            (FileState::Withdrawn, 0, Some(REVIEW)),
            (FileState::Withdrawn, 0, Some(REVIEW)),
        ]
    );
    assert_eq!(count(store, CONTENT_OF_REQUEST, &[r3]).await, 0);
    let audited = events(store).await;
    assert_eq!(audited, before + 4, "start, pick, submit, reject");

    // No second decision, either way; the refusals change nothing.
    let again = async |r: i64, reference: &str| {
        store
            .approve(
                r,
                "other@vendor.example",
                &[],
                FILE_EXPIRY + DAY,
                &[mail("approved again")],
                &staff_ev(REVIEW, "request.approve", reference),
            )
            .await
    };
    let reject = async |r: i64, reference: &str| {
        store
            .reject(
                r,
                "other@vendor.example",
                "changed my mind",
                &[mail("rejected again")],
                &staff_ev(REVIEW, "request.reject", reference),
            )
            .await
    };
    assert_eq!(
        [
            refused(again(r1, "R-0001").await),
            refused(reject(r1, "R-0001").await),
            refused(again(r3, "R-0003").await),
            refused(reject(r3, "R-0003").await),
        ],
        [
            "the request is approved; it cannot become approved",
            "the request is approved; it cannot become rejected",
            "the request is rejected; it cannot become approved",
            "the request is rejected; it cannot become rejected",
        ]
    );
    assert_eq!(store.request(r1).await.unwrap(), approved);
    assert_eq!(store.files_of(r1).await.unwrap(), files);
    assert_eq!(store.request(r3).await.unwrap(), rejected);
    assert!(store.outbox_due(REVIEW, 10).await.unwrap().is_empty());
    assert_eq!(events(store).await, audited);
}

/// R-0001's one file downloaded twice and confirmed while the request is
/// still approved; then nothing more.
async fn delivery_of_one(store: &Store, r1: i64) {
    let file = store.files_of(r1).await.unwrap().remove(0);
    let sealed = content("R-0001", &["SHP-101", "SHP-102"]);
    for n in 1..=2 {
        assert_eq!(download(store, &file).await.unwrap(), sealed);
        assert_eq!(
            file_states(store, r1).await,
            [(FileState::Downloaded, n, None)]
        );
    }
    assert_eq!(request_state(store, r1).await, RequestState::Approved);
    // Its last file confirmed: the request is confirmed (by way of delivered).
    confirm(store, &file).await;
    assert_eq!(
        file_states(store, r1).await,
        [(FileState::Confirmed, 2, Some(DELIVERY))]
    );
    let request = store.request(r1).await.unwrap();
    assert_eq!(
        (request.state, request.updated),
        (RequestState::Confirmed, DELIVERY)
    );
    let audited = events(store).await;
    assert_eq!(
        [
            refused(download(store, &file).await),
            refused(confirm_again(store, &file).await),
            refused(deliver(store, r1, "R-0001").await),
        ],
        [
            "the request is confirmed",
            "the request is confirmed",
            "the request is confirmed; it cannot become delivered",
        ]
    );
    assert_eq!(count(store, CONTENT_OF_REQUEST, &[r1]).await, 0);
    assert_eq!(events(store).await, audited);
}

/// R-0002: one file per shipment, OpenPGP only; confirmed one by one,
/// delivered between them.
async fn delivery_of_two(store: &Store, fx: &Fixture) {
    let audited = events(store).await;
    let r2 = start(store, fx, "R-0002").await;
    let fingerprint = "0123456789ABCDEF0123456789ABCDEF01234567";
    store
        .set_protection(
            r2,
            "per-shipment",
            "pgp",
            None,
            Some("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
            Some(fingerprint),
            &req_ev(WIZARD, "request.protect", "R-0002"),
        )
        .await
        .unwrap();
    pick_and_submit(store, fx, r2, "R-0002", None, &[&["SHP-101"], &["SHP-102"]]).await;
    let r = store.request(r2).await.unwrap();
    assert_eq!(
        (r.split.as_str(), r.protection.as_deref(), r.has_password),
        ("per-shipment", Some("pgp"), false)
    );
    assert_eq!(r.pgp_fingerprint.as_deref(), Some(fingerprint));
    let files = approve(store, r2, "R-0002", FILE_EXPIRY).await;
    let (a, b) = (&files[0], &files[1]);
    assert_eq!(
        (a.shipments.as_str(), b.shipments.as_str(), &a.password_hash),
        ("SHP-101", "SHP-102", &None)
    );
    // A confirmed without a download: destroyed; the request waits for B.
    confirm(store, a).await;
    assert_eq!(request_state(store, r2).await, RequestState::Approved);
    assert_eq!(
        [
            refused(download(store, a).await),
            refused(confirm_again(store, a).await)
        ],
        [
            "the file no longer exists",
            "the file cannot become confirmed now"
        ]
    );
    deliver(store, r2, "R-0002").await.unwrap();
    assert_eq!(request_state(store, r2).await, RequestState::Delivered);
    assert_eq!(
        refused(deliver(store, r2, "R-0002").await),
        "the request is delivered; it cannot become delivered"
    );
    assert_eq!(
        download(store, b).await.unwrap(),
        content("R-0002", &["SHP-102"])
    );
    assert_eq!(request_state(store, r2).await, RequestState::Delivered);
    confirm(store, b).await;
    assert_eq!(request_state(store, r2).await, RequestState::Confirmed);
    assert_eq!(
        file_states(store, r2).await,
        [
            (FileState::Confirmed, 0, Some(DELIVERY)),
            (FileState::Confirmed, 1, Some(DELIVERY)),
        ]
    );
    assert_eq!(count(store, CONTENT_OF_REQUEST, &[r2]).await, 0);
    assert_eq!(
        references(store, &[RequestState::Confirmed]).await,
        ["R-0002", "R-0001"]
    );
    assert_eq!(
        events(store).await,
        audited + 9,
        "start, protection, pick, submit, approve, confirm, deliver, download, confirm"
    );
}

/// The sweep: expired files destroyed and their requests expired, old
/// drafts forgotten, the rest untouched; a second sweep does nothing.
async fn expiry(store: &Store, fx: &Fixture) {
    // R-0005: delivered, two files (one downloaded), expiring.
    let r5 = submitted(
        store,
        fx,
        "R-0005",
        Some(PASSWORD_HASH),
        &[&["SHP-101"], &["SHP-102"]],
    )
    .await;
    let r5_files = approve(store, r5, "R-0005", FILE_EXPIRY).await;
    download(store, &r5_files[0]).await.unwrap();
    deliver(store, r5, "R-0005").await.unwrap();
    // R-0006: a draft with picks, left behind.
    let r6 = start(store, fx, "R-0006").await;
    pick(store, r6, "R-0006", &[(fx.shp_101, "serial 20001001")]).await;
    // R-0007: approved, expiring much later.
    let r7 = submitted(store, fx, "R-0007", None, &[&["SHP-102"]]).await;
    let r7_file = approve(store, r7, "R-0007", FILE_EXPIRY + 30 * DAY)
        .await
        .remove(0);
    // R-0008: submitted, not reviewed (its file has no expiry yet).
    let r8 = submitted(store, fx, "R-0008", None, &[&["SHP-101"]]).await;

    let audited = events(store).await;
    let sweep = |at: i64| store.sweep_requests(at, SWEEPER);
    assert_eq!(sweep(DRAFT_EXPIRY - 1).await.unwrap(), swept(0, 0, 0));
    // The draft goes (only it: submitted and locked requests stay), with
    // its picks.
    assert_eq!(sweep(DRAFT_EXPIRY).await.unwrap(), swept(0, 0, 1));
    assert!(matches!(
        store.request(r6).await,
        Err(Error::NotFound {
            what: "request",
            ..
        })
    ));
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) AS n FROM request_shipment WHERE request_id = $1",
            &[r6]
        )
        .await,
        0
    );
    // Files one second before their expiry, at it, then once more.
    assert_eq!(sweep(FILE_EXPIRY - 1).await.unwrap(), swept(0, 0, 0));
    assert_eq!(events(store).await, audited, "drafts go without events");
    assert_eq!(sweep(FILE_EXPIRY).await.unwrap(), swept(2, 1, 0));
    assert_eq!(sweep(FILE_EXPIRY).await.unwrap(), swept(0, 0, 0));
    assert_eq!(
        sweep(FILE_EXPIRY + 30 * DAY).await.unwrap(),
        swept(1, 1, 0),
        "R-0007 in its turn"
    );
    assert_eq!(
        sweep(FILE_EXPIRY + 365 * DAY).await.unwrap(),
        swept(0, 0, 0)
    );
    // R-0005: both files destroyed, the download count kept; expired.
    assert_eq!(
        file_states(store, r5).await,
        [
            (FileState::Expired, 1, Some(FILE_EXPIRY)),
            (FileState::Expired, 0, Some(FILE_EXPIRY)),
        ]
    );
    assert_eq!(count(store, CONTENT_OF_REQUEST, &[r5]).await, 0);
    let request = store.request(r5).await.unwrap();
    assert_eq!(
        (request.state, request.updated),
        (RequestState::Expired, FILE_EXPIRY)
    );
    assert_eq!(
        refused(download(store, &r5_files[1]).await),
        "the request is expired"
    );
    assert_eq!(request_state(store, r7).await, RequestState::Expired);
    // The sweeper's events: each file, then its request.
    let sweeps = sweeper_events(store).await;
    let event = |action: &str, reference: &str, detail: String| {
        (action.to_owned(), format!("request:{reference}"), detail)
    };
    assert_eq!(
        sweeps,
        [
            event("file.expire", "R-0005", format!("file {}", r5_files[0].id)),
            event("file.expire", "R-0005", format!("file {}", r5_files[1].id)),
            event("request.expire", "R-0005", String::new()),
            event("file.expire", "R-0007", format!("file {}", r7_file.id)),
            event("request.expire", "R-0007", String::new()),
        ]
    );
    assert_eq!(events(store).await, audited + 5);
    // Untouched: the submitted R-0008 and the locked R-0004.
    assert_eq!(request_state(store, r8).await, RequestState::Submitted);
    assert_eq!(file_states(store, r8).await, [(FileState::Ready, 0, None)]);
    assert_eq!(references(store, &[RequestState::Locked]).await, ["R-0004"]);
    assert!(store.outbox_due(i64::MAX, 10).await.unwrap().is_empty());
}

/// The outbox: a failed mail waits for its next attempt; a sent one goes.
async fn outbox(store: &Store) {
    const AT: i64 = DELIVERY + HOUR;
    store
        .queue_mail(&[mail("lock notice"), mail("second notice")], AT)
        .await
        .unwrap();
    let due = store.outbox_due(AT, 10).await.unwrap();
    let texts: Vec<&[u8]> = due.iter().map(|m| m.sealed.as_slice()).collect();
    assert_eq!(
        texts,
        [b"lock notice".as_slice(), b"second notice".as_slice()]
    );
    assert!(store.outbox_due(AT - 1, 10).await.unwrap().is_empty());
    assert_eq!(store.outbox_due(AT, 1).await.unwrap(), [due[0].clone()]);
    let (first, second) = (due[0].id, due[1].id);

    store
        .outbox_failed(first, "421 try again later", AT + 300)
        .await
        .unwrap();
    let due = async |at: i64| -> Vec<(i64, i64)> {
        let mails = store.outbox_due(at, 10).await.unwrap();
        mails.into_iter().map(|m| (m.id, m.attempts)).collect()
    };
    assert_eq!(due(AT).await, [(second, 0)]);
    assert_eq!(due(AT + 299).await, [(second, 0)]);
    assert_eq!(due(AT + 300).await, [(first, 1), (second, 0)]);
    let last_error: Option<String> =
        sqlx::query("SELECT last_error FROM mail_outbox WHERE id = $1")
            .bind(first)
            .fetch_one(store.pool())
            .await
            .unwrap()
            .try_get("last_error")
            .unwrap();
    assert_eq!(last_error.as_deref(), Some("421 try again later"));

    store.outbox_sent(second).await.unwrap();
    assert_eq!(due(AT + 300).await, [(first, 1)]);
    store.outbox_sent(first).await.unwrap();
    assert!(due(i64::MAX).await.is_empty());
}

/// No content or key of a destroyed file is left in the database, and the
/// audit chain of all the above verifies.
async fn nothing_left(store: &Store) {
    let holding = count(
        store,
        "SELECT COUNT(*) AS n FROM delivery_file \
         WHERE content_sealed IS NOT NULL OR key_wrapped IS NOT NULL",
        &[],
    )
    .await;
    let open = count(
        store,
        "SELECT COUNT(*) AS n FROM delivery_file WHERE state IN ('ready', 'downloaded')",
        &[],
    )
    .await;
    assert_eq!((holding, open), (1, 1), "only R-0008's file holds content");
    let undated = count(
        store,
        "SELECT COUNT(*) AS n FROM delivery_file \
         WHERE state NOT IN ('ready', 'downloaded') AND destroyed IS NULL",
        &[],
    )
    .await;
    assert_eq!(undated, 0);

    let check = store.audit_verify().await.unwrap();
    assert_eq!(
        check.events, 61,
        "inventory 10, wizard 8, locking 6, review 5, delivery 12, expiry 20; \
         refusals and drafts' deletion leave none"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portal").join("oathvault.db");
    let store = Store::open(file.to_str().unwrap()).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    suite(&store).await;
    no_trace_in_the_file(&store, &file).await;
    store.close().await;
}

/// The SQLite file and its write-ahead log hold no byte of a destroyed
/// file's content or key (`secure_delete`, and the log checkpointed and
/// truncated after each destruction), while the file still holding content
/// is found there (so the search can find what it looks for).
async fn no_trace_in_the_file(store: &Store, file: &std::path::Path) {
    store.scrub().await.unwrap();
    let mut bytes = std::fs::read(file).unwrap();
    bytes.extend(std::fs::read(file.with_extension("db-wal")).unwrap_or_default());
    let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let rows = sqlx::query(
        "SELECT r.reference, f.shipments, f.state FROM delivery_file f \
         JOIN seed_request r ON r.id = f.request_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut gone = 0;
    for row in &rows {
        let reference: String = row.try_get("reference").unwrap();
        let shipments: String = row.try_get("shipments").unwrap();
        let state: String = row.try_get("state").unwrap();
        let numbers: Vec<&str> = shipments.split(", ").collect();
        let (c, k) = (
            content(&reference, &numbers),
            key_wrapped(&reference, &numbers),
        );
        if matches!(state.as_str(), "ready" | "downloaded") {
            assert!(
                holds(&c) && holds(&k),
                "{reference} {shipments} should be there"
            );
        } else {
            assert!(
                !holds(&c),
                "{reference} {shipments} ({state}): content left in the file"
            );
            assert!(
                !holds(&k),
                "{reference} {shipments} ({state}): key left in the file"
            );
            gone += 1;
        }
    }
    assert!(gone >= 5, "{gone} destroyed files checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let pg = TempPostgres::start();
    let store = Store::open(pg.url()).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    suite(&store).await;
    store.close().await;
}

/// Two senders (two portal processes) never get the same mail; a claim
/// that is not settled comes back when its lease runs out.
#[tokio::test]
async fn claimed_mail_goes_to_one_sender_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("p.db").to_str().unwrap())
        .await
        .unwrap();
    store
        .queue_mail(&[mail("one"), mail("two"), mail("three")], NOW)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.outbox_claim(NOW, 10, 300),
        store.outbox_claim(NOW, 10, 300)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut ids: Vec<i64> = a.iter().chain(&b).map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (a.len() + b.len(), ids.len()),
        (3, 3),
        "each mail claimed once"
    );
    assert!(
        store
            .outbox_claim(NOW + 299, 10, 300)
            .await
            .unwrap()
            .is_empty()
    );
    store.outbox_sent(ids[0]).await.unwrap();
    assert_eq!(
        store.outbox_claim(NOW + 300, 10, 300).await.unwrap().len(),
        2
    );
}
