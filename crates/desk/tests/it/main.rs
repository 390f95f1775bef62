//! The desk's integration tests, one binary: each module is one former
//! test file; `common` holds what they share.

mod actions;
mod browser;
mod common;
mod entra;
mod layouts;
mod logs;
mod metrics;
mod people;
