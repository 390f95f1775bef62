//! "Sign in with Microsoft Entra ID": a standard OpenID Connect client
//! (authorization code with PKCE S256, `state` bound to the browser by a
//! cookie, `nonce`), which works against Microsoft's cloud and the local
//! directory alike: the endpoints come from
//! `{authority}/{tenant}/v2.0/.well-known/openid-configuration`, the ID
//! token is checked against its JWKS (signature, `iss`, `aud`, `exp`,
//! `nonce`, `tid`). The desk role comes from the token's `wids` (directory
//! role template ids) and `roles` (app role values) through the configured
//! mapping, again at every sign-in; without a mapped role the operator is
//! refused.
//!
//! The operator's desk account is made on first sign-in: e-mail the
//! token's `preferred_username`, no usable password (its hash field holds
//! `entra:{oid}`, which no password verifies), no TOTP. An account of the
//! same e-mail made otherwise (a desk account with a password) is never
//! taken over: that sign-in is refused. Sessions made this way have the
//! stage `entra` (the password ones: `full`), so the audit and the session
//! say how the operator signed in.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use oathvault_jwt::PublicJwk;
use oathvault_store::{DeskRole, Event};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::DeskState;
use crate::pages::{Frame, message};

mod config;

pub use config::{ConfigError, EntraSignin};

/// The cookie that binds a sign-in's `state` to the browser that started it.
const STATE_COOKIE: &str = "__Host-ovd_entra";
/// How long a started sign-in waits for the provider (seconds).
const PENDING_TTL: i64 = 600;
/// The stage of sessions made by an Entra sign-in.
pub(crate) const STAGE: &str = "entra";

/// A started sign-in, kept in memory under the hash of its `state`.
pub(crate) struct Pending {
    nonce: String,
    verifier: Zeroizing<String>,
    expires: i64,
}

pub(crate) fn routes() -> Router<Arc<DeskState>> {
    Router::new()
        .route("/signin/entra", get(start))
        .route("/signin/entra/callback", get(callback))
}

fn random_text() -> String {
    let mut raw = Zeroizing::new([0u8; 32]);
    rand08::RngCore::fill_bytes(&mut oathvault_vault::random::os(), &mut *raw);
    data_encoding::BASE64URL_NOPAD.encode(&*raw)
}

fn hash(s: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(s.as_bytes()))
}

fn refused(title: &str, text: &str) -> Response {
    message(
        StatusCode::FORBIDDEN,
        Frame::default(),
        title,
        text,
        Some("/signin"),
    )
}

fn failed(what: &str, e: &dyn std::fmt::Display) -> Response {
    let id = oathvault_web::OperationId::log(what, e);
    message(
        StatusCode::BAD_GATEWAY,
        Frame::default(),
        "Sign-in with Microsoft Entra ID failed",
        &format!("{what}. Try again; if it goes on, quote operation {id} to a desk administrator."),
        Some("/signin"),
    )
}

/// The provider's endpoints, from its discovery document.
struct Provider {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

async fn discover(st: &DeskState, cfg: &EntraSignin) -> Result<Provider, String> {
    let url = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        cfg.authority, cfg.tenant
    );
    let doc: Value = get_json(st, &url).await?;
    let field = |name: &str| {
        doc.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("the discovery document has no {name}"))
    };
    Ok(Provider {
        issuer: field("issuer")?,
        authorization_endpoint: field("authorization_endpoint")?,
        token_endpoint: field("token_endpoint")?,
        jwks_uri: field("jwks_uri")?,
    })
}

async fn get_json(st: &DeskState, url: &str) -> Result<Value, String> {
    let r = st
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("{url}: HTTP {}", r.status()));
    }
    r.json().await.map_err(|e| format!("{url}: {e}"))
}

/// Sign-ins started and not yet finished, at most.
const MAX_PENDING: usize = 10_000;

/// `GET /signin/entra`: to the provider's authorize endpoint.
async fn start(State(st): State<Arc<DeskState>>) -> Response {
    let Some(cfg) = st.settings.entra.clone() else {
        return refused(
            "Not set up",
            "Signing in with Microsoft Entra ID is not set up on this desk. Sign in with your desk account.",
        );
    };
    let provider = match discover(&st, &cfg).await {
        Ok(p) => p,
        Err(e) => return failed("The identity provider could not be reached", &e),
    };
    let state = random_text();
    let nonce = random_text();
    let verifier = Zeroizing::new(random_text());
    let challenge = data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()));
    let now = st.now();
    if let Ok(mut pending) = st.entra_pending.lock() {
        pending.retain(|_, p| p.expires > now);
        // Bounded: a flood of started sign-ins pushes out the oldest ones
        // (their browsers start again), never the desk's memory.
        while pending.len() >= MAX_PENDING {
            let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            pending.remove(&oldest);
        }
        pending.insert(
            hash(&state),
            Pending {
                nonce: nonce.clone(),
                verifier,
                expires: now + PENDING_TTL,
            },
        );
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &cfg.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &cfg.redirect_url)
        .append_pair("response_mode", "query")
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "select_account");
    let sep = if provider.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut r = Redirect::to(&format!(
        "{}{sep}{}",
        provider.authorization_endpoint,
        q.finish()
    ))
    .into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        oathvault_web::set_cookie(STATE_COOKIE, &state, PENDING_TTL),
    );
    r
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Callback {
    code: Option<Zeroizing<String>>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Where a request came from (for the audit).
struct Source(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(oathvault_web::source_of(parts)))
    }
}

/// `GET /signin/entra/callback`: the code (or an error) from the provider.
async fn callback(
    State(st): State<Arc<DeskState>>,
    headers: HeaderMap,
    Source(source): Source,
    Query(q): Query<Callback>,
) -> Response {
    let Some(cfg) = st.settings.entra.clone() else {
        return refused(
            "Not set up",
            "Signing in with Microsoft Entra ID is not set up on this desk.",
        );
    };
    let now = st.now();
    // The state must be the one this browser started with.
    let cookie = oathvault_web::cookie(&headers, STATE_COOKIE).unwrap_or_default();
    let state = q.state.clone().unwrap_or_default();
    let pending = if !cookie.is_empty() && cookie == state {
        st.entra_pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&hash(&state)))
            .filter(|p| p.expires > now)
    } else {
        None
    };
    let Some(pending) = pending else {
        return refused(
            "Sign-in not recognised",
            "This sign-in was not started from this browser, or took longer than ten minutes. Start again.",
        );
    };
    if let Some(error) = &q.error {
        let text = q.error_description.clone().unwrap_or_default();
        return refused(
            "Microsoft Entra ID did not sign you in",
            &format!("{error}: {}", text.chars().take(300).collect::<String>()),
        );
    }
    let Some(code) = q.code.clone() else {
        return refused(
            "Sign-in not recognised",
            "The identity provider sent no code.",
        );
    };
    let claims = match redeem(&st, &cfg, &code, &pending).await {
        Ok(c) => c,
        Err(e) => return failed("The identity provider's answer could not be accepted", &e),
    };
    finish(&st, &cfg, &claims, &source, now).await
}

/// Trades the code for tokens and checks the ID token; its claims.
async fn redeem(
    st: &DeskState,
    cfg: &EntraSignin,
    code: &str,
    pending: &Pending,
) -> Result<Map<String, Value>, String> {
    let provider = discover(st, cfg).await?;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.as_str()),
        ("code", code),
        ("redirect_uri", cfg.redirect_url.as_str()),
        ("code_verifier", pending.verifier.as_str()),
        ("scope", "openid profile email"),
    ];
    let r = st
        .http
        .post(&provider.token_endpoint)
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("token endpoint: {e}"))?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| format!("token endpoint: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "token endpoint: HTTP {status}: {} {}",
            body.get("error")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            body.get("error_description")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ));
    }
    let id_token = body
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or("the token endpoint sent no id_token")?;
    let header = oathvault_jwt::decode_header(id_token).map_err(|e| e.to_string())?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let keys = PublicJwk::from_jwks(&get_json(st, &provider.jwks_uri).await?);
    let key = keys
        .iter()
        .find(|k| k.kid() == kid)
        .ok_or_else(|| format!("the ID token's key {kid:?} is not in the provider's key set"))?;
    let claims = key.verify(id_token, st.now()).map_err(|e| e.to_string())?;
    let s = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    if s("iss") != provider.issuer {
        return Err(format!(
            "ID token issuer {:?}, expected {:?}",
            s("iss"),
            provider.issuer
        ));
    }
    if s("aud") != cfg.client_id {
        return Err("the ID token is for another app (aud)".into());
    }
    if s("nonce").is_empty() || s("nonce") != pending.nonce {
        return Err("the ID token's nonce is not this sign-in's".into());
    }
    if s("oid").is_empty() || s("tid").is_empty() {
        return Err("the ID token has no oid or tid".into());
    }
    Ok(claims)
}

fn strings(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    claims
        .get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The role, the account, the session, the audit.
async fn finish(
    st: &DeskState,
    cfg: &EntraSignin,
    claims: &Map<String, Value>,
    source: &str,
    now: i64,
) -> Response {
    let s = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let oid = s("oid");
    let upn = s("preferred_username").to_ascii_lowercase();
    let name = Some(s("name"))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| upn.clone());
    let who = if upn.is_empty() {
        format!("entra:{oid}")
    } else {
        upn.clone()
    };
    let audit = |outcome: &str, detail: String| {
        Event::ok(now, &who, source, "signin", &format!("entra:{oid}"))
            .with_outcome(outcome)
            .with_detail(format!(
                "desk, Microsoft Entra ID ({upn}, oid {oid}): {detail}"
            ))
    };
    let Some((role, because)) = cfg.role_for(&strings(claims, "wids"), &strings(claims, "roles"))
    else {
        let _ = st
            .store
            .audit(&audit("refused", "no mapped role".into()))
            .await;
        return refused(
            "No access to the desk",
            &format!(
                "You ({upn}) signed in with Microsoft Entra ID, but none of your Entra roles gives a desk role. Ask an administrator to give you one of the roles the desk maps."
            ),
        );
    };
    if oathvault_accounts::check_email(&upn).is_err() {
        return refused(
            "No access to the desk",
            "Your Entra account has no usable user name (preferred_username).",
        );
    }
    let staff_id = match account(st, &upn, &name, role, &oid, audit).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let token = oathvault_accounts::session::new_token(&mut oathvault_vault::random::os());
    let ttl = st.policy.session_ttl;
    if let Err(e) = st
        .store
        .create_session(
            &oathvault_accounts::session::token_hash(&token),
            staff_id,
            STAGE,
            now + ttl,
            now,
        )
        .await
    {
        return failed("The desk's database failed", &e);
    }
    let detail = format!("role {} from {because}", role.as_str());
    if let Err(e) = st.store.audit(&audit("ok", detail)).await {
        tracing::error!(error = %e, "audit failed");
    }
    let mut r = Redirect::to("/tokens").into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        oathvault_web::set_cookie(crate::pages::SESSION, &token, ttl),
    );
    h.append(
        header::SET_COOKIE,
        oathvault_web::set_cookie(STATE_COOKIE, "", 0),
    );
    r
}

/// The desk account of the Entra user `oid` (made at the first sign-in,
/// name and role set again at every one); a page when there is none to use.
async fn account(
    st: &DeskState,
    upn: &str,
    name: &str,
    role: DeskRole,
    oid: &str,
    audit: impl Fn(&str, String) -> Event,
) -> Result<i64, Response> {
    let marker = format!("entra:{oid}");
    let staff = match st.store.staff_by_email(upn).await {
        Ok(s) => s,
        Err(e) => return Err(failed("The desk's database failed", &e)),
    };
    let staff_id = match staff {
        Some(s) if s.password_hash == marker => {
            if let Err(e) = st.store.set_staff_desk_role(s.id, name, role).await {
                return Err(failed("The desk's database failed", &e));
            }
            s.id
        }
        Some(_) => {
            let _ = st
                .store
                .audit(&audit(
                    "refused",
                    "a desk account with a password has this e-mail".into(),
                ))
                .await;
            return Err(refused(
                "No access to the desk",
                &format!(
                    "A desk account with a password already uses {upn}. Sign in with it, or ask a desk administrator to remove it so that Entra sign-in can be used."
                ),
            ));
        }
        None => {
            let e = audit("ok", format!("account made, role {}", role.as_str())).with_outcome("ok");
            match st
                .store
                .add_staff(upn, name, None, Some(role), &marker, None, &e)
                .await
            {
                Ok(id) => id,
                Err(e) => return Err(failed("The desk account could not be made", &e)),
            }
        }
    };
    Ok(staff_id)
}

/// Whether a session stage is a signed-in one (password and code, or Entra).
#[must_use]
pub(crate) fn signed_in_stage(stage: &str) -> bool {
    stage == "full" || stage == STAGE
}

/// What the role mapping gives, for tests and the docs.
#[must_use]
pub fn mapped_role(cfg: &EntraSignin, wids: &[String], app_roles: &[String]) -> Option<DeskRole> {
    cfg.role_for(wids, app_roles).map(|(r, _)| r)
}
