//! Certificate credentials at the token endpoint, as Microsoft's identity
//! platform takes them: `client_assertion_type=urn:ietf:params:oauth:
//! client-assertion-type:jwt-bearer` and `client_assertion`, a JWT (RFC
//! 7523) signed with the private key of a certificate registered on the app
//! and named in its header by `x5t` (SHA-1 thumbprint) or `x5t#S256`.
//!
//! Checked in this order, each refusal with Microsoft's error and code:
//! the parameters (`invalid_request`, AADSTS900144), the JWT's form
//! (AADSTS50027), the certificate it names among the app's (`invalid_client`,
//! AADSTS700027 "The key was not found"), that certificate's validity
//! period (AADSTS700027 "The key used is expired"), the signature
//! (AADSTS700027), `exp` / `nbf` with five minutes of skew and a lifetime of
//! at most an hour (AADSTS700024), `aud` (AADSTS700023), `iss` = `sub`
//! (AADSTS50048) = `client_id` (AADSTS700021), and `jti`: required, and
//! spent on first use (AADSTS50027).

use axum::http::{HeaderMap, StatusCode};
use oathvault_jwt::{Certificate, JwtError};
use serde_json::{Map, Value};

use super::{OAuthError, TokenForm, base_url, unavailable};
use crate::DirState;
use crate::db::{App, Tenant};

/// The only client assertion type.
pub(super) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest lifetime of an assertion, in seconds from now to its `exp`.
/// Microsoft places no limit on `exp` today and asks for 5 to 10 minutes;
/// this directory refuses more than an hour, which also bounds how long a
/// spent `jti` is kept.
pub(crate) const MAX_ASSERTION_LIFETIME: i64 = 3600;

/// Longest `jti` kept.
const MAX_JTI_LEN: usize = 256;

fn invalid_client(code: u32, description: impl Into<String>) -> OAuthError {
    OAuthError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        code,
        description,
    )
}

fn invalid_request(code: u32, description: impl Into<String>) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        code,
        description,
    )
}

fn missing(name: &str) -> OAuthError {
    invalid_request(
        900_144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn malformed(what: &str) -> OAuthError {
    invalid_request(50027, format!("JWT token is invalid or malformed: {what}"))
}

fn time(unix: i64) -> String {
    oathvault_otp::clock::rfc3339(unix)
}

/// The client assertion of `f`, when the request carries one (either
/// parameter present).
pub(super) fn given(f: &TokenForm) -> bool {
    f.client_assertion.is_some() || f.client_assertion_type.is_some()
}

/// Authenticates `app` by the client assertion of `f`.
pub(super) async fn authenticate(
    st: &DirState,
    headers: &HeaderMap,
    t: &Tenant,
    app: &App,
    f: &TokenForm,
) -> Result<(), OAuthError> {
    let assertion = match (
        f.client_assertion_type.as_deref(),
        f.client_assertion.as_deref(),
    ) {
        (None | Some(""), _) => return Err(missing("client_assertion_type")),
        (Some(ASSERTION_TYPE), Some(a)) if !a.is_empty() => a,
        (Some(ASSERTION_TYPE), _) => return Err(missing("client_assertion")),
        (Some(other), _) => {
            return Err(invalid_request(
                90023,
                format!(
                    "Invalid client_assertion_type '{}'. Only '{ASSERTION_TYPE}' is supported.",
                    other.chars().take(100).collect::<String>()
                ),
            ));
        }
    };
    if f.client_secret.is_some() {
        return Err(invalid_request(
            90023,
            "Send one client credential: client_secret or client_assertion, not both.",
        ));
    }
    let header = oathvault_jwt::decode_header(assertion)
        .map_err(|_| malformed("the client assertion is not a compact JWS."))?;
    let now = st.now();
    let cert = registered(st, app, &header).await?;
    if !cert.is_valid_at(now) {
        return Err(invalid_client(
            700_027,
            format!(
                "Client assertion contains an invalid signature. [Reason - The key used is expired. Thumbprint of key used by client: '{}', Found key 'Start={}, End={}'.]",
                cert.thumbprint_sha1_hex(),
                time(cert.not_before()),
                time(cert.not_after())
            ),
        ));
    }
    let claims = cert
        .verify(assertion, now)
        .map_err(|e| refused(&e, assertion, now))?;
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
    if exp.saturating_sub(now) > MAX_ASSERTION_LIFETIME {
        return Err(invalid_client(
            700_024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, expiry time of assertion {}: an assertion may live at most {MAX_ASSERTION_LIFETIME} seconds.",
                time(now),
                time(exp)
            ),
        ));
    }
    check_audience(&claims, &base_url(st, headers), t)?;
    check_issuer(&claims, &app.client_id)?;
    let jti = match claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI_LEN => j,
        _ => {
            return Err(malformed(&format!(
                "the client assertion needs a 'jti' claim (a string of 1 to {MAX_JTI_LEN} characters)."
            )));
        }
    };
    if !st
        .db
        // Kept while the assertion could still pass: until its end plus
        // the clock skew the verifier allows.
        .spend_jti(
            &app.client_id,
            jti,
            exp.saturating_add(oathvault_jwt::CLOCK_SKEW_SECONDS),
            now,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "token endpoint: database failure");
            unavailable()
        })?
    {
        return Err(invalid_client(
            50027,
            format!(
                "Invalid JWT token. The client assertion with jti '{}' was already used; sign a new assertion for each request.",
                jti.chars().take(64).collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// The certificate registered on `app` that `header` names.
async fn registered(
    st: &DirState,
    app: &App,
    header: &Map<String, Value>,
) -> Result<Certificate, OAuthError> {
    let stored = st.db.certificates(&app.client_id).await.map_err(|e| {
        tracing::error!(error = %e, "token endpoint: database failure");
        unavailable()
    })?;
    for c in stored {
        match Certificate::from_der(&c.der) {
            Ok(cert) if cert.named_by(header) => return Ok(cert),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, client = %app.client_id, "a registered certificate does not parse");
            }
        }
    }
    let named = [oathvault_jwt::X5T, oathvault_jwt::X5T_S256]
        .iter()
        .find_map(|name| header.get(*name).and_then(Value::as_str))
        .and_then(|b64| data_encoding::BASE64URL_NOPAD.decode(b64.as_bytes()).ok())
        .map(|bytes| data_encoding::HEXUPPER.encode(&bytes))
        .unwrap_or_default();
    Err(invalid_client(
        700_027,
        format!(
            "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{named}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
            app.client_id
        ),
    ))
}

/// The refusal for a failed verification.
fn refused(e: &JwtError, assertion: &str, now: i64) -> OAuthError {
    match e {
        JwtError::Expired | JwtError::NotYetValid => {
            let claims = oathvault_jwt::decode_claims(assertion).unwrap_or_default();
            let at = |name: &str| claims.get(name).and_then(Value::as_i64).unwrap_or(0);
            invalid_client(
                700_024,
                format!(
                    "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
                    time(now),
                    time(at("nbf")),
                    time(at("exp"))
                ),
            )
        }
        JwtError::BadSignature => {
            invalid_client(700_027, "Client assertion failed signature validation.")
        }
        JwtError::UnsupportedAlgorithm(alg) => invalid_client(
            700_027,
            format!(
                "Client assertion failed signature validation. [Reason - The algorithm '{alg}' is not supported; sign with RS256.]"
            ),
        ),
        _ => malformed("the client assertion's header or claims are not usable (alg, exp, nbf)."),
    }
}

/// `aud` must be this directory's token endpoint for the tenant (by id or
/// domain): `{public URL}/{tenant}/oauth2/v2.0/token`.
fn check_audience(claims: &Map<String, Value>, base: &str, t: &Tenant) -> Result<(), OAuthError> {
    let expected: Vec<String> = [&t.id, &t.domain]
        .iter()
        .map(|tenant| format!("{base}/{tenant}/oauth2/v2.0/token"))
        .collect();
    let matches = |aud: &str| {
        let aud = aud.trim_end_matches('/');
        expected.iter().any(|e| e.eq_ignore_ascii_case(aud))
    };
    let ok = match claims.get("aud") {
        Some(Value::String(aud)) => matches(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(matches),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(invalid_client(
        700_023,
        format!(
            "Client assertion audience claim does not match Realm issuer. Expected audience: '{}'.",
            expected.first().map_or("", String::as_str)
        ),
    ))
}

/// `iss` and `sub` must both be the client id.
fn check_issuer(claims: &Map<String, Value>, client_id: &str) -> Result<(), OAuthError> {
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    let (Some(iss), Some(sub)) = (iss, sub) else {
        return Err(malformed(
            "the client assertion needs 'iss' and 'sub' claims (the client id).",
        ));
    };
    if iss != sub {
        return Err(invalid_client(
            50048,
            "Subject mismatches Issuer claim in the client assertion.",
        ));
    }
    if !iss.eq_ignore_ascii_case(client_id) {
        return Err(invalid_client(
            700_021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    Ok(())
}
