//! The sign-in and administration pages, in process (tower `oneshot`):
//! access control, CSRF, security headers, lockout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure is a failed test"
)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
mod common;

use common::code_at;
use oathvault_portal::web::{AppState, router};
use oathvault_portal::{Actor, Admin, NewStaff, Policy};
use oathvault_store::{Role, Store};
use oathvault_vault::MasterKey;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use tower::ServiceExt;
use zeroize::Zeroizing;

const T: i64 = 1_795_696_620;
const PW: &str = "correct horse battery";

struct App {
    state: Arc<AppState>,
    admin_uri: String,
    reviewer_uri: String,
    _dir: tempfile::TempDir,
}

async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("p.db").to_str().unwrap())
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let master = MasterKey::generate(&mut rng);
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: T,
    };
    let pw = Zeroizing::new(PW.to_owned());
    let mut uris = Vec::new();
    for (email, role) in [
        ("ada@vendor.example", Role::Administrator),
        ("rex@vendor.example", Role::Reviewer),
    ] {
        let (_, uri) = Admin::new(&store, &master, "Test")
            .add_staff(
                &mut rng,
                &who,
                &NewStaff {
                    email,
                    name: "N",
                    role,
                    password: &pw,
                },
            )
            .await
            .unwrap();
        uris.push(uri.to_string());
    }
    let state = Arc::new(AppState {
        store,
        master,
        policy: Policy::default(),
        clock: Box::new(|| T),
    });
    App {
        state,
        reviewer_uri: uris.pop().unwrap(),
        admin_uri: uris.pop().unwrap(),
        _dir: dir,
    }
}

fn req(method: &str, path: &str, cookie: Option<&str>, form: Option<String>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "portal.example")
        .header("sec-fetch-site", "same-origin");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    let mut r = match form {
        Some(f) => b
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    };
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    r
}

async fn send(app: &App, r: Request<Body>) -> axum::response::Response {
    router(app.state.clone()).oneshot(r).await.unwrap()
}

fn cookie_of(resp: &axum::response::Response, name: &str) -> String {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")) && !v.starts_with(&format!("{name}=;")))
        .map_or_else(
            || panic!("no {name} cookie"),
            |v| v.split(';').next().unwrap().to_owned(),
        )
}

async fn sign_in(app: &App, email: &str, uri: &str) -> String {
    let r = send(
        app,
        req(
            "POST",
            "/signin",
            None,
            Some(format!("email={email}&password=correct+horse+battery")),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pending = cookie_of(&r, "ov_pending");
    let set = r
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let r = send(
        app,
        req(
            "POST",
            "/signin/code",
            Some(&pending),
            Some(format!("code={}", code_at(uri, T))),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    cookie_of(&r, "ov_session")
}

#[tokio::test]
async fn health_and_security_headers() {
    let app = app().await;
    let r = send(&app, req("GET", "/healthz", None, None)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert!(
        h.get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
}

#[tokio::test]
async fn admin_pages_refuse_anonymous_users_and_reviewers() {
    let app = app().await;
    let r = send(&app, req("GET", "/admin/", None, None)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers().get(header::LOCATION).unwrap(), "/signin");
    let r = send(&app, req("GET", "/admin/", Some("ov_session=forged"), None)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let reviewer = sign_in(&app, "rex@vendor.example", &app.reviewer_uri.clone()).await;
    let r = send(&app, req("GET", "/admin/", Some(&reviewer), None)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let admin = sign_in(&app, "ada@vendor.example", &app.admin_uri.clone()).await;
    let r = send(&app, req("GET", "/admin/", Some(&admin), None)).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Signed out: the session no longer opens anything.
    let r = send(
        &app,
        req("POST", "/signout", Some(&admin), Some(String::new())),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = send(&app, req("GET", "/admin/", Some(&admin), None)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_forged_cross_site_form_is_refused() {
    let app = app().await;
    let mut r = req(
        "POST",
        "/signin",
        None,
        Some("email=ada%40vendor.example&password=correct+horse+battery".into()),
    );
    r.headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    r.headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    let resp = send(&app, r).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn ten_wrong_passwords_lock_sign_in() {
    let app = app().await;
    let mut last = String::new();
    for _ in 0..10 {
        let r = send(
            &app,
            req(
                "POST",
                "/signin",
                None,
                Some("email=ada%40vendor.example&password=wrong".into()),
            ),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        last = String::from_utf8_lossy(&body).into_owned();
    }
    assert!(last.contains("locked"), "{last}");
    let r = send(
        &app,
        req(
            "POST",
            "/signin",
            None,
            Some("email=ada%40vendor.example&password=correct+horse+battery".into()),
        ),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "locked even with the right password"
    );
}
