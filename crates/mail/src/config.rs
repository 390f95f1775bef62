//! How to reach the SMTP server: typed, with defaults, loadable with serde.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

/// Transport security towards the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain SMTP, nothing encrypted: for a server on the same machine (the
    /// sink, a local relay). Written `none` in configuration.
    #[default]
    None,
    /// Plain connection upgraded with `STARTTLS`, which is required: if the
    /// server does not offer it nothing is sent (usually port 587).
    /// Written `starttls`.
    StartTls,
    /// TLS from the first byte, "implicit TLS" (usually port 465).
    /// Written `tls`.
    Tls,
}

/// The SMTP password: zeroed when dropped, printed as `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    #[must_use]
    pub fn new(password: impl Into<String>) -> Self {
        Self(Zeroizing::new(password.into()))
    }

    /// The password itself, for handing to the SMTP client.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Password {
    fn from(password: String) -> Self {
        Self(Zeroizing::new(password))
    }
}

/// Where and how to send mail.
///
/// Every field has a default (plain SMTP to `127.0.0.1:2525`, where a
/// [`Sink`](crate::Sink) may listen), and unknown keys are errors:
///
/// ```toml
/// host = "smtp.example.com"
/// port = 587
/// security = "starttls"   # none | starttls | tls
/// username = "oathvault"
/// password = "..."        # better from the environment or a secret file
/// from = "OATH tokens <tokens@example.com>"
/// timeout_seconds = 30
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name or IP address of the SMTP server; with TLS also the name
    /// its certificate must carry.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Transport security.
    pub security: Security,
    /// User name for SMTP AUTH; no authentication without it. With
    /// [`Security::None`] only a server on this machine (`localhost`, a
    /// loopback address) may have it: the mailer refuses to send a password
    /// unencrypted anywhere else.
    pub username: Option<String>,
    /// Password for SMTP AUTH (used only with a `username`).
    pub password: Option<Password>,
    /// Sender used when a [`Mail`](crate::Mail) names none, as an address
    /// or `Name <address>`.
    pub from: String,
    /// Timeout for connecting and for each SMTP command, in seconds.
    pub timeout_seconds: u64,
}

impl SmtpConfig {
    /// The server as `host:port`, as errors name it.
    #[must_use]
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// [`timeout_seconds`](Self::timeout_seconds) as a duration.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 2525,
            security: Security::None,
            username: None,
            password: None,
            from: "oathvault@localhost".to_owned(),
            timeout_seconds: 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_prints() {
        let config = SmtpConfig {
            username: Some("u".into()),
            password: Some(Password::new("hunter2-secret")),
            ..SmtpConfig::default()
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert_eq!(
            config.password.as_ref().map(Password::expose),
            Some("hunter2-secret")
        );
    }

    #[test]
    fn servers_are_named_host_colon_port() {
        let mut config = SmtpConfig::default();
        assert_eq!(config.server(), "127.0.0.1:2525");
        config.host = "::1".into();
        config.port = 25;
        assert_eq!(config.server(), "[::1]:25");
    }
}
