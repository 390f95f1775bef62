//! `oathvault convert`: any readable format to any writable one, all or nothing.

use std::io::IsTerminal;

use anyhow::anyhow;
use oathvault_formats::custom_csv::Template;
use oathvault_formats::pskc::Protection;
use oathvault_formats::{
    ConvertOptions, DEFAULT_CHUNK, Format, WriteOptions, WriteSummary, convert,
};
use oathvault_otp::clock::Stopwatch;
use oathvault_token::SecretEncoding;

use crate::Failure;
use crate::args::ConvertArgs;
use crate::io::{Input, Output, psk_file, secret_file};

/// Problems listed before "… and N more".
const SHOWN: usize = 20;
/// Reading stops after this many problems (the file is clearly not right).
const STOP_AFTER: usize = 10_000;

/// Says why nothing was written: the `shown` problems, how many more, and
/// whether reading stopped early (also used by `--split`).
#[allow(clippy::print_stderr, reason = "the command reports on stderr")]
pub(crate) fn report_refusal(
    shown: &[String],
    count: usize,
    stopped: bool,
    name: &str,
    to: Format,
) {
    eprintln!("error: {name}: cannot convert to {to}; nothing was written:");
    for p in shown {
        eprintln!("  {p}");
    }
    if count > shown.len() {
        let more = count - shown.len();
        let capped = if stopped { " (stopped reading)" } else { "" };
        eprintln!("  … and {more} more{capped}");
    }
    if splits(to) && shown.iter().any(|p| p.contains(ONE_KIND)) {
        eprintln!("hint: --split writes one file per kind of token");
    }
}

/// Part of the one-kind-per-file refusal, for the hint.
const ONE_KIND: &str = "the file holds one kind of token";

/// Whether the format's files hold one kind of token (so `--split` applies).
fn splits(to: Format) -> bool {
    matches!(to, Format::DuoCsv | Format::DualShield)
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

#[allow(clippy::print_stderr, reason = "the command reports on stderr")]
fn print_notes(notes: &[String]) {
    for n in notes.iter().take(SHOWN) {
        eprintln!("note: {n}");
    }
    if notes.len() > SHOWN {
        eprintln!("note: … and {} more", notes.len() - SHOWN);
    }
}

fn secret_encoding(args: &ConvertArgs, to: Format) -> Result<SecretEncoding, Failure> {
    match args.secret_encoding.map(SecretEncoding::from) {
        Some(e) if !to.chooses_secret_encoding() && e != SecretEncoding::Base32 => {
            Err(Failure::Usage(format!(
                "{to} fixes its secret encoding; --secret-encoding {e} applies to jsonl, okta-csv and custom-csv"
            )))
        }
        Some(e) => Ok(e),
        None => Ok(SecretEncoding::Base32),
    }
}

fn custom_template(args: &ConvertArgs, to: Format) -> Result<Option<Template>, Failure> {
    match (&args.template, to) {
        (Some(spec), Format::CustomCsv) => {
            let mut t: Template = spec.parse().map_err(Failure::Usage)?;
            t.header = !args.no_header;
            Ok(Some(t))
        }
        (None, Format::CustomCsv) => Err(Failure::Usage(
            "custom-csv needs --template, e.g. --template 'Serial=serial,Seed=secret,Type=\"TOTP\"'".into(),
        )),
        (Some(_), _) => Err(Failure::Usage(format!("--template is for custom-csv, not {to}"))),
        (None, _) => Ok(None),
    }
}

fn pskc_protection(args: &ConvertArgs) -> Result<Protection, Failure> {
    if let Some(p) = &args.pskc_psk_file {
        let key = psk_file(p)?;
        if key.len() != 16 {
            return Err(Failure::Usage(format!(
                "the PSKC pre-shared key must be 16 bytes (32 hex digits) for AES-128; {} holds {}",
                p.display(),
                key.len()
            )));
        }
        return Ok(Protection::PreSharedKey {
            key,
            name: "Pre-shared-key".into(),
        });
    }
    if let Some(p) = &args.pskc_passphrase_file {
        let passphrase = secret_file(p, "passphrase")?;
        return Ok(Protection::Passphrase {
            passphrase,
            iterations: args.pskc_iterations,
            name: "Passphrase".into(),
        });
    }
    Ok(Protection::Plain)
}

pub fn run(args: &ConvertArgs) -> Result<(), Failure> {
    let to: Format = args.to.into();
    let encoding = secret_encoding(args, to)?;
    if args.split {
        if !splits(to) {
            return Err(Failure::Usage(format!(
                "--split is for duo-csv and dualshield, whose files hold one kind of token; {to} takes them all"
            )));
        }
        let write = WriteOptions {
            secret_encoding: encoding,
            custom: None,
            pskc: Protection::Plain,
        };
        return crate::commands::split::run(args, &write, SHOWN, STOP_AFTER);
    }
    let watch = Stopwatch::start();
    let input = Input::open(&args.input, std::io::stderr().is_terminal() && !args.quiet)?;
    let (from, name, bar) = (input.format, input.name.clone(), input.bar.clone());
    let mut output = Output::create(args.output.as_deref(), args.force)?;
    let dest = output.describe();
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        usize::from,
    );
    let opts = ConvertOptions {
        from,
        to,
        write: WriteOptions {
            secret_encoding: encoding,
            custom: custom_template(args, to)?,
            pskc: pskc_protection(args)?,
        },
        read: input.options.clone(),
        file: Some(name.clone()),
        threads,
        shown: SHOWN,
        stop_after: STOP_AFTER,
        chunk_size: DEFAULT_CHUNK,
        size_hint: input.len,
    };
    let notes = input.options.notes.clone();
    let conversion = convert(input.into_reader(), &mut output.writer(), &opts)?;
    bar.finish_and_clear();
    print_notes(&notes.take());
    if conversion.problem_count > 0 {
        // `output` is dropped here: the temporary file is removed, nothing is printed.
        report_refusal(
            &conversion.problems,
            conversion.problem_count,
            conversion.stopped,
            &name,
            to,
        );
        return Err(Failure::Input(None));
    }
    if conversion.summary.tokens == 0 {
        return Err(anyhow!("{name}: no tokens to convert").into());
    }
    output.commit()?;
    if !args.quiet {
        summarise(conversion.summary, from, to, &dest, watch);
    }
    Ok(())
}
