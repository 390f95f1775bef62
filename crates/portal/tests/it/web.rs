//! The sign-in and administration pages, in process (tower `oneshot`):
//! access control, CSRF, security headers, lockout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure is a failed test"
)]

use crate::common;
use axum::http::{StatusCode, header};

use common::{app, req, send, sign_in};

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
    let r = send(
        &app,
        req("GET", "/admin/", Some("__Host-ov_session=forged"), None),
    )
    .await;
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

/// An attacker who has the password cannot try codes on one pending
/// sign-in: a refused code ends it, and the right code on the same
/// pending cookie is refused too.
#[tokio::test]
async fn a_refused_code_ends_the_pending_sign_in() {
    let app = app().await;
    let r = send(
        &app,
        req(
            "POST",
            "/signin",
            None,
            Some(format!(
                "email={}&password=correct+horse+battery",
                common::REVIEWER
            )),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pending = common::cookie_of(&r, "__Host-ov_pending");
    let wrong = send(
        &app,
        req(
            "POST",
            "/signin/code",
            Some(&pending),
            Some("code=000000".into()),
        ),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = common::code_at(&app.reviewer_uri, common::T);
    let again = send(
        &app,
        req(
            "POST",
            "/signin/code",
            Some(&pending),
            Some(format!("code={right}")),
        ),
    )
    .await;
    assert_ne!(
        again.status(),
        StatusCode::SEE_OTHER,
        "the old pending sign-in still worked"
    );
    assert!(again.headers().get_all(header::SET_COOKIE).iter().all(|c| {
        !c.to_str()
            .unwrap_or_default()
            .starts_with("__Host-ov_session=")
    }));
    // From the password again, the right code signs in.
    sign_in(&app, common::REVIEWER, &app.reviewer_uri).await;
}

/// A staff member changes their own password: every problem at once; on
/// success their other sessions end and only the new password signs in.
#[tokio::test]
async fn staff_change_their_own_password() {
    let app = app().await;
    let one = sign_in(&app, common::REVIEWER, &app.reviewer_uri).await;
    let two = {
        // A second session, at the next code.
        let r = send(
            &app,
            req(
                "POST",
                "/signin",
                None,
                Some(format!(
                    "email={}&password=correct+horse+battery",
                    common::REVIEWER
                )),
            ),
        )
        .await;
        let pending = common::cookie_of(&r, "__Host-ov_pending");
        let code = common::code_at(&app.reviewer_uri, common::T + 30);
        let r = send(
            &app,
            req(
                "POST",
                "/signin/code",
                Some(&pending),
                Some(format!("code={code}")),
            ),
        )
        .await;
        common::cookie_of(&r, "__Host-ov_session")
    };
    let (status, _, body) = common::fetch(
        &app,
        req(
            "POST",
            "/account/password",
            Some(&one),
            Some("current=nope&password=short&repeat=other".into()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for p in ["current password is not right", "too short", "differ"] {
        assert!(body.contains(p), "{p}: {body}");
    }
    let (status, _, body) = common::fetch(
        &app,
        req(
            "POST",
            "/account/password",
            Some(&one),
            Some("current=correct+horse+battery&password=a+new+long+passphrase&repeat=a+new+long+passphrase".into()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Your password was changed"), "{body}");
    // This session goes on; the other one ended.
    assert_eq!(
        send(&app, req("GET", "/account", Some(&one), None))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&app, req("GET", "/account", Some(&two), None))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let old = send(
        &app,
        req(
            "POST",
            "/signin",
            None,
            Some(format!(
                "email={}&password=correct+horse+battery",
                common::REVIEWER
            )),
        ),
    )
    .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
}

/// An administrator shreds a shipment from the shipments page once its
/// number is typed again; a reviewer cannot; the page then says so.
#[tokio::test]
async fn an_administrator_shreds_a_shipment_from_the_page() {
    let app = app().await;
    common::request_inventory(&app).await;
    let reviewer = sign_in(&app, common::REVIEWER, &app.reviewer_uri).await;
    let admin = sign_in(&app, common::ADMIN, &app.admin_uri).await;
    let shred = |cookie: &str, confirm: &str| {
        req(
            "POST",
            "/admin/shipments/shred",
            Some(cookie),
            Some(common::form(&[
                ("number", "SH-1"),
                ("confirm", confirm),
                ("reason", "customer loaded the tokens"),
            ])),
        )
    };
    let r = send(&app, shred(&reviewer, "SH-1")).await;
    assert_ne!(r.status(), StatusCode::SEE_OTHER, "a reviewer shredded");
    let (status, _, body) = common::fetch(&app, shred(&admin, "SH-2")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Nothing was shredded"), "{body}");
    assert_eq!(app.state.store.shredded_at("SH-1").await.unwrap(), None);
    let (status, location, _) = common::fetch(&app, shred(&admin, "SH-1")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.contains("Shredded%20shipment%20SH-1"),
        "{location}"
    );
    assert!(app.state.store.shredded_at("SH-1").await.unwrap().is_some());
    let (_, _, page) =
        common::fetch(&app, req("GET", "/admin/shipments", Some(&admin), None)).await;
    assert!(page.contains("seeds shredded"), "{page}");
    let events = app
        .state
        .store
        .audit_events(Some("shipment.shred"), 5)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.actor, common::ADMIN);
    assert_eq!(events[0].event.detail, "customer loaded the tokens");
}

/// A staff member replaces their own authenticator: the password first;
/// the old authenticator works until the new one is set.
#[tokio::test]
async fn staff_replace_their_own_authenticator() {
    let app = app().await;
    let me = sign_in(&app, common::REVIEWER, &app.reviewer_uri).await;
    let (status, _, body) = common::fetch(
        &app,
        req(
            "POST",
            "/account/authenticator",
            Some(&me),
            Some("current=wrong".into()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("current password is not right"), "{body}");
    let (status, link, _) = common::fetch(
        &app,
        req(
            "POST",
            "/account/authenticator",
            Some(&me),
            Some("current=correct+horse+battery".into()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(link.starts_with("/enrol/"), "{link}");
    let (status, _, page) = common::fetch(&app, req("GET", &link, None, None)).await;
    assert_eq!(status, StatusCode::OK);
    let secret = page
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split("</code>")
        .next()
        .unwrap()
        .to_owned();
    let new_uri = format!("otpauth://totp/x?secret={secret}");
    let (status, _, body) = common::fetch(
        &app,
        req(
            "POST",
            &link,
            None,
            Some(format!(
                "password=a+new+long+passphrase&repeat=a+new+long+passphrase&code={}",
                common::code_at(&new_uri, common::T)
            )),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The old authenticator's next code no longer signs in; the new one does.
    let r = send(
        &app,
        req(
            "POST",
            "/signin",
            None,
            Some(format!(
                "email={}&password=a+new+long+passphrase",
                common::REVIEWER
            )),
        ),
    )
    .await;
    let pending = common::cookie_of(&r, "__Host-ov_pending");
    let old = common::code_at(&app.reviewer_uri, common::T + 30);
    let r = send(
        &app,
        req(
            "POST",
            "/signin/code",
            Some(&pending),
            Some(format!("code={old}")),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Two finishes of one enrolment link at once (a double submit, or an
/// attacker racing the owner): exactly one sets the credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_enrolment_link_is_taken_once_under_a_race() {
    let app = app().await;
    let admin = sign_in(&app, common::ADMIN, &app.admin_uri).await;
    let (status, _, _) = common::fetch(
        &app,
        req(
            "POST",
            "/admin/staff",
            Some(&admin),
            Some("email=cy%40vendor.example&name=Cy&role=reviewer".into()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (sealed,): (Vec<u8>,) =
        sqlx::query_as("SELECT sealed FROM mail_outbox ORDER BY id DESC LIMIT 1")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    let mail = oathvault_portal::mail::open(&app.state.master, &sealed).unwrap();
    let link = common::link(&mail.text, "/enrol/");
    let (_, _, page) = common::fetch(&app, req("GET", &link, None, None)).await;
    let secret = page
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split("</code>")
        .next()
        .unwrap()
        .to_owned();
    let code = common::code_at(&format!("otpauth://totp/x?secret={secret}"), common::T);
    let form = format!("password=a+long+first+password&repeat=a+long+first+password&code={code}");
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let app = app.state.clone();
            let (link, form) = (link.clone(), form.clone());
            tokio::spawn(async move {
                let r = tower::ServiceExt::oneshot(
                    oathvault_portal::web::router(app),
                    req("POST", &link, None, Some(form)),
                )
                .await
                .unwrap();
                r.status()
            })
        })
        .collect();
    let mut set = 0;
    for t in tries {
        if t.await.unwrap() == StatusCode::OK {
            set += 1;
        }
    }
    assert_eq!(set, 1, "one link set the credentials {set} times");
}
