//! The mail crate against real peers: lettre through the sink, Python's
//! `smtplib` as an independent client, and raw TCP for the refusals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests and their helpers: a failure is a failed test"
)]

mod support;

mod mailer;
mod outbox;
mod protocol;
mod python;
