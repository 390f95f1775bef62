//! The administration pages, in process: forms that create customers,
//! contacts, orders, shipments and staff; importing a file by upload; the
//! audit log and its filters; access control on every route; no secret on
//! any page.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use crate::common;

use axum::http::{StatusCode, header};
use common::{ADMIN, App, T, app, app_with, code_at, fetch, req, send, sign_in, upload};
use oathvault_portal::WebSettings;
use oathvault_testkit::golden::assert_no_secret;

const GOLDEN_CSV: &[u8] = include_bytes!("../../../formats/testdata/golden.entra.csv");

/// Every administration route, as (method, path).
const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/"),
    ("GET", "/admin/customers"),
    ("POST", "/admin/customers"),
    ("POST", "/admin/customers/contact"),
    ("GET", "/admin/orders"),
    ("POST", "/admin/orders"),
    ("GET", "/admin/shipments"),
    ("POST", "/admin/shipments"),
    ("GET", "/admin/import"),
    ("POST", "/admin/import"),
    ("GET", "/admin/staff"),
    ("POST", "/admin/staff"),
    ("POST", "/admin/staff/access"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/audit/verify"),
];

async fn post(app: &App, path: &str, cookie: &str, form: &str) -> (StatusCode, String, String) {
    fetch(app, req("POST", path, Some(cookie), Some(form.to_owned()))).await
}

async fn get(app: &App, path: &str, cookie: &str) -> (StatusCode, String, String) {
    fetch(app, req("GET", path, Some(cookie), None)).await
}

/// Creates customer "Example Ltd", order PO-1 and shipment SHP-1 through the forms.
async fn inventory(app: &App, admin: &str) {
    let (s, loc, _) = post(
        app,
        "/admin/customers",
        admin,
        "name=Example+Ltd&emails=it%40example.com%0D%0Aops%40example.com",
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, body) = get(app, &loc, admin).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("Added customer Example Ltd with 2 contact(s)."),
        "{body}"
    );
    assert!(body.contains("it@example.com, ops@example.com"));

    let (s, _, _) = post(
        app,
        "/admin/orders",
        admin,
        "customer=Example+Ltd&po=PO-1&invoices=INV-9",
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _) = post(
        app,
        "/admin/shipments",
        admin,
        "order=PO-1&number=SHP-1&date=2026-11-20",
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_admin_route_refuses_anonymous_users_and_reviewers() {
    let app = app().await;
    let reviewer = sign_in(&app, "rex@vendor.example", &app.reviewer_uri.clone()).await;
    for (method, path) in ADMIN_ROUTES {
        let form = (*method == "POST").then(String::new);
        let (s, loc, _) = fetch(&app, req(method, path, None, form.clone())).await;
        assert_eq!(
            (s, loc.as_str()),
            (StatusCode::SEE_OTHER, "/signin"),
            "anonymous {method} {path}"
        );
        let (s, _, body) = fetch(&app, req(method, path, Some(&reviewer), form)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "reviewer {method} {path}");
        assert!(body.contains("for administrators"));
    }
    // A reviewer lands on the request queue after signing in, and has an
    // account page.
    let (s, loc, _) = get(&app, "/", &reviewer).await;
    assert_eq!(
        (s, loc.as_str()),
        (StatusCode::SEE_OTHER, "/admin/requests")
    );
    let (s, _, body) = get(&app, "/account", &reviewer).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("rex@vendor.example") && !body.contains("/admin/customers"));
}

#[tokio::test]
async fn every_admin_form_refuses_a_cross_site_post() {
    let app = app().await;
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;
    for (method, path) in ADMIN_ROUTES.iter().filter(|(m, _)| *m == "POST") {
        let mut r = req(method, path, Some(&admin), Some("name=Evil".into()));
        r.headers_mut()
            .insert("sec-fetch-site", "cross-site".parse().unwrap());
        r.headers_mut()
            .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert_eq!(
            send(&app, r).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let (_, _, body) = get(&app, "/admin/customers", &admin).await;
    assert!(!body.contains("Evil"));
}

#[tokio::test]
async fn forms_create_the_inventory_and_refuse_bad_values_keeping_what_was_typed() {
    let app = app().await;
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;
    inventory(&app, &admin).await;

    let (s, _, body) = post(
        &app,
        "/admin/customers",
        &admin,
        "name=Other+Co&emails=not-an-address",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("&#34;not-an-address&#34; is not an e-mail address"),
        "{body}"
    );
    assert!(
        body.contains("value=\"Other Co\""),
        "the name typed is kept"
    );

    let (s, _, body) = post(
        &app,
        "/admin/customers",
        &admin,
        "name=Example+Ltd&emails=a%40b.example",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains("already exists"));

    let (s, _, _) = post(
        &app,
        "/admin/customers/contact",
        &admin,
        "customer=Example+Ltd&email=new%40example.com",
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, body) = get(&app, "/admin/customers", &admin).await;
    assert!(body.contains("new@example.com"));

    let (s, _, body) = post(
        &app,
        "/admin/shipments",
        &admin,
        "order=PO-1&number=SHP-2&date=2026-02-30",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("not a date"), "{body}");
    let (s, _, body) = post(&app, "/admin/orders", &admin, "customer=Nobody&po=PO-2").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("does not exist"), "{body}");

    // Markup typed into a form comes back escaped.
    let (s, _, _) = post(
        &app,
        "/admin/customers",
        &admin,
        "name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&emails=x%40y.example",
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, body) = get(&app, "/admin/customers", &admin).await;
    assert!(body.contains("script&#62;alert(1)") && !body.contains("<script>"));

    let (_, _, body) = get(&app, "/admin/", &admin).await;
    assert!(body.contains("<strong>2</strong> customers"), "{body}");
    let events = app
        .state
        .store
        .audit_events(Some("shipment.add"), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.actor, ADMIN);
    assert_eq!(events[0].event.source, "127.0.0.1");
}

#[tokio::test]
async fn an_uploaded_file_is_imported_all_or_nothing_and_no_page_shows_a_secret() {
    let app = app().await;
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;
    inventory(&app, &admin).await;

    let (s, loc, _) = fetch(
        &app,
        upload(
            "/admin/import",
            &admin,
            &[("shipment", "SHP-1")],
            ("golden.csv", GOLDEN_CSV),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{loc}");
    let (_, _, body) = get(&app, &loc, &admin).await;
    assert!(
        body.contains(
            "Imported 2 tokens (2 TOTP, 0 HOTP) from golden.csv (entra-csv) into shipment SHP-1."
        ),
        "{body}"
    );
    assert!(body.contains("SafeID/Classic"), "models are listed");

    // The same file again: refused, naming the serials; nothing added.
    let (s, _, body) = fetch(
        &app,
        upload(
            "/admin/import",
            &admin,
            &[("shipment", "SHP-1")],
            ("golden.csv", GOLDEN_CSV),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("2 serial(s) already in the inventory: 10001001, 10001002"),
        "{body}"
    );

    // A bad row at the end: refused with its line, nothing added.
    let mut bad =
        b"serial number,secret key,time interval\n20000001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30\n"
            .to_vec();
    bad.extend_from_slice(b"20000002,not!base32,30\n");
    let (s, _, body) = fetch(
        &app,
        upload(
            "/admin/import",
            &admin,
            &[("shipment", "SHP-1")],
            ("bad.csv", &bad),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("line 3"), "{body}");
    assert_eq!(app.state.store.counts().await.unwrap().tokens, 2);
    let refused = app
        .state
        .store
        .audit_events(Some("import"), 10)
        .await
        .unwrap();
    assert_eq!(
        refused
            .iter()
            .filter(|e| e.event.outcome == "refused")
            .count(),
        2
    );

    let (s, _, body) = fetch(
        &app,
        upload(
            "/admin/import",
            &admin,
            &[("shipment", "")],
            ("golden.csv", GOLDEN_CSV),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("choose the shipment"));

    let mut pages = String::new();
    for (method, path) in ADMIN_ROUTES.iter().filter(|(m, _)| *m == "GET") {
        let (s, _, body) = get(&app, path, &admin).await;
        assert_eq!(s, StatusCode::OK, "{method} {path}");
        pages.push_str(&body);
    }
    assert_no_secret(pages.as_bytes(), "the administration pages");
}

/// The enrolment links in the mail waiting in the outbox, newest last.
async fn enrolment_links(app: &common::App) -> Vec<String> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT sealed FROM mail_outbox ORDER BY id")
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
    rows.iter()
        .filter_map(|(sealed,)| oathvault_portal::mail::open(&app.state.master, sealed).ok())
        .filter(|m| m.text.contains("/enrol/"))
        .map(|m| common::link(&m.text, "/enrol/"))
        .collect()
}

#[tokio::test]
#[allow(
    clippy::too_many_lines,
    reason = "one person's whole enrolment, then switched off"
)]
async fn staff_are_invited_by_a_link_and_choose_their_own_password_and_authenticator() {
    let app = app().await;
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;
    // The administrator never types or sees the new person's secrets.
    let (s, loc, _) = post(
        &app,
        "/admin/staff",
        &admin,
        "email=Bo%40vendor.example&name=Bo&role=reviewer",
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{loc}");
    assert!(loc.contains("enrolment%20link"), "{loc}");
    let links = enrolment_links(&app).await;
    assert_eq!(links.len(), 1, "{links:?}");
    let link = links[0].clone();

    // The link's page offers an authenticator; every problem at once.
    let (s, _, page) = fetch(&app, req("GET", &link, None, None)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("<svg"), "{page}");
    let secret = page
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split("</code>")
        .next()
        .unwrap()
        .to_owned();
    let uri = format!("otpauth://totp/x?secret={secret}");
    let (s, _, body) = fetch(
        &app,
        req(
            "POST",
            &link,
            None,
            Some("password=short&repeat=shorter&code=000000".into()),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    for p in ["too short", "differ", "not the code"] {
        assert!(body.contains(p), "{p}: {body}");
    }
    // The same secret is offered again (not a new one per visit).
    assert!(body.contains(&secret));
    let (s, _, body) = fetch(
        &app,
        req(
            "POST",
            &link,
            None,
            Some(format!(
                "password=a+long+first+password&repeat=a+long+first+password&code={}",
                code_at(&uri, T)
            )),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("You are set up"), "{body}");
    let (s, _, _) = fetch(&app, req("GET", &link, None, None)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a link works once");

    // The new reviewer signs in with their password and authenticator.
    let sign_in_bo = |password: &'static str, at: i64| {
        let app = &app;
        let uri = uri.clone();
        async move {
            let r = send(
                app,
                req(
                    "POST",
                    "/signin",
                    None,
                    Some(format!("email=bo%40vendor.example&password={password}")),
                ),
            )
            .await;
            if r.status() != StatusCode::SEE_OTHER {
                return r.status();
            }
            let pending = common::cookie_of(&r, "__Host-ov_pending");
            let (s, _, _) = fetch(
                app,
                req(
                    "POST",
                    "/signin/code",
                    Some(&pending),
                    Some(format!("code={}", code_at(&uri, at))),
                ),
            )
            .await;
            s
        }
    };
    assert_eq!(
        sign_in_bo("a+long+first+password", T + 30).await,
        StatusCode::SEE_OTHER
    );

    // A reset takes the password and authenticator away at once and sends
    // a new link.
    let (s, _, _) = post(
        &app,
        "/admin/staff/access",
        &admin,
        "email=bo%40vendor.example&change=reset",
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        sign_in_bo("a+long+first+password", T + 60).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(enrolment_links(&app).await.len(), 2);
    let resets = app
        .state
        .store
        .audit_events(Some("staff.reset"), 5)
        .await
        .unwrap();
    assert_eq!(resets.len(), 1);

    // Switched off: refused; nobody switches themselves off.
    let (s, _, _) = post(
        &app,
        "/admin/staff/access",
        &admin,
        "email=bo%40vendor.example&change=disable",
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, body) = get(&app, "/admin/staff", &admin).await;
    assert!(body.contains("switched off"));
    let (s, _, body) = post(
        &app,
        "/admin/staff/access",
        &admin,
        "email=ada%40vendor.example&change=disable",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("your own account"));
    let staff = app
        .state
        .store
        .audit_events(Some("staff."), 10)
        .await
        .unwrap();
    assert!(staff.iter().any(|e| e.event.action == "staff.disable"));
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_verifies() {
    let app = app().await;
    // Three wrong passwords first: refused sign-ins to filter for.
    for _ in 0..3 {
        send(
            &app,
            req(
                "POST",
                "/signin",
                None,
                Some("email=ada%40vendor.example&password=wrong".into()),
            ),
        )
        .await;
    }
    let admin = sign_in(&app, ADMIN, &app.admin_uri.clone()).await;
    inventory(&app, &admin).await;

    let (_, _, all) = get(&app, "/admin/audit", &admin).await;
    assert!(all.contains("customer.add") && all.contains("signin"));
    assert!(all.contains("<td data-label=\"Action\">customer.add</td>"));
    let (_, _, refused) = get(&app, "/admin/audit?outcome=refused", &admin).await;
    assert_eq!(
        refused
            .matches("<td data-label=\"Outcome\" class=\"outcome-refused\">refused</td>")
            .count(),
        3,
        "{refused}"
    );
    assert!(!refused.contains("<td data-label=\"Action\">customer.add</td>"));
    let (_, _, orders) = get(
        &app,
        "/admin/audit?action=order.add&actor=ada%40vendor.example",
        &admin,
    )
    .await;
    assert!(orders.contains("order:PO-1") && !orders.contains("customer:Example Ltd"));
    let (_, _, text) = get(&app, "/admin/audit?q=SHP-1", &admin).await;
    assert!(text.contains("shipment:SHP-1") && !text.contains("order:PO-1<"));
    // The events happened on 2026-11-26 (the tests' clock).
    let (_, _, day) = get(
        &app,
        "/admin/audit?since=2026-11-26&until=2026-11-26",
        &admin,
    )
    .await;
    assert!(day.contains("customer.add"));
    let (_, _, later) = get(&app, "/admin/audit?since=2026-11-27", &admin).await;
    assert!(later.contains("No events match."));
    let (_, _, bad) = get(&app, "/admin/audit?since=yesterday", &admin).await;
    assert!(bad.contains("is not a date"));
    let (s, _, body) = get(&app, "/admin/audit/verify", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Audit log intact"), "{body}");
}

#[tokio::test]
async fn hsts_only_when_the_portal_is_reached_over_https() {
    let plain = app().await;
    let r = send(&plain, req("GET", "/healthz", None, None)).await;
    assert!(r.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none());
    let tls = app_with(WebSettings {
        base_url: Some("https://tokens.example.com".into()),
        ..WebSettings::default()
    })
    .await;
    let r = send(&tls, req("GET", "/signin", None, None)).await;
    assert!(
        r.headers()
            .get(header::STRICT_TRANSPORT_SECURITY)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let css = send(&tls, req("GET", "/static/oathvault.css", None, None)).await;
    assert_eq!(
        css.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/css; charset=utf-8"
    );
}
