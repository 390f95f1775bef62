//! The review: approval and rejection.

use oathvault_store::{FileState, RequestState, Store};

use super::fixture::{
    CONTENT_OF_REQUEST, DAY, FILE_EXPIRY, Fixture, REVIEW, REVIEWER, approve, confirm_hash, count,
    download_hash, events, file_states, mail, refused, staff_ev, submitted, take_mail,
};

/// R-0001 approved: links and expiry for its file.
pub(super) async fn approval(store: &Store, r1: i64) {
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
pub(super) async fn rejection(store: &Store, fx: &Fixture, r1: i64, r4: i64) {
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
