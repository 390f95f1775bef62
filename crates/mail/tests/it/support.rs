//! A sink in a temporary outbox, and a raw SMTP client with timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oathvault_mail::{Sink, SinkOptions};
use oathvault_otp::clock::FixedClock;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The time every test sink and mailer starts at.
pub const NOW: u64 = 1_750_000_000;

/// Nothing in these tests should take longer than this.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct TestSink {
    pub sink: Sink,
    pub clock: Arc<FixedClock>,
    /// Holds the outbox directory until the test ends.
    pub dir: TempDir,
}

pub async fn sink() -> TestSink {
    sink_with(SinkOptions::default()).await
}

pub async fn sink_with(options: SinkOptions) -> TestSink {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock::new(NOW));
    let sink = Sink::start_with(
        dir.path().join("outbox"),
        "127.0.0.1:0".parse().unwrap(),
        clock.clone(),
        options,
    )
    .await
    .unwrap();
    TestSink { sink, clock, dir }
}

/// Every file name in the outbox directory, hidden ones too, sorted.
pub fn files(sink: &Sink) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sink.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A raw SMTP client: one command, one reply.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connects without reading the greeting.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let (reader, writer) = stream.into_split();
        Self {
            reader: BufReader::new(reader),
            writer,
        }
    }

    /// Connects and checks the 220 greeting.
    pub async fn greeted(addr: SocketAddr) -> Self {
        let mut client = Self::connect(addr).await;
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        client
    }

    /// Writes bytes as they are.
    pub async fn send(&mut self, raw: &[u8]) {
        self.writer.write_all(raw).await.unwrap();
    }

    /// One whole reply (all its lines, joined by `\n`).
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(PATIENCE, self.reader.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(n > 0, "connection closed; reply so far {lines:?}");
            let line = line.trim_end_matches(['\r', '\n']).to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Sends a command line and returns the reply.
    pub async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends a command line and returns the reply code.
    pub async fn code(&mut self, line: &str) -> u16 {
        let reply = self.command(line).await;
        reply.get(..3).unwrap().parse().unwrap()
    }

    /// Whether the server has closed the connection (and sent nothing
    /// more). A server that closes with unread input resets the connection.
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(PATIENCE, self.reader.read_to_end(&mut rest)).await;
        match read {
            Ok(Ok(0)) => true,
            Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionReset,
            _ => false,
        }
    }

    /// Sends a whole message through the open connection; the final reply.
    pub async fn mail(&mut self, from: &str, to: &str, data: &str) -> String {
        assert_eq!(self.code(&format!("MAIL FROM:<{from}>")).await, 250);
        assert_eq!(self.code(&format!("RCPT TO:<{to}>")).await, 250);
        assert_eq!(self.code("DATA").await, 354);
        self.send(data.as_bytes()).await;
        self.command(".").await
    }
}
