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

/// The master keyring of these tests: the same key on every call, so a
/// store reopened in a test opens its audit key again.
#[must_use]
pub fn test_keys() -> oathvault_vault::Keyring {
    use rand08::SeedableRng;
    oathvault_vault::Keyring::generate(&mut rand08::rngs::StdRng::seed_from_u64(42))
}
