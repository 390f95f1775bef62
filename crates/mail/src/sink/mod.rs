//! An in-process SMTP server that accepts every message and files it in
//! the [`outbox`](crate::outbox): for demos and tests, not for the Internet.
//!
//! It speaks enough RFC 5321 for real clients (lettre, Python's `smtplib`,
//! `swaks`): `EHLO`/`HELO` (advertising `PIPELINING`, `SIZE`, `8BITMIME`,
//! `SMTPUTF8` and `ENHANCEDSTATUSCODES`), `MAIL FROM` (with `SIZE=`,
//! `BODY=`, `SMTPUTF8`), `RCPT TO`, `DATA` (dot-unstuffed), `RSET`,
//! `NOOP`, `VRFY` (252), `HELP` and `QUIT`. It does not speak TLS or AUTH
//! (502). Commands out of order get 503, unknown ones 500, a command line
//! over 512 bytes 500, a message over the size limit 552 (announced by
//! `SIZE=` or found while reading). A message is stored only when its
//! final dot arrives: one whose connection drops mid-`DATA` leaves nothing.

mod lines;
mod session;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use oathvault_otp::clock::Clock;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::error::MailError;

/// Limits and names of a [`Sink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkOptions {
    /// The name the sink gives itself in its greeting and `Received:` lines.
    pub hostname: String,
    /// The largest message accepted, in bytes after dot-unstuffing
    /// (advertised as `SIZE`).
    pub max_message_bytes: usize,
    /// Recipients per message; more get 452.
    pub max_recipients: usize,
    /// Connections served at once; more are greeted with 421 and closed.
    pub max_connections: usize,
    /// Error replies (5xx) before the sink closes the connection with 421.
    pub max_errors: usize,
    /// How long the sink waits for a client's next line before it says 421
    /// and closes.
    pub idle_timeout: Duration,
    /// The longest a connection may stay open, however busy.
    pub session_timeout: Duration,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            max_message_bytes: 10 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 32,
            max_errors: 20,
            idle_timeout: Duration::from_mins(2),
            session_timeout: Duration::from_mins(10),
        }
    }
}

/// What every connection of one sink shares.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub clock: Arc<dyn Clock>,
    pub options: SinkOptions,
    /// The next file number.
    pub sequence: AtomicU64,
}

/// A running SMTP sink. It stops when [`stop`](Self::stop)ped or dropped.
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use std::sync::Arc;
/// use oathvault_mail::{Mail, Mailer, Sink, SmtpConfig, outbox};
/// use oathvault_otp::clock::FixedClock;
///
/// let dir = tempfile::tempdir()?;
/// let clock = Arc::new(FixedClock::new(1_750_000_000));
/// let sink = Sink::start(dir.path(), "127.0.0.1:0".parse()?, clock.clone()).await?;
///
/// let config = SmtpConfig { port: sink.addr().port(), ..SmtpConfig::default() };
/// let mailer = Mailer::new(&config, clock)?;
/// mailer.send(&Mail {
///     to: vec!["vendor@example.com".into()],
///     subject: "Your token seeds".into(),
///     text: "Download them here.".into(),
///     html: "<p>Download them here.</p>".into(),
///     ..Mail::default()
/// }).await?;
///
/// let stored = outbox::list(sink.dir())?;
/// assert_eq!(stored.len(), 1);
/// assert_eq!(stored[0].subject, "Your token seeds");
/// assert_eq!(stored[0].received, 1_750_000_000);
/// sink.stop().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Sink {
    addr: SocketAddr,
    dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sink {
    /// Creates `dir` if needed, listens on `addr` (`127.0.0.1:0` picks a
    /// free port, see [`addr`](Self::addr)) and serves with the default
    /// [`SinkOptions`]. File names take their time from `clock`.
    ///
    /// Must be called inside a Tokio runtime.
    pub async fn start(
        dir: impl Into<PathBuf>,
        addr: SocketAddr,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MailError> {
        Self::start_with(dir, addr, clock, SinkOptions::default()).await
    }

    /// [`start`](Self::start) with other limits.
    pub async fn start_with(
        dir: impl Into<PathBuf>,
        addr: SocketAddr,
        clock: Arc<dyn Clock>,
        options: SinkOptions,
    ) -> Result<Self, MailError> {
        let dir = dir.into();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| MailError::io(&dir, e))?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MailError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MailError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            clock,
            options,
            sequence: AtomicU64::new(1),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept(listener, shared, stopped));
        tracing::info!(%addr, dir = %dir.display(), "SMTP sink listening");
        Ok(Self {
            addr,
            dir,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on (with the port it got).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The outbox directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops listening and closes open connections; returns when all is
    /// closed. Messages not completed by then are not stored.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Accepts connections until told to stop; each one runs in its own task.
async fn accept(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let permits = Arc::new(Semaphore::new(shared.options.max_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Replies are whole lines written at once: send them now.
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    match Arc::clone(&permits).try_acquire_owned() {
                        Ok(permit) => {
                            connections.spawn(async move {
                                connection(stream, peer, &shared).await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            connections.spawn(async move { refuse(stream, &shared).await });
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on.
                    tracing::warn!(error = %e, "SMTP sink cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let served = tokio::time::timeout(
        shared.options.session_timeout,
        session::serve(stream, peer, shared),
    )
    .await;
    match served {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "SMTP connection failed"),
        Err(_) => tracing::debug!(%peer, "SMTP session too long; closed"),
    }
}

/// Tells a client over the connection limit to come back later.
async fn refuse(mut stream: TcpStream, shared: &Shared) {
    let reply = format!(
        "421 4.7.0 {} Error: too many connections, try again later\r\n",
        shared.options.hostname
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        stream.write_all(reply.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}
