//! The authorization code flow with PKCE over HTTP: the attacks first
//! (a code replayed, the wrong verifier, the wrong redirect URI, another
//! client's code, redirect URIs that are not registered, `plain`), then the
//! flow itself: the sign-in page returns to the authorize request, the
//! state comes back unchanged and the ID token says who signed in.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use oathvault_directory::{Directory, Settings};
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{Dir, T, directory_at, send};
use crate::people::{page, sign_in};

const REDIRECT: &str = "https://desk.example/signin/entra";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9fHHKQAkjWWxrHB8gnEhYc8zyQ8W4y";
/// The state an app sends, with characters that must survive the trip.
const STATE: &str = "a b&c=d/é?";

struct Client {
    id: String,
    secret: String,
}

fn challenge(verifier: &str) -> String {
    data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A directory with its clock in `now`, and an app that signs people in.
async fn setup(path: &std::path::Path, now: Arc<AtomicI64>) -> (Dir, Client) {
    let clock = now.clone();
    let dir = directory_at(
        path.join("d.db").to_str().unwrap(),
        Settings::default(),
        Box::new(move || clock.load(Ordering::SeqCst)),
    )
    .await;
    let client = register(&dir, "Help desk", true).await;
    (dir, client)
}

async fn register(dir: &Dir, name: &str, role_claims: bool) -> Client {
    let admin = Directory::new(&dir.state.db, &dir.state.master);
    let mut rng = StdRng::seed_from_u64(name.bytes().map(u64::from).sum());
    let (app, secret) = admin
        .add_app(&mut rng, &dir.demo.tenant_id, name, &[], T)
        .await
        .unwrap();
    admin
        .set_signin(
            &dir.demo.tenant_id,
            &app.client_id,
            &[REDIRECT.to_owned()],
            role_claims,
        )
        .await
        .unwrap();
    Client {
        id: app.client_id,
        secret: secret.to_string(),
    }
}

fn authorize_path(dir: &Dir, client: &str, extra: &str) -> String {
    format!(
        "/{}/oauth2/v2.0/authorize?client_id={client}&response_type=code&redirect_uri={}&scope={}&state={}&nonce=n-0S6_WzA2Mj&code_challenge={}&code_challenge_method=S256{extra}",
        dir.demo.tenant_id,
        enc(REDIRECT),
        enc("openid profile email offline_access"),
        enc(STATE),
        challenge(VERIFIER),
    )
}

/// The query parameters of a redirect.
fn params(location: &str) -> Vec<(String, String)> {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(location: &str, name: &str) -> Option<String> {
    params(location)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Amy (with directory roles) signed in; her session cookie.
async fn amy(dir: &Dir) -> String {
    let amy = &dir.demo.users[0];
    let (s, cookie, _) = sign_in(dir, &amy.upn, &amy.password).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    cookie
}

/// A code for `client`, Amy signed in.
async fn code_for(dir: &Dir, cookie: &str, client: &str) -> String {
    let (s, location, _, _) = page(dir, "GET", &authorize_path(dir, client, ""), cookie, "").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    assert_eq!(param(&location, "state").as_deref(), Some(STATE));
    param(&location, "code").unwrap()
}

async fn redeem(dir: &Dir, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut body = form_urlencoded::Serializer::new(String::new());
    body.append_pair("grant_type", "authorization_code");
    for (k, v) in form {
        body.append_pair(k, v);
    }
    let r = Request::post(format!("/{}/oauth2/v2.0/token", dir.demo.tenant_id))
        .header(header::HOST, "127.0.0.1:9")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.finish()))
        .unwrap();
    send(dir, r).await
}

fn aadsts(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or_default()
}

#[tokio::test]
async fn a_code_is_spent_once_bound_to_its_verifier_redirect_uri_and_client() {
    let tmp = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(T));
    let (dir, desk) = setup(tmp.path(), now.clone()).await;
    let other = register(&dir, "Another app", false).await;
    let cookie = amy(&dir).await;

    // Replay: the second redemption is refused.
    let code = code_for(&dir, &cookie, &desk.id).await;
    let good = [
        ("client_id", desk.id.as_str()),
        ("client_secret", desk.secret.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (s, body) = redeem(&dir, &good).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = redeem(&dir, &good).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(aadsts(&body), 54005);

    // The wrong verifier is refused, and spends the code: the right one
    // after it gets nothing.
    let code = code_for(&dir, &cookie, &desk.id).await;
    let wrong = "x".repeat(43);
    let mut f = good;
    f[2].1 = &code;
    f[4].1 = &wrong;
    let (s, body) = redeem(&dir, &f).await;
    assert_eq!(
        (s, aadsts(&body)),
        (StatusCode::BAD_REQUEST, 501_481),
        "{body}"
    );
    f[4].1 = VERIFIER;
    let (s, body) = redeem(&dir, &f).await;
    assert_eq!(
        (s, aadsts(&body)),
        (StatusCode::BAD_REQUEST, 54005),
        "{body}"
    );
    // No verifier at all.
    let code = code_for(&dir, &cookie, &desk.id).await;
    let (s, body) = redeem(
        &dir,
        &good[..4]
            .iter()
            .map(|(k, v)| (*k, if *k == "code" { code.as_str() } else { *v }))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        (s, aadsts(&body)),
        (StatusCode::BAD_REQUEST, 501_481),
        "{body}"
    );

    // Another redirect URI than the request's.
    let code = code_for(&dir, &cookie, &desk.id).await;
    let mut f = good;
    f[2].1 = &code;
    f[3].1 = "https://desk.example/elsewhere";
    let (s, body) = redeem(&dir, &f).await;
    assert_eq!(
        (s, aadsts(&body)),
        (StatusCode::BAD_REQUEST, 50148),
        "{body}"
    );

    // Another client's code, redeemed with that client's own secret.
    let code = code_for(&dir, &cookie, &desk.id).await;
    let stolen = [
        ("client_id", other.id.as_str()),
        ("client_secret", other.secret.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (s, body) = redeem(&dir, &stolen).await;
    assert_eq!(
        (s, aadsts(&body)),
        (StatusCode::BAD_REQUEST, 70000),
        "{body}"
    );
    // A code with the client's id but not its secret.
    let code = code_for(&dir, &cookie, &desk.id).await;
    let mut f = good;
    f[1].1 = "not-the-secret";
    f[2].1 = &code;
    let (s, body) = redeem(&dir, &f).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // ... which left the code usable by its own client.
    f[1].1 = &desk.secret;
    let (s, body) = redeem(&dir, &f).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // A code ten minutes old is expired.
    let code = code_for(&dir, &cookie, &desk.id).await;
    now.fetch_add(601, Ordering::SeqCst);
    let mut f = good;
    f[2].1 = &code;
    let (s, body) = redeem(&dir, &f).await;
    assert_eq!(
        (s, aadsts(&body)),
        (StatusCode::BAD_REQUEST, 70008),
        "{body}"
    );
    // A made-up code.
    f[2].1 = "made-up";
    let (s, body) = redeem(&dir, &f).await;
    assert_eq!(
        (s, aadsts(&body)),
        (StatusCode::BAD_REQUEST, 70008),
        "{body}"
    );
}

#[tokio::test]
async fn requests_that_cannot_go_back_get_a_page_and_never_a_redirect() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, desk) = setup(tmp.path(), Arc::new(AtomicI64::new(T))).await;
    let cookie = amy(&dir).await;
    let base = authorize_path(&dir, &desk.id, "");
    for (why, path, code) in [
        (
            "unregistered",
            base.replace(&enc(REDIRECT), &enc("https://evil.example/steal")),
            "AADSTS50011",
        ),
        (
            "a longer URI that starts like the registered one",
            base.replace(
                &enc(REDIRECT),
                &enc("https://desk.example/signin/entra.evil.example"),
            ),
            "AADSTS50011",
        ),
        (
            "the registered one with a query added",
            base.replace(
                &enc(REDIRECT),
                &enc(&format!("{REDIRECT}?to=https://evil.example")),
            ),
            "AADSTS50011",
        ),
        (
            "no redirect URI",
            base.replace(&format!("redirect_uri={}", enc(REDIRECT)), ""),
            "AADSTS50011",
        ),
        (
            "unknown client",
            base.replace(&desk.id, "00000000-0000-0000-0000-000000000000"),
            "AADSTS700016",
        ),
    ] {
        let (s, location, _, body) = page(&dir, "GET", &path, &cookie, "").await;
        assert_eq!(
            (s, location.as_str()),
            (StatusCode::BAD_REQUEST, ""),
            "{why}"
        );
        assert!(body.contains(code), "{why}: {body}");
    }
    // Errors for a registered redirect URI go back there, with the state.
    for (why, extra, error) in [
        (
            "plain PKCE",
            "&code_challenge_method=plain",
            "invalid_request",
        ),
        (
            "token response type",
            "&response_type=token",
            "unsupported_response_type",
        ),
        (
            "fragment response mode",
            "&response_mode=fragment",
            "invalid_request",
        ),
        ("unknown prompt", "&prompt=always", "invalid_request"),
        (
            "unknown scope",
            "&scope=openid%20Mail.Send",
            "invalid_scope",
        ),
    ] {
        let key = extra.trim_start_matches('&').split('=').next().unwrap();
        let value = extra.split_once('=').unwrap().1.replace("%20", " ");
        let path = params(&base)
            .into_iter()
            .filter(|(k, _)| k != key)
            .chain([(key.to_owned(), value)])
            .fold(
                form_urlencoded::Serializer::new(String::new()),
                |mut s, (k, v)| {
                    s.append_pair(&k, &v);
                    s
                },
            )
            .finish();
        let path = format!("{}?{path}", base.split_once('?').unwrap().0);
        let (s, location, _, _) = page(&dir, "GET", &path, &cookie, "").await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{why}");
        assert!(
            location.starts_with(&format!("{REDIRECT}?")),
            "{why}: {location}"
        );
        assert_eq!(param(&location, "error").as_deref(), Some(error), "{why}");
        assert_eq!(param(&location, "state").as_deref(), Some(STATE), "{why}");
        assert_eq!(param(&location, "code"), None, "{why}");
    }
    // No PKCE at all.
    let no_pkce = base.replace(&format!("&code_challenge={}", challenge(VERIFIER)), "");
    let (_, location, _, _) = page(&dir, "GET", &no_pkce, &cookie, "").await;
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(param(&location, "code"), None);
}

#[tokio::test]
async fn the_sign_in_returns_to_the_request_and_the_id_token_says_who() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, desk) = setup(tmp.path(), Arc::new(AtomicI64::new(T))).await;
    let amy = dir.demo.users[0].clone();
    let path = authorize_path(
        &dir,
        &desk.id,
        &format!("&prompt=login&login_hint={}", enc(&amy.upn)),
    );

    // prompt=none without a session: login_required, sent back.
    let silent = authorize_path(&dir, &desk.id, "&prompt=none");
    let (s, location, _, _) = page(&dir, "GET", &silent, "", "").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&location, "state").as_deref(), Some(STATE));

    // Not signed in: to the sign-in page, the hint prefilled, coming back
    // to the request without prompt=login.
    let (s, location, _, _) = page(&dir, "GET", &path, "", "").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/login?"), "{location}");
    let next = param(&location, "next").unwrap();
    assert!(next.starts_with(&format!("/{}/oauth2/v2.0/authorize?", dir.demo.tenant_id)));
    assert!(!next.contains("prompt="), "{next}");
    let (_, _, _, body) = page(&dir, "GET", &location, "", "").await;
    assert!(
        body.contains(&format!("value=\"{}\"", amy.upn)),
        "the hint is prefilled"
    );
    let (s, _, cookie, back) = page(
        &dir,
        "POST",
        "/login/password",
        "",
        &format!(
            "upn={}&password={}&next={}",
            enc(&amy.upn),
            enc(&amy.password),
            enc(&next)
        ),
    )
    .await;
    // A page that continues to the request (a form post's redirect may not
    // leave the origin, and the request's answer does).
    assert_eq!(s, StatusCode::OK);
    assert!(
        back.contains(&format!("content=\"0;url={}\"", next.replace('&', "&#38;"))),
        "{back}"
    );
    let back = next.clone();
    // The sign-in page sends nowhere else.
    let (s, elsewhere, _, _) = page(
        &dir,
        "POST",
        "/login/password",
        "",
        &format!(
            "upn={}&password={}&next={}",
            enc(&amy.upn),
            enc(&amy.password),
            enc("https://evil.example/x/oauth2/v2.0/authorize?")
        ),
    )
    .await;
    assert_eq!(
        (s, elsewhere.as_str()),
        (StatusCode::SEE_OTHER, "/security-info")
    );

    // Signed in now: the code comes, with the state unchanged.
    let (s, location, _, _) = page(&dir, "GET", &back, &cookie, "").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(param(&location, "state").as_deref(), Some(STATE));
    let code = param(&location, "code").unwrap();
    // A session of another user than the hint asks for does not count.
    let (_, to_login, _, _) = page(
        &dir,
        "GET",
        &authorize_path(&dir, &desk.id, "&login_hint=ben%40contoso.example"),
        &cookie,
        "",
    )
    .await;
    assert!(to_login.starts_with("/login?"), "{to_login}");

    let (s, body) = redeem(
        &dir,
        &[
            ("client_id", &desk.id),
            ("client_secret", &desk.secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile email");
    assert!(body["access_token"].is_string());
    let id = dir
        .state
        .key
        .verify(body["id_token"].as_str().unwrap(), T)
        .unwrap();
    assert_eq!(id["aud"], desk.id.as_str());
    assert_eq!(
        id["iss"],
        format!("http://127.0.0.1:9/{}/v2.0", dir.demo.tenant_id)
    );
    assert_eq!(id["tid"], dir.demo.tenant_id.as_str());
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["preferred_username"], amy.upn.as_str());
    assert_eq!(id["email"], amy.upn.as_str());
    assert_eq!(id["name"], amy.display_name.as_str());
    assert_eq!(id["ver"], "2.0");
    assert_ne!(id["sub"], id["oid"], "sub is pairwise");
    let wids: Vec<&str> = id["wids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(wids.contains(&oathvault_directory::admin::role::AUTHENTICATION_ADMINISTRATOR));
    assert_eq!(id["exp"].as_i64(), Some(T + 3600));

    // An app that did not ask for directory roles gets no wids.
    let plain = register(&dir, "Plain app", false).await;
    let code = code_for(&dir, &cookie, &plain.id).await;
    let (_, body) = redeem(
        &dir,
        &[
            ("client_id", &plain.id),
            ("client_secret", &plain.secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let id = oathvault_directory::jwt::decode_claims(body["id_token"].as_str().unwrap()).unwrap();
    assert!(id.get("wids").is_none());

    // The discovery document names the endpoint and what it supports.
    let r = Request::get(format!(
        "/{}/v2.0/.well-known/openid-configuration",
        dir.demo.tenant_id
    ))
    .header(header::HOST, "127.0.0.1:9")
    .body(Body::empty())
    .unwrap();
    let (_, config) = send(&dir, r).await;
    assert_eq!(
        config["authorization_endpoint"],
        format!(
            "http://127.0.0.1:9/{}/oauth2/v2.0/authorize",
            dir.demo.tenant_id
        )
    );
    assert_eq!(
        config["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        config["response_types_supported"],
        serde_json::json!(["code"])
    );
}

/// Eight redemptions of one code at once (as an attacker racing the app
/// would send them, interleaved on the directory's connection pool):
/// exactly one gets tokens, the others are refused.
#[tokio::test]
async fn racing_redemptions_of_one_code_give_tokens_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, client) = setup(tmp.path(), Arc::new(AtomicI64::new(T))).await;
    let cookie = amy(&dir).await;
    let code = code_for(&dir, &cookie, &client.id).await;
    let form = [
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (r1, r2, r3, r4, r5, r6, r7, r8) = tokio::join!(
        redeem(&dir, &form),
        redeem(&dir, &form),
        redeem(&dir, &form),
        redeem(&dir, &form),
        redeem(&dir, &form),
        redeem(&dir, &form),
        redeem(&dir, &form),
        redeem(&dir, &form)
    );
    let statuses: Vec<StatusCode> = [r1, r2, r3, r4, r5, r6, r7, r8]
        .into_iter()
        .map(|r| r.0)
        .collect();
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
}
