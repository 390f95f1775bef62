//! The parallel path: a chunker thread, workers that read, check and encode
//! chunks, and an assembler that puts their items back in file order.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use oathvault_token::Token;
use zeroize::Zeroizing;

use super::assembler::{Assembler, check_encode, no_encoder, serial_hint};
use super::chunker::{Chunk, Chunker};
use super::options::{Conversion, ConvertOptions};
use super::shared_serials::{Batch, SharedSerials};
use crate::csv_record::{RecordReader, TextRecords};
use crate::emit::Encoder;
use crate::entra_csv::{self, Columns};
use crate::error::{Error, ErrorKind};
use crate::limits::{BatchClass, Target};
use crate::write::{Framing, encoder};
use crate::{Format, ReadInto, jsonl};

/// What a worker made of a chunk.
#[derive(Default)]
struct Done {
    seq: u64,
    /// Framed items, back to back, ready to write.
    items: Zeroizing<Vec<u8>>,
    written: u64,
    /// Serials of every token read, back to back, and where each ends, with
    /// the token's place (record number in the file).
    serials: Vec<u8>,
    serial_ends: Vec<(usize, u64)>,
    /// Per token, its kind for one-kind-per-file targets.
    classes: Vec<Option<BatchClass>>,
    /// Problems with their place among the tokens: `2n` before token `n`
    /// (a record that could not be read), `2n + 1` after it (its limits).
    problems: Vec<(usize, String)>,
    problem_count: usize,
    users_dropped: u64,
}

fn work(
    chunk: &Chunk,
    columns: Option<Columns>,
    opts: &ConvertOptions,
    encoder: &mut dyn Encoder,
    shared: Option<&SharedSerials>,
    batch: &mut Batch,
) -> Result<Done, Error> {
    let mut source: Box<dyn ReadInto + '_> = match columns {
        // Checked as UTF-8 once, the chunk's fields are slices of it; a
        // chunk that is not UTF-8 is read line by line to name the line.
        Some(c) => match std::str::from_utf8(&chunk.bytes) {
            Ok(text) => Box::new(entra_csv::continuation(
                TextRecords::new(text),
                opts.file.clone(),
                c,
                chunk.lines_before,
            )),
            Err(_) => Box::new(entra_csv::continuation(
                RecordReader::new(chunk.bytes.as_slice()),
                opts.file.clone(),
                c,
                chunk.lines_before,
            )),
        },
        None => Box::new(JsonlChunk(jsonl::Reader::continuation(
            chunk.bytes.as_slice(),
            opts.file.clone(),
            chunk.lines_before,
        ))),
    };
    let mut done = Done {
        seq: chunk.seq,
        items: Zeroizing::new(Vec::with_capacity(chunk.bytes.len() * 3)),
        ..Done::default()
    };
    let mut token = Token::blank();
    let target = opts.to.target();
    let framing = Framing::of(opts.to);
    let dropped_before = encoder.users_dropped();
    let mut record = chunk.records_before;
    batch.clear();
    while let Some(read) = source.read_into(&mut token) {
        record += 1;
        // A record not read is before the next token; limits after it.
        let at = 2 * done.serial_ends.len() + usize::from(read.is_ok());
        let mut note = |p: String| {
            done.problem_count += 1;
            if done.problems.len() < opts.shown {
                done.problems.push((at, p));
            }
        };
        if let Err(e) = read {
            note(e.to_string());
            continue;
        }
        let written = check_encode(
            &token,
            record,
            framing,
            encoder,
            &mut done.items,
            target,
            &mut note,
        )?;
        if written {
            done.written += 1;
        }
        if let Some(s) = shared {
            batch.push(s, token.serial.as_str().as_bytes(), record);
        }
        done.serials
            .extend_from_slice(token.serial.as_str().as_bytes());
        done.serial_ends.push((done.serials.len(), record));
        done.classes.push(target.batch_class(&token));
    }
    if let Some(s) = shared {
        s.insert_batch(batch);
    }
    done.users_dropped = encoder.users_dropped() - dropped_before;
    Ok(done)
}

/// jsonl's reader as a `ReadInto` (it builds tokens; it is not the hot path).
struct JsonlChunk<R: std::io::BufRead + Send>(jsonl::Reader<R>);

impl<R: std::io::BufRead + Send> ReadInto for JsonlChunk<R> {
    fn read_into(&mut self, token: &mut Token) -> Option<Result<(), Error>> {
        self.0.next().map(|r| r.map(|t| *token = t))
    }
}

/// Converts on `opts.threads` workers; the output is what the sequential
/// path writes.
pub(super) fn parallel<R: Read + Send>(
    input: R,
    out: &mut dyn Write,
    opts: &ConvertOptions,
) -> Result<Conversion, Error> {
    let mut chunker = Chunker::new(input, opts.chunk_size.max(1), opts.from == Format::EntraCsv);
    let columns = match chunker.header() {
        Ok(c) => c,
        Err(e) => {
            let mut report = Conversion::default();
            report.problem(e.in_file(opts.file.as_ref()).to_string(), opts.shown);
            return Ok(report);
        }
    };
    let stop = AtomicBool::new(false);
    let threads = opts.threads.max(1);
    // Duplicates are found by the workers as they go (jsonl keeps them).
    let shared =
        (opts.to.target() != Target::Any).then(|| SharedSerials::with_capacity(serial_hint(opts)));
    let shared = shared.as_ref();
    let (work_tx, work_rx) = sync_channel::<Chunk>(threads);
    // Owned by the workers alone: when the last one stops, the chunker's
    // next send fails and it stops too (no thread waits forever).
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<Result<Done, Error>>(threads * 2);
    let mut read_error = None;
    let result = std::thread::scope(|scope| {
        let chunker_done = done_tx.clone();
        let stop_ref = &stop;
        scope.spawn(move || {
            while !stop_ref.load(Ordering::Relaxed) {
                match chunker.next() {
                    Ok(Some(chunk)) => {
                        if work_tx.send(chunk).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = chunker_done.send(Err(e));
                        break;
                    }
                }
            }
        });
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let work_rx = Arc::clone(&work_rx);
            scope.spawn(move || {
                let Some(mut enc) = encoder(opts.to, &opts.write) else {
                    let _ = done_tx.send(Err(no_encoder(opts.to)));
                    return;
                };
                let mut batch = Batch::default();
                loop {
                    let next = work_rx.lock().map_or(None, |rx| rx.recv().ok());
                    let Some(chunk) = next else { break };
                    // The chunk is wiped when dropped (Zeroizing).
                    let done = work(&chunk, columns, opts, enc.as_mut(), shared, &mut batch);
                    drop(chunk);
                    if done_tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        drop(work_rx);
        let done_rx = done_rx;
        let result = assemble(out, opts, shared, &done_rx, &stop, &mut read_error);
        // However assembly ended, release the workers and the chunker.
        stop.store(true, Ordering::Relaxed);
        drop(done_rx);
        result
    });
    let mut report = match read_error {
        Some(e) => return Err(e),
        None => result?,
    };
    // The sequential readers say this themselves; chunks cannot know.
    if report.problem_count == 0 && report.summary.tokens == 0 {
        let kind = if columns.is_some() {
            ErrorKind::HeaderOnly
        } else {
            ErrorKind::Empty
        };
        report.problem(
            Error::new(kind).in_file(opts.file.as_ref()).to_string(),
            opts.shown,
        );
    }
    Ok(report)
}

fn assemble(
    out: &mut dyn Write,
    opts: &ConvertOptions,
    shared: Option<&SharedSerials>,
    done_rx: &Receiver<Result<Done, Error>>,
    stop: &AtomicBool,
    read_error: &mut Option<Error>,
) -> Result<Conversion, Error> {
    let mut asm = Assembler::new(out, opts, false)?;
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut users_dropped = 0u64;
    let mut failed = None;
    for done in done_rx {
        let done = match done {
            Ok(d) => d,
            Err(e) => {
                // An input read error or an output encoding failure: stop everything.
                stop.store(true, Ordering::Relaxed);
                if read_error.is_none() {
                    *read_error = Some(e);
                }
                continue;
            }
        };
        pending.insert(done.seq, done);
        while let Some(mut d) = pending.remove(&next) {
            next += 1;
            // `d` (its items) is wiped when dropped (Zeroizing).
            if failed.is_some() || asm.report.stopped {
                continue;
            }
            if let Err(e) = apply(&mut asm, &mut d, opts, shared) {
                stop.store(true, Ordering::Relaxed);
                failed = Some(e);
            }
            users_dropped += d.users_dropped;
            if asm.report.problem_count >= opts.stop_after {
                asm.report.stopped = true;
                stop.store(true, Ordering::Relaxed);
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    asm.finish(users_dropped)
}

/// Adds a chunk's problems, duplicates and items, in file order; every
/// chunk before it was applied, so its repeats are final.
fn apply(
    asm: &mut Assembler<'_>,
    d: &mut Done,
    opts: &ConvertOptions,
    shared: Option<&SharedSerials>,
) -> Result<(), Error> {
    // Problems beyond those the worker kept are counted (the worker kept
    // `shown`, so the report's list is full past them).
    asm.report.problem_count += d.problem_count - d.problems.len();
    let mut problems = d.problems.drain(..).peekable();
    let repeats = match (shared, d.serial_ends.first(), d.serial_ends.last()) {
        (Some(s), Some(&(_, first)), Some(&(_, last))) => s.take_repeats(first, last),
        _ => Vec::new(),
    };
    let mut repeats = repeats.into_iter().peekable();
    // In the order one pass in file order finds them: per token, what
    // could not be read before it, its repeat, its kind, then its limits.
    let mut start = 0usize;
    for (n, (&(end, place), &class)) in d.serial_ends.iter().zip(&d.classes).enumerate() {
        while let Some((_, p)) = problems.next_if(|(at, _)| *at == 2 * n) {
            asm.report.problem(p, opts.shown);
        }
        let serial =
            std::str::from_utf8(d.serials.get(start..end).unwrap_or_default()).unwrap_or_default();
        if repeats.next_if_eq(&place).is_some() {
            asm.repeated(serial);
        }
        asm.class(serial, class);
        while let Some((_, p)) = problems.next_if(|(at, _)| *at == 2 * n + 1) {
            asm.report.problem(p, opts.shown);
        }
        start = end;
    }
    for (_, p) in problems {
        asm.report.problem(p, opts.shown);
    }
    asm.items(&d.items, d.written)?;
    Ok(())
}
