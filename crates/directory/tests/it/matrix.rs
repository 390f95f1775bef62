//! The authorization matrix: every route that takes a bearer token × every
//! kind of caller — anonymous, a user without a role, a user with each of
//! Entra's directory roles the directory knows, an app without
//! permissions and with each one, and an app of another tenant — with the
//! status each cell must answer. The expected statuses are the table in
//! `docs/directory.md` ("Authorization matrix"), read by this test: the
//! documentation and the code cannot drift apart. Each cell gets its own
//! fresh tokens and users, so no cell depends on another.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use oathvault_directory::admin::role;
use oathvault_directory::{Directory, User};
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use serde_json::{Value, json};

use crate::common::{Dir, SECRET_1, T, code, directory, graph, graph_as};

const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";
const METHODS: &str = "/authentication/hardwareOathMethods";

/// The callers, as the table's columns name them.
const COLUMNS: &[&str] = &[
    "anon", "user", "GA", "PAA", "AA", "APA", "GR", "app", "P.R", "P.RW", "UAM.R", "UAM.RW", "U.R",
    "U.RB", "D.R", "tenant",
];

/// Delegated callers and their directory roles.
const USERS: &[(&str, &[&str])] = &[
    ("user", &[]),
    ("GA", &[role::GLOBAL_ADMINISTRATOR]),
    ("PAA", &[role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR]),
    ("AA", &[role::AUTHENTICATION_ADMINISTRATOR]),
    ("APA", &[role::AUTHENTICATION_POLICY_ADMINISTRATOR]),
    ("GR", &[role::GLOBAL_READER]),
];

/// Apps of the tenant and the one application permission each holds.
const APPS: &[(&str, Option<&str>)] = &[
    ("app", None),
    ("P.R", Some("Policy.Read.All")),
    ("P.RW", Some("Policy.ReadWrite.AuthenticationMethod")),
    ("UAM.R", Some("UserAuthenticationMethod.Read.All")),
    ("UAM.RW", Some("UserAuthenticationMethod.ReadWrite.All")),
    ("U.R", Some("User.Read.All")),
    ("U.RB", Some("User.ReadBasic.All")),
    ("D.R", Some("Directory.Read.All")),
];

struct Ctx {
    dir: Dir,
    /// Each column's bearer token (`None`: anonymous).
    tokens: BTreeMap<&'static str, Option<String>>,
    /// Each delegated column's user.
    callers: BTreeMap<&'static str, User>,
    n: AtomicUsize,
}

/// A delegated token for `upn` through the device code flow and the pages,
/// asking for `.default`.
async fn delegated(dir: &Dir, upn: &str, password: &str) -> String {
    use axum::body::Body;
    use axum::http::{Request, header};
    let client = &dir.demo.client_id;
    let form = |path: &str, body: String, cookie: Option<&str>| {
        let mut b = Request::post(path.to_owned())
            .header(header::HOST, "127.0.0.1:9")
            .header("sec-fetch-site", "same-origin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        b.body(Body::from(body)).unwrap()
    };
    let tenant = &dir.demo.tenant_id;
    let r = form(
        &format!("/{tenant}/oauth2/v2.0/devicecode"),
        format!("client_id={client}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"),
        None,
    );
    let (_, dc) = crate::common::send(dir, r).await;
    let resp = tower::ServiceExt::oneshot(
        oathvault_directory::router(dir.state.clone()),
        form(
            "/login/password",
            format!("upn={upn}&password={password}&next=devicelogin"),
            None,
        ),
    )
    .await
    .unwrap();
    let cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-dir_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap();
    let code = dc["user_code"].as_str().unwrap();
    let r = form(
        "/devicelogin/confirm",
        format!("user_code={code}&decision=approve"),
        Some(&cookie),
    );
    tower::ServiceExt::oneshot(oathvault_directory::router(dir.state.clone()), r)
        .await
        .unwrap();
    let r = form(
        &format!("/{tenant}/oauth2/v2.0/token"),
        format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id={client}&device_code={}",
            dc["device_code"].as_str().unwrap()
        ),
        None,
    );
    let (s, t) = crate::common::send(dir, r).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t["access_token"].as_str().unwrap().to_owned()
}

async fn app_token(dir: &Dir, tenant: &str, name: &str, perms: &[String]) -> String {
    let seed = name
        .bytes()
        .fold(11u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = StdRng::seed_from_u64(seed);
    let (app, secret) = Directory::new(&dir.state.db, &dir.state.master)
        .add_app(&mut rng, tenant, name, perms, T)
        .await
        .unwrap();
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        app.client_id,
        secret.as_str()
    );
    let r = axum::http::Request::post(format!("/{tenant}/oauth2/v2.0/token"))
        .header(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(axum::body::Body::from(form))
        .unwrap();
    let (s, body) = crate::common::send(dir, r).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn setup() -> (Ctx, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = directory(tmp.path().join("d.db").to_str().unwrap()).await;
    let admin = Directory::new(&dir.state.db, &dir.state.master);
    let mut rng = StdRng::seed_from_u64(12);
    let mut tokens = BTreeMap::new();
    let mut callers = BTreeMap::new();
    tokens.insert("anon", None);
    for (col, roles) in USERS {
        let upn = format!("{}@contoso.example", col.to_ascii_lowercase());
        let password = "a good long password";
        let u = admin
            .add_user(&mut rng, &dir.demo.tenant_id, &upn, col, password, T)
            .await
            .unwrap();
        let names: Vec<String> = roles.iter().map(|r| role_name(r).to_owned()).collect();
        admin
            .set_roles(&dir.demo.tenant_id, &upn, &names)
            .await
            .unwrap();
        tokens.insert(*col, Some(delegated(&dir, &upn, password).await));
        callers.insert(
            *col,
            dir.state
                .db
                .user(&dir.demo.tenant_id, &u.id)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    for (col, perm) in APPS {
        let perms: Vec<String> = perm.iter().map(|p| (*p).to_owned()).collect();
        let t = app_token(&dir, &dir.demo.tenant_id, col, &perms).await;
        tokens.insert(*col, Some(t));
    }
    let other = admin
        .add_tenant(&mut rng, "Fabrikam", "fabrikam.example", T)
        .await
        .unwrap();
    let all: Vec<String> = oathvault_directory::admin::ALL_PERMISSIONS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    tokens.insert(
        "tenant",
        Some(app_token(&dir, &other.id, "fabrikam", &all).await),
    );
    (
        Ctx {
            dir,
            tokens,
            callers,
            n: AtomicUsize::new(0),
        },
        tmp,
    )
}

fn role_name(id: &str) -> &'static str {
    for name in [
        "Global Administrator",
        "Privileged Authentication Administrator",
        "Authentication Administrator",
        "Authentication Policy Administrator",
        "Global Reader",
    ] {
        if role::by_name(name) == Some(id) {
            return name;
        }
    }
    panic!("no role {id}")
}

impl Ctx {
    fn next(&self) -> usize {
        self.n.fetch_add(1, Ordering::SeqCst)
    }

    /// A token nobody has: id and serial.
    async fn device(&self) -> (String, String) {
        let serial = format!("M{:05}", self.next());
        let (s, d) = graph(
            &self.dir,
            "POST",
            DEVICES,
            Some(json!({
                "serialNumber": serial, "manufacturer": "C", "model": "M",
                "secretKey": SECRET_1, "timeIntervalInSeconds": 30
            })),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{d}");
        (d["id"].as_str().unwrap().to_owned(), serial)
    }

    /// A fresh user of the tenant holding `roles`.
    async fn target(&self, roles: &[&str]) -> User {
        let n = self.next();
        let u = User {
            id: oathvault_directory::new_id(&mut StdRng::seed_from_u64(1000 + n as u64)),
            tenant_id: self.dir.demo.tenant_id.clone(),
            upn: format!("target{n}@contoso.example"),
            display_name: format!("Target {n}"),
            password_hash: "x".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        };
        self.dir.state.db.add_user(&u, T).await.unwrap();
        u
    }

    /// A token assigned to `user` (and activated with the code of `T`).
    async fn assigned(&self, user: &User, activated: bool) -> (String, String) {
        let (id, serial) = self.device().await;
        let base = format!("/beta/users/{}{METHODS}", user.id);
        let (s, b) = if activated {
            graph(
                &self.dir,
                "POST",
                &format!("{base}/assignAndActivate"),
                Some(json!({ "device": { "id": id }, "verificationCode": code(SECRET_1, T) })),
            )
            .await
        } else {
            graph(
                &self.dir,
                "POST",
                &base,
                Some(json!({ "device": { "id": id } })),
            )
            .await
        };
        assert!(s.is_success(), "{b}");
        (id, serial)
    }

    /// Gives back every token of `user` (so that `/me` cells never reach
    /// the five-methods cap).
    async fn release(&self, user: &User) {
        for mut d in self
            .dir
            .state
            .db
            .devices_of(&user.tenant_id, &user.id)
            .await
            .unwrap()
        {
            d.user = None;
            d.status = "available".into();
            assert!(
                self.dir
                    .state
                    .db
                    .save_device(&d, Some(&user.id))
                    .await
                    .unwrap()
            );
        }
    }
}

/// Every row of the table: the route (as the table writes it).
const ROWS: &[&str] = &[
    "GET /beta/directory/authenticationMethodDevices/hardwareOathDevices",
    "POST /beta/directory/authenticationMethodDevices/hardwareOathDevices",
    "POST …/hardwareOathDevices with assignTo",
    "PATCH …/hardwareOathDevices (#$delta)",
    "GET …/hardwareOathDevices/{id}",
    "PATCH …/hardwareOathDevices/{id}",
    "DELETE …/hardwareOathDevices/{id}",
    "GET /beta/users",
    "GET /beta/users/{user}",
    "GET /beta/me",
    "GET /beta/users/{user}/authentication/hardwareOathMethods",
    "POST /beta/users/{user}/authentication/hardwareOathMethods",
    "POST …/hardwareOathMethods of an administrator",
    "GET /beta/users/{user}/…/hardwareOathMethods/{id}",
    "DELETE /beta/users/{user}/…/hardwareOathMethods/{id}",
    "POST /beta/users/{user}/…/{id}/activate",
    "POST /beta/users/{user}/…/{id}/deactivate",
    "POST /beta/users/{user}/…/assignAndActivate",
    "POST /beta/users/{user}/…/assignAndActivateBySerialNumber",
    "PUT /beta/users/{user}/…/{id}/device/assignTo/$ref",
    "GET /beta/me/authentication/hardwareOathMethods",
    "POST /beta/me/authentication/hardwareOathMethods",
    "GET /beta/me/…/hardwareOathMethods/{id}",
    "DELETE /beta/me/…/hardwareOathMethods/{id}",
    "POST /beta/me/…/{id}/activate",
    "POST /beta/me/…/{id}/deactivate",
    "POST /beta/me/…/assignAndActivate",
    "POST /beta/me/…/assignAndActivateBySerialNumber",
    "PUT /beta/me/…/{id}/device/assignTo/$ref",
    "PUT /beta/me/…/{id}/device/assignTo/$ref naming another user",
    "POST /api/otp/check",
    "POST /api/otp/check of an administrator",
    "GET /api/tokens",
    "GET /api/tokens/{serial}",
    "GET /api/locks",
    "DELETE /api/locks/tokens/{serial}",
    "DELETE /api/locks/users/{user}",
];

/// Runs one cell: prepares what the route needs, sends the request as
/// `col`; the status, the body, and strings of this tenant the answer must
/// not show another tenant.
async fn cell(ctx: &Ctx, row: &str, col: &str) -> (StatusCode, Value, Vec<String>) {
    let plain = ctx.target(&[]).await;
    // `/me` acts on the caller (a fresh user for callers that are none).
    let me = ctx
        .callers
        .get(col)
        .cloned()
        .unwrap_or_else(|| plain.clone());
    let path_of = |u: &User| {
        if row.contains("/beta/me") {
            format!("/beta/me{METHODS}")
        } else {
            format!("/beta/users/{}{METHODS}", u.id)
        }
    };
    let owner = if row.contains("/beta/me") {
        &me
    } else {
        &plain
    };
    let base = path_of(owner);
    let mut hide = vec![plain.id.clone(), plain.upn.clone()];
    let (method, path, body): (&str, String, Option<Value>) = match row {
        r if r.starts_with("GET /beta/directory") => ("GET", DEVICES.into(), None),
        r if r.starts_with("POST /beta/directory") => {
            let serial = format!("N{:05}", ctx.next());
            let body = json!({ "serialNumber": serial, "manufacturer": "C", "model": "M",
                "secretKey": SECRET_1, "timeIntervalInSeconds": 30 });
            ("POST", DEVICES.into(), Some(body))
        }
        "POST …/hardwareOathDevices with assignTo" => {
            let serial = format!("N{:05}", ctx.next());
            let body = json!({ "serialNumber": serial, "manufacturer": "C", "model": "M",
                "secretKey": SECRET_1, "timeIntervalInSeconds": 30, "assignTo": { "id": plain.id } });
            ("POST", DEVICES.into(), Some(body))
        }
        "PATCH …/hardwareOathDevices (#$delta)" => {
            let serial = format!("N{:05}", ctx.next());
            let body = json!({ "@context": "#$delta", "value": [{ "@contentId": "1",
                "serialNumber": serial, "manufacturer": "C", "model": "M",
                "secretKey": SECRET_1, "timeIntervalInSeconds": 30 }] });
            ("PATCH", DEVICES.into(), Some(body))
        }
        r if r.starts_with("GET …/hardwareOathDevices/{id}")
            || r.starts_with("PATCH …/hardwareOathDevices/{id}")
            || r.starts_with("DELETE …/hardwareOathDevices/{id}") =>
        {
            let (id, serial) = ctx.device().await;
            hide.extend([id.clone(), serial]);
            let method = r.split(' ').next().unwrap();
            let body = (method == "PATCH").then(|| json!({ "displayName": "renamed" }));
            (method, format!("{DEVICES}/{id}"), body)
        }
        "GET /beta/users" => ("GET", "/beta/users".into(), None),
        "GET /beta/users/{user}" => ("GET", format!("/beta/users/{}", plain.id), None),
        "GET /beta/me" => ("GET", "/beta/me".into(), None),
        r if r.ends_with("/authentication/hardwareOathMethods") && r.starts_with("GET") => {
            ("GET", base, None)
        }
        r if r.ends_with("/authentication/hardwareOathMethods")
            || r.ends_with("of an administrator") && r.contains("hardwareOathMethods") =>
        {
            let to = if r.ends_with("of an administrator") {
                ctx.target(&[role::GLOBAL_ADMINISTRATOR]).await
            } else {
                owner.clone()
            };
            let (id, serial) = ctx.device().await;
            hide.extend([id.clone(), serial]);
            (
                "POST",
                path_of(&to),
                Some(json!({ "device": { "id": id } })),
            )
        }
        r if r.contains("hardwareOathMethods/{id}") => {
            let (id, serial) = ctx.assigned(owner, false).await;
            hide.extend([id.clone(), serial]);
            let method = r.split(' ').next().unwrap();
            (method, format!("{base}/{id}"), None)
        }
        r if r.ends_with("/activate") => {
            let (id, serial) = ctx.assigned(owner, false).await;
            hide.extend([id.clone(), serial]);
            let body = json!({ "verificationCode": code(SECRET_1, T) });
            ("POST", format!("{base}/{id}/activate"), Some(body))
        }
        r if r.ends_with("/deactivate") => {
            let (id, serial) = ctx.assigned(owner, true).await;
            hide.extend([id.clone(), serial]);
            ("POST", format!("{base}/{id}/deactivate"), None)
        }
        r if r.ends_with("/assignAndActivate") => {
            let (id, serial) = ctx.device().await;
            hide.extend([id.clone(), serial]);
            let body = json!({ "device": { "id": id }, "verificationCode": code(SECRET_1, T) });
            ("POST", format!("{base}/assignAndActivate"), Some(body))
        }
        r if r.ends_with("/assignAndActivateBySerialNumber") => {
            let (id, serial) = ctx.device().await;
            hide.extend([id, serial.clone()]);
            let body = json!({ "serialNumber": serial, "verificationCode": code(SECRET_1, T) });
            (
                "POST",
                format!("{base}/assignAndActivateBySerialNumber"),
                Some(body),
            )
        }
        r if r.contains("/device/assignTo/$ref") => {
            let (id, serial) = ctx.device().await;
            hide.extend([id.clone(), serial]);
            let named = if r.ends_with("naming another user") {
                &plain
            } else {
                owner
            };
            let body = json!({ "@odata.id": format!("https://graph.microsoft.com/beta/users/{}", named.id) });
            (
                "PUT",
                format!("{base}/{id}/device/assignTo/$ref"),
                Some(body),
            )
        }
        r if r.starts_with("POST /api/otp/check") => {
            let to = if r.ends_with("of an administrator") {
                ctx.target(&[role::GLOBAL_ADMINISTRATOR]).await
            } else {
                plain.clone()
            };
            let (id, serial) = ctx.assigned(&to, true).await;
            hide.extend([id, serial, to.id.clone()]);
            let body = json!({ "user": to.id, "code": code(SECRET_1, T + 30) });
            ("POST", "/api/otp/check".into(), Some(body))
        }
        "GET /api/tokens" => ("GET", "/api/tokens".into(), None),
        "GET /api/locks" => ("GET", "/api/locks".into(), None),
        r if r.ends_with("{serial}") => {
            let (id, serial) = ctx.assigned(&plain, true).await;
            hide.extend([id, serial.clone()]);
            let method = r.split(' ').next().unwrap();
            let path = if method == "GET" {
                format!("/api/tokens/{serial}")
            } else {
                format!("/api/locks/tokens/{serial}")
            };
            (method, path, None)
        }
        "DELETE /api/locks/users/{user}" => {
            ("DELETE", format!("/api/locks/users/{}", plain.id), None)
        }
        other => panic!("no request for row {other:?}"),
    };
    // What the request itself names may be echoed ("'…' does not exist").
    let asked = format!(
        "{path} {}",
        body.as_ref().map(Value::to_string).unwrap_or_default()
    );
    hide.retain(|h| !asked.contains(h.as_str()));
    let token = ctx.tokens[col].clone().unwrap_or_default();
    let (s, v) = graph_as(&ctx.dir, &token, method, &path, body).await;
    ctx.release(&me).await;
    (s, v, hide)
}

/// The table under "## Authorization matrix" in `docs/directory.md`: its
/// column names, and each row's route and statuses.
fn documented() -> (Vec<String>, Vec<(String, Vec<u16>)>) {
    let doc = include_str!("../../../../docs/directory.md");
    let section = doc
        .split("## Authorization matrix")
        .nth(1)
        .expect("docs/directory.md has an \"## Authorization matrix\" section");
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let cells = |l: &str| -> Vec<String> {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let header = cells(lines.next().expect("a header row"));
    lines.next().expect("the separator row");
    let rows = lines
        .map(|l| {
            let c = cells(l);
            let route = c[0].trim_matches('`').to_owned();
            let statuses = c[1..]
                .iter()
                .map(|s| {
                    s.parse()
                        .unwrap_or_else(|_| panic!("{route}: {s:?} is not a status"))
                })
                .collect();
            (route, statuses)
        })
        .collect();
    (header[1..].to_vec(), rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_the_documented_matrix_says() {
    let (columns, rows) = documented();
    assert_eq!(columns, COLUMNS, "the table's columns");
    let routes: Vec<&str> = rows.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        routes, ROWS,
        "the table's rows are the routes this test knows"
    );
    let (ctx, _tmp) = setup().await;
    let mut wrong = Vec::new();
    for (route, expected) in &rows {
        assert_eq!(
            expected.len(),
            COLUMNS.len(),
            "{route}: one status per column"
        );
        for (col, want) in COLUMNS.iter().zip(expected) {
            let (got, body, hide) = cell(&ctx, route, col).await;
            if got.as_u16() != *want {
                wrong.push(format!(
                    "{route} as {col}: {got}, documented {want}: {body}"
                ));
            }
            if *col == "tenant" {
                let text = body.to_string();
                for h in &hide {
                    assert!(
                        !text.contains(h.as_str()),
                        "{route}: another tenant sees {h}: {text}"
                    );
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
