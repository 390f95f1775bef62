//! RS256 JSON Web Tokens as Microsoft's identity platform uses them.
//!
//! Entra signs access tokens as compact JWS (RFC 7515) with `RS256`
//! (RSASSA-PKCS1-v1_5 over SHA-256) and publishes the public keys as a
//! JWKS (RFC 7517) at `/{tenant}/discovery/v2.0/keys`. Clients written for
//! Entra (MSAL, `Microsoft.IdentityModel`, generic OIDC libraries) look a
//! token's key up by the `kid` (or `x5t`) header and check the signature
//! and the `exp` / `nbf` claims with five minutes of clock skew. Confidential
//! clients prove who they are the other way round: they sign a *client
//! assertion* with the private key of a certificate uploaded to the
//! application, naming the certificate by its thumbprint in `x5t` (SHA-1)
//! or `x5t#S256` (SHA-256).
//!
//! - [`SigningKey`] signs claims (with its own `kid` header, or any header
//!   fields you give, see [`SigningKey::sign_with_header`]), publishes its
//!   JWKS and verifies the tokens it made. It loads from PKCS#8 DER or from
//!   PEM (PKCS#8 or PKCS#1, also out of a combined certificate-and-key file).
//! - [`Certificate`] reads an X.509 certificate, gives its thumbprints and
//!   validity period, and verifies tokens signed with its key.
//!
//! ```
//! use oathvault_jwt::SigningKey;
//! use rand08::SeedableRng;
//! use serde_json::json;
//!
//! let key = SigningKey::generate(&mut rand08::rngs::StdRng::seed_from_u64(7))?;
//! let now = 1_750_000_000;
//! let token = key.sign(&json!({"sub": "app", "exp": now + 3600}))?;
//! assert_eq!(key.verify(&token, now)?["sub"], "app");
//! assert_eq!(key.verify(&token, now + 3600 + 300), Err(oathvault_jwt::JwtError::Expired));
//! # Ok::<(), oathvault_jwt::JwtError>(())
//! ```
//!
//! Choices:
//! - A [`SigningKey`]'s id is base64url (no padding) of the first 20 bytes
//!   of SHA-256 over the DER `SubjectPublicKeyInfo` of the public key, so
//!   it is the same every time the key is loaded and changes when the key
//!   changes. Microsoft's `x5t` is the SHA-1 thumbprint of an X.509
//!   certificate; the directory's signing key has no certificate, so its
//!   `x5t` repeats the key id (both are 27 characters, as Microsoft's are).
//! - Verification is strict and written once: exactly three base64url
//!   parts without padding, `alg` must be `RS256` (`none`, `HS256` and the
//!   rest are refused before any key is used), the header must name the
//!   verifying key, a `crit` header is refused (no extensions are
//!   understood), and the time claims are read only after the signature is
//!   good. `exp` is required; `exp` and `nbf` must be integers
//!   (`NumericDate` in whole seconds, as Entra writes them).
//! - RSA moduli of 2048 to 4096 bits are accepted, for keys and
//!   certificates alike.
//! - Signing uses RSA blinding with the operating system's random number
//!   generator, which hides the private exponent from timing measurements
//!   (the `rsa` crate's unblinded path is not constant-time).
//! - Time is a parameter (`now`, Unix seconds); this crate never reads the
//!   clock.
#![deny(missing_docs)]

mod cert;
mod error;
mod jwk;
mod key;
mod pem;
mod verify;

pub use cert::{Certificate, X5T, X5T_S256};
pub use error::JwtError;
pub use jwk::PublicJwk;
pub use key::SigningKey;
pub use verify::{decode_claims, decode_header};

/// The JWS algorithm this crate signs and accepts.
pub const ALGORITHM: &str = "RS256";

/// Clock skew allowed on `exp` and `nbf`, in seconds (Microsoft allows
/// five minutes).
pub const CLOCK_SKEW_SECONDS: i64 = 300;

/// Smallest RSA modulus accepted, in bits.
const MIN_BITS: usize = 2048;

/// Largest RSA modulus accepted, in bits (bounds the cost of signing and
/// verifying).
const MAX_BITS: usize = 4096;
