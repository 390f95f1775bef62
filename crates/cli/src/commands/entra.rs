//! `oathvault entra …`: hardware OATH tokens in Microsoft Entra ID (or the
//! local directory) through Microsoft Graph.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use oathvault_formats::named_csv;
use oathvault_graph::auth::{self, DEFAULT_SCOPE, DELEGATED_SCOPE};
use oathvault_graph::certificate::CertificateCredential;
use oathvault_graph::client::http_client;
use oathvault_graph::{Auth, Credential, Device, Endpoints, Error, Graph, RetryPolicy};
use oathvault_otp::clock::{Clock, SystemClock};
use zeroize::Zeroizing;

use super::now;
use crate::Failure;
use crate::args::InputArgs;
use crate::entra_args::{ActionArgs, Connection, EntraArgs, EntraCommand, ListArgs, ListFormat};
use crate::io::secret_file;

mod push;

pub fn run(args: &EntraArgs) -> Result<(), Failure> {
    super::block_on(run_async(args))
}

async fn run_async(args: &EntraArgs) -> Result<(), Failure> {
    let c = &args.connection;
    match &args.command {
        EntraCommand::SignIn => return sign_in(c).await,
        EntraCommand::SignOut => return sign_out(c),
        EntraCommand::Preflight(a) => return push::preflight(a),
        _ => {}
    }
    let graph = connect(c)?;
    let result = match &args.command {
        EntraCommand::Push(a) => push::push(&graph, a).await,
        EntraCommand::Reconcile(a) => push::reconcile(&graph, a).await,
        EntraCommand::List(a) => list(&graph, a).await,
        EntraCommand::Assign(a) => actions(&graph, Action::Assign, a).await,
        EntraCommand::Activate(a) => actions(&graph, Action::Activate, a).await,
        EntraCommand::AssignActivate(a) => actions(&graph, Action::AssignActivate, a).await,
        EntraCommand::Unassign(a) => actions(&graph, Action::Unassign, a).await,
        EntraCommand::Deactivate(a) => actions(&graph, Action::Deactivate, a).await,
        EntraCommand::Delete(a) => actions(&graph, Action::Delete, a).await,
        EntraCommand::SignIn | EntraCommand::SignOut | EntraCommand::Preflight(_) => Ok(()),
    };
    // A device code sign-in's refresh token is replaced on use: keep the new one.
    if let Some(token) = graph.auth().refresh_token() {
        save_refresh_token(c, &token)?;
    }
    result
}

fn required<'a>(value: Option<&'a String>, flag: &str, env: &str) -> Result<&'a str, Failure> {
    value
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Failure::Usage(format!("give {flag} (or set {env})")))
}

fn endpoints(c: &Connection) -> Result<Endpoints, Failure> {
    Ok(Endpoints {
        authority: c.authority.clone(),
        tenant: required(c.tenant.as_ref(), "--tenant", "OATHVAULT_TENANT")?.to_owned(),
    })
}

/// `$XDG_CONFIG_HOME/oathvault/entra` or `~/.config/oathvault/entra`.
fn config_dir() -> Result<PathBuf, Failure> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| anyhow!("neither XDG_CONFIG_HOME nor HOME is set"))?;
    Ok(base.join("oathvault").join("entra"))
}

fn refresh_token_path(c: &Connection) -> Result<PathBuf, Failure> {
    let e = endpoints(c)?;
    let client = required(c.client_id.as_ref(), "--client-id", "OATHVAULT_CLIENT_ID")?;
    let host = e
        .authority
        .split("://")
        .nth(1)
        .unwrap_or(&e.authority)
        .trim_end_matches('/');
    let name: String = format!("{host}-{}-{client}", e.tenant)
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    Ok(config_dir()?.join(format!("{name}.refresh-token")))
}

fn save_refresh_token(c: &Connection, token: &Zeroizing<String>) -> Result<(), Failure> {
    let path = refresh_token_path(c)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // tempfile makes files 0600; the rename makes the write atomic.
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut temp, token.as_bytes())
        .and_then(|()| temp.as_file().sync_data())
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.persist(&path)
        .map_err(|e| anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

/// The credential the flags and environment give, in this order: a
/// certificate, a client secret (file, then `OATHVAULT_CLIENT_SECRET`), a
/// kept device code sign-in.
fn credential(c: &Connection) -> Result<(Credential, &'static str), Failure> {
    if let Some(p) = &c.certificate {
        let pem = secret_file(p, "certificate")?;
        let cert =
            CertificateCredential::from_pem(&pem).map_err(|e| anyhow!("{}: {e}", p.display()))?;
        return Ok((Credential::Certificate(Arc::new(cert)), DEFAULT_SCOPE));
    }
    if let Some(p) = &c.client_secret_file {
        return Ok((
            Credential::Secret(secret_file(p, "client secret")?),
            DEFAULT_SCOPE,
        ));
    }
    if let Some(s) = std::env::var("OATHVAULT_CLIENT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Ok((Credential::Secret(Zeroizing::new(s)), DEFAULT_SCOPE));
    }
    let path = refresh_token_path(c)?;
    if path.exists() {
        let token = secret_file(&path, "kept sign-in")?;
        return Ok((Credential::RefreshToken(token), DELEGATED_SCOPE));
    }
    Err(Failure::Usage(
        "no credential: give --client-secret-file FILE or OATHVAULT_CLIENT_SECRET, \
         --certificate PEM, or sign in first with `oathvault entra sign-in`"
            .into(),
    ))
}

fn http(c: &Connection) -> Result<reqwest::Client, Failure> {
    http_client(std::time::Duration::from_secs(c.timeout.max(1))).map_err(|e| anyhow!("{e}").into())
}

pub(crate) fn connect(c: &Connection) -> Result<Graph, Failure> {
    let (credential, scope) = credential(c)?;
    let http = http(c)?;
    let client_id = required(c.client_id.as_ref(), "--client-id", "OATHVAULT_CLIENT_ID")?;
    let clock: auth::Clock = Arc::new(now);
    let auth = Auth::new(
        http.clone(),
        endpoints(c)?,
        client_id,
        scope,
        credential,
        clock,
    );
    let retry = RetryPolicy {
        attempts: c.attempts.max(1),
        ..RetryPolicy::default()
    };
    let seed = u64::try_from(uuid::Uuid::new_v4().as_u128() & u128::from(u64::MAX)).unwrap_or(1);
    Ok(Graph::new(http, &c.graph_url, Arc::new(auth), retry, seed))
}

#[allow(
    clippy::print_stderr,
    reason = "the device code prompt is for the operator"
)]
async fn sign_in(c: &Connection) -> Result<(), Failure> {
    let http = http(c)?;
    let e = endpoints(c)?;
    let client_id = required(c.client_id.as_ref(), "--client-id", "OATHVAULT_CLIENT_ID")?;
    let flow = auth::start_device_code(&http, &e, client_id, DELEGATED_SCOPE)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    eprintln!("{}", flow.message);
    let tokens = auth::poll_device_code(&http, &e, client_id, &flow)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let Some(refresh) = tokens.refresh_token else {
        return Err(anyhow!(
            "signed in, but no refresh token came back (offline_access was asked for)"
        )
        .into());
    };
    save_refresh_token(c, &refresh)?;
    say!(
        "signed in; the sign-in is kept in {} (mode 0600)",
        refresh_token_path(c)?.display()
    );
    Ok(())
}

fn sign_out(c: &Connection) -> Result<(), Failure> {
    let path = refresh_token_path(c)?;
    match std::fs::remove_file(&path) {
        Ok(()) => say!("signed out: removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => say!("not signed in"),
        Err(e) => return Err(anyhow!("cannot remove {}: {e}", path.display()).into()),
    }
    Ok(())
}

/// A user's object id: given as an id, or looked up by UPN.
pub async fn user_id(graph: &Graph, upn: &str) -> Result<String, Error> {
    graph.user(upn.trim()).await.map(|u| u.id)
}

async fn list(graph: &Graph, a: &ListArgs) -> Result<(), Failure> {
    let mut filters = Vec::new();
    if let Some(s) = &a.status {
        filters.push(format!("status eq {}", oathvault_graph::ops::literal(s)));
    }
    if let Some(s) = &a.serial {
        filters.push(format!(
            "serialNumber eq {}",
            oathvault_graph::ops::literal(s)
        ));
    }
    if let Some(u) = &a.user {
        let id = user_id(graph, u)
            .await
            .map_err(|e| anyhow!("user {u}: {e}"))?;
        filters.push(format!(
            "assignedTo/id eq {}",
            oathvault_graph::ops::literal(&id)
        ));
    }
    let filter = (!filters.is_empty()).then(|| filters.join(" and "));
    let devices = graph
        .list_devices(filter.as_deref(), |_| {})
        .await
        .map_err(|e| anyhow!("{e}"))?;
    print_devices(&devices, a.format)?;
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

const HEADER: [&str; 9] = [
    "serial",
    "status",
    "user",
    "manufacturer",
    "model",
    "hash",
    "interval",
    "last used",
    "id",
];

fn print_devices(devices: &[Device], format: ListFormat) -> Result<(), Failure> {
    let row = |d: &Device| {
        [
            d.serial_number.clone(),
            d.status().to_owned(),
            d.assigned_to
                .as_ref()
                .and_then(|a| a.display_name.clone().or_else(|| a.id.clone()))
                .unwrap_or_default(),
            d.manufacturer.clone().unwrap_or_default(),
            d.model.clone().unwrap_or_default(),
            d.hash_function.clone().unwrap_or_default(),
            d.time_interval_in_seconds
                .map(|s| s.to_string())
                .unwrap_or_default(),
            d.last_used_date_time.clone().unwrap_or_default(),
            d.id.clone(),
        ]
    };

    match format {
        ListFormat::Json => {
            say!("{}", serde_json::to_string_pretty(devices).context("JSON")?);
        }
        ListFormat::Csv => {
            say!("{}", HEADER.join(",").replace(' ', "_"));
            for d in devices {
                say!(
                    "{}",
                    row(d)
                        .iter()
                        .map(|f| csv_field(f))
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
        }
        ListFormat::Table => {
            let rows: Vec<[String; 9]> = devices.iter().map(row).collect();
            let mut widths = HEADER.map(str::len);
            for r in &rows {
                for (w, f) in widths.iter_mut().zip(r) {
                    *w = (*w).max(f.chars().count());
                }
            }
            let line = |cells: Vec<&str>| {
                cells
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            say!("{}", line(HEADER.to_vec()));
            for r in &rows {
                say!("{}", line(r.iter().map(String::as_str).collect()));
            }
            say!("{} token(s)", rows.len());
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Assign,
    Activate,
    AssignActivate,
    Unassign,
    Deactivate,
    Delete,
}

impl Action {
    fn needs_user(self) -> bool {
        matches!(self, Self::Assign | Self::AssignActivate)
    }
    fn needs_code(self) -> bool {
        matches!(self, Self::Activate | Self::AssignActivate)
    }
    fn done(self) -> &'static str {
        match self {
            Self::Assign => "assigned",
            Self::Activate | Self::AssignActivate => "activated",
            Self::Unassign => "unassigned",
            Self::Deactivate => "deactivated",
            Self::Delete => "deleted",
        }
    }
}

/// One row of work: serial, user, code.
struct Row {
    serial: String,
    upn: Option<String>,
    code: Option<Zeroizing<String>>,
}

/// Opens a CSV with a header naming `serial` and, as needed, `upn` and
/// `code`; its rows are read one by one, errors naming file, line and column.
pub fn csv_rows(path: &Path) -> Result<named_csv::Reader<BufReader<File>>, Failure> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name: Arc<str> = path.display().to_string().into();
    Ok(named_csv::Reader::new(BufReader::new(file), Some(name))?)
}

fn rows(action: Action, a: &ActionArgs) -> Result<Vec<Row>, Failure> {
    if let Some(p) = &a.csv {
        let mut out = Vec::new();
        for r in csv_rows(p)? {
            let r = r?;
            let serial = r
                .get("serial")
                .or_else(|| r.get("serial number"))
                .ok_or_else(|| r.missing("serial"))?
                .to_owned();
            let upn = r.get("upn").or_else(|| r.get("user")).map(str::to_owned);
            if action.needs_user() && upn.is_none() {
                return Err(r.missing("upn").into());
            }
            let code = r.get("code").map(|c| Zeroizing::new(c.to_owned()));
            if action.needs_code() && code.is_none() && a.from_seed.is_none() {
                return Err(r.missing("code").into());
            }
            out.push(Row { serial, upn, code });
        }
        return Ok(out);
    }
    let serial = a
        .serial
        .clone()
        .ok_or_else(|| Failure::Usage("give SERIAL or --csv FILE".into()))?;
    if action.needs_user() && a.upn.is_none() {
        return Err(Failure::Usage("give the user: SERIAL UPN".into()));
    }
    if action.needs_code() && a.code.is_none() && a.from_seed.is_none() {
        return Err(Failure::Usage(
            "give the code the token shows (--code) or a seed file (--from-seed)".into(),
        ));
    }
    Ok(vec![Row {
        serial,
        upn: a.upn.clone(),
        code: a.code.clone().map(Zeroizing::new),
    }])
}

/// The current code of `serial` computed from a seed file.
#[allow(clippy::print_stderr, reason = "a warning for the operator")]
fn code_from_seed(file: &Path, serial: &str) -> Result<Zeroizing<String>, Failure> {
    let input = InputArgs {
        input: file.to_path_buf(),
        from: None,
        psk_file: None,
        passphrase_file: None,
        duo_type: None,
        serial_from: None,
        verify_signature: None,
    };
    let token = super::find_token(&input, Some(serial))?;
    let otp = oathvault_otp::Otp::new(&token).map_err(|e| anyhow!("serial {serial}: {e}"))?;
    let code = otp
        .totp(SystemClock.now_unix())
        .map_err(|e| anyhow!("serial {serial}: {e}"))?;
    eprintln!(
        "warning: serial {serial}: the code comes from the seed file, not from the token; \
         this proves nothing about the physical token"
    );
    Ok(Zeroizing::new(code.to_string()))
}

#[allow(clippy::print_stderr, reason = "one line per failed token")]
async fn actions(graph: &Graph, action: Action, a: &ActionArgs) -> Result<(), Failure> {
    let work = rows(action, a)?;
    let mut failed = 0usize;
    for row in &work {
        match act(graph, action, a, row).await {
            Ok(what) => say!("serial {}: {what}", row.serial),
            Err(e) => {
                failed += 1;
                eprintln!("error: serial {}: {e}", row.serial);
            }
        }
    }
    if work.len() > 1 {
        say!(
            "{} of {} done, {failed} failed",
            work.len() - failed,
            work.len()
        );
    }
    if failed > 0 {
        return Err(Failure::Input(None));
    }
    Ok(())
}

fn message(f: Failure) -> anyhow::Error {
    match f {
        Failure::Input(Some(e)) => e,
        Failure::Input(None) => anyhow!("failed"),
        Failure::Usage(m) => anyhow!(m),
    }
}

async fn act(graph: &Graph, action: Action, a: &ActionArgs, row: &Row) -> anyhow::Result<String> {
    let g = |e: Error| anyhow!("{e}");
    let device = graph
        .device_by_serial(&row.serial)
        .await
        .map_err(g)?
        .ok_or_else(|| anyhow!("not in the tenant's inventory"))?;
    let code = if action.needs_code() {
        Some(match (&row.code, &a.from_seed) {
            (Some(c), _) => c.clone(),
            (None, Some(f)) => code_from_seed(f, &row.serial).map_err(message)?,
            (None, None) => return Err(anyhow!("no code")),
        })
    } else {
        None
    };
    let owner = device.user_id().map(str::to_owned);
    let owner_or = |what: &str| {
        owner
            .clone()
            .ok_or_else(|| anyhow!("not assigned to anyone; {what}"))
    };
    match action {
        Action::Assign | Action::AssignActivate => {
            let upn = row.upn.as_deref().unwrap_or_default();
            let user = user_id(graph, upn)
                .await
                .map_err(|e| anyhow!("user {upn}: {e}"))?;
            if owner.as_deref() != Some(user.as_str()) {
                graph.assign(&user, &device.id).await.map_err(g)?;
            }
            if let Some(code) = &code {
                graph.activate(&user, &device.id, code).await.map_err(g)?;
            }
        }
        Action::Activate => {
            let user = owner_or("assign it first (or use assign-activate)")?;
            let code = code.unwrap_or_default();
            graph.activate(&user, &device.id, &code).await.map_err(g)?;
        }
        Action::Unassign => {
            let user = owner_or("nothing to unassign")?;
            graph.unassign(&user, &device.id).await.map_err(g)?;
        }
        Action::Deactivate => {
            let user = owner_or("nothing to deactivate")?;
            graph.deactivate(&user, &device.id).await.map_err(g)?;
        }
        Action::Delete => {
            if let Some(user) = &owner {
                if !a.unassign {
                    return Err(anyhow!(
                        "assigned to {}; unassign it first, or pass --unassign",
                        device
                            .assigned_to
                            .as_ref()
                            .and_then(|u| u.display_name.clone())
                            .unwrap_or_else(|| user.clone())
                    ));
                }
                graph.unassign(user, &device.id).await.map_err(g)?;
            }
            graph.delete_device(&device.id).await.map_err(g)?;
        }
    }
    Ok(action.done().to_owned())
}
