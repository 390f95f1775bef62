//! The authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636, OpenID
//! Connect Core), as Microsoft's identity platform has it:
//! `GET /{tenant}/oauth2/v2.0/authorize` signs the user in on the
//! directory's sign-in page and sends a code to the app's registered
//! redirect URI; the token endpoint's `authorization_code` grant trades it
//! (with the PKCE verifier and the app's secret or assertion) for an
//! access token, an ID token and, with `offline_access`, a refresh token.
//!
//! Stricter than Microsoft in one place: every request needs a `S256`
//! `code_challenge` (Microsoft also takes `plain`, and no PKCE at all, from
//! confidential clients). A request whose client or redirect URI is wrong
//! gets an error page, never a redirect; every other error goes to the
//! redirect URI as `error`, `error_description` and the `state`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::delegated::{Family, Oidc, asked, effective, random_token, user_tokens};
use super::{OAuthError, TokenForm, issuer, secret_hash, unavailable};
use crate::db::{App, AuthCode, Redeemed, Tenant, User};
use crate::{DirState, new_id};

/// How long a code lives (Microsoft: about ten minutes).
const CODE_TTL: i64 = 600;

/// The OpenID Connect scopes (answered by the ID token, not Graph).
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The query of an authorize request.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct AuthorizeQuery {
    client_id: Option<String>,
    response_type: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    login_hint: Option<String>,
    response_mode: Option<String>,
}

#[derive(Template)]
#[template(path = "authorize_error.html")]
struct ErrorPage<'a> {
    code: u32,
    text: &'a str,
}

/// The page for a request that cannot be sent back (no such client, a
/// redirect URI not registered): a redirect would be an open redirect.
fn error_page(code: u32, text: &str) -> Response {
    match (ErrorPage { code, text }).render() {
        Ok(html) => (StatusCode::BAD_REQUEST, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the authorize error page could not be rendered");
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}

/// `redirect_uri` with `params` added to its query.
fn with_query(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{}", q.finish())
}

/// An error sent back to the (registered) redirect URI with the state.
fn error_back(
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    code: u32,
    text: &str,
) -> Response {
    let description = format!("AADSTS{code}: {text}");
    let mut params = vec![
        ("error", error),
        ("error_description", description.as_str()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    Redirect::to(&with_query(redirect_uri, &params)).into_response()
}

/// Whether `s` is a PKCE challenge or verifier: 43 to 128 characters of
/// `[A-Za-z0-9-._~]` (RFC 7636 §4.1, §4.2).
fn pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of `verifier`.
fn challenge_of(verifier: &str) -> String {
    data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()))
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
pub(super) async fn authorize(
    State(st): State<Arc<DirState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let (t, app, redirect_uri) = match registered(&st, &tenant, &q).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    // From here on, errors go back to the app.
    let state = q.state.as_deref();
    let back =
        |error: &str, code: u32, text: &str| error_back(&redirect_uri, state, error, code, text);
    let graph_scope = match check(&q) {
        Ok(g) => g,
        Err((error, code, text)) => return back(error, code, &text),
    };
    let scope = q.scope.clone().unwrap_or_default();
    let prompt = q.prompt.as_deref().unwrap_or_default();
    let user = match crate::people::full_session_user(&st, &headers).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "authorize: session lookup failed");
            return back(
                "temporarily_unavailable",
                90033,
                "The service is temporarily unavailable.",
            );
        }
    };
    let hint = q
        .login_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty());
    let user =
        user.filter(|u| u.tenant_id == t.id && hint.is_none_or(|h| h.eq_ignore_ascii_case(&u.upn)));
    let must_sign_in = matches!(prompt, "login" | "select_account");
    let Some(user) = user.filter(|_| !must_sign_in) else {
        if prompt == "none" {
            return back(
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
            );
        }
        return to_sign_in(&tenant, raw.as_deref().unwrap_or_default(), hint);
    };
    // Graph scopes named one by one must all be consented and allowed by
    // the user's roles (this directory has no consent page: consent is
    // given with `oathvault directory app consent`).
    if let Some(g) = &graph_scope {
        {
            let Ok(a) = asked(g) else {
                return back("invalid_scope", 70011, "The scope is not valid.");
            };
            let wanted = (!a.default).then_some(a.named.as_slice());
            let got = match effective(&st, &user, &app.client_id, wanted).await {
                Ok(s) => s,
                Err(e) => return back(e.error, e.code, &e.description),
            };
            if got.is_empty() || wanted.is_some_and(|w| w.len() != got.len()) {
                return back(
                    "consent_required",
                    65001,
                    "The user or administrator has not consented to use the application for the scopes asked, or the user's directory roles allow none of them.",
                );
            }
        }
    }
    let code = random_token();
    let now = st.now();
    let grant = AuthCode {
        tenant_id: t.id.clone(),
        client_id: app.client_id.clone(),
        user_id: user.id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope,
        nonce: q.nonce.clone().unwrap_or_default(),
        challenge: q.code_challenge.clone().unwrap_or_default(),
        expires: now + CODE_TTL,
    };
    if let Err(e) = st.db.add_auth_code(&secret_hash(&code), &grant, now).await {
        tracing::error!(error = %e, "authorize: a code could not be stored");
        return back(
            "temporarily_unavailable",
            90033,
            "The service is temporarily unavailable.",
        );
    }
    tracing::info!(user = %user.id, client = %app.client_id, "authorization code issued");
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = state {
        params.push(("state", s));
    }
    Redirect::to(&with_query(&redirect_uri, &params)).into_response()
}

/// The tenant, the app and the redirect URI of a request, when all three
/// are known and go together; otherwise the error page (never a redirect).
async fn registered(
    st: &DirState,
    tenant: &str,
    q: &AuthorizeQuery,
) -> Result<(Tenant, App, String), Response> {
    let t = match st.db.tenant(tenant).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(error_page(
                90002,
                &format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                ),
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "authorize: database failure");
            return Err(error_page(90033, "The service is temporarily unavailable."));
        }
    };
    let client_id = q.client_id.clone().unwrap_or_default();
    let app = match st.db.app(&client_id).await {
        Ok(a) => a.filter(|a| a.tenant_id == t.id),
        Err(e) => {
            tracing::error!(error = %e, "authorize: database failure");
            return Err(error_page(90033, "The service is temporarily unavailable."));
        }
    };
    let Some(app) = app else {
        return Err(error_page(
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                t.name
            ),
        ));
    };
    let redirect_uri = q.redirect_uri.clone().unwrap_or_default();
    if !app.redirect_uris.contains(&redirect_uri) {
        return Err(error_page(
            50011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{}'.",
                app.client_id
            ),
        ));
    }
    Ok((t, app, redirect_uri))
}

/// The request's checks once the redirect URI is known: the Graph part of
/// its scope, or the error to send back.
fn check(q: &AuthorizeQuery) -> Result<Option<String>, (&'static str, u32, String)> {
    if q.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err((
            "invalid_request",
            900_144,
            "Only response_mode=query is supported.".to_owned(),
        ));
    }
    if q.response_type.as_deref() != Some("code") {
        return Err((
            "unsupported_response_type",
            700_054,
            "The response_type must be 'code' (the authorization code flow).".to_owned(),
        ));
    }
    let scope = q.scope.as_deref().unwrap_or_default();
    if scope.trim().is_empty() {
        return Err((
            "invalid_request",
            900_144,
            "The request must contain the parameter 'scope'.".to_owned(),
        ));
    }
    let graph_scope = graph_part(scope);
    if let Some(g) = &graph_scope
        && let Err(e) = asked(g)
    {
        return Err(("invalid_scope", 70011, e.description));
    }
    match (
        q.code_challenge.as_deref(),
        q.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256")) if pkce_text(c) => {}
        (Some(_), Some("S256")) => {
            return Err(("invalid_request", 501_491, "The code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~'.".to_owned()));
        }
        (None, _) => {
            return Err(("invalid_request", 9_002_325, "Proof Key for Code Exchange is required: send code_challenge with code_challenge_method=S256.".to_owned()));
        }
        (Some(_), _) => {
            return Err((
                "invalid_request",
                501_492,
                "The code_challenge_method must be S256 (plain is refused).".to_owned(),
            ));
        }
    }
    let prompt = q.prompt.as_deref().unwrap_or_default();
    if !matches!(prompt, "" | "login" | "none" | "select_account" | "consent") {
        return Err((
            "invalid_request",
            90023,
            "The prompt must be login, none, select_account or consent.".to_owned(),
        ));
    }
    Ok(graph_scope)
}

/// The Graph part of a scope (without the OpenID Connect scopes), if any.
fn graph_part(scope: &str) -> Option<String> {
    let g: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect();
    (!g.is_empty()).then(|| g.join(" "))
}

/// To the sign-in page, which comes back to this request (without
/// `prompt=login`, which would ask again for ever).
fn to_sign_in(tenant: &str, raw_query: &str, hint: Option<&str>) -> Response {
    let kept: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .filter(|(k, _)| k != "prompt")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut again = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &kept {
        again.append_pair(k, v);
    }
    let mut to = form_urlencoded::Serializer::new(String::new());
    to.append_pair(
        "next",
        &format!("/{tenant}/oauth2/v2.0/authorize?{}", again.finish()),
    );
    if let Some(h) = hint {
        to.append_pair("login_hint", h);
    }
    Redirect::to(&format!("/login?{}", to.finish())).into_response()
}

fn invalid_grant(code: u32, text: &str) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", code, text)
}

/// The `authorization_code` grant: the client authenticated, the code
/// spent (a second use revokes the refresh tokens it gave), bound to this
/// client, its redirect URI and its PKCE challenge.
pub(super) async fn redeem_code(
    st: &DirState,
    headers: &HeaderMap,
    t: &Tenant,
    app: &App,
    f: &TokenForm,
) -> Result<Response, OAuthError> {
    let code = f.code.as_deref().map(String::as_str).unwrap_or_default();
    if code.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
            "The request body must contain the following parameter: 'code'.",
        ));
    }
    let hash = secret_hash(code);
    let grant = match st
        .db
        .redeem_auth_code(&hash)
        .await
        .map_err(|_| unavailable())?
    {
        Redeemed::Fresh(g) => g,
        Redeemed::Replayed(g) => {
            st.db
                .revoke_refresh_family(&hash)
                .await
                .map_err(|_| unavailable())?;
            tracing::warn!(user = %g.user_id, client = %g.client_id,
                "an authorization code was redeemed again: the refresh tokens it gave are revoked");
            return Err(invalid_grant(
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        Redeemed::Unknown => {
            return Err(invalid_grant(
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            ));
        }
    };
    check_grant(st, t, app, f, &grant)?;
    let user = st
        .db
        .user_by_id(&grant.user_id)
        .await
        .map_err(|_| unavailable())?
        .filter(|u| u.tenant_id == t.id)
        .ok_or_else(|| invalid_grant(50034, "The user account does not exist in the directory."))?;
    let oidc: Vec<&str> = grant
        .scope
        .split_whitespace()
        .filter(|s| OIDC_SCOPES.contains(s))
        .collect();
    let scopes = match graph_part(&grant.scope) {
        None => Vec::new(),
        Some(g) => {
            let a = asked(&g)?;
            let wanted = (!a.default).then_some(a.named.as_slice());
            effective(st, &user, &app.client_id, wanted).await?
        }
    };
    let id_token = if oidc.contains(&"openid") {
        Some(id_token(st, headers, &user, app, &grant.nonce, &oidc)?)
    } else {
        None
    };
    // A refresh token (with offline_access) in a family named after the
    // code, so that a replayed code revokes it.
    let family = (oidc.contains(&"offline_access") && !scopes.is_empty()).then_some(Family {
        id: Some(&hash),
        granted: &scopes,
    });
    let shown: Vec<String> = oidc
        .iter()
        .filter(|s| **s != "offline_access")
        .map(|s| (*s).to_owned())
        .chain(scopes.iter().cloned())
        .collect();
    let oidc = Oidc { id_token, shown };
    user_tokens(
        st,
        headers,
        &user,
        &app.client_id,
        &scopes,
        family,
        Some(oidc),
    )
    .await
}

/// A spent code's bindings: this tenant and client, not expired, the
/// request's redirect URI, the PKCE verifier of its challenge.
fn check_grant(
    st: &DirState,
    t: &Tenant,
    app: &App,
    f: &TokenForm,
    grant: &AuthCode,
) -> Result<(), OAuthError> {
    if grant.tenant_id != t.id || grant.client_id != app.client_id {
        return Err(invalid_grant(
            70000,
            "The provided authorization code was issued to another application.",
        ));
    }
    if grant.expires <= st.now() {
        return Err(invalid_grant(
            70008,
            "The provided authorization code has expired. Send a new interactive authorization request.",
        ));
    }
    if f.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(invalid_grant(
            50148,
            "The redirect_uri does not match the one of the authorization request.",
        ));
    }
    let verifier = f
        .code_verifier
        .as_deref()
        .map(String::as_str)
        .unwrap_or_default();
    if !pkce_text(verifier)
        || !super::subtle_eq(
            challenge_of(verifier).as_bytes(),
            grant.challenge.as_bytes(),
        )
    {
        return Err(invalid_grant(
            501_481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        ));
    }
    Ok(())
}

/// An ID token as Microsoft's v2.0 ones: `aud` the app, `sub` pairwise
/// (the same user has another `sub` in another app), `oid`, `tid`, the
/// `nonce` of the request; `name` and `preferred_username` with `profile`,
/// `email` with `email`; `wids` (directory role template ids) when the app
/// asks for directory roles in its tokens. No `roles`: this directory has
/// no app roles.
fn id_token(
    st: &DirState,
    headers: &HeaderMap,
    user: &User,
    app: &App,
    nonce: &str,
    oidc: &[&str],
) -> Result<String, OAuthError> {
    let now = st.now();
    let sub = data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(
        format!("{}\n{}", user.id, app.client_id).as_bytes(),
    ));
    let mut claims = json!({
        "ver": "2.0",
        "iss": issuer(st, headers, &user.tenant_id),
        "aud": app.client_id,
        "sub": sub,
        "oid": user.id,
        "tid": user.tenant_id,
        "iat": now,
        "nbf": now,
        "exp": now + st.settings.token_ttl,
        "uti": new_id(&mut oathvault_vault::random::os()),
    });
    if let Some(m) = claims.as_object_mut() {
        if !nonce.is_empty() {
            m.insert("nonce".into(), nonce.into());
        }
        if oidc.contains(&"profile") {
            m.insert("name".into(), user.display_name.clone().into());
            m.insert("preferred_username".into(), user.upn.clone().into());
        }
        if oidc.contains(&"email") {
            m.insert("email".into(), user.upn.clone().into());
        }
        if app.role_claims {
            m.insert("wids".into(), user.roles.clone().into());
        }
    }
    st.key.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "cannot sign an ID token");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            "There was an error issuing a token.",
        )
    })
}
