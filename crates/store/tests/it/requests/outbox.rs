//! The mail outbox: retries, and one sender per mail.

use crate::test_keys;
use oathvault_store::Store;

use super::fixture::{DELIVERY, HOUR, NOW, mail};

/// The outbox: a failed mail waits for its next attempt; a sent one goes.
pub(super) async fn outbox(store: &Store) {
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
        sqlx::query_scalar("SELECT last_error FROM mail_outbox WHERE id = $1")
            .bind(first)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(last_error.as_deref(), Some("421 try again later"));

    store.outbox_sent(second).await.unwrap();
    assert_eq!(due(AT + 300).await, [(first, 1)]);
    store.outbox_sent(first).await.unwrap();
    assert!(due(i64::MAX).await.is_empty());
}

/// Two senders (two portal processes) never get the same mail; a claim
/// that is not settled comes back when its lease runs out.
#[tokio::test]
async fn claimed_mail_goes_to_one_sender_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("p.db").to_str().unwrap(),
        &test_keys(),
        &mut oathvault_vault::random::os(),
    )
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
