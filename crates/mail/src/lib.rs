//! Mail for oathvault: sending it, and catching it for demos and tests.
//!
//! - [`Mailer`] sends a [`Mail`] (plain text and HTML, as
//!   `multipart/alternative`) through a real SMTP server with lettre:
//!   plain, `STARTTLS` or implicit TLS (rustls on ring), with optional
//!   authentication, configured by an [`SmtpConfig`] that serde loads
//!   (figment, TOML, environment). The `Date:` header comes from a
//!   [`Clock`](oathvault_otp::clock::Clock).
//! - [`Sink`] is a small SMTP server inside the process. It files every
//!   message it accepts as an `.eml` file in a directory, the
//!   [`outbox`], where [`outbox::list`] and [`outbox::read`] find them
//!   again, parsed.
//! - [`parse_address`] and [`parse_mailbox`] check addresses the way the
//!   mailer will.
//!
//! ```
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use std::sync::Arc;
//! use oathvault_mail::{Mail, Mailer, Sink, SmtpConfig, outbox};
//! use oathvault_otp::clock::SystemClock;
//!
//! let outbox_dir = tempfile::tempdir()?;
//! let sink = Sink::start(outbox_dir.path(), "127.0.0.1:0".parse()?, Arc::new(SystemClock)).await?;
//! let config = SmtpConfig { port: sink.addr().port(), ..SmtpConfig::default() };
//! let mailer = Mailer::new(&config, Arc::new(SystemClock))?;
//! let sent = mailer.send(&Mail {
//!     to: vec!["Vendor <vendor@example.com>".into()],
//!     subject: "Seeds for order 42".into(),
//!     text: "Your file is ready.".into(),
//!     html: "<p>Your file is ready.</p>".into(),
//!     ..Mail::default()
//! }).await?;
//! assert!(sent.reply.starts_with("250 "));
//!
//! let mail = outbox::list(outbox_dir.path())?.remove(0);
//! assert_eq!(mail.to, ["vendor@example.com"]);
//! assert_eq!(mail.text.as_deref(), Some("Your file is ready."));
//! assert_eq!(mail.message_id, Some(sent.message_id));
//! sink.stop().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Choices:
//! - lettre's `tokio1-rustls-tls` uses rustls with ring and the Mozilla
//!   roots (`webpki-roots`), or the process-wide rustls provider if one is
//!   installed; no OpenSSL, no aws-lc.
//! - The sink stores a message only after its final dot, through a hidden
//!   temporary file linked into place, so the outbox never holds half a
//!   message; it never overwrites a file.
//! - Time is a parameter: the mailer's `Date:` and the sink's file names
//!   come from the clock they are given.

#![deny(missing_docs)]

mod config;
mod error;
mod mailer;
pub mod outbox;
mod sink;

pub use config::{Password, Security, SmtpConfig};
pub use error::MailError;
pub use lettre::Address;
pub use lettre::message::Mailbox;
pub use mailer::{Mail, Mailer, Sent, parse_address, parse_mailbox};
pub use outbox::StoredMail;
pub use sink::{Sink, SinkOptions};
