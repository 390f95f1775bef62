//! `oathvault demo [--dir DIR]`: a demo vendor portal (with a local SMTP
//! sink whose mail the portal shows at `/demo/outbox`) and an
//! Entra-compatible directory on localhost, with deterministic demo data,
//! made once in DIR (default `./oathvault-demo`) and reused afterwards.
//!
//! A customer's whole journey works out of the box: find order PO-4711
//! (or invoice INV-1001) as `it@contoso.example`, prove shipments with a
//! serial (DEMO0001 is in SHP-0001, DEMO0011 in SHP-0002), protect the file
//! with a password and/or the demo customer's OpenPGP key (`customer.asc`,
//! secret key `customer.sec`, passphrase in `customer.pass`), submit; the
//! demo reviewer approves; the links arrive in the outbox.
//!
//! Demo tokens: serials `DEMO0001`–`DEMO0020` (shipments SHP-0001 and
//! SHP-0002 of order PO-4711 for Contoso Ltd), secrets from a fixed seed, so
//! `oathvault otp DIR/tokens.csv --serial DEMO0001` shows the code a real
//! token would. The same tokens sit in the directory's inventory, ready for
//! Security info → Add sign-in method → Hardware token.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use oathvault_desk::DeskRole;
use oathvault_portal::{Actor, Admin, NewStaff};
use oathvault_store::{Role, Store};
use oathvault_token::{Secret, SecretEncoding, Serial, Step, Token};
use oathvault_vault::Keyring;
use rand08::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use super::now;
use super::portal::{shutdown_signal, write_key};
use crate::Failure;
use crate::args::DemoArgs;
use crate::io::Output;

/// What the demo made, kept in `DIR/demo.json` (0600) to print again.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    staff_email: String,
    staff_password: String,
    directory: oathvault_directory::Demo,
    /// The reviewer (added to demo directories made before reviewers).
    #[serde(default)]
    reviewer: Option<Reviewer>,
    /// The help desk's operators (added to demo directories made before the desk).
    #[serde(default)]
    desk: Option<DeskOperators>,
}

/// The demo desk's operators.
#[derive(Debug, Serialize, Deserialize)]
struct DeskOperators {
    admin_email: String,
    admin_password: String,
    viewer_email: String,
    viewer_password: String,
}

/// The demo's delivery-team reviewer.
#[derive(Debug, Serialize, Deserialize)]
struct Reviewer {
    email: String,
    password: String,
}

/// A staff member's password: `demo-` and random.
fn staff_password() -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!(
        "demo-{}",
        data_encoding::BASE64URL_NOPAD
            .encode(&oathvault_vault::random::os().next_u64().to_le_bytes())
    ))
}

/// Adds a staff member and writes their TOTP secret to `totp_file` (an
/// Entra CSV `oathvault otp` reads).
async fn add_staff(
    admin: &Admin<'_>,
    who: &Actor,
    dir: &Path,
    (email, name, role): (&str, &str, Role),
    totp_file: &str,
) -> Result<zeroize::Zeroizing<String>, Failure> {
    let password = staff_password();
    let (_, uri) = admin
        .add_staff(
            &mut oathvault_vault::random::os(),
            who,
            &NewStaff {
                email,
                name,
                role,
                password: &password,
            },
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    write_totp(dir, totp_file, email, &uri)?;
    Ok(password)
}

/// Writes the TOTP secret of an `otpauth://` URI to `file` in `dir` (an
/// Entra CSV `oathvault otp` reads).
fn write_totp(dir: &Path, file: &str, email: &str, uri: &str) -> Result<(), Failure> {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap_or_default();
    let secret = SecretEncoding::Base32
        .decode(b32)
        .map_err(|e| anyhow!("staff secret: {e}"))?;
    write_private(
        &dir.join(file),
        &entra_csv(&[(email, &secret, "oathvault", "staff sign-in")]),
    )
}

/// The reviewer and the demo customer's OpenPGP key pair, made once.
async fn extras(
    dir: &Path,
    store: &Store,
    master: &Keyring,
    saved: &mut Saved,
) -> Result<bool, Failure> {
    let mut changed = false;
    if saved.reviewer.is_none() {
        let who = Actor {
            name: "demo".into(),
            source: "cli".into(),
            now: now(),
        };
        let admin = Admin::new(store, master, "oathvault demo");
        let email = "reviewer@vendor.example";
        let password = add_staff(
            &admin,
            &who,
            dir,
            (email, "Demo Reviewer", Role::Reviewer),
            "reviewer-totp.csv",
        )
        .await?;
        saved.reviewer = Some(Reviewer {
            email: email.into(),
            password: password.to_string(),
        });
        changed = true;
    }
    if !dir.join("customer.asc").exists() {
        let pass = oathvault_packaging::Password::new("contoso demo key");
        let key = oathvault_packaging::pgp::SecretKey::generate(
            &mut oathvault_vault::random::os(),
            "Contoso IT (oathvault demo) <it@contoso.example>",
            &pass,
        )
        .map_err(|e| anyhow!("demo OpenPGP key: {e}"))?;
        let public = key.public().to_armored().map_err(|e| anyhow!("{e}"))?;
        let secret = key.to_armored().map_err(|e| anyhow!("{e}"))?;
        write_private(&dir.join("customer.sec"), &secret)?;
        write_private(&dir.join("customer.pass"), &format!("{}\n", pass.expose()))?;
        write_private(&dir.join("customer.asc"), &public)?;
    }
    Ok(changed)
}

/// The help desk's database (its own, beside the portal's) and operators:
/// an administrator and a viewer, made once.
async fn desk_data(
    dir: &Path,
    master: &Keyring,
    saved: &mut Saved,
) -> Result<(Store, bool), Failure> {
    let store = Store::open(
        &dir.join("desk.db").to_string_lossy(),
        master,
        &mut oathvault_vault::random::os(),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    if saved.desk.is_some() {
        return Ok((store, false));
    }
    let who = oathvault_desk::Actor {
        name: "demo".into(),
        source: "cli".into(),
        now: now(),
    };
    let mut made = Vec::new();
    for (email, name, role, file) in [
        (
            "helpdesk@contoso.example",
            "Demo Help Desk Admin",
            DeskRole::Administrator,
            "desk-totp.csv",
        ),
        (
            "viewer@contoso.example",
            "Demo Viewer",
            DeskRole::Viewer,
            "desk-viewer-totp.csv",
        ),
    ] {
        let password = staff_password();
        let uri = oathvault_desk::add_operator(
            &mut oathvault_vault::random::os(),
            &store,
            master,
            "oathvault demo desk",
            &who,
            &oathvault_desk::NewOperator {
                email,
                name,
                role,
                password: &password,
            },
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        write_totp(dir, file, email, &uri)?;
        made.push(password.to_string());
    }
    let viewer_password = made.pop().unwrap_or_default();
    let admin_password = made.pop().unwrap_or_default();
    saved.desk = Some(DeskOperators {
        admin_email: "helpdesk@contoso.example".into(),
        admin_password,
        viewer_email: "viewer@contoso.example".into(),
        viewer_password,
    });
    Ok((store, true))
}

/// A Graph client signed in to the demo directory at `addr` as its app.
fn demo_graph(s: &Saved, addr: std::net::SocketAddr) -> Result<oathvault_graph::Graph, Failure> {
    use oathvault_graph::auth::{Auth, Credential, DEFAULT_SCOPE, Endpoints};
    oathvault_graph::client::install_tls_provider();
    let http = oathvault_graph::client::http_client(std::time::Duration::from_secs(100))
        .map_err(|e| anyhow!("{e}"))?;
    let auth = Auth::new(
        http.clone(),
        Endpoints {
            authority: format!("http://{addr}"),
            tenant: s.directory.tenant_id.clone(),
        },
        &s.directory.client_id,
        DEFAULT_SCOPE,
        Credential::Secret(zeroize::Zeroizing::new(s.directory.client_secret.clone())),
        Arc::new(now),
    );
    Ok(oathvault_graph::Graph::new(
        http,
        &format!("http://{addr}/beta"),
        Arc::new(auth),
        oathvault_graph::RetryPolicy::default(),
        1,
    ))
}

/// The twenty demo tokens (deterministic).
fn demo_tokens() -> Vec<Token> {
    let mut rng = rand08::rngs::StdRng::seed_from_u64(4711);
    (1..=20)
        .filter_map(|i| {
            let mut secret = vec![0u8; 20];
            rng.fill_bytes(&mut secret);
            let mut t = Token::totp(
                Serial::new(&format!("DEMO{i:04}")).ok()?,
                Secret::new(secret).ok()?,
                Step::S30,
            );
            t.manufacturer = Some("Example Tokens".into());
            t.model = Some(if i <= 10 { "OTP c200" } else { "OTP c300" }.into());
            Some(t)
        })
        .collect()
}

/// Writes a private file (0600) through a temporary file.
fn write_private(path: &Path, text: &str) -> Result<(), Failure> {
    let mut out = Output::create(Some(path), true)?;
    {
        let mut w = out.writer();
        w.write_all(text.as_bytes())
            .and_then(|()| w.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    out.commit()
}

/// An Entra CSV of `tokens` (what `oathvault otp` and `convert` read).
fn entra_csv(rows: &[(&str, &Secret, &str, &str)]) -> String {
    let mut s = String::from("serial number,secret key,time interval,manufacturer,model\n");
    for (serial, secret, maker, model) in rows {
        let _ = writeln!(
            s,
            "{serial},{},30,{maker},{model}",
            SecretEncoding::Base32.encode(secret).as_str()
        );
    }
    s
}

pub fn run(args: &DemoArgs) -> Result<(), Failure> {
    super::block_on(run_async(args))
}

async fn setup(dir: &Path, store: &Store, master: &Keyring) -> Result<Saved, Failure> {
    let mut rng = oathvault_vault::random::os();
    let who = Actor {
        name: "demo".into(),
        source: "cli".into(),
        now: now(),
    };
    let admin = Admin::new(store, master, "oathvault demo");
    let fail = |e: oathvault_portal::Error| Failure::from(anyhow!("{e}"));
    admin
        .add_customer(&who, "Contoso Ltd", &["it@contoso.example".to_owned()])
        .await
        .map_err(fail)?;
    admin
        .add_order(&who, "Contoso Ltd", "PO-4711", &["INV-1001".to_owned()])
        .await
        .map_err(fail)?;
    let tokens = demo_tokens();
    let (first, second) = tokens.split_at(tokens.len().min(10));
    for (number, part) in [("SHP-0001", first), ("SHP-0002", second)] {
        admin
            .add_shipment(&mut rng, &who, "PO-4711", number, Some("2026-11-20"))
            .await
            .map_err(fail)?;
        admin
            .import(&mut rng, &who, "PO-4711", number, "demo tokens", part)
            .await
            .map_err(fail)?;
    }
    let email = "admin@vendor.example";
    let password = add_staff(
        &admin,
        &who,
        dir,
        (email, "Demo Administrator", Role::Administrator),
        "staff-totp.csv",
    )
    .await?;
    let rows: Vec<(&str, &Secret, &str, &str)> = tokens
        .iter()
        .map(|t| {
            (
                t.serial.as_str(),
                &t.secret,
                t.manufacturer.as_deref().unwrap_or_default(),
                t.model.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    write_private(&dir.join("tokens.csv"), &entra_csv(&rows))?;

    let key = Keyring::generate(&mut rng);
    write_key(&dir.join("directory.key"), &key, true)?;
    let db = oathvault_directory::Db::open(&dir.join("directory.db").to_string_lossy())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let directory = oathvault_directory::Directory::new(&db, &key);
    let demo = directory
        .seed_demo(&mut rng, "contoso.example", now())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    directory
        .import_tokens(&mut rng, &demo.tenant_id, &tokens, now())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    db.close().await;
    Ok(Saved {
        staff_email: email.into(),
        staff_password: password.to_string(),
        directory: demo,
        reviewer: None,
        desk: None,
    })
}

/// The demo portal's database, master key and saved sign-ins: made on the
/// first run, reused afterwards (with what later versions add).
async fn portal_data(dir: &Path) -> Result<DemoData, Failure> {
    let saved_file = dir.join("demo.json");
    let master_file = dir.join("master.key");
    let fresh = !saved_file.exists();
    if fresh {
        write_key(
            &master_file,
            &Keyring::generate(&mut oathvault_vault::random::os()),
            true,
        )?;
    }
    let master = Keyring::open_file(&master_file).map_err(|e| anyhow!("{e}"))?;
    let store = Store::open(
        &dir.join("portal.db").to_string_lossy(),
        &master,
        &mut oathvault_vault::random::os(),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    let mut saved = if fresh {
        setup(dir, &store, &master).await?
    } else {
        serde_json::from_slice(&std::fs::read(&saved_file).context("cannot read demo.json")?)
            .context("demo.json is damaged: remove the demo directory and start again")?
    };
    let extra = extras(dir, &store, &master, &mut saved).await?;
    let (desk, desk_new) = desk_data(dir, &master, &mut saved).await?;
    if extra || desk_new || fresh {
        write_private(
            &saved_file,
            &serde_json::to_string_pretty(&saved).context("demo.json")?,
        )?;
    }
    Ok(DemoData {
        store,
        master,
        saved,
        desk,
    })
}

/// What the demo serves from.
struct DemoData {
    store: Store,
    master: Keyring,
    saved: Saved,
    desk: Store,
}

#[allow(clippy::print_stdout, reason = "the demo's instructions")]
async fn run_async(args: &DemoArgs) -> Result<(), Failure> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("oathvault-demo"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot protect {}", dir.display()))?;
    }
    let DemoData {
        store,
        master,
        saved,
        desk,
    } = portal_data(&dir).await?;
    let directory = open_directory(&dir).await?;

    let portal_listener = bind(&args.portal_listen, "--portal-listen").await?;
    let directory_listener = bind(&args.directory_listen, "--directory-listen").await?;
    let desk_listener = bind(&args.desk_listen, "--desk-listen").await?;
    let portal_addr = portal_listener.local_addr().context("no address")?;
    let directory_addr = directory_listener.local_addr().context("no address")?;
    let desk_addr = desk_listener.local_addr().context("no address")?;
    oathvault_directory::check_listen(directory_addr, &oathvault_directory::Settings::default())
        .map_err(|e| Failure::Usage(format!("--directory-listen: {e}")))?;
    let outbox = dir.join("outbox");
    let (sink, mailer) = mail(&outbox, &args.smtp_listen).await?;
    print_guide(
        &dir,
        &saved,
        Addrs {
            portal: portal_addr,
            directory: directory_addr,
            desk: desk_addr,
            smtp: sink.addr(),
        },
    );
    let desk = desk_state(&dir, desk, &saved, directory_addr, desk_addr)?;

    let portal = Arc::new(oathvault_portal::web::AppState {
        store,
        master,
        policy: oathvault_accounts::Policy::default(),
        clock: Box::new(now),
        settings: oathvault_portal::WebSettings {
            issuer: "oathvault demo".into(),
            base_url: Some(format!("http://{portal_addr}")),
            demo_outbox: Some(outbox),
            ..oathvault_portal::WebSettings::default()
        },
    });
    let sender = tokio::spawn(oathvault_portal::web::mail_forever(
        Arc::clone(&portal),
        mailer,
        std::time::Duration::from_secs(1),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut rx1 = stop_rx.clone();
    let mut rx2 = stop_rx.clone();
    let mut rx3 = stop_rx;
    let k = tokio::spawn(oathvault_desk::serve(
        desk_listener,
        desk,
        std::time::Duration::from_secs(30),
        async move {
            let _ = rx3.changed().await;
        },
    ));
    let p = tokio::spawn(oathvault_portal::web::serve(
        portal_listener,
        portal,
        async move {
            let _ = rx1.changed().await;
        },
    ));
    let d = tokio::spawn(oathvault_directory::serve(
        directory_listener,
        directory,
        async move {
            let _ = rx2.changed().await;
        },
    ));
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    let _ = p.await;
    let _ = d.await;
    let _ = k.await;
    sender.abort();
    sink.stop().await;
    Ok(())
}

/// The demo's SMTP sink (its mail filed in `outbox`) and a mailer to it.
async fn mail(
    outbox: &Path,
    listen: &str,
) -> Result<(oathvault_mail::Sink, oathvault_mail::Mailer), Failure> {
    let clock: Arc<dyn oathvault_otp::clock::Clock> = Arc::new(oathvault_otp::clock::SystemClock);
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--smtp-listen {listen}: not an address"))?;
    let sink = oathvault_mail::Sink::start(outbox, addr, Arc::clone(&clock))
        .await
        .map_err(|e| {
            anyhow!("the demo's SMTP sink: {e} (choose another port with --smtp-listen)")
        })?;
    let mailer = oathvault_mail::Mailer::new(
        &oathvault_mail::SmtpConfig {
            host: sink.addr().ip().to_string(),
            port: sink.addr().port(),
            from: "oathvault demo delivery <delivery@vendor.example>".into(),
            ..oathvault_mail::SmtpConfig::default()
        },
        clock,
    )
    .map_err(|e| anyhow!("mail: {e}"))?;
    Ok((sink, mailer))
}

/// The demo directory's state: database, key, signing key.
async fn open_directory(dir: &Path) -> Result<Arc<oathvault_directory::DirState>, Failure> {
    let dir_key = Keyring::open_file(&dir.join("directory.key")).map_err(|e| anyhow!("{e}"))?;
    let db = oathvault_directory::Db::open(&dir.join("directory.db").to_string_lossy())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let signing = oathvault_directory::Directory::new(&db, &dir_key)
        .signing_key(&mut oathvault_vault::random::os(), now())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok(Arc::new(oathvault_directory::DirState {
        db,
        master: dir_key,
        key: signing,
        clock: Box::new(now),
        settings: oathvault_directory::Settings::default(),
    }))
}

/// Listens on `addr` (`flag` names the option that changes it).
async fn bind(addr: &str, flag: &str) -> Result<tokio::net::TcpListener, Failure> {
    Ok(tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (choose another with {flag})"))?)
}

/// The help desk over the demo directory at `directory`.
fn desk_state(
    dir: &Path,
    store: Store,
    saved: &Saved,
    directory: std::net::SocketAddr,
    desk: std::net::SocketAddr,
) -> Result<Arc<oathvault_desk::DeskState>, Failure> {
    // The desk opens its operators' secrets with the demo's key (its own copy).
    let key = Keyring::open_file(&dir.join("master.key")).map_err(|e| anyhow!("{e}"))?;
    Ok(Arc::new(oathvault_desk::DeskState::new(
        store,
        key,
        demo_graph(saved, directory)?,
        Box::new(now),
        oathvault_desk::DeskSettings {
            issuer: "oathvault demo desk".into(),
            base_url: Some(format!("http://{desk}")),
            graph_url: format!("http://{directory}/beta"),
            ..oathvault_desk::DeskSettings::default()
        },
    )))
}

/// Where the demo's parts listen.
#[derive(Debug, Clone, Copy)]
struct Addrs {
    portal: std::net::SocketAddr,
    directory: std::net::SocketAddr,
    desk: std::net::SocketAddr,
    smtp: std::net::SocketAddr,
}

#[allow(clippy::print_stdout, reason = "the demo's instructions")]
fn print_guide(dir: &Path, s: &Saved, a: Addrs) {
    let Addrs {
        portal,
        directory,
        desk,
        smtp,
    } = a;
    let ov =
        std::env::current_exe().map_or_else(|_| "oathvault".into(), |p| p.display().to_string());
    let d = dir.display();
    say!("oathvault demo — data in {d} (delete it to start afresh)");
    say!("");
    say!("Customer: request seed files      http://{portal}/request");
    say!("  order            PO-4711 (or invoice INV-1001, or shipment SHP-0001)");
    say!("  e-mail           it@contoso.example");
    say!("  serials          SHP-0001: DEMO0001–DEMO0010, SHP-0002: DEMO0011–DEMO0020");
    say!("  OpenPGP key      {d}/customer.asc (paste it on the protection page)");
    say!("  open the file    gpg --import {d}/customer.sec (passphrase: {d}/customer.pass),");
    say!(
        "                   gpg -d FILE.zip.pgp > FILE.zip, 7z x FILE.zip (the password you chose)"
    );
    say!(
        "  or               {ov} open FILE.zip.pgp --key {d}/customer.sec --password-file PW -o out/"
    );
    say!("Mail (local SMTP sink on {smtp})  http://{portal}/demo/outbox");
    say!("");
    say!("Delivery team: review and approve http://{portal}/signin");
    if let Some(r) = &s.reviewer {
        say!("  reviewer         {} / {}", r.email, r.password);
        say!("  its code         {ov} otp {d}/reviewer-totp.csv");
    }
    say!(
        "  administrator    {} / {}",
        s.staff_email,
        s.staff_password
    );
    say!("  its code         {ov} otp {d}/staff-totp.csv");
    say!("");
    say!("Entra-compatible directory   http://{directory}/");
    say!("  Security info    http://{directory}/security-info");
    for u in &s.directory.users {
        say!("  user             {} / {}", u.upn, u.password);
    }
    say!("  a token's code   {ov} otp {d}/tokens.csv --serial DEMO0001");
    say!("  tenant id        {}", s.directory.tenant_id);
    say!(
        "  app (all perms)  client id {} secret {}",
        s.directory.client_id,
        s.directory.client_secret
    );
    say!(
        "  token endpoint   http://{directory}/{}/oauth2/v2.0/token",
        s.directory.tenant_id
    );
    say!(
        "  Graph            http://{directory}/beta/directory/authenticationMethodDevices/hardwareOathDevices"
    );
    say!(
        "  oathvault entra  OATHVAULT_CLIENT_SECRET={} {ov} entra --tenant {} --client-id {} \\\n                     --authority http://{directory} --graph-url http://{directory}/beta list",
        s.directory.client_secret,
        s.directory.tenant_id,
        s.directory.client_id
    );
    say!("");
    say!("Help desk (tokens in the directory) http://{desk}/signin");
    if let Some(k) = &s.desk {
        say!(
            "  administrator    {} / {}",
            k.admin_email,
            k.admin_password
        );
        say!("  its code         {ov} otp {d}/desk-totp.csv");
        say!(
            "  viewer           {} / {}",
            k.viewer_email,
            k.viewer_password
        );
        say!("  its code         {ov} otp {d}/desk-viewer-totp.csv");
    }
    say!("");
    say!("Ctrl-C stops everything.");
}
