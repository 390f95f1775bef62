//! `oathvault otp`: the codes a token shows.

use std::fmt::Write as _;

use anyhow::Context;
use oathvault_otp::Otp;
use oathvault_otp::clock::{Clock, SystemClock};
use oathvault_token::Kind;

use crate::Failure;
use crate::args::OtpArgs;
use crate::commands::find_token;

#[allow(clippy::print_stdout, reason = "the command's output")]
pub fn run(args: &OtpArgs) -> Result<(), Failure> {
    let token = find_token(&args.input, args.serial.as_deref())?;
    let otp = Otp::new(&token).context("cannot use this token's secret")?;
    let first = match token.kind {
        Kind::Totp { .. } => {
            if args.counter.is_some() {
                return Err(Failure::Usage(
                    "--counter is for HOTP tokens; this one is TOTP (use --at)".into(),
                ));
            }
            let at = args.at.unwrap_or_else(|| SystemClock.now_unix());
            otp.counter_at(at)
                .with_context(|| format!("serial {}", token.serial))?
        }
        Kind::Hotp { counter } => {
            if args.at.is_some() {
                return Err(Failure::Usage(
                    "--at is for TOTP tokens; this one is HOTP (use --counter)".into(),
                ));
            }
            args.counter.unwrap_or(counter)
        }
    };
    let mut out = String::new();
    for i in 0..u64::from(args.count) {
        let _ = writeln!(out, "{}", otp.at_counter(first.saturating_add(i)));
    }
    print!("{out}");
    Ok(())
}
