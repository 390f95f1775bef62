//! Delegated tokens — a signed-in user's, for an app: the device code
//! grant (RFC 8628) and the refresh token grant.
//!
//! A delegated token carries what the app asked for, what was consented
//! for it (by an administrator for every user, or by the user themselves)
//! and what the user's directory roles allow, all three; `.default` asks
//! for everything consented. A refresh never widens that: it may ask for
//! less, or again for the same, never for a scope the sign-in did not
//! grant (`invalid_scope`, RFC 6749 §6). Refresh tokens rotate — every
//! refresh answers a new one and spends the old — and a spent one used
//! again revokes every token of that sign-in.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

use super::{OAuthError, TokenForm, find_tenant, issuer, secret_hash, unavailable};
use crate::db::{Refresh, Tenant, User};
use crate::{DirState, GRAPH_AUDIENCE, new_id};

/// How long a device code lives, and how often clients may poll.
const DEVICE_CODE_TTL: i64 = 900;
const POLL_INTERVAL: i64 = 5;
/// Refresh tokens live 90 days, as Entra's do by default.
const REFRESH_TTL: i64 = 90 * 86_400;

/// The delegated scopes a request names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Asked {
    /// `.default`: everything consented.
    pub default: bool,
    /// Scopes named one by one (Graph's, without the resource prefix).
    pub named: Vec<String>,
    /// `offline_access`: a refresh token too.
    pub offline: bool,
}

fn invalid_scope(text: String) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", 70011, text)
}

/// Reads `scope`: `https://graph.microsoft.com/X` or `X` for a scope the
/// directory knows, `.default`, and the OpenID and refresh requests
/// (`openid`, `profile`, `email`, `offline_access`).
pub(crate) fn asked(scope: &str) -> Result<Asked, OAuthError> {
    let mut out = Asked::default();
    for s in scope.split_whitespace() {
        let name = s.strip_prefix("https://graph.microsoft.com/").unwrap_or(s);
        match name {
            "offline_access" => out.offline = true,
            "openid" | "profile" | "email" => {}
            ".default" => out.default = true,
            n if crate::admin::DELEGATED_SCOPES.contains(&n) => out.named.push(n.to_owned()),
            other => {
                return Err(invalid_scope(format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope '{other}' is not valid."
                )));
            }
        }
    }
    out.named.sort();
    out.named.dedup();
    if !out.default && out.named.is_empty() {
        return Err(invalid_scope(
            "The provided value for the input parameter 'scope' is not valid: ask for Graph scopes or https://graph.microsoft.com/.default.".into(),
        ));
    }
    Ok(out)
}

fn consent_required() -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        65001,
        "The user or administrator has not consented to use the application for any of the scopes asked, or the user's directory roles allow none of them.",
    )
}

/// What `user`'s token for `client_id` carries when `wanted` is asked
/// (`None`: `.default`, everything consented): what is consented for the
/// app (for every user or by this one) and allowed by the user's roles.
pub(super) async fn effective(
    st: &DirState,
    user: &User,
    client_id: &str,
    wanted: Option<&[String]>,
) -> Result<Vec<String>, OAuthError> {
    let consented = st
        .db
        .consented(&user.tenant_id, client_id, &user.id)
        .await
        .map_err(|_| unavailable())?;
    Ok(consented
        .into_iter()
        .filter(|s| wanted.is_none_or(|w| w.contains(s)))
        .filter(|s| crate::access::scope_allowed(s, &user.roles))
        .collect())
}

pub(super) fn random_token() -> zeroize::Zeroizing<String> {
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    rand08::RngCore::fill_bytes(&mut oathvault_vault::random::os(), &mut *raw);
    zeroize::Zeroizing::new(data_encoding::BASE64URL_NOPAD.encode(&*raw))
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

#[derive(Debug, serde::Deserialize)]
pub(super) struct DeviceCodeForm {
    client_id: Option<String>,
    scope: Option<String>,
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (RFC 8628 with Microsoft's fields).
pub(super) async fn devicecode(
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
    asked(&scope)?;
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

/// A refresh token's place: the family it joins (`None`: a new sign-in,
/// its own) and the scopes the sign-in granted.
pub(super) struct Family<'a> {
    pub id: Option<&'a str>,
    pub granted: &'a [String],
}

/// What the authorization code grant adds to a token response: the ID
/// token, and the scopes the response names (the OpenID ones with Graph's).
pub(super) struct Oidc {
    pub id_token: Option<String>,
    pub shown: Vec<String>,
}

/// An access token carrying `scopes` for `user` and `client_id`, and a
/// refresh token when `family` is given.
pub(super) async fn user_tokens(
    st: &DirState,
    headers: &HeaderMap,
    user: &User,
    client_id: &str,
    scopes: &[String],
    family: Option<Family<'_>>,
    oidc: Option<Oidc>,
) -> Result<Response, OAuthError> {
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
    let shown = oidc
        .as_ref()
        .map_or_else(|| scopes.join(" "), |o| o.shown.join(" "));
    let mut body = json!({
        "token_type": "Bearer",
        "scope": shown,
        "expires_in": st.settings.token_ttl,
        "ext_expires_in": st.settings.token_ttl,
        "access_token": access,
    });
    if let Some(id_token) = oidc.and_then(|o| o.id_token)
        && let Some(m) = body.as_object_mut()
    {
        m.insert("id_token".into(), id_token.into());
    }
    if let Some(family) = family {
        let refresh = random_token();
        let hash = secret_hash(&refresh);
        st.db
            .add_refresh(
                &hash,
                family.id.unwrap_or(&hash),
                &user.id,
                client_id,
                &family.granted.join(" "),
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
pub(super) async fn redeem_device_code(
    st: &DirState,
    headers: &HeaderMap,
    t: &Tenant,
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
    let a = asked(&g.scope)?;
    let wanted = (!a.default).then_some(a.named.as_slice());
    let scopes = effective(st, &user, &g.client_id, wanted).await?;
    if scopes.is_empty() {
        return Err(consent_required());
    }
    let family = a.offline.then_some(Family {
        id: None,
        granted: &scopes,
    });
    user_tokens(st, headers, &user, &g.client_id, &scopes, family, None).await
}

/// The refresh token grant: the token is spent and a new one issued in its
/// family; a spent one revokes the family; the scopes never widen.
pub(super) async fn redeem_refresh(
    st: &DirState,
    headers: &HeaderMap,
    t: &Tenant,
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
    // Checked before the token is spent, so that a refused request (another
    // app's token, more scope) leaves it usable.
    let grant = st
        .db
        .peek_refresh(&hash, st.now())
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(invalid)?;
    if grant.spent != 0 {
        // Used before: whatever else the request says, its family goes.
        st.db
            .use_refresh(&hash, st.now())
            .await
            .map_err(|_| unavailable())?;
        tracing::warn!(user = %grant.user_id, client = %grant.client_id,
            "a spent refresh token was used again: every token of its sign-in is revoked");
        return Err(invalid());
    }
    if Some(grant.client_id.as_str()) != f.client_id.as_deref() {
        return Err(invalid());
    }
    let user = st
        .db
        .user_by_id(&grant.user_id)
        .await
        .map_err(|_| unavailable())?
        .filter(|u| u.tenant_id == t.id)
        .ok_or_else(invalid)?;
    // What the sign-in granted (tokens from before rotation kept the asked
    // text, `.default` included: that reads as what is consented now).
    let stored = asked(&grant.scope).unwrap_or_default();
    let granted = if stored.default {
        effective(st, &user, &grant.client_id, None).await?
    } else {
        stored.named
    };
    let wanted = match f.scope.as_deref().filter(|s| !s.trim().is_empty()) {
        None => granted.clone(),
        Some(s) => {
            let a = asked(s)?;
            if let Some(extra) = a.named.iter().find(|n| !granted.contains(n)) {
                return Err(invalid_scope(format!(
                    "The scope '{extra}' was not granted at sign-in: a refresh cannot widen a grant; sign in again to ask for it."
                )));
            }
            if a.default { granted.clone() } else { a.named }
        }
    };
    let grant = match st
        .db
        .use_refresh(&hash, st.now())
        .await
        .map_err(|_| unavailable())?
    {
        Refresh::Valid(g) => g,
        Refresh::Reused(g) => {
            tracing::warn!(user = %g.user_id, client = %g.client_id,
                "a spent refresh token was used again: every token of its sign-in is revoked");
            return Err(invalid());
        }
        Refresh::Unknown => return Err(invalid()),
    };
    let scopes = effective(st, &user, &grant.client_id, Some(&wanted)).await?;
    if scopes.is_empty() {
        return Err(consent_required());
    }
    let family = Family {
        id: Some(&grant.family),
        granted: &granted,
    };
    user_tokens(
        st,
        headers,
        &user,
        &grant.client_id,
        &scopes,
        Some(family),
        None,
    )
    .await
}
