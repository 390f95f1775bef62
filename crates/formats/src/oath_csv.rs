//! `privacyIDEA` / `LinOTP` "OATH CSV" (read only): the files users arrive with
//! from those servers.
//!
//! ```text
//! <serial>, <hex seed>, TOTP, <digits>, <time step>
//! <serial>, <hex seed>[, HOTP[, <digits>[, <counter>]]]
//! ```
//!
//! No header; fields trimmed; `#` lines are comments; a first line
//! `# version: 2` means every line starts with `user, resolver, realm,`
//! (the token's user is kept). Type defaults to HOTP, digits to 6, the TOTP
//! step to 30. The hash follows the seed length as privacyIDEA does (40 hex
//! digits SHA-1, 64 SHA-256, 128 SHA-512), or `LinOTP`'s sixth column when
//! present. A serial without a seed is skipped, OCRA and TAN lines are
//! skipped; both are listed in [`Reader::skipped`].

use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Serial, Step, Token};

use crate::csv_record::{PerRecord, RecordReader, Records, next_record_token};
use crate::error::{Error, ErrorKind};

/// Streaming reader of OATH CSV files.
pub struct Reader<R: BufRead> {
    records: RecordReader<R>,
    file: Option<Arc<str>>,
    /// Columns before the serial (3 in version 2 files).
    offset: usize,
    started: bool,
    tokens: u64,
    done: bool,
    skipped: crate::Skips,
}

impl<R: BufRead> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("oath_csv::Reader")
            .field("file", &self.file)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

fn field_err(e: impl Into<ErrorKind>, field: &'static str, line: u64) -> Error {
    Error::new(e).field(field).line(line)
}

impl<R: BufRead> Reader<R> {
    /// Reads `input`; `file` names it in errors.
    pub fn new(input: R, file: Option<Arc<str>>) -> Self {
        Self {
            records: RecordReader::new(input),
            file,
            offset: 0,
            started: false,
            tokens: 0,
            done: false,
            skipped: crate::Skips::default(),
        }
    }

    /// Also sends every skip note to `notes`.
    #[must_use]
    pub fn with_notes(mut self, notes: crate::Notes) -> Self {
        self.skipped.set_notes(notes);
        self
    }

    /// What was skipped so far, one message each.
    #[must_use]
    pub fn skipped(&self) -> &[String] {
        self.skipped.list()
    }

    fn get(&self, i: usize) -> &str {
        self.records.get(self.offset + i).map_or("", str::trim)
    }

    /// The token on the current line, `Ok(None)` for a comment or a skipped line.
    fn token(&mut self) -> Result<Option<Token>, Error> {
        let line = self.records.line();
        let first = self.records.get(0).map_or("", str::trim);
        if first.starts_with('#') {
            if !self.started {
                let rest = first.trim_start_matches('#').trim().to_ascii_lowercase();
                if let Some(v) = rest.strip_prefix("version:") {
                    self.offset = if v.trim() == "2" { 3 } else { 0 };
                }
            }
            self.started = true;
            return Ok(None);
        }
        self.started = true;
        let serial_text = self.get(0);
        let seed = self.get(1);
        if serial_text.is_empty() || seed.is_empty() {
            let what = if serial_text.is_empty() {
                "no serial"
            } else {
                "no seed"
            };
            self.skipped.push(format!("line {line}: {what}; skipped"));
            return Ok(None);
        }
        let kind_name = self.get(2).to_ascii_lowercase();
        let kind_name = if kind_name.is_empty() || kind_name == "hmac" {
            "hotp".to_owned()
        } else {
            kind_name
        };
        if !matches!(kind_name.as_str(), "hotp" | "totp") {
            self.skipped.push(format!(
                "line {line}: serial {serial_text} is {kind_name}, not an HOTP/TOTP token; skipped"
            ));
            return Ok(None);
        }
        let serial = Serial::new(serial_text).map_err(|e| field_err(e, "serial", line))?;
        let secret = SecretEncoding::Hex
            .decode(seed)
            .map_err(|e| field_err(e, "seed", line))?;
        let digits = match self.get(3) {
            "" => Digits::SIX,
            d => Digits::parse(d).map_err(|e| field_err(e, "otp length", line))?,
        };
        let hash = match self.get(5) {
            "" => match secret.len() {
                32 => Hash::Sha256,
                64 => Hash::Sha512,
                28 | 48 => {
                    return Err(field_err(
                        ErrorKind::Syntax("a 28- or 48-byte seed means SHA-224/384, which oathvault does not support".into()),
                        "seed",
                        line,
                    ));
                }
                _ => Hash::Sha1,
            },
            h => h.parse().map_err(|e| field_err(e, "hash", line))?,
        };
        let fifth = self.get(4);
        let kind = if kind_name == "totp" {
            let step = if fifth.is_empty() {
                Step::S30
            } else {
                Step::parse(fifth).map_err(|e| field_err(e, "time step", line))?
            };
            Kind::totp(step)
        } else {
            let counter = if fifth.is_empty() {
                0
            } else {
                fifth.parse().map_err(|_| {
                    field_err(
                        ErrorKind::Syntax(format!("{fifth:?} is not a counter")),
                        "counter",
                        line,
                    )
                })?
            };
            Kind::Hotp { counter }
        };
        let mut token = Token::totp(serial, secret, Step::S30);
        token.kind = kind;
        token.hash = hash;
        token.digits = digits;
        if self.offset == 3 {
            token.user = self
                .records
                .get(0)
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned);
        }
        Ok(Some(token))
    }
}

impl<R: BufRead> PerRecord for Reader<R> {
    type Input = R;

    fn records(&mut self) -> &mut RecordReader<R> {
        &mut self.records
    }

    fn token(&mut self) -> Result<Option<Token>, Error> {
        Reader::token(self)
    }

    fn progress(&mut self) -> (&mut bool, &mut u64) {
        (&mut self.done, &mut self.tokens)
    }

    fn nothing_skipped(&self) -> bool {
        self.skipped.is_empty()
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Token, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        next_record_token(self).map(|r| r.map_err(|e| e.in_file(self.file.as_ref())))
    }
}
