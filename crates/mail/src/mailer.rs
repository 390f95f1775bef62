//! Sending mail through SMTP with lettre.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use oathvault_otp::clock::Clock;

use crate::config::{Security, SmtpConfig};
use crate::error::MailError;

/// One mail: a plain-text and an HTML version of the same content, sent as
/// `multipart/alternative`.
///
/// Addresses are written `user@example.com` or `Name <user@example.com>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mail {
    /// Sender; `None` sends from [`SmtpConfig::from`].
    pub from: Option<String>,
    /// Recipients (at least one).
    pub to: Vec<String>,
    /// Subject line, any Unicode.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
    /// Where replies should go, if not to the sender.
    pub reply_to: Option<String>,
}

/// What the server said to a mail it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The `Message-ID` header of the mail, with its angle brackets.
    pub message_id: String,
    /// The server's reply to the message, code first, for example
    /// `250 2.0.0 Ok: queued as 1750000000-000001`.
    pub reply: String,
}

/// Sends [`Mail`] through one SMTP server, reusing connections (a pool).
///
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Mailer {
    transport: Arc<Transport>,
    server: String,
    from: Mailbox,
    clock: Arc<dyn Clock>,
}

/// lettre's transport, dropped inside the runtime it was made in: dropping
/// its pool spawns a task, which would panic outside a runtime (say, when
/// the application state outlives the runtime).
struct Transport {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    runtime: tokio::runtime::Handle,
}

impl Drop for Transport {
    fn drop(&mut self) {
        let _inside = self.runtime.enter();
        drop(self.smtp.take());
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `config`; the `Date` of every mail comes from `clock`.
    ///
    /// Must be called inside a Tokio runtime (the connection pool runs a
    /// cleanup task there); elsewhere it returns [`MailError::NoRuntime`].
    /// Nothing is connected yet: see [`check`](Self::check).
    pub fn new(config: &SmtpConfig, clock: Arc<dyn Clock>) -> Result<Self, MailError> {
        let server = config.server();
        let from = mailbox("from", &config.from)?;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(MailError::NoRuntime);
        };
        if config.security == Security::None
            && config.username.is_some()
            && !is_loopback(&config.host)
        {
            return Err(MailError::Config {
                server,
                reason: "refusing to send the password unencrypted to another machine; \
                         set security to starttls or tls"
                    .to_owned(),
            });
        }
        let tls = match config.security {
            Security::None => Tls::None,
            Security::StartTls => Tls::Required(tls_parameters(config, &server)?),
            Security::Tls => Tls::Wrapper(tls_parameters(config, &server)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout()));
        if let Some(username) = &config.username {
            let password = config
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Self {
            transport: Arc::new(Transport {
                smtp: Some(builder.build()),
                runtime,
            }),
            server,
            from,
            clock,
        })
    }

    /// lettre's transport; only `Transport::drop` takes it out, so it is
    /// always there while the mailer is.
    fn smtp(&self) -> Result<&AsyncSmtpTransport<Tokio1Executor>, MailError> {
        self.transport.smtp.as_ref().ok_or_else(|| MailError::Smtp {
            server: self.server.clone(),
            reason: "the transport is gone".to_owned(),
        })
    }

    /// The server as `host:port`.
    #[must_use]
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends `mail`; returns its `Message-ID` and the server's reply.
    pub async fn send(&self, mail: &Mail) -> Result<Sent, MailError> {
        let message = self.message(mail)?;
        let message_id = message
            .headers()
            .get_raw("Message-ID")
            .unwrap_or_default()
            .to_owned();
        let response = self
            .smtp()?
            .send(message)
            .await
            .map_err(|e| self.smtp_error(&e))?;
        let mut reply = response.code().to_string();
        for line in response.message() {
            reply.push(' ');
            reply.push_str(line);
        }
        Ok(Sent { message_id, reply })
    }

    /// Connects (with TLS and authentication as configured) and says
    /// `NOOP`: a start-up check that the configuration works.
    pub async fn check(&self) -> Result<(), MailError> {
        match self.smtp()?.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError::Smtp {
                server: self.server.clone(),
                reason: "the server did not answer NOOP".to_owned(),
            }),
            Err(e) => Err(self.smtp_error(&e)),
        }
    }

    /// The message as it will be sent, `Date` from the clock, a fresh
    /// `Message-ID`.
    fn message(&self, mail: &Mail) -> Result<Message, MailError> {
        if mail.to.is_empty() {
            return Err(MailError::NoRecipients);
        }
        let from = match &mail.from {
            Some(from) => mailbox("from", from)?,
            None => self.from.clone(),
        };
        let date = UNIX_EPOCH + Duration::from_secs(self.clock.now_unix());
        let mut builder = Message::builder()
            .from(from)
            .subject(mail.subject.as_str())
            .date(date)
            .message_id(None);
        for to in &mail.to {
            builder = builder.to(mailbox("to", to)?);
        }
        if let Some(reply_to) = &mail.reply_to {
            builder = builder.reply_to(mailbox("reply-to", reply_to)?);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| MailError::Message {
                reason: e.to_string(),
            })
    }

    fn smtp_error(&self, error: &lettre::transport::smtp::Error) -> MailError {
        match error.status() {
            Some(code) => MailError::Rejected {
                server: self.server.clone(),
                code: code.to_string().parse().unwrap_or(0),
                reply: error.source().map(ToString::to_string).unwrap_or_default(),
            },
            None => MailError::Smtp {
                server: self.server.clone(),
                reason: error.to_string(),
            },
        }
    }
}

/// Whether `host` names this machine (where plain SMTP is fine).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn tls_parameters(config: &SmtpConfig, server: &str) -> Result<TlsParameters, MailError> {
    TlsParameters::new(config.host.clone()).map_err(|e| MailError::Config {
        server: server.to_owned(),
        reason: format!("TLS: {e}"),
    })
}

fn mailbox(field: &'static str, text: &str) -> Result<Mailbox, MailError> {
    text.parse()
        .map_err(|e: lettre::address::AddressError| MailError::Address {
            field,
            value: text.to_owned(),
            reason: e.to_string(),
        })
}

/// Checks a bare address (`user@example.com`) the way the mailer will.
///
/// ```
/// assert!(oathvault_mail::parse_address("ops@example.com").is_ok());
/// assert!(oathvault_mail::parse_address("not an address").is_err());
/// ```
pub fn parse_address(text: &str) -> Result<Address, MailError> {
    text.parse()
        .map_err(|e: lettre::address::AddressError| MailError::Address {
            field: "e-mail",
            value: text.to_owned(),
            reason: e.to_string(),
        })
}

/// Checks an address with an optional display name
/// (`Ops Team <ops@example.com>` or `ops@example.com`).
pub fn parse_mailbox(text: &str) -> Result<Mailbox, MailError> {
    mailbox("e-mail", text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oathvault_otp::clock::FixedClock;

    fn mailer() -> (tokio::runtime::Runtime, Mailer) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mailer = {
            let _guard = runtime.enter();
            Mailer::new(
                &SmtpConfig::default(),
                Arc::new(FixedClock::new(1_750_000_000)),
            )
            .unwrap()
        };
        (runtime, mailer)
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        let e = Mailer::new(&SmtpConfig::default(), Arc::new(FixedClock::new(0))).unwrap_err();
        assert!(matches!(e, MailError::NoRuntime), "{e}");
    }

    #[test]
    fn the_message_carries_the_clock_date_and_both_bodies() {
        let mail = Mail {
            to: vec!["A <a@example.com>".into()],
            subject: "Hi".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
            reply_to: Some("desk@example.com".into()),
            ..Mail::default()
        };
        let (_runtime, mailer) = mailer();
        let bytes = mailer.message(&mail).unwrap().formatted();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("Date: Sun, 15 Jun 2025 15:06:40 +0000\r\n"),
            "{text}"
        );
        assert!(text.contains("From: oathvault@localhost\r\n"), "{text}");
        assert!(text.contains("Reply-To: desk@example.com\r\n"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("Message-ID: <"), "{text}");
    }

    #[test]
    fn bad_addresses_name_the_field() {
        let (_runtime, m) = mailer();
        let cases = [
            (
                Mail {
                    to: vec!["nobody".into()],
                    ..Mail::default()
                },
                "to",
            ),
            (
                Mail {
                    from: Some("a@@b".into()),
                    to: vec!["x@example.com".into()],
                    ..Mail::default()
                },
                "from",
            ),
            (
                Mail {
                    to: vec!["x@example.com".into()],
                    reply_to: Some("<>".into()),
                    ..Mail::default()
                },
                "reply-to",
            ),
        ];
        for (mail, want) in cases {
            match m.message(&mail) {
                Err(MailError::Address { field, .. }) => assert_eq!(field, want),
                other => panic!("{want}: {other:?}"),
            }
        }
        assert!(matches!(
            m.message(&Mail::default()),
            Err(MailError::NoRecipients)
        ));
    }

    #[test]
    fn passwords_go_in_the_clear_only_to_this_machine() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _inside = runtime.enter();
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(0));
        for (host, security, ok) in [
            ("smtp.example.com", Security::None, false),
            ("10.0.0.5", Security::None, false),
            ("smtp.example.com", Security::StartTls, true),
            ("smtp.example.com", Security::Tls, true),
            ("localhost", Security::None, true),
            ("127.0.0.1", Security::None, true),
            ("::1", Security::None, true),
        ] {
            let config = SmtpConfig {
                host: host.into(),
                security,
                username: Some("u".into()),
                password: Some(crate::Password::new("pw")),
                ..SmtpConfig::default()
            };
            let made = Mailer::new(&config, clock.clone());
            assert_eq!(made.is_ok(), ok, "{host} {security:?}: {made:?}");
        }
    }

    #[test]
    fn addresses_parse_like_lettre() {
        assert_eq!(
            parse_address("ops@example.com").unwrap().domain(),
            "example.com"
        );
        assert!(parse_address("Ops <ops@example.com>").is_err());
        assert_eq!(
            parse_mailbox("Ops <ops@example.com>").unwrap().email.user(),
            "ops"
        );
        let e = parse_address("nope").unwrap_err().to_string();
        assert!(e.starts_with("invalid e-mail address \"nope\""), "{e}");
    }
}
