//! The desk's tests: the Entra-compatible directory in process (demo
//! tenant), a desk over it through real Graph calls on loopback, operators.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of the helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::missing_panics_doc,
    reason = "test helpers: a failure is a failed test"
)]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use oathvault_desk::Actor;
use oathvault_desk::{DeskRole, DeskSettings, DeskState, NewOperator};
use oathvault_directory::{Db, Demo, DirState, Directory, Settings, SigningKey};
use oathvault_graph::auth::{Auth, Credential, DEFAULT_SCOPE, Endpoints};
use oathvault_graph::{Graph, RetryPolicy};
use oathvault_otp::Otp;
use oathvault_otp::clock::{Clock, SystemClock};
use oathvault_store::Store;
use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Step, Token};
use oathvault_vault::Keyring;
use rand08::SeedableRng;
use rand08::rngs::StdRng;
use reqwest::StatusCode;

pub fn now() -> i64 {
    i64::try_from(SystemClock.now_unix()).unwrap()
}

/// An operator made for a test: sign-in and TOTP secret (Base32).
pub struct Op {
    pub email: String,
    pub password: String,
    pub totp: String,
}

impl Op {
    /// The code the operator's authenticator shows now.
    pub fn code(&self) -> String {
        let secret = SecretEncoding::Base32.decode(&self.totp).unwrap();
        let otp = Otp::from_parts(
            secret.expose(),
            Hash::Sha1,
            Kind::totp(Step::S30),
            Digits::SIX,
        )
        .unwrap();
        otp.totp(u64::try_from(now()).unwrap()).unwrap().to_string()
    }
}

/// The directory and the desk, both serving on loopback.
pub struct Local {
    pub directory: String,
    pub desk: String,
    pub demo: Demo,
    /// The directory's own state (to register apps, for instance).
    pub dir: Arc<DirState>,
    pub state: Arc<DeskState>,
    pub admin: Op,
    /// A second administrator (for the two-person rule).
    pub admin2: Op,
    pub viewer: Op,
}

pub async fn operator(st: &DeskState, email: &str, name: &str, role: DeskRole) -> Op {
    let password = zeroize::Zeroizing::new(format!("pw-{email}-long-enough"));
    let who = Actor {
        name: "test".into(),
        source: "test".into(),
        now: now(),
    };
    let uri = oathvault_desk::add_operator(
        &mut StdRng::seed_from_u64(9),
        &st.store,
        &st.master,
        "oathvault desk",
        &who,
        &NewOperator {
            email,
            name,
            role,
            password: &password,
        },
    )
    .await
    .unwrap();
    let totp = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap()
        .to_owned();
    Op {
        email: email.into(),
        password: password.to_string(),
        totp,
    }
}

/// A Graph client signed in as the demo tenant's app at `base`.
pub fn graph(base: &str, demo: &Demo) -> Graph {
    graph_as(base, &demo.tenant_id, &demo.client_id, &demo.client_secret)
}

/// A Graph client signed in at `base` as the app `client_id` of `tenant`.
pub fn graph_as(base: &str, tenant: &str, client_id: &str, secret: &str) -> Graph {
    oathvault_graph::client::install_tls_provider();
    let http = oathvault_graph::client::http_client(std::time::Duration::from_secs(30)).unwrap();
    let auth = Auth::new(
        http.clone(),
        Endpoints {
            authority: base.to_owned(),
            tenant: tenant.to_owned(),
        },
        client_id,
        DEFAULT_SCOPE,
        Credential::Secret(zeroize::Zeroizing::new(secret.to_owned())),
        Arc::new(now),
    );
    Graph::new(
        http,
        &format!("{base}/beta"),
        Arc::new(auth),
        RetryPolicy::default(),
        7,
    )
}

/// Starts the directory (demo tenant) and a desk over it, in `dir`.
pub async fn start(dir: &Path) -> Local {
    start_with(dir, DeskSettings::default()).await
}

/// As [`start`], with these desk settings (the Graph URL is set here).
pub async fn start_with(dir: &Path, settings: DeskSettings) -> Local {
    start_configured(dir, async |_, _, _, _| settings).await
}

/// As [`start_with`], the settings made knowing the directory (its URL,
/// state and demo tenant) and the desk's URL.
pub async fn start_configured(
    dir: &Path,
    configure: impl AsyncFnOnce(&str, &Arc<DirState>, &Demo, &str) -> DeskSettings,
) -> Local {
    let db = Db::open(dir.join("directory.db").to_str().unwrap())
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let dir_key = Keyring::generate(&mut rng);
    let demo = Directory::new(&db, &dir_key)
        .seed_demo(&mut rng, "contoso.example", now())
        .await
        .unwrap();
    let dir_state = Arc::new(DirState {
        db,
        master: dir_key,
        key: SigningKey::generate(&mut rng).unwrap(),
        clock: Box::new(now),
        settings: Settings::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let directory = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(oathvault_directory::serve(
        listener,
        Arc::clone(&dir_state),
        std::future::pending(),
    ));

    let desk_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let desk = format!("http://{}", desk_listener.local_addr().unwrap());
    let desk_key = Keyring::generate(&mut rng);
    let store = Store::open(dir.join("desk.db").to_str().unwrap(), &desk_key, &mut rng)
        .await
        .unwrap();
    let settings = configure(&directory, &dir_state, &demo, &desk).await;
    let state = Arc::new(DeskState::new(
        store,
        desk_key,
        graph(&directory, &demo),
        Box::new(now),
        DeskSettings {
            graph_url: format!("{directory}/beta"),
            ..settings
        },
    ));
    let admin = operator(
        &state,
        "ops@contoso.example",
        "Olga Operator",
        DeskRole::Administrator,
    )
    .await;
    let admin2 = operator(
        &state,
        "ops2@contoso.example",
        "Otto Operator",
        DeskRole::Administrator,
    )
    .await;
    let viewer = operator(
        &state,
        "viewer@contoso.example",
        "Victor Viewer",
        DeskRole::Viewer,
    )
    .await;
    tokio::spawn(oathvault_desk::serve(
        desk_listener,
        Arc::clone(&state),
        std::time::Duration::from_hours(1),
        std::future::pending(),
    ));
    Local {
        directory,
        desk,
        demo,
        dir: dir_state,
        state,
        admin,
        admin2,
        viewer,
    }
}

/// A signed-in operator's HTTP client.
pub struct Session {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
}

pub fn set_cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

pub async fn sign_in(l: &Local, op: &Op) -> Session {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/signin", l.desk))
        .form(&[
            ("email", op.email.as_str()),
            ("password", op.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pending = set_cookie(&r, "__Host-ovd_pending");
    let r = http
        .post(format!("{}/signin/code", l.desk))
        .header("cookie", pending)
        .form(&[("code", op.code())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    Session {
        cookie: set_cookie(&r, "__Host-ovd_session"),
        http,
        base: l.desk.clone(),
    }
}

impl Session {
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Posts a form; the response as it comes (redirects not followed).
    pub async fn post_raw(&self, path: &str, form: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, form: &str) -> (StatusCode, String) {
        let r = self.post_raw(path, form).await;
        (r.status(), r.text().await.unwrap())
    }

    /// Reads a seed file on the upload page; the id its push form posts to.
    pub async fn read_for_push(&self, name: &str, file: String) -> String {
        let (status, page) = self.upload("/upload", name, file).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page.split("action=\"/upload/")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no push form in\n{page}"))
            .to_owned()
    }

    pub async fn upload(&self, path: &str, name: &str, file: String) -> (StatusCode, String) {
        // multipart/form-data by hand (one file field), as a browser sends it.
        let boundary = "----oathvault-test-boundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
        );
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

/// An Entra CSV of `tokens` (TOTP ones with their step; HOTP as 30).
pub fn entra_csv(tokens: &[Token]) -> String {
    let mut csv = String::from("serial number,secret key,time interval,manufacturer,model\n");
    for t in tokens {
        let step = match t.kind {
            Kind::Totp { step, .. } => step.seconds(),
            Kind::Hotp { .. } => 30,
        };
        let _ = writeln!(
            csv,
            "{},{},{step},{},{}",
            t.serial.as_str(),
            oathvault_token::SecretEncoding::Base32
                .encode(&t.secret)
                .as_str(),
            t.manufacturer.as_deref().unwrap_or("Contoso"),
            t.model.as_deref().unwrap_or("T1")
        );
    }
    csv
}

/// `tokens` as JSON Lines (lossless: HOTP, digits, hash).
pub fn jsonl(tokens: &[Token]) -> String {
    let mut out = Vec::new();
    let mut w = oathvault_formats::writer(
        oathvault_formats::Format::Jsonl,
        &mut out,
        &oathvault_formats::WriteOptions::default(),
    )
    .unwrap();
    for t in tokens {
        w.write(t).unwrap();
    }
    w.finish().unwrap();
    String::from_utf8(out).unwrap()
}

pub fn code_at(t: &Token, at: i64) -> String {
    let otp = Otp::from_parts(t.secret.expose(), t.hash, t.kind, Digits::SIX).unwrap();
    otp.totp(u64::try_from(at).unwrap()).unwrap().to_string()
}

/// A code the token shows at no time within a day either side of `at`
/// (Entra's activation window), that no common misreading of its secret
/// fits either: a wrong code that stays wrong (a fixed "000000" matches
/// some step of such a window about once in 170 runs).
pub fn wrong_code(t: &Token, at: i64) -> String {
    let otp = Otp::from_parts(t.secret.expose(), t.hash, t.kind, Digits::SIX).unwrap();
    let now = otp.counter_at(u64::try_from(at).unwrap()).unwrap();
    let taken: std::collections::HashSet<u64> = (now - 5760..=now + 5760)
        .map(|c| otp.at_counter(c).value())
        .collect();
    (0..1_000_000u64)
        .map(|v| (v * 7919 + 123_457) % 1_000_000)
        .filter(|v| !taken.contains(v))
        .map(|v| format!("{v:06}"))
        .find(|code| {
            oathvault_graph::preflight::preflight(t, code, u64::try_from(at).unwrap())
                == oathvault_graph::preflight::Finding::NoMatch
        })
        .unwrap()
}

impl Session {
    /// Posts the push form of a read file; an accepted push runs in the
    /// background: follows its page until the results are there.
    pub async fn push(&self, id: &str, form: &str) -> (StatusCode, String) {
        let r = self.post_raw(&format!("/upload/{id}"), form).await;
        if r.status() != StatusCode::SEE_OTHER {
            let status = r.status();
            return (status, r.text().await.unwrap());
        }
        let job = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(job.starts_with("/upload/jobs/"), "{job}");
        for _ in 0..200 {
            let (status, page) = self.get(&job).await;
            if !page.contains("<progress") {
                return (status, page);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the upload never finished");
    }
}

/// Reads and pushes `tokens` as the administrator; returns the results page.
pub async fn upload_and_push(s: &Session, tokens: &[Token]) -> String {
    let id = s.read_for_push("vendor.csv", entra_csv(tokens)).await;
    let (status, page) = s.push(&id, "serial=&code=").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

pub async fn status(l: &Local, serial: &str) -> Option<(String, Option<String>)> {
    l.state
        .graph
        .device_by_serial(serial)
        .await
        .unwrap()
        .map(|d| {
            (
                d.status.unwrap_or_default(),
                d.assigned_to.and_then(|a| a.id),
            )
        })
}

pub async fn device_id(l: &Local, serial: &str) -> String {
    l.state.store.desk_device(serial).await.unwrap().unwrap().id
}

pub fn golden() -> Vec<Token> {
    oathvault_testkit::golden::entra()
}
