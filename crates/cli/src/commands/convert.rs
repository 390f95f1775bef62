//! `oathvault convert`: any readable format to any writable one, all or nothing.

use std::io::IsTerminal;

use anyhow::anyhow;
use oathvault_formats::{Format, Rule, SerialSet, Target, Violation, WriteOptions, writer};
use oathvault_otp::clock::Stopwatch;
use oathvault_token::SecretEncoding;

use crate::Failure;
use crate::args::ConvertArgs;
use crate::io::{Input, Output};

/// Problems listed before "… and N more".
const SHOWN: usize = 20;
/// Tokens handed from the parsing thread to the writing thread at a time.
const BATCH: usize = 1024;
/// Reading stops after this many problems (the file is clearly not right).
const STOP_AFTER: usize = 10_000;

/// Problems found, the first few kept for the message.
#[derive(Default)]
struct Problems {
    shown: Vec<String>,
    count: usize,
}

impl Problems {
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

    fn add(&mut self, problem: String) {
        self.count += 1;
        if self.shown.len() < SHOWN {
            self.shown.push(problem);
        }
    }
}

#[allow(clippy::print_stderr, reason = "the command reports on stderr")]
pub fn run(args: &ConvertArgs) -> Result<(), Failure> {
    let to: Format = args.to.into();
    let encoding = match args.secret_encoding {
        Some(e) if !to.chooses_secret_encoding() => {
            let e: SecretEncoding = e.into();
            if e != SecretEncoding::Base32 {
                return Err(Failure::Usage(format!(
                    "{to} always writes Base32 secrets; --secret-encoding {e} applies to jsonl"
                )));
            }
            e
        }
        Some(e) => e.into(),
        None => SecretEncoding::Base32,
    };
    let watch = Stopwatch::start();
    let input = Input::open(&args.input, std::io::stderr().is_terminal() && !args.quiet)?;
    let (from, name, bar) = (input.format, input.name.clone(), input.bar.clone());
    let mut output = Output::create(args.output.as_deref(), args.force)?;
    let dest = output.describe();
    let target = to.target();
    let mut serials = SerialSet::new();
    let mut problems = Problems::default();
    let summary = {
        let mut w = writer(
            to,
            output.writer(),
            &WriteOptions {
                secret_encoding: encoding,
            },
        )?;
        let tokens = input.tokens();
        std::thread::scope(|scope| -> Result<_, Failure> {
            // Parsing runs on its own thread, a batch at a time; checking and
            // writing run here. The bounded channel keeps memory flat.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<_>>(4);
            scope.spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                for token in tokens {
                    batch.push(token);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.send(full).is_err() {
                            return; // the writer stopped early
                        }
                    }
                }
                let _ = tx.send(batch);
            });
            'read: for batch in rx {
                for token in batch {
                    let token = match token {
                        Ok(t) => t,
                        Err(e) => {
                            problems.add(e.to_string());
                            if problems.count >= STOP_AFTER {
                                break 'read;
                            }
                            continue;
                        }
                    };
                    let mut violations = target.check(&token);
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
                    // After the first problem nothing more is written; reading
                    // goes on to report every problem at once.
                    if problems.count == 0 {
                        w.write(&token)?;
                    } else if problems.count >= STOP_AFTER {
                        break 'read;
                    }
                }
            }
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
    Ok(())
}
