//! The one place oathvault takes randomness from the operating system.
//! Everything else is given a random source (clippy's `disallowed-types`
//! keeps `OsRng` and `thread_rng` out of other modules), so tests can pass a
//! seeded one and get the same bytes every run.

/// The operating system's cryptographic random source.
#[must_use]
#[allow(clippy::disallowed_types, reason = "this is the one randomness module")]
pub fn os() -> rand08::rngs::OsRng {
    rand08::rngs::OsRng
}
