//! Seed-file formats: streaming readers and writers, format detection from
//! content, and the limits of each target platform.
//!
//! Every reader is an iterator of `Result<Token, Error>` over a `BufRead`;
//! every writer takes tokens one by one. Memory does not grow with the file.
//! Parsing is two-step (a raw row that mirrors the file, then a validated
//! [`Token`]) and every error names the file, line or record, and field.
//!
//! ```
//! use oathvault_formats::{Format, WriteOptions, reader, writer};
//!
//! let csv = "serial number,secret key,time interval,manufacturer,model\n\
//!            10001001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30,Deepnet Security,SafeID/Enterprise\n";
//! let mut out = Vec::new();
//! let mut w = writer(Format::EntraJson, &mut out, &WriteOptions::default())?;
//! for token in reader(Format::EntraCsv, csv.as_bytes(), None) {
//!     w.write(&token?)?;
//! }
//! w.finish()?;
//! assert!(String::from_utf8(out)?.contains(r#""secretKey":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod convert;
mod csv_record;
pub mod custom_csv;
mod detect;
pub mod dualshield;
pub mod duo_csv;
mod emit;
pub mod entra_csv;
pub mod entra_json;
mod error;
mod json_stream;
pub mod jsonl;
pub mod limits;
pub mod named_csv;
pub mod oath_csv;
pub mod okta_csv;
pub mod pskc;
mod read_all;
pub mod salesforce_csv;
mod scan;
mod serials;
mod table;
mod write;
pub mod yubico_csv;

use std::fmt;
use std::io::BufRead;
use std::str::FromStr;
use std::sync::Arc;

pub use convert::{Conversion, ConvertOptions, DEFAULT_CHUNK, convert};
pub use detect::detect;
pub use emit::{Encoder, TokenWriter, WriteSummary};
pub use error::{Error, ErrorKind, Location};
pub use limits::{BatchClass, Rule, Target, Violation};
use oathvault_token::{SecretEncoding, Token};
pub use read_all::{ReadAll, read_all};
pub use serials::SerialSet;
pub use write::{Framing, encoder, writer};

/// A seed-file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Entra admin-centre CSV (`upn,serial number,secret key,time interval,manufacturer,model`).
    EntraCsv,
    /// Microsoft Graph `#$delta` bulk JSON (also Token2's bare array).
    EntraJson,
    /// oathvault's canonical JSON Lines.
    Jsonl,
    /// PSKC (RFC 6030): plain, pre-shared key or passphrase.
    Pskc,
    /// `privacyIDEA` / `LinOTP` OATH CSV (read only).
    OathCsv,
    /// Duo's hardware token import (`serial,hexsecret,step|counter`).
    DuoCsv,
    /// Salesforce `TwoFactorInfo` rows for Data Loader (as oathvault defines it).
    SalesforceCsv,
    /// Okta Custom TOTP factor rows (as oathvault defines it).
    OktaCsv,
    /// `YubiKey` Personalization Tool log (read only).
    YubicoCsv,
    /// Columns the customer defines (write only; needs a template).
    CustomCsv,
    /// Deepnet `DualShield` token file (XML).
    DualShield,
    /// Deepnet SafeID Token Service CSV (Entra's columns, hex secret; as
    /// oathvault defines it).
    SafeIdCsv,
}

impl Format {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [Self; 12] = [
        Self::EntraCsv,
        Self::EntraJson,
        Self::Jsonl,
        Self::Pskc,
        Self::DuoCsv,
        Self::SalesforceCsv,
        Self::OktaCsv,
        Self::DualShield,
        Self::SafeIdCsv,
        Self::CustomCsv,
        Self::OathCsv,
        Self::YubicoCsv,
    ];

    /// The name used on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::EntraCsv => "entra-csv",
            Self::EntraJson => "entra-json",
            Self::Jsonl => "jsonl",
            Self::Pskc => "pskc",
            Self::OathCsv => "oath-csv",
            Self::DuoCsv => "duo-csv",
            Self::SalesforceCsv => "salesforce-csv",
            Self::OktaCsv => "okta-csv",
            Self::YubicoCsv => "yubico-csv",
            Self::CustomCsv => "custom-csv",
            Self::DualShield => "dualshield",
            Self::SafeIdCsv => "safeid-csv",
        }
    }

    /// Whether oathvault reads this format (Custom CSV is write only).
    #[must_use]
    pub fn readable(self) -> bool {
        self != Self::CustomCsv
    }

    /// Whether oathvault writes this format (some are read only).
    #[must_use]
    pub fn writable(self) -> bool {
        !matches!(self, Self::OathCsv | Self::YubicoCsv)
    }

    /// A one-line description.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::EntraCsv => "Entra MFA CSV (admin centre upload)",
            Self::EntraJson => "Entra MFA JSON (Microsoft Graph hardwareOathDevices bulk body)",
            Self::Jsonl => "oathvault canonical JSON Lines (lossless)",
            Self::Pskc => "PSKC, RFC 6030 (plain, pre-shared key, passphrase)",
            Self::OathCsv => "privacyIDEA / LinOTP OATH CSV (read only)",
            Self::DuoCsv => "Duo hardware token import (hex; one type and digit count per file)",
            Self::SalesforceCsv => {
                "Salesforce TwoFactorInfo rows for Data Loader (20-byte SHA-1 TOTP)"
            }
            Self::OktaCsv => "Okta Custom TOTP factor rows (secret encoding: --secret-encoding)",
            Self::YubicoCsv => "YubiKey Personalization Tool log (read only; OATH-HOTP slots)",
            Self::CustomCsv => {
                "your own columns (write only: --template, --no-header, --secret-encoding)"
            }
            Self::DualShield => "Deepnet DualShield token file (XML; one header per file, TOTP)",
            Self::SafeIdCsv => "Deepnet SafeID Token Service CSV (Entra columns, hex secret)",
        }
    }

    /// The usual file extension.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::EntraCsv
            | Self::OathCsv
            | Self::DuoCsv
            | Self::SalesforceCsv
            | Self::OktaCsv
            | Self::YubicoCsv
            | Self::CustomCsv
            | Self::SafeIdCsv => "csv",
            Self::EntraJson => "json",
            Self::Jsonl => "jsonl",
            Self::Pskc | Self::DualShield => "xml",
        }
    }

    /// The limits of the platform the format feeds.
    #[must_use]
    pub fn target(self) -> Target {
        match self {
            Self::EntraCsv | Self::SafeIdCsv => Target::EntraCsv,
            Self::EntraJson => Target::EntraGraph,
            Self::Jsonl | Self::Pskc | Self::OathCsv | Self::YubicoCsv | Self::CustomCsv => {
                Target::Any
            }
            Self::DuoCsv => Target::Duo,
            Self::SalesforceCsv => Target::Salesforce,
            Self::OktaCsv => Target::Okta,
            Self::DualShield => Target::DualShield,
        }
    }

    /// Whether the writer honours `--secret-encoding` (others fix it).
    #[must_use]
    pub fn chooses_secret_encoding(self) -> bool {
        matches!(self, Self::Jsonl | Self::OktaCsv | Self::CustomCsv)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let want = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|f| f.name() == want)
            .ok_or_else(|| {
                format!(
                    "unknown format {s:?} (known: {})",
                    Self::ALL.map(Self::name).join(", ")
                )
            })
    }
}

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Secret encoding, for formats that let the user choose.
    pub secret_encoding: SecretEncoding,
    /// The layout of a Custom CSV.
    pub custom: Option<custom_csv::Template>,
    /// How a PSKC file protects its secrets.
    pub pskc: pskc::Protection,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            secret_encoding: SecretEncoding::Base32,
            custom: None,
            pskc: pskc::Protection::Plain,
        }
    }
}

/// Reader settings.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Keys for protected PSKC files.
    pub pskc: pskc::Keys,
    /// Where readers say what they skipped (keys that are not OTP tokens, …).
    pub notes: Notes,
    /// The batch type of a Duo CSV file (the file does not say).
    pub duo: Option<duo_csv::DuoType>,
    /// Where PSKC keys without a serial get one (`--serial-from`).
    pub serial_from: Option<pskc::SerialFrom>,
    /// Whether messages name the command line's flags or a form's fields.
    pub prompts: pskc::Prompts,
    /// The file's XML signature was verified before reading
    /// ([`pskc::verify_signature`]): no "signed, not verified" note.
    pub signature_verified: bool,
    /// Threads a reader may use on a file it splits itself (PSKC's
    /// `KeyPackage`s); 0 and 1 both mean one. The result is the same.
    pub threads: usize,
}

/// A shared list of notes readers leave for the user: what was skipped and
/// why, and what else they noticed (a draft layout read, a signature not
/// verified). Cloning shares the list.
#[derive(Debug, Clone, Default)]
pub struct Notes(Arc<std::sync::Mutex<Vec<(NoteKind, String)>>>);

/// What a note is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoteKind {
    Skip,
    Info,
}

/// What one reader skipped, also sent to shared [`Notes`] when given.
#[derive(Debug, Default)]
pub(crate) struct Skips {
    list: Vec<String>,
    notes: Option<Notes>,
    /// Notes that are not skips (the layout read, a signature seen).
    informational: usize,
}

impl Skips {
    pub(crate) fn set_notes(&mut self, notes: Notes) {
        self.notes = Some(notes);
    }

    pub(crate) fn push(&mut self, note: String) {
        if let Some(n) = &self.notes {
            n.add(NoteKind::Skip, note.clone());
        }
        self.list.push(note);
    }

    /// A note that is not a skip: it does not make a file "not empty".
    pub(crate) fn inform(&mut self, note: String) {
        self.informational += 1;
        if let Some(n) = &self.notes {
            n.add(NoteKind::Info, note.clone());
        }
        self.list.push(note);
    }

    pub(crate) fn list(&self) -> &[String] {
        &self.list
    }

    /// No key was skipped.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.len() == self.informational
    }
}

impl Notes {
    fn add(&self, kind: NoteKind, note: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push((kind, note));
        }
    }

    /// Adds a note about something skipped.
    pub fn push(&self, note: String) {
        self.add(NoteKind::Skip, note);
    }

    /// Adds a note that is not about a skip (a signature verified, …).
    pub fn inform(&self, note: String) {
        self.add(NoteKind::Info, note);
    }

    /// Takes every note so far.
    #[must_use]
    pub fn take(&self) -> Vec<String> {
        let (mut skipped, info) = self.take_split();
        skipped.extend(info);
        skipped
    }

    /// Takes every note so far: what was skipped, then the other notes.
    #[must_use]
    pub fn take_split(&self) -> (Vec<String>, Vec<String>) {
        let all = self
            .0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        let mut skipped = Vec::new();
        let mut info = Vec::new();
        for (kind, note) in all {
            match kind {
                NoteKind::Skip => skipped.push(note),
                NoteKind::Info => info.push(note),
            }
        }
        (skipped, info)
    }
}

/// A streaming token reader.
pub type TokenReader<'a> = Box<dyn Iterator<Item = Result<Token, Error>> + Send + 'a>;

/// A reader that fills a caller's token in place, so a long conversion
/// reuses the same allocations (see [`reader_into`]).
pub trait ReadInto: Send {
    /// Reads the next token into `token`; `None` at the end. On `Err` the
    /// token's content is unspecified and must not be used.
    fn read_into(&mut self, token: &mut Token) -> Option<Result<(), Error>>;
}

/// Any token iterator reads into a token by replacing it.
struct Replacing<'a>(TokenReader<'a>);

impl ReadInto for Replacing<'_> {
    fn read_into(&mut self, token: &mut Token) -> Option<Result<(), Error>> {
        self.0.next().map(|r| r.map(|t| *token = t))
    }
}

/// Opens a reader of `format` that fills tokens in place (allocation-free
/// for Entra CSV; other formats replace the token).
pub fn reader_into<'a, R: BufRead + Send + 'a>(
    format: Format,
    input: R,
    file: Option<Arc<str>>,
    options: &ReadOptions,
) -> Box<dyn ReadInto + 'a> {
    match format {
        Format::EntraCsv => Box::new(entra_csv::Reader::new(input, file)),
        Format::SafeIdCsv => Box::new(entra_csv::Reader::safeid(input, file)),
        _ => Box::new(Replacing(reader_with(format, input, file, options))),
    }
}

/// Opens a reader of `format` over `input`; `file` names it in errors.
pub fn reader<'a, R: BufRead + Send + 'a>(
    format: Format,
    input: R,
    file: Option<Arc<str>>,
) -> TokenReader<'a> {
    reader_with(format, input, file, &ReadOptions::default())
}

/// Opens a reader of `format` with keys for protected files.
pub fn reader_with<'a, R: BufRead + Send + 'a>(
    format: Format,
    input: R,
    file: Option<Arc<str>>,
    options: &ReadOptions,
) -> TokenReader<'a> {
    match format {
        Format::EntraCsv => Box::new(entra_csv::Reader::new(input, file)),
        Format::SafeIdCsv => Box::new(entra_csv::Reader::safeid(input, file)),
        Format::EntraJson => Box::new(entra_json::Reader::new(input, file)),
        Format::Jsonl => Box::new(jsonl::Reader::new(input, file)),
        Format::Pskc => Box::new(
            pskc::Reader::new(input, file, options.pskc.clone())
                .with_notes(options.notes.clone())
                .with_serial_from(options.serial_from.clone())
                .with_prompts(options.prompts)
                .with_signature_verified(options.signature_verified)
                .with_threads(options.threads),
        ),
        Format::OathCsv => {
            Box::new(oath_csv::Reader::new(input, file).with_notes(options.notes.clone()))
        }
        Format::DuoCsv => Box::new(duo_csv::Reader::new(input, file, options.duo)),
        Format::SalesforceCsv => salesforce_csv::reader(input, file),
        Format::OktaCsv => okta_csv::reader(input, file),
        Format::YubicoCsv => {
            Box::new(yubico_csv::Reader::new(input, file).with_notes(options.notes.clone()))
        }
        Format::DualShield => Box::new(dualshield::Reader::new(input, file)),
        Format::CustomCsv => {
            let e = Error::new(ErrorKind::Syntax(
                "custom-csv is written, not read; name the input format with --from".into(),
            ));
            Box::new(std::iter::once(Err(e.in_file(file.as_ref()))))
        }
    }
}
