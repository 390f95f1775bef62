//! Signing in to the desk with an Entra account, in a real headless
//! Chromium, through the directory's authorize endpoint (authorization
//! code with PKCE): Amy, an Authentication Administrator in the directory,
//! gets the desk role that directory role maps to; Ben, with no directory
//! role, is refused. And over HTTP: a callback whose state this browser did
//! not start is refused, and a desk account with a password is never
//! taken over by an Entra account of the same e-mail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test; a journey reads best in one piece"
)]

use std::sync::Arc;

use oathvault_desk::entra::EntraSignin;
use oathvault_desk::{DeskRole, DeskSettings};
use oathvault_directory::admin::role;
use oathvault_directory::{DirState, Directory};
use oathvault_testkit::browser::{
    browser, click, fill, run, screenshots, start_chromedriver, submit, wait_for_path,
    wait_for_text,
};
use rand08::SeedableRng;

use crate::common::{Local, now, start_configured};

/// The directory with the desk's app registered (redirect URI, directory
/// roles in ID tokens) and a desk that signs in through it.
async fn start(tmp: &std::path::Path) -> Local {
    start_configured(
        tmp,
        async |directory: &str,
               dir: &Arc<DirState>,
               demo: &oathvault_directory::Demo,
               desk: &str| {
            let admin = Directory::new(&dir.db, &dir.master);
            let mut rng = rand08::rngs::StdRng::seed_from_u64(11);
            let (app, secret) = admin
                .add_app(&mut rng, &demo.tenant_id, "Help desk", &[], now())
                .await
                .unwrap();
            let redirect = format!("{desk}/signin/entra/callback");
            admin
                .set_signin(
                    &demo.tenant_id,
                    &app.client_id,
                    std::slice::from_ref(&redirect),
                    true,
                )
                .await
                .unwrap();
            DeskSettings {
                entra: Some(Arc::new(EntraSignin {
                    authority: directory.to_owned(),
                    tenant: demo.tenant_id.clone(),
                    client_id: app.client_id,
                    client_secret: secret,
                    redirect_url: redirect,
                    roles: vec![
                        (
                            role::GLOBAL_ADMINISTRATOR.to_owned(),
                            DeskRole::Administrator,
                        ),
                        (
                            role::AUTHENTICATION_ADMINISTRATOR.to_owned(),
                            DeskRole::Helpdesk,
                        ),
                        ("Desk.Viewer".to_owned(), DeskRole::Viewer),
                    ],
                })),
                ..DeskSettings::default()
            }
        },
    )
    .await
}

#[tokio::test]
async fn an_operator_signs_in_with_entra_and_gets_the_role_of_their_directory_role() {
    let tmp = tempfile::tempdir().unwrap();
    let l = Arc::new(start(tmp.path()).await);
    let driver = start_chromedriver().await;
    let d = browser(&driver).await;
    let shots = screenshots(env!("CARGO_TARGET_TMPDIR"), "desk-screenshots");
    let l2 = Arc::clone(&l);
    run(d.clone(), async move {
        let l = l2;
        let (amy, ben) = (l.demo.users[0].clone(), l.demo.users[1].clone());
        for (who, outcome) in [(&amy, true), (&ben, false)] {
            d.delete_all_cookies().await.unwrap();
            d.goto(format!("{}/signin", l.desk)).await.unwrap();
            click(&d, "#entra-signin").await;
            // The directory's sign-in page, then back to its authorize
            // endpoint, which sends the code to the desk.
            wait_for_path(&d, "/login").await;
            if outcome {
                d.screenshot(&shots.join("entra-01-directory-signin.png"))
                    .await
                    .unwrap();
            }
            fill(&d, "upn", &who.upn).await;
            submit(&d, "/login").await;
            wait_for_text(&d, "Enter password").await;
            fill(&d, "password", &who.password).await;
            submit(&d, "/login/password").await;
            if outcome {
                wait_for_path(&d, "/tokens").await;
                let page = wait_for_text(&d, "Hardware tokens").await;
                assert!(
                    page.contains(&who.display_name) && page.contains("helpdesk"),
                    "{page}"
                );
                d.screenshot(&shots.join("entra-02-signed-in.png"))
                    .await
                    .unwrap();
                // A help desk operator, not an administrator: no upload.
                d.goto(format!("{}/upload", l.desk)).await.unwrap();
                wait_for_text(&d, "Not allowed").await;
            } else {
                let page = wait_for_text(&d, "No access to the desk").await;
                assert!(page.contains("none of your Entra roles"), "{page}");
                d.screenshot(&shots.join("entra-03-refused.png"))
                    .await
                    .unwrap();
                d.goto(format!("{}/tokens", l.desk)).await.unwrap();
                wait_for_path(&d, "/signin").await;
            }
        }
    })
    .await;
    // The desk account was made for Amy only, with the mapped role and no
    // password; both sign-ins are in the audit chain with UPN and oid.
    let amy = l
        .state
        .store
        .staff_by_email(&l.demo.users[0].upn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(amy.desk_role, Some(DeskRole::Helpdesk));
    assert!(amy.password_hash.starts_with("entra:"));
    assert!(
        l.state
            .store
            .staff_by_email(&l.demo.users[1].upn)
            .await
            .unwrap()
            .is_none()
    );
    let events = l
        .state
        .store
        .audit_events(Some("entra:"), 100)
        .await
        .unwrap();
    let entra: Vec<_> = events.into_iter().map(|e| e.event).collect();
    assert!(
        entra.iter().any(|e| e.outcome == "ok"
            && e.actor == l.demo.users[0].upn
            && e.detail.contains("role helpdesk")),
        "{entra:?}"
    );
    assert!(
        entra
            .iter()
            .any(|e| e.outcome == "refused" && e.actor == l.demo.users[1].upn),
        "{entra:?}"
    );
}

/// Over HTTP: Amy through the whole flow (sign in to the directory, the
/// authorize request, the callback), with her cookies in `jar`-less
/// requests; the desk's answer to the callback.
async fn entra_callback(
    l: &Local,
    upn: &str,
    password: &str,
    state_cookie: Option<&str>,
) -> (reqwest::StatusCode, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/signin/entra", l.desk))
        .send()
        .await
        .unwrap();
    let own_state = crate::common::set_cookie(&r, "__Host-ovd_entra");
    let authorize = r.headers()["location"].to_str().unwrap().to_owned();
    let r = http
        .post(format!("{}/login/password", l.directory))
        .header("sec-fetch-site", "same-origin")
        .form(&[("upn", upn), ("password", password)])
        .send()
        .await
        .unwrap();
    let dir_session = crate::common::set_cookie(&r, "__Host-dir_session");
    // Without prompt=select_account, so that the session is used.
    let authorize = authorize.replace("&prompt=select_account", "");
    let r = http
        .get(&authorize)
        .header("cookie", &dir_session)
        .send()
        .await
        .unwrap();
    let callback = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{}/signin/entra/callback?code=", l.desk)),
        "{callback}"
    );
    let r = http
        .get(&callback)
        .header("cookie", state_cookie.unwrap_or(&own_state))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_callback_not_started_by_this_browser_and_a_password_account_of_the_same_email_are_refused()
 {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let amy = l.demo.users[0].clone();
    // A code and state sent to someone else's browser (login CSRF): the
    // state cookie is not the one the callback names.
    let (s, page) = entra_callback(
        &l,
        &amy.upn,
        &amy.password,
        Some("__Host-ovd_entra=another"),
    )
    .await;
    assert_eq!(s, reqwest::StatusCode::FORBIDDEN);
    assert!(page.contains("Sign-in not recognised"), "{page}");
    // No cookie at all.
    let (s, _) = entra_callback(&l, &amy.upn, &amy.password, Some("x=y")).await;
    assert_eq!(s, reqwest::StatusCode::FORBIDDEN);
    assert!(
        l.state
            .store
            .staff_by_email(&amy.upn)
            .await
            .unwrap()
            .is_none()
    );

    // A desk account with a password already uses Amy's e-mail: the Entra
    // sign-in does not take it over (nor change its role).
    crate::common::operator(&l.state, &amy.upn, "Amy (desk)", DeskRole::Viewer).await;
    let (s, page) = entra_callback(&l, &amy.upn, &amy.password, None).await;
    assert_eq!(s, reqwest::StatusCode::FORBIDDEN);
    assert!(page.contains("already uses"), "{page}");
    let account = l
        .state
        .store
        .staff_by_email(&amy.upn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.desk_role, Some(DeskRole::Viewer));
    assert!(!account.password_hash.starts_with("entra:"));
}
