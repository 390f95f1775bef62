//! `oathvault convert`: any readable format to any writable one, all or nothing.
//!
//! Parsing runs on a second thread and fills batches of tokens in place; this
//! thread checks target limits and duplicates and writes. Batches go back to
//! the parser for reuse, so a million-token conversion allocates a few
//! thousand tokens in all and memory stays flat.

use std::io::IsTerminal;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::anyhow;
use oathvault_formats::{
    Error, Format, ReadInto, Rule, SerialSet, Target, TokenWriter, Violation, WriteOptions,
    WriteSummary, writer,
};
use oathvault_otp::clock::Stopwatch;
use oathvault_token::{SecretEncoding, Token};

use crate::Failure;
use crate::args::ConvertArgs;
use crate::io::{Input, Output};

/// Problems listed before "… and N more".
const SHOWN: usize = 20;
/// Tokens handed from the parsing thread to the writing thread at a time.
const BATCH: usize = 1024;
/// Batches in flight (bounds memory).
const IN_FLIGHT: usize = 4;
/// Reading stops after this many problems (the file is clearly not right).
const STOP_AFTER: usize = 10_000;

/// Problems found, the first few kept for the message.
#[derive(Default)]
struct Problems {
    shown: Vec<String>,
    count: usize,
}

impl Problems {
    fn add(&mut self, problem: String) {
        self.count += 1;
        if self.shown.len() < SHOWN {
            self.shown.push(problem);
        }
    }

    #[allow(clippy::print_stderr, reason = "the command reports on stderr")]
    fn report(&self, name: &str, to: Format) {
        eprintln!("error: {name}: cannot convert to {to}; nothing was written:");
        for p in &self.shown {
            eprintln!("  {p}");
        }
        if self.count > self.shown.len() {
            let more = self.count - self.shown.len();
            let capped = if self.count >= STOP_AFTER {
                " (stopped reading)"
            } else {
                ""
            };
            eprintln!("  … and {more} more{capped}");
        }
    }
}

/// Tokens parsed in place, and the errors met while parsing them.
struct Batch {
    tokens: Vec<Token>,
    len: usize,
    errors: Vec<Error>,
}

impl Batch {
    fn new() -> Self {
        Self {
            tokens: Vec::with_capacity(BATCH),
            len: 0,
            errors: Vec::new(),
        }
    }
}

/// The parsing thread: fills recycled batches until the input ends or the
/// writer hangs up.
fn parse(mut source: Box<dyn ReadInto>, full: &SyncSender<Batch>, empty: &Receiver<Batch>) {
    while let Ok(mut batch) = empty.recv() {
        batch.len = 0;
        batch.errors.clear();
        let mut ended = false;
        while batch.len < BATCH {
            if batch.tokens.len() == batch.len {
                batch.tokens.push(Token::blank());
            }
            let Some(slot) = batch.tokens.get_mut(batch.len) else {
                break;
            };
            match source.read_into(slot) {
                None => {
                    ended = true;
                    break;
                }
                Some(Ok(())) => batch.len += 1,
                Some(Err(e)) => batch.errors.push(e),
            }
        }
        if full.send(batch).is_err() || ended {
            return;
        }
    }
}

/// Checks and writes what the parser sends; `None` when there were problems.
fn write_all(
    w: &mut dyn TokenWriter,
    target: Target,
    full: Receiver<Batch>,
    empty: &SyncSender<Batch>,
    problems: &mut Problems,
) -> Result<(), Failure> {
    let mut serials = SerialSet::new();
    for batch in full {
        for e in &batch.errors {
            problems.add(e.to_string());
        }
        for token in batch.tokens.iter().take(batch.len) {
            let mut violations = target.check(token);
            if target != Target::Any && !serials.insert(token.serial.as_str()) {
                violations.push(Violation {
                    serial: token.serial.clone(),
                    rule: Rule::DuplicateSerial,
                    found: "repeated".into(),
                });
            }
            for v in &violations {
                problems.add(v.to_string());
            }
            // After the first problem nothing more is written; reading goes
            // on to report every problem at once.
            if problems.count == 0 {
                w.write(token)?;
            }
        }
        if problems.count >= STOP_AFTER {
            break; // dropping `full` stops the parser
        }
        let _ = empty.send(batch);
    }
    Ok(())
}

fn secret_encoding(args: &ConvertArgs, to: Format) -> Result<SecretEncoding, Failure> {
    match args.secret_encoding.map(SecretEncoding::from) {
        Some(e) if !to.chooses_secret_encoding() && e != SecretEncoding::Base32 => {
            Err(Failure::Usage(format!(
                "{to} always writes Base32 secrets; --secret-encoding {e} applies to jsonl"
            )))
        }
        Some(e) => Ok(e),
        None => Ok(SecretEncoding::Base32),
    }
}

#[allow(clippy::print_stderr, reason = "the command reports on stderr")]
fn summarise(summary: WriteSummary, from: Format, to: Format, dest: &str, watch: Stopwatch) {
    eprintln!(
        "{} token{} {from} → {to}, written to {dest} in {:.2} s",
        summary.tokens,
        if summary.tokens == 1 { "" } else { "s" },
        watch.elapsed().as_secs_f64()
    );
    if summary.users_dropped > 0 {
        eprintln!(
            "note: {} user assignment(s) left out: Graph's assignTo needs the user's object id, not a UPN \
             (assign after upload with `oathvault entra`)",
            summary.users_dropped
        );
    }
}

pub fn run(args: &ConvertArgs) -> Result<(), Failure> {
    let to: Format = args.to.into();
    let encoding = secret_encoding(args, to)?;
    let watch = Stopwatch::start();
    let input = Input::open(&args.input, std::io::stderr().is_terminal() && !args.quiet)?;
    let (from, name, bar) = (input.format, input.name.clone(), input.bar.clone());
    let mut output = Output::create(args.output.as_deref(), args.force)?;
    let dest = output.describe();
    let mut problems = Problems::default();
    let summary = {
        let mut w = writer(
            to,
            output.writer(),
            &WriteOptions {
                secret_encoding: encoding,
            },
        )?;
        let source = input.tokens_into();
        std::thread::scope(|scope| -> Result<_, Failure> {
            let (full_tx, full_rx) = sync_channel::<Batch>(IN_FLIGHT);
            let (empty_tx, empty_rx) = sync_channel::<Batch>(IN_FLIGHT + 1);
            for _ in 0..IN_FLIGHT {
                let _ = empty_tx.send(Batch::new());
            }
            scope.spawn(move || parse(source, &full_tx, &empty_rx));
            write_all(w.as_mut(), to.target(), full_rx, &empty_tx, &mut problems)?;
            drop(empty_tx);
            Ok(if problems.count > 0 {
                None
            } else {
                Some(w.finish()?)
            })
        })?
    };
    bar.finish_and_clear();
    let Some(summary) = summary else {
        // `output` is dropped here: the temporary file is removed, nothing is printed.
        problems.report(&name, to);
        return Err(Failure::Input(None));
    };
    if summary.tokens == 0 {
        return Err(anyhow!("{name}: no tokens to convert").into());
    }
    output.commit()?;
    if !args.quiet {
        summarise(summary, from, to, &dest, watch);
    }
    Ok(())
}
