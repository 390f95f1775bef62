//! Reading a whole seed file before anything is stored: every token, or
//! every problem (with file, line and field), never a mix.

use std::io::BufRead;
use std::sync::Arc;

use crate::{Format, ReadOptions, reader_with};
use oathvault_token::Token;

/// A file read to the end.
#[derive(Debug, Default)]
pub struct ReadAll {
    /// The tokens read without error.
    pub tokens: Vec<Token>,
    /// Every problem, in file order.
    pub problems: Vec<String>,
    /// What the reader skipped and why (not errors).
    pub notes: Vec<String>,
}

impl ReadAll {
    /// One line for the audit log when the file is refused.
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "{} problem(s) reading it, the first: {}",
            self.problems.len(),
            self.problems.first().map_or("", String::as_str)
        )
    }
}

/// Reads every token of `input` (in `format`; `name` is used in messages).
pub fn read_all<R: BufRead + Send>(
    format: Format,
    input: R,
    name: &Arc<str>,
    options: &ReadOptions,
) -> ReadAll {
    let mut out = ReadAll::default();
    for t in reader_with(format, input, Some(Arc::clone(name)), options) {
        match t {
            Ok(t) => out.tokens.push(t),
            Err(e) => out.problems.push(e.to_string()),
        }
    }
    out.notes = options.notes.take();
    out
}
