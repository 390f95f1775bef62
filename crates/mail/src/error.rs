//! The one error type of the crate.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What went wrong while sending mail, running the sink or reading the outbox.
///
/// Messages name the SMTP server as `host:port` and quote its reply; they
/// never contain the SMTP password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// An address (sender, recipient, reply-to) is not a valid mailbox.
    #[error("invalid {field} address {value:?}: {reason}")]
    Address {
        /// Which address: `from`, `to`, `reply-to` or `e-mail` (a bare check).
        field: &'static str,
        /// The text as given.
        value: String,
        /// Why lettre refused it.
        reason: String,
    },
    /// A mail without recipients.
    #[error("a mail needs at least one recipient")]
    NoRecipients,
    /// lettre could not build the message.
    #[error("cannot build the message: {reason}")]
    Message {
        /// lettre's explanation.
        reason: String,
    },
    /// The SMTP server answered with a negative reply (4xx or 5xx).
    #[error("SMTP server {server} refused the message: {code} {reply}")]
    Rejected {
        /// `host:port` of the server.
        server: String,
        /// The reply code, for example 550 (0 if lettre did not report one).
        code: u16,
        /// The reply text as the server sent it.
        reply: String,
    },
    /// Talking to the SMTP server failed: connection, TLS, timeout, protocol.
    #[error("SMTP with {server} failed: {reason}")]
    Smtp {
        /// `host:port` of the server.
        server: String,
        /// What failed, in lettre's words.
        reason: String,
    },
    /// The configuration cannot work, for example TLS to a host name that
    /// is not a valid server name.
    #[error("SMTP configuration for {server}: {reason}")]
    Config {
        /// `host:port` of the server.
        server: String,
        /// What is wrong.
        reason: String,
    },
    /// [`Mailer::new`](crate::Mailer::new) was called outside a Tokio runtime
    /// (its connection pool runs a background task).
    #[error("the mailer needs a Tokio runtime (create it inside one)")]
    NoRuntime,
    /// The sink could not listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// Reading or writing a file of the outbox failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file in the outbox is not a readable mail message.
    #[error("{}: not a readable mail message: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// [`outbox::read`](crate::outbox::read) found no message with that id
    /// (or the id is not an outbox id at all).
    #[error("no message {id:?} in the outbox {}", dir.display())]
    NotFound {
        /// The outbox directory.
        dir: PathBuf,
        /// The id asked for.
        id: String,
    },
}

impl MailError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
