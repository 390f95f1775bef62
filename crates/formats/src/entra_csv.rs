//! Entra MFA CSV: the admin centre's OATH token upload.
//!
//! Written with Microsoft's exact header
//! `upn,serial number,secret key,time interval,manufacturer,model`, CRLF line
//! ends and RFC 4180 quoting. Read leniently: header names in any case with
//! spaces trimmed, `timeinterval` for `time interval`, a UTF-8 BOM, with or
//! without the `upn` column, Base32 secrets in either case with or without
//! padding. Entra's CSV is TOTP, HMAC-SHA-1, six digits only.

use std::io::{BufRead, Write};
use std::sync::Arc;

use csv::{ByteRecord, ReaderBuilder, Terminator, WriterBuilder};
use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Step, Token};
use zeroize::Zeroize;

use crate::error::{Error, ErrorKind};
use crate::limits::Target;
use crate::{TokenWriter, WriteSummary};

/// Microsoft's header, as written.
pub const HEADER: [&str; 6] = [
    "upn",
    "serial number",
    "secret key",
    "time interval",
    "manufacturer",
    "model",
];

/// Column positions found in a header.
#[derive(Debug, Clone, Copy)]
struct Columns {
    upn: Option<usize>,
    serial: usize,
    secret: usize,
    interval: usize,
    manufacturer: Option<usize>,
    model: Option<usize>,
}

fn normalise(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    let s = s
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
    fn from_header(header: &ByteRecord) -> Result<Self, Error> {
        let names: Vec<String> = header.iter().map(normalise).collect();
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

/// Streaming reader of Entra CSV files.
pub struct Reader<R: BufRead> {
    csv: csv::Reader<R>,
    file: Option<Arc<str>>,
    columns: Option<Columns>,
    record: ByteRecord,
    rows: u64,
    done: bool,
}

impl<R: BufRead> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("entra_csv::Reader")
            .field("file", &self.file)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads from `input`; `file` names it in errors.
    pub fn new(input: R, file: Option<Arc<str>>) -> Self {
        let csv = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        Self {
            csv,
            file,
            columns: None,
            record: ByteRecord::new(),
            rows: 0,
            done: false,
        }
    }

    fn line(&self) -> u64 {
        self.record.position().map_or(0, csv::Position::line)
    }

    fn next_record(&mut self) -> Result<bool, Error> {
        self.csv
            .read_byte_record(&mut self.record)
            .map_err(|e| csv_error(&e))
    }

    fn field(&self, idx: Option<usize>, name: &'static str) -> Result<Option<&str>, Error> {
        let Some(raw) = idx.and_then(|i| self.record.get(i)) else {
            return Ok(None);
        };
        let text = std::str::from_utf8(raw)
            .map_err(|_| Error::new(ErrorKind::Syntax("is not valid UTF-8".into())).field(name))?
            .trim();
        Ok((!text.is_empty()).then_some(text))
    }

    fn required(&self, idx: usize, name: &'static str) -> Result<&str, Error> {
        self.field(Some(idx), name)?
            .ok_or_else(|| Error::new(ErrorKind::Missing).field(name))
    }

    /// Fills `token` from the current record, reusing its buffers.
    fn fill(&self, c: Columns, token: &mut Token) -> Result<(), Error> {
        token
            .serial
            .set(self.required(c.serial, "serial number")?)
            .map_err(|e| Error::new(e).field("serial number"))?;
        SecretEncoding::Base32
            .decode_into(self.required(c.secret, "secret key")?, &mut token.secret)
            .map_err(|e| Error::new(e).field("secret key"))?;
        let step = Step::parse(self.required(c.interval, "time interval")?)
            .map_err(|e| Error::new(e).field("time interval"))?;
        token.kind = Kind::totp(step);
        token.hash = Hash::Sha1;
        token.digits = Digits::SIX;
        set_opt(&mut token.user, self.field(c.upn, "upn")?);
        set_opt(
            &mut token.manufacturer,
            self.field(c.manufacturer, "manufacturer")?,
        );
        set_opt(&mut token.model, self.field(c.model, "model")?);
        token.display_name = None;
        token.issuer = None;
        token.key_id = None;
        Ok(())
    }

    /// Reads the next token into `token`, reusing its allocations: the fast
    /// path for converting millions of tokens. On `Err` the token's content
    /// is unspecified.
    pub fn read_into(&mut self, token: &mut Token) -> Option<Result<(), Error>> {
        self.next_into(token)
            .map(|r| r.map_err(|e| e.in_file(self.file.as_ref())))
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
                self.rows += 1;
                let line = self.line();
                Some(self.fill(columns, token).map_err(|e| e.line(line)))
            }
            Ok(false) => {
                self.done = true;
                (self.rows == 0).then(|| Err(Error::new(ErrorKind::HeaderOnly)))
            }
            Err(e) => {
                // The CSV layer cannot resynchronise after a syntax error.
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn csv_error(e: &csv::Error) -> Error {
    let line = e.position().map(csv::Position::line);
    let msg = match e.kind() {
        csv::ErrorKind::Io(io) => {
            return Error::new(std::io::Error::new(io.kind(), io.to_string()));
        }
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_owned(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has {len} fields where the header has {expected_len}")
        }
        _ => "malformed CSV".to_owned(),
    };
    let err = Error::new(ErrorKind::Syntax(msg));
    match line {
        Some(l) => err.line(l),
        None => err,
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
        Reader::read_into(self, token)
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

/// Streaming writer of Entra CSV files.
pub struct Writer<W: Write> {
    csv: csv::Writer<W>,
    secret: String,
    summary: WriteSummary,
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("entra_csv::Writer")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Writer<W> {
    /// Writes the header now and a row per token.
    pub fn new(output: W) -> Result<Self, Error> {
        let mut csv = WriterBuilder::new()
            .terminator(Terminator::CRLF)
            .from_writer(output);
        csv.write_record(HEADER).map_err(|e| csv_error(&e))?;
        Ok(Self {
            csv,
            secret: String::with_capacity(128),
            summary: WriteSummary::default(),
        })
    }
}

impl<W: Write> TokenWriter for Writer<W> {
    fn write(&mut self, token: &Token) -> Result<(), Error> {
        if let Some(v) = Target::EntraCsv.check(token).into_iter().next() {
            return Err(Error::new(ErrorKind::Limit(v)));
        }
        let step = token.kind.step().map_or(30, Step::seconds).to_string();
        self.secret.zeroize();
        SecretEncoding::Base32.encode_append(&token.secret, &mut self.secret);
        let row: [&[u8]; 6] = [
            token.user.as_deref().unwrap_or("").as_bytes(),
            token.serial.as_str().as_bytes(),
            self.secret.as_bytes(),
            step.as_bytes(),
            token.manufacturer.as_deref().unwrap_or("").as_bytes(),
            token.model.as_deref().unwrap_or("").as_bytes(),
        ];
        self.csv.write_record(row).map_err(|e| csv_error(&e))?;
        self.summary.tokens += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<WriteSummary, Error> {
        self.secret.zeroize();
        self.csv.flush()?;
        Ok(self.summary)
    }
}
