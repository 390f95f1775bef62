//! The OATH token model shared by every part of oathvault.
//!
//! A [`Token`] is what a hardware OATH token carries: a [`Serial`] (text, leading
//! zeros kept), a [`Kind`] (TOTP with step and T0, or HOTP with a counter), a
//! [`Hash`](enum@Hash), [`Digits`], and a [`Secret`] that is zeroized on drop and never
//! printed. Secrets are read and written in hex, Base32 or Base64 through
//! [`SecretEncoding`], leniently on input and canonically on output.
//!
//! ```
//! use oathvault_token::{Secret, SecretEncoding};
//!
//! // Entra's own sample: lower case, unpadded, spare trailing bits.
//! let secret = SecretEncoding::Base32.decode("2234567abcdef2234567abcdef")?;
//! assert_eq!(secret.len(), 16);
//! assert_eq!(format!("{secret:?}"), "Secret([redacted])");
//! assert_eq!(&*SecretEncoding::Base32.encode(&secret), "2234567ABCDEF2234567ABCDEE");
//! # Ok::<(), oathvault_token::EncodingError>(())
//! ```
#![deny(missing_docs)]

mod encoding;
mod error;
mod model;
mod secret;

pub use encoding::SecretEncoding;
pub use error::{EncodingError, TokenError};
pub use model::{Digits, Hash, Kind, MAX_SERIAL_LEN, Serial, Step, Token};
pub use secret::MAX_SECRET_LEN;
pub use secret::Secret;
