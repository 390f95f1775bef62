//! `[entra_signin]`: where the identity provider is, the desk's app
//! registration there, and which Entra roles give which desk role.

use std::collections::BTreeMap;
use std::path::Path;

use oathvault_store::DeskRole;
use zeroize::Zeroizing;

/// Operators sign in with their Entra account (OpenID Connect,
/// authorization code with PKCE).
#[derive(Clone)]
pub struct EntraSignin {
    /// The identity provider, e.g. `https://login.microsoftonline.com`.
    pub authority: String,
    /// The tenant id or a verified domain (not `common` / `organizations`:
    /// the desk signs in one tenant's people).
    pub tenant: String,
    /// The desk's app registration (client id).
    pub client_id: String,
    /// Its client secret.
    pub client_secret: Zeroizing<String>,
    /// Where the provider sends the code: this desk's
    /// `/signin/entra/callback`, registered on the app as a Web redirect URI.
    pub redirect_url: String,
    /// Directory role template ids (the `wids` claim) and app role values
    /// (the `roles` claim), each with the desk role it gives; an operator
    /// with several gets the highest.
    pub roles: Vec<(String, DeskRole)>,
}

impl std::fmt::Debug for EntraSignin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraSignin")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// A configuration that cannot be used: the file, and which field.
#[derive(Debug, thiserror::Error)]
#[error("{file}: [entra_signin] {field}: {problem}")]
pub struct ConfigError {
    /// The configuration file.
    pub file: String,
    /// The field.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    entra_signin: Section,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    authority: String,
    tenant: String,
    client_id: String,
    client_secret_file: String,
    redirect_url: String,
    roles: BTreeMap<String, String>,
}

impl EntraSignin {
    /// Reads `[entra_signin]` from the TOML file `path`; the client secret
    /// from `client_secret_file` (relative to the file's directory).
    ///
    /// # Errors
    /// A file that cannot be read, a field missing, unknown or wrong.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let err = |field: &str, problem: String| ConfigError {
            file: file.clone(),
            field: field.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err("(file)", e.to_string()))?;
        let parsed: File = toml::from_str(&text).map_err(|e| {
            let field = e.span().and_then(|s| text.get(s)).unwrap_or("(file)");
            err(field, e.message().to_owned())
        })?;
        let s = parsed.entra_signin;
        let authority = s.authority.trim_end_matches('/').to_owned();
        let local = ["http://localhost", "http://127.0.0.1"]
            .iter()
            .any(|p| authority.starts_with(p));
        if !(authority.starts_with("https://") || local) {
            return Err(err(
                "authority",
                "must be https:// (or http://localhost, http://127.0.0.1 for testing)".into(),
            ));
        }
        if s.tenant.is_empty()
            || ["common", "organizations", "consumers"].contains(&s.tenant.as_str())
        {
            return Err(err(
                "tenant",
                "name one tenant (its id or a verified domain): the desk signs in one tenant's people".into(),
            ));
        }
        if s.client_id.trim().is_empty() {
            return Err(err("client_id", "is empty".into()));
        }
        if !s.redirect_url.ends_with("/signin/entra/callback") {
            return Err(err(
                "redirect_url",
                "must be this desk's URL ending in /signin/entra/callback".into(),
            ));
        }
        let secret_path = path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(&s.client_secret_file);
        let secret = Zeroizing::new(
            std::fs::read_to_string(&secret_path)
                .map_err(|e| {
                    err(
                        "client_secret_file",
                        format!("{}: {e}", secret_path.display()),
                    )
                })?
                .trim()
                .to_owned(),
        );
        if secret.is_empty() {
            return Err(err("client_secret_file", "the file is empty".into()));
        }
        let mut roles = Vec::new();
        for (claim, role) in s.roles {
            let r = DeskRole::parse(&role).ok_or_else(|| {
                err(
                    &format!("roles.{claim}"),
                    format!("{role:?} is not a desk role (viewer, helpdesk, administrator)"),
                )
            })?;
            roles.push((claim, r));
        }
        if roles.is_empty() {
            return Err(err(
                "roles",
                "map at least one Entra role to a desk role".into(),
            ));
        }
        Ok(Self {
            authority,
            tenant: s.tenant,
            client_id: s.client_id.trim().to_owned(),
            client_secret: secret,
            redirect_url: s.redirect_url,
            roles,
        })
    }

    /// The highest desk role that `wids` (directory role template ids)
    /// and `roles` (app role values) give, and the claim value that gave it.
    #[must_use]
    pub fn role_for(&self, wids: &[String], app_roles: &[String]) -> Option<(DeskRole, String)> {
        self.roles
            .iter()
            .filter(|(claim, _)| {
                wids.iter().any(|w| w.eq_ignore_ascii_case(claim)) || app_roles.contains(claim)
            })
            .max_by_key(|(_, r)| *r)
            .map(|(c, r)| (*r, c.clone()))
    }
}
