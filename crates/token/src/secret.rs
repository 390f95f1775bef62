//! The secret seed: zeroized on drop, never printed, compared in constant time.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::TokenError;

/// The longest secret accepted, in bytes (SHA-512 keys are 64; some vendors pad to 128).
pub const MAX_SECRET_LEN: usize = 128;

/// A token's shared secret (the seed).
///
/// The bytes are wiped from memory when the value is dropped. `Debug` and
/// `Display` print `[redacted]`; there is no `Serialize`: writing a secret out
/// is always an explicit [`crate::SecretEncoding::encode`].
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps raw key bytes. Empty secrets and secrets over 128 bytes are refused.
    pub fn new(bytes: Vec<u8>) -> Result<Self, TokenError> {
        let bytes = Zeroizing::new(bytes);
        if bytes.is_empty() {
            return Err(TokenError::SecretEmpty);
        }
        if bytes.len() > MAX_SECRET_LEN {
            return Err(TokenError::SecretTooLong {
                len: bytes.len(),
                max: MAX_SECRET_LEN,
            });
        }
        Ok(Self(bytes))
    }

    /// A one-byte zero secret, for placeholders.
    pub(crate) fn zero_byte() -> Self {
        Self(Zeroizing::new(vec![0]))
    }

    /// Copies raw key bytes out of a slice (the slice stays the caller's to wipe).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, TokenError> {
        Self::new(bytes.to_vec())
    }

    /// Refills the secret in place: `fill` gets the wiped, empty buffer. If
    /// `fill` fails or leaves an invalid length, the secret becomes a single
    /// zero byte (never empty) and the error is returned.
    pub(crate) fn with_buffer<E: From<TokenError>>(
        &mut self,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        // The spare capacity holds nothing: `clear` after a wipe of the bytes in use.
        self.0.as_mut_slice().zeroize();
        self.0.clear();
        let result = fill(&mut self.0).and_then(|()| {
            if self.0.is_empty() {
                Err(TokenError::SecretEmpty.into())
            } else if self.0.len() > MAX_SECRET_LEN {
                Err(TokenError::SecretTooLong {
                    len: self.0.len(),
                    max: MAX_SECRET_LEN,
                }
                .into())
            } else {
                Ok(())
            }
        });
        if result.is_err() {
            self.0.zeroize();
            self.0.clear();
            self.0.push(0);
        }
        result
    }

    /// The raw key bytes. Keep the borrow short and never log it.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: an empty secret cannot be built.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Strength in bits (8 × length).
    #[must_use]
    pub fn bits(&self) -> usize {
        self.0.len() * 8
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        // Length is not secret; the bytes are compared in constant time.
        self.0.len() == other.0.len() && bool::from(self.0.as_slice().ct_eq(other.0.as_slice()))
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Zeroize for Secret {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::from_slice(b"12345678901234567890").unwrap();
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:#?}"), "Secret([redacted])");
    }

    #[test]
    fn length_limits() {
        assert_eq!(Secret::new(Vec::new()), Err(TokenError::SecretEmpty));
        assert!(Secret::new(vec![7; 128]).is_ok());
        assert_eq!(
            Secret::new(vec![7; 129]),
            Err(TokenError::SecretTooLong { len: 129, max: 128 })
        );
    }

    #[test]
    fn equality() {
        let a = Secret::from_slice(b"abc").unwrap();
        assert_eq!(a, Secret::from_slice(b"abc").unwrap());
        assert_ne!(a, Secret::from_slice(b"abd").unwrap());
        assert_ne!(a, Secret::from_slice(b"abcd").unwrap());
    }
}
