//! `oathvault entra …`: the arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::args::InputArgs;

/// `oathvault entra`.
#[derive(Debug, Args)]
pub struct EntraArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: EntraCommand,
}

/// Where and as whom to connect.
#[derive(Debug, Args)]
pub struct Connection {
    /// Tenant id or domain.
    #[arg(long, global = true, env = "OATHVAULT_TENANT", value_name = "TENANT")]
    pub tenant: Option<String>,
    /// The app registration's client (application) id.
    #[arg(long, global = true, env = "OATHVAULT_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// File holding the client secret (or set `OATHVAULT_CLIENT_SECRET`).
    #[arg(long, global = true, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// PEM file with the app's certificate and its private key: signs a
    /// client assertion instead of sending a secret.
    #[arg(long, global = true, value_name = "PEM")]
    pub certificate: Option<PathBuf>,
    /// The identity platform (token endpoint: AUTHORITY/TENANT/oauth2/v2.0/token).
    #[arg(
        long,
        global = true,
        env = "OATHVAULT_AUTHORITY",
        value_name = "URL",
        default_value = oathvault_graph::AUTHORITY
    )]
    pub authority: String,
    /// Microsoft Graph's beta endpoint.
    #[arg(
        long,
        global = true,
        env = "OATHVAULT_GRAPH_URL",
        value_name = "URL",
        default_value = oathvault_graph::GRAPH_URL
    )]
    pub graph_url: String,
    /// Attempts per request before giving up (429/503 wait Retry-After,
    /// other 5xx and timeouts back off exponentially).
    #[arg(long, global = true, value_name = "N", default_value_t = 8)]
    pub attempts: u32,
    /// Seconds before a request times out.
    #[arg(long, global = true, value_name = "S", default_value_t = 100)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum EntraCommand {
    /// Sign in as an administrator with the device code flow; the refresh
    /// token is kept (mode 0600) in the user's config directory for later
    /// commands.
    SignIn,
    /// Forget the kept refresh token.
    SignOut,
    /// Upload a seed file's tokens to the tenant's inventory.
    ///
    /// Every token is checked against Entra's limits first (nothing is
    /// uploaded if any fails); serials already in the tenant are skipped, so
    /// a rerun never duplicates; tokens go up in #$delta chunks, a failing
    /// chunk one by one.
    Push(PushArgs),
    /// List the tenant's hardware OATH tokens (every page).
    List(ListArgs),
    /// Assign a token to a user (or many, from --csv with serial,upn).
    Assign(ActionArgs),
    /// Activate an assigned token with the code it shows (or many, from
    /// --csv with serial,code).
    Activate(ActionArgs),
    /// Assign and activate in one step (or many, from --csv with serial,upn,code).
    AssignActivate(ActionArgs),
    /// Unassign a token from its user (it stays in the inventory).
    Unassign(ActionArgs),
    /// Deactivate a token (it stays assigned).
    Deactivate(ActionArgs),
    /// Delete a token from the inventory (refused while assigned unless --unassign).
    Delete(ActionArgs),
    /// Before a bulk push: check a code read from a real token against the
    /// file (wrong file, hex/Base32 mix-up, SHA-1/SHA-256, 30/60 s).
    Preflight(PreflightArgs),
    /// Compare a seed file with the tenant: missing, extra, duplicates, states.
    Reconcile(ReconcileArgs),
}

#[derive(Debug, Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches, not a state machine"
)]
pub struct PushArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// CSV of serial,upn: create those tokens assigned to those users.
    #[arg(long, value_name = "CSV")]
    pub assign: Option<PathBuf>,
    /// Tokens per #$delta request (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub chunk: usize,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    /// Show what would be created; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue an interrupted push (reads the state file).
    #[arg(long)]
    pub resume: bool,
    /// State file recording each token's result as it happens (default: FILE.push-state.jsonl).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Per-token report: serial, outcome, device id, error code, request id
    /// (.json for JSON, otherwise CSV).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tokens in this state (available, assigned, activated, failedActivation).
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only this serial.
    #[arg(long, value_name = "SERIAL")]
    pub serial: Option<String>,
    /// Only tokens of this user (UPN or object id).
    #[arg(long, value_name = "UPN")]
    pub user: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// The token's serial number.
    #[arg(value_name = "SERIAL", required_unless_present = "csv")]
    pub serial: Option<String>,
    /// The user (UPN or object id), for assign and assign-activate.
    #[arg(value_name = "UPN")]
    pub upn: Option<String>,
    /// The code the token shows now (kept as typed: leading zeros matter).
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
    /// Compute the current code from this seed file instead (this proves
    /// nothing about the physical token).
    #[arg(long, value_name = "FILE")]
    pub from_seed: Option<PathBuf>,
    /// Many at once: a CSV with a header naming serial and, as the action
    /// needs, upn and code.
    #[arg(long, value_name = "CSV", conflicts_with = "serial")]
    pub csv: Option<PathBuf>,
    /// delete: unassign an assigned token first.
    #[arg(long)]
    pub unassign: bool,
}

#[derive(Debug, Args)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Serial of the token in hand.
    #[arg(long, value_name = "SERIAL")]
    pub serial: String,
    /// The code it shows now.
    #[arg(long, value_name = "CODE")]
    pub code: String,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Also list every missing and extra serial (not only counts).
    #[arg(long)]
    pub all: bool,
}
