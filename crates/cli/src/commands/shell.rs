//! `oathvault completions SHELL` (a completion script on standard output)
//! and `oathvault man --out DIR` (a manual page per command), both made
//! from the command-line definition itself, so they cannot drift from it.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::Failure;
use crate::args::Cli;

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "oathvault", &mut script);
    write_stdout(&script)
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::Error::from(e)
            .context("cannot write to standard output")
            .into()),
        _ => Ok(()),
    }
}

/// Writes `oathvault.1` and one page per subcommand
/// (`oathvault-portal-serve.1`, …) into `out` (created if missing).
pub fn man(out: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    clap_mangen::generate_to(Cli::command(), out)
        .with_context(|| format!("cannot write the manual pages into {}", out.display()))?;
    Ok(())
}
