//! Signed checkpoints of the audit chain's head. The chain's links are
//! keyed, so only a holder of the master key can rewrite it; a checkpoint
//! signed with the vendor's OpenPGP key and kept elsewhere (the data
//! directory gets one a day; `portal audit checkpoint -o FILE` makes one on
//! demand) also catches a rewrite by someone who has the key: the chain
//! must still pass through every checkpoint's head.

use oathvault_otp::clock::rfc3339;
use oathvault_store::Store;
use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};

use crate::signing::{SigningError, VendorKey};

/// Why a checkpoint could not be made or does not hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// From the store (including a broken chain).
    #[error(transparent)]
    Store(#[from] oathvault_store::Error),
    /// The signing key.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// Not a checkpoint signed by this portal's key.
    #[error("the checkpoint is not signed by this portal's vendor key ({0})")]
    BadSignature(String),
    /// A signed text that is not a checkpoint.
    #[error("the signed text is not an audit checkpoint: {0}")]
    NotACheckpoint(String),
    /// The chain no longer passes through the checkpoint's head.
    #[error(
        "the audit log was rewritten: the checkpoint of {at} signed event {seq} with hash {signed}, but the log now has {found} there (events up to {seq} were changed or removed)"
    )]
    Rewritten {
        /// The event the checkpoint names.
        seq: i64,
        /// When the checkpoint was made.
        at: String,
        /// The hash it signed.
        signed: String,
        /// What the log holds now.
        found: String,
    },
}

/// A checkpoint of the chain as it is now: the chain is verified first,
/// then its length and head are signed.
pub async fn make(
    store: &Store,
    keys: &Keyring,
    rng: &mut (impl RngCore + CryptoRng),
    portal: &str,
    now: i64,
) -> Result<String, CheckpointError> {
    let check = store.audit_verify().await?;
    let key = VendorKey::load(store, keys)
        .await?
        .ok_or(SigningError::Missing)?;
    let text = format!(
        "oathvault audit checkpoint\nportal: {portal}\nevents: {}\nhead: {}\nat: {}\n",
        check.events,
        check.head,
        rfc3339(now)
    );
    Ok(key.clear_sign(rng, &text)?)
}

/// Checks the whole chain and that it still passes through `checkpoint`'s
/// head; returns the number of events the checkpoint covers.
pub async fn verify(
    store: &Store,
    keys: &Keyring,
    checkpoint: &str,
) -> Result<i64, CheckpointError> {
    store.audit_verify().await?;
    let key = VendorKey::load(store, keys)
        .await?
        .ok_or(SigningError::Missing)?;
    let text = oathvault_packaging::pgp::verify_cleartext(&key.public(), checkpoint)
        .map_err(|e| CheckpointError::BadSignature(e.to_string()))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
            .map(str::trim)
            .map(str::to_owned)
            .ok_or_else(|| CheckpointError::NotACheckpoint(format!("no {name} line")))
    };
    let seq: i64 = field("events")?
        .parse()
        .map_err(|_| CheckpointError::NotACheckpoint("events is not a number".into()))?;
    let signed = field("head")?;
    let at = field("at")?;
    if seq == 0 {
        return Ok(0);
    }
    let found = store
        .audit_hash_at(seq)
        .await?
        .unwrap_or_else(|| "no event".to_owned());
    if found != signed {
        return Err(CheckpointError::Rewritten {
            seq,
            at,
            signed,
            found,
        });
    }
    Ok(seq)
}
