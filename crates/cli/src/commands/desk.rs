//! `oathvault desk …`: the help-desk console's set-up, operators and server.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use oathvault_desk::Actor;
use oathvault_desk::{DeskRole, DeskSettings, DeskState, NewOperator};
use oathvault_store::Store;
use oathvault_vault::Keyring;

use super::now;
use super::portal::{default_data_dir, shutdown_signal, write_key};
use crate::Failure;
use crate::args::{DeskArgs, DeskCommand};
use crate::io::secret_file;

const ISSUER: &str = "oathvault desk";

struct Paths {
    data_dir: PathBuf,
    database: String,
    key: PathBuf,
}

fn paths(a: &DeskArgs) -> Paths {
    let data_dir = a.data_dir.clone().unwrap_or_else(default_data_dir);
    Paths {
        database: a
            .database
            .clone()
            .unwrap_or_else(|| data_dir.join("desk.db").to_string_lossy().into_owned()),
        key: a
            .master_key_file
            .clone()
            .or_else(|| super::portal::credential("desk.key"))
            .unwrap_or_else(|| data_dir.join("desk.key")),
        data_dir,
    }
}

fn master_key(p: &Paths) -> Result<Keyring, Failure> {
    if !p.key.exists() {
        return Err(anyhow!(
            "there is no desk master key at {} (run `oathvault desk init` first)",
            p.key.display()
        )
        .into());
    }
    Keyring::open_file(&p.key).map_err(|e| anyhow!("{e}").into())
}

async fn open(p: &Paths) -> Result<Store, Failure> {
    let keys = master_key(p)?;
    Store::open(&p.database, &keys, &mut oathvault_vault::random::os())
        .await
        .map_err(|e| anyhow!("{}: {e}", p.database).into())
}

pub fn run(args: &DeskArgs) -> Result<(), Failure> {
    super::block_on(run_async(args))
}

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn run_async(a: &DeskArgs) -> Result<(), Failure> {
    let p = paths(a);
    match &a.command {
        DeskCommand::Init => init(&p).await,
        DeskCommand::AddOperator {
            email,
            name,
            role,
            password_file,
        } => {
            let store = open(&p).await?;
            let master = master_key(&p)?;
            let password = secret_file(password_file, "password")?;
            let role = DeskRole::parse(role)
                .ok_or_else(|| Failure::Usage(format!("unknown role {role}")))?;
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let who = Actor {
                name: format!("cli:{user}"),
                source: "cli".into(),
                now: now(),
            };
            let uri = oathvault_desk::add_operator(
                &mut oathvault_vault::random::os(),
                &store,
                &master,
                ISSUER,
                &who,
                &NewOperator {
                    email,
                    name,
                    role,
                    password: &password,
                },
            )
            .await
            .map_err(|e| match e {
                oathvault_accounts::AccountError::Invalid(why) => Failure::Usage(why),
                weak @ oathvault_accounts::AccountError::WeakPassword => {
                    Failure::Usage(weak.to_string())
                }
                other => Failure::from(anyhow!("{other}")),
            })?;
            say!("added {} {email}", role.as_str());
            say!("enrol the second factor in an authenticator app (shown once; keep it private):");
            if let Some(qr) = oathvault_accounts::totp::qr_text(&uri) {
                say!("{}", qr.as_str());
            }
            say!("{}", uri.as_str());
            Ok(())
        }
        DeskCommand::Backup { .. }
        | DeskCommand::Restore { .. }
        | DeskCommand::Verify
        | DeskCommand::RotateKey
        | DeskCommand::Key(_) => custody(&a.command, &p).await,
        DeskCommand::Operators(f) => {
            let store = open(&p).await?;
            super::listing::operators(&store, f.json).await
        }
        DeskCommand::Serve {
            listen,
            base_url,
            sync_every,
            two_person,
            two_person_bulk,
            two_person_above,
            entra_signin,
            trusted_proxies,
            metrics_token_file,
        } => {
            let entra = entra_signin
                .as_deref()
                .map(oathvault_desk::entra::EntraSignin::load)
                .transpose()
                .map_err(|e| Failure::Usage(e.to_string()))?
                .map(std::sync::Arc::new);
            let settings = DeskSettings {
                base_url: base_url.clone(),
                graph_url: a.connection.graph_url.clone(),
                two_person: oathvault_desk::TwoPerson {
                    delete: *two_person,
                    bulk: *two_person_bulk,
                    above: *two_person_above,
                },
                trusted_proxies: oathvault_desk::TrustedProxies::parse(trusted_proxies)
                    .map_err(|e| Failure::Usage(format!("--trusted-proxies: {e}")))?,
                metrics_token: metrics_token_file
                    .as_deref()
                    .map(oathvault_web::MetricsToken::read)
                    .transpose()
                    .map_err(|e| Failure::Usage(e.to_string()))?,
                entra,
                ..DeskSettings::default()
            };
            serve(a, &p, listen, settings, *sync_every).await
        }
    }
}

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn serve(
    a: &DeskArgs,
    p: &Paths,
    listen: &str,
    settings: DeskSettings,
    sync_every: u64,
) -> Result<(), Failure> {
    super::portal::init_logs(&oathvault_portal::Config::default());
    let store = open(p).await?;
    let master = master_key(p)?;
    let graph = super::entra::connect(&a.connection)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().context("no local address")?;
    say!(
        "oathvault desk on http://{addr}/ (Graph: {}; sign in at /signin)",
        a.connection.graph_url
    );
    let state = Arc::new(DeskState::new(
        store,
        master,
        graph,
        Box::new(now),
        settings,
    ));
    oathvault_desk::serve(
        listener,
        state,
        std::time::Duration::from_secs(sync_every.max(10)),
        shutdown_signal(),
    )
    .await
    .context("the desk stopped")?;
    Ok(())
}

/// The desk's keyring and database care: backup, restore, verify, rotation.
async fn custody(command: &DeskCommand, p: &Paths) -> Result<(), Failure> {
    match command {
        DeskCommand::Restore { file } => super::backup::restore(file, &p.database),
        DeskCommand::Backup { output } => super::backup::backup(&open(p).await?, output).await,
        DeskCommand::Verify => super::backup::verify(&open(p).await?, &master_key(p)?).await,
        DeskCommand::RotateKey => {
            super::custody::rotate(&p.key, &open(p).await?, &super::portal::actor()).await
        }
        DeskCommand::Key(crate::args::KeyCommand::Status) => {
            super::custody::status(&p.key, &open(p).await?).await
        }
        _ => Ok(()),
    }
}

/// `desk init`: the data directory, the key (0600) and the database.
#[allow(clippy::print_stdout, reason = "the command's report")]
async fn init(p: &Paths) -> Result<(), Failure> {
    std::fs::create_dir_all(&p.data_dir)
        .with_context(|| format!("cannot create {}", p.data_dir.display()))?;
    if p.key.exists() {
        say!("{} exists; kept", p.key.display());
    } else {
        write_key(
            &p.key,
            &Keyring::generate(&mut oathvault_vault::random::os()),
            false,
        )?;
        say!("made the desk's master key {} (mode 0600)", p.key.display());
    }
    open(p).await?.close().await;
    say!("database {} ready", p.database);
    Ok(())
}
