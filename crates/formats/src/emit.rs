//! What every writer shares: the [`Encoder`] and [`TokenWriter`] traits the
//! format modules implement, the [`WriteSummary`] they return, and the byte
//! helpers they write with (decimal numbers, CSV fields, XML text).
//!
//! The format modules import this module and nothing of the dispatcher
//! (`write`), which picks a format's encoder or writer: the imports run one
//! way.

use oathvault_token::Token;

use crate::error::Error;

/// Turns a token into its item bytes in one format.
pub trait Encoder: Send {
    /// Appends the token's item to `out`, or refuses a token the target
    /// cannot take (a [`crate::ErrorKind::Limit`]) without appending.
    fn encode(&mut self, token: &Token, out: &mut Vec<u8>) -> Result<(), Error>;

    /// Users left out so far because the format cannot carry them.
    fn users_dropped(&self) -> u64 {
        0
    }

    /// A header row the encoder's settings decide (Custom CSV), written
    /// after the framing's start.
    fn header(&self) -> Vec<u8> {
        Vec::new()
    }
}

/// A streaming token writer.
pub trait TokenWriter {
    /// Writes one token, or refuses it (a target limit) without writing.
    fn write(&mut self, token: &Token) -> Result<(), Error>;
    /// Completes the file and flushes.
    fn finish(self: Box<Self>) -> Result<WriteSummary, Error>;
}

/// What a writer wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Tokens written.
    pub tokens: u64,
    /// Users left out because the format cannot carry them (Graph needs
    /// object ids, not UPNs).
    pub users_dropped: u64,
}

/// Appends `n` in decimal (the hot path of `@contentId`s).
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // n % 10 < 10: the cast keeps the value.
        #[allow(clippy::cast_possible_truncation, reason = "a digit 0..=9")]
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// Appends one RFC 4180 field, quoted when it holds a comma, quote, line
/// break or surrounding spaces (which readers would trim).
pub(crate) fn csv_field(out: &mut Vec<u8>, s: &str) {
    let needs = s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
        || s.starts_with(' ')
        || s.ends_with(' ');
    if !needs {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Escapes XML text and attribute values.
pub(crate) fn escape_xml(out: &mut String, s: &str) {
    if !s
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
    {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}
