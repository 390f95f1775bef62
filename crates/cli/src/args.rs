//! Command-line arguments.

use std::path::PathBuf;
use std::sync::LazyLock;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use oathvault_formats::Format;
use oathvault_token::SecretEncoding;

#[allow(
    clippy::wildcard_imports,
    reason = "the servers' arguments, kept in their own file"
)]
pub use crate::server_args::*;

/// Move hardware OATH token seeds safely: open, verify, inspect and convert seed files.
#[derive(Debug, Parser)]
#[command(
    name = "oathvault",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert a seed file to another format (e.g. Entra CSV → Entra JSON).
    ///
    /// Every token is checked against the target's limits first; if any token
    /// does not fit, nothing is written and each offending serial is named.
    /// OUT is written to a temporary file and renamed only on success.
    Convert(ConvertArgs),
    /// Summarise a seed file: counts, types, hashes, digits, steps, duplicate
    /// serials, weak secrets, and which targets can take it.
    Inspect(InspectArgs),
    /// Print the code(s) a token shows, one per line.
    Otp(OtpArgs),
    /// Check a code against a token, allowing for drift; exit 1 if rejected.
    Check(CheckArgs),
    /// List the formats this version reads and writes.
    Formats(JsonFlag),
    /// Open a delivery: peel its OpenPGP and ZIP layers, check the signed
    /// manifest, and write the seed files (mode 0600) into a directory.
    ///
    /// Nothing is written unless every layer opened and every check passed.
    Open(OpenArgs),
    /// Make a delivery from seed files: a ZIP (AES-256 with a password)
    /// holding the files and a MANIFEST, optionally signed, optionally
    /// encrypted to a customer's OpenPGP key.
    Pack(PackArgs),
    /// Check an OpenPGP public key before using it for a delivery: show its
    /// fingerprint and user IDs, and explain why it cannot be used if so.
    Key(KeyArgs),
    /// Make an OpenPGP key pair (Ed25519 signing, Curve25519 encryption):
    /// OUT.asc (public, to hand out) and OUT.sec (secret, mode 0600).
    Keygen(KeygenArgs),
    /// The vendor portal: set up, administer the inventory, import seed
    /// files, manage staff, rotate the master key, check the audit log.
    Portal(PortalArgs),
    /// The Entra-compatible directory: Graph hardware OATH endpoints and
    /// OAuth on one machine, for testing and dry runs.
    Directory(DirectoryArgs),
    /// Hardware OATH tokens in Microsoft Entra ID through Microsoft Graph
    /// (or in the local directory): push a seed file, list, assign,
    /// activate, unassign, deactivate, delete, preflight, reconcile.
    Entra(crate::entra_args::EntraArgs),
    /// The help-desk console for hardware tokens in Entra ID (or the local
    /// directory): operators, serve.
    Desk(DeskArgs),
    /// Run the demo: the vendor portal and the Entra-compatible directory on
    /// localhost with demo data (made once in DIR, reused afterwards).
    Demo(DemoArgs),
    /// Print a shell completion script, e.g.
    /// `oathvault completions bash > /etc/bash_completion.d/oathvault`.
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (one per command) into DIR, e.g.
    /// `oathvault man --out /usr/local/share/man/man1`.
    Man {
        /// Where to write them (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// `oathvault keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The user ID, e.g. "Example Tokens Delivery <delivery@example.com>".
    pub user_id: String,
    /// Output prefix: writes OUT.asc and OUT.sec.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Protect the secret key with the passphrase in this file (recommended).
    #[arg(long, value_name = "FILE", env = "OATHVAULT_KEY_PASSPHRASE_FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Replace OUT.asc and OUT.sec if they exist.
    #[arg(long)]
    pub force: bool,
}

/// `oathvault open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The delivery (`….zip`, `….zip.pgp`, `….pgp`, armored or binary).
    pub file: PathBuf,
    /// Directory to write the seed files to (created if missing; default: the current directory).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// The ZIP (or OpenPGP symmetric) password, in a file.
    #[arg(long, value_name = "FILE", env = "OATHVAULT_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Your OpenPGP secret key (armored or binary), for a delivery encrypted to you.
    #[arg(long, value_name = "SECRET_KEY")]
    pub key: Option<PathBuf>,
    /// The passphrase of --key, in a file.
    #[arg(long, value_name = "FILE", env = "OATHVAULT_KEY_PASSPHRASE_FILE")]
    pub key_passphrase_file: Option<PathBuf>,
    /// The vendor's OpenPGP public key: the manifest must carry its valid signature.
    #[arg(long, value_name = "PUB")]
    pub vendor_key: Option<PathBuf>,
    /// Write the files even if the manifest is missing, unsigned, badly signed
    /// or does not match them (the problems are still reported).
    #[arg(long)]
    pub no_verify: bool,
    /// Replace files that already exist in DIR.
    #[arg(long)]
    pub force: bool,
}

/// `oathvault pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// Seed files to put in the delivery.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The delivery file to write (`.zip`, or `.zip.pgp` with --recipient).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Encrypt the ZIP with AES-256 and the password in this file.
    #[arg(long, value_name = "FILE", env = "OATHVAULT_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Encrypt the ZIP to this OpenPGP public key (the customer's).
    #[arg(long, value_name = "PUBKEY_FILE")]
    pub recipient: Option<PathBuf>,
    /// Use --password-file for an OpenPGP layer (symmetric) around a plain
    /// ZIP instead of AES in the ZIP: opens with `gpg --decrypt` and any unzip.
    #[arg(long, requires = "password_file", conflicts_with = "recipient")]
    pub symmetric: bool,
    /// Sign the MANIFEST with this OpenPGP secret key (the vendor's).
    #[arg(long, value_name = "SECRET_KEY_FILE")]
    pub sign_key: Option<PathBuf>,
    /// The passphrase of --sign-key, in a file.
    #[arg(long, value_name = "FILE", env = "OATHVAULT_KEY_PASSPHRASE_FILE")]
    pub sign_key_passphrase_file: Option<PathBuf>,
    /// Order (PO number) to record in the manifest.
    #[arg(long, value_name = "PO")]
    pub order: Option<String>,
    /// Shipment number(s) to record in the manifest.
    #[arg(long = "shipment", value_name = "SHP")]
    pub shipments: Vec<String>,
    /// Vendor name to record in the manifest.
    #[arg(long, value_name = "NAME")]
    pub vendor: Option<String>,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `oathvault key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// An OpenPGP public key, armored or binary.
    pub file: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// A format name on the command line: every [`Format`], named and described
/// by the formats crate itself (one list to maintain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatArg(pub Format);

/// Every format, for clap.
static FORMAT_ARGS: LazyLock<Vec<FormatArg>> =
    LazyLock::new(|| Format::ALL.iter().copied().map(FormatArg).collect());

impl ValueEnum for FormatArg {
    fn value_variants<'a>() -> &'a [Self] {
        FORMAT_ARGS.as_slice()
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).help(self.0.describe()))
    }
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        f.0
    }
}

/// A secret encoding on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// lower-case hexadecimal
    Hex,
    /// upper-case hexadecimal
    HexUpper,
    /// RFC 4648 Base32, upper case, unpadded
    Base32,
    /// RFC 4648 Base32, upper case, '='-padded
    Base32Padded,
    /// RFC 4648 Base64, padded
    Base64,
}

impl From<EncodingArg> for SecretEncoding {
    fn from(e: EncodingArg) -> Self {
        match e {
            EncodingArg::Hex => Self::Hex,
            EncodingArg::HexUpper => Self::HexUpper,
            EncodingArg::Base32 => Self::Base32,
            EncodingArg::Base32Padded => Self::Base32Padded,
            EncodingArg::Base64 => Self::Base64,
        }
    }
}

/// Where to read: a file or `-`, with an optional forced format.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Seed file to read (`-` for standard input).
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
    /// Input format (default: detected from the content).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub from: Option<FormatArg>,
    /// File holding the pre-shared key (hex) of an encrypted PSKC input.
    #[arg(long, value_name = "FILE")]
    pub psk_file: Option<PathBuf>,
    /// File holding the passphrase of a passphrase-protected PSKC input.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Token type of a Duo CSV input, which the file does not say: totp6, totp8, hotp6 or hotp8.
    #[arg(long, value_name = "TYPE")]
    pub duo_type: Option<String>,
    /// PSKC keys without a serial: `key-id` (every key's serial is its Key Id) or `sequence:PREFIX` (keys with neither a serial number nor an Id are named PREFIX1, PREFIX2, …).
    #[arg(long, value_name = "SOURCE")]
    pub serial_from: Option<String>,
    /// Verify the PSKC file's XML signature with this certificate (PEM) before any key is read; refuse the file if it does not verify.
    #[arg(long, value_name = "CERT.pem")]
    pub verify_signature: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches, not a state machine"
)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output file (default or `-`: standard output).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub to: FormatArg,
    /// Secret encoding, for formats that let you choose (jsonl, okta-csv, custom-csv). Other formats fix it.
    #[arg(long, value_enum, value_name = "ENCODING")]
    pub secret_encoding: Option<EncodingArg>,
    /// PSKC output: encrypt with this pre-shared key (file holding 32 hex digits, AES-128).
    #[arg(long, value_name = "FILE", conflicts_with = "pskc_passphrase_file")]
    pub pskc_psk_file: Option<PathBuf>,
    /// PSKC output: encrypt with a key derived from the passphrase in this file (PBKDF2).
    #[arg(long, value_name = "FILE")]
    pub pskc_passphrase_file: Option<PathBuf>,
    /// PSKC output: PBKDF2 iterations for --pskc-passphrase-file.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1000..))]
    pub pskc_iterations: u32,
    /// Custom CSV columns: `name=property` or `name="fixed"`, comma-separated
    /// (properties: serial, secret, `secret_bytes`, type, hash, digits, step, t0,
    /// counter, manufacturer, model, `display_name`, user, issuer, `key_id`, otpauth).
    #[arg(long, value_name = "SPEC")]
    pub template: Option<String>,
    /// Custom CSV: no header row.
    #[arg(long)]
    pub no_header: bool,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// duo-csv, dualshield: write one file per kind of token (type, digits,
    /// and for DualShield step and hash), named OUT-totp6.csv, OUT-hotp8.csv, …
    #[arg(long, requires = "output")]
    pub split: bool,
    /// Worker threads for line-based inputs (default: one per CPU; 1 = sequential).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// No summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OtpArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Serial of the token (may be left out when the file holds one token).
    #[arg(long, short)]
    pub serial: Option<String>,
    /// Unix time in seconds (default: now). TOTP only.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub at: Option<u64>,
    /// HOTP counter to start at (default: the counter in the file).
    #[arg(long)]
    pub counter: Option<u64>,
    /// How many consecutive codes to print.
    #[arg(long, short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub count: u32,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Serial of the token (may be left out when the file holds one token).
    #[arg(long, short)]
    pub serial: Option<String>,
    /// The code the token shows.
    #[arg(long, short)]
    pub code: String,
    /// Unix time in seconds (default: now). TOTP only.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub at: Option<u64>,
    /// HOTP counter expected next (default: the counter in the file).
    #[arg(long)]
    pub counter: Option<u64>,
    /// Steps to allow each side of the expected one (TOTP), or ahead (HOTP).
    #[arg(long, short, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub window: u32,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}
