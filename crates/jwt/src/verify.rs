//! The one RS256 verifier: compact JWS parsing, the `alg` and `crit`
//! checks, the signature, then `exp` / `nbf`. [`SigningKey`] and
//! [`Certificate`] differ only in how a header names their key.
//!
//! [`SigningKey`]: crate::SigningKey
//! [`Certificate`]: crate::Certificate

use data_encoding::BASE64URL_NOPAD;
use rsa::pkcs1v15;
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use serde_json::{Map, Value};

use crate::{ALGORITHM, CLOCK_SKEW_SECONDS, JwtError};

/// Longest token looked at; anything longer is refused before decoding.
pub(crate) const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Longest algorithm name echoed back in [`JwtError::UnsupportedAlgorithm`].
const MAX_ALG_ECHO: usize = 32;

/// A token split into its three parts, the header decoded.
struct Parts<'a> {
    header: Map<String, Value>,
    /// The header and claims parts with the dot between them.
    signing_input: &'a str,
    claims_b64: &'a str,
    signature_b64: &'a str,
}

/// Splits a compact JWS into exactly three parts and decodes its header
/// (a JSON object). Nothing is verified.
fn split(token: &str) -> Result<Parts<'_>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = decode_object(header_b64)?;
    // The signing input is the token up to (not including) the second dot.
    let signing_input = token
        .get(..header_b64.len() + 1 + claims_b64.len())
        .ok_or(JwtError::Malformed)?;
    Ok(Parts {
        header,
        signing_input,
        claims_b64,
        signature_b64,
    })
}

/// The header of a compact JWS, decoded but **not verified**: for finding
/// the key that should verify it (by `kid`, `x5t` or `x5t#S256`). The token
/// must have exactly three base64url parts and a JSON object header.
pub fn decode_header(token: &str) -> Result<Map<String, Value>, JwtError> {
    split(token).map(|parts| parts.header)
}

/// The claims of a compact JWS, decoded but **not verified**: for error
/// messages about a token already refused (its times, its issuer). The
/// token must have exactly three base64url parts and JSON object header
/// and claims.
pub fn decode_claims(token: &str) -> Result<Map<String, Value>, JwtError> {
    split(token).and_then(|parts| decode_object(parts.claims_b64))
}

/// Verifies an RS256 compact JWS with `verifier`: exactly three base64url
/// parts, header `alg` == `RS256` (anything else, including `none`, is
/// refused before any key is used), no `crit` header, `names_key(header)`
/// true (else [`JwtError::UnknownKey`]), the signature, then the time
/// claims: `exp` (required) > `now` - 300 and `nbf` (if present) <=
/// `now` + 300. Returns the claims object.
pub(crate) fn verify_rs256(
    verifier: &pkcs1v15::VerifyingKey<Sha256>,
    token: &str,
    now: i64,
    names_key: impl FnOnce(&Map<String, Value>) -> bool,
) -> Result<Map<String, Value>, JwtError> {
    let parts = split(token)?;
    match parts.header.get("alg") {
        Some(Value::String(alg)) if alg == ALGORITHM => {}
        Some(Value::String(alg)) => {
            return Err(JwtError::UnsupportedAlgorithm(
                alg.chars().take(MAX_ALG_ECHO).collect(),
            ));
        }
        _ => return Err(JwtError::Malformed),
    }
    if parts.header.contains_key("crit") {
        return Err(JwtError::Malformed);
    }
    if !names_key(&parts.header) {
        return Err(JwtError::UnknownKey);
    }

    let signature_bytes = decode(parts.signature_b64)?;
    let signature = pkcs1v15::Signature::try_from(signature_bytes.as_slice())
        .map_err(|_| JwtError::BadSignature)?;
    verifier
        .verify(parts.signing_input.as_bytes(), &signature)
        .map_err(|_| JwtError::BadSignature)?;

    let claims = decode_object(parts.claims_b64)?;
    check_times(&claims, now)?;
    Ok(claims)
}

/// True when `header[name]` is the string `expected`.
pub(crate) fn header_is(header: &Map<String, Value>, name: &str, expected: &str) -> bool {
    matches!(header.get(name), Some(Value::String(value)) if value == expected)
}

/// Decodes one base64url part (no padding, canonical trailing bits).
pub(crate) fn decode(part: &str) -> Result<Vec<u8>, JwtError> {
    BASE64URL_NOPAD
        .decode(part.as_bytes())
        .map_err(|_| JwtError::Malformed)
}

/// Decodes one base64url part holding a JSON object.
fn decode_object(part: &str) -> Result<Map<String, Value>, JwtError> {
    match serde_json::from_slice(&decode(part)?) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(JwtError::Malformed),
    }
}

/// Checks `exp` (required) and `nbf` (optional) against `now` with
/// [`CLOCK_SKEW_SECONDS`] of skew.
fn check_times(claims: &Map<String, Value>, now: i64) -> Result<(), JwtError> {
    let exp = numeric_date(claims, "exp")?.ok_or(JwtError::Malformed)?;
    if exp <= now.saturating_sub(CLOCK_SKEW_SECONDS) {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && nbf > now.saturating_add(CLOCK_SKEW_SECONDS)
    {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

/// Reads an integer `NumericDate` claim; `None` when absent.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, JwtError> {
    claims
        .get(name)
        .map(|value| value.as_i64().ok_or(JwtError::Malformed))
        .transpose()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64_json(value: &Value) -> String {
        BASE64URL_NOPAD.encode(&serde_json::to_vec(value).unwrap())
    }

    #[test]
    fn decode_header_reads_without_verifying() {
        let header = json!({"alg": "RS256", "x5t": "abc"});
        let token = format!("{}.{}.", b64_json(&header), b64_json(&json!({})));
        assert_eq!(Value::Object(decode_header(&token).unwrap()), header);
    }

    #[test]
    fn decode_header_refuses_what_is_not_a_jws() {
        let header = b64_json(&json!({"alg": "RS256"}));
        for token in [
            String::new(),
            header.clone(),
            format!("{header}.e30"),
            format!("{header}.e30.."),
            format!("{}.e30.", b64_json(&json!([1]))),
            format!("{header}=.e30."),
        ] {
            assert_eq!(decode_header(&token), Err(JwtError::Malformed), "{token}");
        }
    }

    #[test]
    fn decode_claims_reads_without_verifying() {
        let claims = json!({"exp": 5, "iss": "x"});
        let token = format!("{}.{}.AA", b64_json(&json!({})), b64_json(&claims));
        assert_eq!(Value::Object(decode_claims(&token).unwrap()), claims);
        let array = format!("{}.{}.", b64_json(&json!({})), b64_json(&json!([1])));
        assert_eq!(decode_claims(&array), Err(JwtError::Malformed));
        assert_eq!(decode_claims("e30"), Err(JwtError::Malformed));
    }

    #[test]
    fn header_is_compares_strings_only() {
        let header = json!({"a": "x", "b": 1}).as_object().unwrap().clone();
        assert!(header_is(&header, "a", "x"));
        assert!(!header_is(&header, "a", "y"));
        assert!(!header_is(&header, "b", "1"));
        assert!(!header_is(&header, "c", "x"));
    }
}
