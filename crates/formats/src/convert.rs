//! Whole-file conversion, all or nothing, as fast as the machine allows.
//!
//! Every token is read, checked against the target's limits and for
//! duplicate serials, and encoded; if anything is wrong the caller gets every
//! problem (up to a cap) and must discard the output. Line-based inputs (Entra
//! CSV, jsonl) are cut into chunks at record boundaries and converted on all
//! cores; the items are reassembled in file order, so the output is
//! byte-for-byte what the sequential path writes. Memory stays bounded by the
//! chunks in flight, whatever the file size.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use oathvault_token::Token;
use zeroize::{Zeroize, Zeroizing};

use crate::csv_record::{RecordReader, TextRecords};
use crate::entra_csv::{self, Columns};
use crate::error::{Error, ErrorKind};
use crate::limits::{BatchClass, Rule, Target};
use crate::serials::SerialSet;
use crate::write::{Encoder, Framing, encoder};
use crate::{Format, ReadInto, WriteOptions, WriteSummary, jsonl, reader_into};

/// Bytes per chunk handed to a worker.
pub const DEFAULT_CHUNK: usize = 256 << 10;
/// Output bytes gathered before a write.
const OUT_BUF: usize = 256 << 10;

/// How to convert.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Input format.
    pub from: Format,
    /// Output format.
    pub to: Format,
    /// Writer settings.
    pub write: WriteOptions,
    /// Reader settings (keys for protected inputs).
    pub read: crate::ReadOptions,
    /// Input name for messages.
    pub file: Option<Arc<str>>,
    /// Worker threads (1: sequential).
    pub threads: usize,
    /// Problems kept for the report; the rest are only counted.
    pub shown: usize,
    /// Reading stops after this many problems.
    pub stop_after: usize,
    /// Input size in bytes, when known: memory for duplicate detection is
    /// reserved up front instead of grown.
    pub size_hint: Option<u64>,
    /// Bytes per chunk for the parallel path ([`DEFAULT_CHUNK`] normally;
    /// small values make tests cross many chunk boundaries).
    pub chunk_size: usize,
}

/// What a conversion found and wrote.
#[derive(Debug, Default)]
pub struct Conversion {
    /// Tokens written (zero when there were problems: the output is void).
    pub summary: WriteSummary,
    /// The first problems, in file order.
    pub problems: Vec<String>,
    /// All problems counted.
    pub problem_count: usize,
    /// Reading stopped early because of too many problems.
    pub stopped: bool,
}

impl Conversion {
    /// Whether the output may be kept: no problem and at least one token.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.problem_count == 0 && self.summary.tokens > 0
    }

    fn problem(&mut self, p: String, shown: usize) {
        self.problem_count += 1;
        if self.problems.len() < shown {
            self.problems.push(p);
        }
    }
}

/// Converts `input` to `out`. Returns `Err` only for failures of the output
/// itself (I/O); problems in the input are in the [`Conversion`]. When
/// `Conversion::ok` is false the bytes written to `out` must be discarded.
pub fn convert<R: Read + Send>(
    input: R,
    out: &mut dyn Write,
    opts: &ConvertOptions,
) -> Result<Conversion, Error> {
    let chunkable = matches!(opts.from, Format::EntraCsv | Format::Jsonl);
    let framed = encoder(opts.to, &opts.write).is_some();
    if chunkable && framed && opts.threads > 1 {
        return parallel(input, out, opts);
    }
    let input = std::io::BufReader::with_capacity(DEFAULT_CHUNK, input);
    let source = reader_into(opts.from, input, opts.file.clone(), &opts.read);
    if framed {
        sequential(source, out, opts)
    } else {
        through_writer(source, out, opts)
    }
}

fn no_encoder(to: Format) -> Error {
    Error::new(ErrorKind::Syntax(format!("{to} has no item encoder")))
}

/// Formats with per-file state (PSKC): one writer, one thread. Nothing is
/// written after the first problem; every problem is still reported.
fn through_writer(
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

/// The ordered end of a conversion: framing, duplicates, problems.
struct Assembler<'o> {
    out: &'o mut dyn Write,
    /// Output gathered here and written in large pieces (wiped when done).
    buf: Zeroizing<Vec<u8>>,
    framing: Framing,
    target: Target,
    serials: SerialSet,
    /// The kind of the first token, for one-kind-per-file targets.
    first_class: Option<BatchClass>,
    report: Conversion,
    shown: usize,
}

impl<'o> Assembler<'o> {
    fn new(out: &'o mut dyn Write, opts: &ConvertOptions) -> Result<Self, Error> {
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
            // About one token per 64 input bytes (an Entra CSV row is ~80).
            serials: SerialSet::with_capacity(
                opts.size_hint
                    .map_or(0, |b| usize::try_from(b / 64).unwrap_or(0).min(1 << 26)),
            ),
            first_class: None,
            report: Conversion::default(),
            shown: opts.shown,
        })
    }

    /// Checks that a one-kind-per-file target gets one kind.
    fn class(&mut self, serial: &str, class: Option<BatchClass>) {
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

    /// Records a serial; a repeat is a problem for every target but jsonl.
    fn serial(&mut self, serial: &str) {
        if self.target != Target::Any && !self.serials.insert(serial) {
            let message = Rule::DuplicateSerial.message(serial, "repeated");
            self.report.problem(message, self.shown);
        }
    }

    /// Writes `count` framed items, unless a problem was found (then
    /// nothing more is written).
    fn items(&mut self, bytes: &[u8], count: u64) -> Result<(), Error> {
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

    fn finish(mut self, users_dropped: u64) -> Result<Conversion, Error> {
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

/// Checks one token and appends its framed item (`index` is 1-based);
/// `Ok(false)` when it breaks a limit (reported, nothing appended).
fn check_encode<E: Encoder + ?Sized>(
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

fn sequential(
    mut source: Box<dyn ReadInto + '_>,
    out: &mut dyn Write,
    opts: &ConvertOptions,
) -> Result<Conversion, Error> {
    let mut asm = Assembler::new(out, opts)?;
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

/// A piece of the input that starts and ends at record boundaries.
struct Chunk {
    seq: u64,
    bytes: Zeroizing<Vec<u8>>,
    lines_before: u64,
    records_before: u64,
}

/// What a worker made of a chunk.
#[derive(Default)]
struct Done {
    seq: u64,
    /// Framed items, back to back, ready to write.
    items: Zeroizing<Vec<u8>>,
    written: u64,
    /// Serials of every token read, back to back, and where each ends; the
    /// flag says whether the token's item is in `items`.
    serials: Vec<u8>,
    serial_ends: Vec<(usize, bool)>,
    /// Per token, its kind for one-kind-per-file targets.
    classes: Vec<Option<BatchClass>>,
    problems: Vec<String>,
    problem_count: usize,
    users_dropped: u64,
}

fn count_lines(b: &[u8]) -> u64 {
    crate::scan::count(b, b'\n')
}

/// Cuts the input into chunks; stops when told or at the end. The CSV
/// header, if any, is parsed first and handed back.
///
/// Input is read into one buffer that is initialised once and reused; a
/// chunk is copied out of it, and the unfinished tail moved to its front.
struct Chunker<R> {
    input: R,
    size: usize,
    csv: bool,
    buf: Zeroizing<Vec<u8>>,
    /// Bytes of `buf` holding input.
    valid: usize,
    lines: u64,
    records: u64,
    seq: u64,
}

impl<R: Read> Chunker<R> {
    fn new(input: R, size: usize, csv: bool) -> Self {
        Self {
            input,
            size,
            csv,
            buf: Zeroizing::new(Vec::new()),
            valid: 0,
            lines: 0,
            records: 0,
            seq: 0,
        }
    }

    fn data(&self) -> &[u8] {
        self.buf.get(..self.valid).unwrap_or_default()
    }

    /// Reads until `want` bytes are held or the input ends; false at the end.
    fn fill(&mut self, want: usize) -> Result<bool, Error> {
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.valid < want {
            let Some(room) = self.buf.get_mut(self.valid..want) else {
                break;
            };
            match self.input.read(room) {
                Ok(0) => return Ok(false),
                Ok(n) => self.valid += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// Drops the first `n` bytes held.
    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.valid, 0);
        self.valid -= n;
    }

    fn header(&mut self) -> Result<Option<Columns>, Error> {
        if !self.csv {
            return Ok(None);
        }
        let mut want = self.size;
        let end = loop {
            let more = self.fill(want)?;
            if let Some(end) = crate::csv_record::first_record_end(self.data()) {
                break end;
            }
            if !more {
                break self.valid;
            }
            want = self.valid + self.size;
        };
        let end = if self.data().starts_with(b"\xef\xbb\xbf") {
            self.consume(3);
            end - 3
        } else {
            end
        };
        let header = self.data().get(..end).unwrap_or_default();
        let columns = Columns::parse(header)?;
        self.lines = count_lines(header);
        self.consume(end);
        Ok(Some(columns))
    }

    fn next(&mut self) -> Result<Option<Chunk>, Error> {
        let mut want = self.size;
        loop {
            let more = self.fill(want)?;
            let cut = if !more {
                if self.valid == 0 {
                    return Ok(None);
                }
                Some(self.valid)
            } else if self.csv {
                crate::csv_record::last_record_end(self.data())
            } else {
                memchr::memrchr(b'\n', self.data()).map(|p| p + 1)
            };
            if let Some(cut) = cut {
                let bytes = Zeroizing::new(self.data().get(..cut).unwrap_or_default().to_vec());
                self.consume(cut);
                return Ok(Some(self.chunk(bytes)));
            }
            // One record longer than a chunk: read on.
            want = self.valid + self.size;
        }
    }

    fn chunk(&mut self, bytes: Zeroizing<Vec<u8>>) -> Chunk {
        let chunk = Chunk {
            seq: self.seq,
            lines_before: self.lines,
            records_before: self.records,
            bytes,
        };
        let (lines, records) = if self.csv {
            crate::csv_record::count_lines_and_records(&chunk.bytes)
        } else {
            // jsonl skips lines that are blank or only whitespace.
            let records = chunk
                .bytes
                .split(|&b| b == b'\n')
                .map(|l| u64::from(!l.trim_ascii().is_empty()))
                .sum();
            (count_lines(&chunk.bytes), records)
        };
        self.lines += lines;
        self.records += records;
        self.seq += 1;
        chunk
    }
}

fn work(
    chunk: &Chunk,
    columns: Option<Columns>,
    opts: &ConvertOptions,
    encoder: &mut dyn Encoder,
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
    while let Some(read) = source.read_into(&mut token) {
        record += 1;
        let mut note = |p: String| {
            done.problem_count += 1;
            if done.problems.len() < opts.shown {
                done.problems.push(p);
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
        done.serials
            .extend_from_slice(token.serial.as_str().as_bytes());
        done.serial_ends.push((done.serials.len(), written));
        done.classes.push(target.batch_class(&token));
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

fn parallel<R: Read + Send>(
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
                loop {
                    let next = work_rx.lock().map_or(None, |rx| rx.recv().ok());
                    let Some(chunk) = next else { break };
                    // The chunk is wiped when dropped (Zeroizing).
                    let done = work(&chunk, columns, opts, enc.as_mut());
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
        let result = assemble(out, opts, &done_rx, &stop, &mut read_error);
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
    done_rx: &Receiver<Result<Done, Error>>,
    stop: &AtomicBool,
    read_error: &mut Option<Error>,
) -> Result<Conversion, Error> {
    let mut asm = Assembler::new(out, opts)?;
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
            if let Err(e) = apply(&mut asm, &mut d, opts) {
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

fn apply(asm: &mut Assembler<'_>, d: &mut Done, opts: &ConvertOptions) -> Result<(), Error> {
    let kept = d.problems.len();
    for p in d.problems.drain(..) {
        asm.report.problem(p, opts.shown);
    }
    // Problems beyond those the worker kept are counted too.
    asm.report.problem_count += d.problem_count - kept;
    let mut start = 0usize;
    for (&(end, _), &class) in d.serial_ends.iter().zip(&d.classes) {
        let serial =
            std::str::from_utf8(d.serials.get(start..end).unwrap_or_default()).unwrap_or_default();
        asm.serial(serial);
        asm.class(serial, class);
        start = end;
    }
    asm.items(&d.items, d.written)?;
    Ok(())
}
