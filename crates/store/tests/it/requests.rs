//! Seed requests and their delivery files (`portal.md`: "Customer journey",
//! "Delivery and deletion", "States"): finding the order, the wizard's
//! draft, locking, submission, review, downloads, confirmation, expiry and
//! the mail outbox — the same on SQLite and on a real PostgreSQL (a
//! throwaway cluster; `scripts/test` installs the server).
//!
//! One story over one inventory per backend (`suite`), told in sections:
//! `drafts`, `review`, `delivery` and `outbox`; `fixture` holds the
//! inventory, the times and the steps they share.

mod delivery;
mod drafts;
mod fixture;
mod outbox;
mod review;

use crate::test_keys;
use oathvault_store::{Backend, Store};
use oathvault_testkit::postgres::TempPostgres;

use fixture::{content, events, inventory, key_wrapped};

/// Every behaviour, on one backend.
async fn suite(store: &Store) {
    let fx = inventory(store).await;
    assert_eq!(events(store).await, 10);
    drafts::finding_orders(store, &fx).await;
    drafts::shipments_and_serials(store, &fx).await;
    let before = events(store).await;
    let (r1, ready) = drafts::wizard(store, &fx).await;
    drafts::submission(store, r1, ready).await;
    assert_eq!(
        events(store).await - before,
        8,
        "start, 3 picks, protection, format, wrong answer, submit"
    );
    let r4 = drafts::locking(store, &fx).await;
    review::approval(store, r1).await;
    review::rejection(store, &fx, r1, r4).await;
    delivery::delivery_of_one(store, r1).await;
    delivery::delivery_of_two(store, &fx).await;
    delivery::expiry(store, &fx).await;
    outbox::outbox(store).await;
    delivery::nothing_left(store).await;
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
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT r.reference, f.shipments, f.state FROM delivery_file f \
         JOIN seed_request r ON r.id = f.request_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut gone = 0;
    for (reference, shipments, state) in rows {
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
    let store = Store::open(pg.url(), &test_keys(), &mut oathvault_vault::random::os())
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    suite(&store).await;
    store.close().await;
}
