//! Shared by the directory's tests: a directory in process with the demo
//! tenant, a Graph token, requests, codes.
#![allow(
    dead_code,
    reason = "not every helper is used by the tests of every backend"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure is a failed test"
)]

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use oathvault_directory::{Db, Demo, DirState, Directory, Settings, SigningKey, router};
use oathvault_otp::Otp;
use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Step};
use oathvault_vault::Keyring;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use serde_json::Value;
use tower::ServiceExt;

/// 2026-11-26 12:37 UTC.
pub const T: i64 = 1_795_696_620;
/// Microsoft's example secrets (valid Base32).
pub const SECRET_1: &str = "6PJ4UKIW33NNXYZAEHQNFUFTZF7WFTFB";
pub const SECRET_2: &str = "TXYZAE6PJ4UZF3NNKIW3HQNFUF7WFTFB";

/// RSA key generation is slow: one key for every test.
static KEY_DER: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let key = SigningKey::generate(&mut StdRng::seed_from_u64(5)).unwrap();
    key.to_pkcs8_der().unwrap().to_vec()
});

pub struct Dir {
    pub state: Arc<DirState>,
    pub demo: Demo,
    pub token: String,
}

pub async fn directory(database: &str) -> Dir {
    directory_with(database, Settings::default()).await
}

pub async fn directory_with(database: &str, settings: Settings) -> Dir {
    directory_at(database, settings, Box::new(|| T)).await
}

/// The directory with its own clock.
pub async fn directory_at(
    database: &str,
    settings: Settings,
    clock: Box<dyn Fn() -> i64 + Send + Sync>,
) -> Dir {
    let db = Db::open(database).await.unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let master = Keyring::generate(&mut rng);
    let demo = Directory::new(&db, &master)
        .seed_demo(&mut rng, "contoso.example", clock())
        .await
        .unwrap();
    let state = Arc::new(DirState {
        db,
        master,
        key: SigningKey::from_pkcs8_der(&KEY_DER).unwrap(),
        clock,
        settings,
    });
    let mut dir = Dir {
        state,
        demo,
        token: String::new(),
    };
    let (s, body) = token(
        &dir,
        &dir.demo.client_id.clone(),
        &dir.demo.client_secret.clone(),
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"]
        .as_str()
        .unwrap()
        .clone_into(&mut dir.token);
    dir
}

pub async fn send(dir: &Dir, r: Request<Body>) -> (StatusCode, Value) {
    let resp = router(dir.state.clone()).oneshot(r).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, body)
}

pub async fn token(dir: &Dir, client: &str, secret: &str, scope: &str) -> (StatusCode, Value) {
    let form = format!(
        "grant_type=client_credentials&client_id={client}&client_secret={secret}&scope={}",
        scope.replace(':', "%3A").replace('/', "%2F")
    );
    let r = Request::post(format!("/{}/oauth2/v2.0/token", dir.demo.tenant_id))
        .header(header::HOST, "127.0.0.1:9")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    send(dir, r).await
}

pub async fn graph(
    dir: &Dir,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    graph_as(dir, &dir.token, method, path, body).await
}

pub async fn graph_as(
    dir: &Dir,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1:9")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let r = match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    };
    send(dir, r).await
}

pub fn code(secret_b32: &str, at: i64) -> String {
    let s = SecretEncoding::Base32.decode(secret_b32).unwrap();
    Otp::from_parts(
        s.expose(),
        Hash::Sha1,
        Kind::Totp {
            step: Step::S30,
            t0: 0,
        },
        Digits::SIX,
    )
    .unwrap()
    .totp(u64::try_from(at).unwrap())
    .unwrap()
    .to_string()
}
