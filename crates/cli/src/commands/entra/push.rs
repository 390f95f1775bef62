//! `entra push`, `entra reconcile`, `entra preflight`: a seed file against
//! the tenant.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use oathvault_graph::Graph;
use oathvault_graph::preflight::{Finding, preflight as check_code};
use oathvault_graph::push::{Job, Outcome, Progress, PushOptions, TokenResult, validate};
use oathvault_otp::clock::{Clock, SystemClock};
use oathvault_token::Token;

use super::{csv_rows, user_id};
use crate::Failure;
use crate::entra_args::{PreflightArgs, PushArgs, ReconcileArgs};
use crate::io::{Input, Output};

/// Problems printed before the rest are only counted.
const SHOWN: usize = 50;

/// Prints every problem (the first [`SHOWN`], then the count of the rest)
/// and the failure.
#[allow(clippy::print_stderr, reason = "problems with the input, one a line")]
fn refuse(name: &str, problems: &[String], what: &str) -> Failure {
    for p in problems.iter().take(SHOWN) {
        eprintln!("error: {p}");
    }
    if problems.len() > SHOWN {
        eprintln!("error: … and {} more", problems.len() - SHOWN);
    }
    eprintln!("{name}: {} {what}; nothing was uploaded", problems.len());
    Failure::Input(None)
}

/// Reads every token of the file: the tokens and every problem reading it.
fn read_all(input: &crate::args::InputArgs) -> Result<(String, Vec<Token>, Vec<String>), Failure> {
    let input = Input::open(input, false)?;
    let name = input.name.to_string();
    let notes = input.options.notes.clone();
    let mut tokens = Vec::new();
    let mut problems = Vec::new();
    for t in input.tokens() {
        match t {
            Ok(t) => tokens.push(t),
            Err(e) => problems.push(e.to_string()),
        }
    }
    print_notes(&notes.take());
    Ok((name, tokens, problems))
}

#[allow(clippy::print_stderr, reason = "notes on the input, one a line")]
fn print_notes(notes: &[String]) {
    for n in notes.iter().take(SHOWN) {
        eprintln!("note: {n}");
    }
    if notes.len() > SHOWN {
        eprintln!("note: … and {} more", notes.len() - SHOWN);
    }
}

/// Every token of the file, or every problem printed and a failure.
fn read_valid(input: &crate::args::InputArgs) -> Result<(String, Vec<Token>), Failure> {
    let (name, tokens, problems) = read_all(input)?;
    if !problems.is_empty() {
        return Err(refuse(&name, &problems, "problem(s)"));
    }
    Ok((name, tokens))
}

/// Serial → user object id from a `serial,upn` CSV, every UPN looked up.
async fn assignments(
    graph: &Graph,
    path: &std::path::Path,
    tokens: &[Token],
) -> Result<HashMap<String, String>, Failure> {
    let serials: HashSet<&str> = tokens.iter().map(|t| t.serial.as_str()).collect();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut out = HashMap::new();
    let mut problems = Vec::new();
    for row in csv_rows(path)? {
        let row = row?;
        let (Some(serial), Some(upn)) = (
            row.get("serial").or_else(|| row.get("serial number")),
            row.get("upn").or_else(|| row.get("user")),
        ) else {
            problems.push(format!("{}: needs serial and upn columns", row.location()));
            continue;
        };
        if !serials.contains(serial) {
            problems.push(format!(
                "{}: serial {serial} is not in the seed file",
                row.location()
            ));
            continue;
        }
        let id = match ids.get(upn) {
            Some(id) => id.clone(),
            None => match user_id(graph, upn).await {
                Ok(id) => {
                    ids.insert(upn.to_owned(), id.clone());
                    id
                }
                Err(e) => {
                    problems.push(format!("{}: user {upn}: {e}", row.location()));
                    continue;
                }
            },
        };
        out.insert(serial.to_owned(), id);
    }
    if !problems.is_empty() {
        return Err(anyhow!("{}; nothing was uploaded", problems.join("\n")).into());
    }
    Ok(out)
}

struct Journal {
    file: Option<Mutex<std::fs::File>>,
    bar: ProgressBar,
}

impl Progress for Journal {
    fn listed(&self, existing: usize) {
        self.bar
            .set_message(format!("listing the tenant's tokens: {existing}"));
    }

    fn results(&self, results: &[TokenResult]) {
        // One write per chunk: a kill can cut only the last line, which
        // `load_state` skips.
        if let Some(f) = &self.file {
            let mut lines = Vec::with_capacity(results.len() * 128);
            for r in results {
                if serde_json::to_writer(&mut lines, r).is_ok() {
                    lines.push(b'\n');
                }
            }
            let mut f = f.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = f.write_all(&lines);
        }
        self.bar.set_message("");
        self.bar.inc(results.len() as u64);
    }
}

fn state_path(a: &PushArgs) -> PathBuf {
    a.state.clone().unwrap_or_else(|| {
        let mut p = a.input.input.clone().into_os_string();
        p.push(".push-state.jsonl");
        PathBuf::from(p)
    })
}

fn load_state(path: &std::path::Path) -> Result<HashMap<String, TokenResult>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display()).into()),
    };
    let mut done = HashMap::new();
    for line in text.lines() {
        // A line cut short by the interruption is ignored: the tenant is
        // listed again anyway.
        if let Ok(r) = serde_json::from_str::<TokenResult>(line) {
            done.insert(r.serial.clone(), r);
        }
    }
    Ok(done)
}

#[allow(
    clippy::print_stderr,
    reason = "problems and failed tokens, one a line"
)]
pub async fn push(graph: &Graph, a: &PushArgs) -> Result<(), Failure> {
    // Every problem at once: what cannot be read, and what Entra would refuse.
    let (name, tokens, mut problems) = read_all(&a.input)?;
    problems.extend(validate(&tokens).iter().map(ToString::to_string));
    if !problems.is_empty() {
        return Err(refuse(
            &name,
            &problems,
            "problem(s) reading the file or token(s) Entra would refuse",
        ));
    }
    let assign = match &a.assign {
        Some(p) => assignments(graph, p, &tokens).await?,
        None => HashMap::new(),
    };
    let state = state_path(a);
    if state.exists() && !a.resume && !a.dry_run {
        return Err(Failure::Usage(format!(
            "{} holds an earlier, unfinished push of this file: pass --resume to continue it \
             (serials already in the tenant are never created twice), or remove it",
            state.display()
        )));
    }
    let done = if a.resume {
        load_state(&state)?
    } else {
        HashMap::new()
    };
    let file = if a.dry_run {
        None
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&state)
            .with_context(|| format!("cannot write {}", state.display()))?;
        Some(Mutex::new(f))
    };
    // A progress bar only when someone watches stderr; silent in pipes and logs.
    let bar = if a.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(tokens.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} tokens {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let journal = Journal { file, bar };
    let options = PushOptions {
        chunk: a.chunk,
        concurrency: a.concurrency,
        dry_run: a.dry_run,
    };
    let job = Job {
        tokens: &tokens,
        assign: &assign,
        done: &done,
    };
    let results = oathvault_graph::push::push(graph, job, options, &journal)
        .await
        .map_err(|e| anyhow!("{e}; nothing was uploaded"))?;
    journal.bar.finish_and_clear();
    summarize(graph, a, &name, &results, &state)
}

#[allow(clippy::print_stderr, reason = "failed tokens, one a line")]
fn summarize(
    graph: &Graph,
    a: &PushArgs,
    name: &str,
    results: &[TokenResult],
    state: &std::path::Path,
) -> Result<(), Failure> {
    let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    for r in results.iter().filter(|r| r.outcome == Outcome::Failed) {
        eprintln!(
            "error: serial {}: {}",
            r.serial,
            r.message.as_deref().unwrap_or("failed")
        );
    }
    if let Some(p) = &a.report {
        write_report(p, results)?;
    }
    let failed = count(Outcome::Failed);
    let counters = &graph.stats;
    if a.dry_run {
        say!(
            "{name}: {} token(s): would create {}, already in the tenant {} (dry run: nothing changed)",
            results.len(),
            count(Outcome::WouldCreate),
            count(Outcome::Exists)
        );
    } else {
        say!(
            "{name}: {} token(s): created {}, already in the tenant {}, failed {failed} \
             ({} requests, {} throttled, {} retried)",
            results.len(),
            count(Outcome::Created),
            count(Outcome::Exists),
            counters.requests.load(Ordering::Relaxed),
            counters.throttled.load(Ordering::Relaxed),
            counters.retries.load(Ordering::Relaxed),
        );
    }
    if failed > 0 {
        eprintln!(
            "the state is kept in {}: rerun with --resume after fixing the cause",
            state.display()
        );
        return Err(Failure::Input(None));
    }
    if !a.dry_run {
        std::fs::remove_file(state)
            .with_context(|| format!("cannot remove {}", state.display()))?;
    }
    Ok(())
}

fn write_report(path: &std::path::Path, results: &[TokenResult]) -> Result<(), Failure> {
    let mut out = Output::create(Some(path), true)?;
    {
        let mut w = out.writer();
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if json {
            serde_json::to_writer_pretty(&mut w, results).context("cannot write the report")?;
            writeln!(w)?;
        } else {
            writeln!(w, "serial,outcome,device_id,status,error_code,request_id")?;
            for r in results {
                writeln!(
                    w,
                    "{},{},{},{},{},{}",
                    r.serial,
                    r.outcome.as_str(),
                    r.device_id.as_deref().unwrap_or_default(),
                    r.status.as_deref().unwrap_or_default(),
                    r.error_code.as_deref().unwrap_or_default(),
                    r.request_id.as_deref().unwrap_or_default()
                )?;
            }
        }
        w.flush()?;
    }
    out.commit()
}

pub async fn reconcile(graph: &Graph, a: &ReconcileArgs) -> Result<(), Failure> {
    let (name, tokens) = read_valid(&a.input)?;
    let devices = graph
        .list_devices(None, |_| {})
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let r = oathvault_graph::reconcile::compare(&tokens, &devices);
    say!(
        "{name}: {} token(s); the tenant: {} token(s)",
        tokens.len(),
        devices.len()
    );
    say!("in both:            {}", r.in_both);
    for (state, n) in &r.states {
        say!("  {state:<18}{n}");
    }
    let show = |label: &str, list: &[String]| {
        say!("{label:<20}{}", list.len());
        let shown = if a.all {
            list.len()
        } else {
            list.len().min(20)
        };
        for s in list.iter().take(shown) {
            say!("  {s}");
        }
        if shown < list.len() {
            say!("  … {} more (--all lists them)", list.len() - shown);
        }
    };
    show("missing in tenant:", &r.missing);
    show("only in tenant:", &r.extra);
    show("twice in the file:", &r.file_duplicates);
    show("twice in tenant:", &r.tenant_duplicates);
    if r.is_clean() {
        Ok(())
    } else {
        Err(Failure::Input(None))
    }
}

pub fn preflight(a: &PreflightArgs) -> Result<(), Failure> {
    let token = super::super::find_token(&a.input, Some(&a.serial))?;
    for v in oathvault_graph::push::validate(std::slice::from_ref(&token)) {
        say!("note: {v}");
    }
    match check_code(&token, a.code.trim(), SystemClock.now_unix()) {
        Finding::Fits { drift } => {
            say!(
                "serial {}: the code fits the file (the token's clock is {} s {}); the file is right for this token",
                a.serial,
                drift.abs(),
                if drift < 0 { "behind" } else { "ahead" }
            );
            Ok(())
        }
        Finding::Misread { reading } => Err(anyhow!(
            "serial {}: the code does NOT fit the file as read; it fits {reading}: fix the file before pushing",
            a.serial
        )
        .into()),
        Finding::NoMatch => Err(anyhow!(
            "serial {}: the code fits neither the file nor any common misreading: wrong file, wrong serial, \
             or a misread code (read it again, or try the next code)",
            a.serial
        )
        .into()),
        Finding::NotTotp => Err(anyhow!(
            "serial {}: the file holds no 6-digit TOTP token under this serial; Entra cannot take it",
            a.serial
        )
        .into()),
    }
}
