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

pub(crate) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid),
        )
}

/// An identity-platform error.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
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
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<zeroize::Zeroizing<String>>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    scope: Option<String>,
    device_code: Option<zeroize::Zeroizing<String>>,
    refresh_token: Option<zeroize::Zeroizing<String>>,
}

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// How long a device code lives, and how often clients may poll.
const DEVICE_CODE_TTL: i64 = 900;
const POLL_INTERVAL: i64 = 5;
/// Refresh tokens live 90 days, as Entra's do by default.
const REFRESH_TTL: i64 = 90 * 86_400;

fn unavailable() -> OAuthError {
    OAuthError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        90033,
        "The service is temporarily unavailable.",
    )
}

/// The delegated scopes asked for: `https://graph.microsoft.com/X` or `X`;
/// `.default` means every scope the directory knows; `offline_access`,
/// `openid`, `profile` and `email` are OpenID/refresh requests.
fn delegated_scopes(scope: &str) -> Result<(Vec<String>, bool), OAuthError> {
    let mut out = Vec::new();
    let mut offline = false;
    for s in scope.split_whitespace() {
        let name = s.strip_prefix("https://graph.microsoft.com/").unwrap_or(s);
        match name {
            "offline_access" => offline = true,
            "openid" | "profile" | "email" => {}
            ".default" => out.extend(
                crate::admin::DELEGATED_SCOPES
                    .iter()
                    .map(|s| (*s).to_owned()),
            ),
            n if crate::admin::DELEGATED_SCOPES.contains(&n) => out.push(n.to_owned()),
            other => {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    70011,
                    format!(
                        "The provided value for the input parameter 'scope' is not valid. The scope '{other}' is not valid."
                    ),
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid: ask for Graph scopes or https://graph.microsoft.com/.default.",
        ));
    }
    Ok((out, offline))
}

fn random_token() -> zeroize::Zeroizing<String> {
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    rand08::RngCore::fill_bytes(&mut oathvault_vault::random::os(), &mut *raw);
    zeroize::Zeroizing::new(data_encoding::BASE64URL_NOPAD.encode(&*raw))
}

#[derive(Debug, serde::Deserialize)]
struct DeviceCodeForm {
    client_id: Option<String>,
    scope: Option<String>,
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (RFC 8628 with Microsoft's fields).
async fn devicecode(
    State(st): State<Arc<DirState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(f): Form<DeviceCodeForm>,
) -> Result<Response, OAuthError> {
    let t = find_tenant(&st, &tenant).await?;
    let client_id = f.client_id.unwrap_or_default();
    let app = st
        .db
        .app(&client_id)
        .await
        .map_err(|_| unavailable())?
        .filter(|a| a.tenant_id == t.id)
        .ok_or_else(|| unknown_app(&client_id, &t.name))?;
    let scope = f.scope.unwrap_or_default();
    delegated_scopes(&scope)?;
    let device_code = random_token();
    let mut raw = [0u8; 6];
    rand08::RngCore::fill_bytes(&mut oathvault_vault::random::os(), &mut raw);
    let user_code = data_encoding::BASE32_NOPAD
        .encode(&raw)
        .chars()
        .take(9)
        .collect::<String>();
    let now = st.now();
    let grant = crate::db::DeviceCodeGrant {
        user_code: user_code.clone(),
        tenant_id: t.id,
        client_id: app.client_id,
        scope,
        status: "pending".into(),
        user_id: None,
        expires: now + DEVICE_CODE_TTL,
    };
    st.db
        .add_device_code(&grant, &secret_hash(&device_code), now)
        .await
        .map_err(|_| unavailable())?;
    let base = issuer(&st, &headers, "x");
    let base = base.trim_end_matches("/x/v2.0");
    let uri = format!("{base}/devicelogin");
    Ok(axum::Json(json!({
        "user_code": user_code,
        "device_code": device_code.as_str(),
        "verification_uri": uri,
        "expires_in": DEVICE_CODE_TTL,
        "interval": POLL_INTERVAL,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
    }))
    .into_response())
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

fn unknown_app(client_id: &str, tenant_name: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700_016,
        format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'."
        ),
    )
}

/// An access token (and a refresh token when asked) for a signed-in user.
async fn user_tokens(
    st: &DirState,
    headers: &HeaderMap,
    user: &crate::db::User,
    client_id: &str,
    scope: &str,
) -> Result<Response, OAuthError> {
    let (scopes, offline) = delegated_scopes(scope)?;
    let now = st.now();
    let claims = json!({
        "aud": GRAPH_AUDIENCE,
        "iss": issuer(st, headers, &user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + st.settings.token_ttl,
        "appid": client_id,
        "azp": client_id,
        "idtyp": "user",
        "name": user.display_name,
        "oid": user.id,
        "sub": user.id,
        "upn": user.upn,
        "scp": scopes.join(" "),
        "tid": user.tenant_id,
        "wids": user.roles,
        "uti": new_id(&mut oathvault_vault::random::os()),
        "ver": "2.0",
    });
    let access = st.key.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a token");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            "There was an error issuing a token.",
        )
    })?;
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scopes.join(" "),
        "expires_in": st.settings.token_ttl,
        "ext_expires_in": st.settings.token_ttl,
        "access_token": access,
    });
    if offline {
        let refresh = random_token();
        st.db
            .add_refresh(
                &secret_hash(&refresh),
                &user.id,
                client_id,
                scope,
                now + REFRESH_TTL,
                now,
            )
            .await
            .map_err(|_| unavailable())?;
        if let Some(m) = body.as_object_mut() {
            m.insert("refresh_token".into(), refresh.as_str().into());
        }
    }
    tracing::info!(user = %user.id, client = %client_id, "token issued (delegated)");
    Ok(axum::Json(body).into_response())
}

/// The device code grant: pending, declined, expired, or the user's tokens.
async fn redeem_device_code(
    st: &DirState,
    headers: &HeaderMap,
    t: &crate::db::Tenant,
    f: &TokenForm,
) -> Result<Response, OAuthError> {
    let bad = |error: &'static str, code: u32, text: &str| {
        OAuthError::new(StatusCode::BAD_REQUEST, error, code, text)
    };
    let device_code = f
        .device_code
        .as_deref()
        .map(|s| secret_hash(s))
        .unwrap_or_default();
    let g = st
        .db
        .device_code(Some(&device_code), None)
        .await
        .map_err(|_| unavailable())?
        .filter(|g| g.tenant_id == t.id && Some(g.client_id.as_str()) == f.client_id.as_deref())
        .ok_or_else(|| {
            bad(
                "bad_verification_code",
                70019,
                "Verification code is not recognized.",
            )
        })?;
    if g.expires <= st.now() {
        return Err(bad(
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        ));
    }
    match g.status.as_str() {
        "pending" => {
            return Err(bad(
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            ));
        }
        "declined" => {
            return Err(bad(
                "authorization_declined",
                70000,
                "The user has declined the authorization request.",
            ));
        }
        "approved" => {}
        _ => {
            return Err(bad(
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
    }
    if !st
        .db
        .set_device_code(&g.user_code, "redeemed", None)
        .await
        .map_err(|_| unavailable())?
    {
        return Err(bad(
            "invalid_grant",
            54005,
            "The device code was already redeemed.",
        ));
    }
    let user = st
        .db
        .user_by_id(g.user_id.as_deref().unwrap_or_default())
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(|| {
            bad(
                "invalid_grant",
                50034,
                "The user account does not exist in the directory.",
            )
        })?;
    user_tokens(st, headers, &user, &g.client_id, &g.scope).await
}

/// The refresh token grant: a used refresh token is spent, a new one issued.
async fn redeem_refresh(
    st: &DirState,
    headers: &HeaderMap,
    t: &crate::db::Tenant,
    f: &TokenForm,
) -> Result<Response, OAuthError> {
    let invalid = || {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            9_002_313,
            "Invalid request. The refresh token is malformed, expired or was already used.",
        )
    };
    let hash = f
        .refresh_token
        .as_deref()
        .map(|s| secret_hash(s))
        .ok_or_else(invalid)?;
    let (user_id, client_id, scope) = st
        .db
        .take_refresh(&hash, st.now())
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(invalid)?;
    if Some(client_id.as_str()) != f.client_id.as_deref() {
        return Err(invalid());
    }
    let user = st
        .db
        .user_by_id(&user_id)
        .await
        .map_err(|_| unavailable())?
        .filter(|u| u.tenant_id == t.id)
        .ok_or_else(invalid)?;
    let asked = f
        .scope
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(scope);
    user_tokens(st, headers, &user, &client_id, &asked).await
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
            return redeem_device_code(&st, &headers, &t, &f)
                .await
                .map_err(fail);
        }
        Some("refresh_token") => return redeem_refresh(&st, &headers, &t, &f).await.map_err(fail),
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
        "roles": app.permissions,
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
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        "grant_types_supported": ["client_credentials", DEVICE_CODE_GRANT, "refresh_token"],
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "EU",
    }))
}
