//! `/metrics`: counts move with requests, labels are route templates
//! (never a link token a client sent), and only loopback callers that no
//! proxy forwarded, or a scraper with the bearer token, may read it.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests: a failure is a failed test"
)]

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use oathvault_portal::WebSettings;
use oathvault_portal::web::router;
use oathvault_web::{MetricsToken, TrustedProxies};
use tower::ServiceExt;

use crate::common::{ADMIN, T, app_with, req};

const TOKEN: &str = "metrics-token-0123456789abcdef";
const LINK_TOKEN: &str = "Zm9vYmFyLXNlY3JldC1saW5rLXRva2Vu";

fn metrics_req(peer: [u8; 4], extra: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder().uri("/metrics");
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    let mut r = b.body(Body::empty()).unwrap();
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
    r
}

async fn text(app: &axum::Router, r: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(r).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn token_file(dir: &std::path::Path) -> MetricsToken {
    let f = dir.join("metrics.token");
    std::fs::write(&f, format!("{TOKEN}\n")).unwrap();
    MetricsToken::read(&f).unwrap()
}

#[tokio::test]
async fn counts_move_by_route_template_and_no_token_reaches_a_label() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_with(WebSettings {
        metrics_token: Some(token_file(tmp.path())),
        ..WebSettings::default()
    })
    .await;
    let r = router(app.state.clone());
    let (s, before) = text(&r, metrics_req([127, 0, 0, 1], &[])).await;
    assert_eq!(s, StatusCode::OK, "{before}");
    assert!(!before.contains("route=\"/healthz\""), "{before}");

    for _ in 0..3 {
        assert_eq!(
            text(&r, req("GET", "/healthz", None, None)).await.0,
            StatusCode::OK
        );
    }
    // A download link with its token in the path, and one nobody routes.
    text(&r, req("GET", &format!("/d/{LINK_TOKEN}"), None, None)).await;
    text(
        &r,
        req("GET", &format!("/nowhere/{LINK_TOKEN}"), None, None),
    )
    .await;
    // Two wrong passwords.
    for _ in 0..2 {
        let form = format!("email={ADMIN}&password=wrong+{LINK_TOKEN}");
        let (s, _) = text(&r, req("POST", "/signin", None, Some(form))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Mail waiting for 100 seconds, and a locked staff member.
    app.state
        .store
        .queue_mail(&[vec![1, 2, 3]], T - 100)
        .await
        .unwrap();
    let ada = app
        .state
        .store
        .staff_by_email(ADMIN)
        .await
        .unwrap()
        .unwrap();
    let lock_now = oathvault_store::lockout::Lockout {
        after: 1,
        seconds: 60,
    };
    app.state
        .store
        .signin_failed(ada.id, T, &lock_now)
        .await
        .unwrap();

    let (s, after) = text(&r, metrics_req([127, 0, 0, 1], &[])).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        after.contains("oathvault_http_requests_total{app=\"portal\",route=\"/healthz\",method=\"GET\",status=\"200\"} 3"),
        "{after}"
    );
    assert!(after.contains("route=\"/d/{token}\""), "{after}");
    assert!(after.contains("route=\"unmatched\""), "{after}");
    assert!(
        after.contains(
            "oathvault_http_request_duration_seconds_count{app=\"portal\",route=\"/healthz\"} 3"
        ),
        "{after}"
    );
    assert!(
        after.contains(
            "oathvault_signin_refusals_total{app=\"portal\",step=\"password\",reason=\"wrong\"} 2"
        ),
        "{after}"
    );
    assert!(
        after.contains("oathvault_mail_queue{app=\"portal\"} 1\n"),
        "{after}"
    );
    assert!(
        after.contains("oathvault_mail_queue_oldest_age_seconds{app=\"portal\"} 100\n"),
        "{after}"
    );
    assert!(
        after.contains("oathvault_staff_locked{app=\"portal\"} 1\n"),
        "{after}"
    );
    assert!(
        after.contains("oathvault_files_awaiting_download{app=\"portal\"} 0\n"),
        "{after}"
    );
    assert!(
        after.contains("oathvault_scrape_errors{app=\"portal\"} 0\n"),
        "{after}"
    );
    // Nothing a client sent, and no secret, is in the text.
    for secret in [LINK_TOKEN, "correct horse", TOKEN, ADMIN, "nowhere"] {
        assert!(!after.contains(secret), "{secret} in {after}");
    }
}

/// A peer, the headers it sends, the answer it gets.
type Case<'a> = ([u8; 4], Vec<(&'a str, &'a str)>, StatusCode);

#[tokio::test]
async fn only_loopback_unforwarded_or_the_bearer_token_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_with(WebSettings {
        metrics_token: Some(token_file(tmp.path())),
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1".into()]).unwrap(),
        ..WebSettings::default()
    })
    .await;
    let r = router(app.state.clone());
    let bearer = format!("Bearer {TOKEN}");
    let cases: [Case<'_>; 7] = [
        ([127, 0, 0, 1], vec![], StatusCode::OK),
        ([203, 0, 113, 9], vec![], StatusCode::NOT_FOUND),
        // From the internet through the trusted proxy: not loopback.
        (
            [127, 0, 0, 1],
            vec![("x-forwarded-for", "198.51.100.7")],
            StatusCode::NOT_FOUND,
        ),
        // A forged "I am local" through the proxy: the proxy's own entry wins.
        (
            [127, 0, 0, 1],
            vec![("x-forwarded-for", "127.0.0.1, 198.51.100.7")],
            StatusCode::NOT_FOUND,
        ),
        (
            [203, 0, 113, 9],
            vec![(header::AUTHORIZATION.as_str(), bearer.as_str())],
            StatusCode::OK,
        ),
        (
            [203, 0, 113, 9],
            vec![(
                header::AUTHORIZATION.as_str(),
                "Bearer metrics-token-0123456789abcdeX",
            )],
            StatusCode::NOT_FOUND,
        ),
        (
            [127, 0, 0, 1],
            vec![(header::AUTHORIZATION.as_str(), "Bearer nope-nope-nope-nope")],
            StatusCode::NOT_FOUND,
        ),
    ];
    for (peer, headers, want) in cases {
        let (s, body) = text(&r, metrics_req(peer, &headers)).await;
        assert_eq!(s, want, "{peer:?} {headers:?}");
        if want == StatusCode::NOT_FOUND {
            assert!(!body.contains("oathvault_"), "{body}");
        }
    }
    // With no proxy trusted, a proxy on this machine forwarding a request
    // still does not make it local.
    let plain = app_with(WebSettings::default()).await;
    let r = router(plain.state.clone());
    let (s, _) = text(
        &r,
        metrics_req([127, 0, 0, 1], &[("x-forwarded-for", "198.51.100.7")]),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Without a configured token a bearer header changes nothing remotely.
    let (s, _) = text(
        &r,
        metrics_req(
            [203, 0, 113, 9],
            &[(header::AUTHORIZATION.as_str(), bearer.as_str())],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
