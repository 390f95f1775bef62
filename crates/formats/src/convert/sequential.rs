//! The single-threaded paths: item encoders over any reader, and writers
//! with per-file state (PSKC) that take the whole file on one thread.

use std::io::Write;

use oathvault_token::Token;
use zeroize::Zeroize;

use super::assembler::{Assembler, check_encode, no_encoder};
use super::options::{Conversion, ConvertOptions};
use crate::ReadInto;
use crate::error::Error;
use crate::limits::{BatchClass, Rule, Target};
use crate::serials::SerialSet;
use crate::write::encoder;

/// Formats with per-file state (PSKC): one writer, one thread. Nothing is
/// written after the first problem; every problem is still reported.
pub(super) fn through_writer(
    mut source: Box<dyn ReadInto + '_>,
    out: &mut dyn Write,
    opts: &ConvertOptions,
) -> Result<Conversion, Error> {
    let mut report = Conversion::default();
    let mut w = crate::writer(opts.to, &mut *out, &opts.write)?;
    let target = opts.to.target();
    let mut serials = SerialSet::new();
    let mut first_class: Option<BatchClass> = None;
    let mut token = Token::blank();
    while let Some(read) = source.read_into(&mut token) {
        if report.problem_count >= opts.stop_after {
            report.stopped = true;
            break;
        }
        if let Err(e) = read {
            report.problem(e.to_string(), opts.shown);
            continue;
        }
        if target != Target::Any && !serials.insert(token.serial.as_str()) {
            report.problem(
                Rule::DuplicateSerial.message(token.serial.as_str(), "repeated"),
                opts.shown,
            );
        }
        for v in target.check(&token) {
            report.problem(v.to_string(), opts.shown);
        }
        if let Some(class) = target.batch_class(&token) {
            match first_class {
                None => first_class = Some(class),
                Some(first) if first != class => {
                    let found = format!("{class}, where the file started with {first}");
                    report.problem(
                        Rule::OneKindPerFile.message(token.serial.as_str(), &found),
                        opts.shown,
                    );
                }
                Some(_) => {}
            }
        }
        if report.problem_count == 0 {
            w.write(&token)?;
        }
    }
    if report.problem_count == 0 {
        report.summary = w.finish()?;
    }
    Ok(report)
}

/// Tokens read ahead per batch sent from the reading thread.
const BATCH: usize = 256;

/// Reads on a second thread while this one checks, encodes and writes:
/// readers that cannot be split into chunks (PSKC's XML, decryption and
/// MACs) still use two cores. Items arrive in file order, so the output is
/// byte-for-byte the single-threaded one.
pub(super) fn read_ahead(
    mut source: Box<dyn ReadInto + '_>,
    out: &mut dyn Write,
    opts: &ConvertOptions,
) -> Result<Conversion, Error> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<Token, Error>>>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut token = Token::blank();
            while let Some(read) = source.read_into(&mut token) {
                batch.push(read.map(|()| std::mem::replace(&mut token, Token::blank())));
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(full).is_err() {
                        return; // the writing side stopped
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
        });
        let items = rx.into_iter().flatten();
        sequential(Box::new(Received(Box::new(items))), out, opts)
    })
}

/// Tokens from the reading thread, as a reader.
struct Received<'a>(Box<dyn Iterator<Item = Result<Token, Error>> + Send + 'a>);

impl ReadInto for Received<'_> {
    fn read_into(&mut self, token: &mut Token) -> Option<Result<(), Error>> {
        self.0.next().map(|r| r.map(|t| *token = t))
    }
}

/// Reads, checks and encodes token by token on this thread.
pub(super) fn sequential(
    mut source: Box<dyn ReadInto + '_>,
    out: &mut dyn Write,
    opts: &ConvertOptions,
) -> Result<Conversion, Error> {
    let mut asm = Assembler::new(out, opts, true)?;
    let mut encoder = encoder(opts.to, &opts.write).ok_or_else(|| no_encoder(opts.to))?;
    let mut token = Token::blank();
    let mut item = Vec::with_capacity(512);
    // Records read, good or bad: item `n` is record `n` (numbers matter only
    // when every record is good, since a bad one voids the output).
    let mut records = 0u64;
    while let Some(read) = source.read_into(&mut token) {
        records += 1;
        if asm.report.problem_count >= opts.stop_after {
            asm.report.stopped = true;
            break;
        }
        if let Err(e) = read {
            asm.report.problem(e.to_string(), opts.shown);
            continue;
        }
        asm.serial(token.serial.as_str());
        asm.class(token.serial.as_str(), asm.target.batch_class(&token));
        // Reused: cleared per token, wiped once at the end.
        item.clear();
        let mut found = Vec::new();
        let (framing, target) = (asm.framing, asm.target);
        if check_encode(
            &token,
            records,
            framing,
            encoder.as_mut(),
            &mut item,
            target,
            &mut |p| {
                found.push(p);
            },
        )? {
            asm.items(&item, 1)?;
        }
        for p in found {
            asm.report.problem(p, opts.shown);
        }
    }
    item.zeroize();
    asm.finish(encoder.users_dropped())
}
