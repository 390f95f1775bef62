//! `oathvault convert --split`: one file per kind of token, for targets whose
//! files hold one kind only (Duo CSV, DualShield). All or nothing: every
//! file is complete on disk before any is renamed into place.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use oathvault_formats::{BatchClass, Format, Rule, SerialSet, WriteOptions, writer};
use oathvault_otp::clock::Stopwatch;
use oathvault_token::Token;

use crate::Failure;
use crate::args::ConvertArgs;
use crate::commands::convert::report_refusal;
use crate::io::{Input, Output};

/// The file name part that tells a class: `totp6`, `hotp8`, `totp6-60s-sha1`.
pub fn class_suffix(class: BatchClass) -> String {
    let step = class.step.map(|s| format!("-{s}s")).unwrap_or_default();
    let hash = class
        .hash
        .map(|h| format!("-{}", h.to_string().to_ascii_lowercase()))
        .unwrap_or_default();
    format!("{}{}{step}{hash}", class.kind, class.digits)
}

/// `dir/name.ext` → `dir/name-<suffix>.ext`.
fn split_path(base: &Path, suffix: &str, ext: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map_or_else(|| "tokens".into(), |s| s.to_string_lossy().into_owned());
    let ext = base
        .extension()
        .map_or_else(|| ext.to_owned(), |e| e.to_string_lossy().into_owned());
    base.with_file_name(format!("{stem}-{suffix}.{ext}"))
}

/// Tokens grouped by class (in the order classes first appear) and the problems found.
struct Split {
    groups: Vec<(BatchClass, Vec<Token>)>,
    problems: Vec<String>,
    problem_count: usize,
}

fn group(input: Input, to: Format, shown: usize, stop_after: usize) -> Split {
    let target = to.target();
    let mut serials = SerialSet::new();
    let mut g = Split {
        groups: Vec::new(),
        problems: Vec::new(),
        problem_count: 0,
    };
    let problem = |g: &mut Split, p: String| {
        g.problem_count += 1;
        if g.problems.len() < shown {
            g.problems.push(p);
        }
    };
    for item in input.tokens() {
        if g.problem_count >= stop_after {
            break;
        }
        let token = match item {
            Ok(t) => t,
            Err(e) => {
                problem(&mut g, e.to_string());
                continue;
            }
        };
        if !serials.insert(token.serial.as_str()) {
            problem(
                &mut g,
                Rule::DuplicateSerial.message(token.serial.as_str(), "repeated"),
            );
        }
        for v in target.check(&token) {
            problem(&mut g, v.to_string());
        }
        let Some(class) = target.batch_class(&token) else {
            continue;
        };
        match g.groups.iter_mut().find(|(c, _)| *c == class) {
            Some((_, tokens)) => tokens.push(token),
            None => g.groups.push((class, vec![token])),
        }
    }
    g
}

#[allow(clippy::print_stderr, reason = "the command reports on stderr")]
pub fn run(
    args: &ConvertArgs,
    write: &WriteOptions,
    shown: usize,
    stop_after: usize,
) -> Result<(), Failure> {
    let to: Format = args.to.into();
    let Some(base) = args.output.as_deref().filter(|o| o.as_os_str() != "-") else {
        return Err(Failure::Usage(
            "--split writes several files: name the first part of their names with -o, e.g. -o tokens.csv".into(),
        ));
    };
    let watch = Stopwatch::start();
    let input = Input::open(&args.input, false)?;
    let (from, name) = (input.format, input.name.clone());
    let g = group(input, to, shown, stop_after);
    if g.problem_count > 0 {
        let stopped = g.problem_count >= stop_after;
        report_refusal(&g.problems, g.problem_count, stopped, &name, to);
        return Err(Failure::Input(None));
    }
    if g.groups.is_empty() {
        return Err(anyhow!("{name}: no tokens to convert").into());
    }
    // Every file written and flushed to its temporary name first.
    let mut outputs = Vec::with_capacity(g.groups.len());
    for (class, tokens) in &g.groups {
        let path = split_path(base, &class_suffix(*class), to.extension());
        let mut output = Output::create(Some(&path), args.force)?;
        {
            let mut w = writer(to, output.writer(), write)?;
            for t in tokens {
                w.write(t)?;
            }
            w.finish()?;
        }
        outputs.push((path, *class, tokens.len(), output));
    }
    let total: usize = outputs.iter().map(|(_, _, n, _)| n).sum();
    let files = outputs.len();
    let mut lines = Vec::with_capacity(files);
    for (path, class, n, output) in outputs {
        output.commit()?;
        lines.push(format!("  {} ({n} × {class})", path.display()));
    }
    if !args.quiet {
        eprintln!(
            "{total} token{} {from} → {to} in {files} file{}, {:.2} s:",
            if total == 1 { "" } else { "s" },
            if files == 1 { "" } else { "s" },
            watch.elapsed().as_secs_f64()
        );
        for l in lines {
            eprintln!("{l}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let c = BatchClass {
            kind: "totp",
            digits: 6,
            step: Some(60),
            hash: Some(oathvault_token::Hash::Sha256),
        };
        assert_eq!(class_suffix(c), "totp6-60s-sha256");
        assert_eq!(
            split_path(Path::new("out/tokens.csv"), "hotp8", "csv"),
            Path::new("out/tokens-hotp8.csv")
        );
        assert_eq!(
            split_path(Path::new("batch"), "totp6", "xml"),
            Path::new("batch-totp6.xml")
        );
    }
}
