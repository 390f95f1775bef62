//! `oathvault check`: is this code right for this token, and how far has it drifted?

use anyhow::Context;
use oathvault_otp::clock::{Clock, SystemClock};
use oathvault_otp::{Otp, OtpError, Window};
use oathvault_token::Kind;
use serde::Serialize;

use crate::Failure;
use crate::args::CheckArgs;
use crate::commands::find_token;

#[derive(Serialize)]
struct Report<'a> {
    serial: &'a str,
    accepted: bool,
    /// Drift in steps (TOTP) or counters (HOTP) when accepted.
    drift: Option<i64>,
    /// Drift in seconds (TOTP) when accepted.
    drift_seconds: Option<i64>,
    /// The counter that matched; for HOTP the next expected is this + 1.
    counter: Option<u64>,
    window: u32,
}

#[allow(clippy::print_stdout, reason = "the command's output")]
pub fn run(args: &CheckArgs) -> Result<(), Failure> {
    let token = find_token(&args.input, args.serial.as_deref())?;
    let otp = Otp::new(&token).context("cannot use this token's secret")?;
    let (expected, window, step) = match token.kind {
        Kind::Totp { step, .. } => {
            if args.counter.is_some() {
                return Err(Failure::Usage(
                    "--counter is for HOTP tokens; this one is TOTP (use --at)".into(),
                ));
            }
            let at = args.at.unwrap_or_else(|| SystemClock.now_unix());
            let c = otp
                .counter_at(at)
                .with_context(|| format!("serial {}", token.serial))?;
            (
                c,
                Window::symmetric(args.window),
                Some(i64::from(step.seconds())),
            )
        }
        Kind::Hotp { counter } => {
            if args.at.is_some() {
                return Err(Failure::Usage(
                    "--at is for TOTP tokens; this one is HOTP (use --counter)".into(),
                ));
            }
            // An HOTP token only moves forward.
            (
                args.counter.unwrap_or(counter),
                Window {
                    behind: 0,
                    ahead: args.window,
                },
                None,
            )
        }
    };
    let found = match otp.verify_counter(&args.code, expected, window) {
        Ok(m) => m,
        Err(OtpError::Code(e)) => return Err(anyhow::anyhow!("{e}").into()),
        Err(e) => return Err(anyhow::anyhow!("serial {}: {e}", token.serial).into()),
    };
    let report = Report {
        serial: token.serial.as_str(),
        accepted: found.is_some(),
        drift: found.map(|m| m.offset),
        drift_seconds: found.and_then(|m| step.map(|s| m.offset * s)),
        counter: found.map(|m| m.counter),
        window: args.window,
    };
    if args.json {
        say!(
            "{}",
            serde_json::to_string(&report).context("cannot encode the report")?
        );
    } else {
        match (found, step) {
            (Some(m), Some(_)) if m.offset == 0 => {
                say!("accepted: serial {}, no drift", token.serial);
            }
            (Some(m), Some(s)) => say!(
                "accepted: serial {}, drift {:+} step{} ({:+} s)",
                token.serial,
                m.offset,
                if m.offset.abs() == 1 { "" } else { "s" },
                m.offset * s
            ),
            (Some(m), None) => say!(
                "accepted: serial {}, counter {} (drift {:+}); next expected counter {}",
                token.serial,
                m.counter,
                m.offset,
                m.counter.saturating_add(1)
            ),
            (None, _) => say!(
                "rejected: serial {}: the code matches no step within ±{} of the expected one",
                token.serial,
                args.window
            ),
        }
    }
    if found.is_some() {
        Ok(())
    } else {
        Err(Failure::Input(None))
    }
}
