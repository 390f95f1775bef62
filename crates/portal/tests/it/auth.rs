//! Staff sign-in on SQLite and PostgreSQL: password then code, one answer
//! for every kind of miss, lockout after 10 wrong attempts, no code twice,
//! per-address rate limit, sessions that end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure is a failed test"
)]

use crate::common;
use crate::common::test_keys;

use common::code_at;
use oathvault_accounts::{App, Auth, AuthError, NewAccount, Policy};
use oathvault_portal::{Actor, Admin, NewStaff};
use oathvault_store::{DeskRole, Event, Role, Store};
use oathvault_testkit::postgres::TempPostgres;
use oathvault_vault::Keyring;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use zeroize::Zeroizing;

const T: i64 = 1_795_696_620;

async fn scenario(store: &Store) {
    let mut rng = StdRng::seed_from_u64(3);
    let master = Keyring::generate(&mut rng);
    let admin = Admin::new(store, &master, "Example Tokens");
    let who = Actor {
        name: "cli:test".into(),
        source: "cli".into(),
        now: T,
    };
    let pw = Zeroizing::new("correct horse battery".to_owned());
    let (staff_id, uri) = admin
        .add_staff(
            &mut rng,
            &who,
            &NewStaff {
                email: "ada@vendor.example",
                name: "Ada",
                role: Role::Administrator,
                password: &pw,
            },
        )
        .await
        .unwrap();
    let auth = Auth::new(store, &master, Policy::default(), App::Portal);
    good_path_and_replay(&auth, &mut rng, &uri, &pw).await;
    one_answer_and_lockout(&auth, &mut rng, &pw).await;
    rate_limit(&auth, &mut rng, &pw).await;
    roles_belong_to_each_app(store, &master, &mut rng).await;
    // Every attempt is audited, and the chain holds.
    let events = store.audit_events(Some("signin"), 500).await.unwrap();
    assert!(events.len() > 40);
    assert!(
        events
            .iter()
            .all(|e| !e.event.detail.contains("correct horse"))
    );
    store.audit_verify().await.unwrap();

    // An expired session opens nothing; the sweeper removes it, and old
    // rate-limit windows, and nothing live.
    store
        .create_session("expired", staff_id, "full", T + 10, T)
        .await
        .unwrap();
    store
        .create_session("live", staff_id, "full", T + 9000, T)
        .await
        .unwrap();
    assert!(store.session("expired", T + 20).await.unwrap().is_none());
    assert!(store.session("live", T + 20).await.unwrap().is_some());
    let swept = store.sweep(T + 20, T + 3600).await.unwrap();
    assert!(
        swept >= 2,
        "the expired session and the rate-limit windows: {swept}"
    );
    assert!(store.session("live", T + 20).await.unwrap().is_some());
    assert_eq!(store.sweep(T + 20, T + 3600).await.unwrap(), 0);
}

async fn good_path_and_replay(auth: &Auth<'_>, rng: &mut StdRng, uri: &str, pw: &str) {
    // The good path, with the e-mail in another case.
    let pending = auth
        .password(rng, "Ada@Vendor.example", pw, "10.0.0.1", T)
        .await
        .unwrap();
    assert!(
        auth.current(&pending, T).await.unwrap().is_none(),
        "a password alone is not a session"
    );
    let session = auth
        .code(rng, &pending, &code_at(uri, T), "10.0.0.1", T + 5)
        .await
        .unwrap();
    let who = auth.current(&session, T + 10).await.unwrap().unwrap();
    assert_eq!(
        (who.staff.email.as_str(), who.staff.role),
        ("ada@vendor.example", Some(Role::Administrator))
    );
    // The same code again (replay) is refused, even with a new password step.
    let pending = auth
        .password(rng, "ada@vendor.example", pw, "10.0.0.1", T + 20)
        .await
        .unwrap();
    let replay = auth
        .code(rng, &pending, &code_at(uri, T), "10.0.0.1", T + 20)
        .await;
    assert!(matches!(replay, Err(AuthError::Refused)), "{replay:?}");
    // Sessions end: signed out, or expired after 8 hours.
    auth.sign_out(&session).await.unwrap();
    assert!(auth.current(&session, T + 30).await.unwrap().is_none());
}

async fn one_answer_and_lockout(auth: &Auth<'_>, rng: &mut StdRng, pw: &str) {
    // One answer for an unknown e-mail, a wrong password and a wrong code.
    let unknown = auth
        .password(rng, "eve@vendor.example", pw, "10.0.0.2", T)
        .await
        .unwrap_err()
        .to_string();
    let wrong_pw = auth
        .password(rng, "ada@vendor.example", "wrong password!", "10.0.0.2", T)
        .await
        .unwrap_err()
        .to_string();
    let pending = auth
        .password(rng, "ada@vendor.example", pw, "10.0.0.2", T + 60)
        .await
        .unwrap();
    let wrong_code = auth
        .code(rng, &pending, "000000", "10.0.0.2", T + 60)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(unknown, "wrong e-mail, password or code");
    assert_eq!(unknown, wrong_pw);
    assert_eq!(unknown, wrong_code);

    // Ten wrong attempts in a row (the replayed code, the wrong password and
    // the wrong code above count: no sign-in succeeded since) lock the
    // account, even for the right password; the lock ends after 15 minutes.
    for i in 0..6 {
        let r = auth
            .password(
                rng,
                "ada@vendor.example",
                "wrong password!",
                "10.0.1.1",
                T + 100 + i,
            )
            .await;
        assert!(matches!(r, Err(AuthError::Refused)), "attempt {i}: {r:?}");
    }
    let tenth = auth
        .password(
            rng,
            "ada@vendor.example",
            "wrong password!",
            "10.0.1.1",
            T + 110,
        )
        .await;
    assert!(matches!(tenth, Err(AuthError::Locked)), "{tenth:?}");
    let right = auth
        .password(rng, "ada@vendor.example", pw, "10.0.1.1", T + 120)
        .await;
    assert!(matches!(right, Err(AuthError::Locked)), "{right:?}");
    assert!(
        auth.password(rng, "ada@vendor.example", pw, "10.0.1.1", T + 110 + 901)
            .await
            .is_ok()
    );
    // An unknown e-mail locks the same way (its answers give nothing away).
    for i in 0..10 {
        let _ = auth
            .password(rng, "nobody@vendor.example", "x", "10.0.2.1", T + 200 + i)
            .await;
    }
    let r = auth
        .password(rng, "nobody@vendor.example", "x", "10.0.2.1", T + 211)
        .await;
    assert!(matches!(r, Err(AuthError::Locked)), "{r:?}");
}

async fn rate_limit(auth: &Auth<'_>, rng: &mut StdRng, pw: &str) {
    // One address may try 30 times a minute, whoever it tries.
    let mut limited = false;
    for i in 0..31 {
        let r = auth
            .password(
                rng,
                &format!("u{i}@vendor.example"),
                "x",
                "10.9.9.9",
                T + 600,
            )
            .await;
        limited |= matches!(r, Err(AuthError::RateLimited));
    }
    assert!(limited);
    assert!(
        auth.password(rng, "ada@vendor.example", pw, "10.9.9.9", T + 2060)
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("p.db").to_str().unwrap(),
        &test_keys(),
        &mut oathvault_vault::random::os(),
    )
    .await
    .unwrap();
    scenario(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_on_postgres() {
    let pg = TempPostgres::start();
    let store = Store::open(pg.url(), &test_keys(), &mut oathvault_vault::random::os())
        .await
        .unwrap();
    scenario(&store).await;
}

/// A help-desk operator has no portal role: the portal answers them as it
/// answers an unknown e-mail (after the same password work), and a session
/// made on the desk opens nothing in the portal; a portal reviewer cannot
/// sign in to the desk. An account with both roles signs in to both.
async fn roles_belong_to_each_app(store: &Store, master: &Keyring, rng: &mut StdRng) {
    let pw = Zeroizing::new("operator password one".to_owned());
    let event = |who: &str| Event::ok(T, "cli:test", "cli", "staff.add", &format!("staff:{who}"));
    let mut add = async |email: &str, role, desk_role| {
        let account = NewAccount {
            email,
            name: "Someone",
            role,
            desk_role,
            password: &pw,
        };
        oathvault_accounts::add_account(rng, store, master, "Example", &account, event(email))
            .await
            .unwrap()
            .1
    };
    let desk_uri = add("op@vendor.example", None, Some(DeskRole::Helpdesk)).await;
    let reviewer_uri = add("rev@vendor.example", Some(Role::Reviewer), None).await;
    let both_uri = add(
        "both@vendor.example",
        Some(Role::Reviewer),
        Some(DeskRole::Viewer),
    )
    .await;
    let mut rng = StdRng::seed_from_u64(11);
    let portal = Auth::new(store, master, Policy::default(), App::Portal);
    let desk = Auth::new(store, master, Policy::default(), App::Desk);
    let t = T + 4000;
    for (auth, email) in [
        (&portal, "op@vendor.example"),
        (&desk, "rev@vendor.example"),
    ] {
        let e = auth
            .password(&mut rng, email, &pw, "10.0.0.9", t)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::Refused), "{email}: {e}");
        assert_eq!(e.to_string(), "wrong e-mail, password or code");
    }
    // Each signs in where they have a role.
    for (i, (auth, email, uri)) in [
        (&desk, "op@vendor.example", &desk_uri),
        (&portal, "rev@vendor.example", &reviewer_uri),
        (&portal, "both@vendor.example", &both_uri),
        (&desk, "both@vendor.example", &both_uri),
    ]
    .into_iter()
    .enumerate()
    {
        // A new time step each, so no code is a replay of the one before.
        let t = t + 60 * (i64::try_from(i).unwrap() + 1);
        let pending = auth
            .password(&mut rng, email, &pw, "10.0.0.9", t)
            .await
            .unwrap();
        let session = auth
            .code(&mut rng, &pending, &code_at(uri, t), "10.0.0.9", t)
            .await
            .unwrap_or_else(|e| panic!("{email}: {e}"));
        assert!(auth.current(&session, t).await.unwrap().is_some());
        // A desk session of an operator without a portal role opens nothing there.
        if email == "op@vendor.example" {
            assert!(portal.current(&session, t).await.unwrap().is_none());
        }
    }
    // One code, sent to the portal and the desk at once by an account with
    // both roles: it is spent once, so exactly one of the two succeeds.
    let t = t + 600;
    let email = "both@vendor.example";
    let pa = portal
        .password(&mut rng, email, &pw, "10.0.0.9", t)
        .await
        .unwrap();
    let pd = desk
        .password(&mut rng, email, &pw, "10.0.0.9", t)
        .await
        .unwrap();
    let code = code_at(&both_uri, t);
    let (mut ra, mut rd) = (StdRng::seed_from_u64(21), StdRng::seed_from_u64(22));
    let (a, d) = tokio::join!(
        portal.code(&mut ra, &pa, &code, "10.0.0.9", t),
        desk.code(&mut rd, &pd, &code, "10.0.0.9", t),
    );
    assert_eq!(
        u8::from(a.is_ok()) + u8::from(d.is_ok()),
        1,
        "one code, one sign-in: {:?} / {:?}",
        a.as_ref().err(),
        d.as_ref().err()
    );
}
