//! `oathvault`: open, verify, inspect and convert hardware OATH token seed files.
//!
//! The binary is glue: arguments in, library calls, messages and exit codes
//! out (0 ok, 1 bad input or a rejected check, 2 usage).

/// Prints one line of a command's output. A closed pipe (`oathvault … | head`)
/// ends the program quietly with success, as for any Unix tool, instead of
/// the panic `println!` gives.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out(format_args!($($arg)*))
    };
}

mod args;
mod commands;
mod early_sync;
mod entra_args;
mod io;
mod server_args;

use std::process::ExitCode;

use clap::Parser;

/// Writes a line to standard output (see `say!`).
pub fn out(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// How a command failed, and so which exit code it gets.
#[derive(Debug)]
pub enum Failure {
    /// Bad input, a refused conversion, a rejected code: exit 1. The message
    /// has been printed already when `None`.
    Input(Option<anyhow::Error>),
    /// Wrong use of the command line: exit 2.
    Usage(String),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Input(Some(e))
    }
}

impl From<oathvault_formats::Error> for Failure {
    fn from(e: oathvault_formats::Error) -> Self {
        Self::Input(Some(e.into()))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::Input(Some(e.into()))
    }
}

#[allow(clippy::print_stderr, reason = "the binary reports errors on stderr")]
fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Convert(a) => commands::convert::run(&a),
        args::Command::Inspect(a) => commands::inspect::run(&a),
        args::Command::Otp(a) => commands::otp::run(&a),
        args::Command::Check(a) => commands::check::run(&a),
        args::Command::Open(a) => commands::package::open(&a),
        args::Command::Pack(a) => commands::package::pack(&a),
        args::Command::Key(a) => commands::package::key(&a),
        args::Command::Keygen(a) => commands::package::keygen(&a),
        args::Command::Portal(a) => commands::portal::run(&a),
        args::Command::Directory(a) => commands::directory::run(&a),
        args::Command::Desk(a) => commands::desk::run(&a),
        args::Command::Demo(a) => commands::demo::run(&a),
        args::Command::Entra(a) => commands::entra::run(&a),
        args::Command::Completions { shell } => commands::shell::completions(shell),
        args::Command::Man { out } => commands::shell::man(&out),
        args::Command::Formats(f) => {
            commands::formats::run(f.json);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(None)) => ExitCode::from(1),
        Err(Failure::Input(Some(e))) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
    }
}
