//! `oathvault portal …`: the portal's administration from the command line.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use oathvault_otp::clock::{Clock, SystemClock};
use oathvault_portal::{Actor, Admin, NewStaff};
use oathvault_store::{Role, Store};
use oathvault_token::Token;
use oathvault_vault::MasterKey;

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
}

fn data_dir(args: &PortalArgs) -> PathBuf {
    if let Some(d) = &args.data_dir {
        return d.clone();
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("oathvault");
    }
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".local/share/oathvault")
}

impl Setup {
    fn new(args: &PortalArgs) -> Self {
        let data_dir = data_dir(args);
        let database = args
            .database
            .clone()
            .unwrap_or_else(|| data_dir.join("portal.db").to_string_lossy().into_owned());
        let master_key_file = args
            .master_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("master.key"));
        Self {
            data_dir,
            database,
            master_key_file,
        }
    }

    fn master_key(&self) -> Result<MasterKey, Failure> {
        let bytes = std::fs::read(&self.master_key_file).with_context(|| {
            format!(
                "cannot read the master key {} (run `oathvault portal init` first, or set OATHVAULT_MASTER_KEY_FILE)",
                self.master_key_file.display()
            )
        })?;
        let bytes = zeroize::Zeroizing::new(bytes);
        MasterKey::from_file(&bytes)
            .map_err(|e| anyhow!("{}: {e}", self.master_key_file.display()).into())
    }
}

fn actor() -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Actor {
        name: format!("cli:{user}"),
        source: "cli".into(),
        now: i64::try_from(SystemClock.now_unix()).unwrap_or(i64::MAX),
    }
}

/// Writes a new key file (0600) without replacing an existing one.
fn write_key(path: &Path, key: &MasterKey, force: bool) -> Result<(), Failure> {
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn open(setup: &Setup) -> Result<Store, Failure> {
    Store::open(&setup.database)
        .await
        .map_err(|e| anyhow!("{}: {e}", setup.database).into())
}

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn run_async(args: &PortalArgs) -> Result<(), Failure> {
    let setup = Setup::new(args);
    if let PortalCommand::Init = args.command {
        return init(&setup).await;
    }
    let store = open(&setup).await?;
    let master = setup.master_key()?;
    if let PortalCommand::Serve { listen } = &args.command {
        return serve(store, master, listen).await;
    }
    let admin = Admin::new(&store, &master, "oathvault portal");
    let who = actor();
    let mut rng = rand08::thread_rng();
    let fail = |e: oathvault_portal::Error| Failure::from(anyhow!("{e}"));
    match &args.command {
        PortalCommand::Init | PortalCommand::Serve { .. } => {}
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
            if let Some(d) = date {
                check_date(d)?;
            }
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
        PortalCommand::RotateKey => rotate(&setup, &admin, &who).await?,
        PortalCommand::Customer(CustomerCommand::List)
        | PortalCommand::Order(OrderCommand::List)
        | PortalCommand::Shipment(ShipmentCommand::List)
        | PortalCommand::Staff(StaffCommand::List) => list(&store, &args.command).await?,
        PortalCommand::Audit(AuditCommand::Verify) => {
            let check = store.audit_verify().await.map_err(|e| anyhow!("{e}"))?;
            say!(
                "audit log intact: {} events, head {}",
                check.events,
                check.head
            );
        }
        PortalCommand::Audit(AuditCommand::List { filter, limit }) => {
            for e in store
                .audit_events(filter.as_deref(), *limit)
                .await
                .map_err(|e| anyhow!("{e}"))?
            {
                say!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    e.seq,
                    oathvault_packaging::rfc3339(e.event.at),
                    e.event.actor,
                    e.event.action,
                    e.event.subject,
                    e.event.outcome,
                    e.event.detail
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

/// The `list` subcommands.
#[allow(clippy::print_stdout, reason = "the command's report")]
async fn list(store: &Store, command: &PortalCommand) -> Result<(), Failure> {
    match command {
        PortalCommand::Customer(CustomerCommand::List) => {
            for c in store.customers().await.map_err(|e| anyhow!("{e}"))? {
                say!("{}\t{} order(s)\t{}", c.name, c.orders, c.emails.join(", "));
            }
        }
        PortalCommand::Order(OrderCommand::List) => {
            for o in store.orders().await.map_err(|e| anyhow!("{e}"))? {
                say!(
                    "{}\t{}\t{} shipment(s)\tinvoices: {}",
                    o.po,
                    o.customer,
                    o.shipments,
                    o.invoices.join(", ")
                );
            }
        }
        PortalCommand::Shipment(ShipmentCommand::List) => {
            for s in store.shipments().await.map_err(|e| anyhow!("{e}"))? {
                say!(
                    "{}\torder {}\t{}\t{} token(s)\t{}",
                    s.number,
                    s.po,
                    s.shipped_on.as_deref().unwrap_or("-"),
                    s.tokens,
                    s.models.join(", ")
                );
            }
        }
        PortalCommand::Staff(StaffCommand::List) => {
            for s in store.staff().await.map_err(|e| anyhow!("{e}"))? {
                say!("{}\t{}\t{}", s.email, s.role.as_str(), s.name);
            }
        }
        _ => {}
    }
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
            &mut rand08::thread_rng(),
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
    say!("{}", uri.as_str());
    Ok(())
}

async fn serve(store: Store, master: MasterKey, listen: &str) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().context("no local address")?;
    say!("oathvault portal on http://{addr}/ (sign in at /signin; /healthz for probes)");
    let state = std::sync::Arc::new(oathvault_portal::web::AppState {
        store,
        master,
        policy: oathvault_portal::Policy::default(),
        clock: Box::new(|| i64::try_from(SystemClock.now_unix()).unwrap_or(i64::MAX)),
    });
    oathvault_portal::web::serve(listener, state)
        .await
        .context("the portal stopped")?;
    Ok(())
}

fn check_date(d: &str) -> Result<(), Failure> {
    let ok = d.len() == 10
        && d.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if ok {
        Ok(())
    } else {
        Err(Failure::Usage(format!("--date {d}: use YYYY-MM-DD")))
    }
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
        let key = MasterKey::generate(&mut rand08::thread_rng());
        write_key(&setup.master_key_file, &key, false)?;
        say!(
            "created the master key {} (mode 0600, id {}) — back it up apart from the database: without it no seed can be read",
            setup.master_key_file.display(),
            key.id()
        );
    }
    let store = open(setup).await?;
    say!("database {} ready ({:?})", setup.database, store.backend());
    store.close().await;
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn import(admin: &Admin<'_>, who: &Actor, a: &ImportArgs) -> Result<(), Failure> {
    let input = Input::open(&a.input, true)?;
    let name = input.name.clone();
    let format = input.format;
    let notes = input.options.notes.clone();
    // Every token is read before anything is stored: a bad row anywhere
    // refuses the whole file.
    let mut tokens: Vec<Token> = Vec::new();
    let mut problems = Vec::new();
    for t in input.tokens() {
        match t {
            Ok(t) => tokens.push(t),
            Err(e) => problems.push(e.to_string()),
        }
    }
    for n in notes.take() {
        note(&n);
    }
    if !problems.is_empty() {
        let why = format!(
            "{} problem(s) reading it, the first: {}",
            problems.len(),
            problems.first().map_or("", String::as_str)
        );
        admin
            .import_refused(who, &a.po, &a.shipment, &name, &why)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let shown = problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ");
        return Err(anyhow!(
            "{name}: {} problem(s); nothing was imported:\n  {shown}",
            problems.len()
        )
        .into());
    }
    let outcome = admin
        .import(
            &mut rand08::thread_rng(),
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

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn rotate(setup: &Setup, admin: &Admin<'_>, who: &Actor) -> Result<(), Failure> {
    let mut rng = rand08::thread_rng();
    let new = MasterKey::generate(&mut rng);
    // The new key is on disk before the database depends on it.
    let staged = setup.master_key_file.with_extension("key.new");
    write_key(&staged, &new, true)?;
    let n = admin
        .rotate(&mut rng, who, &new)
        .await
        .map_err(|e| anyhow!("{e}; the master key was not changed"))?;
    std::fs::rename(&staged, &setup.master_key_file).with_context(|| {
        format!(
            "the data keys are re-wrapped under the key in {}, but it could not replace {}: move it there by hand",
            staged.display(),
            setup.master_key_file.display()
        )
    })?;
    say!(
        "re-wrapped {n} data key(s) under the new master key (id {}) in {}",
        new.id(),
        setup.master_key_file.display()
    );
    Ok(())
}
