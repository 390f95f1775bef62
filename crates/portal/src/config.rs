//! The portal's configuration: typed, in layers. Built-in defaults, then a
//! TOML file, then `OATHVAULT_*` environment variables (nested keys with a
//! double underscore: `OATHVAULT_SIGNIN__LOCK_AFTER`), then command-line
//! flags; a later layer wins. `docs/portal.example.toml` is the annotated
//! example (a test keeps it readable). The configuration holds no secret:
//! the master key and passwords come from files it names.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use serde::{Deserialize, Serialize};

use oathvault_accounts::{Lockout, Policy};

use crate::journey::RequestPolicy;

/// Every setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the portal keeps its files (default: `$XDG_DATA_HOME/oathvault`
    /// or `~/.local/share/oathvault`).
    pub data_dir: Option<PathBuf>,
    /// A SQLite file path, `sqlite://FILE`, or `postgres://…` (default:
    /// `portal.db` in the data directory).
    pub database: Option<String>,
    /// The file holding the master key (default: `master.key` in the data directory).
    pub master_key_file: Option<PathBuf>,
    /// Address to listen on.
    pub listen: String,
    /// The address people reach the portal at; `https://…` turns on HSTS.
    pub base_url: Option<String>,
    /// The portal's name in authenticator apps and page titles.
    pub issuer: String,
    /// The largest seed file the import page accepts, in MiB.
    pub max_upload_mib: u32,
    /// What the import page asks of a file's signature.
    pub import: Import,
    /// Logging.
    pub log: Log,
    /// Staff sign-in limits.
    pub signin: Signin,
    /// The vendor's rules for customers' seed requests.
    pub requests: Requests,
    /// The SMTP server mail goes through.
    pub smtp: Smtp,
    /// How long the vendor keeps a shipment's seeds.
    pub retention: Retention,
    /// Reverse proxies (addresses or CIDR blocks) whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client; from anyone else those
    /// headers are ignored. `OATHVAULT_TRUSTED_PROXIES`: comma-separated.
    pub trusted_proxies: Vec<String>,
    /// The vendor API (keys' rate limit, webhooks).
    pub api: crate::api::ApiSettings,
    /// A file holding the bearer token that lets a scraper not on this
    /// machine read `/metrics` (unset: loopback callers only).
    pub metrics_token_file: Option<PathBuf>,
}

/// The import page's signature rule: with a certificate, a PSKC file is
/// imported only if its enveloped XML signature verifies with the
/// certificate's key (checked before any key is read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Import {
    /// A PEM certificate of the vendor's signing key (RSA 2048+ or ECDSA
    /// P-256). Unset: files are imported unverified ("signed, not verified").
    pub signature_certificate: Option<PathBuf>,
    /// With a certificate, also refuse files that cannot carry a signature
    /// (CSV, JSON): only signed PSKC files are imported.
    pub signed_only: bool,
}

impl Import {
    /// The rule these settings give, with the certificate read.
    ///
    /// # Errors
    /// The certificate cannot be read or holds no usable key, or
    /// `signed_only` is set without a certificate.
    pub fn rule(&self) -> Result<Option<oathvault_web::upload::SignatureRule>, ConfigError> {
        let Some(path) = &self.signature_certificate else {
            if self.signed_only {
                return Err(ConfigError(
                    "import.signed_only needs import.signature_certificate".into(),
                ));
            }
            return Ok(None);
        };
        let bad = |e: String| {
            ConfigError(format!(
                "import.signature_certificate {}: {e}",
                path.display()
            ))
        };
        let pem = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let key =
            oathvault_formats::pskc::SignerKey::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
        Ok(Some(oathvault_web::upload::SignatureRule {
            key,
            signed_only: self.signed_only,
        }))
    }
}

/// The SMTP server (see `oathvault_mail::SmtpConfig`); its password comes
/// from a file, never from the configuration itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `none` (a server on this machine), `starttls` or `tls`.
    pub security: String,
    /// User name for SMTP AUTH.
    pub username: Option<String>,
    /// The file holding the SMTP password.
    pub password_file: Option<PathBuf>,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    /// Seconds for connecting and for each command.
    pub timeout_seconds: u64,
    /// Allow `security = "none"` to a server that is not on this machine
    /// (the link mail would cross the network in clear).
    pub allow_plaintext: bool,
}

impl Default for Smtp {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 2525,
            security: "none".into(),
            username: None,
            password_file: None,
            from: "Seed delivery <delivery@vendor.example>".into(),
            timeout_seconds: 30,
            allow_plaintext: false,
        }
    }
}

impl Smtp {
    /// The mailer's settings, with the password read from its file.
    pub fn mailer_config(&self) -> Result<oathvault_mail::SmtpConfig, ConfigError> {
        let security = match self.security.as_str() {
            "none" => oathvault_mail::Security::None,
            "starttls" => oathvault_mail::Security::StartTls,
            "tls" => oathvault_mail::Security::Tls,
            other => {
                return Err(ConfigError(format!(
                    "smtp.security {other:?} must be none, starttls or tls"
                )));
            }
        };
        let password = match &self.password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!("smtp.password_file {}: {e}", path.display()))
                })?;
                Some(oathvault_mail::Password::new(
                    text.trim_end_matches(['\r', '\n']),
                ))
            }
            None => None,
        };
        Ok(oathvault_mail::SmtpConfig {
            host: self.host.clone(),
            port: self.port,
            security,
            username: self.username.clone(),
            password,
            from: self.from.clone(),
            timeout_seconds: self.timeout_seconds,
        })
    }
}

/// The vendor's rules for seed requests (see [`RequestPolicy`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Requests {
    /// The vendor's name (manifests, e-mail).
    pub vendor: String,
    /// Where "new request" and "request locked" mail goes.
    pub delivery_team: Vec<String>,
    /// How customers reach the delivery team (shown when an order is not found).
    pub contact_hint: String,
    /// Also ask for the code the picked token shows now.
    pub ask_code: bool,
    /// Steps either side of now an asked-for code may be from.
    pub code_window: u32,
    /// Wrong serials or codes that lock a request.
    pub wrong_limit: u32,
    /// How long a customer's unfinished request lasts, in minutes.
    pub draft_minutes: u32,
    /// How long an approved file can be downloaded, in days.
    pub file_days: u32,
    /// Order lookups per source address per hour.
    pub find_per_source_per_hour: u32,
    /// Order lookups per PO, invoice or shipment number per hour.
    pub find_per_identifier_per_hour: u32,
    /// Every order lookup answers after at least this many milliseconds.
    pub find_floor_ms: u32,
    /// Wrong download passwords per file per hour.
    pub download_tries_per_hour: u32,
    /// Four eyes: whoever last changed a customer's or order's data cannot
    /// approve its requests.
    pub four_eyes: bool,
}

impl Default for Requests {
    fn default() -> Self {
        let p = RequestPolicy::default();
        let small = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            vendor: p.vendor,
            delivery_team: p.delivery_team,
            contact_hint: p.contact_hint,
            ask_code: p.ask_code,
            code_window: p.code_window,
            wrong_limit: small(p.wrong_limit),
            draft_minutes: small(p.draft_ttl / 60),
            file_days: small(p.file_ttl / 86_400),
            find_per_source_per_hour: small(p.find_per_source),
            find_per_identifier_per_hour: small(p.find_per_identifier),
            find_floor_ms: u32::try_from(p.find_floor_ms).unwrap_or(u32::MAX),
            download_tries_per_hour: small(p.download_tries),
            four_eyes: p.four_eyes,
        }
    }
}

impl Requests {
    /// The policy these settings give.
    #[must_use]
    pub fn policy(&self) -> RequestPolicy {
        RequestPolicy {
            draft_ttl: i64::from(self.draft_minutes) * 60,
            wrong_limit: i64::from(self.wrong_limit),
            ask_code: self.ask_code,
            code_window: self.code_window,
            file_ttl: i64::from(self.file_days) * 86_400,
            find_per_source: i64::from(self.find_per_source_per_hour),
            find_per_identifier: i64::from(self.find_per_identifier_per_hour),
            find_window: 3600,
            find_floor_ms: u64::from(self.find_floor_ms),
            download_tries: i64::from(self.download_tries_per_hour),
            delivery_team: self.delivery_team.clone(),
            contact_hint: self.contact_hint.clone(),
            vendor: self.vendor.clone(),
            four_eyes: self.four_eyes,
            shred_after: RequestPolicy::default().shred_after,
        }
    }
}

/// What happens to a shipment's seeds once they were delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedsRule {
    /// Kept sealed until someone shreds them (`portal shred`).
    Keep,
    /// Shredded `shred_after_days` after every file covering the shipment
    /// was confirmed or expired.
    ShredAfterDelivery,
}

/// The retention rule for seeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// `keep` or `shred-after-delivery`.
    pub seeds: SeedsRule,
    /// Days after delivery before the seeds are shredded (0: at once).
    pub shred_after_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            seeds: SeedsRule::ShredAfterDelivery,
            shred_after_days: 30,
        }
    }
}

impl Retention {
    /// Seconds after delivery before seeds are shredded; `None`: kept.
    #[must_use]
    pub fn shred_after(&self) -> Option<i64> {
        match self.seeds {
            SeedsRule::Keep => None,
            SeedsRule::ShredAfterDelivery => Some(i64::from(self.shred_after_days) * 86_400),
        }
    }
}

/// Log settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `text` (for people) or `json` (one object per line, for collectors).
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `oathvault_portal=debug,info`, …
    pub level: String,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON objects, one per line.
    Json,
}

/// Sign-in limits (see [`Policy`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Signin {
    /// Wrong passwords or codes in a row that lock an account.
    pub lock_after: u32,
    /// How long a lock lasts, in minutes.
    pub lock_minutes: u32,
    /// Sign-in attempts allowed per source address per minute.
    pub per_source_per_minute: u32,
    /// How long a signed-in session lasts, in hours.
    pub session_hours: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: None,
            database: None,
            master_key_file: None,
            listen: "127.0.0.1:8080".into(),
            base_url: None,
            issuer: WebSettings::default().issuer,
            max_upload_mib: 256,
            import: Import::default(),
            log: Log::default(),
            signin: Signin::default(),
            requests: Requests::default(),
            smtp: Smtp::default(),
            retention: Retention::default(),
            trusted_proxies: Vec::new(),
            api: crate::api::ApiSettings::default(),
            metrics_token_file: None,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl Default for Signin {
    fn default() -> Self {
        let p = Policy::default();
        let small = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            lock_after: small(p.lockout.after),
            lock_minutes: small(p.lockout.seconds / 60),
            per_source_per_minute: small(p.per_source_per_minute),
            session_hours: small(p.session_ttl / 3600),
        }
    }
}

/// The environment variables read (after `OATHVAULT_`, lower case, `__`
/// for nesting). Others with the prefix (e.g. `OATHVAULT_CONFIG`) are not
/// configuration keys.
const ENV_KEYS: &[&str] = &[
    "data_dir",
    "database",
    "master_key_file",
    "listen",
    "base_url",
    "issuer",
    "max_upload_mib",
    "import__signature_certificate",
    "import__signed_only",
    "log__format",
    "log__level",
    "signin__lock_after",
    "signin__lock_minutes",
    "signin__per_source_per_minute",
    "signin__session_hours",
    "requests__vendor",
    "requests__contact_hint",
    "requests__ask_code",
    "requests__code_window",
    "requests__wrong_limit",
    "requests__draft_minutes",
    "requests__file_days",
    "requests__find_per_source_per_hour",
    "requests__find_per_identifier_per_hour",
    "requests__find_floor_ms",
    "requests__download_tries_per_hour",
    "requests__four_eyes",
    "smtp__host",
    "smtp__port",
    "smtp__security",
    "smtp__username",
    "smtp__password_file",
    "smtp__from",
    "smtp__timeout_seconds",
    "smtp__allow_plaintext",
    "retention__seeds",
    "retention__shred_after_days",
    "metrics_token_file",
];

/// `OATHVAULT_TRUSTED_PROXIES` (comma-separated), as a layer.
fn trusted_proxies_from_env() -> Serialized<std::collections::BTreeMap<&'static str, Vec<String>>> {
    let mut m = std::collections::BTreeMap::new();
    if let Ok(v) = std::env::var("OATHVAULT_TRUSTED_PROXIES") {
        let list: Vec<String> = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        m.insert("trusted_proxies", list);
    }
    Serialized::defaults(m)
}

/// Whether `host` names this machine.
fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// The layers: defaults, `file` (when given; it must exist when
    /// `required`), the environment, then `flags` (only the keys set there).
    #[must_use]
    pub fn figment(file: Option<&Path>, flags: &impl Serialize) -> Figment {
        let mut f = Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = file {
            f = f.merge(Toml::file_exact(path));
        }
        f.merge(
            Env::prefixed("OATHVAULT_")
                .filter(|k| ENV_KEYS.contains(&k.as_str().to_ascii_lowercase().as_str()))
                .split("__"),
        )
        .merge(trusted_proxies_from_env())
        .merge(Serialized::globals(flags))
    }

    /// Reads the layers into a checked configuration.
    pub fn load(file: Option<&Path>, flags: &impl Serialize) -> Result<Self, ConfigError> {
        let c: Self = Self::figment(file, flags)
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    /// Parses a TOML text alone (over the defaults), e.g. the example file.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let c: Self = Figment::from(Serialized::defaults(Self::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if let Some(u) = &self.base_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(ConfigError(format!(
                "base_url {u:?} must start with https:// (or http:// for a local test)"
            )));
        }
        if self.signin.lock_after == 0 || self.signin.per_source_per_minute == 0 {
            return Err(ConfigError(
                "signin.lock_after and signin.per_source_per_minute must be at least 1".into(),
            ));
        }
        let r = &self.requests;
        if r.wrong_limit == 0 || r.draft_minutes == 0 || r.file_days == 0 {
            return Err(ConfigError(
                "requests.wrong_limit, draft_minutes and file_days must be at least 1".into(),
            ));
        }
        if r.delivery_team.is_empty() {
            return Err(ConfigError(
                "requests.delivery_team needs at least one e-mail address".into(),
            ));
        }
        if !matches!(self.smtp.security.as_str(), "none" | "starttls" | "tls") {
            return Err(ConfigError(format!(
                "smtp.security {:?} must be none, starttls or tls",
                self.smtp.security
            )));
        }
        if self.smtp.security == "none"
            && !self.smtp.allow_plaintext
            && !is_loopback(&self.smtp.host)
        {
            return Err(ConfigError(format!(
                "smtp.security is \"none\" but smtp.host {:?} is not this machine: download links would cross the network in clear. Use starttls or tls, or set smtp.allow_plaintext = true if the network is trusted",
                self.smtp.host
            )));
        }
        for p in &self.trusted_proxies {
            oathvault_web::TrustedProxies::parse(std::slice::from_ref(p))
                .map_err(|e| ConfigError(format!("trusted_proxies: {e}")))?;
        }
        if self.max_upload_mib == 0 {
            return Err(ConfigError("max_upload_mib must be at least 1".into()));
        }
        self.import.rule()?;
        Ok(())
    }

    /// The sign-in policy these settings give.
    #[must_use]
    pub fn policy(&self) -> Policy {
        Policy {
            lockout: Lockout {
                after: i64::from(self.signin.lock_after),
                seconds: i64::from(self.signin.lock_minutes) * 60,
            },
            per_source_per_minute: i64::from(self.signin.per_source_per_minute),
            session_ttl: i64::from(self.signin.session_hours) * 3600,
            ..Policy::default()
        }
    }

    /// The web app's settings, but for the import signature rule, which
    /// reads a file: [`Import::rule`] (`portal serve` sets both).
    #[must_use]
    pub fn web(&self) -> WebSettings {
        WebSettings {
            issuer: self.issuer.clone(),
            base_url: self.base_url.clone(),
            max_upload: usize::try_from(self.max_upload_mib)
                .unwrap_or(usize::MAX)
                .saturating_mul(1 << 20),
            requests: crate::journey::RequestPolicy {
                shred_after: self.retention.shred_after(),
                ..self.requests.policy()
            },
            demo_outbox: None,
            trusted_proxies: oathvault_web::TrustedProxies::parse(&self.trusted_proxies)
                .unwrap_or_default(),
            api: self.api.clone(),
            metrics_token: None,
            import_signature: None,
        }
    }

    /// The effective configuration as TOML (for `oathvault portal config`).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError(e.to_string()))
    }
}

/// Settings of the web app that are not the store, the key or the clock.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The name shown in staff members' authenticator apps.
    pub issuer: String,
    /// The address staff and customers reach the portal at (for links in
    /// e-mails); an `https://` URL also turns on HSTS.
    pub base_url: Option<String>,
    /// The largest seed file the import page accepts (bytes).
    pub max_upload: usize,
    /// The vendor's rules for seed requests.
    pub requests: crate::journey::RequestPolicy,
    /// `oathvault demo` only: the local SMTP sink's directory, shown at
    /// `/demo/outbox` so the demo's mail can be read in the browser.
    pub demo_outbox: Option<std::path::PathBuf>,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: oathvault_web::TrustedProxies,
    /// The vendor API's settings.
    pub api: crate::api::ApiSettings,
    /// The bearer token that lets a scraper that is not on this machine
    /// read `/metrics` (`None`: loopback callers only).
    pub metrics_token: Option<oathvault_web::MetricsToken>,
    /// What the import page asks of a file's signature (`None`: nothing).
    pub import_signature: Option<oathvault_web::upload::SignatureRule>,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            issuer: "oathvault portal".into(),
            base_url: None,
            max_upload: 256 << 20,
            requests: crate::journey::RequestPolicy::default(),
            demo_outbox: None,
            trusted_proxies: oathvault_web::TrustedProxies::default(),
            api: crate::api::ApiSettings::default(),
            metrics_token: None,
            import_signature: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct NoFlags {}

    #[test]
    fn the_example_file_reads_and_sets_what_it_says() {
        let text = include_str!("../../../docs/portal.example.toml");
        let c = Config::from_toml(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.log.format, LogFormat::Text);
        assert_eq!(c.policy().lockout.seconds, 15 * 60);
        let r = c.web().requests;
        assert_eq!(
            (r.wrong_limit, r.file_ttl, r.ask_code),
            (5, 7 * 86_400, true)
        );
        assert_eq!(r.delivery_team, ["delivery@vendor.example"]);
        assert_eq!(c.api, crate::api::ApiSettings::default());
        assert_eq!(c.web().api.rate_per_minute, 600);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Config::from_toml("lisen = \"x\"")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("lisen")));
        let e = Config::from_toml("base_url = \"portal.example\"")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("https://")));
        let e = Config::from_toml("[log]\nformat = \"xml\"")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("xml")));
    }

    #[test]
    fn flags_win_over_the_file() {
        #[derive(Serialize)]
        struct Flags {
            listen: &'static str,
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("portal.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nissuer = \"Example\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let c = Config::load(
            Some(&file),
            &Flags {
                listen: "127.0.0.1:9100",
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen, "127.0.0.1:9100");
        assert_eq!(c.issuer, "Example");
        let c = Config::load(Some(&file), &NoFlags {}).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen, "127.0.0.1:9000");
        let missing = Config::load(Some(&dir.path().join("nope.toml")), &NoFlags {});
        assert!(missing.is_err());
    }

    #[test]
    fn plaintext_mail_to_another_machine_is_refused_unless_allowed() {
        let remote = "[smtp]\nhost = \"mail.example.com\"\nsecurity = \"none\"\n";
        let refused = Config::from_toml(remote).err().map(|e| e.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|e| e.contains("would cross the network in clear")),
            "{refused:?}"
        );
        let allowed = format!("{remote}allow_plaintext = true\n");
        assert!(Config::from_toml(&allowed).is_ok());
        let local = "[smtp]\nhost = \"localhost\"\nsecurity = \"none\"\n";
        assert!(Config::from_toml(local).is_ok());
        let tls = "[smtp]\nhost = \"mail.example.com\"\nsecurity = \"tls\"\n";
        assert!(Config::from_toml(tls).is_ok());
    }

    #[test]
    fn retention_and_trusted_proxies_read_and_are_checked() {
        let c = Config::from_toml(
            "trusted_proxies = [\"10.0.0.0/8\"]\n[retention]\nseeds = \"keep\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.web().requests.shred_after, None);
        assert!(!c.web().trusted_proxies.is_empty());
        assert_eq!(
            Config::default().web().requests.shred_after,
            Some(30 * 86_400)
        );
        assert!(Config::from_toml("trusted_proxies = [\"proxy.example\"]\n").is_err());
    }
}
