//! Test support for oathvault: the golden tokens of the shared test vectors,
//! deterministic synthetic tokens, proptest strategies, and a throwaway
//! PostgreSQL server; with the `browser` feature, a headless Chromium.
#![deny(missing_docs)]
#![allow(
    clippy::missing_panics_doc,
    reason = "test support: a panic is a failed test"
)]
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: constants are known to be valid; a failed setup is a failed test"
)]

#[cfg(feature = "browser")]
pub mod browser;
pub mod golden;
pub mod logs;
pub mod pki;
pub mod postgres;
pub mod synth;
pub mod xmldsig;
