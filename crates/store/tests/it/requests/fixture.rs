//! The inventory every section uses, the times they run at, and the
//! steps they take (each a whole transaction through the store).

use oathvault_store::{
    AuditFilter, DeliveryFile, Error, Event, FileLinks, FileState, NewDraft, NewFile, NewToken,
    RequestState, Store, Swept,
};

/// The inventory is set up at this time; drafts start at it.
pub(super) const NOW: i64 = 1_795_696_620;
pub(super) const HOUR: i64 = 3_600;
pub(super) const DAY: i64 = 86_400;
/// Wizard steps.
pub(super) const WIZARD: i64 = NOW + 60;
/// Submissions.
pub(super) const SUBMIT: i64 = NOW + 600;
/// A draft is forgotten at this time.
pub(super) const DRAFT_EXPIRY: i64 = NOW + HOUR;
/// Reviews (after the drafts' expiry: a submitted request does not expire).
pub(super) const REVIEW: i64 = NOW + 2 * HOUR;
/// Downloads and confirmations.
pub(super) const DELIVERY: i64 = NOW + DAY;
/// Files approved at `REVIEW` expire at this time.
pub(super) const FILE_EXPIRY: i64 = REVIEW + 7 * DAY;
/// Wrong answers that lock a draft.
pub(super) const LIMIT: i64 = 3;

pub(super) const CUSTOMER_IP: &str = "192.0.2.10";
pub(super) const REVIEWER: &str = "reviewer@vendor.example";
pub(super) const SWEEPER: &str = "system:sweeper";
pub(super) const PASSWORD_SEALED: &[u8] = b"password sealed under the master key";
pub(super) const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$stub";

/// Row ids of the inventory every section uses.
pub(super) struct Fixture {
    /// PO-100 of Example Ltd (contacts it@ and ops@example.com).
    pub(super) order: i64,
    /// PO-200 of `Other GmbH` (contact buyer@other.example).
    pub(super) other_order: i64,
    /// SHP-101 of PO-100: serials 20001001, 20001002.
    pub(super) shp_101: i64,
    /// SHP-102 of PO-100: serial 20002001.
    pub(super) shp_102: i64,
    /// SHP-201 of PO-200: serial 30001001.
    pub(super) shp_201: i64,
}

pub(super) fn ev(at: i64, action: &str, subject: &str) -> Event {
    Event::ok(at, "cli:test", "cli", action, subject)
}

/// An event about a request, by the customer.
pub(super) fn req_ev(at: i64, action: &str, reference: &str) -> Event {
    Event::ok(
        at,
        "it@example.com",
        CUSTOMER_IP,
        action,
        &format!("request:{reference}"),
    )
}

/// An event about a request, by the delivery team.
pub(super) fn staff_ev(at: i64, action: &str, reference: &str) -> Event {
    Event::ok(
        at,
        REVIEWER,
        "198.51.100.7",
        action,
        &format!("request:{reference}"),
    )
}

pub(super) fn mail(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

pub(super) fn wizard_hash(reference: &str) -> String {
    format!("wizard-hash-{reference}")
}

pub(super) fn download_hash(reference: &str, i: usize) -> String {
    format!("download-hash-{reference}-{i}")
}

pub(super) fn confirm_hash(reference: &str, i: usize) -> String {
    format!("confirm-hash-{reference}-{i}")
}

/// The sealed content of a file (distinctive bytes).
pub(super) fn content(reference: &str, shipments: &[&str]) -> Vec<u8> {
    format!("CONTENT<{reference}:{}>", shipments.join("+")).into_bytes()
}

pub(super) fn key_wrapped(reference: &str, shipments: &[&str]) -> Vec<u8> {
    format!("WRAPPED-KEY<{reference}:{}>", shipments.join("+")).into_bytes()
}

pub(super) fn new_file(reference: &str, shipments: &[&str], tokens: i64) -> NewFile {
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
pub(super) fn refused<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Events in the audit chain (which verifies).
pub(super) async fn events(store: &Store) -> i64 {
    store.audit_verify().await.unwrap().events
}

/// The mail due at `at`, as text, marked sent.
pub(super) async fn take_mail(store: &Store, at: i64) -> Vec<String> {
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
pub(super) async fn count(store: &Store, sql: &'static str, binds: &[i64]) -> i64 {
    let mut q = sqlx::query_scalar(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_one(store.pool()).await.unwrap()
}

pub(super) async fn shipment(store: &Store, po: &str, number: &str, serials: &[&str]) -> i64 {
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
pub(super) async fn inventory(store: &Store) -> Fixture {
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
pub(super) async fn start(store: &Store, fx: &Fixture, reference: &str) -> i64 {
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

pub(super) async fn pick(store: &Store, id: i64, reference: &str, picks: &[(i64, &str)]) {
    let picks: Vec<(i64, String)> = picks.iter().map(|(s, e)| (*s, (*e).to_owned())).collect();
    store
        .set_picked(id, &picks, &req_ev(WIZARD, "request.verify", reference))
        .await
        .unwrap();
}

/// Submits at `SUBMIT`, queueing the customer's and the team's mail.
pub(super) async fn submit(
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
pub(super) async fn approve(
    store: &Store,
    id: i64,
    reference: &str,
    expires: i64,
) -> Vec<DeliveryFile> {
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

pub(super) async fn confirm(store: &Store, file: &DeliveryFile) {
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

pub(super) async fn download(store: &Store, file: &DeliveryFile) -> Result<Vec<u8>, Error> {
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
pub(super) async fn confirm_again(store: &Store, f: &DeliveryFile) -> Result<(), Error> {
    store
        .confirm(
            f.id,
            &[mail("confirmed again")],
            &req_ev(DELIVERY, "file.confirm", &f.reference),
        )
        .await
}

/// Marks a request delivered at `DELIVERY`.
pub(super) async fn deliver(store: &Store, id: i64, reference: &str) -> Result<(), Error> {
    store
        .mark_delivered(id, &staff_ev(DELIVERY, "request.deliver", reference))
        .await
}

pub(super) async fn request_state(store: &Store, id: i64) -> RequestState {
    store.request(id).await.unwrap().state
}

/// The shipment ids of these numbers.
pub(super) fn shipment_ids(fx: &Fixture, numbers: &[&str]) -> Vec<i64> {
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
pub(super) fn tokens_in(numbers: &[&str]) -> i64 {
    numbers
        .iter()
        .map(|n| if *n == "SHP-101" { 2 } else { 1 })
        .sum()
}

/// Picks the shipments the files cover and submits one file per entry.
pub(super) async fn pick_and_submit(
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
pub(super) async fn submitted(
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
pub(super) async fn file_states(store: &Store, id: i64) -> Vec<(FileState, i64, Option<i64>)> {
    store
        .files_of(id)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.state, f.downloads, f.destroyed))
        .collect()
}

/// References of the requests in these states, newest change first.
pub(super) async fn references(store: &Store, states: &[RequestState]) -> Vec<String> {
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
pub(super) async fn wizard_refusals(store: &Store, id: i64, reference: &str) -> Vec<String> {
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
pub(super) async fn sweeper_events(store: &Store) -> Vec<(String, String, String)> {
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
pub(super) fn swept(files: u64, requests: u64, drafts: u64) -> Swept {
    Swept {
        files,
        requests,
        drafts,
    }
}

/// A request's files still holding content or key.
pub(super) const CONTENT_OF_REQUEST: &str = "SELECT COUNT(*) AS n FROM delivery_file WHERE request_id = $1 \
    AND (content_sealed IS NOT NULL OR key_wrapped IS NOT NULL)";

/// A request's sealed password or wizard cookie hash still stored.
pub(super) const SECRETS_OF_REQUEST: &str = "SELECT COUNT(*) AS n FROM seed_request WHERE id = $1 \
    AND (password_sealed IS NOT NULL OR wizard_hash IS NOT NULL)";
