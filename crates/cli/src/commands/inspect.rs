//! `oathvault inspect`: what is in a seed file, and where it can go.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context;
use oathvault_formats::{Format, Rule, SerialSet};
use oathvault_token::{Kind, Token};
use serde::Serialize;

use crate::Failure;
use crate::args::InspectArgs;
use crate::io::Input;

/// Errors listed before the rest are only counted.
const SHOWN_ERRORS: usize = 50;
/// Serials listed per finding before the list is cut.
const EXAMPLES: usize = 10;
/// Secrets shorter than this many bits are called weak (RFC 4226 §4 asks for 128).
const STRONG_BITS: usize = 128;

#[derive(Default, Serialize)]
struct Finding {
    count: u64,
    serials: Vec<String>,
}

impl Finding {
    fn add(&mut self, serial: &str) {
        self.count += 1;
        if self.serials.len() < EXAMPLES {
            self.serials.push(serial.to_owned());
        }
    }
}

#[derive(Serialize)]
struct TargetReport {
    format: &'static str,
    ok: bool,
    /// Tokens that break a rule, by rule.
    problems: BTreeMap<&'static str, Finding>,
}

#[derive(Default, Serialize)]
struct Report {
    file: String,
    format: String,
    tokens: u64,
    types: BTreeMap<&'static str, u64>,
    hashes: BTreeMap<&'static str, u64>,
    digits: BTreeMap<u8, u64>,
    steps_seconds: BTreeMap<u32, u64>,
    nonzero_t0: u64,
    secret_bytes: BTreeMap<usize, u64>,
    weak_secrets: Finding,
    duplicate_serials: Finding,
    manufacturers: BTreeMap<String, u64>,
    models: BTreeMap<String, u64>,
    assigned_users: u64,
    targets: Vec<TargetReport>,
    /// Entries that are not OTP tokens (PIN, OCRA, …) or lack a seed: skipped.
    skipped: Vec<String>,
    /// What else the reader noticed: a draft layout or vendor namespace
    /// read, a signature not verified, serials made up.
    notes: Vec<String>,
    errors: Vec<String>,
    error_count: u64,
}

impl Report {
    fn add(&mut self, t: &Token, serials: &mut SerialSet) {
        self.tokens += 1;
        *self.types.entry(t.kind.name()).or_default() += 1;
        *self.hashes.entry(t.hash.name()).or_default() += 1;
        *self.digits.entry(t.digits.get()).or_default() += 1;
        if let Kind::Totp { step, t0 } = t.kind {
            *self.steps_seconds.entry(step.seconds()).or_default() += 1;
            if t0 != 0 {
                self.nonzero_t0 += 1;
            }
        }
        *self.secret_bytes.entry(t.secret.len()).or_default() += 1;
        if t.secret.bits() < STRONG_BITS {
            self.weak_secrets.add(t.serial.as_str());
        }
        if !serials.insert(t.serial.as_str()) {
            self.duplicate_serials.add(t.serial.as_str());
        }
        // Keep the lists short: past 50 distinct names the rest are counted under "(other)".
        for (map, value) in [
            (&mut self.manufacturers, &t.manufacturer),
            (&mut self.models, &t.model),
        ] {
            let key = value.as_deref().unwrap_or("(none)");
            if map.contains_key(key) || map.len() < 50 {
                *map.entry(key.to_owned()).or_default() += 1;
            } else {
                *map.entry("(other)".to_owned()).or_default() += 1;
            }
        }
        if t.user.is_some() {
            self.assigned_users += 1;
        }
        for target in &mut self.targets {
            let f: Format = target.format.parse().unwrap_or(Format::Jsonl);
            for v in f.target().check(t) {
                target.ok = false;
                target
                    .problems
                    .entry(v.rule.describe())
                    .or_default()
                    .add(t.serial.as_str());
            }
        }
    }
}

fn counts<K: std::fmt::Display>(m: &BTreeMap<K, u64>, suffix: &str) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}{suffix}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(f: &Finding) -> String {
    let more = f.count.saturating_sub(f.serials.len() as u64);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{}{tail}", f.serials.join(", "))
}

fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}: {} tokens ({})", r.file, r.tokens, r.format);
    let _ = writeln!(o, "  types:         {}", counts(&r.types, ""));
    let _ = writeln!(o, "  hashes:        {}", counts(&r.hashes, ""));
    let _ = writeln!(o, "  digits:        {}", counts(&r.digits, ""));
    if !r.steps_seconds.is_empty() {
        let _ = writeln!(o, "  time steps:    {}", counts(&r.steps_seconds, " s"));
    }
    if r.nonzero_t0 > 0 {
        let _ = writeln!(o, "  non-zero T0:   {}", r.nonzero_t0);
    }
    let _ = writeln!(o, "  secret sizes:  {}", counts(&r.secret_bytes, " bytes"));
    let _ = writeln!(o, "  manufacturers: {}", counts(&r.manufacturers, ""));
    let _ = writeln!(o, "  models:        {}", counts(&r.models, ""));
    if r.assigned_users > 0 {
        let _ = writeln!(o, "  with a user:   {}", r.assigned_users);
    }
    if r.duplicate_serials.count > 0 {
        let _ = writeln!(
            o,
            "  DUPLICATE serials ({}): {}",
            r.duplicate_serials.count,
            list(&r.duplicate_serials)
        );
    }
    if r.weak_secrets.count > 0 {
        let _ = writeln!(
            o,
            "  WEAK secrets under {STRONG_BITS} bits ({}): {}",
            r.weak_secrets.count,
            list(&r.weak_secrets)
        );
    }
    let _ = writeln!(o, "targets:");
    for t in &r.targets {
        if t.ok {
            let _ = writeln!(o, "  {:<11} yes", t.format);
        } else {
            let _ = writeln!(o, "  {:<11} no:", t.format);
            for (rule, f) in &t.problems {
                let _ = writeln!(o, "      {rule}: {} token(s): {}", f.count, list(f));
            }
        }
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(o, "skipped ({}):", r.skipped.len());
        for s in &r.skipped {
            let _ = writeln!(o, "  {s}");
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(o, "notes:");
        for s in &r.notes {
            let _ = writeln!(o, "  {s}");
        }
    }
    if r.error_count > 0 {
        let _ = writeln!(o, "ERRORS ({}):", r.error_count);
        for e in &r.errors {
            let _ = writeln!(o, "  {e}");
        }
        let more = r.error_count.saturating_sub(r.errors.len() as u64);
        if more > 0 {
            let _ = writeln!(o, "  … and {more} more");
        }
    }
    o
}

#[allow(clippy::print_stdout, reason = "the command's output")]
pub fn run(args: &InspectArgs) -> Result<(), Failure> {
    let input = Input::open(&args.input, false)?;
    let mut report = Report {
        file: input.name.to_string(),
        format: input.format.name().to_owned(),
        targets: Format::ALL
            .iter()
            .map(|f| TargetReport {
                format: f.name(),
                ok: true,
                problems: BTreeMap::new(),
            })
            .collect(),
        ..Report::default()
    };
    let mut serials = SerialSet::new();
    let notes = input.options.notes.clone();
    for token in input.tokens() {
        match token {
            Ok(t) => report.add(&t, &mut serials),
            Err(e) => {
                report.error_count += 1;
                if report.errors.len() < SHOWN_ERRORS {
                    report.errors.push(e.to_string());
                }
            }
        }
    }
    (report.skipped, report.notes) = notes.take_split();
    // A duplicate serial keeps a file out of every target but the lossless one.
    if report.duplicate_serials.count > 0 {
        for t in report
            .targets
            .iter_mut()
            .filter(|t| t.format != Format::Jsonl.name())
        {
            t.ok = false;
            let f = t
                .problems
                .entry(Rule::DuplicateSerial.describe())
                .or_default();
            f.count = report.duplicate_serials.count;
            f.serials.clone_from(&report.duplicate_serials.serials);
        }
    }
    if report.error_count > 0 || report.tokens == 0 {
        for t in &mut report.targets {
            t.ok = false;
        }
    }
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot encode the report")?
        );
    } else {
        print!("{}", text(&report));
    }
    if report.error_count > 0 {
        Err(Failure::Input(None))
    } else {
        Ok(())
    }
}
