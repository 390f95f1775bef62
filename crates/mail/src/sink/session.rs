//! One SMTP conversation (RFC 5321), server side: the command state
//! machine ([`Session`]) and the loop that drives it over a connection.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::timeout;

use super::Shared;
use super::lines::{Line, read_line};
use crate::outbox::{self, Envelope};

/// Longest command line, CRLF included (RFC 5321 4.5.3.1.4).
pub(crate) const COMMAND_LINE_MAX: usize = 512;

/// What the driver does after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send this reply (lines separated by CRLF, without the last CRLF).
    Reply(String),
    /// Send `354` and read the message.
    Data,
    /// Send this reply and close.
    Quit(String),
}

/// The state of one conversation.
#[derive(Debug, Default)]
pub(crate) struct Session {
    helo: Option<String>,
    from: Option<String>,
    to: Vec<String>,
}

/// The limits the state machine checks.
#[derive(Debug, Clone)]
pub(crate) struct Limits<'a> {
    pub hostname: &'a str,
    pub max_message_bytes: usize,
    pub max_recipients: usize,
}

impl Session {
    /// Handles one command line (without its CRLF).
    pub(crate) fn command(&mut self, line: &[u8], limits: &Limits<'_>) -> Action {
        let reply = |text: &str| Action::Reply(text.to_owned());
        let Ok(line) = std::str::from_utf8(line) else {
            return reply("500 5.5.2 Syntax error: command is not UTF-8");
        };
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return reply("501 5.5.2 Syntax error: control characters in command");
        }
        let (verb, arg) = match line.trim_end().split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (line.trim_end(), ""),
        };
        let verb = verb.to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" if arg.is_empty() => {
                Action::Reply(format!("501 5.5.4 Syntax: {verb} hostname"))
            }
            "EHLO" => {
                self.helo = Some(arg.to_owned());
                self.reset();
                Action::Reply(format!(
                    "250-{} greets {arg}\r\n250-PIPELINING\r\n250-SIZE {}\r\n\
                     250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES",
                    limits.hostname, limits.max_message_bytes
                ))
            }
            "HELO" => {
                self.helo = Some(arg.to_owned());
                self.reset();
                Action::Reply(format!("250 {}", limits.hostname))
            }
            "MAIL" => self.mail(arg, limits),
            "RCPT" => self.rcpt(arg, limits),
            "DATA" if !arg.is_empty() => reply("501 5.5.4 Syntax: DATA"),
            "DATA" if self.from.is_none() => reply("503 5.5.1 Error: need MAIL command"),
            "DATA" if self.to.is_empty() => reply("503 5.5.1 Error: need RCPT command"),
            "DATA" => Action::Data,
            "RSET" => {
                self.reset();
                reply("250 2.0.0 Ok")
            }
            "NOOP" => reply("250 2.0.0 Ok"),
            "QUIT" => Action::Quit(format!("221 2.0.0 {} closing connection", limits.hostname)),
            "VRFY" if arg.is_empty() => reply("501 5.5.4 Syntax: VRFY address"),
            "VRFY" => {
                reply("252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery")
            }
            "HELP" => {
                reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP")
            }
            "EXPN" | "AUTH" | "STARTTLS" | "BDAT" | "ETRN" | "TURN" | "SEND" | "SOML" | "SAML" => {
                Action::Reply(format!("502 5.5.1 {verb} not implemented"))
            }
            _ => reply("500 5.5.2 Error: command not recognized"),
        }
    }

    /// Forgets the transaction (not the greeting).
    pub(crate) fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    /// The envelope of the transaction in progress.
    pub(crate) fn envelope(&self, peer: SocketAddr) -> Envelope<'_> {
        Envelope {
            helo: self.helo.as_deref().unwrap_or_default(),
            peer,
            from: self.from.as_deref().unwrap_or_default(),
            to: &self.to,
        }
    }

    fn mail(&mut self, arg: &str, limits: &Limits<'_>) -> Action {
        let reply = |text: &str| Action::Reply(text.to_owned());
        if self.helo.is_none() {
            return reply("503 5.5.1 Error: send HELO/EHLO first");
        }
        if self.from.is_some() {
            return reply("503 5.5.1 Error: nested MAIL command");
        }
        let Some((address, params)) = strip_keyword(arg, "FROM:").and_then(path) else {
            return reply("501 5.5.4 Syntax: MAIL FROM:<address>");
        };
        for param in params.split_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let key = key.to_ascii_uppercase();
            match key.as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(size)
                        if size > u64::try_from(limits.max_message_bytes).unwrap_or(u64::MAX) =>
                    {
                        return reply("552 5.3.4 Message size exceeds fixed maximum message size");
                    }
                    Ok(_) => {}
                    Err(_) => return reply("501 5.5.4 Bad SIZE parameter"),
                },
                "BODY"
                    if value.eq_ignore_ascii_case("7BIT")
                        || value.eq_ignore_ascii_case("8BITMIME") => {}
                "SMTPUTF8" if value.is_empty() => {}
                _ => return Action::Reply(format!("555 5.5.4 Unsupported parameter {param}")),
            }
        }
        self.from = Some(address.to_owned());
        reply("250 2.1.0 Ok")
    }

    fn rcpt(&mut self, arg: &str, limits: &Limits<'_>) -> Action {
        let reply = |text: &str| Action::Reply(text.to_owned());
        if self.from.is_none() {
            return reply("503 5.5.1 Error: need MAIL command");
        }
        let Some((address, params)) = strip_keyword(arg, "TO:").and_then(path) else {
            return reply("501 5.5.4 Syntax: RCPT TO:<address>");
        };
        if address.is_empty() {
            return reply("501 5.1.3 Bad recipient address syntax");
        }
        if let Some(param) = params.split_whitespace().next() {
            return Action::Reply(format!("555 5.5.4 Unsupported parameter {param}"));
        }
        if self.to.len() >= limits.max_recipients {
            return reply("452 4.5.3 Error: too many recipients");
        }
        self.to.push(address.to_owned());
        reply("250 2.1.5 Ok")
    }
}

/// `arg` without a leading keyword such as `FROM:` (any case), and the
/// blanks after it.
fn strip_keyword<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| arg.get(keyword.len()..))
        .flatten()
        .map(str::trim_start)
}

/// Splits `<address> params` into the address (without brackets and
/// source route) and the parameters. A missing bracket pair is tolerated
/// (`MAIL FROM:a@b`), as many servers do.
fn path(text: &str) -> Option<(&str, &str)> {
    let (address, params) = match text.strip_prefix('<') {
        Some(rest) => rest.split_once('>')?,
        None => text.split_once(' ').unwrap_or((text, "")),
    };
    // A source route (`<@relay:user@host>`) is ignored (RFC 5321 4.1.2).
    let address = match address.strip_prefix('@') {
        Some(route) => route.split_once(':')?.1,
        None => address,
    };
    if address.len() > 256 || (address.contains(['<', '>', ' ']) && !address.contains('"')) {
        return None;
    }
    Some((address, params.trim()))
}

/// How reading a message after `DATA` ended.
enum Data {
    /// The whole message, dot-unstuffed, CRLF line ends.
    Message(Vec<u8>),
    /// Longer than the limit; read to its end and thrown away.
    TooBig,
    /// The client went away (or was idle too long) before the final dot.
    Gone { timed_out: bool },
}

/// Runs one conversation over `stream` until `QUIT`, an error, a timeout
/// or too many errors.
pub(crate) async fn serve<S>(stream: S, peer: SocketAddr, shared: &Shared) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let options = &shared.options;
    let limits = Limits {
        hostname: &options.hostname,
        max_message_bytes: options.max_message_bytes,
        max_recipients: options.max_recipients,
    };
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = BufReader::new(reader);
    let mut session = Session::default();
    let mut line = Vec::new();
    let mut errors = 0;
    send(
        &mut writer,
        &format!("220 {} ESMTP oathvault sink", options.hostname),
    )
    .await?;
    loop {
        let Ok(read) = timeout(
            options.idle_timeout,
            read_line(&mut reader, &mut line, COMMAND_LINE_MAX),
        )
        .await
        else {
            return send(&mut writer, "421 4.4.2 Error: timeout exceeded").await;
        };
        let reply = match read? {
            Line::Eof => return Ok(()),
            Line::TooLong => "500 5.5.2 Error: line too long".to_owned(),
            Line::Complete => match session.command(&line, &limits) {
                Action::Reply(reply) => reply,
                Action::Quit(reply) => return send(&mut writer, &reply).await,
                Action::Data => {
                    send(&mut writer, "354 End data with <CR><LF>.<CR><LF>").await?;
                    let data = read_data(&mut reader, &mut line, shared).await?;
                    let reply = match data {
                        Data::Gone { timed_out: false } => return Ok(()),
                        Data::Gone { timed_out: true } => {
                            return send(&mut writer, "421 4.4.2 Error: timeout exceeded").await;
                        }
                        Data::TooBig => format!(
                            "552 5.3.4 Message size exceeds fixed maximum message size of {} bytes",
                            options.max_message_bytes
                        ),
                        Data::Message(message) => accept(&session, peer, shared, &message).await,
                    };
                    session.reset();
                    reply
                }
            },
        };
        if reply.starts_with('5') {
            errors += 1;
        }
        send(&mut writer, &reply).await?;
        if errors >= options.max_errors {
            return send(&mut writer, "421 4.7.0 Error: too many errors").await;
        }
    }
}

/// Reads the message after `354` up to the line with a single dot.
async fn read_data<R>(reader: &mut R, line: &mut Vec<u8>, shared: &Shared) -> io::Result<Data>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let max = shared.options.max_message_bytes;
    let mut data = Vec::new();
    let mut too_big = false;
    loop {
        // Room for the rest of the allowance, a stuffed dot and CRLF; once
        // too big, lines are only looked at for the final dot.
        let line_max = if too_big {
            COMMAND_LINE_MAX
        } else {
            max.saturating_sub(data.len()).saturating_add(3)
        };
        let Ok(read) = timeout(
            shared.options.idle_timeout,
            read_line(reader, line, line_max),
        )
        .await
        else {
            return Ok(Data::Gone { timed_out: true });
        };
        match read? {
            Line::Eof => return Ok(Data::Gone { timed_out: false }),
            Line::TooLong => {
                too_big = true;
                data = Vec::new();
            }
            Line::Complete if line.as_slice() == b"." => break,
            Line::Complete if too_big => {}
            Line::Complete => {
                let content = line.strip_prefix(b".").unwrap_or(line);
                if data.len() + content.len() + 2 > max {
                    too_big = true;
                    data = Vec::new();
                } else {
                    data.extend_from_slice(content);
                    data.extend_from_slice(b"\r\n");
                }
            }
        }
    }
    Ok(if too_big {
        Data::TooBig
    } else {
        Data::Message(data)
    })
}

/// Stores a complete message; the reply to send.
async fn accept(session: &Session, peer: SocketAddr, shared: &Shared, message: &[u8]) -> String {
    let envelope = session.envelope(peer);
    let received = shared.clock.now_unix();
    match outbox::store(
        &shared.dir,
        &shared.options.hostname,
        received,
        &shared.sequence,
        &envelope,
        message,
    )
    .await
    {
        Ok(id) => {
            tracing::info!(%id, from = envelope.from, to = ?envelope.to, "sink stored a message");
            format!("250 2.0.0 Ok: queued as {id}")
        }
        Err(e) => {
            tracing::warn!(error = %e, "sink could not store a message");
            "451 4.3.0 Error: cannot store the message".to_owned()
        }
    }
}

/// Writes one reply in one piece (two small writes would meet Nagle's
/// algorithm and the client's delayed ACK: 40 ms per reply).
async fn send<W: AsyncWrite + Unpin>(writer: &mut W, reply: &str) -> io::Result<()> {
    let mut line = Vec::with_capacity(reply.len() + 2);
    line.extend_from_slice(reply.as_bytes());
    line.extend_from_slice(b"\r\n");
    writer.write_all(&line).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits<'static> = Limits {
        hostname: "sink.test",
        max_message_bytes: 1000,
        max_recipients: 2,
    };

    /// Runs the commands through one session; the reply code of each.
    fn codes(commands: &[&str]) -> Vec<String> {
        let mut session = Session::default();
        commands
            .iter()
            .map(|c| match session.command(c.as_bytes(), &LIMITS) {
                Action::Reply(r) | Action::Quit(r) => r.get(..3).unwrap().to_owned(),
                Action::Data => "354".to_owned(),
            })
            .collect()
    }

    #[test]
    fn commands_in_and_out_of_sequence() {
        let table: &[(&[&str], &[&str])] = &[
            (&["MAIL FROM:<a@b>"], &["503"]),
            (&["EHLO x", "RCPT TO:<a@b>"], &["250", "503"]),
            (&["EHLO x", "DATA"], &["250", "503"]),
            (
                &["EHLO x", "MAIL FROM:<a@b>", "DATA"],
                &["250", "250", "503"],
            ),
            (
                &["HELO x", "MAIL FROM:<>", "RCPT TO:<c@d>", "DATA"],
                &["250", "250", "250", "354"],
            ),
            (
                &["EHLO x", "MAIL FROM:<a@b>", "MAIL FROM:<a@b>"],
                &["250", "250", "503"],
            ),
            (
                &["EHLO x", "MAIL FROM:<a@b>", "RSET", "RCPT TO:<c@d>"],
                &["250", "250", "250", "503"],
            ),
            (
                &[
                    "ehlo x",
                    "mail from: <a@b> SIZE=10 BODY=8BITMIME",
                    "rcpt to:<c@d>",
                ],
                &["250", "250", "250"],
            ),
            (&["EHLO x", "MAIL FROM:<a@b> SIZE=1001"], &["250", "552"]),
            (&["EHLO x", "MAIL FROM:<a@b> FOO=1"], &["250", "555"]),
            (&["EHLO x", "MAIL TO:<a@b>"], &["250", "501"]),
            (
                &[
                    "EHLO x",
                    "MAIL FROM:<a@b>",
                    "RCPT TO:<>",
                    "RCPT TO:<@r:c@d>",
                ],
                &["250", "250", "501", "250"],
            ),
            (
                &[
                    "EHLO x",
                    "MAIL FROM:<a@b>",
                    "RCPT TO:<1@d>",
                    "RCPT TO:<2@d>",
                    "RCPT TO:<3@d>",
                ],
                &["250", "250", "250", "250", "452"],
            ),
            (&["EHLO", "HELO"], &["501", "501"]),
            (
                &["VRFY a@b", "VRFY", "NOOP", "HELP"],
                &["252", "501", "250", "214"],
            ),
            (
                &["EXPN list", "STARTTLS", "AUTH PLAIN x"],
                &["502", "502", "502"],
            ),
            (
                &["FOO", "GET / HTTP/1.1", "EHLO x\ry"],
                &["500", "500", "501"],
            ),
            (&["QUIT"], &["221"]),
        ];
        for (commands, want) in table {
            assert_eq!(codes(commands), *want, "{commands:?}");
        }
    }

    #[test]
    fn ehlo_advertises_size_and_8bitmime() {
        let mut session = Session::default();
        let Action::Reply(reply) = session.command(b"EHLO client.test", &LIMITS) else {
            panic!("no reply");
        };
        assert_eq!(
            reply,
            "250-sink.test greets client.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n\
             250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES"
        );
    }

    #[test]
    fn the_envelope_is_what_was_said() {
        let mut session = Session::default();
        for c in ["EHLO me", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "RCPT TO:e@f"] {
            session.command(c.as_bytes(), &LIMITS);
        }
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let envelope = session.envelope(peer);
        assert_eq!((envelope.helo, envelope.from), ("me", "a@b"));
        assert_eq!(envelope.to, ["c@d", "e@f"]);
    }
}
