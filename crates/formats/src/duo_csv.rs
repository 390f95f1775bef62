//! Duo CSV: what Duo's Admin Panel "Import Hardware Tokens" box takes.
//!
//! ```text
//! 10001001,3132333435363738393031323334353637383930,30      TOTP: serial, hex seed, time step
//! 20000001,3132333435363738393031323334353637383930,0       HOTP: serial, hex seed, counter
//! ```
//!
//! No header, hex seeds, no type or digit count in the file: Duo's form asks
//! for "HOTP/TOTP 6/8-digit" for the whole batch, so a file holds one type and
//! one digit count (SHA-1 only). Reading therefore needs the type
//! ([`DuoType`]); writing refuses a mixed file, naming the first token that
//! differs.

use std::fmt;
use std::io::BufRead;
use std::str::FromStr;
use std::sync::Arc;

use oathvault_token::{Digits, Kind, SecretEncoding, Serial, Step, Token};

use crate::csv_record::{RecordReader, Records};
use crate::emit::{csv_field, push_decimal};
use crate::error::{Error, ErrorKind};
use crate::limits::Target;

/// The batch type chosen in Duo's import form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuoType {
    /// TOTP, 6 digits.
    Totp6,
    /// TOTP, 8 digits.
    Totp8,
    /// HOTP, 6 digits.
    Hotp6,
    /// HOTP, 8 digits.
    Hotp8,
}

impl DuoType {
    fn totp(self) -> bool {
        matches!(self, Self::Totp6 | Self::Totp8)
    }

    fn digits(self) -> Digits {
        if matches!(self, Self::Totp6 | Self::Hotp6) {
            Digits::SIX
        } else {
            Digits::EIGHT
        }
    }
}

impl fmt::Display for DuoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Totp6 => "totp6",
            Self::Totp8 => "totp8",
            Self::Hotp6 => "hotp6",
            Self::Hotp8 => "hotp8",
        })
    }
}

impl FromStr for DuoType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' ', '_'], "")
            .as_str()
        {
            "totp6" | "t6" => Ok(Self::Totp6),
            "totp8" | "t8" => Ok(Self::Totp8),
            "hotp6" | "h6" => Ok(Self::Hotp6),
            "hotp8" | "h8" => Ok(Self::Hotp8),
            _ => Err(format!(
                "unknown Duo token type {s:?} (totp6, totp8, hotp6 or hotp8)"
            )),
        }
    }
}

/// Streaming reader of Duo CSV files.
pub struct Reader<R: BufRead> {
    records: RecordReader<R>,
    file: Option<Arc<str>>,
    kind: Option<DuoType>,
    tokens: u64,
    done: bool,
}

impl<R: BufRead> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("duo_csv::Reader")
            .field("file", &self.file)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads `input` as tokens of `kind` (`None`: every line is refused with
    /// a message asking for the type); `file` names it in errors.
    pub fn new(input: R, file: Option<Arc<str>>, kind: Option<DuoType>) -> Self {
        Self {
            records: RecordReader::new(input),
            file,
            kind,
            tokens: 0,
            done: false,
        }
    }

    fn token(&self, kind: DuoType) -> Result<Token, Error> {
        let line = self.records.line();
        let get = |i: usize| self.records.get(i).map_or("", str::trim);
        let serial = Serial::new(get(0)).map_err(|e| Error::new(e).field("serial").line(line))?;
        let secret = SecretEncoding::Hex
            .decode(get(1))
            .map_err(|e| Error::new(e).field("secret").line(line))?;
        let third = get(2);
        let token_kind = if kind.totp() {
            let step = if third.is_empty() {
                Step::S30
            } else {
                Step::parse(third).map_err(|e| Error::new(e).field("time step").line(line))?
            };
            Kind::totp(step)
        } else {
            let counter = if third.is_empty() {
                0
            } else {
                third.parse().map_err(|_| {
                    Error::new(ErrorKind::Syntax(format!("{third:?} is not a counter")))
                        .field("counter")
                        .line(line)
                })?
            };
            Kind::Hotp { counter }
        };
        let mut token = Token::totp(serial, secret, Step::S30);
        token.kind = token_kind;
        token.digits = kind.digits();
        Ok(token)
    }

    fn next_token(&mut self) -> Option<Result<Token, Error>> {
        if self.done {
            return None;
        }
        match self.records.read() {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return (self.tokens == 0).then(|| Err(Error::new(ErrorKind::NoTokens)));
            }
            Err(e) => {
                self.done = matches!(e.kind, ErrorKind::Io(_));
                return Some(Err(e));
            }
        }
        let Some(kind) = self.kind else {
            self.done = true;
            return Some(Err(Error::new(ErrorKind::Syntax(
                "a Duo CSV file says neither the token type nor the digits; \
                 give them with --duo-type totp6|totp8|hotp6|hotp8"
                    .into(),
            ))));
        };
        self.tokens += 1;
        Some(self.token(kind))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Token, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_token()
            .map(|r| r.map_err(|e| e.in_file(self.file.as_ref())))
    }
}

/// Encodes tokens as Duo CSV lines.
#[derive(Debug, Default)]
pub struct Encoder;

impl crate::emit::Encoder for Encoder {
    fn encode(&mut self, token: &Token, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(v) = Target::Duo.check(token).into_iter().next() {
            return Err(Error::new(ErrorKind::Limit(v)));
        }
        csv_field(out, token.serial.as_str());
        out.push(b',');
        SecretEncoding::Hex.encode_to(&token.secret, out);
        out.push(b',');
        let third = match token.kind {
            Kind::Totp { step, .. } => u64::from(step.seconds()),
            Kind::Hotp { counter } => counter,
        };
        push_decimal(out, third);
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}
