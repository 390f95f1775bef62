//! Public keys published as JWKs (a JWKS `keys` entry, as at Entra's
//! `/discovery/v2.0/keys`): for verifying tokens of an identity provider
//! that is not this program, e.g. ID tokens.

use data_encoding::BASE64URL_NOPAD;
use rsa::pkcs1v15;
use rsa::sha2::Sha256;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};

use crate::JwtError;
use crate::verify::{header_is, verify_rs256};

/// Smallest and largest RSA moduli accepted from a key set (bits).
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 8192;

/// One RSA public key from a JWKS, with its `kid`.
#[derive(Debug, Clone)]
pub struct PublicJwk {
    kid: String,
    verifier: pkcs1v15::VerifyingKey<Sha256>,
}

impl PublicJwk {
    /// Reads one JWK: `kty` `RSA`, a `kid`, `n` and `e` (base64url); a
    /// key whose `use` is not `sig` or whose `alg` is not `RS256` is
    /// refused.
    ///
    /// # Errors
    /// [`JwtError::Key`] naming what is missing or wrong.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JwtError> {
        let field = |name: &str| jwk.get(name).and_then(Value::as_str);
        if field("kty") != Some("RSA") {
            return Err(JwtError::Key("JWK: kty is not RSA".to_owned()));
        }
        if field("use").is_some_and(|u| u != "sig") || field("alg").is_some_and(|a| a != "RS256") {
            return Err(JwtError::Key("JWK: not an RS256 signing key".to_owned()));
        }
        let kid = field("kid")
            .ok_or_else(|| JwtError::Key("JWK: no kid".to_owned()))?
            .to_owned();
        let number = |name: &str| {
            field(name)
                .and_then(|v| BASE64URL_NOPAD.decode(v.as_bytes()).ok())
                .map(|b| BigUint::from_bytes_be(&b))
                .ok_or_else(|| JwtError::Key(format!("JWK {kid}: {name} is not base64url")))
        };
        let public = RsaPublicKey::new(number("n")?, number("e")?)
            .map_err(|_| JwtError::Key(format!("JWK {kid}: not an RSA public key")))?;
        let bits = rsa::traits::PublicKeyParts::n(&public).bits();
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(JwtError::Key(format!(
                "JWK {kid}: RSA modulus has {bits} bits, {MIN_BITS} to {MAX_BITS} are accepted"
            )));
        }
        Ok(Self {
            kid,
            verifier: pkcs1v15::VerifyingKey::new(public),
        })
    }

    /// The keys of a JWKS document (`{"keys":[…]}`) that can verify RS256
    /// tokens; others (EC keys, encryption keys) are left out.
    #[must_use]
    pub fn from_jwks(jwks: &Value) -> Vec<Self> {
        jwks.get("keys")
            .and_then(Value::as_array)
            .map(|keys| keys.iter().filter_map(|k| Self::from_jwk(k).ok()).collect())
            .unwrap_or_default()
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Verifies a compact JWS whose header names this key (`kid`): `alg`
    /// `RS256` only, the signature, then `exp` (required) and `nbf` as
    /// [`SigningKey::verify`](crate::SigningKey::verify) does. Returns the
    /// claims; checking `iss`, `aud` and the rest is the caller's.
    ///
    /// # Errors
    /// As [`SigningKey::verify`](crate::SigningKey::verify).
    pub fn verify(&self, token: &str, now: i64) -> Result<Map<String, Value>, JwtError> {
        verify_rs256(&self.verifier, token, now, |header| {
            header_is(header, "kid", &self.kid)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::SigningKey;
    use rand08::SeedableRng;
    use serde_json::json;

    #[test]
    fn verifies_tokens_of_the_key_it_was_published_for_only() {
        let mut rng = rand08::rngs::StdRng::seed_from_u64(3);
        let key = SigningKey::generate(&mut rng).unwrap();
        let other = SigningKey::generate(&mut rng).unwrap();
        let keys = PublicJwk::from_jwks(&json!({"keys": [key.jwk(), {"kty": "EC", "kid": "x"}]}));
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid(), key.kid());
        let token = key.sign(&json!({"exp": 2000, "sub": "a"})).unwrap();
        assert_eq!(keys[0].verify(&token, 1000).unwrap()["sub"], "a");
        assert!(keys[0].verify(&token, 3000).is_err(), "expired");
        let forged = other.sign(&json!({"exp": 2000})).unwrap();
        assert!(keys[0].verify(&forged, 1000).is_err(), "another key");
        let mut small = key.jwk();
        small["n"] = json!("AQAB");
        assert!(PublicJwk::from_jwk(&small).is_err());
    }
}
