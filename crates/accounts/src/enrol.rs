//! Making an account: an Argon2id password hash, a fresh TOTP secret
//! sealed under the master key, and a role in each app it may use.

use oathvault_store::{DeskRole, Event, Role, Store};
use oathvault_token::Secret;
use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::{password, totp};

/// Why an account could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// From the store (the e-mail is taken, the database failed).
    #[error(transparent)]
    Store(#[from] oathvault_store::Error),
    /// A password that is too weak.
    #[error("the password is too short: passwords need at least 12 characters")]
    WeakPassword,
    /// A value that cannot be used (named in the message).
    #[error("{0}")]
    Invalid(String),
    /// Password hashing failed.
    #[error(transparent)]
    Hash(#[from] password::HashError),
}

/// An account to make: at least one app role.
#[derive(Debug)]
pub struct NewAccount<'a> {
    /// Sign-in e-mail.
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Role in the vendor portal, if any.
    pub role: Option<Role>,
    /// Role on the help desk, if any.
    pub desk_role: Option<DeskRole>,
    /// The password (checked for length, stored only as an Argon2id hash).
    pub password: &'a Zeroizing<String>,
}

/// Makes an account: the password stored as an Argon2id hash, a fresh TOTP
/// secret sealed under the master key, the roles it has in each app; the
/// audit event is `event` (its detail gets the roles). Returns the account
/// id and the `otpauth://` URI to enrol an authenticator app (shown once).
pub async fn add_account<R: RngCore + CryptoRng>(
    rng: &mut R,
    store: &Store,
    master: &Keyring,
    issuer: &str,
    account: &NewAccount<'_>,
    event: Event,
) -> Result<(i64, Zeroizing<String>), AccountError> {
    let email = check_email(account.email)?;
    required(account.name, "the name")?;
    if account.role.is_none() && account.desk_role.is_none() {
        return Err(AccountError::Invalid(
            "an account needs a role in the portal or on the desk".into(),
        ));
    }
    if !password::strong_enough(account.password) {
        return Err(AccountError::WeakPassword);
    }
    let hash = password::hash(rng, account.password)?;
    let mut raw = Zeroizing::new(vec![0u8; 20]);
    rng.fill_bytes(&mut raw);
    let secret = Secret::new(raw.to_vec()).map_err(|e| AccountError::Invalid(e.to_string()))?;
    let sealed = master.seal(rng, &totp::purpose(&email), secret.expose());
    let roles = [
        account.role.map(|r| format!("portal role {}", r.as_str())),
        account
            .desk_role
            .map(|r| format!("desk role {}", r.as_str())),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let event = event.with_detail(roles);
    let id = store
        .add_staff(
            &email,
            account.name.trim(),
            account.role,
            account.desk_role,
            &hash,
            Some(&sealed),
            &event,
        )
        .await?;
    // The authenticator shows the e-mail as it was typed.
    Ok((id, totp::otpauth_uri(issuer, account.email.trim(), &secret)))
}

/// `value` trimmed, or an error naming `what` when it is empty or too long.
fn required<'s>(value: &'s str, what: &str) -> Result<&'s str, AccountError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AccountError::Invalid(format!("{what} is missing")));
    }
    if v.chars().count() > 200 || v.chars().any(char::is_control) {
        return Err(AccountError::Invalid(format!(
            "{what} is too long or holds control characters"
        )));
    }
    Ok(v)
}

/// A plausible e-mail address (one `@`, a dotted domain, no spaces), lower-cased.
pub fn check_email(e: &str) -> Result<String, AccountError> {
    let e = e.trim();
    let ok = e.len() <= 254
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(e.to_ascii_lowercase())
    } else {
        Err(AccountError::Invalid(format!(
            "{e:?} is not an e-mail address"
        )))
    }
}
