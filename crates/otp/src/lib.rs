//! HOTP (RFC 4226) and TOTP (RFC 6238): codes and verification with a drift
//! window.
//!
//! The time is always a parameter. [`Otp`] keys the HMAC once, so computing or
//! checking many counters costs one HMAC each. Verification looks at every
//! counter in the window, compares in constant time, and returns the offset of
//! the match: the token's drift in steps.
//!
//! ```
//! use oathvault_otp::{Otp, Window};
//! use oathvault_token::{Secret, Serial, Step, Token};
//!
//! let token = Token::totp(
//!     Serial::new("10001001")?,
//!     Secret::from_slice(b"12345678901234567890")?,
//!     Step::S30,
//! );
//! let otp = Otp::new(&token)?;
//! assert_eq!(otp.totp(59)?.to_string(), "287082");
//! // The code of the step before, checked a step later, matches at offset -1.
//! let m = otp.verify_totp("287082", 89, Window::symmetric(1))?.expect("accepted");
//! assert_eq!(m.offset, -1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod clock;
mod engine;
mod prekeyed;

pub use engine::{Code, CodeError, Match, Otp, OtpError, Window, hotp, totp_counter};
