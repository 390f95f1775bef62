//! Errors that say where: file, line (or record) and field, never a secret.

use std::fmt;
use std::io;
use std::sync::Arc;

use oathvault_token::{EncodingError, TokenError};
use thiserror::Error;

use crate::limits::Violation;

/// Where in the input something went wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// File name as the user gave it (`-` for standard input).
    pub file: Option<Arc<str>>,
    /// 1-based line number.
    pub line: Option<u64>,
    /// 1-based record (token) number, for formats where lines are not records.
    pub record: Option<u64>,
    /// The field, named as the format names it (`secret key`, `secretKey`, …).
    pub field: Option<&'static str>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(file) = &self.file {
            parts.push(file.to_string());
        }
        match (self.record, self.line) {
            (Some(r), Some(l)) => parts.push(format!("record {r} (line {l})")),
            (None, Some(l)) => parts.push(format!("line {l}")),
            (Some(r), None) => parts.push(format!("record {r}")),
            (None, None) => {}
        }
        if let Some(field) = self.field {
            parts.push(format!("field `{field}`"));
        }
        f.write_str(&parts.join(": "))
    }
}

/// What went wrong.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A field value is not valid.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A secret cannot be decoded.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// A required field is absent or empty.
    #[error("is missing or empty")]
    Missing,
    /// Malformed syntax (CSV quoting, JSON). The message never quotes data.
    #[error("{0}")]
    Syntax(String),
    /// A required column is not in the header.
    #[error("the header has no `{column}` column (found: {found})")]
    MissingColumn {
        /// Column needed.
        column: &'static str,
        /// Columns present, comma-separated.
        found: String,
    },
    /// The input has no bytes (or only whitespace).
    #[error("the file is empty")]
    Empty,
    /// A CSV with a header and no rows.
    #[error("the file has a header but no tokens")]
    HeaderOnly,
    /// A structured file with no token entries.
    #[error("the file holds no tokens")]
    NoTokens,
    /// Not text: a ZIP, PGP or other binary file.
    #[error("{0}")]
    Binary(&'static str),
    /// The content matches no known format.
    #[error("cannot tell the format: {0}")]
    Unrecognised(String),
    /// A token the target format cannot take.
    #[error("{0}")]
    Limit(Violation),
}

/// A format error with its location.
#[derive(Debug)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where.
    pub location: Location,
}

impl Error {
    /// An error without a location yet.
    pub fn new(kind: impl Into<ErrorKind>) -> Self {
        Self {
            kind: kind.into(),
            location: Location::default(),
        }
    }

    /// Sets the field.
    #[must_use]
    pub fn field(mut self, field: &'static str) -> Self {
        self.location.field = Some(field);
        self
    }

    /// Sets the line.
    #[must_use]
    pub fn line(mut self, line: u64) -> Self {
        self.location.line = Some(line);
        self
    }

    /// Sets the record number.
    #[must_use]
    pub fn record(mut self, record: u64) -> Self {
        self.location.record = Some(record);
        self
    }

    /// Sets the file, if none is set.
    #[must_use]
    pub fn in_file(mut self, file: Option<&Arc<str>>) -> Self {
        if self.location.file.is_none() {
            self.location.file = file.cloned();
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.location.to_string();
        if loc.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{loc}: {}", self.kind)
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::new(e)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}
