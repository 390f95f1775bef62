//! `oathvault demo [--dir DIR]`: a demo vendor portal and an
//! Entra-compatible directory on localhost, with deterministic demo data,
//! made once in DIR (default `./oathvault-demo`) and reused afterwards.
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
use oathvault_portal::{Actor, Admin, NewStaff};
use oathvault_store::{Role, Store};
use oathvault_token::{Secret, SecretEncoding, Serial, Step, Token};
use oathvault_vault::MasterKey;
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

async fn setup(dir: &Path, store: &Store, master: &MasterKey) -> Result<Saved, Failure> {
    let mut rng = rand08::rngs::OsRng;
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
    let password = zeroize::Zeroizing::new(format!(
        "demo-{}",
        data_encoding::BASE64URL_NOPAD.encode(&rng.next_u64().to_le_bytes())
    ));
    let email = "admin@vendor.example";
    let (_, uri) = admin
        .add_staff(
            &mut rng,
            &who,
            &NewStaff {
                email,
                name: "Demo Administrator",
                role: Role::Administrator,
                password: &password,
            },
        )
        .await
        .map_err(fail)?;
    let b32 = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap_or_default();
    let staff_secret = SecretEncoding::Base32
        .decode(b32)
        .map_err(|e| anyhow!("staff secret: {e}"))?;
    write_private(
        &dir.join("staff-totp.csv"),
        &entra_csv(&[("staff-admin", &staff_secret, "oathvault", "staff sign-in")]),
    )?;
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

    let key = MasterKey::generate(&mut rng);
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
    })
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
    let saved_file = dir.join("demo.json");
    let master_file = dir.join("master.key");
    let fresh = !saved_file.exists();
    if fresh {
        write_key(
            &master_file,
            &MasterKey::generate(&mut rand08::rngs::OsRng),
            true,
        )?;
    }
    let master = MasterKey::from_file(&zeroize::Zeroizing::new(
        std::fs::read(&master_file)
            .with_context(|| format!("cannot read {}", master_file.display()))?,
    ))
    .map_err(|e| anyhow!("{}: {e}", master_file.display()))?;
    let store = Store::open(&dir.join("portal.db").to_string_lossy())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let saved = if fresh {
        let s = setup(&dir, &store, &master).await?;
        write_private(
            &saved_file,
            &serde_json::to_string_pretty(&s).context("demo.json")?,
        )?;
        s
    } else {
        serde_json::from_slice(&std::fs::read(&saved_file).context("cannot read demo.json")?)
            .context("demo.json is damaged: remove the demo directory and start again")?
    };
    let directory = open_directory(&dir).await?;

    let portal_listener = tokio::net::TcpListener::bind(&args.portal_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (choose another with --portal-listen)",
                args.portal_listen
            )
        })?;
    let directory_listener = tokio::net::TcpListener::bind(&args.directory_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (choose another with --directory-listen)",
                args.directory_listen
            )
        })?;
    let portal_addr = portal_listener.local_addr().context("no address")?;
    let directory_addr = directory_listener.local_addr().context("no address")?;
    print_guide(&dir, &saved, portal_addr, directory_addr);

    let portal = Arc::new(oathvault_portal::web::AppState {
        store,
        master,
        policy: oathvault_portal::Policy::default(),
        clock: Box::new(now),
        settings: oathvault_portal::web::WebSettings::default(),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut rx1 = stop_rx.clone();
    let mut rx2 = stop_rx;
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
    Ok(())
}

/// The demo directory's state: database, key, signing key.
async fn open_directory(dir: &Path) -> Result<Arc<oathvault_directory::DirState>, Failure> {
    let dir_key = MasterKey::from_file(&zeroize::Zeroizing::new(
        std::fs::read(dir.join("directory.key")).context("cannot read directory.key")?,
    ))
    .map_err(|e| anyhow!("directory.key: {e}"))?;
    let db = oathvault_directory::Db::open(&dir.join("directory.db").to_string_lossy())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let signing = oathvault_directory::Directory::new(&db, &dir_key)
        .signing_key(&mut rand08::rngs::OsRng, now())
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

#[allow(clippy::print_stdout, reason = "the demo's instructions")]
fn print_guide(
    dir: &Path,
    s: &Saved,
    portal: std::net::SocketAddr,
    directory: std::net::SocketAddr,
) {
    let ov =
        std::env::current_exe().map_or_else(|_| "oathvault".into(), |p| p.display().to_string());
    let d = dir.display();
    say!("oathvault demo — data in {d} (delete it to start afresh)");
    say!("");
    say!("Vendor portal      http://{portal}/signin");
    say!(
        "  staff sign-in    {} / {}",
        s.staff_email,
        s.staff_password
    );
    say!("  its code         {ov} otp {d}/staff-totp.csv");
    say!("  demo order       PO-4711 (Contoso Ltd, it@contoso.example), invoice INV-1001");
    say!("  shipments        SHP-0001: DEMO0001–DEMO0010, SHP-0002: DEMO0011–DEMO0020");
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
    say!("Ctrl-C stops both.");
}
