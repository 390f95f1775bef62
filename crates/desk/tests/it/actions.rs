//! The desk's actions over HTTP against the directory (real Graph calls on
//! loopback): bulk unassign and delete with a confirmation step, replacing
//! a lost token, a wrong activation code, upload refusals (a token Entra
//! cannot take, an unreadable file, a failed preflight, a file held for
//! another operator), reconcile, cross-site posts — and no seed in the
//! desk's database or pages after an upload.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use crate::common;

use common::{
    code_at, device_id, entra_csv, golden, graph_as, jsonl, now, sign_in, start, start_with,
    status, upload_and_push, wrong_code,
};
use oathvault_desk::DeskRole;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_actions_confirm_first_and_report_each_token() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.admin).await;
    let page = upload_and_push(&s, &golden()).await;
    assert!(page.contains("2 created"), "{page}");
    let user = l.demo.users[0].upn.clone();
    for serial in ["10001001", "10001002"] {
        let id = device_id(&l, serial).await;
        let (st, page) = s
            .post(
                &format!("/tokens/{id}/assign"),
                &format!("upn={user}&code="),
            )
            .await;
        assert_eq!(st, StatusCode::SEE_OTHER, "{page}");
    }
    let ids = [
        device_id(&l, "10001001").await,
        device_id(&l, "10001002").await,
    ];
    let form = format!("action=unassign&id={}&id={}", ids[0], ids[1]);

    // The confirmation page lists both and changes nothing.
    let (st, page) = s.post("/tokens/bulk", &form).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Unassign 2 token(s)?"), "{page}");
    assert!(
        page.contains("10001001") && page.contains("10001002"),
        "{page}"
    );
    assert_eq!(status(&l, "10001001").await.unwrap().0, "assigned");

    let (st, page) = s.post("/tokens/bulk/confirm", &form).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("2 done, 0 failed."), "{page}");
    for serial in ["10001001", "10001002"] {
        assert_eq!(status(&l, serial).await, Some(("available".into(), None)));
    }

    // Deactivating tokens that are not activated fails per token, saying why.
    let (_, page) = s
        .post(
            "/tokens/bulk/confirm",
            &form.replace("unassign", "deactivate"),
        )
        .await;
    assert!(page.contains("0 done, 2 failed."), "{page}");
    assert!(page.contains("not activated"), "{page}");

    // The inventory as CSV: what the page shows for the same search.
    let (st, csv) = s.get("/tokens.csv?q=1000100").await;
    assert_eq!(st, StatusCode::OK);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("serial,manufacturer,model"), "{csv}");
    assert!(
        lines[1].starts_with("10001001,Deepnet Security,SafeID/Enterprise,,available,"),
        "{csv}"
    );
    assert!(lines[2].starts_with("10001002,"), "{csv}");
    oathvault_testkit::golden::assert_no_secret(csv.as_bytes(), "the CSV export");

    // Bulk delete.
    let (_, page) = s
        .post("/tokens/bulk/confirm", &form.replace("unassign", "delete"))
        .await;
    assert!(page.contains("2 done, 0 failed."), "{page}");
    assert_eq!(status(&l, "10001001").await, None);
    assert_eq!(status(&l, "10001002").await, None);
    let (_, page) = s.get("/tokens").await;
    assert!(!page.contains("10001001"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_token_is_replaced_and_a_wrong_code_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.admin).await;
    let tokens = golden();
    upload_and_push(&s, &tokens).await;
    let user = l.demo.users[1].upn.clone();
    let old = device_id(&l, "10001001").await;

    // A wrong code: Graph's error code and request id on the page, audited.
    let (st, page) = s
        .post(
            &format!("/tokens/{old}/assign"),
            &format!("upn={user}&code="),
        )
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{page}");
    let right = code_at(&tokens[0], now());
    let wrong = wrong_code(&tokens[0], now());
    let (st, page) = s
        .post(&format!("/tokens/{old}/activate"), &format!("code={wrong}"))
        .await;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains("Could not activate token 10001001"), "{page}");
    assert!(page.contains("request-id"), "{page}");
    let (_, page) = s.get("/audit?q=activate").await;
    assert!(page.contains("outcome-failed"), "{page}");
    let (st, page) = s
        .post(&format!("/tokens/{old}/activate"), &format!("code={right}"))
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{page}");
    let uid = status(&l, "10001001").await.unwrap().1;
    assert_eq!(
        status(&l, "10001001").await.unwrap().0,
        "activated",
        "{page}"
    );

    // Lost: 10001002 replaces it, activated with its own code at once.
    let code_b = code_at(&tokens[1], now());
    let (st, page) = s
        .post(
            &format!("/tokens/{old}/replace"),
            &format!("serial=10001002&code={code_b}"),
        )
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(
        status(&l, "10001001").await,
        Some(("available".into(), None))
    );
    assert_eq!(
        status(&l, "10001002").await,
        Some(("activated".into(), uid))
    );
    let (_, page) = s.get("/audit?q=replace").await;
    assert!(page.contains("replaces 10001001"), "{page}");

    // A replacement that is not available is refused before anything changes.
    let new = device_id(&l, "10001002").await;
    let (st, page) = s
        .post(&format!("/tokens/{new}/replace"), "serial=10001002&code=")
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("not available"), "{page}");
    assert_eq!(status(&l, "10001002").await.unwrap().0, "activated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_checked_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.admin).await;

    // HOTP token C (in JSON Lines, which carries HOTP): Entra would refuse
    // it; no push form.
    let mut with_c = golden();
    with_c.push(oathvault_testkit::golden::token_c().token);
    let (st, page) = s.upload("/upload", "abc.jsonl", jsonl(&with_c)).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains("Entra would refuse this file"), "{page}");
    assert!(!page.contains("action=\"/upload/"), "{page}");

    // Not a seed file: every problem named, nothing kept.
    let (st, page) = s
        .upload("/upload", "notes.txt", "hello, world\n".into())
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("notes.txt"), "{page}");

    // An encrypted PSKC file without its key: the message names the form's
    // field, never a command-line flag.
    let figure6 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../formats/testdata/pskc/rfc6030/figure6.pskcxml"
    ))
    .unwrap();
    let (st, page) = s.upload("/upload", "figure6.xml", figure6).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("pre-shared key field"), "{page}");
    assert!(!page.contains("--psk-file"), "{page}");
    // Every problem at once, up to 50, and the count of the rest.
    let mut bad = String::from("serial number,secret key,time interval,manufacturer,model\n");
    for i in 0..70 {
        bad.push_str(&i.to_string());
        bad.push_str(",not-a-secret!,30,M,X\n");
    }
    let (st, page) = s.upload("/upload", "bad.csv", bad).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains("line 2:") && page.contains("line 51:"),
        "{page}"
    );
    assert!(!page.contains("line 52:"), "{page}");
    assert!(page.contains("and 20 more problem(s)"), "{page}");

    // A code that does not fit the file: refused, nothing uploaded.
    let id = s.read_for_push("vendor.csv", entra_csv(&golden())).await;
    let wrong = wrong_code(&golden()[0], now());
    let (st, page) = s
        .post(
            &format!("/upload/{id}"),
            &format!("serial=10001001&code={wrong}"),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Nothing was uploaded"), "{page}");
    assert_eq!(status(&l, "10001001").await, None);
    // The file is gone once used (refused or not).
    let (st, _) = s.push(&id, "serial=&code=").await;
    assert_eq!(st, StatusCode::GONE);

    // A viewer cannot push it (and the file stays for its owner).
    let id = s.read_for_push("vendor.csv", entra_csv(&golden())).await;
    let viewer = sign_in(&l, &l.viewer).await;
    let (st, _) = viewer.post(&format!("/upload/{id}"), "").await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The right code: uploaded.
    let right = code_at(&golden()[0], now());
    let (st, page) = s.push(&id, &format!("serial=10001001&code={right}")).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains("2 created"), "{page}");

    // Reconcile: the file holds a serial the tenant lacks; the tenant one
    // the file lacks.
    let mut other = golden();
    other.remove(1);
    let mut x = golden()[0].clone();
    x.serial = oathvault_token::Serial::new("99999999").unwrap();
    other.push(x);
    let (st, page) = s
        .upload("/reconcile", "vendor2.csv", entra_csv(&other))
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let missing = page.split("id=\"missing\"").nth(1).unwrap();
    assert!(
        missing
            .split("id=\"extra\"")
            .next()
            .unwrap()
            .contains("99999999")
    );
    let extra = page.split("id=\"extra\"").nth(1).unwrap();
    assert!(
        extra
            .split("id=\"dups\"")
            .next()
            .unwrap()
            .contains("10001002")
    );

    // No seed anywhere the desk keeps or shows things.
    let (_, inventory) = s.get("/tokens").await;
    let (_, audit) = s.get("/audit").await;
    l.state.store.scrub().await.unwrap();
    let mut kept = std::fs::read(tmp.path().join("desk.db")).unwrap();
    if let Ok(wal) = std::fs::read(tmp.path().join("desk.db-wal")) {
        kept.extend(wal);
    }
    kept.extend(inventory.as_bytes());
    kept.extend(audit.as_bytes());
    oathvault_testkit::golden::assert_no_secret(&kept, "the desk's database and pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_post_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.admin).await;
    upload_and_push(&s, &golden()).await;
    let id = device_id(&l, "10001002").await;
    let r = s
        .http
        .post(format!("{}/tokens/{id}/delete", s.base))
        .header("cookie", &s.cookie)
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("confirm=yes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(status(&l, "10001002").await.unwrap().0, "available");
    // Without the confirmation box, nothing is deleted either.
    let (st, _) = s.post(&format!("/tokens/{id}/delete"), "").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(status(&l, "10001002").await.unwrap().0, "available");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clocks_page_warns_of_idle_and_far_off_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.viewer).await;
    let (_, page) = s.get("/drift").await;
    assert!(page.contains("No drift is known yet"), "{page}");

    let rfc = oathvault_otp::clock::rfc3339;
    let token = |serial: &str, drift: i64, last_used: i64| oathvault_store::DeskDevice {
        id: format!("id-{serial}"),
        serial: serial.into(),
        status: "activated".into(),
        interval: 30,
        last_used: rfc(last_used),
        drift: Some(drift),
        ..oathvault_store::DeskDevice::default()
    };
    let devices = [
        token("FRESH", 4, now() - 3600),
        token("IDLE", 10, now() - 365 * 86_400),
        token("FAR", -660, now() - 60),
    ];
    l.state
        .store
        .desk_replace(&devices, &[], &[], now())
        .await
        .unwrap();
    let (_, page) = s.get("/drift").await;
    let attention = page
        .split("Needs attention")
        .nth(1)
        .unwrap()
        .split("Largest drift")
        .next()
        .unwrap();
    assert!(
        attention.contains("IDLE") && attention.contains("idle 365 days"),
        "{page}"
    );
    assert!(
        attention.contains("FAR") && attention.contains("11 min off"),
        "{page}"
    );
    assert!(!attention.contains("FRESH"), "{page}");
    assert!(
        page.split("Largest drift")
            .nth(1)
            .unwrap()
            .contains("FRESH")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_two_person_rule_a_second_administrator_approves_deletions() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start_with(
        tmp.path(),
        oathvault_desk::DeskSettings {
            two_person: oathvault_desk::TwoPerson {
                delete: true,
                ..oathvault_desk::TwoPerson::default()
            },
            ..oathvault_desk::DeskSettings::default()
        },
    )
    .await;
    let ana = sign_in(&l, &l.admin).await;
    upload_and_push(&ana, &golden()).await;
    let a = device_id(&l, "10001001").await;
    let b = device_id(&l, "10001002").await;

    // Asking changes nothing.
    let (st, page) = ana
        .post(&format!("/tokens/{a}/delete"), "confirm=yes")
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{page}");
    assert!(
        page.contains("Waiting for a second administrator"),
        "{page}"
    );
    assert!(status(&l, "10001001").await.is_some());
    let (st, page) = ana
        .post(
            "/tokens/bulk/confirm",
            &format!("action=delete&id={a}&id={b}"),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{page}");

    // The one who asked cannot approve.
    let (_, page) = ana.get("/approvals").await;
    assert!(
        page.contains("yours: another administrator decides"),
        "{page}"
    );
    let (st, page) = ana.post("/approvals/1/approve", "").await;
    assert_eq!(st, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("second administrator"), "{page}");
    assert!(status(&l, "10001001").await.is_some());

    // A second administrator rejects one and approves the other.
    let otto = sign_in(&l, &l.admin2).await;
    let (st, _) = otto.post("/approvals/1/reject", "").await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert!(status(&l, "10001001").await.is_some());
    let (st, page) = otto.post("/approvals/2/approve", "").await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains("2 done, 0 failed."), "{page}");
    assert_eq!(status(&l, "10001001").await, None);
    assert_eq!(status(&l, "10001002").await, None);
    // Decided is decided.
    let (st, _) = otto.post("/approvals/2/approve", "").await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (_, page) = otto.get("/approvals").await;
    assert!(page.contains("approved by ops2@contoso.example"), "{page}");
    assert!(page.contains("rejected by ops2@contoso.example"), "{page}");
    assert!(page.contains("2 done, 0 failed."), "{page}");
    // The audit chain names both.
    let (_, page) = otto.get("/audit?q=approval").await;
    assert!(
        page.contains("approval.ask") && page.contains("approval.approve"),
        "{page}"
    );
    assert!(page.contains("ops@contoso.example"), "{page}");
    // Viewers do not see approvals.
    let viewer = sign_in(&l, &l.viewer).await;
    let (st, _) = viewer.get("/approvals").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_person_rule_covers_bulk_unassign_and_the_asker_is_checked_again_when_approved() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start_with(
        tmp.path(),
        oathvault_desk::DeskSettings {
            two_person: oathvault_desk::TwoPerson {
                bulk: true,
                ..oathvault_desk::TwoPerson::default()
            },
            ..oathvault_desk::DeskSettings::default()
        },
    )
    .await;
    let admin = sign_in(&l, &l.admin).await;
    upload_and_push(&admin, &golden()).await;
    let user = l.demo.users[0].upn.clone();
    let ids = [
        device_id(&l, "10001001").await,
        device_id(&l, "10001002").await,
    ];
    for id in &ids {
        let (st, page) = admin
            .post(
                &format!("/tokens/{id}/assign"),
                &format!("upn={user}&code="),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::SEE_OTHER,
            "one token at a time needs no approval: {page}"
        );
    }
    let form = format!("action=unassign&id={}&id={}", ids[0], ids[1]);

    // A help desk operator's bulk unassign waits for an administrator.
    let hana = common::operator(
        &l.state,
        "help@contoso.example",
        "Hana Help",
        DeskRole::Helpdesk,
    )
    .await;
    let help = sign_in(&l, &hana).await;
    let (st, page) = help.post("/tokens/bulk/confirm", &form).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{page}");
    assert_eq!(status(&l, "10001001").await.unwrap().0, "assigned");

    // Hana loses her role before the approval: it is not carried out.
    let e = oathvault_store::Event::ok(
        now(),
        "test",
        "test",
        "operator.role",
        "staff:help@contoso.example",
    );
    l.state
        .store
        .set_desk_role("help@contoso.example", Some(DeskRole::Viewer), &e)
        .await
        .unwrap();
    let otto = sign_in(&l, &l.admin2).await;
    let (st, page) = otto.post("/approvals/1/approve", "").await;
    assert_eq!(st, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("no longer holds the helpdesk role"), "{page}");
    for serial in ["10001001", "10001002"] {
        assert_eq!(
            status(&l, serial).await.unwrap().0,
            "assigned",
            "nothing changed"
        );
    }

    // The same from an administrator, approved by a second one: done.
    let (st, page) = admin.post("/tokens/bulk/confirm", &form).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{page}");
    let (st, page) = otto.post("/approvals/2/approve", "").await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains("2 done, 0 failed."), "{page}");
    for serial in ["10001001", "10001002"] {
        assert_eq!(status(&l, serial).await, Some(("available".into(), None)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_lock_a_token_and_the_desk_shows_and_clears_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.admin).await;
    let tokens = golden();
    upload_and_push(&s, &tokens).await;
    let id = device_id(&l, "10001001").await;
    let user = l.demo.users[2].upn.clone();
    let (st, page) = s
        .post(
            &format!("/tokens/{id}/assign"),
            &format!("upn={user}&code="),
        )
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{page}");
    let wrong = wrong_code(&tokens[0], now());
    for _ in 0..5 {
        let (st, page) = s
            .post(&format!("/tokens/{id}/activate"), &format!("code={wrong}"))
            .await;
        assert_eq!(st, StatusCode::BAD_GATEWAY, "{page}");
    }
    let lock = |page: &str| {
        page.split("<dd id=\"lock\">")
            .nth(1)
            .and_then(|r| r.split("</dd>").next())
            .map(str::to_owned)
    };
    let (_, page) = s.get(&format!("/tokens/{id}")).await;
    assert!(
        lock(&page).is_some_and(|l| l.contains("locked until")),
        "{page}"
    );
    let right = code_at(&tokens[0], now());
    let (st, page) = s
        .post(&format!("/tokens/{id}/activate"), &format!("code={right}"))
        .await;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "locked: {page}");
    assert!(page.contains("TooManyAttempts"), "{page}");
    // A viewer cannot clear it; the help desk can.
    let viewer = sign_in(&l, &l.viewer).await;
    let (st, _) = viewer.post(&format!("/tokens/{id}/unlock"), "").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, page) = s.post(&format!("/tokens/{id}/unlock"), "").await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{page}");
    let (_, page) = s.get(&format!("/tokens/{id}")).await;
    assert_eq!(lock(&page), None, "{page}");
    let (st, page) = s
        .post(&format!("/tokens/{id}/activate"), &format!("code={right}"))
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "cleared: {page}");
    assert_eq!(status(&l, "10001001").await.unwrap().0, "activated");
}

/// An app without `User.Read.All` (only the token permissions) still gets
/// the inventory: the sync says so in the log and goes on without users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_user_read_all_the_inventory_still_syncs() {
    let tmp = tempfile::tempdir().unwrap();
    let l = start(tmp.path()).await;
    let s = sign_in(&l, &l.admin).await;
    upload_and_push(&s, &golden()).await;
    let (app, secret) = oathvault_directory::Directory::new(&l.dir.db, &l.dir.master)
        .add_app(
            &mut <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(5),
            &l.demo.tenant_id,
            "desk without users",
            &[
                "Policy.ReadWrite.AuthenticationMethod".to_owned(),
                "UserAuthenticationMethod.ReadWrite.All".to_owned(),
            ],
            now(),
        )
        .await
        .unwrap();
    let narrow_key = oathvault_vault::Keyring::generate(&mut oathvault_vault::random::os());
    let narrow = oathvault_desk::DeskState::new(
        oathvault_store::Store::open(
            tmp.path().join("narrow.db").to_str().unwrap(),
            &narrow_key,
            &mut oathvault_vault::random::os(),
        )
        .await
        .unwrap(),
        narrow_key,
        graph_as(&l.directory, &l.demo.tenant_id, &app.client_id, &secret),
        Box::new(now),
        oathvault_desk::DeskSettings::default(),
    );
    // The app really cannot list users.
    let refused = narrow.graph.list_users().await.unwrap_err();
    assert_eq!(refused.graph().unwrap().status, 403, "{refused}");
    let synced = oathvault_desk::sync(&narrow).await.unwrap();
    assert_eq!((synced.devices, synced.users), (2, 0));
    assert!(
        narrow
            .store
            .desk_device("10001001")
            .await
            .unwrap()
            .is_some()
    );
}
