//! Why a key or certificate could not be loaded, or why a token was refused.

/// Why a key or certificate could not be made or loaded, or why a token
/// was refused. No text ever holds key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is not a well-formed compact JWS (wrong number of parts,
    /// bad base64url, header or claims not a JSON object, missing or
    /// non-integer `exp`, a `crit` header), or the claims or header fields
    /// given to [`SigningKey::sign`](crate::SigningKey::sign) are not
    /// usable.
    #[error("malformed token")]
    Malformed,
    /// The header's `alg` is not `RS256` (for example `none` or `HS256`).
    /// Holds the algorithm named by the token, cut to 32 characters.
    #[error("unsupported token algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The header does not name the verifying key: `kid` missing or another
    /// key's; for a [`Certificate`](crate::Certificate), neither `x5t` nor
    /// `x5t#S256` given, or one of them naming another certificate.
    #[error("token signed with an unknown key")]
    UnknownKey,
    /// The signature does not match the header and claims.
    #[error("bad token signature")]
    BadSignature,
    /// `exp` is more than the allowed clock skew in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is more than the allowed clock skew in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// The key could not be generated, loaded, encoded or used.
    #[error("signing key: {0}")]
    Key(String),
    /// The certificate could not be found in the PEM text, parsed, or its
    /// public key is not a usable RSA key.
    #[error("certificate: {0}")]
    Certificate(String),
}
