//! Command-line arguments of the servers: `portal`, `desk`, `directory`
//! and `demo`, with their administration subcommands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::args::InputArgs;

/// `--json` on a listing.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print a JSON array instead of tab-separated lines.
    #[arg(long)]
    pub json: bool,
}

/// `oathvault desk`.
#[derive(Debug, Args)]
pub struct DeskArgs {
    /// Database: a SQLite file or `postgres://…` (default: `desk.db` in the data directory) [env: `OATHVAULT_DESK_DATABASE`].
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "OATHVAULT_DESK_DATABASE"
    )]
    pub database: Option<String>,
    /// File holding the desk's master key (default: `$CREDENTIALS_DIRECTORY/desk.key` when systemd passes it, else `desk.key` in the data directory; `oathvault desk init` makes it).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "OATHVAULT_DESK_KEY_FILE"
    )]
    pub master_key_file: Option<PathBuf>,
    /// Data directory (default: `$XDG_DATA_HOME/oathvault` or `~/.local/share/oathvault`).
    #[arg(long, global = true, value_name = "DIR", env = "OATHVAULT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub connection: crate::entra_args::Connection,
    #[command(subcommand)]
    pub command: DeskCommand,
}

/// What `oathvault desk` does.
#[derive(Debug, Subcommand)]
pub enum DeskCommand {
    /// Create the data directory, the desk's master key (mode 0600) and its database, if missing.
    Init,
    /// Add an operator; prints the otpauth:// URI to enrol their authenticator app.
    AddOperator {
        /// Sign-in e-mail.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// viewer, helpdesk or administrator.
        #[arg(long, value_parser = ["viewer", "helpdesk", "administrator"])]
        role: String,
        /// File holding the password (at least 12 characters).
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
    },
    /// List operators and their roles.
    Operators(JsonFlag),
    /// Add a master key, re-seal the operators' secrets and the audit key
    /// under it, retire the old key (resumable; safe while the desk serves).
    RotateKey,
    /// The desk's master keyring.
    #[command(subcommand)]
    Key(KeyCommand),
    /// A consistent copy of the desk's database (SQLite; no key in it).
    Backup {
        /// The backup file to write (must not exist).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Put a backup into an empty data directory (then `verify`).
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Check the schema, the audit chain and every sealed value.
    Verify,
    /// Serve the console (talks to Graph as the app given by --tenant,
    /// --client-id and a secret or certificate).
    Serve {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8100")]
        listen: String,
        /// The address operators reach the desk at; `https://…` turns on HSTS.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Seconds between full refreshes of the inventory copy from Graph.
        #[arg(long, value_name = "S", default_value_t = 300)]
        sync_every: u64,
        /// The two-person rule: deleting tokens needs a second
        /// administrator's approval (Approvals page).
        #[arg(long)]
        two_person: bool,
        /// The two-person rule for unassigning or deactivating more than
        /// one token at once.
        #[arg(long)]
        two_person_bulk: bool,
        /// The two-person rule for any action on more than N tokens at once.
        #[arg(long, value_name = "N")]
        two_person_above: Option<usize>,
        /// Let operators sign in with their Entra account: a TOML file with
        /// an `[entra_signin]` table (see docs/desk.md).
        #[arg(long, value_name = "FILE.toml")]
        entra_signin: Option<PathBuf>,
        /// Reverse proxies (addresses or CIDR blocks, comma-separated)
        /// whose `Forwarded` / `X-Forwarded-For` name the client.
        #[arg(
            long,
            value_name = "LIST",
            env = "OATHVAULT_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<String>,
        /// A file holding the bearer token that lets a scraper not on this
        /// machine read `/metrics` (unset: loopback callers only).
        #[arg(long, value_name = "FILE", env = "OATHVAULT_METRICS_TOKEN_FILE")]
        metrics_token_file: Option<PathBuf>,
    },
}

/// `oathvault demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Demo directory (default: ./oathvault-demo).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where the portal listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub portal_listen: String,
    /// Where the directory listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    pub directory_listen: String,
    /// Where the demo's SMTP sink listens (the portal's mail lands there).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2525")]
    pub smtp_listen: String,
    /// Where the help-desk console listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8100")]
    pub desk_listen: String,
}

/// `oathvault directory`.
#[derive(Debug, Args)]
pub struct DirectoryArgs {
    /// Database: a SQLite file or `postgres://…` (default: `directory.db` in the data directory).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "OATHVAULT_DIRECTORY_DATABASE"
    )]
    pub database: Option<String>,
    /// File holding the directory's master key (default: `directory.key` in the data directory; made on first use).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "OATHVAULT_DIRECTORY_KEY_FILE"
    )]
    pub master_key_file: Option<PathBuf>,
    /// Data directory (default: `$XDG_DATA_HOME/oathvault` or `~/.local/share/oathvault`).
    #[arg(long, global = true, value_name = "DIR", env = "OATHVAULT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: DirectoryCommand,
}

/// What `oathvault directory` does.
#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// App registrations.
    #[command(subcommand)]
    App(AppCommand),
    /// Create a demo tenant with users and an app granted every permission.
    SeedDemo {
        /// The demo tenant's domain.
        #[arg(long, default_value = "contoso.example")]
        domain: String,
        /// Print JSON (keys `tenant_id`, `client_id`, `client_secret`, `users`).
        #[arg(long)]
        json: bool,
    },
    /// Serve the OAuth and Graph endpoints.
    Serve {
        /// Address to listen on.
        #[arg(
            long,
            default_value = "127.0.0.1:8090",
            env = "OATHVAULT_DIRECTORY_LISTEN"
        )]
        listen: String,
        /// The URL clients reach the directory at (default: from the Host header).
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Log lines as `text` or `json`.
        #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"], default_value = "text")]
        log_format: String,
        /// A file holding the bearer token that lets a scraper not on this
        /// machine read `/metrics` (unset: loopback callers only).
        #[arg(long, value_name = "FILE", env = "OATHVAULT_METRICS_TOKEN_FILE")]
        metrics_token_file: Option<PathBuf>,
        /// Answer every N-th Graph request with 429 Too Many Requests (for testing clients).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        throttle: Option<u64>,
        /// Seconds in the Retry-After header of throttled answers.
        #[arg(long, value_name = "SECONDS", default_value_t = 1)]
        retry_after: u64,
        /// Hold every Graph answer MS milliseconds, as the round trip to
        /// Microsoft's cloud would (for measuring clients; default 0).
        #[arg(long, value_name = "MS", default_value_t = 0)]
        latency: u64,
        /// Wrong codes in a row (activation, sign-in, the OTP check API)
        /// that lock a token and its user.
        #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..))]
        code_attempts: i64,
        /// How long such a lock lasts (minutes).
        #[arg(long, value_name = "MINUTES", default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..))]
        code_lock_minutes: i64,
    },
}

/// `oathvault directory tenant`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a tenant.
    Add {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Its domain (user names end in @DOMAIN).
        #[arg(long)]
        domain: String,
    },
}

/// `oathvault directory user`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user.
    Add {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// User principal name (name@domain).
        #[arg(long)]
        upn: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// File holding the password.
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
        /// A directory role (repeatable): "Authentication Policy Administrator",
        /// "Authentication Administrator", "Privileged Authentication Administrator",
        /// "Global Reader", "Global Administrator".
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// List a tenant's users.
    List {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// Print a JSON array instead of tab-separated lines.
        #[arg(long)]
        json: bool,
    },
}

/// `oathvault directory app`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an app with application permissions; prints its client id and secret.
    Add {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A granted permission (repeatable), e.g. Policy.ReadWrite.AuthenticationMethod.
        #[arg(long = "permission", value_name = "P")]
        permissions: Vec<String>,
        /// Also register a certificate (PEM: its first certificate; a private key in the file is ignored).
        #[arg(long, value_name = "CERT.pem")]
        certificate: Option<PathBuf>,
        /// A redirect URI for the authorization code flow (repeatable; `https://`, or `http://localhost`).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Put the user's directory roles in ID tokens as `wids` (Entra: `groupMembershipClaims` `DirectoryRole`).
        #[arg(long)]
        directory_roles_claim: bool,
    },
    /// Set an app's redirect URIs (replacing them) and whether its ID tokens carry directory roles.
    SignIn {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The app's client id.
        #[arg(long)]
        client_id: String,
        /// A redirect URI (repeatable; none: the app can no longer sign people in).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Put the user's directory roles in ID tokens as `wids`.
        #[arg(long)]
        directory_roles_claim: bool,
    },
    /// An app's certificates: client assertions signed with their keys authenticate it.
    #[command(subcommand)]
    Certificate(AppCertificateCommand),
    /// Consent to delegated permissions for an app: for every user of the
    /// tenant (an administrator's consent), or for one user.
    Consent {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The app's client id.
        #[arg(long)]
        client_id: String,
        /// A delegated permission (repeatable), e.g. UserAuthenticationMethod.ReadWrite.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Consent for this user (UPN or id) only.
        #[arg(long, value_name = "UPN")]
        user: Option<String>,
    },
}

/// `oathvault directory app certificate`.
#[derive(Debug, Subcommand)]
pub enum AppCertificateCommand {
    /// Register a certificate on an app; prints its thumbprints (x5t, x5t#S256).
    Add {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The app's client id.
        #[arg(long)]
        client_id: String,
        /// The certificate (PEM: its first certificate; a private key in the file is ignored).
        #[arg(value_name = "CERT.pem")]
        certificate: PathBuf,
    },
}

/// `oathvault portal`.
#[derive(Debug, Args)]
pub struct PortalArgs {
    /// Database: a SQLite file path or `sqlite://FILE`, or `postgres://…` (default: `portal.db` in the data directory) [env: `OATHVAULT_DATABASE`].
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// File holding the master key (default: `$CREDENTIALS_DIRECTORY/master.key` when systemd passes it, else master.key in the data directory) [env: `OATHVAULT_MASTER_KEY_FILE`].
    #[arg(long, global = true, value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Data directory (default: `$XDG_DATA_HOME/oathvault` or `~/.local/share/oathvault`).
    #[arg(long, global = true, value_name = "DIR", env = "OATHVAULT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (TOML; default: `portal.toml` in the data directory, if it exists).
    #[arg(long, global = true, value_name = "FILE", env = "OATHVAULT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: PortalCommand,
}

/// What `oathvault portal` does.
#[derive(Debug, Subcommand)]
pub enum PortalCommand {
    /// Create the data directory, the master key (mode 0600) and the database, if missing.
    Init,
    /// Customers.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Orders.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Shipments.
    #[command(subcommand)]
    Shipment(ShipmentCommand),
    /// Import a factory seed file into a shipment: all or nothing, secrets sealed.
    Import(ImportArgs),
    /// Staff accounts.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Add a master key, re-seal everything under it, retire the old key
    /// (resumes a rotation that was stopped; safe while the portal serves).
    RotateKey,
    /// The master keyring.
    #[command(subcommand)]
    Key(KeyCommand),
    /// A consistent copy of the database, taken while the portal serves
    /// (SQLite; the master key is never in it).
    Backup {
        /// The backup file to write (must not exist).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Put a backup into an empty data directory (then `verify`).
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Check the schema version, the audit chain, and that every sealed
    /// value and seed opens with the keyring.
    Verify,
    /// Destroy a shipment's seeds for good: its data key and every sealed
    /// seed (the serials stay). Requests for it are refused afterwards.
    Shred {
        /// The shipment number.
        #[arg(long)]
        shipment: String,
        /// Why (recorded in the audit log).
        #[arg(long, default_value = "shredded by hand")]
        reason: String,
    },
    /// The vendor's OpenPGP signing key (signs deliveries and receipts).
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Keys for the vendor API (`/api/v1/`): shown once, stored hashed.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Webhooks: the vendor's order system told of request events.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Serve the portal's pages (staff sign-in and administration so far).
    Serve(ServeArgs),
    /// Print the effective configuration (defaults, file, environment, flags).
    Config,
}

/// `oathvault portal api-key`.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make a key; it is printed once (only its SHA-256 is kept).
    Add {
        /// What uses the key (e.g. `ERP`); unique.
        #[arg(long)]
        name: String,
        /// Comma-separated: customers:read, customers:write, orders:read,
        /// orders:write, tokens:import, requests:read, webhooks:manage
        /// (a write scope includes its read).
        #[arg(long)]
        scopes: String,
    },
    /// List keys (never the keys themselves).
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: calls with it are refused from now on.
    Revoke {
        /// The key's name.
        name: String,
    },
}

/// `oathvault portal webhook`.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook; its signing secret is printed once.
    Add {
        /// Where to post events (`https://…`).
        #[arg(long)]
        url: String,
        /// Comma-separated: request.submitted, request.approved,
        /// request.confirmed, request.locked, or `*`.
        #[arg(long, default_value = "*")]
        events: String,
    },
    /// List webhooks.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a webhook and its delivery log.
    Remove {
        /// The webhook's id.
        id: i64,
    },
    /// A webhook's recent deliveries, newest first.
    Deliveries {
        /// The webhook's id.
        id: i64,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `oathvault portal serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080) [env: `OATHVAULT_LISTEN`].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The address people reach the portal at; `https://…` turns on HSTS [env: `OATHVAULT_BASE_URL`].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Log lines as `text` or `json` [env: `OATHVAULT_LOG__FORMAT`].
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

/// `oathvault portal customer`.
#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Add a customer.
    Add {
        /// Company name.
        name: String,
        /// Contact e-mail (repeatable).
        #[arg(long = "email", value_name = "E")]
        emails: Vec<String>,
    },
    /// List customers.
    List(JsonFlag),
}

/// `oathvault portal order`.
#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Add an order.
    Add {
        /// The customer's name.
        #[arg(long)]
        customer: String,
        /// PO number.
        #[arg(long)]
        po: String,
        /// Invoice number (repeatable).
        #[arg(long = "invoice", value_name = "INV")]
        invoices: Vec<String>,
    },
    /// List orders.
    List(JsonFlag),
}

/// `oathvault portal shipment`.
#[derive(Debug, Subcommand)]
pub enum ShipmentCommand {
    /// Add a shipment to an order.
    Add {
        /// The order's PO number.
        #[arg(long = "order", value_name = "PO")]
        po: String,
        /// Shipment number.
        #[arg(long)]
        number: String,
        /// Shipping date (YYYY-MM-DD).
        #[arg(long, value_name = "D")]
        date: Option<String>,
    },
    /// List shipments with token counts and models.
    List(JsonFlag),
}

/// `oathvault portal import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The order's PO number.
    #[arg(long = "order", value_name = "PO")]
    pub po: String,
    /// The shipment number.
    #[arg(long)]
    pub shipment: String,
    #[command(flatten)]
    pub input: InputArgs,
}

/// `oathvault portal staff`.
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member; prints the otpauth:// URI to enrol their authenticator app.
    Add {
        /// Sign-in e-mail.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// reviewer or administrator.
        #[arg(long, value_parser = ["reviewer", "administrator"])]
        role: String,
        /// File holding the password (at least 12 characters).
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
    },
    /// List staff.
    List(JsonFlag),
}

/// `oathvault portal signing-key`.
#[derive(Debug, Subcommand)]
pub enum SigningKeyCommand {
    /// Make a new Ed25519 signing key (replacing the portal's).
    Generate {
        /// The key's user id.
        #[arg(long, value_name = "UID")]
        uid: Option<String>,
    },
    /// Use an existing secret key (armored or binary) as the portal's.
    Import {
        /// The secret key file.
        file: PathBuf,
        /// A file holding the key's passphrase.
        #[arg(long, value_name = "FILE")]
        passphrase_file: PathBuf,
    },
    /// Print (or write) the public key customers verify against.
    Export {
        /// Write it to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `oathvault portal key`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// The keys in the keyring and what is sealed under each.
    Status,
}

/// `oathvault portal audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the keyed hash chain of the whole log (and, with
    /// `--checkpoint`, that it still holds a signed checkpoint's head).
    Verify {
        /// A checkpoint made by `audit checkpoint`.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Write a checkpoint of the chain's head, signed with the vendor key.
    Checkpoint {
        /// Where to write it.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Show the newest events.
    List {
        /// Only events whose actor, action or subject contains this.
        #[arg(long)]
        filter: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print a JSON array instead of tab-separated lines.
        #[arg(long)]
        json: bool,
    },
}
