//! `YubiKey` Personalization Tool logs ("Log configuration output"), read only:
//! the OATH-HOTP slots they record become tokens; Yubico OTP, static password
//! and challenge-response lines are skipped and listed.
//!
//! Two layouts exist (privacyIDEA's `parseYubicoCSV`):
//!
//! ```text
//! OATH-HOTP,11.12.13 18:55,1,cccccccccccc,,916821d3a1…,,,0,0,0,6,0,…   traditional: type, time, slot, public id, private id, secret, …, digits at 11
//! 508327,,0,69cfb9202438ca68964ec3244bfa4843d073a43b,,2013-12-12T08:41:07,   Yubico: serial, public id, private id, secret, access code, time
//! ```
//!
//! In the Yubico layout an OATH slot has private id `0` and no public id. The
//! traditional layout names no serial: the public id (modhex) serves, or
//! `slot-<n>@line-<l>` when it is empty. Secrets are hex; HOTP, SHA-1,
//! counter 0.

use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{Digits, SecretEncoding, Serial, Token};

use crate::csv_record::{PerRecord, RecordReader, Records, next_record_token};
use crate::error::Error;

/// Streaming reader of `YubiKey` Personalization Tool logs.
pub struct Reader<R: BufRead> {
    records: RecordReader<R>,
    file: Option<Arc<str>>,
    tokens: u64,
    done: bool,
    skipped: crate::Skips,
}

impl<R: BufRead> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("yubico_csv::Reader")
            .field("file", &self.file)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads `input`; `file` names it in errors.
    pub fn new(input: R, file: Option<Arc<str>>) -> Self {
        Self {
            records: RecordReader::new(input),
            file,
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

    fn token(&mut self) -> Result<Option<Token>, Error> {
        let line = self.records.line();
        let get = |i: usize| self.records.get(i).map_or("", str::trim);
        let first = get(0);
        if first.starts_with('#') || first.is_empty() {
            return Ok(None);
        }
        let (serial, secret, digits) = if first.bytes().all(|b| b.is_ascii_digit()) {
            // Yubico layout: serial, public id, private id, secret, access code, time.
            if !(get(1).is_empty() && get(2) == "0") {
                let what = if get(2).is_empty() {
                    "a static password"
                } else {
                    "a Yubico OTP slot"
                };
                self.skipped.push(format!(
                    "line {line}: serial {first} is {what}, not an OATH token; skipped"
                ));
                return Ok(None);
            }
            (first.to_owned(), get(3), "6")
        } else {
            // Traditional layout: type, time, slot, public id, private id, secret, …, digits.
            if !first.eq_ignore_ascii_case("OATH-HOTP") {
                self.skipped.push(format!(
                    "line {line}: {first} is not an OATH token; skipped"
                ));
                return Ok(None);
            }
            let serial = if get(3).is_empty() {
                format!("slot-{}@line-{line}", get(2))
            } else {
                get(3).to_owned()
            };
            let digits = if get(11).is_empty() { "6" } else { get(11) };
            (serial, get(5), digits)
        };
        let serial = Serial::new(&serial).map_err(|e| Error::new(e).field("serial").line(line))?;
        let secret = SecretEncoding::Hex
            .decode(secret)
            .map_err(|e| Error::new(e).field("secret").line(line))?;
        let digits = Digits::parse(digits).map_err(|e| Error::new(e).field("digits").line(line))?;
        let mut token = Token::hotp(serial, secret, 0);
        token.digits = digits;
        token.manufacturer = Some("Yubico".into());
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
