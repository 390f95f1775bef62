//! Test support for oathvault: the golden tokens of the shared test vectors,
//! deterministic synthetic tokens, and proptest strategies.
#![deny(missing_docs)]
#![allow(
    clippy::missing_panics_doc,
    reason = "test support: a panic is a failed test"
)]
#![allow(
    clippy::expect_used,
    reason = "test support: constants are known to be valid"
)]

pub mod golden;
pub mod synth;
