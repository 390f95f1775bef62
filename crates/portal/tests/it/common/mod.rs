//! Shared by the portal's tests: an app over a fresh SQLite store with an
//! administrator and a reviewer, requests as a browser sends them, sign-in.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of the helpers"
)]
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
use oathvault_accounts::Policy;
use oathvault_otp::Otp;
use oathvault_portal::WebSettings;
use oathvault_portal::web::{AppState, router};
use oathvault_portal::{Actor, Admin, NewStaff};
use oathvault_store::{Role, Store};
use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Step};
use oathvault_vault::Keyring;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use tower::ServiceExt;
use zeroize::Zeroizing;

/// The tests' fixed "now": 2026-11-26 12:37 UTC.
pub const T: i64 = 1_795_696_620;
/// Every test account's password.
pub const PW: &str = "correct horse battery";
pub const ADMIN: &str = "ada@vendor.example";
pub const REVIEWER: &str = "rex@vendor.example";

/// The code a staff member's authenticator app shows at `at`, from the
/// `otpauth://` URI they enrolled with.
pub fn code_at(uri: &str, at: i64) -> String {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = SecretEncoding::Base32.decode(b32).unwrap();
    let otp = Otp::from_parts(
        secret.expose(),
        Hash::Sha1,
        Kind::Totp {
            step: Step::S30,
            t0: 0,
        },
        Digits::SIX,
    )
    .unwrap();
    otp.totp(u64::try_from(at).unwrap()).unwrap().to_string()
}

pub struct App {
    pub state: Arc<AppState>,
    pub admin_uri: String,
    pub reviewer_uri: String,
    pub dir: tempfile::TempDir,
}

pub async fn app() -> App {
    app_with(WebSettings::default()).await
}

pub async fn app_with(settings: WebSettings) -> App {
    app_with_clock(settings, Box::new(|| T)).await
}

/// As [`app_with`], with the portal's clock given.
pub async fn app_with_clock(
    settings: WebSettings,
    clock: Box<dyn Fn() -> i64 + Send + Sync>,
) -> App {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let master = Keyring::generate(&mut rng);
    let store = Store::open(dir.path().join("p.db").to_str().unwrap(), &master, &mut rng)
        .await
        .unwrap();
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: T,
    };
    let pw = Zeroizing::new(PW.to_owned());
    let mut uris = Vec::new();
    for (email, role) in [(ADMIN, Role::Administrator), (REVIEWER, Role::Reviewer)] {
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
        clock,
        settings,
    });
    App {
        state,
        reviewer_uri: uris.pop().unwrap(),
        admin_uri: uris.pop().unwrap(),
        dir,
    }
}

/// A request as a same-origin browser sends it (optionally a urlencoded form).
pub fn req(method: &str, path: &str, cookie: Option<&str>, form: Option<String>) -> Request<Body> {
    let b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "portal.example")
        .header("sec-fetch-site", "same-origin");
    let b = match cookie {
        Some(c) => b.header(header::COOKIE, c),
        None => b,
    };
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

/// A multipart/form-data POST: text fields and one file.
pub fn upload(
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    file: (&str, &[u8]),
) -> Request<Body> {
    let boundary = "----oathvault-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            file.0
        )
        .as_bytes(),
    );
    body.extend_from_slice(file.1);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut r = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::HOST, "portal.example")
        .header("sec-fetch-site", "same-origin")
        .header(header::COOKIE, cookie)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    r
}

pub async fn send(app: &App, r: Request<Body>) -> axum::response::Response {
    router(app.state.clone()).oneshot(r).await.unwrap()
}

/// Sends and returns the status, the Location header and the body text.
pub async fn fetch(app: &App, r: Request<Body>) -> (StatusCode, String, String) {
    let resp = send(app, r).await;
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    (
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

pub fn cookie_of(resp: &axum::response::Response, name: &str) -> String {
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

/// Signs in with the password and the current code; returns the session cookie.
pub async fn sign_in(app: &App, email: &str, uri: &str) -> String {
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
    let pending = cookie_of(&r, "__Host-ov_pending");
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
    cookie_of(&r, "__Host-ov_session")
}

/// The requester of the seed-request tests.
pub const CUSTOMER_EMAIL: &str = "it@example.com";

/// The seed-request tests' inventory: customer Example Ltd (contact
/// [`CUSTOMER_EMAIL`]), order PO-1001 (invoice INV-77) with shipments SH-1
/// (golden token A) and SH-2 (golden tokens B and C, C being HOTP).
pub async fn request_inventory(app: &App) {
    let st = &app.state;
    let admin = Admin::new(&st.store, &st.master, "Test");
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: T,
    };
    let mut rng = StdRng::seed_from_u64(4);
    admin
        .add_customer(&who, "Example Ltd", &[CUSTOMER_EMAIL.into()])
        .await
        .unwrap();
    admin
        .add_order(&who, "Example Ltd", "PO-1001", &["INV-77".into()])
        .await
        .unwrap();
    let a = oathvault_testkit::golden::token_a().token;
    let b = oathvault_testkit::golden::token_b().token;
    let c = oathvault_testkit::golden::token_c().token;
    for (number, tokens) in [("SH-1", vec![a]), ("SH-2", vec![b, c])] {
        admin
            .add_shipment(&mut rng, &who, "PO-1001", number, Some("2026-10-01"))
            .await
            .unwrap();
        admin
            .import(&mut rng, &who, "PO-1001", number, "factory.csv", &tokens)
            .await
            .unwrap();
    }
}

/// A form body (`application/x-www-form-urlencoded`).
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes a form value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A master keyring that is the same on every call (for opening a store
/// twice in one test).
#[must_use]
pub fn test_keys() -> Keyring {
    Keyring::generate(&mut StdRng::seed_from_u64(42))
}

/// The path of the first link under `prefix` (`/d/`, `/c/`, `/enrol/`) in
/// a mail's text (the portal's default address is the links' base).
pub fn link(text: &str, prefix: &str) -> String {
    let base = "http://127.0.0.1:8080";
    let word = text
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{base}{prefix}")))
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    word.strip_prefix(base).unwrap().to_owned()
}
