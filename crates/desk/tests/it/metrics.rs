//! `/metrics` on the desk and the directory, both serving on loopback:
//! push results and requests are counted, labels are route templates
//! (never a serial, a user or a seed), a forwarded request is refused.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use crate::common::{golden, sign_in, start, upload_and_push};
use reqwest::StatusCode;

async fn scrape(base: &str, forwarded: bool) -> (StatusCode, String) {
    let mut r = reqwest::Client::new().get(format!("{base}/metrics"));
    if forwarded {
        r = r.header("x-forwarded-for", "198.51.100.7");
    }
    let r = r.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The value of the sample whose line starts with `series`, as written.
fn value<'a>(text: &'a str, series: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_results_and_graph_calls_are_counted_without_serials_or_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.admin).await;
    let tokens = golden();
    upload_and_push(&s, &tokens).await;
    // The same file again: every token is there already.
    upload_and_push(&s, &tokens).await;
    // A wrong password on the desk's sign-in.
    let r = reqwest::Client::new()
        .post(format!("{}/signin", l.desk))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("email", l.admin.email.as_str()),
            ("password", "wrong-wrong-wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (status, desk) = scrape(&l.desk, false).await;
    assert_eq!(status, StatusCode::OK, "{desk}");
    let n = tokens.len().to_string();
    assert_eq!(
        value(
            &desk,
            "oathvault_push_results_total{app=\"desk\",result=\"created\"}"
        ),
        n.as_str()
    );
    assert_eq!(
        value(
            &desk,
            "oathvault_push_results_total{app=\"desk\",result=\"exists\"}"
        ),
        n.as_str()
    );
    assert_eq!(
        value(
            &desk,
            "oathvault_push_results_total{app=\"desk\",result=\"failed\"}"
        ),
        "0"
    );
    assert_eq!(
        value(
            &desk,
            "oathvault_signin_refusals_total{app=\"desk\",step=\"password\",reason=\"wrong\"}"
        ),
        "1"
    );
    assert!(desk.contains("route=\"/upload/{id}\""), "{desk}");
    assert_eq!(value(&desk, "oathvault_staff_locked{app=\"desk\"}"), "0");

    let (status, dir) = scrape(&l.directory, false).await;
    assert_eq!(status, StatusCode::OK, "{dir}");
    assert!(
        dir.contains("app=\"directory\",route=\"/{tenant}/oauth2/v2.0/token\""),
        "{dir}"
    );
    assert_eq!(
        value(&dir, "oathvault_directory_users_locked{app=\"directory\"}"),
        "0"
    );

    for t in &tokens {
        let serial = t.serial.as_str();
        assert!(
            !desk.contains(serial) && !dir.contains(serial),
            "serial {serial} in a label"
        );
    }
    for secret in [
        "3132333435363738393031323334353637383930",
        "GEZDGNBVGY3TQOJQ",
        &l.demo.users[0].upn,
        &l.admin.email,
    ] {
        assert!(
            !desk.contains(secret) && !dir.contains(secret),
            "{secret} in a label"
        );
    }
    // Forwarded from elsewhere by a proxy on this machine: refused.
    assert_eq!(scrape(&l.desk, true).await.0, StatusCode::NOT_FOUND);
    assert_eq!(scrape(&l.directory, true).await.0, StatusCode::NOT_FOUND);
}
