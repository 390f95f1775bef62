//! The ordered end of a conversion, shared by the sequential and the
//! parallel paths: framing, duplicate serials, one kind per file, problems,
//! and the check and encoding of one token.

use std::io::Write;

use oathvault_token::Token;
use zeroize::Zeroizing;

use super::options::{Conversion, ConvertOptions};
use crate::Format;
use crate::emit::Encoder;
use crate::error::{Error, ErrorKind};
use crate::limits::{BatchClass, Rule, Target};
use crate::serials::SerialSet;
use crate::write::{Framing, encoder};

/// Output bytes gathered before a write.
const OUT_BUF: usize = 256 << 10;

/// The error of a target without an item encoder.
pub(super) fn no_encoder(to: Format) -> Error {
    Error::new(ErrorKind::Syntax(format!("{to} has no item encoder")))
}

/// The ordered end of a conversion: framing, duplicates, problems.
pub(super) struct Assembler<'o> {
    out: &'o mut dyn Write,
    /// Output gathered here and written in large pieces (wiped when done).
    buf: Zeroizing<Vec<u8>>,
    pub(super) framing: Framing,
    pub(super) target: Target,
    serials: SerialSet,
    /// The kind of the first token, for one-kind-per-file targets.
    first_class: Option<BatchClass>,
    pub(super) report: Conversion,
    shown: usize,
}

impl<'o> Assembler<'o> {
    /// `own_serials`: this assembler detects duplicate serials itself (the
    /// parallel path's workers do, in a [`super::shared_serials::SharedSerials`]).
    pub(super) fn new(
        out: &'o mut dyn Write,
        opts: &ConvertOptions,
        own_serials: bool,
    ) -> Result<Self, Error> {
        let framing = Framing::of(opts.to);
        out.write_all(framing.begin())?;
        if let Some(e) = encoder(opts.to, &opts.write) {
            out.write_all(&e.header())?;
        }
        Ok(Self {
            out,
            buf: Zeroizing::new(Vec::with_capacity(OUT_BUF + 4096)),
            framing,
            target: opts.to.target(),
            serials: if own_serials {
                SerialSet::with_capacity(serial_hint(opts))
            } else {
                SerialSet::new()
            },
            first_class: None,
            report: Conversion::default(),
            shown: opts.shown,
        })
    }

    /// Checks that a one-kind-per-file target gets one kind.
    pub(super) fn class(&mut self, serial: &str, class: Option<BatchClass>) {
        let Some(class) = class else { return };
        match self.first_class {
            None => self.first_class = Some(class),
            Some(first) if first != class => {
                let found = format!("{class}, where the file started with {first}");
                self.report
                    .problem(Rule::OneKindPerFile.message(serial, &found), self.shown);
            }
            Some(_) => {}
        }
    }

    /// Reports a serial found repeated elsewhere (the parallel path).
    pub(super) fn repeated(&mut self, serial: &str) {
        let message = Rule::DuplicateSerial.message(serial, "repeated");
        self.report.problem(message, self.shown);
    }

    /// Records a serial; a repeat is a problem for every target but jsonl.
    pub(super) fn serial(&mut self, serial: &str) {
        if self.target != Target::Any && !self.serials.insert(serial) {
            let message = Rule::DuplicateSerial.message(serial, "repeated");
            self.report.problem(message, self.shown);
        }
    }

    /// Writes `count` framed items, unless a problem was found (then
    /// nothing more is written).
    pub(super) fn items(&mut self, bytes: &[u8], count: u64) -> Result<(), Error> {
        if self.report.problem_count == 0 {
            self.report.summary.tokens += count;
            if self.buf.len() + bytes.len() > OUT_BUF {
                self.out.write_all(&self.buf)?;
                self.buf.clear();
            }
            if bytes.len() >= OUT_BUF {
                self.out.write_all(bytes)?;
            } else {
                self.buf.extend_from_slice(bytes);
            }
        }
        Ok(())
    }

    /// Ends the output (or voids it when there were problems).
    pub(super) fn finish(mut self, users_dropped: u64) -> Result<Conversion, Error> {
        if self.report.problem_count == 0 {
            self.buf
                .extend_from_slice(self.framing.end(self.report.summary.tokens));
            self.out.write_all(&self.buf)?;
            self.out.flush()?;
        } else {
            // The output is to be discarded: nothing counts as written.
            self.report.summary.tokens = 0;
        }
        self.report.summary.users_dropped = users_dropped;
        Ok(self.report)
    }
}

/// Serials to make room for: about one token per 64 input bytes (an Entra
/// CSV row is ~80).
pub(super) fn serial_hint(opts: &ConvertOptions) -> usize {
    opts.size_hint
        .map_or(0, |b| usize::try_from(b / 64).unwrap_or(0).min(1 << 26))
}

/// Checks one token and appends its framed item (`index` is 1-based);
/// `Ok(false)` when it breaks a limit (reported, nothing appended).
pub(super) fn check_encode<E: Encoder + ?Sized>(
    token: &Token,
    index: u64,
    framing: Framing,
    encoder: &mut E,
    item: &mut Vec<u8>,
    target: Target,
    problems: &mut dyn FnMut(String),
) -> Result<bool, Error> {
    let violations = target.check(token);
    if violations.is_empty() {
        framing.item(index, item);
        encoder.encode(token, item)?;
        return Ok(true);
    }
    for v in violations {
        problems(v.to_string());
    }
    Ok(false)
}
