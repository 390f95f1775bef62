//! The outbox: a directory of `.eml` files, one per message the
//! [`Sink`](crate::Sink) accepted, and the functions that read it back.
//!
//! A file is named `<received>-<sequence>.eml` (`1750000000-000001.eml`):
//! the Unix time the sink accepted it (from its clock) and a counter, so
//! names sort in arrival order. Its id is the name without `.eml`. The sink
//! writes a hidden temporary file and links it into place when it is
//! complete, so a reader never sees half a message.
//!
//! The sink puts the SMTP envelope in front of the message as
//! `Return-Path: <sender>` and one `Delivered-To: <recipient>` per
//! recipient (so Bcc recipients are visible), followed by a `Received:`
//! line. The rest is the message exactly as the client sent it, with the
//! dot-stuffing undone.
//!
//! The functions here read files with blocking calls; from async code call
//! them through `tokio::task::spawn_blocking`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use mailparse::{MailAddr, MailHeaderMap, ParsedMail};
use tokio::io::AsyncWriteExt;

use crate::error::MailError;

/// A message from the outbox, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMail {
    /// The id: the file name without `.eml`.
    pub id: String,
    /// The file.
    pub file: PathBuf,
    /// When the sink accepted it, Unix seconds (from the file name; for
    /// files not named by the sink, their modification time).
    pub received: u64,
    /// The envelope sender (`MAIL FROM`), empty for the null sender `<>`;
    /// for files the sink did not write, the address in `From:`.
    pub from: String,
    /// The envelope recipients (`RCPT TO`) in order; for files the sink did
    /// not write, the addresses in `To:` and `Cc:`.
    pub to: Vec<String>,
    /// The `Subject:`, decoded (RFC 2047), empty if there is none.
    pub subject: String,
    /// The first `text/plain` part that is not an attachment, decoded, with
    /// line ends as `\n`.
    pub text: Option<String>,
    /// The first `text/html` part that is not an attachment, decoded, with
    /// line ends as `\n`.
    pub html: Option<String>,
    /// The `Message-ID:` header as written, with its angle brackets.
    pub message_id: Option<String>,
    /// The `Reply-To:` header, decoded.
    pub reply_to: Option<String>,
}

/// Every message in `dir`, oldest first (by file name). A directory that
/// does not exist is an empty outbox.
pub fn list(dir: &Path) -> Result<Vec<StoredMail>, MailError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MailError::io(dir, e)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| MailError::io(dir, e))?;
        let name = entry.file_name();
        if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".eml"))
            && valid_id(id)
        {
            ids.push(id.to_owned());
        }
    }
    ids.sort();
    ids.iter().map(|id| read(dir, id)).collect()
}

/// The message with this id (the file name without `.eml`).
///
/// Ids are checked before any file is opened: anything but letters, digits,
/// `-`, `_` and inner `.` is [`MailError::NotFound`], so a path cannot be
/// smuggled in.
pub fn read(dir: &Path, id: &str) -> Result<StoredMail, MailError> {
    let not_found = || MailError::NotFound {
        dir: dir.to_owned(),
        id: id.to_owned(),
    };
    if !valid_id(id) {
        return Err(not_found());
    }
    let file = dir.join(format!("{id}.eml"));
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(MailError::io(file, e)),
    };
    let received = match id.split_once('-').map(|(t, _)| t.parse::<u64>()) {
        Some(Ok(t)) => t,
        _ => std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs()),
    };
    parse(id, &file, received, &bytes)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && !id.contains("..")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn parse(id: &str, file: &Path, received: u64, bytes: &[u8]) -> Result<StoredMail, MailError> {
    let parse_error = |e: mailparse::MailParseError| MailError::Parse {
        path: file.to_owned(),
        reason: e.to_string(),
    };
    let mail = mailparse::parse_mail(bytes).map_err(parse_error)?;
    let headers = &mail.headers;

    // The envelope the sink wrote in front: a leading block of
    // Return-Path and Delivered-To headers.
    let mut envelope_from = None;
    let mut envelope_to = Vec::new();
    for header in headers {
        let key = header.get_key_ref();
        if key.eq_ignore_ascii_case("Return-Path") && envelope_from.is_none() {
            let value = header.get_value();
            let value = value.trim();
            let value = value.strip_prefix('<').unwrap_or(value);
            envelope_from = Some(value.strip_suffix('>').unwrap_or(value).to_owned());
        } else if key.eq_ignore_ascii_case("Delivered-To") {
            envelope_to.push(header.get_value().trim().to_owned());
        } else {
            break;
        }
    }
    let from = match envelope_from {
        Some(from) => from,
        None => addresses(&mail, &["From"])
            .map_err(parse_error)?
            .into_iter()
            .next()
            .unwrap_or_default(),
    };
    let to = if envelope_to.is_empty() {
        addresses(&mail, &["To", "Cc"]).map_err(parse_error)?
    } else {
        envelope_to
    };

    let mut text = None;
    let mut html = None;
    bodies(&mail, &mut text, &mut html).map_err(parse_error)?;
    Ok(StoredMail {
        id: id.to_owned(),
        file: file.to_owned(),
        received,
        from,
        to,
        subject: headers.get_first_value("Subject").unwrap_or_default(),
        text,
        html,
        message_id: headers
            .get_first_value("Message-ID")
            .map(|v| v.trim().to_owned()),
        reply_to: headers
            .get_first_value("Reply-To")
            .map(|v| v.trim().to_owned()),
    })
}

fn addresses(
    mail: &ParsedMail<'_>,
    names: &[&str],
) -> Result<Vec<String>, mailparse::MailParseError> {
    let mut out = Vec::new();
    for name in names {
        for header in mail.headers.get_all_headers(name) {
            for addr in mailparse::addrparse_header(header)?.into_inner() {
                match addr {
                    MailAddr::Single(single) => out.push(single.addr),
                    MailAddr::Group(group) => out.extend(group.addrs.into_iter().map(|s| s.addr)),
                }
            }
        }
    }
    Ok(out)
}

fn bodies(
    part: &ParsedMail<'_>,
    text: &mut Option<String>,
    html: &mut Option<String>,
) -> Result<(), mailparse::MailParseError> {
    if !part.subparts.is_empty() {
        for sub in &part.subparts {
            bodies(sub, text, html)?;
        }
        return Ok(());
    }
    if part.get_content_disposition().disposition == mailparse::DispositionType::Attachment {
        return Ok(());
    }
    let slot = match part.ctype.mimetype.to_ascii_lowercase().as_str() {
        "text/plain" => text,
        "text/html" => html,
        _ => return Ok(()),
    };
    if slot.is_none() {
        *slot = Some(part.get_body()?.replace("\r\n", "\n"));
    }
    Ok(())
}

/// What the sink knows about a message besides its content.
pub(crate) struct Envelope<'a> {
    /// The name the client gave in `HELO` / `EHLO`.
    pub helo: &'a str,
    /// The client's address.
    pub peer: SocketAddr,
    /// `MAIL FROM`, without angle brackets.
    pub from: &'a str,
    /// `RCPT TO`, without angle brackets.
    pub to: &'a [String],
}

/// Stores one message (already dot-unstuffed, CRLF line ends) in `dir`
/// under a fresh id, all or nothing; returns the id.
pub(crate) async fn store(
    dir: &Path,
    hostname: &str,
    received: u64,
    sequence: &AtomicU64,
    envelope: &Envelope<'_>,
    data: &[u8],
) -> Result<String, MailError> {
    // Another sink may write to the same directory: never overwrite, take
    // the next number instead.
    for _ in 0..1000 {
        let seq = sequence.fetch_add(1, Ordering::Relaxed);
        let id = format!("{received:010}-{seq:06}");
        let tmp = dir.join(format!(".{id}.tmp"));
        let file = dir.join(format!("{id}.eml"));
        if tokio::fs::try_exists(&file).await.unwrap_or(false) {
            continue;
        }
        let mut out = match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
        {
            Ok(out) => out,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(MailError::io(tmp, e)),
        };
        let head = trace_headers(hostname, received, &id, envelope);
        let written = async {
            out.write_all(head.as_bytes()).await?;
            out.write_all(data).await?;
            out.sync_all().await
        }
        .await;
        drop(out);
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(MailError::io(tmp, e));
        }
        // A hard link never replaces an existing file (rename would).
        let linked = match tokio::fs::hard_link(&tmp, &file).await {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = tokio::fs::remove_file(&tmp).await;
                continue;
            }
            // File systems without hard links: rename, the check above
            // already made a clash unlikely.
            Err(_) => tokio::fs::rename(&tmp, &file).await,
            Ok(()) => tokio::fs::remove_file(&tmp).await,
        };
        return match linked {
            Ok(()) => Ok(id),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(MailError::io(file, e))
            }
        };
    }
    Err(MailError::io(
        dir,
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free file name for the message",
        ),
    ))
}

fn trace_headers(hostname: &str, received: u64, id: &str, envelope: &Envelope<'_>) -> String {
    use std::fmt::Write as _;
    let mut head = format!("Return-Path: <{}>\r\n", envelope.from);
    for to in envelope.to {
        let _ = write!(head, "Delivered-To: {to}\r\n");
    }
    let _ = write!(
        head,
        "Received: from {} ([{}])\r\n\tby {hostname} (oathvault sink) with ESMTP id {id};\r\n\t{}\r\n",
        envelope.helo,
        envelope.peer.ip(),
        rfc5322_date(received),
    );
    head
}

/// `Sun, 15 Jun 2025 15:06:40 +0000` for Unix seconds.
pub(crate) fn rfc5322_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let name = |names: &[&'static str], i: u64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| names.get(i))
            .copied()
            .unwrap_or("?")
    };
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        name(&DAYS, days % 7),
        name(&MONTHS, month - 1),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc5322() {
        for (unix, want) in [
            (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (1_750_000_000, "Sun, 15 Jun 2025 15:06:40 +0000"),
            (4_102_444_799, "Thu, 31 Dec 2099 23:59:59 +0000"),
        ] {
            assert_eq!(rfc5322_date(unix), want, "{unix}");
        }
    }

    #[test]
    fn ids_cannot_leave_the_directory() {
        for bad in ["", "../x", "a/b", ".hidden", "a..b", "x\\y", "é"] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        for good in ["1750000000-000001", "0b7a3f2e-uuid", "a.b"] {
            assert!(valid_id(good), "{good:?}");
        }
    }

    #[test]
    fn files_without_an_envelope_fall_back_to_headers() {
        let raw = b"From: A <a@example.com>\r\nTo: b@example.com, C <c@example.com>\r\n\
Cc: d@example.com\r\nSubject: =?utf-8?b?R3LDvMOfZQ==?=\r\n\r\nbody\r\nline\r\n";
        let mail = parse("x", Path::new("x.eml"), 5, raw).unwrap();
        assert_eq!(mail.from, "a@example.com");
        assert_eq!(mail.to, ["b@example.com", "c@example.com", "d@example.com"]);
        assert_eq!(mail.subject, "Grüße");
        assert_eq!(mail.text.as_deref(), Some("body\nline\n"));
        assert_eq!(mail.html, None);
    }
}
