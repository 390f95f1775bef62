//! Administration: tenants, users, app registrations, the signing key,
//! and the demo tenant. Used by `oathvault directory …` and the tests.

use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::db::{App, AppCertificate, Db, DbError, Tenant, User};
use crate::jwt::{Certificate, SigningKey};
use crate::new_id;

/// Every application permission the directory knows (what `seed-demo`
/// grants its app).
pub const ALL_PERMISSIONS: &[&str] = &[
    "Policy.Read.All",
    "Policy.ReadWrite.AuthenticationMethod",
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "User.Read.All",
    "User.ReadBasic.All",
    "Directory.Read.All",
];

/// Delegated permissions (scopes) a signed-in user may be given (what
/// `seed-demo` consents to for its app, for every user).
pub const DELEGATED_SCOPES: &[&str] = &[
    "Policy.Read.All",
    "Policy.ReadWrite.AuthenticationMethod",
    "UserAuthenticationMethod.Read",
    "UserAuthenticationMethod.ReadWrite",
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "User.Read",
    "User.Read.All",
    "User.ReadBasic.All",
    "Directory.Read.All",
];

/// Entra directory roles (template ids, as in the `wids` claim) that the
/// Graph routes check for delegated callers.
pub mod role {
    /// Global Administrator.
    pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
    /// Global Reader.
    pub const GLOBAL_READER: &str = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
    /// Authentication Administrator.
    pub const AUTHENTICATION_ADMINISTRATOR: &str = "c4e39bd9-1100-46d3-8c65-fb160da0071f";
    /// Privileged Authentication Administrator.
    pub const PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: &str =
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13";
    /// Authentication Policy Administrator.
    pub const AUTHENTICATION_POLICY_ADMINISTRATOR: &str = "0526716b-113d-4c15-b2c8-68e3c22b9f80";

    /// A role by its name (`"Authentication Policy Administrator"`, any case, spaces optional).
    #[must_use]
    pub fn by_name(name: &str) -> Option<&'static str> {
        let key: String = name
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        match key.as_str() {
            "globaladministrator" => Some(GLOBAL_ADMINISTRATOR),
            "globalreader" => Some(GLOBAL_READER),
            "authenticationadministrator" => Some(AUTHENTICATION_ADMINISTRATOR),
            "privilegedauthenticationadministrator" => {
                Some(PRIVILEGED_AUTHENTICATION_ADMINISTRATOR)
            }
            "authenticationpolicyadministrator" => Some(AUTHENTICATION_POLICY_ADMINISTRATOR),
            _ => None,
        }
    }
}

/// Why an administration step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// From the database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A value that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The signing key.
    #[error("signing key: {0}")]
    Key(String),
}

/// A user of the demo tenant and their password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    /// User principal name.
    pub upn: String,
    /// Display name.
    pub display_name: String,
    /// Password (demo only).
    pub password: String,
}

/// What `seed-demo` made: the keys of `--json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Demo {
    /// Tenant id.
    pub tenant_id: String,
    /// Tenant domain.
    pub domain: String,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret (shown once).
    pub client_secret: String,
    /// Users with their passwords.
    pub users: Vec<DemoUser>,
}

/// The certificate of `pem` (its first `BEGIN CERTIFICATE` block), if it
/// can be registered at `now`: an RSA key of 2048 to 4096 bits, not
/// expired (one not yet valid is accepted: it works from `notBefore` on).
pub fn certificate(pem: &str, now: i64) -> Result<Certificate, AdminError> {
    let cert = Certificate::from_pem(pem).map_err(|e| AdminError::Invalid(e.to_string()))?;
    if cert.not_after() < now {
        return Err(AdminError::Invalid(format!(
            "the certificate {} ({}) expired at {}",
            cert.thumbprint_sha1_hex(),
            cert.subject(),
            oathvault_otp::clock::rfc3339(cert.not_after())
        )));
    }
    Ok(cert)
}

/// The administration functions over a database and the master key.
#[derive(Debug)]
pub struct Directory<'a> {
    db: &'a Db,
    master: &'a Keyring,
}

fn random_text(rng: &mut (impl RngCore + CryptoRng), bytes: usize) -> String {
    let mut b = Zeroizing::new(vec![0u8; bytes]);
    rng.fill_bytes(&mut b);
    data_encoding::BASE64URL_NOPAD.encode(&b)
}

const KEY_PURPOSE: &str = "directory-signing-key";

impl<'a> Directory<'a> {
    /// Administration of `db`, sealing with `master`.
    #[must_use]
    pub fn new(db: &'a Db, master: &'a Keyring) -> Self {
        Self { db, master }
    }

    /// The token signing key: made (and stored sealed) on first use.
    pub async fn signing_key(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        now: i64,
    ) -> Result<SigningKey, AdminError> {
        if let Some(sealed) = self.db.signing_key().await? {
            let der = self.master.open(KEY_PURPOSE, &sealed).map_err(|e| {
                AdminError::Key(format!(
                    "{e} (is this the master key the directory was made with?)"
                ))
            })?;
            return SigningKey::from_pkcs8_der(&der).map_err(|e| AdminError::Key(e.to_string()));
        }
        let key = SigningKey::generate(rng).map_err(|e| AdminError::Key(e.to_string()))?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| AdminError::Key(e.to_string()))?;
        let sealed = self.master.seal(rng, KEY_PURPOSE, &der);
        self.db.add_signing_key(key.kid(), &sealed, now).await?;
        Ok(key)
    }

    /// Adds a tenant with a fresh id.
    pub async fn add_tenant(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        name: &str,
        domain: &str,
        now: i64,
    ) -> Result<Tenant, AdminError> {
        let domain = domain.trim().to_ascii_lowercase();
        if !domain.contains('.') || domain.contains(char::is_whitespace) {
            return Err(AdminError::Invalid(format!(
                "{domain:?} is not a domain name"
            )));
        }
        let t = Tenant {
            id: new_id(rng),
            name: name.trim().to_owned(),
            domain,
        };
        self.db.add_tenant(&t, now).await?;
        Ok(t)
    }

    /// Adds a user to `tenant` (id or domain); the UPN's domain must be the tenant's.
    pub async fn add_user(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        tenant: &str,
        upn: &str,
        display_name: &str,
        password: &str,
        now: i64,
    ) -> Result<User, AdminError> {
        let t = self.tenant(tenant).await?;
        let upn = upn.trim().to_ascii_lowercase();
        if upn.split_once('@').map(|(_, d)| d) != Some(t.domain.as_str()) {
            return Err(AdminError::Invalid(format!(
                "{upn}: the user name must end in @{}",
                t.domain
            )));
        }
        if password.chars().count() < 8 {
            return Err(AdminError::Invalid(
                "passwords need at least 8 characters".into(),
            ));
        }
        let hash = oathvault_vault::password::hash(rng, password)
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let u = User {
            id: new_id(rng),
            tenant_id: t.id,
            upn,
            display_name: display_name.trim().to_owned(),
            password_hash: hash,
            roles: Vec::new(),
        };
        self.db.add_user(&u, now).await?;
        Ok(u)
    }

    /// Gives a user directory roles (names as Entra shows them).
    pub async fn set_roles(
        &self,
        tenant: &str,
        upn: &str,
        names: &[String],
    ) -> Result<(), AdminError> {
        let t = self.tenant(tenant).await?;
        let u = self
            .db
            .user(&t.id, upn)
            .await?
            .ok_or_else(|| AdminError::Invalid(format!("no user {upn:?} in {}", t.domain)))?;
        let ids = names
            .iter()
            .map(|n| {
                role::by_name(n)
                    .map(str::to_owned)
                    .ok_or_else(|| AdminError::Invalid(format!("unknown role {n:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.db.set_roles(&u.id, &ids).await?)
    }

    /// Puts tokens into `tenant`'s inventory (available, nobody's), all or
    /// none; TOTP with 30 or 60 s steps and SHA-1 or SHA-256 only.
    pub async fn import_tokens(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        tenant: &str,
        tokens: &[oathvault_token::Token],
        now: i64,
    ) -> Result<usize, AdminError> {
        let t = self.tenant(tenant).await?;
        let mut devices = Vec::with_capacity(tokens.len());
        for tok in tokens {
            let oathvault_token::Kind::Totp { step, .. } = tok.kind else {
                return Err(AdminError::Invalid(format!(
                    "{}: Entra takes TOTP tokens only",
                    tok.serial.as_str()
                )));
            };
            let interval = crate::rules::interval(i64::from(step.seconds()))
                .map_err(|e| AdminError::Invalid(format!("{}: {e}", tok.serial.as_str())))?;
            let hash = match tok.hash {
                oathvault_token::Hash::Sha1 => "hmacsha1",
                oathvault_token::Hash::Sha256 => "hmacsha256",
                oathvault_token::Hash::Sha512 => {
                    return Err(AdminError::Invalid(format!(
                        "{}: Entra takes SHA-1 or SHA-256",
                        tok.serial.as_str()
                    )));
                }
            };
            let id = new_id(rng);
            let sealed = self
                .master
                .seal(rng, &crate::seal_purpose(&id), tok.secret.expose());
            devices.push(crate::db::Device {
                id,
                tenant_id: t.id.clone(),
                serial: tok.serial.as_str().to_owned(),
                display_name: None,
                manufacturer: tok.manufacturer.clone().unwrap_or_else(|| "Unknown".into()),
                model: tok.model.clone().unwrap_or_else(|| "Hardware token".into()),
                sealed,
                interval,
                hash: hash.into(),
                status: crate::rules::status::AVAILABLE.into(),
                user: None,
                assigned_at: None,
                last_used: None,
                drift: 0,
                last_counter: None,
                created: now,
            });
        }
        self.db.insert_devices(&devices).await?;
        Ok(devices.len())
    }

    /// Registers an app in `tenant` with granted application permissions;
    /// returns it and its client secret (shown once).
    pub async fn add_app(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        tenant: &str,
        name: &str,
        permissions: &[String],
        now: i64,
    ) -> Result<(App, Zeroizing<String>), AdminError> {
        let t = self.tenant(tenant).await?;
        if let Some(p) = permissions
            .iter()
            .find(|p| !ALL_PERMISSIONS.contains(&p.as_str()))
        {
            return Err(AdminError::Invalid(format!(
                "unknown permission {p}; known: {}",
                ALL_PERMISSIONS.join(", ")
            )));
        }
        let secret = Zeroizing::new(random_text(rng, 30));
        let app = App {
            client_id: new_id(rng),
            tenant_id: t.id,
            name: name.trim().to_owned(),
            secret_hash: crate::oauth::secret_hash(&secret),
            permissions: permissions.to_vec(),
            redirect_uris: Vec::new(),
            role_claims: false,
        };
        self.db.add_app(&app, now).await?;
        // Registered in its own tenant by an administrator there: what it
        // asks for is granted (admin consent) at once.
        self.db
            .grant_app(&app.tenant_id, &app.client_id, permissions, now)
            .await?;
        Ok((app, secret))
    }

    /// Sets where the app `client_id` of `tenant` may receive authorization
    /// codes (replacing what was there) and whether its ID tokens carry the
    /// user's directory roles (`wids`). Each URI must be absolute, without
    /// a fragment, `https://` or `http://` to a loopback host (as Entra's
    /// web platform requires).
    pub async fn set_signin(
        &self,
        tenant: &str,
        client_id: &str,
        redirect_uris: &[String],
        role_claims: bool,
    ) -> Result<App, AdminError> {
        let t = self.tenant(tenant).await?;
        for u in redirect_uris {
            check_redirect_uri(u).map_err(AdminError::Invalid)?;
        }
        let app = self
            .db
            .app(client_id)
            .await?
            .filter(|a| a.tenant_id == t.id)
            .ok_or_else(|| AdminError::Invalid(format!("no app {client_id} in {}", t.name)))?;
        self.db
            .set_app_signin(&app.client_id, redirect_uris, role_claims)
            .await?;
        Ok(App {
            redirect_uris: redirect_uris.to_vec(),
            role_claims,
            ..app
        })
    }

    /// Consents to delegated `scopes` for the app `client_id` in `tenant`:
    /// for every user of the tenant (`user` `None`: an administrator's
    /// consent), or for one user (UPN or id) themselves.
    pub async fn consent(
        &self,
        tenant: &str,
        client_id: &str,
        user: Option<&str>,
        scopes: &[String],
        now: i64,
    ) -> Result<(), AdminError> {
        let t = self.tenant(tenant).await?;
        if let Some(s) = scopes
            .iter()
            .find(|s| !DELEGATED_SCOPES.contains(&s.as_str()))
        {
            return Err(AdminError::Invalid(format!(
                "unknown delegated permission {s}; known: {}",
                DELEGATED_SCOPES.join(", ")
            )));
        }
        let app = self
            .db
            .app(client_id)
            .await?
            .ok_or_else(|| AdminError::Invalid(format!("no app {client_id:?}")))?;
        let principal = match user {
            Some(u) => Some(
                self.db
                    .user(&t.id, u)
                    .await?
                    .ok_or_else(|| AdminError::Invalid(format!("no user {u:?} in {}", t.domain)))?
                    .id,
            ),
            None => None,
        };
        Ok(self
            .db
            .consent(&t.id, &app.client_id, principal.as_deref(), scopes, now)
            .await?)
    }

    /// Registers a certificate (the first `BEGIN CERTIFICATE` block of
    /// `pem`; a private key in the same file is ignored) on the app
    /// `client_id` of `tenant` (id or domain). Client assertions signed with
    /// its key then authenticate the app. See [`certificate`] for what is
    /// refused.
    pub async fn add_certificate(
        &self,
        tenant: &str,
        client_id: &str,
        pem: &str,
        now: i64,
    ) -> Result<AppCertificate, AdminError> {
        let t = self.tenant(tenant).await?;
        let app = self
            .db
            .app(client_id)
            .await?
            .filter(|a| a.tenant_id == t.id)
            .ok_or_else(|| AdminError::Invalid(format!("no app {client_id:?} in {}", t.domain)))?;
        let cert = certificate(pem, now)?;
        let stored = AppCertificate {
            client_id: app.client_id,
            thumbprint_sha1: cert.thumbprint_sha1_b64url().to_owned(),
            thumbprint_sha256: cert.thumbprint_sha256_b64url().to_owned(),
            der: cert.der().to_vec(),
            subject: cert.subject().to_owned(),
            not_before: cert.not_before(),
            not_after: cert.not_after(),
        };
        self.db.add_certificate(&stored, now).await?;
        Ok(stored)
    }

    async fn tenant(&self, id_or_domain: &str) -> Result<Tenant, AdminError> {
        self.db
            .tenant(id_or_domain)
            .await?
            .ok_or_else(|| AdminError::Invalid(format!("no tenant {id_or_domain:?}")))
    }

    /// Creates a demo tenant (`domain`) with three users and an app granted
    /// every permission; prints nothing, returns what to show.
    pub async fn seed_demo(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        domain: &str,
        now: i64,
    ) -> Result<Demo, AdminError> {
        let t = self.add_tenant(rng, "Contoso (demo)", domain, now).await?;
        let mut users = Vec::new();
        for (name, display) in [
            ("amy", "Amy Masters"),
            ("ben", "Ben Okafor"),
            ("helga", "Helga Lindqvist"),
        ] {
            let password = format!("Demo-{}", random_text(rng, 9));
            let upn = format!("{name}@{}", t.domain);
            let u = self
                .add_user(rng, &t.id, &upn, display, &password, now)
                .await?;
            if name == "amy" {
                // Amy runs the tokens: she may upload, assign and activate.
                let roles = [
                    role::AUTHENTICATION_POLICY_ADMINISTRATOR,
                    role::AUTHENTICATION_ADMINISTRATOR,
                ];
                self.db.set_roles(&u.id, &roles.map(str::to_owned)).await?;
            }
            users.push(DemoUser {
                upn,
                display_name: display.to_owned(),
                password,
            });
        }
        let all: Vec<String> = ALL_PERMISSIONS.iter().map(|p| (*p).to_owned()).collect();
        let (app, secret) = self
            .add_app(rng, &t.id, "oathvault demo client", &all, now)
            .await?;
        // An administrator consented for every user to what the app may do
        // on their behalf (each token still carries only what the user's
        // roles allow).
        let scopes: Vec<String> = DELEGATED_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        self.consent(&t.id, &app.client_id, None, &scopes, now)
            .await?;
        Ok(Demo {
            tenant_id: t.id,
            domain: t.domain,
            client_id: app.client_id,
            client_secret: secret.to_string(),
            users,
        })
    }
}

/// Whether `uri` may be registered as a redirect URI: why not, if not.
///
/// # Errors
/// What is wrong with it.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let loopback = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
        .iter()
        .any(|p| {
            uri.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    let ok_scheme = uri
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !(ok_scheme || loopback) {
        return Err(format!(
            "redirect URI {uri:?}: must start with https:// (or http://localhost, http://127.0.0.1, http://[::1])"
        ));
    }
    if uri.contains('#') || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "redirect URI {uri:?}: no fragment (#) and no spaces"
        ));
    }
    if uri.len() > 256 {
        return Err(format!("redirect URI {uri:?}: longer than 256 characters"));
    }
    Ok(())
}
