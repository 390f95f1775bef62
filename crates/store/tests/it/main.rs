//! The store's integration tests, one binary: the store as a whole
//! (`store`), seed requests and their files (`requests`) and the help
//! desk's tables (`desk`), each on SQLite and on a real PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test; a suite reads as one story"
)]

mod desk;
mod requests;
mod store;
