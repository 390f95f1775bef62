//! Certificate client credentials at the token endpoint, as Microsoft's
//! identity platform takes them: a self-signed certificate made by the
//! `openssl` command line is registered on the demo app, a client assertion
//! signed with its key gets a Graph token, and every refusal answers with
//! Microsoft's status, `error` and AADSTS code. On SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test"
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use oathvault_directory::jwt::{Certificate, SigningKey, X5T, X5T_S256};
use oathvault_directory::{Directory, Settings};
use oathvault_testkit::postgres::TempPostgres;
use serde_json::{Map, Value, json};

use crate::common::{Dir, directory_at, graph_as, send};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const SCOPE: &str = "https://graph.microsoft.com/.default";
const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";
/// The host the requests name (the audience's base URL follows it).
const HOST: &str = "127.0.0.1:9";

/// Form fields of a token request.
type Fields<'a> = Vec<(&'a str, &'a str)>;

/// A self-signed RSA 2048 certificate and its key, made by `openssl`.
struct Pki {
    cert_pem: String,
    cert: Certificate,
    key: SigningKey,
}

fn openssl_certificate(dir: &Path, name: &str) -> Pki {
    let (cert, key) = oathvault_testkit::pki::openssl_certificate(dir, name);
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    Pki {
        cert: Certificate::from_pem(&cert_pem).unwrap(),
        key: SigningKey::from_pem(&std::fs::read_to_string(&key).unwrap()).unwrap(),
        cert_pem,
    }
}

/// The demo directory with a certificate registered on its app, and
/// another certificate that is not registered; the clock can be moved.
struct Setup {
    dir: Dir,
    clock: Arc<AtomicI64>,
    registered: Pki,
    other: Pki,
    _tmp: tempfile::TempDir,
}

impl Setup {
    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn client_id(&self) -> &str {
        &self.dir.demo.client_id
    }

    /// The audience Microsoft asks for, of this directory and tenant.
    fn audience(&self) -> String {
        format!(
            "http://{HOST}/{}/oauth2/v2.0/token",
            self.dir.demo.tenant_id
        )
    }

    /// Claims as MSAL writes them, with a fresh `jti`.
    fn claims(&self) -> Value {
        let now = self.now();
        json!({
            "aud": self.audience(),
            "iss": self.client_id(),
            "sub": self.client_id(),
            "jti": oathvault_directory::new_id(&mut oathvault_vault::random::os()),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        })
    }
}

fn x5t(cert: &Certificate) -> Map<String, Value> {
    Map::from_iter([(
        X5T.to_owned(),
        Value::String(cert.thumbprint_sha1_b64url().to_owned()),
    )])
}

fn x5t_s256(cert: &Certificate) -> Map<String, Value> {
    Map::from_iter([(
        X5T_S256.to_owned(),
        Value::String(cert.thumbprint_sha256_b64url().to_owned()),
    )])
}

async fn setup(database: &str, tmp: tempfile::TempDir) -> Setup {
    let registered = openssl_certificate(tmp.path(), "registered");
    let other = openssl_certificate(tmp.path(), "other");
    let clock = Arc::new(AtomicI64::new(registered.cert.not_before() + 600));
    let read = Arc::clone(&clock);
    let dir = directory_at(
        database,
        Settings::default(),
        Box::new(move || read.load(Ordering::SeqCst)),
    )
    .await;
    let stored = Directory::new(&dir.state.db, &dir.state.master)
        .add_certificate(
            "contoso.example",
            &dir.demo.client_id,
            &registered.cert_pem,
            clock.load(Ordering::SeqCst),
        )
        .await
        .unwrap();
    assert_eq!(
        stored.thumbprint_sha1,
        registered.cert.thumbprint_sha1_b64url()
    );
    Setup {
        dir,
        clock,
        registered,
        other,
        _tmp: tmp,
    }
}

/// `POST /{tenant}/oauth2/v2.0/token` with these form fields.
async fn token_request(dir: &Dir, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let form = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('/', "%2F").replace(':', "%3A")))
        .collect::<Vec<_>>()
        .join("&");
    let r = Request::post(format!("/{}/oauth2/v2.0/token", dir.demo.tenant_id))
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    send(dir, r).await
}

/// A client credentials request with `assertion`.
async fn with_assertion(s: &Setup, assertion: &str) -> (StatusCode, Value) {
    token_request(
        &s.dir,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", s.client_id()),
            ("scope", SCOPE),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
}

fn assert_refused(
    (status, body): &(StatusCode, Value),
    want: StatusCode,
    error: &str,
    code: u32,
    case: &str,
) {
    assert_eq!(*status, want, "{case}: {body}");
    assert_eq!(body["error"], error, "{case}: {body}");
    assert_eq!(body["error_codes"], json!([code]), "{case}: {body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{case}: {description}"
    );
}

/// Gets a token with an assertion and calls Graph with it.
async fn token_and_graph(s: &Setup, header: &Map<String, Value>, claims: &Value) {
    let assertion = s.registered.key.sign_with_header(header, claims).unwrap();
    let (status, body) = with_assertion(s, &assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap();
    let claims = oathvault_directory::jwt::decode_claims(access).unwrap();
    assert_eq!(claims["appidacr"], "2", "certificate credentials");
    assert_eq!(claims["appid"], s.client_id());
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    let (status, body) = graph_as(&s.dir, access, "GET", DEVICES, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["value"].is_array());
}

async fn certificate_credentials(s: &Setup) {
    // x5t (SHA-1), as MSAL writes it by default.
    token_and_graph(s, &x5t(&s.registered.cert), &s.claims()).await;
    // x5t#S256 only, as Microsoft's newer documents ask.
    token_and_graph(s, &x5t_s256(&s.registered.cert), &s.claims()).await;
    // The tenant named by its domain, and `aud` as an array.
    let mut claims = s.claims();
    claims["aud"] = json!([format!("http://{HOST}/contoso.example/oauth2/v2.0/token")]);
    token_and_graph(s, &x5t(&s.registered.cert), &claims).await;
    // The app's secret still works beside its certificate (appidacr 1).
    let (status, body) =
        crate::common::token(&s.dir, s.client_id(), &s.dir.demo.client_secret, SCOPE).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims =
        oathvault_directory::jwt::decode_claims(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["appidacr"], "1");
}

/// The same assertion twice: the second is refused; the `jti` is kept
/// until the assertion expires.
async fn jti_spent_once(s: &Setup) {
    let assertion = s
        .registered
        .key
        .sign_with_header(&x5t(&s.registered.cert), &s.claims())
        .unwrap();
    assert_eq!(with_assertion(s, &assertion).await.0, StatusCode::OK);
    assert_refused(
        &with_assertion(s, &assertion).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        50027,
        "replay",
    );
    // Within the skew after its end, the assertion is still refused as a
    // replay; past it, as expired (the jti is forgotten by then).
    let start = s.now();
    s.clock.store(start + 600 + 200, Ordering::SeqCst);
    assert_refused(
        &with_assertion(s, &assertion).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        50027,
        "replay within the skew",
    );
    s.clock.store(start + 600 + 301, Ordering::SeqCst);
    assert_refused(
        &with_assertion(s, &assertion).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700_024,
        "replay after the end",
    );
    s.clock.store(start, Ordering::SeqCst);
}

#[tokio::test]
async fn certificate_assertion_gets_a_token_graph_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db").to_str().unwrap().to_owned();
    let s = setup(&db, tmp).await;
    certificate_credentials(&s).await;
}

#[tokio::test]
async fn a_jti_is_good_for_one_request() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db").to_str().unwrap().to_owned();
    let s = setup(&db, tmp).await;
    jti_spent_once(&s).await;
    // The store forgets spent ids once their assertions ended.
    let db = &s.dir.state.db;
    let id = s.client_id();
    assert!(db.spend_jti(id, "a", 100, 0).await.unwrap());
    assert!(!db.spend_jti(id, "a", 100, 50).await.unwrap());
    assert!(db.spend_jti(id, "b", 300, 100).await.unwrap());
    assert!(db.spend_jti(id, "a", 300, 100).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_credentials_on_postgres() {
    let pg = TempPostgres::start();
    let s = setup(pg.url(), tempfile::tempdir().unwrap()).await;
    certificate_credentials(&s).await;
    jti_spent_once(&s).await;
    let listed = s.dir.state.db.certificates(s.client_id()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].der, s.registered.cert.der());
    s.dir.state.db.close().await;
}

#[tokio::test]
async fn refusals_as_microsoft_words_them() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db").to_str().unwrap().to_owned();
    let s = setup(&db, tmp).await;
    let now = s.now();
    let cert = &s.registered.cert;
    let key = &s.registered.key;
    let signed = |claims: &Value| key.sign_with_header(&x5t(cert), claims).unwrap();
    let with_all = |pairs: &[(&str, Value)]| {
        let mut c = s.claims();
        for (name, value) in pairs {
            c[*name] = value.clone();
        }
        c
    };
    let with = |name: &str, value: Value| with_all(&[(name, value)]);
    let without = |name: &str| {
        let mut c = s.claims();
        c.as_object_mut().unwrap().remove(name);
        c
    };
    let alg_none = format!(
        "{}.{}.",
        data_encoding::BASE64URL_NOPAD.encode(
            json!({"alg": "none", "typ": "JWT", "x5t": cert.thumbprint_sha1_b64url()})
                .to_string()
                .as_bytes()
        ),
        data_encoding::BASE64URL_NOPAD.encode(s.claims().to_string().as_bytes())
    );
    let unauthorized = StatusCode::UNAUTHORIZED;
    let bad = StatusCode::BAD_REQUEST;
    let cases: Vec<(&str, String, StatusCode, &str, u32)> = vec![
        (
            "unknown thumbprint",
            s.other
                .key
                .sign_with_header(&x5t(&s.other.cert), &s.claims())
                .unwrap(),
            unauthorized,
            "invalid_client",
            700_027,
        ),
        (
            "no thumbprint",
            key.sign_with_header(&Map::new(), &s.claims()).unwrap(),
            unauthorized,
            "invalid_client",
            700_027,
        ),
        (
            "signed by another key",
            s.other
                .key
                .sign_with_header(&x5t(cert), &s.claims())
                .unwrap(),
            unauthorized,
            "invalid_client",
            700_027,
        ),
        (
            "alg none",
            alg_none,
            unauthorized,
            "invalid_client",
            700_027,
        ),
        (
            "expired",
            signed(&with("exp", json!(now - 301))),
            unauthorized,
            "invalid_client",
            700_024,
        ),
        (
            "not yet valid",
            signed(&with("nbf", json!(now + 301))),
            unauthorized,
            "invalid_client",
            700_024,
        ),
        (
            "lives longer than an hour",
            signed(&with("exp", json!(now + 3601))),
            unauthorized,
            "invalid_client",
            700_024,
        ),
        (
            "Microsoft's audience",
            signed(&with(
                "aud",
                json!(format!(
                    "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                    s.dir.demo.tenant_id
                )),
            )),
            unauthorized,
            "invalid_client",
            700_023,
        ),
        (
            "another tenant's audience",
            signed(&with(
                "aud",
                json!(format!("http://{HOST}/fabrikam.example/oauth2/v2.0/token")),
            )),
            unauthorized,
            "invalid_client",
            700_023,
        ),
        (
            "no audience",
            signed(&without("aud")),
            unauthorized,
            "invalid_client",
            700_023,
        ),
        (
            "sub is not iss",
            signed(&with("sub", json!("someone-else"))),
            unauthorized,
            "invalid_client",
            50048,
        ),
        (
            "iss and sub are another app",
            signed(&with_all(&[
                ("iss", json!("someone-else")),
                ("sub", json!("someone-else")),
            ])),
            unauthorized,
            "invalid_client",
            700_021,
        ),
        (
            "no iss",
            signed(&without("iss")),
            bad,
            "invalid_request",
            50027,
        ),
        (
            "no jti",
            signed(&without("jti")),
            bad,
            "invalid_request",
            50027,
        ),
        (
            "no exp",
            signed(&without("exp")),
            bad,
            "invalid_request",
            50027,
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            bad,
            "invalid_request",
            50027,
        ),
    ];
    for (case, assertion, status, error, code) in &cases {
        assert_refused(
            &with_assertion(&s, assertion).await,
            *status,
            error,
            *code,
            case,
        );
    }

    // Missing or wrong parameters.
    let good = signed(&s.claims());
    let id = s.client_id();
    let base = [("grant_type", "client_credentials"), ("scope", SCOPE)];
    let form_cases: Vec<(&str, Fields, u32)> = vec![
        (
            "no client_assertion_type",
            vec![("client_id", id), ("client_assertion", &good)],
            900_144,
        ),
        (
            "no client_assertion",
            vec![("client_id", id), ("client_assertion_type", ASSERTION_TYPE)],
            900_144,
        ),
        (
            "no client_id",
            vec![
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &good),
            ],
            900_144,
        ),
        (
            "another assertion type",
            vec![
                ("client_id", id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                ),
                ("client_assertion", &good),
            ],
            90023,
        ),
        (
            "a secret and an assertion",
            vec![
                ("client_id", id),
                ("client_secret", &s.dir.demo.client_secret),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &good),
            ],
            90023,
        ),
    ];
    for (case, fields, code) in form_cases {
        let all: Vec<(&str, &str)> = base.iter().copied().chain(fields).collect();
        assert_refused(
            &token_request(&s.dir, &all).await,
            bad,
            "invalid_request",
            code,
            case,
        );
    }
    // None of the refused requests spent the good assertion's jti.
    assert_eq!(with_assertion(&s, &good).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_registered_certificate_past_its_end_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db").to_str().unwrap().to_owned();
    let s = setup(&db, tmp).await;
    // The assertion is fresh; the certificate ended a second ago.
    s.clock
        .store(s.registered.cert.not_after() + 1, Ordering::SeqCst);
    let assertion = s
        .registered
        .key
        .sign_with_header(&x5t(&s.registered.cert), &s.claims())
        .unwrap();
    let refused = with_assertion(&s, &assertion).await;
    assert_refused(
        &refused,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700_027,
        "expired certificate",
    );
    assert!(
        refused.1["error_description"]
            .as_str()
            .unwrap()
            .contains("The key used is expired"),
        "{}",
        refused.1
    );
}

#[tokio::test]
async fn registration_refuses_what_cannot_be_used() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db").to_str().unwrap().to_owned();
    let s = setup(&db, tmp).await;
    let admin = Directory::new(&s.dir.state.db, &s.dir.state.master);
    let now = s.now();
    let id = s.client_id().to_owned();
    let pem = s.registered.cert_pem.clone();
    let message = |r: Result<_, oathvault_directory::admin::AdminError>| r.unwrap_err().to_string();
    assert!(
        message(
            admin
                .add_certificate("contoso.example", &id, &pem, now)
                .await
        )
        .contains("already exists")
    );
    assert!(
        message(
            admin
                .add_certificate("contoso.example", &id, "not pem", now)
                .await
        )
        .contains("no \"CERTIFICATE\" block")
    );
    // Past the end of the certificate being registered (the two are made
    // by openssl a moment apart, so their ends may differ by a second).
    let ended = s.other.cert.not_after() + 1;
    let other = s.other.cert_pem.clone();
    assert!(
        message(
            admin
                .add_certificate("contoso.example", &id, &other, ended)
                .await
        )
        .contains("expired at")
    );
    assert!(
        message(
            admin
                .add_certificate("contoso.example", "no-such-app", &other, now)
                .await
        )
        .contains("no app")
    );
    // Both certificates of one file (key and certificate): the key is ignored.
    let combined = format!(
        "{}{other}",
        "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"
    );
    let stored = admin
        .add_certificate("contoso.example", &id, &combined, now)
        .await
        .unwrap();
    assert_eq!(
        stored.thumbprint_sha256,
        s.other.cert.thumbprint_sha256_b64url()
    );
    assert_eq!(s.dir.state.db.certificates(&id).await.unwrap().len(), 2);
}
