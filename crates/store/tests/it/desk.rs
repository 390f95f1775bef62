//! The help desk's tables on SQLite and PostgreSQL: operators' desk roles,
//! the inventory copy (replace whole, search, filters, counts, pages, one
//! row after an action, removal) and the users' copy.

use crate::test_keys;
use oathvault_store::{
    Backend, Cursor, DeskDevice, DeskRole, DeskUser, DeviceQuery, DriftSample, Event, Role, Store,
    SyncState,
};
use oathvault_testkit::postgres::TempPostgres;

const T: i64 = 1_795_696_620;

fn device(i: usize) -> DeskDevice {
    let status = ["available", "assigned", "activated", "failedActivation"][i % 4];
    DeskDevice {
        id: format!("id-{i:04}"),
        serial: format!("SN{i:05}"),
        manufacturer: "Contoso Tokens".into(),
        model: if i.is_multiple_of(2) { "C200" } else { "C300" }.into(),
        display_name: String::new(),
        status: status.into(),
        hash_function: "hmacsha1".into(),
        interval: 30,
        user_id: (status != "available").then(|| format!("user-{}", i % 3)),
        user_name: if status == "available" {
            String::new()
        } else {
            format!("user{}@contoso.example", i % 3)
        },
        last_used: String::new(),
        drift: i.is_multiple_of(5).then(|| i64::try_from(i).unwrap() - 600),
    }
}

fn users() -> Vec<DeskUser> {
    (0..3)
        .map(|i| DeskUser {
            id: format!("user-{i}"),
            upn: format!("user{i}@contoso.example"),
            display_name: format!("User Number{i}"),
        })
        .collect()
}

fn query(text: &str) -> DeviceQuery {
    DeviceQuery {
        text: text.into(),
        limit: 50,
        ..DeviceQuery::default()
    }
}

async fn suite(store: &Store) {
    // Desk roles ride on staff accounts; none until given.
    let audit = Event::ok(T, "test", "test", "staff.add", "staff:ana@contoso.example");
    let id = store
        .add_staff(
            "Ana@contoso.example",
            "Ana",
            Some(Role::Reviewer),
            None,
            "$argon2id$x",
            None,
            &audit,
        )
        .await
        .unwrap();
    assert_eq!(store.desk_role(id).await.unwrap(), None);
    store
        .set_desk_role("ana@contoso.example", Some(DeskRole::Helpdesk), &audit)
        .await
        .unwrap();
    assert_eq!(store.desk_role(id).await.unwrap(), Some(DeskRole::Helpdesk));
    assert_eq!(
        store.desk_operators().await.unwrap(),
        vec![(
            "ana@contoso.example".to_owned(),
            "Ana".to_owned(),
            DeskRole::Helpdesk
        )]
    );
    assert!(
        store
            .set_desk_role("nobody@contoso.example", Some(DeskRole::Viewer), &audit)
            .await
            .is_err()
    );

    // A sync replaces the copy whole, in chunks of 500 rows.
    assert_eq!(store.desk_sync_state().await.unwrap(), None);
    let devices: Vec<DeskDevice> = (0..1203).map(device).collect();
    let samples = vec![
        (
            "SN00005".to_owned(),
            DriftSample {
                at: T - 100,
                drift: -3,
            },
        ),
        (
            "SN00005".to_owned(),
            DriftSample {
                at: T - 50,
                drift: -1,
            },
        ),
    ];
    store
        .desk_replace(&devices, &users(), &samples, T)
        .await
        .unwrap();
    // The same measurements again (the next sync) are kept once.
    store.desk_drift_add(&samples).await.unwrap();
    assert_eq!(
        store.desk_drift_history("SN00005").await.unwrap(),
        vec![
            DriftSample {
                at: T - 100,
                drift: -3
            },
            DriftSample {
                at: T - 50,
                drift: -1
            }
        ]
    );
    assert!(
        store
            .desk_drift_history("SN00006")
            .await
            .unwrap()
            .is_empty()
    );
    let drifting = store.desk_drifting(3).await.unwrap();
    assert_eq!(
        drifting
            .iter()
            .map(|d| (d.serial.as_str(), d.drift))
            .collect::<Vec<_>>(),
        [
            ("SN00000", Some(-600)),
            ("SN01200", Some(600)),
            ("SN00005", Some(-595))
        ]
    );
    assert_eq!(
        store.desk_sync_state().await.unwrap(),
        Some(SyncState {
            finished: T,
            devices: 1203,
            users: 3
        })
    );
    let all = store.desk_devices(&query("")).await.unwrap();
    assert_eq!(all.total, 1203);
    let used = store.desk_last_used().await.unwrap();
    assert_eq!(used.len(), 241, "the tokens with a known drift");
    assert_eq!(used.get("SN00005").map(String::as_str), Some(""));
    let serials = store.desk_serials().await.unwrap();
    assert_eq!(serials.len(), 1203);
    assert!(serials.contains("SN01202"));
    assert_eq!(all.rows.len(), 50);
    assert_eq!(all.rows[0], device(0));
    let mut counts = store.desk_counts().await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            ("activated".to_owned(), 301),
            ("assigned".to_owned(), 301),
            ("available".to_owned(), 301),
            ("failedActivation".to_owned(), 300),
        ]
    );

    // Paging, filters, words in any case, wildcards taken literally.
    let serials = |p: &oathvault_store::DevicePage| {
        p.rows.iter().map(|d| d.serial.clone()).collect::<Vec<_>>()
    };
    assert!(!all.more_before && all.more_after);
    let last = store
        .desk_devices(&DeviceQuery {
            cursor: Cursor::Last,
            limit: 3,
            ..query("")
        })
        .await
        .unwrap();
    assert_eq!(serials(&last), ["SN01200", "SN01201", "SN01202"]);
    assert!(last.more_before && !last.more_after);
    // Keyset paging walks the whole copy forwards, then back, page by page.
    let mut seen = Vec::new();
    let mut cursor = Cursor::First;
    loop {
        let page = store
            .desk_devices(&DeviceQuery {
                cursor: cursor.clone(),
                limit: 100,
                ..query("")
            })
            .await
            .unwrap();
        seen.extend(serials(&page));
        let Some(d) = page.rows.last().filter(|_| page.more_after) else {
            break;
        };
        cursor = Cursor::After(d.serial.clone(), d.id.clone());
    }
    assert_eq!(seen.len(), 1203);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    let before = store
        .desk_devices(&DeviceQuery {
            cursor: Cursor::Before("SN00100".into(), "id-0100".into()),
            limit: 2,
            ..query("")
        })
        .await
        .unwrap();
    assert_eq!(serials(&before), ["SN00098", "SN00099"]);
    assert!(before.more_before && before.more_after);
    // Filters page the same way, and their totals come from the counts.
    let assigned = store
        .desk_devices(&DeviceQuery {
            status: Some("assigned".into()),
            cursor: Cursor::Last,
            limit: 2,
            ..query("")
        })
        .await
        .unwrap();
    assert_eq!(assigned.total, 301);
    assert_eq!(serials(&assigned), ["SN01197", "SN01201"]);
    // A copy from before the word index gets one (once).
    assert!(!store.desk_reindex().await.unwrap());
    sqlx::query("DELETE FROM desk_word")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(
        store.desk_devices(&query("sn00042")).await.unwrap().total,
        0
    );
    assert!(store.desk_reindex().await.unwrap());
    assert_eq!(
        store.desk_devices(&query("sn00042")).await.unwrap().total,
        1
    );
    // People first: a token is found by its user's display name.
    let by_name = store.desk_devices(&query("number1")).await.unwrap();
    assert!(by_name.total > 0);
    assert!(
        by_name
            .rows
            .iter()
            .all(|d| d.user_id.as_deref() == Some("user-1"))
    );
    let one = store.desk_devices(&query("sn00042")).await.unwrap();
    assert_eq!((one.total, one.rows[0].serial.as_str()), (1, "SN00042"));
    let words = store
        .desk_devices(&query("c300 USER1@contoso"))
        .await
        .unwrap();
    assert!(words.total > 0);
    assert!(
        words
            .rows
            .iter()
            .all(|d| d.model == "C300" && d.user_name == "user1@contoso.example")
    );
    let all_c300 = store.desk_devices_all(&query("c300")).await.unwrap();
    assert_eq!(all_c300.len(), 601);
    assert!(all_c300.iter().all(|d| d.model == "C300"));
    assert!(all_c300.windows(2).all(|w| w[0].serial < w[1].serial));
    assert_eq!(store.desk_devices(&query("%")).await.unwrap().total, 0);
    assert_eq!(store.desk_devices(&query("SN_00")).await.unwrap().total, 0);
    let activated_of_user0 = store
        .desk_devices(&DeviceQuery {
            status: Some("activated".into()),
            user_id: Some("user-0".into()),
            ..query("")
        })
        .await
        .unwrap();
    assert!(activated_of_user0.total > 0);
    assert!(
        activated_of_user0
            .rows
            .iter()
            .all(|d| d.status == "activated" && d.user_id.as_deref() == Some("user-0"))
    );

    // After an action: one row replaced, or removed.
    let mut d = device(7);
    d.status = "available".into();
    d.user_id = None;
    d.user_name = String::new();
    store.desk_put(&d, T + 5).await.unwrap();
    let count =
        |counts: &[(String, i64)], s: &str| counts.iter().find(|c| c.0 == s).map_or(0, |c| c.1);
    let counts = store.desk_counts().await.unwrap();
    assert_eq!(
        (
            count(&counts, "available"),
            count(&counts, "failedActivation")
        ),
        (302, 299)
    );
    assert_eq!(
        store.desk_devices(&query("sn00007")).await.unwrap().total,
        1
    );
    assert_eq!(store.desk_device("SN00007").await.unwrap(), Some(d.clone()));
    assert_eq!(store.desk_device("id-0007").await.unwrap(), Some(d));
    store.desk_remove("id-0007").await.unwrap();
    assert_eq!(store.desk_device("SN00007").await.unwrap(), None);
    assert_eq!(count(&store.desk_counts().await.unwrap(), "available"), 301);
    assert_eq!(
        store.desk_devices(&query("sn00007")).await.unwrap().total,
        0
    );
    assert_eq!(store.desk_devices(&query("")).await.unwrap().total, 1202);

    // Users: search by UPN or name, look up by id or UPN in any case.
    let found = store.desk_users("number2", 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].upn, "user2@contoso.example");
    assert_eq!(store.desk_users("", 10).await.unwrap().len(), 3);
    assert_eq!(
        store
            .desk_user("USER1@Contoso.Example")
            .await
            .unwrap()
            .unwrap()
            .id,
        "user-1"
    );
    assert_eq!(
        store.desk_user("user-2").await.unwrap().unwrap().upn,
        "user2@contoso.example"
    );

    // A later sync drops what the tenant no longer has.
    store
        .desk_replace(&[device(1)], &users()[..1], &[], T + 60)
        .await
        .unwrap();
    assert_eq!(store.desk_devices(&query("")).await.unwrap().total, 1);
    assert_eq!(store.desk_users("", 10).await.unwrap().len(), 1);
    assert_eq!(
        store.desk_sync_state().await.unwrap().unwrap().finished,
        T + 60
    );
}

#[tokio::test]
async fn desk_tables_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("desk.db").to_str().unwrap(),
        &test_keys(),
        &mut oathvault_vault::random::os(),
    )
    .await
    .unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    suite(&store).await;
    store.close().await;
}

#[tokio::test]
async fn desk_tables_on_postgres() {
    let pg = TempPostgres::start();
    let store = Store::open(pg.url(), &test_keys(), &mut oathvault_vault::random::os())
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    suite(&store).await;
    store.close().await;
}
