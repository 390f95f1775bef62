//! The people pages in process: sign in with a password, Security info →
//! Add sign-in method → Hardware token (serial → name → code → done), then
//! sign in again with the token's code; wrong serials, names and codes;
//! delete; sessions and cross-site posts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test; one journey reads top to bottom"
)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt;

use crate::common::{Dir, SECRET_1, T, code, directory, graph};

const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";

/// A browser-like request: same-origin, with the session cookie if any.
pub(crate) async fn page(
    dir: &Dir,
    method: &str,
    path: &str,
    cookie: &str,
    form: &str,
) -> (StatusCode, String, String, String) {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1:9")
        .header("sec-fetch-site", "same-origin");
    if !cookie.is_empty() {
        b = b.header(header::COOKIE, cookie);
    }
    let r = if method == "POST" {
        b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap()
    } else {
        b.body(Body::empty()).unwrap()
    };
    let resp = oathvault_directory::router(dir.state.clone())
        .oneshot(r)
        .await
        .unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let set = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-dir_session=") && !v.starts_with("__Host-dir_session=;"))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        location,
        set,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

pub(crate) async fn sign_in(dir: &Dir, upn: &str, password: &str) -> (StatusCode, String, String) {
    let (s, _, _, body) = page(dir, "POST", "/login", "", &format!("upn={upn}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Enter password"));
    let (s, _, cookie, body) = page(
        dir,
        "POST",
        "/login/password",
        "",
        &format!("upn={upn}&password={password}"),
    )
    .await;
    (s, cookie, body)
}

#[tokio::test]
async fn self_enrolment_and_sign_in_with_a_hardware_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = directory(tmp.path().join("d.db").to_str().unwrap()).await;
    // The vendor's tokens are in the inventory, nobody's yet.
    for serial in ["SN-1", "SN-2"] {
        let (s, _) = graph(
            &dir,
            "POST",
            DEVICES,
            Some(json!({
                "serialNumber": serial, "manufacturer": "Contoso", "model": "Hardware Token 1000",
                "secretKey": SECRET_1, "timeIntervalInSeconds": 30
            })),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let amy = &dir.demo.users[0];
    assert_eq!(amy.upn, "amy@contoso.example");

    // Wrong password, unknown user: one answer.
    let (s, cookie, wrong) = sign_in(&dir, &amy.upn, "not-her-password").await;
    assert_eq!((s, cookie.as_str()), (StatusCode::UNAUTHORIZED, ""));
    let (_, _, unknown) = sign_in(&dir, "nobody@contoso.example", "not-her-password").await;
    assert!(
        wrong.contains("Your account or password is incorrect.")
            && unknown.contains("Your account or password is incorrect.")
    );
    // Ten wrong passwords in a row lock Ben out, even with the right one.
    let ben = &dir.demo.users[1];
    for _ in 0..10 {
        let (s, _, _) = sign_in(&dir, &ben.upn, "wrong-password").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, cookie, body) = sign_in(&dir, &ben.upn, &ben.password).await;
    assert_eq!((s, cookie.as_str()), (StatusCode::UNAUTHORIZED, ""));
    // The locked account gets the answer an unknown one gets: nothing
    // tells which accounts exist.
    let problem = |page: &str| {
        page.split("role=\"alert\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap_or_default()
            .to_owned()
    };
    let (_, _, unknown) = sign_in(&dir, "nobody@contoso.example", &ben.password).await;
    assert_eq!(problem(&body), problem(&unknown), "{body}");
    assert!(
        problem(&body).starts_with("Your account or password is incorrect."),
        "{body}"
    );
    // No token yet: the password is enough.
    let (s, cookie, _) = sign_in(&dir, &amy.upn, &amy.password).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _, body) = page(&dir, "GET", "/security-info", &cookie, "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Security info") && body.contains("+ Add sign-in method"));
    let (_, _, _, body) = page(&dir, "GET", "/security-info/add", &cookie, "").await;
    assert!(body.contains("Hardware token"));

    // Serial → name → code → done.
    let (s, _, _, body) = page(
        &dir,
        "POST",
        "/security-info/hardware-token",
        &cookie,
        "serial=NOPE",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("couldn&#39;t find")
            || body.contains("couldn&#x27;t find")
            || body.contains("find a hardware token"),
        "{body}"
    );
    let (s, _, _, body) = page(
        &dir,
        "POST",
        "/security-info/hardware-token",
        &cookie,
        "serial=SN-1",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Name your token"));
    let (s, _, _, body) = page(
        &dir,
        "POST",
        "/security-info/hardware-token/name",
        &cookie,
        "serial=SN-1&name=Desk+token",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("within one minute"), "{body}");
    let (s, _, _, body) = page(
        &dir,
        "POST",
        "/security-info/hardware-token/code",
        &cookie,
        "serial=SN-1&name=Desk+token&code=000000",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("That code didn"), "{body}");
    let (s, _, _, body) = page(
        &dir,
        "POST",
        "/security-info/hardware-token/code",
        &cookie,
        &format!("serial=SN-1&name=Desk+token&code={}", code(SECRET_1, T)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("was successfully registered"));
    let (_, _, _, body) = page(&dir, "GET", "/security-info?notice=added", &cookie, "").await;
    assert!(body.contains("Desk token") && body.contains("Serial SN-1"));
    // Graph sees it: Amy's, activated.
    let (_, d) = graph(
        &dir,
        "GET",
        &format!("{DEVICES}?$filter=serialNumber%20eq%20'SN-1'"),
        None,
    )
    .await;
    assert_eq!(d["value"][0]["status"], "activated");
    assert_eq!(d["value"][0]["assignedTo"]["displayName"], "Amy Masters");
    assert_eq!(d["value"][0]["displayName"], "Desk token");

    // Helga cannot take Amy's token.
    let helga = &dir.demo.users[2];
    let (_, ben_cookie, _) = sign_in(&dir, &helga.upn, &helga.password).await;
    let (s, _, _, _) = page(
        &dir,
        "POST",
        "/security-info/hardware-token",
        &ben_cookie,
        "serial=SN-1",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Signing in again now asks for the token's code; the code used at
    // enrolment is spent.
    let (s, _, _, _) = page(&dir, "POST", "/logout", &cookie, "").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _, _) = page(&dir, "GET", "/security-info", &cookie, "").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "signed out");
    let (s, pending, body) = sign_in(&dir, &amy.upn, &amy.password).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Enter code"));
    let (s, _, _, _) = page(&dir, "GET", "/security-info", &pending, "").await;
    assert_eq!(
        s,
        StatusCode::SEE_OTHER,
        "a password alone is not a session"
    );
    let (s, _, _, body) = page(
        &dir,
        "POST",
        "/login/code",
        &pending,
        &format!("code={}", code(SECRET_1, T)),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body.contains("Enter password"),
        "a wrong code ends the attempt: {body}"
    );
    let again = format!("code={}", code(SECRET_1, T + 30));
    let (s, _, _, _) = page(&dir, "POST", "/login/code", &pending, &again).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "the pending session is gone");
    let (_, pending, _) = sign_in(&dir, &amy.upn, &amy.password).await;
    let (s, _, full, _) = page(&dir, "POST", "/login/code", &pending, &again).await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // A cross-site post is refused.
    let r = Request::post("/security-info/delete")
        .header(header::COOKIE, &full)
        .header("sec-fetch-site", "cross-site")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("id=x"))
        .unwrap();
    let resp = oathvault_directory::router(dir.state.clone())
        .oneshot(r)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Delete: the token goes back to the inventory.
    let (_, d) = graph(
        &dir,
        "GET",
        &format!("{DEVICES}?$filter=serialNumber%20eq%20'SN-1'"),
        None,
    )
    .await;
    let id = d["value"][0]["id"].as_str().unwrap().to_owned();
    let (s, loc, _, _) = page(
        &dir,
        "POST",
        "/security-info/delete",
        &full,
        &format!("id={id}"),
    )
    .await;
    assert_eq!(
        (s, loc.as_str()),
        (StatusCode::SEE_OTHER, "/security-info?notice=deleted")
    );
    let (_, d) = graph(&dir, "GET", &format!("{DEVICES}/{id}"), None).await;
    assert_eq!(d["status"], "available");
}

/// A form POST to the token or device-code endpoint.
async fn oauth(dir: &Dir, path: &str, form: &str) -> (StatusCode, serde_json::Value) {
    let r = Request::post(format!("/{}/oauth2/v2.0/{path}", dir.demo.tenant_id))
        .header(header::HOST, "127.0.0.1:9")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    crate::common::send(dir, r).await
}

/// Signs in on the pages, approves (or declines) a device code, returns
/// what the confirm page said.
async fn approve(dir: &Dir, who: usize, user_code: &str, decision: &str) -> String {
    let u = &dir.demo.users[who];
    let (s, _, _, body) = page(dir, "GET", "/devicelogin", "", "").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let (s, loc, cookie, _) = page(
        dir,
        "POST",
        "/login/password",
        "",
        &format!("upn={}&password={}&next=devicelogin", u.upn, u.password),
    )
    .await;
    assert_eq!((s, loc.as_str()), (StatusCode::SEE_OTHER, "/devicelogin"));
    let (_, _, _, body) = page(dir, "POST", "/devicelogin", &cookie, "user_code=WRONGCODE").await;
    assert!(body.contains("That code didn"));
    let (s, _, _, body) = page(
        dir,
        "POST",
        "/devicelogin",
        &cookie,
        &format!("user_code={user_code}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("Are you trying to sign in to oathvault demo client?"),
        "{body}"
    );
    let (_, _, _, body) = page(
        dir,
        "POST",
        "/devicelogin/confirm",
        &cookie,
        &format!("user_code={user_code}&decision={decision}"),
    )
    .await;
    body
}

#[tokio::test]
async fn device_code_flow_with_refresh_and_directory_roles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = directory(tmp.path().join("d.db").to_str().unwrap()).await;
    let client = dir.demo.client_id.clone();
    let scope = "https%3A%2F%2Fgraph.microsoft.com%2F.default%20offline_access";
    let (s, dc) = oauth(
        &dir,
        "devicecode",
        &format!("client_id={client}&scope={scope}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{dc}");
    assert_eq!(dc["expires_in"], 900);
    assert_eq!(dc["interval"], 5);
    assert_eq!(dc["verification_uri"], "http://127.0.0.1:9/devicelogin");
    let user_code = dc["user_code"].as_str().unwrap().to_owned();
    assert!(dc["message"].as_str().unwrap().contains(&user_code));
    let poll = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id={client}&device_code={}",
        dc["device_code"].as_str().unwrap()
    );
    let (s, body) = oauth(&dir, "token", &poll).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS70016:")
    );

    // Amy (Authentication Policy Administrator) approves on the page.
    let said = approve(&dir, 0, &user_code, "approve").await;
    assert!(
        said.contains("You have signed in to the oathvault demo client application"),
        "{said}"
    );
    let (s, tokens) = oauth(&dir, "token", &poll).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    assert!(
        tokens["scope"]
            .as_str()
            .unwrap()
            .contains("Policy.ReadWrite.AuthenticationMethod")
    );
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (s, again) = oauth(&dir, "token", &poll).await;
    assert_eq!(
        (s, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "redeemed once"
    );
    let amy = tokens["access_token"].as_str().unwrap().to_owned();
    let (s, _) = crate::common::graph_as(&dir, &amy, "POST", DEVICES, Some(json!({
        "serialNumber": "DC-1", "manufacturer": "C", "model": "M", "secretKey": SECRET_1, "timeIntervalInSeconds": 30
    }))).await;
    assert_eq!(s, StatusCode::CREATED, "Amy's role lets her upload");
    let (s, me) = crate::common::graph_as(&dir, &amy, "GET", "/beta/me", None).await;
    assert_eq!(
        (s, me["userPrincipalName"].as_str()),
        (StatusCode::OK, Some("amy@contoso.example"))
    );

    // The refresh token gives new tokens once.
    let form = format!("grant_type=refresh_token&client_id={client}&refresh_token={refresh}");
    let (s, renewed) = oauth(&dir, "token", &form).await;
    assert_eq!(s, StatusCode::OK, "{renewed}");
    assert!(
        renewed["refresh_token"]
            .as_str()
            .is_some_and(|r| r != refresh)
    );
    let (s, reused) = oauth(&dir, "token", &form).await;
    assert_eq!(
        (s, reused["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Ben has no directory role: his own methods yes, the inventory no.
    let (_, dc) = oauth(
        &dir,
        "devicecode",
        &format!("client_id={client}&scope={scope}"),
    )
    .await;
    let ben_code = dc["user_code"].as_str().unwrap().to_owned();
    let poll = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id={client}&device_code={}",
        dc["device_code"].as_str().unwrap()
    );
    approve(&dir, 1, &ben_code, "approve").await;
    let (_, tokens) = oauth(&dir, "token", &poll).await;
    let ben = tokens["access_token"].as_str().unwrap().to_owned();
    let (s, body) = crate::common::graph_as(&dir, &ben, "GET", DEVICES, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, _) = crate::common::graph_as(
        &dir,
        &ben,
        "GET",
        "/beta/me/authentication/hardwareOathMethods",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Declined: the poll says so.
    let (_, dc) = oauth(
        &dir,
        "devicecode",
        &format!("client_id={client}&scope={scope}"),
    )
    .await;
    let code = dc["user_code"].as_str().unwrap().to_owned();
    let said = approve(&dir, 2, &code, "decline").await;
    assert!(said.contains("cancelled"), "{said}");
    let poll = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id={client}&device_code={}",
        dc["device_code"].as_str().unwrap()
    );
    let (_, body) = oauth(&dir, "token", &poll).await;
    assert_eq!(body["error"], "authorization_declined");
    let (s, body) = oauth(
        &dir,
        "devicecode",
        &format!("client_id={client}&scope=Mail.Read"),
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
}

/// Signs `who` in with a device code for `scope` (form-encoded); the token
/// response.
async fn device_sign_in(dir: &Dir, who: usize, scope: &str) -> serde_json::Value {
    let client = dir.demo.client_id.clone();
    let (s, dc) = oauth(
        dir,
        "devicecode",
        &format!("client_id={client}&scope={scope}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{dc}");
    approve(dir, who, dc["user_code"].as_str().unwrap(), "approve").await;
    let poll = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id={client}&device_code={}",
        dc["device_code"].as_str().unwrap()
    );
    let (s, tokens) = oauth(dir, "token", &poll).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    tokens
}

async fn refresh(dir: &Dir, token: &str, scope: Option<&str>) -> (StatusCode, serde_json::Value) {
    let scope = scope.map(|s| format!("&scope={s}")).unwrap_or_default();
    let form = format!(
        "grant_type=refresh_token&client_id={}&refresh_token={token}{scope}",
        dir.demo.client_id
    );
    oauth(dir, "token", &form).await
}

#[tokio::test]
async fn a_refresh_never_widens_and_a_reused_refresh_token_revokes_its_family() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = directory(tmp.path().join("d.db").to_str().unwrap()).await;
    // Ben (no directory role) asks for reading his own methods only.
    let tokens = device_sign_in(&dir, 1, "UserAuthenticationMethod.Read%20offline_access").await;
    assert_eq!(tokens["scope"], "UserAuthenticationMethod.Read");
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();

    // More than the sign-in granted: refused, and the token stays usable.
    for more in [
        "UserAuthenticationMethod.ReadWrite",
        "User.Read.All%20UserAuthenticationMethod.Read",
    ] {
        let (s, body) = refresh(&dir, &r1, Some(more)).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope")),
            "{more}: {body}"
        );
    }
    // `.default` on a refresh is what the sign-in granted, no more.
    let (s, body) = refresh(
        &dir,
        &r1,
        Some("https%3A%2F%2Fgraph.microsoft.com%2F.default"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "UserAuthenticationMethod.Read");
    let r2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotated");

    // A role-less user is never given what only a role could use, even
    // when the app asks for it and it is consented.
    let tokens = device_sign_in(
        &dir,
        1,
        "https%3A%2F%2Fgraph.microsoft.com%2F.default%20offline_access",
    )
    .await;
    let scope = tokens["scope"].as_str().unwrap();
    assert!(
        scope
            .split(' ')
            .any(|s| s == "UserAuthenticationMethod.ReadWrite"),
        "{scope}"
    );
    for admin in [
        "Policy.Read.All",
        "Policy.ReadWrite.AuthenticationMethod",
        "UserAuthenticationMethod.Read.All",
        "UserAuthenticationMethod.ReadWrite.All",
    ] {
        assert!(!scope.split(' ').any(|s| s == admin), "{admin} in {scope}");
    }

    // The spent r1 used again — even asking for more — is refused, and r2
    // (its family) dies with it.
    let (s, body) = refresh(&dir, &r1, Some("Directory.Read.All")).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let (s, body) = refresh(&dir, &r2, None).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the family is revoked: {body}"
    );
    // Another sign-in's tokens are not touched.
    let other = tokens["refresh_token"].as_str().unwrap();
    let (s, body) = refresh(&dir, other, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_pages_carry_the_web_kits_security_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = oathvault_directory::Settings {
        public_url: Some("https://login.contoso.example".into()),
        ..oathvault_directory::Settings::default()
    };
    let dir =
        crate::common::directory_with(tmp.path().join("d.db").to_str().unwrap(), settings).await;
    for path in ["/login", "/security-info", "/devicelogin"] {
        let r = Request::get(path).body(Body::empty()).unwrap();
        let resp = oathvault_directory::router(dir.state.clone())
            .oneshot(r)
            .await
            .unwrap();
        let h = resp.headers();
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "{path}");
        assert!(
            h[header::STRICT_TRANSPORT_SECURITY]
                .to_str()
                .unwrap()
                .starts_with("max-age="),
            "{path}"
        );
    }
    // Without a public URL, only a loopback address may be listened on.
    let plain = oathvault_directory::Settings::default();
    assert!(oathvault_directory::check_listen("127.0.0.1:8090".parse().unwrap(), &plain).is_ok());
    assert!(oathvault_directory::check_listen("[::1]:8090".parse().unwrap(), &plain).is_ok());
    let e = oathvault_directory::check_listen("0.0.0.0:8090".parse().unwrap(), &plain).unwrap_err();
    assert!(e.contains("--public-url"), "{e}");
    assert!(
        oathvault_directory::check_listen("0.0.0.0:8090".parse().unwrap(), &dir.state.settings)
            .is_ok()
    );
}
