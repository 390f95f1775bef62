//! Making desk operators: a staff account (Argon2id password, TOTP secret
//! sealed under the master key) with a desk role, in one place for the
//! command line and the demo.

use oathvault_portal::{Actor, Admin, NewStaff};
use oathvault_store::{DeskRole, Event, Role, Store};
use oathvault_vault::MasterKey;
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

/// Adds an operator; returns the `otpauth://` URI that enrols their
/// authenticator app (shown once).
///
/// # Errors
/// The portal's refusals (a weak password, a taken e-mail) and store failures.
pub async fn add_operator<R: RngCore + CryptoRng>(
    rng: &mut R,
    store: &Store,
    master: &MasterKey,
    issuer: &str,
    who: &Actor,
    op: &NewOperator<'_>,
) -> Result<Zeroizing<String>, oathvault_portal::Error> {
    // The portal role is the least one: a desk database has no portal pages
    // that use it, and a shared one gives the operator nothing more there.
    let (_, uri) = Admin::new(store, master, issuer)
        .add_staff(
            rng,
            who,
            &NewStaff {
                email: op.email,
                name: op.name,
                role: Role::Reviewer,
                password: op.password,
            },
        )
        .await?;
    let event = Event::ok(
        who.now,
        &who.name,
        &who.source,
        "operator.role",
        &format!("staff:{}", op.email.to_ascii_lowercase()),
    )
    .with_detail(format!("desk role {}", op.role.as_str()));
    store.set_desk_role(op.email, Some(op.role), &event).await?;
    Ok(uri)
}
