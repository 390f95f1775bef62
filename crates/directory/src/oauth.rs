//! The identity platform's endpoints, shaped like Microsoft's:
//! `/{tenant}/oauth2/v2.0/token` (client credentials with a secret or a
//! certificate's client assertion, device code, refresh), the signing keys at
//! `/{tenant}/discovery/v2.0/keys`, and the OpenID configuration. Errors
//! carry `error`, `error_description` (with the `AADSTS…` code) and
//! `error_codes` as Microsoft's do.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{DirState, GRAPH_AUDIENCE, new_id};

mod assertion;
mod authorize;
mod delegated;

pub(crate) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(delegated::devicecode),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid),
        )
}

/// An identity-platform error.
pub(crate) struct OAuthError {
    status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) code: u32,
    pub(crate) description: String,
}

impl OAuthError {
    fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let trace = new_id(&mut oathvault_vault::random::os());
        let correlation = new_id(&mut oathvault_vault::random::os());
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace} Correlation ID: {correlation}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// The scopes named in `scope` that a user may consent to for themselves
/// (what approving a sign-in consents to).
pub(crate) fn self_consentable(scope: &str) -> Vec<String> {
    delegated::asked(scope)
        .map(|a| {
            a.named
                .into_iter()
                .filter(|s| crate::access::USER_CONSENTABLE.contains(&s.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// SHA-256 of a client secret (they are random and long, so a fast hash
/// is enough; staff and user passwords get Argon2id).
pub(crate) fn secret_hash(secret: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(secret.as_bytes()))
}

/// The URL clients reach this directory at, without a trailing `/`: the
/// configured public URL, or `http://` and the `Host` header.
fn base_url(st: &DirState, headers: &HeaderMap) -> String {
    let base = st.settings.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    });
    base.trim_end_matches('/').to_owned()
}

fn issuer(st: &DirState, headers: &HeaderMap, tenant: &str) -> String {
    format!("{}/{tenant}/v2.0", base_url(st, headers))
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<zeroize::Zeroizing<String>>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    scope: Option<String>,
    device_code: Option<zeroize::Zeroizing<String>>,
    refresh_token: Option<zeroize::Zeroizing<String>>,
    code: Option<zeroize::Zeroizing<String>>,
    redirect_uri: Option<String>,
    code_verifier: Option<zeroize::Zeroizing<String>>,
}

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
fn unavailable() -> OAuthError {
    OAuthError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        90033,
        "The service is temporarily unavailable.",
    )
}

async fn find_tenant(st: &DirState, tenant: &str) -> Result<crate::db::Tenant, OAuthError> {
    st.db
        .tenant(tenant)
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(|| {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90002,
                format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            )
        })
}

async fn token(
    State(st): State<Arc<DirState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Result<Response, Response> {
    let fail = |e: OAuthError| e.into_response();
    let t = st
        .db
        .tenant(&tenant)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "token endpoint: database failure");
            fail(OAuthError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", 90033, "The service is temporarily unavailable."))
        })?
        .ok_or_else(|| {
            fail(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90002,
                format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            ))
        })?;
    match f.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(DEVICE_CODE_GRANT) => {
            return delegated::redeem_device_code(&st, &headers, &t, &f)
                .await
                .map_err(fail);
        }
        Some("authorization_code") => {
            let (app, _) = authenticate(&st, &headers, &t, &f).await.map_err(fail)?;
            return authorize::redeem_code(&st, &headers, &t, &app, &f)
                .await
                .map_err(fail);
        }
        Some("refresh_token") => {
            return delegated::redeem_refresh(&st, &headers, &t, &f)
                .await
                .map_err(fail);
        }
        Some(other) => {
            return Err(fail(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            )));
        }
        None => {
            return Err(fail(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900_144,
                "The request body must contain the following parameter: 'grant_type'.",
            )));
        }
    }
    let (app, appidacr) = client(&st, &headers, &t, &f).await.map_err(fail)?;
    // The application permissions granted in this tenant (`.default`: all
    // of them, no more).
    let roles = st
        .db
        .app_grants(&t.id, &app.client_id)
        .await
        .map_err(|_| fail(unavailable()))?;
    let now = st.now();
    let claims = json!({
        "aud": GRAPH_AUDIENCE,
        "iss": issuer(&st, &headers, &t.id),
        "iat": now,
        "nbf": now,
        "exp": now + st.settings.token_ttl,
        "appid": app.client_id,
        "azp": app.client_id,
        "appidacr": appidacr,
        "idtyp": "app",
        "oid": app.client_id,
        "sub": app.client_id,
        "roles": roles,
        "tid": t.id,
        "uti": new_id(&mut oathvault_vault::random::os()),
        "ver": "2.0",
    });
    let access = st.key.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a token");
        fail(OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            "There was an error issuing a token.",
        ))
    })?;
    tracing::info!(client = %app.client_id, tenant = %t.id, "token issued (client credentials)");
    Ok(axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": st.settings.token_ttl,
        "ext_expires_in": st.settings.token_ttl,
        "access_token": access,
    }))
    .into_response())
}

/// The app that `f` authenticates as, with a `.default` Graph scope, and
/// how (`appidacr`: `"1"` client secret, `"2"` certificate).
async fn client(
    st: &DirState,
    headers: &HeaderMap,
    t: &crate::db::Tenant,
    f: &TokenForm,
) -> Result<(crate::db::App, &'static str), OAuthError> {
    let client_id = f.client_id.clone().unwrap_or_default();
    if client_id.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
            "The request body must contain the following parameter: 'client_id'.",
        ));
    }
    let scope = f.scope.clone().unwrap_or_default();
    if !scope
        .split_whitespace()
        .any(|s| s.trim_end_matches('/') == format!("{GRAPH_AUDIENCE}/.default"))
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1_002_012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    authenticate(st, headers, t, f).await
}

/// The app that `f` names, authenticated by its client secret or a
/// certificate's client assertion, and how (`appidacr`).
async fn authenticate(
    st: &DirState,
    headers: &HeaderMap,
    t: &crate::db::Tenant,
    f: &TokenForm,
) -> Result<(crate::db::App, &'static str), OAuthError> {
    let client_id = f.client_id.clone().unwrap_or_default();
    if client_id.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
            "The request body must contain the following parameter: 'client_id'.",
        ));
    }
    let app = st
        .db
        .app(&client_id)
        .await
        .map_err(|_| OAuthError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", 90033, "The service is temporarily unavailable."))?
        .filter(|a| a.tenant_id == t.id)
        .ok_or_else(|| {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700_016,
                format!("Application with identifier '{client_id}' was not found in the directory '{}'.", t.name),
            )
        })?;
    if assertion::given(f) {
        assertion::authenticate(st, headers, t, &app, f).await?;
        return Ok((app, "2"));
    }
    let given = f.client_secret.as_deref().map(|s| secret_hash(s));
    let matches = given.is_some_and(|h| subtle_eq(h.as_bytes(), app.secret_hash.as_bytes()));
    if !matches {
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7_000_215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        ));
    }
    Ok((app, "1"))
}

/// Compares in time independent of where the bytes differ.
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn keys(State(st): State<Arc<DirState>>) -> axum::Json<Value> {
    axum::Json(st.key.jwks())
}

async fn openid(
    State(st): State<Arc<DirState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> axum::Json<Value> {
    let iss = issuer(&st, &headers, &tenant);
    let base = iss.trim_end_matches("/v2.0").to_owned();
    axum::Json(json!({
        "issuer": iss,
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        "grant_types_supported": ["authorization_code", "client_credentials", DEVICE_CODE_GRANT, "refresh_token"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "oid", "tid", "name", "preferred_username", "email", "wids", "ver"],
        "prompt_values_supported": ["login", "none", "select_account", "consent"],
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "EU",
    }))
}
