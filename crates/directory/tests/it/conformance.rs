//! Conformance: Microsoft's documented example requests (from
//! `shared/spec/graph-hardware-oath.md`, corrected where the documents are
//! invalid) sent to the directory in process, and the documented responses
//! checked field by field; then the rules (states, codes, limits), errors in
//! Graph's and the identity platform's shapes, paging past 1,000, and
//! sealing. On SQLite and on a real PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test"
)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use oathvault_directory::{Directory, Settings, router};
use oathvault_testkit::postgres::TempPostgres;
use oathvault_token::SecretEncoding;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{
    Dir, SECRET_1, SECRET_2, T, code, directory, directory_with, graph, graph_as, send, token,
};

const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";

fn assert_graph_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        body["error"]["innerError"]["request-id"]
            .as_str()
            .is_some_and(|r| r.len() == 36)
    );
    assert!(body["error"]["innerError"]["date"].is_string());
}

/// §2.3: create one token; the documented response, field by field.
async fn create_one(dir: &Dir) -> String {
    let (s, body) = graph(
        dir,
        "POST",
        DEVICES,
        Some(json!({
            "@odata.type": "#microsoft.graph.hardwareOathTokenAuthenticationMethodDevice",
            "displayName": "Token 1",
            "serialNumber": "TOTP123456",
            "manufacturer": "Contoso",
            "model": "Hardware Token 1000",
            "secretKey": SECRET_1,
            "timeIntervalInSeconds": 30,
            "hashFunction": "hmacsha1"
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let expected = json!({
        "@odata.type": "#microsoft.graph.hardwareOathTokenAuthenticationMethodDevice",
        "displayName": "Token 1", "serialNumber": "TOTP123456", "manufacturer": "Contoso",
        "model": "Hardware Token 1000", "secretKey": null, "timeIntervalInSeconds": 30,
        "status": "available", "lastUsedDateTime": null, "assignedTo": null, "hashFunction": "hmacsha1"
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&body[k], v, "field {k}");
    }
    assert!(body["@odata.context"].as_str().unwrap().ends_with(
        "/beta/$metadata#directory/authenticationMethodDevices/hardwareOathDevices/$entity"
    ));
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    // The same serial again: refused.
    let (s, body) = graph(
        dir,
        "POST",
        DEVICES,
        Some(json!({
            "serialNumber": "TOTP123456", "manufacturer": "Contoso", "model": "X",
            "secretKey": SECRET_2, "timeIntervalInSeconds": 30
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_graph_error(&body, "Request_MultipleObjectsWithSameKeyValue");
    id
}

/// §2.4: the documented bulk request (interval as a string, `assignTo`), PATCH.
async fn create_bulk(dir: &Dir, amy: &str) {
    let (s, body) = graph(
        dir,
        "PATCH",
        DEVICES,
        Some(json!({
            "@context": "#$delta",
            "value": [
                { "@contentId": "1", "serialNumber": "TOTP654321-A", "manufacturer": "Contoso",
                  "model": "Hardware Token 1000", "secretKey": SECRET_1,
                  "timeIntervalInSeconds": "30", "hashFunction": "hmacsha1" },
                { "@contentId": "2", "serialNumber": "TOTP654321", "manufacturer": "Contoso",
                  "model": "Hardware Token 1000", "secretKey": SECRET_2,
                  "timeIntervalInSeconds": "30", "hashFunction": "hmacsha1",
                  "assignTo": { "id": amy } }
            ]
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let v = body["value"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(
        v[0]["@odata.type"],
        "#microsoft.graph.hardwareOathAuthenticationMethod"
    );
    assert_eq!(v[0]["id"], v[0]["device"]["id"]);
    assert_eq!(v[0]["device"]["status"], "available");
    assert_eq!(v[0]["device"]["timeIntervalInSeconds"], 30);
    assert_eq!(v[1]["device"]["status"], "assigned");
    assert_eq!(v[1]["device"]["assignedTo"]["id"], amy);
    assert_eq!(v[1]["device"]["assignedTo"]["displayName"], "Amy Masters");
    assert!(v[1]["device"]["secretKey"].is_null());
    // One bad item refuses the whole request, naming it.
    let (s, body) = graph(dir, "PATCH", DEVICES, Some(json!({
        "@context": "#$delta",
        "value": [
            { "@contentId": "1", "serialNumber": "OK-1", "manufacturer": "C", "model": "M",
              "secretKey": SECRET_1, "timeIntervalInSeconds": 30 },
            { "@contentId": "2", "serialNumber": "testingCreateFail", "manufacturer": "C", "model": "M",
              "timeIntervalInSeconds": 30 }
        ]
    }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("@contentId 2: secretKey is required")
    );
    let (_, body) = graph(
        dir,
        "GET",
        &format!("{DEVICES}?$filter=serialNumber eq 'OK-1'").replace(' ', "%20"),
        None,
    )
    .await;
    assert_eq!(
        body["value"].as_array().unwrap().len(),
        0,
        "nothing of the refused request was kept"
    );
}

async fn list_and_filter(dir: &Dir) {
    // §2.1's documented examples.
    let (s, body) = graph(
        dir,
        "GET",
        &format!("{DEVICES}?$filter=serialNumber%20eq%20'TOTP123456'"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#directory/authenticationMethodDevices/hardwareOathDevices")
    );
    let v = body["value"].as_array().unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["serialNumber"], "TOTP123456");
    let (_, body) = graph(
        dir,
        "GET",
        &format!("{DEVICES}?$filter=status%20eq%20'assigned'&$select=serialNumber,status"),
        None,
    )
    .await;
    let v = body["value"].as_array().unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["serialNumber"], "TOTP654321");
    assert!(
        v[0].get("model").is_none() && v[0].get("secretKey").is_none(),
        "$select: {v:?}"
    );
    let (s, body) = graph(
        dir,
        "GET",
        &format!("{DEVICES}?$filter=status%20ne%20'assigned'"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_graph_error(&body, "Request_UnsupportedQuery");
}

async fn paging_past_a_thousand(dir: &Dir) {
    for chunk in 0..3 {
        let value: Vec<Value> = (0..1000)
            .map(|i| {
                json!({
                    "@contentId": (i + 1).to_string(),
                    "serialNumber": format!("P{:05}", chunk * 1000 + i),
                    "manufacturer": "Contoso", "model": "Bulk",
                    "secretKey": SECRET_1, "timeIntervalInSeconds": 30
                })
            })
            .collect();
        let (s, _) = graph(
            dir,
            "PATCH",
            DEVICES,
            Some(json!({ "@context": "#$delta", "value": value })),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let mut url = format!("{DEVICES}?$filter=model%20eq%20'Bulk'");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (s, body) = graph(dir, "GET", &url, None).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        pages += 1;
        seen.extend(
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["serialNumber"].as_str().unwrap().to_owned()),
        );
        match body["@odata.nextLink"].as_str() {
            Some(next) => next
                .strip_prefix("http://127.0.0.1:9")
                .unwrap()
                .clone_into(&mut url),
            None => break,
        }
    }
    assert_eq!(pages, 4, "1000 + 1000 + 1000 + an empty last page");
    assert_eq!(seen.len(), 3000);
    seen.dedup();
    assert_eq!(seen.len(), 3000, "no token twice");
}

async fn user_methods(dir: &Dir, id: &str, amy: &str) {
    let base = format!("/beta/users/{amy}/authentication/hardwareOathMethods");
    // Assign (§2.7, the documented body without its trailing comma).
    let (s, body) = graph(dir, "POST", &base, Some(json!({ "device": { "id": id } }))).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["@odata.type"],
        "#microsoft.graph.hardwareOathAuthenticationMethod"
    );
    assert_eq!(body["id"], id);
    assert_eq!(body["createdDateTime"], "2026-11-26T12:37:00Z");
    // A wrong code: 400 and failedActivation.
    let (s, body) = graph(
        dir,
        "POST",
        &format!("{base}/{id}/activate"),
        Some(json!({ "verificationCode": "000000" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (_, d) = graph(dir, "GET", &format!("{DEVICES}/{id}"), None).await;
    assert_eq!(d["status"], "failedActivation");
    // The right code (a string, leading zeros kept), with a name: activated.
    let (s, body) = graph(
        dir,
        "POST",
        &format!("{base}/{id}/activate"),
        Some(json!({
            "verificationCode": code(SECRET_1, T), "displayName": "Amy Masters Token"
        })),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (_, d) = graph(dir, "GET", &format!("{DEVICES}/{id}"), None).await;
    assert_eq!(
        (d["status"].as_str(), d["displayName"].as_str()),
        (Some("activated"), Some("Amy Masters Token"))
    );
    assert_eq!(d["lastUsedDateTime"], "2026-11-26T12:37:00Z");
    // The user's list and one method, by UPN too.
    let (s, body) = graph(
        dir,
        "GET",
        "/beta/users/amy@contoso.example/authentication/hardwareOathMethods",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id));
    let (s, body) = graph(dir, "GET", &format!("{base}/{id}"), None).await;
    assert_eq!(
        (s, body["device"]["serialNumber"].as_str()),
        (StatusCode::OK, Some("TOTP123456"))
    );
    // Assigned tokens cannot be updated or deleted.
    let (s, _) = graph(
        dir,
        "PATCH",
        &format!("{DEVICES}/{id}"),
        Some(json!({ "hashFunction": "hmacsha256" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = graph(dir, "DELETE", &format!("{DEVICES}/{id}"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Another user cannot take it.
    let ben = "/beta/users/ben@contoso.example/authentication/hardwareOathMethods";
    let (s, _) = graph(dir, "POST", ben, Some(json!({ "device": { "id": id } }))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Deactivate: assigned; unassign: available, still in the inventory.
    let (s, _) = graph(dir, "POST", &format!("{base}/{id}/deactivate"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, d) = graph(dir, "GET", &format!("{DEVICES}/{id}"), None).await;
    assert_eq!(d["status"], "assigned");
    let (s, _) = graph(dir, "DELETE", &format!("{base}/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, d) = graph(dir, "GET", &format!("{DEVICES}/{id}"), None).await;
    assert_eq!(
        (d["status"].as_str(), d["assignedTo"].is_null()),
        (Some("available"), true)
    );
    // Assign and activate by serial number; the code used before is refused.
    let (s, _) = graph(dir, "POST", &format!("{ben}/assignAndActivateBySerialNumber"), Some(json!({
        "verificationCode": code(SECRET_1, T), "serialNumber": "TOTP123456", "displayName": "Ben's token"
    }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a code is never accepted twice");
    let (s, body) = graph(
        dir,
        "POST",
        &format!("{ben}/assignAndActivateBySerialNumber"),
        Some(json!({
            "verificationCode": code(SECRET_1, T + 30), "serialNumber": "TOTP123456"
        })),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    // Update (unassigned only) and delete.
    let (_, d) = graph(
        dir,
        "GET",
        &format!("{DEVICES}?$filter=serialNumber%20eq%20'TOTP654321-A'"),
        None,
    )
    .await;
    let free = d["value"][0]["id"].as_str().unwrap().to_owned();
    let (s, _) = graph(
        dir,
        "PATCH",
        &format!("{DEVICES}/{free}"),
        Some(json!({ "hashFunction": "hmacsha256", "displayName": "Spare" })),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = graph(
        dir,
        "PATCH",
        &format!("{DEVICES}/{free}"),
        Some(json!({ "secretKey": SECRET_2 })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (_, d) = graph(dir, "GET", &format!("{DEVICES}/{free}"), None).await;
    assert_eq!(
        (d["hashFunction"].as_str(), d["displayName"].as_str()),
        (Some("hmacsha256"), Some("Spare"))
    );
    let (s, _) = graph(dir, "DELETE", &format!("{DEVICES}/{free}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = graph(dir, "GET", &format!("{DEVICES}/{free}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_graph_error(&body, "Request_ResourceNotFound");
}

async fn five_methods_at_most(dir: &Dir) {
    let helga = "/beta/users/helga@contoso.example/authentication/hardwareOathMethods";
    let (_, list) = graph(
        dir,
        "GET",
        &format!("{DEVICES}?$filter=model%20eq%20'Bulk'&$top=6"),
        None,
    )
    .await;
    let ids: Vec<String> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids[..5] {
        let (s, _) = graph(dir, "POST", helga, Some(json!({ "device": { "id": id } }))).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, body) = graph(
        dir,
        "POST",
        helga,
        Some(json!({ "device": { "id": ids[5] } })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains('5'),
        "{body}"
    );
}

async fn errors_and_permissions(dir: &Dir) {
    let (s, body) = graph_as(dir, "", "GET", DEVICES, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_graph_error(&body, "InvalidAuthenticationToken");
    let (s, _) = graph_as(dir, "e30.e30.e30", "GET", DEVICES, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // An app granted only reading cannot write.
    let mut rng = StdRng::seed_from_u64(3);
    let (app, secret) = Directory::new(&dir.state.db, &dir.state.master)
        .add_app(
            &mut rng,
            &dir.demo.tenant_id,
            "reader",
            &["Policy.Read.All".to_owned()],
            T,
        )
        .await
        .unwrap();
    let (_, body) = token(
        dir,
        &app.client_id,
        &secret,
        "https://graph.microsoft.com/.default",
    )
    .await;
    let reader = body["access_token"].as_str().unwrap().to_owned();
    let (s, _) = graph_as(dir, &reader, "GET", DEVICES, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = graph_as(dir, &reader, "POST", DEVICES, Some(json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_graph_error(&body, "Authorization_RequestDenied");
    let (s, body) = graph(dir, "GET", "/beta/users/nobody@contoso.example", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_graph_error(&body, "Request_ResourceNotFound");
    let (s, body) = graph(
        dir,
        "POST",
        DEVICES,
        Some(json!({
            "serialNumber": "BAD", "manufacturer": "C", "model": "M",
            "secretKey": "C2dE3fH4iJ5kL6mN7oP1qR2sT3uV4w", "timeIntervalInSeconds": 30
        })),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "Microsoft's how-to sample is not Base32"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("'1'"),
        "{body}"
    );
    let (s, body) = graph(
        dir,
        "GET",
        "/beta/me/authentication/hardwareOathMethods",
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "/me needs a delegated token: {body}"
    );
}

async fn identity_platform_errors(dir: &Dir) {
    let (s, body) = token(
        dir,
        &dir.demo.client_id,
        "wrong-secret",
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215:")
    );
    assert_eq!(body["error_codes"], json!([7_000_215]));
    let (s, body) = token(
        dir,
        &dir.demo.client_id,
        &dir.demo.client_secret,
        "User.Read",
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let r = Request::post("/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let (s, body) = send(dir, r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS90002:")
    );
    let r = Request::get(format!("/{}/discovery/v2.0/keys", dir.demo.tenant_id))
        .body(Body::empty())
        .unwrap();
    let (s, body) = send(dir, r).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["keys"][0]["kty"], "RSA");
    assert_eq!(body["keys"][0]["alg"], "RS256");
}

/// Beyond Entra: the OTP check API (Ben's token was activated with the
/// code of T + 30, one step fast).
async fn otp_check(dir: &Dir) {
    let check = |body: Value| async move {
        let (s, v) = graph(dir, "POST", "/api/otp/check", Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    };
    let v = check(json!({ "user": "ben@contoso.example", "code": code(SECRET_1, T + 60) })).await;
    assert_eq!(
        v,
        json!({ "accepted": true, "serialNumber": "TOTP123456", "driftSeconds": 60 })
    );
    let v = check(json!({ "user": "ben@contoso.example", "code": code(SECRET_1, T + 60) })).await;
    assert_eq!(v, json!({ "accepted": false }), "the same code twice");
    let v = check(json!({ "serialNumber": "TOTP123456", "code": code(SECRET_1, T + 90) })).await;
    assert_eq!(v["accepted"], true);
    let v = check(json!({ "user": "amy@contoso.example", "code": code(SECRET_1, T + 120) })).await;
    assert_eq!(v["accepted"], false, "not Amy's token");
    let (s, _) = graph(
        dir,
        "POST",
        "/api/otp/check",
        Some(json!({ "code": "123456" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Beyond Entra, for the help desk: the clocks of the used tokens.
    let (s, v) = graph(dir, "GET", "/api/tokens/TOTP123456", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["driftSeconds"], 90,
        "measured at the last accepted code (T + 90)"
    );
    let (s, v) = graph(dir, "GET", "/api/tokens", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let used: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["serialNumber"].as_str().unwrap())
        .collect();
    assert_eq!(used, ["TOTP123456"], "only tokens a code was accepted from");
    assert_eq!(v["value"][0]["driftSeconds"], 90);
    assert!(v["value"][0]["lastUsedDateTime"].is_string());
    assert!(v.get("nextAfter").is_none(), "one page");
    let (s, v) = graph(dir, "GET", "/api/tokens?after=TOTP123456", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["value"], json!([]));
}

async fn scenario(database: &str) -> Dir {
    let dir = directory(database).await;
    let (s, amy) = graph(&dir, "GET", "/beta/users/amy@contoso.example", None).await;
    assert_eq!(s, StatusCode::OK, "{amy}");
    assert_eq!(amy["userPrincipalName"], "amy@contoso.example");
    let amy = amy["id"].as_str().unwrap().to_owned();
    let (s, users) = graph(
        &dir,
        "GET",
        "/beta/users?$filter=userPrincipalName%20eq%20'ben@contoso.example'&$select=id,displayName",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(users["value"][0]["displayName"], "Ben Okafor");
    let id = create_one(&dir).await;
    create_bulk(&dir, &amy).await;
    list_and_filter(&dir).await;
    user_methods(&dir, &id, &amy).await;
    otp_check(&dir).await;
    paging_past_a_thousand(&dir).await;
    five_methods_at_most(&dir).await;
    errors_and_permissions(&dir).await;
    identity_platform_errors(&dir).await;
    dir
}

/// Every encoding of Microsoft's example secrets.
fn assert_sealed(haystack: &[u8], what: &str) {
    for b32 in [SECRET_1, SECRET_2] {
        let raw = SecretEncoding::Base32.decode(b32).unwrap();
        for needle in [
            b32.as_bytes().to_vec(),
            b32.to_ascii_lowercase().into_bytes(),
            raw.expose().to_vec(),
            data_encoding::HEXLOWER.encode(raw.expose()).into_bytes(),
            data_encoding::BASE64.encode(raw.expose()).into_bytes(),
        ] {
            assert!(
                !haystack
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice()),
                "{what} holds a token secret"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("directory.db");
    let dir = scenario(file.to_str().unwrap()).await;
    dir.state.db.close().await;
    let mut bytes = std::fs::read(&file).unwrap();
    if let Ok(wal) = std::fs::read(tmp.path().join("directory.db-wal")) {
        bytes.extend(wal);
    }
    assert_sealed(&bytes, "the SQLite file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_postgres() {
    let pg = TempPostgres::start();
    let dir = scenario(pg.url()).await;
    dir.state.db.close().await;
    assert_sealed(pg.dump().as_bytes(), "pg_dump");
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = Settings {
        throttle: Some(oathvault_directory::Throttle {
            every: 3,
            retry_after: 0,
        }),
        ..Settings::default()
    };
    let dir = directory_with(tmp.path().join("d.db").to_str().unwrap(), settings).await;
    let app = router(dir.state.clone());
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = Request::get(DEVICES)
            .header(header::AUTHORIZATION, format!("Bearer {}", dir.token))
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(r).await.unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(resp.headers()[header::RETRY_AFTER], "0");
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
}
