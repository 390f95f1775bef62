//! People first: callers give their name, so the desk finds people and
//! their tokens by name — the users page with token counts, a person's
//! page with their tokens and history, a token given to them by its serial
//! from that page, and the inventory searched by a surname.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use crate::common::{golden, sign_in, start, status, upload_and_push};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_is_found_by_name_and_given_a_token_from_their_page() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.admin).await;
    upload_and_push(&s, &golden()).await;
    let ben = l
        .demo
        .users
        .iter()
        .find(|u| u.display_name == "Ben Okafor")
        .unwrap()
        .clone();

    // The users page finds him by surname and says he holds no token yet.
    let (st, page) = s.get("/users?q=okafor").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("Ben Okafor") && page.contains(&ben.upn),
        "{page}"
    );
    assert!(!page.contains("Amy Masters"), "{page}");
    let id = l.state.store.desk_user(&ben.upn).await.unwrap().unwrap().id;
    assert!(page.contains(&format!("href=\"/users/{id}\"")), "{page}");
    let (_, person) = s.get(&format!("/users/{id}")).await;
    assert!(person.contains("holds no hardware token"), "{person}");

    // From his page: the serial on the back of the token, no code.
    let r = s
        .post_raw(&format!("/users/{id}/assign"), "serial=10001002&code=")
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(
        status(&l, "10001002").await,
        Some(("assigned".to_owned(), Some(id.clone())))
    );
    let (_, person) = s.get(&format!("/users/{id}")).await;
    assert!(
        person.contains("10001002") && person.contains("assigned"),
        "{person}"
    );
    assert!(
        person.contains(&format!("to {}", ben.upn)),
        "the history: {person}"
    );
    let (_, users) = s.get("/users?q=okafor").await;
    assert!(
        users.contains(&format!("href=\"/tokens?user={id}\">1</a>")),
        "{users}"
    );

    // The inventory finds his token by his surname, and only his.
    let (_, found) = s.get("/tokens?q=Okafor").await;
    assert!(found.contains("1 of 1: 10001002"), "{found}");

    // A serial the tenant does not have, and a user the copy does not have.
    let (st, page) = s
        .post(&format!("/users/{id}/assign"), "serial=&code=")
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("serial printed on the back"), "{page}");
    let (st, page) = s.get("/users/nobody-here").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(page.contains("Search for them by name"), "{page}");

    // A viewer sees the page but no form to give tokens.
    let v = sign_in(&l, &l.viewer).await;
    let (st, page) = v.get(&format!("/users/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(!page.contains("/assign\""), "{page}");
    let r = v
        .post_raw(&format!("/users/{id}/assign"), "serial=10001001&code=")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
