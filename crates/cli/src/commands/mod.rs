//! One module per command.

mod api_keys;
mod backup;
pub mod check;
pub mod convert;
mod custody;
pub mod demo;
pub mod desk;
pub mod directory;
pub mod entra;
pub mod formats;
pub mod inspect;
mod listing;
pub mod otp;
pub mod package;
pub mod portal;
pub mod shell;
pub mod split;

use anyhow::{Context, anyhow};
use oathvault_otp::clock::{Clock, SystemClock};
use oathvault_token::Token;

use crate::Failure;
use crate::args::InputArgs;
use crate::io::Input;

/// Now, in Unix seconds (the system clock, read in one place).
pub fn now() -> i64 {
    i64::try_from(SystemClock.now_unix()).unwrap_or(i64::MAX)
}

/// Runs an async command to its end on a two-thread runtime.
pub fn block_on(command: impl Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(command)
}

/// Finds one token by serial (or the only token when no serial is given).
/// Every token is read, so a bad file is reported, not half-used.
pub fn find_token(input: &InputArgs, serial: Option<&str>) -> Result<Token, Failure> {
    let input = Input::open(input, false)?;
    let name = input.name.clone();
    let mut found = None;
    let mut count = 0u64;
    for token in input.tokens() {
        let token = token?;
        count += 1;
        match serial {
            Some(s) if token.serial.as_str() == s.trim() => {
                if found.is_some() {
                    return Err(anyhow!("serial {s} appears more than once in {name}").into());
                }
                found = Some(token);
            }
            Some(_) => {}
            None if count == 1 => found = Some(token),
            None => found = None,
        }
    }
    match (found, serial) {
        (Some(t), _) => Ok(t),
        (None, Some(s)) => Err(anyhow!("serial {s} is not in {name} ({count} tokens)").into()),
        (None, None) => Err(Failure::Usage(format!(
            "{name} holds {count} tokens; choose one with --serial"
        ))),
    }
}
