//! Finding the order, the wizard's draft, submission and locking.

use oathvault_store::{
    DeliveryFile, FileState, OrderMatch, PickedShipment, Request, RequestState, Store,
};

use super::fixture::{
    CUSTOMER_IP, DRAFT_EXPIRY, Fixture, LIMIT, NOW, PASSWORD_HASH, PASSWORD_SEALED,
    SECRETS_OF_REQUEST, SUBMIT, WIZARD, content, count, download, events, new_file, pick, refused,
    req_ev, request_state, start, submit, wizard_hash, wizard_refusals,
};

/// `find_order`: by PO, invoice or shipment number with a contact's e-mail
/// (any case); every kind of miss is `None`.
pub(super) async fn finding_orders(store: &Store, fx: &Fixture) {
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
pub(super) async fn shipments_and_serials(store: &Store, fx: &Fixture) {
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
pub(super) async fn wizard(store: &Store, fx: &Fixture) -> (i64, Request) {
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
pub(super) async fn picking(store: &Store, fx: &Fixture, id: i64) {
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
pub(super) async fn submission(store: &Store, id: i64, ready: Request) {
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
pub(super) async fn locking(store: &Store, fx: &Fixture) -> i64 {
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
