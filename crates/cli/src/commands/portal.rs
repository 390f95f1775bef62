//! `oathvault portal …`: the portal's administration from the command line.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use oathvault_otp::clock::{Clock, SystemClock};
use oathvault_portal::{Actor, Admin, Config, LogFormat, NewStaff};
use oathvault_store::{Role, Store};
use oathvault_vault::Keyring;

use crate::Failure;
use crate::args::{
    AuditCommand, CustomerCommand, ImportArgs, OrderCommand, PortalArgs, PortalCommand,
    ShipmentCommand, StaffCommand,
};
use crate::io::{Input, Output, secret_file};

/// Where the portal keeps its files and which database it uses.
struct Setup {
    data_dir: PathBuf,
    database: String,
    master_key_file: PathBuf,
    config: Config,
}

pub(crate) fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("oathvault");
    }
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".local/share/oathvault")
}

/// `$CREDENTIALS_DIRECTORY/NAME` when systemd passed the service that
/// credential (`LoadCredential=NAME:…`): the default place of a key file
/// before the data directory.
pub(crate) fn credential(name: &str) -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(name))
        .filter(|f| f.is_file())
}

/// The flags that override configuration keys (only those given).
#[derive(serde::Serialize)]
struct Flags<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    master_key_file: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<LogFlags<'a>>,
}

#[derive(serde::Serialize)]
struct LogFlags<'a> {
    format: &'a str,
}

impl Setup {
    /// Reads the configuration layers and resolves the paths.
    fn load(args: &PortalArgs) -> Result<Self, Failure> {
        let serve = match &args.command {
            PortalCommand::Serve(s) => Some(s),
            _ => None,
        };
        let flags = Flags {
            data_dir: args.data_dir.as_deref(),
            database: args.database.as_deref(),
            master_key_file: args.master_key_file.as_deref(),
            listen: serve.and_then(|s| s.listen.as_deref()),
            base_url: serve.and_then(|s| s.base_url.as_deref()),
            log: serve
                .and_then(|s| s.log_format.as_deref())
                .map(|format| LogFlags { format }),
        };
        let file = args.config.clone().or_else(|| {
            let d = args.data_dir.clone().unwrap_or_else(default_data_dir);
            Some(d.join("portal.toml")).filter(|f| f.is_file())
        });
        let config =
            Config::load(file.as_deref(), &flags).map_err(|e| Failure::Usage(e.to_string()))?;
        let data_dir = config.data_dir.clone().unwrap_or_else(default_data_dir);
        let database = config
            .database
            .clone()
            .unwrap_or_else(|| data_dir.join("portal.db").to_string_lossy().into_owned());
        let master_key_file = config
            .master_key_file
            .clone()
            .or_else(|| credential("master.key"))
            .unwrap_or_else(|| data_dir.join("master.key"));
        Ok(Self {
            data_dir,
            database,
            master_key_file,
            config,
        })
    }

    fn master_key(&self) -> Result<Keyring, Failure> {
        if !self.master_key_file.exists() {
            return Err(anyhow!(
                "there is no master key at {} (run `oathvault portal init` first, or set OATHVAULT_MASTER_KEY_FILE)",
                self.master_key_file.display()
            )
            .into());
        }
        Keyring::open_file(&self.master_key_file).map_err(|e| anyhow!("{e}").into())
    }
}

/// The person running the command, for the audit.
pub(crate) fn actor() -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Actor {
        name: format!("cli:{user}"),
        source: "cli".into(),
        now: i64::try_from(SystemClock.now_unix()).unwrap_or(i64::MAX),
    }
}

/// Writes a new key file (0600) without replacing an existing one.
pub(crate) fn write_key(path: &Path, key: &Keyring, force: bool) -> Result<(), Failure> {
    let mut out = Output::create(Some(path), force)?;
    {
        let mut w = out.writer();
        w.write_all(key.to_file().as_bytes())
            .and_then(|()| w.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    out.commit()
}

pub fn run(args: &PortalArgs) -> Result<(), Failure> {
    super::block_on(run_async(args))
}

async fn open(setup: &Setup) -> Result<Store, Failure> {
    let keys = setup.master_key()?;
    Store::open(&setup.database, &keys, &mut oathvault_vault::random::os())
        .await
        .map_err(|e| anyhow!("{}: {e}", setup.database).into())
}

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn run_async(args: &PortalArgs) -> Result<(), Failure> {
    let mut setup = Setup::load(args)?;
    match args.command {
        PortalCommand::Init => return init(&setup).await,
        PortalCommand::Restore { ref file } => {
            return super::backup::restore(file, &setup.database);
        }
        PortalCommand::Config => return show_config(&setup),
        _ => {}
    }
    let store = open(&setup).await?;
    let master = setup.master_key()?;
    if let PortalCommand::Serve(_) = &args.command {
        let data_dir = setup.data_dir.clone();
        return serve(store, master, std::mem::take(&mut setup.config), &data_dir).await;
    }
    let admin = Admin::new(&store, &master, &setup.config.issuer);
    let who = actor();
    let mut rng = oathvault_vault::random::os();
    let fail = |e: oathvault_portal::Error| match e {
        oathvault_portal::Error::Invalid(why) => Failure::Usage(why),
        other => Failure::from(anyhow!("{other}")),
    };
    match &args.command {
        PortalCommand::Init
        | PortalCommand::Config
        | PortalCommand::Serve(_)
        | PortalCommand::Restore { .. } => {}
        PortalCommand::Customer(CustomerCommand::Add { name, emails }) => {
            admin.add_customer(&who, name, emails).await.map_err(fail)?;
            say!("added customer {name} ({} contact(s))", emails.len());
        }
        PortalCommand::Order(OrderCommand::Add {
            customer,
            po,
            invoices,
        }) => {
            admin
                .add_order(&who, customer, po, invoices)
                .await
                .map_err(fail)?;
            say!("added order {po} for {customer}");
        }
        PortalCommand::Shipment(ShipmentCommand::Add { po, number, date }) => {
            admin
                .add_shipment(&mut rng, &who, po, number, date.as_deref())
                .await
                .map_err(fail)?;
            say!("added shipment {number} to order {po}");
        }
        PortalCommand::Import(a) => import(&admin, &who, a).await?,
        PortalCommand::Staff(StaffCommand::Add {
            email,
            name,
            role,
            password_file,
        }) => staff_add(&admin, &who, email, name, role, password_file).await?,
        PortalCommand::Customer(CustomerCommand::List(_))
        | PortalCommand::Order(OrderCommand::List(_))
        | PortalCommand::Shipment(ShipmentCommand::List(_))
        | PortalCommand::Staff(StaffCommand::List(_)) => {
            super::listing::portal(&store, &args.command).await?;
        }
        PortalCommand::ApiKey(_) | PortalCommand::Webhook(_) => {
            super::api_keys::run(&args.command, &store, &master, &who, &setup.config).await?;
        }
        PortalCommand::Backup { output } => super::backup::backup(&store, output).await?,
        PortalCommand::Verify => super::backup::verify(&store, &master).await?,
        PortalCommand::RotateKey
        | PortalCommand::Key(_)
        | PortalCommand::Shred { .. }
        | PortalCommand::SigningKey(_)
        | PortalCommand::Audit(AuditCommand::Verify { .. } | AuditCommand::Checkpoint { .. }) => {
            super::custody::run(
                &args.command,
                &store,
                &master,
                &setup.master_key_file,
                &setup.config,
                &who,
            )
            .await?;
        }
        PortalCommand::Audit(AuditCommand::List {
            filter,
            limit,
            json,
        }) => super::listing::audit(&store, filter.as_deref(), *limit, *json).await?,
    }
    store.close().await;
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn staff_add(
    admin: &Admin<'_>,
    who: &Actor,
    email: &str,
    name: &str,
    role: &str,
    password_file: &Path,
) -> Result<(), Failure> {
    let password = secret_file(password_file, "password")?;
    let role = Role::parse(role).ok_or_else(|| Failure::Usage(format!("unknown role {role}")))?;
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
    say!("added {} {email}", role.as_str());
    say!("enrol the second factor in an authenticator app (shown once; keep it private):");
    if let Some(qr) = oathvault_accounts::totp::qr_text(&uri) {
        say!("{}", qr.as_str());
    }
    say!("{}", uri.as_str());
    Ok(())
}

/// Logs to standard error, as text or JSON; `RUST_LOG` wins over the configured level.
pub(crate) fn init_logs(config: &Config) {
    // RUST_LOG wins; every level keeps link tokens out (web kit's caps).
    let level = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log.level.clone());
    let filter = oathvault_web::harden::log_filter(&level)
        .or_else(|| oathvault_web::harden::log_filter("info"))
        .unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing open requests");
}

async fn serve(
    store: Store,
    master: Keyring,
    config: Config,
    data_dir: &Path,
) -> Result<(), Failure> {
    init_logs(&config);
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    say!("oathvault portal on http://{addr}/ (sign in at /signin; /healthz for probes)");
    tracing::info!(%addr, backend = ?store.backend(), key = %master.id(), "portal started");
    let smtp = config.smtp.mailer_config().map_err(|e| anyhow!("{e}"))?;
    let mailer = oathvault_mail::Mailer::new(&smtp, std::sync::Arc::new(SystemClock))
        .map_err(|e| anyhow!("mail: {e}"))?;
    tracing::info!(server = mailer.server(), "mail goes through SMTP");
    let mut settings = config.web();
    if let Some(file) = &config.metrics_token_file {
        settings.metrics_token =
            Some(oathvault_web::MetricsToken::read(file).map_err(|e| anyhow!("{e}"))?);
    }
    settings.import_signature = config.import.rule().map_err(|e| anyhow!("{e}"))?;
    let state = std::sync::Arc::new(oathvault_portal::web::AppState {
        store,
        master,
        policy: config.policy(),
        clock: Box::new(|| i64::try_from(SystemClock.now_unix()).unwrap_or(i64::MAX)),
        settings,
    });
    let sender = tokio::spawn(oathvault_portal::web::mail_forever(
        std::sync::Arc::clone(&state),
        mailer,
        std::time::Duration::from_secs(5),
    ));
    let checkpoints = tokio::spawn(super::custody::checkpoint_daily(
        std::sync::Arc::clone(&state),
        data_dir.join("audit-checkpoints"),
    ));
    let served = oathvault_portal::web::serve(listener, state, shutdown_signal()).await;
    sender.abort();
    checkpoints.abort();
    served.context("the portal stopped")?;
    Ok(())
}

/// `portal config`: the effective configuration.
#[allow(clippy::print_stdout, reason = "the command's report")]
fn show_config(setup: &Setup) -> Result<(), Failure> {
    let mut effective = setup.config.clone();
    effective.data_dir = Some(setup.data_dir.clone());
    effective.database = Some(setup.database.clone());
    effective.master_key_file = Some(setup.master_key_file.clone());
    say!(
        "{}",
        effective.to_toml().map_err(|e| anyhow!("{e}"))?.trim_end()
    );
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn init(setup: &Setup) -> Result<(), Failure> {
    if !setup.data_dir.exists() {
        std::fs::create_dir_all(&setup.data_dir)
            .with_context(|| format!("cannot create {}", setup.data_dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&setup.data_dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot protect {}", setup.data_dir.display()))?;
        }
    }
    if setup.master_key_file.exists() {
        let key = setup.master_key()?;
        say!(
            "master key {} (id {})",
            setup.master_key_file.display(),
            key.id()
        );
    } else {
        let key = Keyring::generate(&mut oathvault_vault::random::os());
        write_key(&setup.master_key_file, &key, false)?;
        say!(
            "created the master key {} (mode 0600, id {}) — back it up apart from the database: without it no seed can be read",
            setup.master_key_file.display(),
            key.id()
        );
    }
    let store = open(setup).await?;
    say!("database {} ready ({:?})", setup.database, store.backend());
    let keys = setup.master_key()?;
    let who = actor();
    let vendor = oathvault_portal::signing::VendorKey::load_or_generate(
        &store,
        &keys,
        &mut oathvault_vault::random::os(),
        &setup.config.requests.vendor,
        (who.now, &who.name, &who.source),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    say!(
        "the vendor signing key (signs deliveries and receipts): fingerprint {}",
        vendor.fingerprint()
    );
    store.close().await;
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn import(admin: &Admin<'_>, who: &Actor, a: &ImportArgs) -> Result<(), Failure> {
    // A progress bar for a large file, only when someone watches stderr.
    let input = Input::open(
        &a.input,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    )?;
    let name = input.name.clone();
    let format = input.format;
    let options = input.options.clone();
    // Every token is read before anything is stored: a bad row anywhere
    // refuses the whole file.
    let read = oathvault_formats::read_all(
        format,
        std::io::BufReader::new(input.into_reader()),
        &name,
        &options,
    );
    for n in &read.notes {
        note(n);
    }
    if !read.problems.is_empty() {
        admin
            .import_refused(who, &a.po, &a.shipment, &name, &read.summary())
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let shown = read
            .problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ");
        return Err(anyhow!(
            "{name}: {} problem(s); nothing was imported:\n  {shown}",
            read.problems.len()
        )
        .into());
    }
    let tokens = read.tokens;
    let outcome = admin
        .import(
            &mut oathvault_vault::random::os(),
            who,
            &a.po,
            &a.shipment,
            &name,
            &tokens,
        )
        .await
        .map_err(|e| anyhow!("{name}: {e}; nothing was imported"))?;
    say!(
        "imported {} tokens ({} TOTP, {} HOTP) from {name} ({}) into shipment {} of order {}",
        outcome.imported,
        outcome.totp,
        outcome.hotp,
        format.name(),
        a.shipment,
        a.po
    );
    Ok(())
}

#[allow(clippy::print_stderr, reason = "notes go to stderr")]
fn note(msg: &str) {
    eprintln!("note: {msg}");
}
