//! Session tokens: 32 random bytes in URL-safe Base64, given to the browser
//! once (in a cookie); only their SHA-256 is stored, so a copy of the
//! database opens no session.

use rand08::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A session cookie value (shown to the browser once; wiped when dropped).
pub type Token = Zeroizing<String>;

/// A fresh token from `rng`.
pub fn new_token(rng: &mut (impl RngCore + CryptoRng)) -> Token {
    let mut raw = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut *raw);
    Zeroizing::new(data_encoding::BASE64URL_NOPAD.encode(&*raw))
}

/// The hash a token is stored under (lower-case hex SHA-256).
#[must_use]
pub fn token_hash(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use rand08::SeedableRng as _;

    #[test]
    fn tokens_are_random_and_stored_as_hashes() {
        let mut rng = rand08::rngs::StdRng::seed_from_u64(7);
        let (a, b) = (super::new_token(&mut rng), super::new_token(&mut rng));
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let h = super::token_hash(&a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(a.as_str()));
        assert_eq!(
            super::token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
