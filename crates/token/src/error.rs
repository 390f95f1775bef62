//! Typed errors. None of them carries secret material: positions, lengths and
//! names only.

use thiserror::Error;

/// A token field failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The serial is empty (after trimming spaces).
    #[error("serial number is empty")]
    SerialEmpty,
    /// The serial is longer than the limit.
    #[error("serial number is {len} characters long; at most {max} are allowed")]
    SerialTooLong {
        /// Characters found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The serial contains a control character (tab, newline, NUL, …).
    #[error("serial number contains a control character at position {position}")]
    SerialControl {
        /// 1-based character position.
        position: usize,
    },
    /// The secret has no bytes.
    #[error("secret is empty")]
    SecretEmpty,
    /// The secret is longer than the limit.
    #[error("secret is {len} bytes long; at most {max} are allowed")]
    SecretTooLong {
        /// Bytes found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Digits outside 6..=10.
    #[error("{digits} digits is not supported (6 to 10)")]
    Digits {
        /// The value given.
        digits: u64,
    },
    /// TOTP step outside 1..=`Step::MAX` seconds.
    #[error("time step of {step} s is not supported (1 to 2147483647 s)")]
    Step {
        /// The value given.
        step: u64,
    },
    /// A hash name that is not SHA-1, SHA-256 or SHA-512.
    #[error("unknown hash algorithm {name:?} (expected SHA1, SHA256 or SHA512)")]
    UnknownHash {
        /// The name given.
        name: String,
    },
    /// A token type that is not TOTP or HOTP.
    #[error("unknown token type {name:?} (expected TOTP or HOTP)")]
    UnknownKind {
        /// The name given.
        name: String,
    },
    /// A number field that is not a non-negative integer.
    #[error("{value:?} is not a whole number")]
    NotANumber {
        /// The text given (never a secret).
        value: String,
    },
}

/// A secret could not be decoded from its text form.
///
/// Only positions and lengths are reported: an invalid character may be a
/// typo of a secret character, so it is never echoed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// Nothing left after removing spaces.
    #[error("secret is empty")]
    Empty,
    /// A character outside the alphabet.
    #[error("invalid {encoding} character at position {position}{hint}")]
    InvalidChar {
        /// Encoding name.
        encoding: &'static str,
        /// 1-based position in the text as given.
        position: usize,
        /// Extra advice, possibly empty.
        hint: &'static str,
    },
    /// Hex with an odd number of digits.
    #[error("hex secret has an odd number of digits ({len})")]
    OddHexLength {
        /// Digits found.
        len: usize,
    },
    /// A Base32/Base64 length that cannot come from whole bytes.
    #[error("{encoding} secret has an impossible length ({len} characters)")]
    BadLength {
        /// Encoding name.
        encoding: &'static str,
        /// Characters found (without padding).
        len: usize,
    },
    /// `=` padding in the wrong place or in excess.
    #[error("{encoding} padding is malformed")]
    BadPadding {
        /// Encoding name.
        encoding: &'static str,
    },
    /// Base64 whose final bits are not zero (not a canonical encoding).
    #[error("Base64 secret has non-zero trailing bits")]
    TrailingBits,
    /// The decoded bytes are not a usable secret.
    #[error(transparent)]
    Token(#[from] TokenError),
}
