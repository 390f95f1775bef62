//! The store's behaviour, the same on SQLite and on a real PostgreSQL
//! (a throwaway cluster; `scripts/test` installs the server).

use crate::test_keys;
use oathvault_store::{Backend, Error, Event, NewToken, Role, Store};
use oathvault_testkit::golden;
use oathvault_testkit::golden::assert_no_secret;
use oathvault_testkit::postgres::TempPostgres;
use oathvault_vault::{DataKey, Keyring};
use rand08::SeedableRng;
use rand08::rngs::StdRng;

const NOW: i64 = 1_795_696_620;

fn ev(action: &str, subject: &str) -> Event {
    Event::ok(NOW, "cli:test", "cli", action, subject)
}

fn sealed_tokens(key: &DataKey, rng: &mut StdRng, shipment: &str) -> Vec<NewToken> {
    golden::entra()
        .iter()
        .map(|t| NewToken {
            serial: t.serial.as_str().to_owned(),
            kind: "totp".into(),
            hash: "sha1".into(),
            digits: 6,
            step: Some(30),
            t0: Some(0),
            counter: None,
            manufacturer: Some("Example".into()),
            model: Some("C200".into()),
            sealed: key.seal(rng, shipment, t.serial.as_str(), t.secret.expose()),
        })
        .collect()
}

/// Every behaviour, on one backend.
async fn suite(store: &Store) {
    let mut rng = StdRng::seed_from_u64(1);
    let master = Keyring::generate(&mut rng);
    inventory(store, &master, &mut rng).await;
    rotation(store, &master, &mut rng).await;
    staff_and_audit(store).await;
    gauges(store).await;
}

/// What `/metrics` reads: the mail queue, its oldest age and failures,
/// files awaiting download, locked staff (after `staff_and_audit`).
async fn gauges(store: &Store) {
    let t = 1_800_000_000;
    let none = store.gauges(t).await.unwrap();
    assert_eq!(none, oathvault_store::Gauges::default());
    store
        .queue_mail(&[vec![1], vec![2]], t - 300)
        .await
        .unwrap();
    store.queue_mail(&[vec![3]], t - 10).await.unwrap();
    let due = store.outbox_due(t, 1).await.unwrap();
    store
        .outbox_failed(due[0].id, "refused", t + 60)
        .await
        .unwrap();
    let admin = store
        .staff_by_email("admin@vendor.example")
        .await
        .unwrap()
        .unwrap();
    let at_once = oathvault_store::lockout::Lockout {
        after: 1,
        seconds: 60,
    };
    store.signin_failed(admin.id, t, &at_once).await.unwrap();
    let g = store.gauges(t).await.unwrap();
    assert_eq!(
        (
            g.mail_queued,
            g.mail_failing,
            g.mail_oldest_age,
            g.staff_locked
        ),
        (3, 1, 300, 1),
        "{g:?}"
    );
    assert_eq!(g.files_awaiting_download, 0);
    // The lock ends: no longer counted.
    assert_eq!(store.gauges(t + 61).await.unwrap().staff_locked, 0);
}

/// Customers, orders, shipments, an import and its refusal, sealed secrets.
async fn inventory(store: &Store, master: &Keyring, rng: &mut StdRng) {
    store
        .add_customer(
            "Example Ltd",
            &["IT@Example.com".into()],
            &ev("customer.add", "Example Ltd"),
        )
        .await
        .unwrap();
    let again = store
        .add_customer("Example Ltd", &[], &ev("customer.add", "Example Ltd"))
        .await;
    assert!(
        matches!(
            again,
            Err(Error::Exists {
                what: "customer",
                ..
            })
        ),
        "{again:?}"
    );
    let customers = store.customers().await.unwrap();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].emails, vec!["it@example.com".to_owned()]);

    let missing = store
        .add_order("Nobody", "PO-1", &[], &ev("order.add", "PO-1"))
        .await;
    assert!(matches!(
        missing,
        Err(Error::NotFound {
            what: "customer",
            ..
        })
    ));
    store
        .add_order(
            "Example Ltd",
            "PO-1",
            &["INV-9".into()],
            &ev("order.add", "PO-1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.orders().await.unwrap()[0].invoices,
        vec!["INV-9".to_owned()]
    );

    let data = DataKey::generate(rng);
    let wrapped = master.wrap(rng, &data, "SHP-1");
    let ship = store
        .add_shipment(
            "PO-1",
            "SHP-1",
            Some("2026-11-20"),
            &wrapped,
            &master.id(),
            &ev("shipment.add", "SHP-1"),
        )
        .await
        .unwrap();
    let wrong_order = store.shipment_key("PO-2", "SHP-1").await;
    assert!(matches!(wrong_order, Err(Error::NotFound { .. })));

    let tokens = sealed_tokens(&data, rng, "SHP-1");
    let report = store
        .import_tokens(ship, &tokens, &ev("import", "SHP-1"))
        .await
        .unwrap();
    assert_eq!(report.imported, 2);
    // The same serials again: refused, every one named, nothing added.
    let dup = store
        .import_tokens(ship, &tokens, &ev("import", "SHP-1"))
        .await;
    match dup {
        Err(Error::DuplicateSerials(s)) => {
            assert_eq!(s, vec!["10001001".to_owned(), "10001002".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    let shipments = store.shipments().await.unwrap();
    assert_eq!(
        (shipments[0].tokens, shipments[0].models.clone()),
        (2, vec!["C200".to_owned()])
    );

    // Sealed secrets open with the unwrapped data key, bound to their serial.
    let key = store.shipment_key("PO-1", "SHP-1").await.unwrap();
    let data_again = master.unwrap(&key.wrapped_key, "SHP-1").unwrap();
    for (row, t) in store
        .tokens_of(ship)
        .await
        .unwrap()
        .iter()
        .zip(golden::entra())
    {
        let plain = data_again.open("SHP-1", &row.serial, &row.sealed).unwrap();
        assert_eq!(plain.as_slice(), t.secret.expose());
    }
}

/// Rotation: re-wrapped under a new master key, the old one no longer opens.
async fn rotation(store: &Store, master: &Keyring, rng: &mut StdRng) {
    let new_master = Keyring::generate(rng);
    let mut keys = store.shipment_keys().await.unwrap();
    for k in &mut keys {
        let dk = master.unwrap(&k.wrapped_key, &k.number).unwrap();
        k.wrapped_key = new_master.wrap(rng, &dk, &k.number);
        k.master_key_id = new_master.id();
    }
    store
        .rewrap(&keys, &ev("rotate-key", "all shipments"))
        .await
        .unwrap();
    let key = store.shipment_key("PO-1", "SHP-1").await.unwrap();
    assert_eq!(key.master_key_id, new_master.id());
    assert!(master.unwrap(&key.wrapped_key, "SHP-1").is_err());
    assert!(new_master.unwrap(&key.wrapped_key, "SHP-1").is_ok());
}

/// Staff, then the audit chain of everything above, and tampering with it.
async fn staff_and_audit(store: &Store) {
    store
        .add_staff(
            "Admin@Vendor.example",
            "Ada",
            Some(Role::Administrator),
            None,
            "$argon2id$stub",
            None,
            &ev("staff.add", "admin"),
        )
        .await
        .unwrap();
    assert_eq!(store.administrators().await.unwrap(), 1);
    let admin = store
        .staff_by_email("admin@vendor.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.role, Some(Role::Administrator));
    assert_eq!(admin.desk_role, None);
    assert!(!format!("{admin:?}").contains("argon2"));

    // Every change above was audited, and the chain verifies.
    let check = store.audit_verify().await.unwrap();
    assert_eq!(
        check.events, 6,
        "customer, order, shipment, import, rotate, staff; refusals roll back"
    );
    let events = store.audit_events(Some("SHP-1"), 10).await.unwrap();
    assert_eq!(events.len(), 2);

    // Tampering with an event, or removing the newest, breaks the chain.
    sqlx::query("UPDATE audit SET detail = 'edited' WHERE seq = 3")
        .execute(store.pool())
        .await
        .unwrap();
    let broken = store.audit_verify().await;
    assert!(
        matches!(broken, Err(Error::AuditBroken { seq: 3, .. })),
        "{broken:?}"
    );
    sqlx::query("UPDATE audit SET detail = '' WHERE seq = 3")
        .execute(store.pool())
        .await
        .unwrap();
    store.audit_verify().await.unwrap();
    sqlx::query("DELETE FROM audit WHERE seq = 6")
        .execute(store.pool())
        .await
        .unwrap();
    let cut = store.audit_verify().await;
    assert!(matches!(cut, Err(Error::AuditBroken { .. })), "{cut:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portal").join("oathvault.db");
    let store = Store::open(
        file.to_str().unwrap(),
        &test_keys(),
        &mut oathvault_vault::random::os(),
    )
    .await
    .unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    suite(&store).await;
    store.close().await;
    // Sealing: no secret in the database file (nor a WAL left beside it).
    let mut bytes = std::fs::read(&file).unwrap();
    for extra in ["oathvault.db-wal", "oathvault.db-shm"] {
        if let Ok(b) = std::fs::read(dir.path().join("portal").join(extra)) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 4096);
    assert_no_secret(&bytes, "the SQLite file");
    // Reopening applies no migration twice and keeps the data.
    let store = Store::open(
        file.to_str().unwrap(),
        &test_keys(),
        &mut oathvault_vault::random::os(),
    )
    .await
    .unwrap();
    assert_eq!(store.customers().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let pg = TempPostgres::start();
    let store = Store::open(pg.url(), &test_keys(), &mut oathvault_vault::random::os())
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    suite(&store).await;
    store.close().await;
    let dump = pg.dump();
    assert!(dump.contains("Example Ltd"), "the dump holds the data");
    assert_no_secret(dump.as_bytes(), "pg_dump");
}
