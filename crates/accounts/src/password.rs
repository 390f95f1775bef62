//! Passwords: Argon2id hashes (PHC strings), the strength rule for staff
//! and operators, and a dummy hash checked when an account is unknown or
//! locked, so that every refusal costs the same time.

use rand08::{CryptoRng, RngCore};

pub use oathvault_vault::password::HashError;

/// The fewest characters a staff or operator password may have.
pub const MIN_LEN: usize = 12;

/// Whether `password` is long enough for a staff or operator account.
#[must_use]
pub fn strong_enough(password: &str) -> bool {
    password.chars().count() >= MIN_LEN
}

/// An Argon2id hash (PHC string) of `password` with a salt from `rng`.
pub fn hash<R: RngCore + CryptoRng>(rng: &mut R, password: &str) -> Result<String, HashError> {
    oathvault_vault::password::hash(rng, password)
}

/// Checks `password` against a stored Argon2id hash (constant time in the hash).
#[must_use]
pub fn verify(password: &str, hash: &str) -> bool {
    oathvault_vault::password::verify(password, hash)
}

/// An Argon2id hash (same parameters as real ones) to check when the
/// account is unknown or locked, so a miss takes as long as a wrong
/// password. Its salt is fixed: it guards no secret.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use rand08::SeedableRng as _;
    hash(
        &mut rand08::rngs::StdRng::seed_from_u64(0),
        "not a password",
    )
    .unwrap_or_default()
});

/// Spends the time of checking a password, for an account that cannot sign in.
pub fn waste_a_check(password: &str) {
    let _ = verify(password, &DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dummy_is_a_real_hash_that_nothing_opens() {
        assert!(super::DUMMY_HASH.starts_with("$argon2id$"));
        assert!(!super::verify("", &super::DUMMY_HASH));
        assert!(super::strong_enough("twelve chars") && !super::strong_enough("eleven char"));
    }
}
