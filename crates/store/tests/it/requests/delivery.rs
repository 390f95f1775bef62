//! Downloads, confirmation, expiry, and nothing left of destroyed files.

use oathvault_store::{Error, FileState, RequestState, Store};

use super::fixture::{
    CONTENT_OF_REQUEST, DAY, DELIVERY, DRAFT_EXPIRY, FILE_EXPIRY, Fixture, PASSWORD_HASH, SWEEPER,
    WIZARD, approve, confirm, confirm_again, content, count, deliver, download, events,
    file_states, pick, pick_and_submit, references, refused, req_ev, request_state, start,
    submitted, sweeper_events, swept,
};

/// R-0001's one file downloaded twice and confirmed while the request is
/// still approved; then nothing more.
pub(super) async fn delivery_of_one(store: &Store, r1: i64) {
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
pub(super) async fn delivery_of_two(store: &Store, fx: &Fixture) {
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
pub(super) async fn expiry(store: &Store, fx: &Fixture) {
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

/// No content or key of a destroyed file is left in the database, and the
/// audit chain of all the above verifies.
pub(super) async fn nothing_left(store: &Store) {
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
