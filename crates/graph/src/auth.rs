//! Signing in to the identity platform: client credentials with a secret or
//! a certificate (a signed client assertion), the device code flow for an
//! administrator, and refresh tokens. Access tokens are cached until five
//! minutes before they expire.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use crate::Error;

/// `https://graph.microsoft.com/.default`: every permission granted to the app.
pub const DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The delegated scopes the commands need, plus a refresh token.
pub const DELEGATED_SCOPE: &str = "https://graph.microsoft.com/Policy.ReadWrite.AuthenticationMethod https://graph.microsoft.com/UserAuthenticationMethod.ReadWrite.All https://graph.microsoft.com/User.Read.All offline_access";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Makes the signed JWT a certificate credential sends as `client_assertion`.
pub trait ClientAssertion: Send + Sync {
    /// A fresh assertion for `audience` (the token endpoint), issued now.
    ///
    /// # Errors
    /// When it cannot be signed.
    fn assertion(
        &self,
        audience: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Zeroizing<String>, Error>;
}

/// How the client proves who it is.
#[derive(Clone)]
pub enum Credential {
    /// A client secret (`client_secret_post`).
    Secret(Zeroizing<String>),
    /// A certificate: a signed client assertion.
    Certificate(Arc<dyn ClientAssertion>),
    /// A refresh token from an earlier device code sign-in (public client).
    RefreshToken(Zeroizing<String>),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Secret(_) => "Secret([redacted])",
            Self::Certificate(_) => "Certificate(..)",
            Self::RefreshToken(_) => "RefreshToken([redacted])",
        })
    }
}

/// Where to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `https://login.microsoftonline.com` or the local directory.
    pub authority: String,
    /// Tenant id or domain.
    pub tenant: String,
}

impl Endpoints {
    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant
        )
    }

    /// `{authority}/{tenant}/oauth2/v2.0/devicecode`.
    #[must_use]
    pub fn device_code_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/devicecode",
            self.authority.trim_end_matches('/'),
            self.tenant
        )
    }
}

/// Now, in Unix seconds (passed in).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

struct Cached {
    token: Zeroizing<String>,
    /// Unix seconds after which it is not used.
    refresh_at: i64,
}

/// Gets and caches access tokens.
pub struct Auth {
    http: reqwest::Client,
    endpoints: Endpoints,
    client_id: String,
    scope: String,
    credential: Mutex<Credential>,
    cached: tokio::sync::Mutex<Option<Cached>>,
    clock: Clock,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("endpoints", &self.endpoints)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer (its `Debug` shows no token).
pub struct Tokens {
    /// The access token.
    pub access_token: Zeroizing<String>,
    /// Seconds it lives.
    pub expires_in: i64,
    /// A refresh token, when `offline_access` was asked for.
    pub refresh_token: Option<Zeroizing<String>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl Auth {
    /// An app (or, with a refresh token, an administrator) signing in at
    /// `endpoints` as `client_id`, asking for `scope`.
    #[must_use]
    pub fn new(
        http: reqwest::Client,
        endpoints: Endpoints,
        client_id: &str,
        scope: &str,
        credential: Credential,
        clock: Clock,
    ) -> Self {
        Self {
            http,
            endpoints,
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            credential: Mutex::new(credential),
            cached: tokio::sync::Mutex::new(None),
            clock,
        }
    }

    /// The refresh token now held (they are replaced on every use), to be
    /// saved for the next run.
    #[must_use]
    pub fn refresh_token(&self) -> Option<Zeroizing<String>> {
        match &*self
            .credential
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Credential::RefreshToken(t) => Some(t.clone()),
            _ => None,
        }
    }

    /// A valid access token, from the cache or the token endpoint.
    ///
    /// # Errors
    /// The endpoint's refusal, or a transport failure.
    pub async fn access_token(&self) -> Result<Zeroizing<String>, Error> {
        let mut cached = self.cached.lock().await;
        let now = (self.clock)();
        if let Some(c) = &*cached
            && now < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let tokens = self.request_token(now).await?;
        if let Some(r) = &tokens.refresh_token {
            *self
                .credential
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Credential::RefreshToken(r.clone());
        }
        let token = tokens.access_token.clone();
        *cached = Some(Cached {
            token: tokens.access_token,
            refresh_at: now + (tokens.expires_in - 300).max(tokens.expires_in / 2),
        });
        Ok(token)
    }

    /// Forgets the cached token (after a `401`).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn request_token(&self, now: i64) -> Result<Tokens, Error> {
        let credential = self
            .credential
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let url = self.endpoints.token_url();
        let mut form: Vec<(&str, Zeroizing<String>)> = vec![
            ("client_id", Zeroizing::new(self.client_id.clone())),
            ("scope", Zeroizing::new(self.scope.clone())),
        ];
        match credential {
            Credential::Secret(s) => {
                form.push(("grant_type", Zeroizing::new("client_credentials".into())));
                form.push(("client_secret", s));
            }
            Credential::Certificate(c) => {
                form.push(("grant_type", Zeroizing::new("client_credentials".into())));
                form.push((
                    "client_assertion_type",
                    Zeroizing::new(ASSERTION_TYPE.into()),
                ));
                form.push(("client_assertion", c.assertion(&url, &self.client_id, now)?));
            }
            Credential::RefreshToken(r) => {
                form.push(("grant_type", Zeroizing::new("refresh_token".into())));
                form.push(("refresh_token", r));
            }
        }
        token_request(&self.http, &url, &form).await
    }
}

/// Posts a form to a token endpoint and reads the answer.
async fn token_request(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, Zeroizing<String>)],
) -> Result<Tokens, Error> {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = http
        .post(url)
        .form(&pairs)
        .send()
        .await
        .map_err(|e| transport(url, &e))?;
    let status = resp.status().as_u16();
    let body = Zeroizing::new(resp.bytes().await.map_err(|e| transport(url, &e))?.to_vec());
    let v: Value = serde_json::from_slice(&body).map_err(|_| Error::Unexpected {
        url: url.to_owned(),
        detail: format!("HTTP {status} without a JSON body"),
    })?;
    if !(200..300).contains(&status) {
        return Err(sign_in_error(status, &v));
    }
    let access_token =
        crate::field(&v, "access_token")
            .as_str()
            .ok_or_else(|| Error::Unexpected {
                url: url.to_owned(),
                detail: "no access_token in the answer".into(),
            })?;
    Ok(Tokens {
        access_token: Zeroizing::new(access_token.to_owned()),
        expires_in: crate::field(&v, "expires_in")
            .as_i64()
            .or_else(|| {
                crate::field(&v, "expires_in")
                    .as_str()
                    .and_then(|s| s.parse().ok())
            })
            .unwrap_or(3600),
        refresh_token: crate::field(&v, "refresh_token")
            .as_str()
            .map(|s| Zeroizing::new(s.to_owned())),
    })
}

fn sign_in_error(status: u16, v: &Value) -> Error {
    Error::SignIn {
        status,
        error: crate::field(v, "error")
            .as_str()
            .unwrap_or("unknown")
            .to_owned(),
        description: crate::field(v, "error_description")
            .as_str()
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        trace_id: crate::field(v, "trace_id").as_str().map(str::to_owned),
    }
}

pub(crate) fn transport(url: &str, e: &reqwest::Error) -> Error {
    let detail = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        e.to_string()
    };
    Error::Transport {
        url: url.to_owned(),
        detail,
    }
}

/// A device code sign-in under way: show `message` (or `user_code` and
/// `verification_uri`) to the administrator, then [`poll_device_code`].
/// Its `Debug` hides the device code.
#[derive(Clone)]
pub struct DeviceAuthorization {
    /// The code the user types.
    pub user_code: String,
    /// Where they type it.
    pub verification_uri: String,
    /// Microsoft's sentence saying both.
    pub message: String,
    /// Seconds between polls.
    pub interval: u64,
    /// Seconds it stays valid.
    pub expires_in: u64,
    device_code: Zeroizing<String>,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("interval", &self.interval)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Starts the device code flow.
///
/// # Errors
/// The endpoint's refusal, or a transport failure.
pub async fn start_device_code(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    client_id: &str,
    scope: &str,
) -> Result<DeviceAuthorization, Error> {
    let url = endpoints.device_code_url();
    let resp = http
        .post(&url)
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await
        .map_err(|e| transport(&url, &e))?;
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.map_err(|_| Error::Unexpected {
        url: url.clone(),
        detail: format!("HTTP {status} without a JSON body"),
    })?;
    if !(200..300).contains(&status) {
        return Err(sign_in_error(status, &v));
    }
    let text = |k: &str| crate::field(&v, k).as_str().map(str::to_owned);
    let (Some(user_code), Some(device_code)) = (text("user_code"), text("device_code")) else {
        return Err(Error::Unexpected {
            url,
            detail: "no user_code or device_code".into(),
        });
    };
    let verification_uri = text("verification_uri")
        .or_else(|| text("verification_url"))
        .unwrap_or_default();
    Ok(DeviceAuthorization {
        message: text("message").unwrap_or_else(|| {
            format!("To sign in, open {verification_uri} and enter the code {user_code}.")
        }),
        user_code,
        verification_uri,
        interval: crate::field(&v, "interval").as_u64().unwrap_or(5).max(1),
        expires_in: crate::field(&v, "expires_in").as_u64().unwrap_or(900),
        device_code: Zeroizing::new(device_code),
    })
}

/// Polls the token endpoint until the user has signed in (or declined, or
/// the code expired), waiting `interval` between polls (5 s more after
/// `slow_down`).
///
/// # Errors
/// `authorization_declined`, `expired_token`, `bad_verification_code`, or
/// any other refusal or transport failure.
pub async fn poll_device_code(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    client_id: &str,
    auth: &DeviceAuthorization,
) -> Result<Tokens, Error> {
    let url = endpoints.token_url();
    let mut interval = auth.interval;
    let mut waited = 0;
    loop {
        let form = [
            ("grant_type", Zeroizing::new(DEVICE_CODE_GRANT.to_owned())),
            ("client_id", Zeroizing::new(client_id.to_owned())),
            ("device_code", auth.device_code.clone()),
        ];
        match token_request(http, &url, &form).await {
            Err(Error::SignIn { error, .. })
                if error == "authorization_pending" && waited < auth.expires_in => {}
            Err(Error::SignIn { error, .. }) if error == "slow_down" => interval += 5,
            other => return other,
        }
        tokio::time::sleep(Duration::from_secs(interval)).await;
        waited += interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_token() {
        let t = Tokens {
            access_token: Zeroizing::new("eyJ-access".into()),
            expires_in: 3600,
            refresh_token: Some(Zeroizing::new("refresh-secret".into())),
        };
        let d = DeviceAuthorization {
            user_code: "ABCD".into(),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            message: String::new(),
            interval: 5,
            expires_in: 900,
            device_code: Zeroizing::new("device-secret".into()),
        };
        let shown = format!(
            "{t:?} {d:?} {:?}",
            Credential::Secret(Zeroizing::new("s3cr3t".into()))
        );
        for secret in ["eyJ-access", "refresh-secret", "device-secret", "s3cr3t"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("ABCD"));
    }
}
