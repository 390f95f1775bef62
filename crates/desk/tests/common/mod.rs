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
    reason = "test helpers: a failure is a failed test"
)]

use std::path::Path;
use std::sync::Arc;

use oathvault_desk::{DeskRole, DeskSettings, DeskState, NewOperator};
use oathvault_directory::{Db, Demo, DirState, Directory, Settings, SigningKey};
use oathvault_graph::auth::{Auth, Credential, DEFAULT_SCOPE, Endpoints};
use oathvault_graph::{Graph, RetryPolicy};
use oathvault_otp::Otp;
use oathvault_otp::clock::{Clock, SystemClock};
use oathvault_portal::Actor;
use oathvault_store::Store;
use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Step};
use oathvault_vault::MasterKey;
use rand08::SeedableRng;
use rand08::rngs::StdRng;

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
    pub state: Arc<DeskState>,
    pub admin: Op,
    /// A second administrator (for the two-person rule).
    pub admin2: Op,
    pub viewer: Op,
}

async fn operator(st: &DeskState, email: &str, name: &str, role: DeskRole) -> Op {
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
    oathvault_graph::client::install_tls_provider();
    let http = oathvault_graph::client::http_client(std::time::Duration::from_secs(30)).unwrap();
    let auth = Auth::new(
        http.clone(),
        Endpoints {
            authority: base.to_owned(),
            tenant: demo.tenant_id.clone(),
        },
        &demo.client_id,
        DEFAULT_SCOPE,
        Credential::Secret(zeroize::Zeroizing::new(demo.client_secret.clone())),
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
    let db = Db::open(dir.join("directory.db").to_str().unwrap())
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let dir_key = MasterKey::generate(&mut rng);
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
        dir_state,
        std::future::pending(),
    ));

    let store = Store::open(dir.join("desk.db").to_str().unwrap())
        .await
        .unwrap();
    let state = Arc::new(DeskState::new(
        store,
        MasterKey::generate(&mut rng),
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let desk = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(oathvault_desk::serve(
        listener,
        Arc::clone(&state),
        std::time::Duration::from_hours(1),
        std::future::pending(),
    ));
    Local {
        directory,
        desk,
        demo,
        state,
        admin,
        admin2,
        viewer,
    }
}
