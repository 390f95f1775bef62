//! The vendor API (`/api/v1/`) against a real server on a loopback port,
//! called with reqwest as an order system would: keys and scopes, problem
//! documents, the seed-file import, request status, and webhooks received
//! by a real HTTP receiver in this test and checked by their signatures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]
#![allow(
    clippy::too_many_lines,
    clippy::many_single_char_names,
    reason = "each test tells one story, top to bottom"
)]

use crate::common;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use oathvault_formats::{Format, WriteOptions, pskc};
use oathvault_portal::api::keys::{Scope, add_key, revoke_key};
use oathvault_portal::web::{AppState, serve};
use oathvault_portal::{Actor, WebSettings};
use oathvault_testkit::browser::{
    browser, fill, run, start_chromedriver, submit, wait_for_path, wait_for_text,
};
use oathvault_token::{SecretEncoding, Serial, Step, Token};
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use serde_json::{Value, json};
use sha2::Sha256;
use thirtyfour::prelude::*;
use zeroize::Zeroizing;

const PSK: &str = "12345678901234567890123456789012";

/// What the webhook receiver got: headers and body of each call.
type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A webhook receiver on a loopback port: answers 500 to the first
/// `fail_first` calls, then 200; keeps every call.
async fn receiver(fail_first: usize) -> (String, Received) {
    let got: Received = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let keep = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let keep = Arc::clone(&keep);
            let calls = Arc::clone(&calls);
            async move {
                keep.lock().unwrap().push((headers, body));
                if calls.fetch_add(1, Ordering::SeqCst) < fail_first {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// Starts the portal on a loopback port with `clock`; its base URL.
async fn portal(clock: Box<dyn Fn() -> i64 + Send + Sync>) -> (common::App, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = WebSettings {
        base_url: Some(format!("http://{addr}")),
        ..WebSettings::default()
    };
    settings.requests.find_floor_ms = 20;
    settings.api.webhook_allow_http = true;
    settings.api.webhook_retry_seconds = 5;
    settings.api.rate_per_minute = 40;
    let app = common::app_with_clock(settings, clock).await;
    tokio::spawn(serve(
        listener,
        Arc::clone(&app.state),
        std::future::pending(),
    ));
    (app, format!("http://{addr}/api/v1"))
}

async fn key(st: &AppState, name: &str, scopes: &[Scope]) -> String {
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: common::T,
    };
    let made = add_key(
        &st.store,
        &mut StdRng::seed_from_u64(name.len() as u64),
        &who,
        name,
        scopes,
    )
    .await
    .unwrap();
    made.key.to_string()
}

/// A PSKC file under the pre-shared key [`PSK`] holding TOTP tokens with
/// these serials (secrets derived from the serial).
fn pskc_file(serials: &[&str]) -> Vec<u8> {
    let options = WriteOptions {
        pskc: pskc::Protection::PreSharedKey {
            key: Zeroizing::new(SecretEncoding::Hex.decode(PSK).unwrap().expose().to_vec()),
            name: "Pre-shared-key".into(),
        },
        ..WriteOptions::default()
    };
    let mut out = Vec::new();
    {
        let mut w = oathvault_formats::writer(Format::Pskc, &mut out, &options).unwrap();
        for s in serials {
            let secret = SecretEncoding::Hex
                .decode(&format!("{:0<40}", hex_of(s)))
                .unwrap();
            let mut t = Token::totp(Serial::new(s).unwrap(), secret, Step::S30);
            t.manufacturer = Some("Northwind Tokens".into());
            t.model = Some("NT-6".into());
            w.write(&t).unwrap();
        }
        w.finish().unwrap();
    }
    out
}

fn hex_of(s: &str) -> String {
    data_encoding::HEXLOWER.encode(s.as_bytes())
}

/// A multipart body with the file and the pre-shared key.
fn multipart(file: &[u8], name: &str, psk: &str) -> (String, Vec<u8>) {
    let boundary = "ovtestboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"psk\"\r\n\r\n{psk}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/xml\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self
            .http
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        answer(resp).await
    }

    async fn import(
        &self,
        key: &str,
        shipment: &str,
        file: &[u8],
        psk: &str,
    ) -> (u16, String, Value) {
        let (ctype, body) = multipart(file, "factory.pskcxml", psk);
        let resp = self
            .http
            .post(format!("{}/shipments/{shipment}/tokens", self.base))
            .bearer_auth(key)
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        answer(resp).await
    }
}

async fn answer(resp: reqwest::Response) -> (u16, String, Value) {
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, ctype, json)
}

/// Checks `Oathvault-Signature` on a received call with `secret`.
fn signed_right(headers: &HeaderMap, body: &str, secret: &str) -> bool {
    let sig = headers["oathvault-signature"].to_str().unwrap();
    let (t, v1) = sig.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let want = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
    want == v1
}

async fn wait_for_calls(got: &Received, n: usize) -> Vec<(HeaderMap, String)> {
    for _ in 0..150 {
        let calls = got.lock().unwrap().clone();
        if calls.len() >= n {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the webhook receiver got {} call(s), wanted {n}",
        got.lock().unwrap().len()
    );
}

/// The vendor's order system sets up a customer, an order and two
/// shipments and imports a PSKC file into each through the API alone; the
/// customer then requests the seeds in a real browser, and the order
/// system's webhook receives `request.submitted`, correctly signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendors_day_through_the_api_then_the_customer_submits_and_the_webhook_is_signed() {
    let (app, base) = portal(Box::new(|| common::T)).await;
    let st = Arc::clone(&app.state);
    let api = Api {
        http: reqwest::Client::new(),
        base: base.clone(),
    };
    let erp = key(
        &st,
        "ERP",
        &[
            Scope::CustomersWrite,
            Scope::OrdersWrite,
            Scope::TokensImport,
            Scope::RequestsRead,
            Scope::WebhooksManage,
        ],
    )
    .await;
    let reader = key(&st, "Reports", &[Scope::CustomersRead, Scope::OrdersRead]).await;
    let (hook, got) = receiver(0).await;

    let (s, _, made) = api
        .call(
            &erp,
            "POST",
            "/webhooks",
            Some(json!({"url": hook, "events": ["request.submitted"]})),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);

    let (s, _, c) = api
        .call(
            &erp,
            "POST",
            "/customers",
            Some(json!({"name": "Northwind", "contacts": ["it@northwind.example"]})),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let (s, _, c) = api
        .call(
            &erp,
            "POST",
            "/customers/Northwind/contacts",
            Some(json!({"email": "ops@northwind.example"})),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(
        c["contacts"],
        json!(["it@northwind.example", "ops@northwind.example"])
    );
    let (s, _, o) = api
        .call(
            &erp,
            "POST",
            "/orders",
            Some(json!({"customer": "Northwind", "po": "PO-2001", "invoices": ["INV-9001"]})),
        )
        .await;
    assert_eq!(s, 201, "{o}");
    for number in ["SH-21", "SH-22"] {
        let (s, _, sh) = api
            .call(
                &erp,
                "POST",
                "/orders/PO-2001/shipments",
                Some(json!({"number": number, "shipped_on": "2026-12-01"})),
            )
            .await;
        assert_eq!(s, 201, "{sh}");
    }

    // A key without tokens:import is refused with a problem document.
    let file = pskc_file(&["NW-0001", "NW-0002"]);
    let (s, ctype, p) = api.import(&reader, "SH-21", &file, PSK).await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(p["type"], "urn:oathvault:problem:insufficient-scope");
    assert_eq!(p["scope"], "tokens:import");
    // So is a write with a read-only key; reads work.
    let (s, _, _) = api
        .call(
            &reader,
            "POST",
            "/customers",
            Some(json!({"name": "X", "contacts": ["x@x.example"]})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _, list) = api
        .call(&reader, "GET", "/orders/PO-2001/shipments", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);

    // The wrong pre-shared key: nothing imported, every problem listed.
    let (s, ctype, p) = api
        .import(&erp, "SH-21", &file, "00000000000000000000000000000000")
        .await;
    assert_eq!(
        (s, ctype.as_str()),
        (422, "application/problem+json"),
        "{p}"
    );
    assert_eq!(p["type"], "urn:oathvault:problem:invalid-file");
    assert!(!p["errors"].as_array().unwrap().is_empty(), "{p}");

    let (s, _, done) = api.import(&erp, "SH-21", &file, PSK).await;
    assert_eq!(s, 201, "{done}");
    assert_eq!(
        (done["imported"].as_u64(), done["totp"].as_u64()),
        (Some(2), Some(2))
    );
    let (s, _, done) = api
        .import(&erp, "SH-22", &pskc_file(&["NW-0003"]), PSK)
        .await;
    assert_eq!(s, 201, "{done}");
    // The same file again: all or nothing, the serials are taken.
    let (s, _, p) = api.import(&erp, "SH-21", &file, PSK).await;
    assert_eq!(s, 422, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("NW-0001"), "{p}");

    // Every call with a valid key is in the audit, refused ones too.
    let calls = st
        .store
        .audit_events(Some("api:Reports"), 100)
        .await
        .unwrap();
    let call = |subject: &str, outcome: &str| {
        calls.iter().any(|e| {
            e.event.action == "api.call" && e.event.subject == subject && e.event.outcome == outcome
        })
    };
    assert!(
        call("POST /api/v1/shipments/{number}/tokens", "refused"),
        "{calls:?}"
    );
    assert!(call("GET /api/v1/orders/{po}/shipments", "ok"), "{calls:?}");
    let (_, _, sh) = api.call(&erp, "GET", "/shipments/SH-21", None).await;
    assert_eq!(sh["tokens"], 2);
    let events = st.store.audit_events(Some("api:ERP"), 100).await.unwrap();
    for action in [
        "customer.add",
        "contact.add",
        "order.add",
        "shipment.add",
        "import",
        "webhook.add",
    ] {
        assert!(
            events
                .iter()
                .any(|e| e.event.action == action && e.event.actor == "api:ERP"),
            "no {action} by api:ERP in the audit"
        );
    }

    // The customer's journey, in a real browser.
    let driver = start_chromedriver().await;
    let d = browser(&driver).await;
    let portal_base = base.trim_end_matches("/api/v1").to_owned();
    run(d.clone(), async move {
        d.goto(format!("{portal_base}/request")).await.unwrap();
        fill(&d, "identifier", "INV-9001").await;
        fill(&d, "email", "ops@northwind.example").await;
        submit(&d, "/request").await;
        wait_for_path(&d, "/request/shipments").await;
        for (number, serial) in [("SH-21", "NW-0002"), ("SH-22", "NW-0003")] {
            oathvault_testkit::browser::click(
                &d,
                &format!("input[aria-label='Pick shipment {number}']"),
            )
            .await;
            let field = d
                .query(By::Css(format!(
                    "input[aria-label='Serial of a token in shipment {number}']"
                )))
                .first()
                .await
                .unwrap();
            field.send_keys(serial).await.unwrap();
        }
        submit(&d, "/request/shipments").await;
        wait_for_path(&d, "/request/protection").await;
        oathvault_testkit::browser::click(&d, "input[name=split][value=one]").await;
        oathvault_testkit::browser::click(&d, "input[name=mode][value=password]").await;
        fill(&d, "password", "Tulip-Orbit-42-river").await;
        fill(&d, "password2", "Tulip-Orbit-42-river").await;
        submit(&d, "/request/protection").await;
        wait_for_path(&d, "/request/format").await;
        oathvault_testkit::browser::click(&d, "input[name=format][value=entra-json]").await;
        oathvault_testkit::browser::click(&d, "button[name=action][value=continue]").await;
        wait_for_path(&d, "/request/summary").await;
        submit(&d, "/request/submit").await;
        wait_for_text(&d, "Request submitted").await;
    })
    .await;

    let calls = wait_for_calls(&got, 1).await;
    let (headers, body) = &calls[0];
    assert!(
        signed_right(headers, body, &secret),
        "the signature does not check: {body}"
    );
    assert!(!signed_right(headers, body, &"0".repeat(64)));
    assert_eq!(headers["oathvault-event"], "request.submitted");
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "request.submitted");
    assert_eq!(event["request"]["po"], "PO-2001");
    assert_eq!(event["request"]["customer"], "Northwind");
    let reference = event["request"]["reference"].as_str().unwrap().to_owned();

    // The order system reads the request's status: no secrets in it.
    let (s, _, r) = api
        .call(&erp, "GET", &format!("/requests/{reference}"), None)
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["state"], "submitted");
    assert_eq!(r["shipments"], json!(["SH-21", "SH-22"]));
    let text = r.to_string();
    for leak in ["Tulip-Orbit", "password_hash", "$argon2"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    let (s, _, list) = api
        .call(&erp, "GET", "/requests?state=submitted", None)
        .await;
    assert_eq!(s, 200);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|r| r["reference"] == reference.as_str())
    );
    // The webhook's delivery log shows it delivered on the first try.
    let (_, _, hooks) = api.call(&erp, "GET", "/webhooks", None).await;
    let id = hooks[0]["id"].as_i64().unwrap();
    let (_, _, log) = api
        .call(&erp, "GET", &format!("/webhooks/{id}/deliveries"), None)
        .await;
    assert_eq!(log[0]["state"], "delivered", "{log}");
    assert_eq!(log[0]["attempts"], 1);
}

/// Keys: none, malformed, unknown, wrong secret and revoked get the same
/// 401; a key over its rate gets 429 with Retry-After. Webhooks: a failed
/// delivery is tried again after the back-off and the log shows each try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_limited_and_revocable_and_webhooks_are_retried() {
    let now = Arc::new(AtomicI64::new(common::T));
    let clock = Arc::clone(&now);
    let (app, base) = portal(Box::new(move || clock.load(Ordering::SeqCst))).await;
    let st = Arc::clone(&app.state);
    let api = Api {
        http: reqwest::Client::new(),
        base,
    };
    let good = key(&st, "ERP", &[Scope::CustomersWrite, Scope::WebhooksManage]).await;
    let (s, _, _) = api.call(&good, "GET", "/customers", None).await;
    assert_eq!(s, 200);
    let (prefix, _) = good.rsplit_once('_').unwrap();
    let wrong_secret = format!("{prefix}_{}", "A".repeat(43));
    let mut answers = Vec::new();
    for bad in [
        "",
        "Basic abc",
        "ovk_nothing",
        "ovk_aaaaaaaa_bbbb",
        wrong_secret.as_str(),
    ] {
        let (s, ctype, p) = api.call(bad, "GET", "/customers", None).await;
        assert_eq!(
            (s, ctype.as_str()),
            (401, "application/problem+json"),
            "{bad}: {p}"
        );
        answers.push(p["detail"].as_str().unwrap().to_owned());
    }
    // Unknown and wrong-secret keys get the very same answer.
    assert_eq!(answers[3], answers[4]);

    let (hook, got) = receiver(1).await;
    let (s, _, made) = api
        .call(
            &good,
            "POST",
            "/webhooks",
            Some(json!({"url": hook, "events": ["*"]})),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let (s, _, p) = api
        .call(
            &good,
            "POST",
            "/webhooks",
            Some(json!({"url": "ftp://x", "events": ["request.nothing"]})),
        )
        .await;
    assert_eq!(s, 422, "{p}");

    // An event the webhook wants: a request locked (as the journey writes it).
    let event = oathvault_store::Event::ok(
        common::T,
        "x@example.com",
        "127.0.0.1",
        "request.lock",
        "request:R-NOPE",
    )
    .with_detail("5 wrong answers");
    st.store.audit(&event).await.unwrap();
    let first = wait_for_calls(&got, 1).await;
    assert_eq!(first[0].0["oathvault-event"], "request.locked");
    // Failed (500): tried again only after the back-off (5 s of the portal's clock).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "retried before the back-off");
    now.fetch_add(6, Ordering::SeqCst);
    let both = wait_for_calls(&got, 2).await;
    assert_eq!(both[0].1, both[1].1, "the same body both times");
    let (_, _, hooks) = api.call(&good, "GET", "/webhooks", None).await;
    let id = hooks[0]["id"].as_i64().unwrap();
    for _ in 0..50 {
        let (_, _, log) = api
            .call(&good, "GET", &format!("/webhooks/{id}/deliveries"), None)
            .await;
        if log[0]["state"] == "delivered" {
            assert_eq!(log[0]["attempts"], 2);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Revoked: refused from the next call on.
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: common::T,
    };
    revoke_key(&st.store, &who, "ERP").await.unwrap();
    let (s, _, _) = api.call(&good, "GET", "/customers", None).await;
    assert_eq!(s, 401);

    // The rate limit (40 a minute in this test).
    let busy = key(&st, "Busy", &[Scope::CustomersRead]).await;
    let mut limited = None;
    for _ in 0..45 {
        let resp = api
            .http
            .get(format!("{}/customers", api.base))
            .bearer_auth(&busy)
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            limited = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            break;
        }
    }
    let wait: i64 = limited.expect("no 429 within 45 calls").parse().unwrap();
    assert!((1..=60).contains(&wait));
}

/// The `OpenAPI` document is built from the routes: every API route is in it,
/// each operation names its scope, and it is `OpenAPI` 3.1.
#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let (_app, base) = portal(Box::new(|| common::T)).await;
    let doc: Value = reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/customers",
        "/customers/{name}",
        "/customers/{name}/contacts",
        "/orders",
        "/orders/{po}",
        "/orders/{po}/shipments",
        "/shipments/{number}",
        "/shipments/{number}/tokens",
        "/requests",
        "/requests/{reference}",
        "/webhooks",
        "/webhooks/{id}",
        "/webhooks/{id}/deliveries",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the document");
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let scopes = &op["security"][0]["api_key"];
            assert!(
                scopes.as_array().is_some_and(|s| !s.is_empty()),
                "{method} {path} names no scope"
            );
        }
    }
}
