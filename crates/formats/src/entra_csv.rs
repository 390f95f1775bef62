//! Entra MFA CSV: the admin centre's OATH token upload.
//!
//! Written with Microsoft's exact header
//! `upn,serial number,secret key,time interval,manufacturer,model`, CRLF line
//! ends and RFC 4180 quoting. Read leniently: header names in any case with
//! spaces trimmed, `timeinterval` for `time interval`, a UTF-8 BOM, with or
//! without the `upn` column, Base32 secrets in either case with or without
//! padding. Entra's CSV is TOTP, HMAC-SHA-1, six digits only.
//!
//! The same module reads and writes the SafeID Token Service CSV
//! ([`Dialect::SafeId`]): Entra's columns with the secret in upper-case hex,
//! as `docs/formats/safeid.md` defines it.

use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Step, Token};

use crate::csv_record::{RecordReader, Records};
use crate::emit::{csv_field, push_decimal};
use crate::error::{Error, ErrorKind};
use crate::limits::Target;

/// Microsoft's header, as written.
pub const HEADER: [&str; 6] = [
    "upn",
    "serial number",
    "secret key",
    "time interval",
    "manufacturer",
    "model",
];

/// Which of the two files with Entra's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Entra MFA CSV: Base32 secrets.
    #[default]
    Entra,
    /// SafeID Token Service CSV: upper-case hex secrets written; hex or
    /// Base32 read (a value is hex when it is only hex digits, even in
    /// length).
    SafeId,
}

impl Dialect {
    fn decode_secret(self, text: &str, secret: &mut oathvault_token::Secret) -> Result<(), Error> {
        let encoding = if self == Self::SafeId && is_hex(text) {
            SecretEncoding::Hex
        } else {
            SecretEncoding::Base32
        };
        encoding
            .decode_into(text, secret)
            .map_err(|e| Error::new(e).field("secret key"))
    }
}

/// Whether `text` reads as hex: hex digits only, an even number of them.
pub(crate) fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Column positions found in a header.
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    upn: Option<usize>,
    serial: usize,
    secret: usize,
    interval: usize,
    manufacturer: Option<usize>,
    model: Option<usize>,
}

fn normalise(name: &str) -> String {
    let s = name
        .trim_start_matches('\u{feff}')
        .trim()
        .trim_matches('"')
        .trim()
        .to_ascii_lowercase();
    match s.as_str() {
        "timeinterval" | "time_interval" | "time-interval" => "time interval".into(),
        "serialnumber" | "serial_number" | "serial-number" => "serial number".into(),
        "secretkey" | "secret_key" | "secret-key" => "secret key".into(),
        _ => s,
    }
}

impl Columns {
    /// Reads the header record at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut record = RecordReader::new(bytes);
        if record.read()? {
            Self::from_header(&record)
        } else {
            Err(Error::new(ErrorKind::Empty))
        }
    }

    fn from_header(header: &impl Records) -> Result<Self, Error> {
        let names: Vec<String> = (0..header.len())
            .map(|i| normalise(header.get(i).unwrap_or_default()))
            .collect();
        let find = |n: &str| names.iter().position(|h| h == n);
        let need = |n: &'static str| {
            find(n).ok_or_else(|| {
                Error::new(ErrorKind::MissingColumn {
                    column: n,
                    found: names.join(", "),
                })
                .line(1)
            })
        };
        Ok(Self {
            upn: find("upn"),
            serial: need("serial number")?,
            secret: need("secret key")?,
            interval: need("time interval")?,
            manufacturer: find("manufacturer"),
            model: find("model"),
        })
    }
}

/// Tokens from CSV records, whatever their source.
pub(crate) struct Rows<S> {
    record: S,
    file: Option<Arc<str>>,
    columns: Option<Columns>,
    /// Records read (a chunk starts at 1: it is never header-only).
    count: u64,
    done: bool,
    /// Lines of the file before this reader's input (chunks of a file).
    lines_before: u64,
    dialect: Dialect,
}

/// Streaming reader of Entra CSV files.
pub struct Reader<R: BufRead>(Rows<RecordReader<R>>);

impl<R: BufRead> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("entra_csv::Reader")
            .field("file", &self.0.file)
            .field("rows", &self.0.count)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads from `input`; `file` names it in errors.
    pub fn new(input: R, file: Option<Arc<str>>) -> Self {
        Self(Rows::new(RecordReader::new(input), file))
    }

    /// Reads a SafeID Token Service CSV (hex or Base32 secrets).
    pub fn safeid(input: R, file: Option<Arc<str>>) -> Self {
        let mut rows = Rows::new(RecordReader::new(input), file);
        rows.dialect = Dialect::SafeId;
        Self(rows)
    }

    /// Reads the next token into `token`, reusing its allocations: the fast
    /// path for converting millions of tokens. On `Err` the token's content
    /// is unspecified.
    pub fn read_into(&mut self, token: &mut Token) -> Option<Result<(), Error>> {
        self.0.read_into(token)
    }
}

/// Tokens from a chunk of a CSV file whose header was read already (see
/// [`Columns::parse`]); `lines_before` lines precede the chunk, so errors
/// give the line in the whole file.
pub(crate) fn continuation<S: Records>(
    source: S,
    file: Option<Arc<str>>,
    columns: Columns,
    lines_before: u64,
) -> Rows<S> {
    let mut r = Rows::new(source, file);
    r.columns = Some(columns);
    r.lines_before = lines_before;
    // A chunk without records is not a header-only file.
    r.count = 1;
    r
}

impl<S: Records> Rows<S> {
    fn new(record: S, file: Option<Arc<str>>) -> Self {
        Self {
            record,
            file,
            columns: None,
            count: 0,
            done: false,
            lines_before: 0,
            dialect: Dialect::Entra,
        }
    }

    fn line(&self) -> u64 {
        self.record.line()
    }

    fn next_record(&mut self) -> Result<bool, Error> {
        self.record.read()
    }

    /// A field, trimmed; `None` when absent or empty. The record was
    /// checked for UTF-8 once, as a whole, when it was read.
    fn field(&self, idx: Option<usize>) -> Option<&str> {
        let raw = idx.and_then(|i| self.record.get(i))?;
        let text = if self.record.is_ascii() {
            raw.trim_ascii()
        } else {
            raw.trim()
        };
        (!text.is_empty()).then_some(text)
    }

    fn required(&self, idx: usize, name: &'static str) -> Result<&str, Error> {
        self.field(Some(idx))
            .ok_or_else(|| Error::new(ErrorKind::Missing).field(name))
    }

    /// Fills `token` from the current record, reusing its buffers.
    fn fill(&self, c: Columns, token: &mut Token) -> Result<(), Error> {
        token
            .serial
            .set(self.required(c.serial, "serial number")?)
            .map_err(|e| Error::new(e).field("serial number"))?;
        self.dialect
            .decode_secret(self.required(c.secret, "secret key")?, &mut token.secret)?;
        let step = Step::parse(self.required(c.interval, "time interval")?)
            .map_err(|e| Error::new(e).field("time interval"))?;
        token.kind = Kind::totp(step);
        token.hash = Hash::Sha1;
        token.digits = Digits::SIX;
        set_opt(&mut token.user, self.field(c.upn));
        set_opt(&mut token.manufacturer, self.field(c.manufacturer));
        set_opt(&mut token.model, self.field(c.model));
        token.display_name = None;
        token.issuer = None;
        token.key_id = None;
        Ok(())
    }

    fn read_into(&mut self, token: &mut Token) -> Option<Result<(), Error>> {
        let before = self.lines_before;
        self.next_into(token).map(|r| {
            r.map_err(|mut e| {
                e.location.line = e.location.line.map(|l| l + before);
                e.in_file(self.file.as_ref())
            })
        })
    }

    fn next_into(&mut self, token: &mut Token) -> Option<Result<(), Error>> {
        if self.done {
            return None;
        }
        let columns = match self.columns {
            Some(c) => c,
            None => match self.next_record() {
                Ok(true) => match Columns::from_header(&self.record) {
                    Ok(c) => {
                        self.columns = Some(c);
                        c
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
                Ok(false) => {
                    self.done = true;
                    return Some(Err(Error::new(ErrorKind::Empty)));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            },
        };
        match self.next_record() {
            Ok(true) => {
                self.count += 1;
                let line = self.line();
                Some(self.fill(columns, token).map_err(|e| e.line(line)))
            }
            Ok(false) => {
                self.done = true;
                (self.count == 0).then(|| Err(Error::new(ErrorKind::HeaderOnly)))
            }
            Err(e) => {
                // A bad line is reported and reading goes on (the reader
                // is at the next line); a failing input ends it.
                if matches!(e.kind, ErrorKind::Io(_)) {
                    self.done = true;
                }
                Some(Err(e))
            }
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Token, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut token = Token::blank();
        self.read_into(&mut token).map(|r| r.map(|()| token))
    }
}

impl<R: BufRead + Send> crate::ReadInto for Reader<R> {
    fn read_into(&mut self, token: &mut Token) -> Option<Result<(), Error>> {
        self.0.read_into(token)
    }
}

impl<S: Records + Send> crate::ReadInto for Rows<S> {
    fn read_into(&mut self, token: &mut Token) -> Option<Result<(), Error>> {
        Rows::read_into(self, token)
    }
}

/// Sets an optional text field, reusing the existing buffer.
fn set_opt(dst: &mut Option<String>, value: Option<&str>) {
    match (dst.as_mut(), value) {
        (Some(d), Some(v)) => {
            d.clear();
            d.push_str(v);
        }
        (None, Some(v)) => *dst = Some(v.to_owned()),
        (_, None) => *dst = None,
    }
}

/// Encodes tokens as Entra CSV rows, or SafeID rows with
/// [`Encoder::safeid`] (the header is the framing's).
#[derive(Debug, Default)]
pub struct Encoder {
    dialect: Dialect,
}

impl Encoder {
    /// An encoder of SafeID Token Service rows (upper-case hex secrets).
    #[must_use]
    pub fn safeid() -> Self {
        Self {
            dialect: Dialect::SafeId,
        }
    }
}

impl crate::emit::Encoder for Encoder {
    fn encode(&mut self, token: &Token, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(v) = Target::EntraCsv.check(token).into_iter().next() {
            return Err(Error::new(ErrorKind::Limit(v)));
        }
        csv_field(out, token.user.as_deref().unwrap_or(""));
        out.push(b',');
        csv_field(out, token.serial.as_str());
        out.push(b',');
        let encoding = match self.dialect {
            Dialect::Entra => SecretEncoding::Base32,
            Dialect::SafeId => SecretEncoding::HexUpper,
        };
        encoding.encode_to(&token.secret, out);
        out.push(b',');
        push_decimal(out, u64::from(token.kind.step().map_or(30, Step::seconds)));
        out.push(b',');
        csv_field(out, token.manufacturer.as_deref().unwrap_or(""));
        out.push(b',');
        csv_field(out, token.model.as_deref().unwrap_or(""));
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}
