//! Making desk operators: an account (Argon2id password, TOTP secret
//! sealed under the master key) with a desk role and no portal role, in
//! one place for the command line and the demo.

use oathvault_accounts::{AccountError, NewAccount};
use oathvault_store::{DeskRole, Event, Store};
use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// A new operator.
#[derive(Debug)]
pub struct NewOperator<'a> {
    /// Sign-in e-mail.
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// What they may do on the desk.
    pub role: DeskRole,
    /// At least 12 characters; stored only as an Argon2id hash.
    pub password: &'a Zeroizing<String>,
}

/// Who adds an operator, from where, when (for the audit).
#[derive(Debug, Clone)]
pub struct Actor {
    /// An operator's e-mail, or `cli:<user>`.
    pub name: String,
    /// An IP address, or `cli`.
    pub source: String,
    /// Now (Unix seconds).
    pub now: i64,
}

/// Adds an operator: an account with a desk role and no role in the
/// portal (a desk operator is not a portal reviewer). Returns the
/// `otpauth://` URI that enrols their authenticator app (shown once).
///
/// # Errors
/// A weak password, a taken or malformed e-mail, store failures.
pub async fn add_operator<R: RngCore + CryptoRng>(
    rng: &mut R,
    store: &Store,
    master: &Keyring,
    issuer: &str,
    who: &Actor,
    op: &NewOperator<'_>,
) -> Result<Zeroizing<String>, AccountError> {
    let event = Event::ok(
        who.now,
        &who.name,
        &who.source,
        "operator.add",
        &format!("staff:{}", op.email.trim().to_ascii_lowercase()),
    );
    let account = NewAccount {
        email: op.email,
        name: op.name,
        role: None,
        desk_role: Some(op.role),
        password: op.password,
    };
    let (_, uri) =
        oathvault_accounts::add_account(rng, store, master, issuer, &account, event).await?;
    Ok(uri)
}
