//! What the desk and the directory log, at the most verbose level, while an
//! operator signs in, uploads the golden tokens (read, check, push), and
//! assigns, activates and replaces tokens: the events are there, and no
//! seed (in any encoding), password, session cookie or TOTP secret is.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failure is a failed test"
)]

use crate::common;

use common::{code_at, device_id, golden, now, sign_in, start, upload_and_push};
use oathvault_testkit::golden::assert_no_secret;
use oathvault_testkit::logs::LogSink;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_events_and_no_secret() {
    let sink = LogSink::default();
    let writer = sink.clone();
    // Global: the servers' tasks run on every worker thread. Global too
    // are the other tests of this binary running meanwhile: the browser
    // test's WebDriver client (thirtyfour) logs the keys it types, an
    // operator's password among them — the test harness's log, not the
    // desk's or the directory's, so it is left out.
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace,thirtyfour=off"))
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.admin).await;
    let page = upload_and_push(&s, &golden()).await;
    assert!(page.contains("2 created"), "{page}");
    let tokens = golden();
    let a = device_id(&l, "10001001").await;
    let user = l.demo.users[0].upn.clone();
    let code = code_at(&tokens[0], now());
    let (st, page) = s
        .post(
            &format!("/tokens/{a}/assign"),
            &format!("upn={user}&code={code}"),
        )
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{page}");
    let code_b = code_at(&tokens[1], now());
    let (st, page) = s
        .post(
            &format!("/tokens/{a}/replace"),
            &format!("serial=10001002&code={code_b}"),
        )
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{page}");

    let logs = sink.contents();
    let text = String::from_utf8_lossy(&logs);
    // The events are there (so the search below searched something).
    for event in ["inventory synced", "sign-in", "/tokens/", "/upload"] {
        assert!(text.contains(event), "no {event:?} in the logs:\n{text}");
    }
    assert_no_secret(&logs, "the desk's and the directory's logs");
    for (what, secret) in [
        ("an operator's password", l.admin.password.as_str()),
        ("an operator's TOTP secret", l.admin.totp.as_str()),
        ("the app's client secret", l.demo.client_secret.as_str()),
        ("the session cookie", s.cookie.split_once('=').unwrap().1),
    ] {
        assert!(!text.contains(secret), "{what} is in the logs");
    }
}
