//! Passwords: Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes)
//! in PHC strings, with the salt from the caller's RNG.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use rand08::{CryptoRng, RngCore};

/// Hashing failed (only for absurd inputs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// An Argon2id hash (PHC string) of `password` with a salt from `rng`.
pub fn hash<R: RngCore + CryptoRng>(rng: &mut R, password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks `password` against a stored hash (constant time in the hash).
#[must_use]
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use rand08::SeedableRng;

    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let mut rng = rand08::rngs::StdRng::seed_from_u64(1);
        let a = hash(&mut rng, "correct horse battery").unwrap_or_default();
        let b = hash(&mut rng, "correct horse battery").unwrap_or_default();
        assert!(a.starts_with("$argon2id$") && a != b, "salted");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("x", "not a hash"));
    }
}
