//! Replays Microsoft's documented Graph answers for hardware OATH tokens
//! from a stub server on a loopback port, checks what the client sends
//! (bearer token, content type, exact bodies, the encoded `$filter`), and
//! checks that every public operation of [`Graph`] and [`push::push`] reads
//! both the flat and the wrapped device shapes, follows paging, retries what
//! Graph says to retry, and surfaces Graph's errors.
//!
//! Where each body comes from (section of /work/shared/spec/graph-hardware-oath.md,
//! and the page it cites; a `learn.microsoft.com/graph/api/…` address is the
//! rendering of the docs-contrib file the spec names, `…/api/{file name}?view=graph-rest-beta`).
//! Bodies marked "verbatim" are copied as the spec prints them, placeholder
//! ids (`aad49556-####-…`) and all:
//!
//! - `CREATE_REQUEST`, `CREATED` — §2.3 "Create one", docs-contrib
//!   `api-reference/beta/api/authenticationmethoddevice-post-hardwareoathdevices.md`
//!   (<https://learn.microsoft.com/graph/api/authenticationmethoddevice-post-hardwareoathdevices?view=graph-rest-beta>):
//!   the request and the `201 Created` flat entity, verbatim; `CREATED` also
//!   carries the `@odata.context …/$entity` line that §1.4 quotes from the
//!   Entra how-to's POST answer (entra-docs `docs/identity/authentication/how-to-mfa-manage-oath-tokens.md`,
//!   <https://learn.microsoft.com/entra/identity/authentication/how-to-mfa-manage-oath-tokens>).
//! - `DELTA_REQUEST`, `DELTA_CREATED` — §2.4 "Bulk create", docs-contrib
//!   `api-reference/beta/api/authenticationmethoddevice-update.md`
//!   (<https://learn.microsoft.com/graph/api/authenticationmethoddevice-update?view=graph-rest-beta>):
//!   the `#$delta` request and the `201 Created` `value` array of wrapped
//!   `hardwareOathAuthenticationMethod` items, verbatim. The same array is
//!   the wrapped list page: §1.4 says the List/Get/user-method pages
//!   (docs-contrib `authenticationmethoddevice-list-hardwareoathdevices.md`,
//!   <https://learn.microsoft.com/graph/api/authenticationmethoddevice-list-hardwareoathdevices?view=graph-rest-beta>)
//!   wrap each item as `{"@odata.type":"#microsoft.graph.hardwareOathAuthenticationMethod","id":…,"device":{…}}`.
//! - `GOT_WRAPPED` — §1.4 (Microsoft's Get example, §2.2, wraps a single
//!   entity in `"value": {…}`; the spec quotes no Get body): the first §2.4
//!   `device` object, verbatim, inside `{"value": …}`. The flat Get answer
//!   is `CREATED`.
//! - `FLAT_PAGE` — §1.4 ("implement against the flat shape": flat
//!   `value[]` items, as community code reads them) and §2.1 (paging by
//!   `@odata.nextLink`, "follow the full URL until absent"). The spec prints
//!   no flat list body: the item is the stub's, with the values of Microsoft's
//!   legacy CSV sample row (§5.1, <https://learn.microsoft.com/entra/identity/authentication/how-to-mfa-upload-oath-tokens>)
//!   and `timeIntervalInSeconds` written as a string as the §2.4 request
//!   writes it; its id, the `@odata.context` and the `$skiptoken` link
//!   (pointing back to the stub) are the stub's.
//! - `ASSIGNED` — §2.7 "Per-user methods" table, row "Assign (no
//!   activation)", docs-contrib `authentication-post-hardwareoathmethods.md`
//!   (<https://learn.microsoft.com/graph/api/authentication-post-hardwareoathmethods?view=graph-rest-beta>):
//!   the `201` body, verbatim (its `"…"` values included). Activate,
//!   deactivate, unassign (§2.7) and delete (§2.6,
//!   `authenticationmethoddevice-delete-hardwareoathdevices.md`) answer
//!   `204 No Content`. The activation path uses the ids of the Entra how-to
//!   example §2.7 quotes verbatim.
//! - `USER` — the spec prints no user body: `id` and `displayName` are
//!   §2.4's `assignedTo`; the UPN and `@odata.context` are the stub's.
//! - `GRAPH_ERROR` — §4.1, docs-contrib `concepts/errors.md`
//!   (<https://learn.microsoft.com/graph/errors>), verbatim (`"request-id": "request-id"`).
//!   Microsoft documents no hardware-OATH error codes (§4.1, §2.3: duplicate
//!   serial "[UNVERIFIED]"), so the stub answers this body for its 400, 409
//!   and 500 too.
//! - `THROTTLED` — §4.1, the Q&A throttled body
//!   (<https://learn.microsoft.com/en-us/answers/questions/648796/retry-after-header-upper-limit-or-range>),
//!   verbatim except the elided `…,` member, dropped to make it JSON; §4.2
//!   (<https://learn.microsoft.com/graph/throttling>) for `429` + `Retry-After`.
//! - `TOKEN` — §3.2 gives the client-credentials request only (`POST
//!   {authority}/{tenant}/oauth2/v2.0/token`, form-encoded); the answer is
//!   the identity platform's documented shape (`token_type`, `expires_in`,
//!   `ext_expires_in`, `access_token`) with a fake token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test"
)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use oathvault_graph::auth::DEFAULT_SCOPE;
use oathvault_graph::push::{self, Job, Outcome, Progress, PushOptions, TokenResult};
use oathvault_graph::{Auth, Credential, Device, Endpoints, Error, Graph, RetryPolicy};
use oathvault_otp::clock::Stopwatch;
use oathvault_token::{SecretEncoding, Serial, Step, Token};
use serde_json::{Value, json};
use zeroize::Zeroizing;

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT_ID: &str = "11112222-bbbb-3333-cccc-4444dddd5555";
const CLIENT_SECRET: &str = "stub~client~secret";
const ACCESS_TOKEN: &str = "fake-access-token-1";
const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";
/// Jan 1 2026, the fixed clock.
const NOW: i64 = 1_767_225_600;

// ---------------------------------------------------------------------------
// Microsoft's documented bodies (see the module docs for each source).

/// §2.3 request, verbatim.
const CREATE_REQUEST: &str = r#"{
  "displayName": "Token 1",
  "serialNumber": "TOTP123456",
  "manufacturer": "Contoso",
  "model": "Hardware Token 1000",
  "secretKey": "6PJ4UKIW33NNXYZAEHQNFUFTZF7WFTFB",
  "timeIntervalInSeconds": 30,
  "hashFunction": "hmacsha1"
}"#;

/// §2.3 `201 Created`, verbatim, with §1.4's `$entity` context line.
const CREATED: &str = r##"{
  "@odata.context": "https://graph.microsoft.com/beta/$metadata#directory/authenticationMethodDevices/hardwareOathDevices/$entity",
  "@odata.type": "#microsoft.graph.hardwareOathTokenAuthenticationMethodDevice",
  "id": "9b037532-f999-1ed9-13fd-849ffb995e11",
  "displayName": "Token 1", "serialNumber": "TOTP123456", "manufacturer": "Contoso",
  "model": "Hardware Token 1000", "secretKey": null, "timeIntervalInSeconds": 30,
  "status": "available", "lastUsedDateTime": null, "assignedTo": null, "hashFunction": "hmacsha1"
}"##;

/// §2.4 request, verbatim.
const DELTA_REQUEST: &str = r##"{
  "@context": "#$delta",
  "value": [
    { "@contentId": "1", "serialNumber": "TOTP123456", "manufacturer": "Contoso",
      "model": "Hardware Token 1000", "secretKey": "6PJ4UKIW33NNXYZAEHQNFUFTZF7WFTFB",
      "timeIntervalInSeconds": "30", "hashFunction": "hmacsha1" },
    { "@contentId": "2", "serialNumber": "TOTP654321", "manufacturer": "Contoso",
      "model": "Hardware Token 1000", "secretKey": "TXYZAE6PJ4UZF3NNKIW3HQNFUF7WFTFB",
      "timeIntervalInSeconds": "30", "hashFunction": "hmacsha1",
      "assignTo": { "id": "0cadbf92-####-####-####-############" } }
  ]
}"##;

/// §2.4 `201 Created`, verbatim; also the wrapped list page (§1.4).
const DELTA_CREATED: &str = r##"{
  "value": [
    { "@odata.type": "#microsoft.graph.hardwareOathAuthenticationMethod",
      "id": "aad49556-####-####-####-############",
      "device": { "id": "aad49556-####-####-####-############", "displayName": null,
        "serialNumber": "TOTP123456", "manufacturer": "Contoso", "model": "Hardware Token 1000",
        "secretKey": null, "timeIntervalInSeconds": 30, "status": "available",
        "hashFunction": "hmacsha1", "assignedTo": null } },
    { "@odata.type": "#microsoft.graph.hardwareOathAuthenticationMethod",
      "id": "3dee0e53-####-####-####-############",
      "device": { "id": "3dee0e53-####-####-####-############", "displayName": null,
        "serialNumber": "TOTP654321", "manufacturer": "Contoso", "model": "Hardware Token 1000",
        "secretKey": null, "timeIntervalInSeconds": 30, "status": "assigned",
        "hashFunction": "hmacsha1",
        "assignedTo": { "id": "0cadbf92-####-####-####-############", "displayName": "Amy Masters" } } }
  ]
}"##;

/// §1.4: a single entity wrapped in `"value"` (the first §2.4 device).
const GOT_WRAPPED: &str = r#"{
  "value": { "id": "aad49556-####-####-####-############", "displayName": null,
        "serialNumber": "TOTP123456", "manufacturer": "Contoso", "model": "Hardware Token 1000",
        "secretKey": null, "timeIntervalInSeconds": 30, "status": "available",
        "hashFunction": "hmacsha1", "assignedTo": null }
}"#;

/// §1.4 flat list page with §2.1 paging; `{base}` is the stub's URL.
const FLAT_PAGE: &str = r##"{
  "@odata.context": "https://graph.microsoft.com/beta/$metadata#directory/authenticationMethodDevices/hardwareOathDevices",
  "value": [
    { "@odata.type": "#microsoft.graph.hardwareOathTokenAuthenticationMethodDevice",
      "id": "5e1f2a3b-####-####-####-############", "displayName": null,
      "serialNumber": "1234567", "manufacturer": "Contoso", "model": "HardwareKey",
      "secretKey": null, "timeIntervalInSeconds": "60", "status": "available",
      "lastUsedDateTime": null, "assignedTo": null, "hashFunction": "hmacsha1" }
  ],
  "@odata.nextLink": "{base}/beta/directory/authenticationMethodDevices/hardwareOathDevices?$skiptoken=RFNwdAIAAQAAAA"
}"##;

/// §2.7 assign `201`, verbatim.
const ASSIGNED: &str = r##"{"@odata.type":"#microsoft.graph.hardwareOathAuthenticationMethod","id":"…","createdDateTime":"…"}"##;

/// A user (the spec has none; see the module docs).
const USER: &str = r#"{
  "@odata.context": "https://graph.microsoft.com/beta/$metadata#users(id,userPrincipalName,displayName)/$entity",
  "id": "0cadbf92-####-####-####-############",
  "userPrincipalName": "AmyM@contoso.com",
  "displayName": "Amy Masters"
}"#;

/// §4.1 Graph error body, verbatim.
const GRAPH_ERROR: &str = r#"{ "error": { "code": "invalidRange", "message": "Uploaded fragment overlaps with existing data.",
             "innerError": { "request-id": "request-id", "date": "date-time" } } }"#;

/// §4.1 throttled body (the elided member dropped).
const THROTTLED: &str = r#"{"error":{"code":"activityLimitReached","message":"The request has been throttled","innerError":{"code":"throttledRequest","date":"…","request-id":"…","client-request-id":"…"}}}"#;

/// The token endpoint's answer (client credentials).
const TOKEN: &str =
    r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{token}"}"#;

// ---------------------------------------------------------------------------
// The stub.

/// One canned answer.
#[derive(Debug, Clone)]
struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, body: &str) -> Canned {
    Canned {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_owned(),
    }
}

fn no_content() -> Canned {
    Canned {
        status: 204,
        headers: Vec::new(),
        body: String::new(),
    }
}

impl Canned {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// Answers to `method target` (raw path and query), in turn; the last one
/// repeats. `body_has`, when set, must occur in the request body.
#[derive(Debug)]
struct Route {
    method: Method,
    target: String,
    body_has: Option<String>,
    replies: VecDeque<Canned>,
}

/// A request as the stub saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    target: String,
    authorization: Option<String>,
    content_type: Option<String>,
    client_request_id: Option<String>,
    body: String,
}

#[derive(Debug, Default)]
struct Stub {
    routes: Mutex<Vec<Route>>,
    seen: Mutex<Vec<Seen>>,
    tokens_issued: Mutex<u32>,
}

async fn handle(
    State(stub): State<Arc<Stub>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let header = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(body.to_vec()).unwrap();
    stub.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        target: target.clone(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        client_request_id: header("client-request-id"),
        body: body.clone(),
    });
    let canned = if method == Method::POST && target == format!("/{TENANT}/oauth2/v2.0/token") {
        let mut n = stub.tokens_issued.lock().unwrap();
        *n += 1;
        reply(
            200,
            &TOKEN.replace("{token}", &format!("fake-access-token-{n}")),
        )
    } else {
        let mut routes = stub.routes.lock().unwrap();
        let route = routes.iter_mut().find(|r| {
            r.method == method
                && r.target == target
                && r.body_has
                    .as_ref()
                    .is_none_or(|n| body.contains(n.as_str()))
        });
        match route {
            Some(r) if r.replies.len() > 1 => r.replies.pop_front().unwrap(),
            Some(r) => r.replies.front().unwrap().clone(),
            None => reply(
                501,
                &json!({"error": {"code": "stubNoRoute", "message": format!("{method} {target}")}})
                    .to_string(),
            ),
        }
    };
    let mut response = Response::builder().status(canned.status);
    for (name, value) in &canned.headers {
        response = response.header(*name, value);
    }
    response.body(Body::from(canned.body)).unwrap()
}

struct Server {
    base: String,
    stub: Arc<Stub>,
}

impl Server {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stub = Arc::new(Stub::default());
        let app = Router::new().fallback(handle).with_state(Arc::clone(&stub));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, stub }
    }

    fn on(&self, method: Method, target: &str, replies: Vec<Canned>) {
        self.route(method, target, None, replies);
    }

    fn on_body(&self, method: Method, target: &str, body_has: &str, replies: Vec<Canned>) {
        self.route(method, target, Some(body_has), replies);
    }

    fn route(&self, method: Method, target: &str, body_has: Option<&str>, replies: Vec<Canned>) {
        assert!(!replies.is_empty());
        self.stub.routes.lock().unwrap().push(Route {
            method,
            target: target.to_owned(),
            body_has: body_has.map(str::to_owned),
            replies: replies.into(),
        });
    }

    /// Every request so far, token requests included.
    fn seen(&self) -> Vec<Seen> {
        self.stub.seen.lock().unwrap().clone()
    }

    /// The requests to Graph (`/beta/…`), in order.
    fn graph_requests(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.target.starts_with("/beta/"))
            .collect()
    }

    /// `METHOD target` of each Graph request.
    fn lines(&self) -> Vec<String> {
        self.graph_requests()
            .iter()
            .map(|s| format!("{} {}", s.method, s.target))
            .collect()
    }

    fn tokens_issued(&self) -> u32 {
        *self.stub.tokens_issued.lock().unwrap()
    }

    /// A client for this stub, made the way the CLI's `connect` makes one.
    fn graph(&self, retry: RetryPolicy) -> Graph {
        let http = oathvault_graph::client::http_client(Duration::from_secs(10)).unwrap();
        let auth = Auth::new(
            http.clone(),
            Endpoints {
                authority: self.base.clone(),
                tenant: TENANT.to_owned(),
            },
            CLIENT_ID,
            DEFAULT_SCOPE,
            Credential::Secret(Zeroizing::new(CLIENT_SECRET.to_owned())),
            Arc::new(|| NOW),
        );
        Graph::new(
            http,
            &format!("{}/beta", self.base),
            Arc::new(auth),
            retry,
            7,
        )
    }

    /// Checks the sign-in (once, client credentials, form-encoded) and that
    /// every Graph request carried the bearer token and a client request id,
    /// and `Content-Type: application/json` exactly when it had a body.
    fn assert_signed(&self) {
        let seen = self.seen();
        let token: Vec<&Seen> = seen
            .iter()
            .filter(|s| !s.target.starts_with("/beta/"))
            .collect();
        assert_eq!(token.len(), 1, "one token request, then the cached token");
        let t = token[0];
        assert_eq!(t.method, Method::POST);
        assert_eq!(t.target, format!("/{TENANT}/oauth2/v2.0/token"));
        assert_eq!(
            t.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            t.authorization, None,
            "no bearer token at the token endpoint"
        );
        let form = form_decode(&t.body);
        assert_eq!(
            form,
            HashMap::from([
                ("grant_type".to_owned(), "client_credentials".to_owned()),
                ("client_id".to_owned(), CLIENT_ID.to_owned()),
                ("client_secret".to_owned(), CLIENT_SECRET.to_owned()),
                (
                    "scope".to_owned(),
                    "https://graph.microsoft.com/.default".to_owned()
                ),
            ])
        );
        let graph: Vec<&Seen> = seen
            .iter()
            .filter(|s| s.target.starts_with("/beta/"))
            .collect();
        assert!(!graph.is_empty());
        for s in graph {
            let line = format!("{} {}", s.method, s.target);
            assert_eq!(
                s.authorization.as_deref(),
                Some(format!("Bearer {ACCESS_TOKEN}").as_str()),
                "{line}"
            );
            let id = s.client_request_id.as_deref().unwrap_or_default();
            assert!(
                uuid::Uuid::parse_str(id).is_ok(),
                "{line}: client-request-id {id:?}"
            );
            if s.body.is_empty() {
                assert_eq!(s.content_type, None, "{line}");
            } else {
                assert_eq!(
                    s.content_type.as_deref(),
                    Some("application/json"),
                    "{line}"
                );
            }
        }
    }
}

/// `application/x-www-form-urlencoded` → pairs.
fn form_decode(body: &str) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    body.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

/// A path segment as Graph must receive it (`#` would start a fragment).
fn seg(id: &str) -> String {
    id.replace('#', "%23").replace('@', "%40")
}

/// A small, fast policy: 3 attempts, millisecond back-off, and a cap high
/// enough to obey a `Retry-After: 1`.
fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(5),
        cap: Duration::from_secs(2),
    }
}

/// The fields that matter, on one line.
fn summary(d: &Device) -> String {
    format!(
        "{} {} {} {}s {} {}/{} {} user={} name={}",
        d.id,
        d.serial_number,
        d.status(),
        d.time_interval_in_seconds.unwrap_or_default(),
        d.hash_function.as_deref().unwrap_or("-"),
        d.manufacturer.as_deref().unwrap_or("-"),
        d.model.as_deref().unwrap_or("-"),
        d.display_name.as_deref().unwrap_or("-"),
        d.user_id().unwrap_or("-"),
        d.assigned_to
            .as_ref()
            .and_then(|a| a.display_name.as_deref())
            .unwrap_or("-"),
    )
}

/// The two tokens of §2.3/§2.4, with the spec's secrets.
fn spec_token(serial: &str, secret: &str) -> Token {
    let mut t = Token::totp(
        Serial::new(serial).unwrap(),
        SecretEncoding::Base32.decode(secret).unwrap(),
        Step::S30,
    );
    t.manufacturer = Some("Contoso".into());
    t.model = Some("Hardware Token 1000".into());
    t
}

fn token_1() -> Token {
    spec_token("TOTP123456", "6PJ4UKIW33NNXYZAEHQNFUFTZF7WFTFB")
}

fn token_2() -> Token {
    spec_token("TOTP654321", "TXYZAE6PJ4UZF3NNKIW3HQNFUF7WFTFB")
}

const AMY: &str = "0cadbf92-####-####-####-############";

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// §2.4's request as this client sends it: `timeIntervalInSeconds` as a
/// number (the spec: "Prefer integers").
fn delta_request_with_numbers() -> Value {
    let mut want = json_of(DELTA_REQUEST);
    for item in want["value"].as_array_mut().unwrap() {
        item["timeIntervalInSeconds"] = json!(30);
    }
    want
}

// ---------------------------------------------------------------------------
// Reading: list, by serial, by id.

#[tokio::test]
async fn list_devices_follows_next_link_across_a_flat_and_a_wrapped_page() {
    let s = Server::start().await;
    s.on(
        Method::GET,
        DEVICES,
        vec![reply(200, &FLAT_PAGE.replace("{base}", &s.base))],
    );
    s.on(
        Method::GET,
        &format!("{DEVICES}?$skiptoken=RFNwdAIAAQAAAA"),
        vec![reply(200, DELTA_CREATED)],
    );
    let graph = s.graph(fast());
    let mut pages = Vec::new();
    let devices = graph.list_devices(None, |n| pages.push(n)).await.unwrap();
    assert_eq!(pages, [1, 3], "the count after each page");
    let got: Vec<String> = devices.iter().map(summary).collect();
    assert_eq!(
        got,
        [
            // Flat, `timeIntervalInSeconds` a string.
            "5e1f2a3b-####-####-####-############ 1234567 available 60s hmacsha1 Contoso/HardwareKey - user=- name=-",
            // Wrapped in `device`.
            "aad49556-####-####-####-############ TOTP123456 available 30s hmacsha1 Contoso/Hardware Token 1000 - user=- name=-",
            "3dee0e53-####-####-####-############ TOTP654321 assigned 30s hmacsha1 Contoso/Hardware Token 1000 - user=0cadbf92-####-####-####-############ name=Amy Masters",
        ]
    );
    assert_eq!(
        s.lines(),
        [
            format!("GET {DEVICES}"),
            format!("GET {DEVICES}?$skiptoken=RFNwdAIAAQAAAA"),
        ]
    );
    assert_eq!(graph.stats.requests.load(Ordering::Relaxed), 2);
    s.assert_signed();
}

#[tokio::test]
async fn device_by_serial_sends_an_encoded_filter_and_compares_serials_exactly() {
    let s = Server::start().await;
    // Graph's `eq` ignores case: both filters find TOTP123456 (wrapped).
    let one_wrapped = json!({ "value": [json_of(DELTA_CREATED)["value"][0].clone()] }).to_string();
    for serial in ["TOTP123456", "totp123456"] {
        s.on(
            Method::GET,
            &format!("{DEVICES}?$filter=serialNumber%20eq%20%27{serial}%27"),
            vec![reply(200, &one_wrapped)],
        );
    }
    // A quote is doubled, then everything but unreserved characters encoded.
    s.on(
        Method::GET,
        &format!("{DEVICES}?$filter=serialNumber%20eq%20%27O%27%27Brien%201%2F%C3%BC%27"),
        vec![reply(200, r#"{"value": []}"#)],
    );
    let graph = s.graph(fast());

    let d = graph.device_by_serial("TOTP123456").await.unwrap().unwrap();
    assert_eq!(
        summary(&d),
        "aad49556-####-####-####-############ TOTP123456 available 30s hmacsha1 Contoso/Hardware Token 1000 - user=- name=-"
    );
    assert_eq!(
        graph.device_by_serial("totp123456").await.unwrap(),
        None,
        "serials are compared exactly, whatever Graph's eq matched"
    );
    assert_eq!(graph.device_by_serial("O'Brien 1/ü").await.unwrap(), None);
    assert_eq!(
        s.lines(),
        [
            format!("GET {DEVICES}?$filter=serialNumber%20eq%20%27TOTP123456%27"),
            format!("GET {DEVICES}?$filter=serialNumber%20eq%20%27totp123456%27"),
            format!("GET {DEVICES}?$filter=serialNumber%20eq%20%27O%27%27Brien%201%2F%C3%BC%27"),
        ]
    );
    s.assert_signed();
}

#[tokio::test]
async fn device_by_serial_refuses_a_serial_listed_twice() {
    let s = Server::start().await;
    let twice = json!({ "value": [
        json_of(DELTA_CREATED)["value"][0].clone(),
        json_of(CREATED),
    ]})
    .to_string();
    s.on(
        Method::GET,
        &format!("{DEVICES}?$filter=serialNumber%20eq%20%27TOTP123456%27"),
        vec![reply(200, &twice)],
    );
    let graph = s.graph(fast());
    let e = graph.device_by_serial("TOTP123456").await.unwrap_err();
    assert!(
        matches!(&e, Error::Unexpected { detail, .. } if detail.contains("2 times")),
        "{e}"
    );
    s.assert_signed();
}

#[tokio::test]
async fn device_reads_a_value_wrapped_and_a_flat_entity() {
    let s = Server::start().await;
    let wrapped_id = "aad49556-####-####-####-############";
    let flat_id = "9b037532-f999-1ed9-13fd-849ffb995e11";
    s.on(
        Method::GET,
        &format!("{DEVICES}/{}", seg(wrapped_id)),
        vec![reply(200, GOT_WRAPPED)],
    );
    s.on(
        Method::GET,
        &format!("{DEVICES}/{flat_id}"),
        vec![reply(200, CREATED)],
    );
    let graph = s.graph(fast());
    let a = graph.device(wrapped_id).await.unwrap();
    assert_eq!(
        summary(&a),
        "aad49556-####-####-####-############ TOTP123456 available 30s hmacsha1 Contoso/Hardware Token 1000 - user=- name=-"
    );
    let b = graph.device(flat_id).await.unwrap();
    assert_eq!(
        summary(&b),
        "9b037532-f999-1ed9-13fd-849ffb995e11 TOTP123456 available 30s hmacsha1 Contoso/Hardware Token 1000 Token 1 user=- name=-"
    );
    assert_eq!(b.last_used_date_time, None);
    assert_eq!(
        s.lines(),
        [
            // `#` percent-encoded: sent raw it would cut the path short.
            format!(
                "GET {DEVICES}/aad49556-%23%23%23%23-%23%23%23%23-%23%23%23%23-%23%23%23%23%23%23%23%23%23%23%23%23"
            ),
            format!("GET {DEVICES}/{flat_id}"),
        ]
    );
    s.assert_signed();
}

// ---------------------------------------------------------------------------
// Creating.

#[tokio::test]
async fn create_device_posts_graphs_body_and_reads_the_flat_entity() {
    let s = Server::start().await;
    s.on(Method::POST, DEVICES, vec![reply(201, CREATED)]);
    let graph = s.graph(fast());

    let d = graph.create_device(&token_1(), None).await.unwrap();
    assert_eq!(
        summary(&d),
        "9b037532-f999-1ed9-13fd-849ffb995e11 TOTP123456 available 30s hmacsha1 Contoso/Hardware Token 1000 Token 1 user=- name=-"
    );
    let d = graph.create_device(&token_2(), Some(AMY)).await.unwrap();
    assert_eq!(d.id, "9b037532-f999-1ed9-13fd-849ffb995e11");

    let sent = s.graph_requests();
    assert_eq!(sent.len(), 2);
    // §2.3's request, but for the optional displayName (the token has none).
    let mut want = json_of(CREATE_REQUEST);
    want.as_object_mut().unwrap().remove("displayName");
    assert_eq!(json_of(&sent[0].body), want);
    assert!(
        sent[0]
            .body
            .contains(r#""secretKey":"6PJ4UKIW33NNXYZAEHQNFUFTZF7WFTFB""#),
        "Base32, upper case, unpadded: {}",
        sent[0].body
    );
    assert!(!sent[0].body.contains("@contentId"));
    assert_eq!(
        json_of(&sent[1].body),
        json!({
            "serialNumber": "TOTP654321", "manufacturer": "Contoso", "model": "Hardware Token 1000",
            "secretKey": "TXYZAE6PJ4UZF3NNKIW3HQNFUF7WFTFB", "timeIntervalInSeconds": 30,
            "hashFunction": "hmacsha1", "assignTo": { "id": AMY }
        })
    );
    s.assert_signed();
}

#[tokio::test]
async fn create_devices_sends_one_delta_patch_and_reads_the_wrapped_methods() {
    let s = Server::start().await;
    s.on(Method::PATCH, DEVICES, vec![reply(201, DELTA_CREATED)]);
    let graph = s.graph(fast());
    let (t1, t2) = (token_1(), token_2());
    let devices = graph
        .create_devices(&[(&t1, None), (&t2, Some(AMY))])
        .await
        .unwrap();
    let got: Vec<String> = devices.iter().map(summary).collect();
    assert_eq!(
        got,
        [
            "aad49556-####-####-####-############ TOTP123456 available 30s hmacsha1 Contoso/Hardware Token 1000 - user=- name=-",
            "3dee0e53-####-####-####-############ TOTP654321 assigned 30s hmacsha1 Contoso/Hardware Token 1000 - user=0cadbf92-####-####-####-############ name=Amy Masters",
        ]
    );
    let sent = s.graph_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, Method::PATCH);
    assert_eq!(json_of(&sent[0].body), delta_request_with_numbers());
    assert!(
        sent[0]
            .body
            .starts_with(r##"{"@context":"#$delta","value":["##)
    );
    s.assert_signed();
}

// ---------------------------------------------------------------------------
// Users and their methods; deleting.

#[tokio::test]
async fn user_assign_activate_deactivate_unassign_and_delete() {
    let s = Server::start().await;
    let device = "aad49556-####-####-####-############";
    // §2.7's activation example, ids verbatim.
    let how_to_user = "00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
    let how_to_device = "3dee0e53-f50f-43ef-85c0-b44689f2d66d";
    let methods = format!(
        "/beta/users/{}/authentication/hardwareOathMethods",
        seg(AMY)
    );
    s.on(
        Method::GET,
        "/beta/users/AmyM%40contoso.com?$select=id,userPrincipalName,displayName",
        vec![reply(200, USER)],
    );
    s.on(Method::POST, &methods, vec![reply(201, ASSIGNED)]);
    s.on(
        Method::POST,
        &format!(
            "/beta/users/{how_to_user}/authentication/hardwareOathMethods/{how_to_device}/activate"
        ),
        vec![no_content()],
    );
    s.on(
        Method::POST,
        &format!("{methods}/{}/deactivate", seg(device)),
        vec![no_content()],
    );
    s.on(
        Method::DELETE,
        &format!("{methods}/{}", seg(device)),
        vec![no_content()],
    );
    s.on(
        Method::DELETE,
        &format!("{DEVICES}/{}", seg(device)),
        vec![no_content()],
    );
    let graph = s.graph(fast());

    let user = graph.user("AmyM@contoso.com").await.unwrap();
    assert_eq!(user.id, AMY);
    assert_eq!(
        user.user_principal_name.as_deref(),
        Some("AmyM@contoso.com")
    );
    assert_eq!(user.display_name.as_deref(), Some("Amy Masters"));
    graph.assign(&user.id, device).await.unwrap();
    graph
        .activate(how_to_user, how_to_device, "012345")
        .await
        .unwrap();
    graph.deactivate(&user.id, device).await.unwrap();
    graph.unassign(&user.id, device).await.unwrap();
    graph.delete_device(device).await.unwrap();

    let sent = s.graph_requests();
    let lines = s.lines();
    assert_eq!(
        lines,
        [
            "GET /beta/users/AmyM%40contoso.com?$select=id,userPrincipalName,displayName"
                .to_owned(),
            format!("POST {methods}"),
            format!(
                "POST /beta/users/{how_to_user}/authentication/hardwareOathMethods/{how_to_device}/activate"
            ),
            format!("POST {methods}/{}/deactivate", seg(device)),
            format!("DELETE {methods}/{}", seg(device)),
            format!("DELETE {DEVICES}/{}", seg(device)),
        ]
    );
    // Exact bodies: the assignment, and the code as a string (leading zero kept).
    assert_eq!(sent[1].body, format!(r#"{{"device":{{"id":"{device}"}}}}"#));
    assert_eq!(sent[2].body, r#"{"verificationCode":"012345"}"#);
    for i in [0, 3, 4, 5] {
        assert_eq!(sent[i].body, "", "{}", lines[i]);
    }
    s.assert_signed();
}

// ---------------------------------------------------------------------------
// Errors and retries.

#[tokio::test]
async fn graph_errors_are_surfaced_with_code_and_request_id_and_not_retried() {
    let s = Server::start().await;
    let device = "3dee0e53-f50f-43ef-85c0-b44689f2d66d";
    s.on(
        Method::POST,
        &format!(
            "/beta/users/{}/authentication/hardwareOathMethods/{device}/activate",
            seg(AMY)
        ),
        vec![reply(400, GRAPH_ERROR).header("request-id", "header-request-id")],
    );
    s.on(
        Method::GET,
        &format!("{DEVICES}/{device}"),
        vec![Canned {
            status: 404,
            headers: vec![("request-id", "header-404".into())],
            body: String::new(),
        }],
    );
    let graph = s.graph(fast());

    let e = graph.activate(AMY, device, "000000").await.unwrap_err();
    let g = e.graph().expect("a Graph error");
    assert_eq!(g.status, 400);
    assert_eq!(g.code, "invalidRange");
    assert_eq!(g.message, "Uploaded fragment overlaps with existing data.");
    assert_eq!(
        g.request_id.as_deref(),
        Some("request-id"),
        "innerError's request-id before the header's"
    );
    assert_eq!(e.code(), "invalidRange");
    assert_eq!(
        e.to_string(),
        "Graph invalidRange (HTTP 400, request-id request-id): Uploaded fragment overlaps with existing data."
    );

    let e = graph.device(device).await.unwrap_err();
    let g = e.graph().expect("a Graph error");
    assert_eq!((g.status, g.code.as_str()), (404, "http404"));
    assert_eq!(g.request_id.as_deref(), Some("header-404"));

    assert_eq!(s.graph_requests().len(), 2, "4xx is not retried");
    assert_eq!(graph.stats.retries.load(Ordering::Relaxed), 0);
    s.assert_signed();
}

#[tokio::test]
async fn throttled_429_waits_retry_after_then_succeeds() {
    let s = Server::start().await;
    let id = "9b037532-f999-1ed9-13fd-849ffb995e11";
    s.on(
        Method::GET,
        &format!("{DEVICES}/{id}"),
        vec![
            reply(429, THROTTLED).header("retry-after", "1"),
            reply(200, CREATED),
        ],
    );
    let graph = s.graph(fast());
    let clock = Stopwatch::start();
    let d = graph.device(id).await.unwrap();
    let waited = clock.elapsed();
    assert_eq!(d.serial_number, "TOTP123456");
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 obeyed, not the 5 ms back-off: {waited:?}"
    );
    assert_eq!(graph.stats.throttled.load(Ordering::Relaxed), 1);
    assert_eq!(graph.stats.retries.load(Ordering::Relaxed), 1);
    assert_eq!(graph.stats.requests.load(Ordering::Relaxed), 2);
    assert_eq!(s.graph_requests().len(), 2);
    s.assert_signed();
}

#[tokio::test]
async fn unavailable_503_without_retry_after_backs_off_then_succeeds() {
    let s = Server::start().await;
    s.on(
        Method::GET,
        DEVICES,
        vec![
            Canned {
                status: 503,
                headers: Vec::new(),
                body: String::new(),
            },
            reply(200, DELTA_CREATED),
        ],
    );
    let graph = s.graph(fast());
    let clock = Stopwatch::start();
    let devices = graph.list_devices(None, |_| {}).await.unwrap();
    assert!(
        clock.elapsed() < Duration::from_millis(900),
        "the millisecond back-off"
    );
    assert_eq!(devices.len(), 2);
    assert_eq!(graph.stats.throttled.load(Ordering::Relaxed), 1);
    assert_eq!(graph.stats.retries.load(Ordering::Relaxed), 1);
    assert_eq!(s.graph_requests().len(), 2);
    s.assert_signed();
}

#[tokio::test]
async fn server_error_500_every_time_gives_up_after_the_policy_attempts() {
    let s = Server::start().await;
    s.on(
        Method::GET,
        "/beta/users/AmyM%40contoso.com?$select=id,userPrincipalName,displayName",
        vec![reply(500, GRAPH_ERROR).header("request-id", "r-500")],
    );
    let graph = s.graph(fast());
    let e = graph.user("AmyM@contoso.com").await.unwrap_err();
    let g = e.graph().expect("the last answer's Graph error");
    assert_eq!(g.status, 500);
    assert_eq!(g.code, "invalidRange");
    assert_eq!(g.request_id.as_deref(), Some("request-id"));
    assert_eq!(s.graph_requests().len(), fast().attempts as usize);
    assert_eq!(
        graph.stats.requests.load(Ordering::Relaxed),
        u64::from(fast().attempts)
    );
    assert_eq!(
        graph.stats.retries.load(Ordering::Relaxed),
        u64::from(fast().attempts - 1)
    );
    assert_eq!(graph.stats.throttled.load(Ordering::Relaxed), 0);
    s.assert_signed();
}

#[tokio::test]
async fn a_401_fetches_a_new_token_once_and_retries_with_it() {
    let s = Server::start().await;
    s.on(
        Method::GET,
        DEVICES,
        vec![reply(401, GRAPH_ERROR), reply(200, DELTA_CREATED)],
    );
    let graph = s.graph(fast());
    assert_eq!(graph.list_devices(None, |_| {}).await.unwrap().len(), 2);
    assert_eq!(s.tokens_issued(), 2);
    let auth: Vec<Option<String>> = s
        .graph_requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(
        auth,
        [
            Some("Bearer fake-access-token-1".to_owned()),
            Some("Bearer fake-access-token-2".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_not_followed() {
    let s = Server::start().await;
    let elsewhere = Server::start().await;
    elsewhere.on(
        Method::GET,
        &format!("{DEVICES}?$skiptoken=RFNwdAIAAQAAAA"),
        vec![reply(200, DELTA_CREATED)],
    );
    // Another port of the same host is another origin.
    s.on(
        Method::GET,
        DEVICES,
        vec![reply(200, &FLAT_PAGE.replace("{base}", &elsewhere.base))],
    );
    let graph = s.graph(fast());
    let e = graph.list_devices(None, |_| {}).await.unwrap_err();
    match &e {
        Error::Unexpected { detail, .. } => {
            assert!(detail.contains("another site"), "{detail}");
            assert!(detail.contains(&elsewhere.base), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(elsewhere.seen().is_empty(), "the bearer token stayed home");
    assert_eq!(s.lines(), [format!("GET {DEVICES}")]);
    s.assert_signed();
}

// ---------------------------------------------------------------------------
// push.

#[derive(Default)]
struct Heard {
    listed: Mutex<Vec<usize>>,
    results: Mutex<Vec<TokenResult>>,
}

impl Progress for Heard {
    fn listed(&self, existing: usize) {
        self.listed.lock().unwrap().push(existing);
    }
    fn results(&self, results: &[TokenResult]) {
        self.results.lock().unwrap().extend_from_slice(results);
    }
}

fn outcomes(results: &[TokenResult]) -> Vec<String> {
    results
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.serial,
                r.outcome.as_str(),
                r.device_id.as_deref().unwrap_or("-"),
                r.status.as_deref().unwrap_or("-"),
            )
        })
        .collect()
}

/// The inventory: one flat page holding serial 1234567, no next link.
fn inventory_page() -> String {
    let mut page = json_of(&FLAT_PAGE.replace("{base}", "http://unused"));
    page.as_object_mut().unwrap().remove("@odata.nextLink");
    page.to_string()
}

fn inventory_token() -> Token {
    let mut t = spec_token("1234567", "2234567ABCDEF2234567ABCDEF");
    t.kind = oathvault_token::Kind::totp(Step::S60);
    t
}

#[tokio::test]
async fn push_sends_a_chunk_as_one_delta_patch() {
    let s = Server::start().await;
    s.on(Method::GET, DEVICES, vec![reply(200, &inventory_page())]);
    s.on(Method::PATCH, DEVICES, vec![reply(201, DELTA_CREATED)]);
    let graph = s.graph(fast());
    let tokens = [inventory_token(), token_1(), token_2()];
    let assign = HashMap::from([("TOTP654321".to_owned(), AMY.to_owned())]);
    let heard = Heard::default();
    let results = push::push(
        &graph,
        Job {
            tokens: &tokens,
            assign: &assign,
            done: &HashMap::new(),
        },
        PushOptions {
            chunk: 2,
            concurrency: 1,
            dry_run: false,
        },
        &heard,
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes(&results),
        [
            "1234567 exists 5e1f2a3b-####-####-####-############ available",
            "TOTP123456 created aad49556-####-####-####-############ available",
            "TOTP654321 created 3dee0e53-####-####-####-############ assigned",
        ]
    );
    assert_eq!(*heard.listed.lock().unwrap(), [1]);
    assert_eq!(heard.results.lock().unwrap().len(), 3);
    assert_eq!(
        s.lines(),
        [format!("GET {DEVICES}"), format!("PATCH {DEVICES}")]
    );
    assert_eq!(
        json_of(&s.graph_requests()[1].body),
        delta_request_with_numbers()
    );
    s.assert_signed();
}

#[tokio::test]
async fn push_falls_back_to_single_posts_and_finds_a_conflict_by_serial() {
    let s = Server::start().await;
    s.on(Method::GET, DEVICES, vec![reply(200, &inventory_page())]);
    s.on(
        Method::PATCH,
        DEVICES,
        vec![reply(400, GRAPH_ERROR).header("request-id", "r-patch")],
    );
    s.on_body(
        Method::POST,
        DEVICES,
        r#""serialNumber":"TOTP123456""#,
        vec![reply(201, CREATED)],
    );
    s.on_body(
        Method::POST,
        DEVICES,
        r#""serialNumber":"TOTP654321""#,
        vec![reply(409, GRAPH_ERROR).header("request-id", "r-409")],
    );
    let second_wrapped =
        json!({ "value": [json_of(DELTA_CREATED)["value"][1].clone()] }).to_string();
    s.on(
        Method::GET,
        &format!("{DEVICES}?$filter=serialNumber%20eq%20%27TOTP654321%27"),
        vec![reply(200, &second_wrapped)],
    );
    let graph = s.graph(fast());
    let tokens = [inventory_token(), token_1(), token_2()];
    let assign = HashMap::from([("TOTP654321".to_owned(), AMY.to_owned())]);
    let heard = Heard::default();
    let results = push::push(
        &graph,
        Job {
            tokens: &tokens,
            assign: &assign,
            done: &HashMap::new(),
        },
        PushOptions {
            chunk: 2,
            concurrency: 1,
            dry_run: false,
        },
        &heard,
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes(&results),
        [
            "1234567 exists 5e1f2a3b-####-####-####-############ available",
            "TOTP123456 created 9b037532-f999-1ed9-13fd-849ffb995e11 available",
            "TOTP654321 exists 3dee0e53-####-####-####-############ assigned",
        ]
    );
    assert!(results.iter().all(|r| r.error_code.is_none()));
    assert_eq!(heard.results.lock().unwrap().len(), 3);
    assert_eq!(
        s.lines(),
        [
            format!("GET {DEVICES}"),
            format!("PATCH {DEVICES}"),
            format!("POST {DEVICES}"),
            format!("POST {DEVICES}"),
            format!("GET {DEVICES}?$filter=serialNumber%20eq%20%27TOTP654321%27"),
        ]
    );
    let sent = s.graph_requests();
    assert_eq!(json_of(&sent[1].body), delta_request_with_numbers());
    // The single POSTs: no @contentId, the assignment kept.
    let mut want = json_of(CREATE_REQUEST);
    want.as_object_mut().unwrap().remove("displayName");
    assert_eq!(json_of(&sent[2].body), want);
    assert_eq!(
        json_of(&sent[3].body),
        json!({
            "serialNumber": "TOTP654321", "manufacturer": "Contoso", "model": "Hardware Token 1000",
            "secretKey": "TXYZAE6PJ4UZF3NNKIW3HQNFUF7WFTFB", "timeIntervalInSeconds": 30,
            "hashFunction": "hmacsha1", "assignTo": { "id": AMY }
        })
    );
    assert_eq!(graph.stats.retries.load(Ordering::Relaxed), 0);
    s.assert_signed();
}

#[tokio::test]
async fn push_reports_a_failed_post_with_graphs_code_and_request_id() {
    let s = Server::start().await;
    s.on(Method::GET, DEVICES, vec![reply(200, r#"{"value": []}"#)]);
    s.on(
        Method::POST,
        DEVICES,
        vec![reply(400, GRAPH_ERROR).header("request-id", "r-post")],
    );
    s.on(
        Method::GET,
        &format!("{DEVICES}?$filter=serialNumber%20eq%20%27TOTP123456%27"),
        vec![reply(200, r#"{"value": []}"#)],
    );
    let graph = s.graph(fast());
    let tokens = [token_1()];
    let results = push::push(
        &graph,
        Job {
            tokens: &tokens,
            assign: &HashMap::new(),
            done: &HashMap::new(),
        },
        PushOptions::default(),
        &Heard::default(),
    )
    .await
    .unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.error_code.as_deref(), Some("invalidRange"));
    assert_eq!(r.request_id.as_deref(), Some("request-id"));
    assert_eq!(
        s.lines(),
        [
            format!("GET {DEVICES}"),
            format!("POST {DEVICES}"),
            format!("GET {DEVICES}?$filter=serialNumber%20eq%20%27TOTP123456%27"),
        ],
        "a chunk of one goes straight to POST, then is looked up by serial"
    );
    s.assert_signed();
}

#[tokio::test]
async fn push_keeps_the_assignee_when_a_delta_answer_misses_a_serial() {
    let s = Server::start().await;
    s.on(Method::GET, DEVICES, vec![reply(200, r#"{"value": []}"#)]);
    // Graph's serial matching ignores case (§2.1 `eq`): the §2.4 answer
    // names TOTP654321 where this file says totp654321.
    s.on(Method::PATCH, DEVICES, vec![reply(201, DELTA_CREATED)]);
    s.on(Method::POST, DEVICES, vec![reply(201, CREATED)]);
    let graph = s.graph(fast());
    let lower = spec_token("totp654321", "TXYZAE6PJ4UZF3NNKIW3HQNFUF7WFTFB");
    let tokens = [token_1(), lower];
    let assign = HashMap::from([("totp654321".to_owned(), AMY.to_owned())]);
    push::push(
        &graph,
        Job {
            tokens: &tokens,
            assign: &assign,
            done: &HashMap::new(),
        },
        PushOptions {
            chunk: 2,
            concurrency: 1,
            dry_run: false,
        },
        &Heard::default(),
    )
    .await
    .unwrap();
    let sent = s.graph_requests();
    assert_eq!(
        s.lines(),
        [
            format!("GET {DEVICES}"),
            format!("PATCH {DEVICES}"),
            format!("POST {DEVICES}"),
        ]
    );
    assert_eq!(
        json_of(&sent[2].body)["assignTo"],
        json!({ "id": AMY }),
        "the single POST must still assign the token: {}",
        sent[2].body
    );
}

/// Beyond Entra: the local directory's clock endpoints. Microsoft Graph
/// answers a path outside its versions with `400 Invalid version` (the
/// §4.1 error shape; the code is the one Graph gives for it): the client
/// reads that as "no drift reported", not as a failure.
#[tokio::test]
async fn token_clocks_are_none_where_graph_has_no_such_endpoint() {
    let s = Server::start().await;
    let invalid = r#"{ "error": { "code": "BadRequest", "message": "Invalid version: api",
             "innerError": { "request-id": "request-id", "date": "date-time" } } }"#;
    s.on(Method::GET, "/api/tokens", vec![reply(400, invalid)]);
    s.on(
        Method::GET,
        "/api/tokens/10001001",
        vec![reply(400, invalid)],
    );
    let graph = s.graph(fast());
    assert_eq!(graph.token_clocks().await.unwrap(), None);
    assert_eq!(graph.token_clock("10001001").await.unwrap(), None);
    // Where they exist, they are read, page by page.
    let s = Server::start().await;
    s.on(
        Method::GET,
        "/api/tokens",
        vec![reply(
            200,
            r#"{"value":[{"serialNumber":"A","driftSeconds":-30,"lastUsedDateTime":"2026-11-27T10:00:00Z"}],"nextAfter":"A"}"#,
        )],
    );
    s.on(
        Method::GET,
        "/api/tokens?after=A",
        vec![reply(
            200,
            r#"{"value":[{"serialNumber":"B","driftSeconds":60,"lastUsedDateTime":"2026-11-27T10:01:00Z"}]}"#,
        )],
    );
    let clocks = s.graph(fast()).token_clocks().await.unwrap().unwrap();
    assert_eq!(
        clocks
            .iter()
            .map(|c| (c.serial_number.as_str(), c.drift_seconds))
            .collect::<Vec<_>>(),
        [("A", -30), ("B", 60)]
    );
    // A server failure is an error (retried first), not "not reported".
    let s = Server::start().await;
    s.on(Method::GET, "/api/tokens", vec![reply(500, GRAPH_ERROR)]);
    assert!(s.graph(fast()).token_clocks().await.is_err());
}
