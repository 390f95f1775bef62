//! The vendor's OpenPGP signing key: it signs every delivery's MANIFEST
//! (`MANIFEST.asc`, checked by `oathvault open --vendor-key`) and every
//! deletion receipt (a cleartext-signed statement `gpg --verify` checks).
//! The key and its passphrase are kept together as one of the store's
//! secrets, sealed under the master keyring; the public key is published at
//! `/vendor-key.asc`.

use oathvault_packaging::Password;
use oathvault_packaging::pgp::{KeyProblem, PublicKey, SecretKey};
use oathvault_store::{Event, Store};
use oathvault_vault::Keyring;
use rand08::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// The name of the key among the store's secrets.
const SECRET_NAME: &str = "vendor-signing-key";

/// Why the signing key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The portal has no signing key yet.
    #[error(
        "the portal has no vendor signing key: run `oathvault portal signing-key generate` (or `import`)"
    )]
    Missing,
    /// The key cannot be used.
    #[error("the vendor signing key: {0}")]
    Key(#[from] KeyProblem),
    /// What is stored is not a key and passphrase.
    #[error("the stored vendor signing key is damaged: {0}")]
    Damaged(String),
    /// From the store.
    #[error(transparent)]
    Store(#[from] oathvault_store::Error),
}

/// What is sealed: the armored secret key and its passphrase.
#[derive(serde::Serialize, serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct Stored {
    key: String,
    passphrase: String,
}

/// The vendor's signing key, opened.
pub struct VendorKey {
    key: SecretKey,
    passphrase: Password,
}

impl std::fmt::Debug for VendorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VendorKey({})", self.fingerprint())
    }
}

impl VendorKey {
    /// Reads a secret key and its passphrase, checking that it can sign.
    pub fn new(
        rng: &mut (impl RngCore + CryptoRng),
        key: SecretKey,
        passphrase: Password,
    ) -> Result<Self, SigningError> {
        key.sign_detached(rng, &passphrase, b"oathvault signing check")?;
        Ok(Self { key, passphrase })
    }

    /// A fresh Ed25519 key for `user_id` (e.g. `Example Tokens Delivery
    /// <delivery@example.com>`), its secrets under a random passphrase.
    pub fn generate(
        rng: &mut (impl RngCore + CryptoRng),
        user_id: &str,
    ) -> Result<Self, SigningError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *bytes);
        let passphrase = Password::new(&data_encoding::BASE64URL_NOPAD.encode(&*bytes));
        let key = SecretKey::generate(rng, user_id, &passphrase)?;
        Ok(Self { key, passphrase })
    }

    /// The portal's key, if it has one.
    pub async fn load(store: &Store, keys: &Keyring) -> Result<Option<Self>, SigningError> {
        let Some(plain) = store.store_secret(keys, SECRET_NAME).await? else {
            return Ok(None);
        };
        let stored: Stored =
            serde_json::from_slice(&plain).map_err(|e| SigningError::Damaged(e.to_string()))?;
        let key = SecretKey::parse(stored.key.as_bytes())?;
        Ok(Some(Self {
            key,
            passphrase: Password::new(&stored.passphrase),
        }))
    }

    /// The user id a vendor's generated key carries.
    #[must_use]
    pub fn user_id(vendor: &str) -> String {
        format!("{vendor} deliveries")
    }

    /// The portal's key; one is made for `vendor` and saved if it has none,
    /// audited as `signing-key.generate` by `actor` from `source` at `at`.
    pub async fn load_or_generate(
        store: &Store,
        keys: &Keyring,
        rng: &mut (impl RngCore + CryptoRng),
        vendor: &str,
        (at, actor, source): (i64, &str, &str),
    ) -> Result<Self, SigningError> {
        if let Some(k) = Self::load(store, keys).await? {
            return Ok(k);
        }
        let made = Self::generate(rng, &Self::user_id(vendor))?;
        let event = Event::ok(
            at,
            actor,
            source,
            "signing-key.generate",
            "vendor-signing-key",
        );
        made.save(store, keys, rng, event).await?;
        Ok(made)
    }

    /// Saves this key as the portal's (replacing the one it had).
    pub async fn save(
        &self,
        store: &Store,
        keys: &Keyring,
        rng: &mut (impl RngCore + CryptoRng),
        event: Event,
    ) -> Result<(), SigningError> {
        let stored = Stored {
            key: self.key.to_armored()?.to_string(),
            passphrase: self.passphrase.expose().to_owned(),
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| SigningError::Damaged(e.to_string()))?,
        );
        let event = event.with_detail(format!("fingerprint {}", self.fingerprint()));
        store
            .set_store_secret(keys, rng, SECRET_NAME, &json, &event)
            .await?;
        Ok(())
    }

    /// The public key.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        self.key.public()
    }

    /// The public key, armored (what `/vendor-key.asc` serves).
    pub fn public_armored(&self) -> Result<String, SigningError> {
        Ok(self.public().to_armored()?)
    }

    /// The key's fingerprint (upper-case hex).
    #[must_use]
    pub fn fingerprint(&self) -> String {
        self.public().fingerprint()
    }

    /// The key and passphrase, for a package's `Seal::signer`.
    #[must_use]
    pub fn signer(&self) -> (&SecretKey, &Password) {
        (&self.key, &self.passphrase)
    }

    /// `text` cleartext-signed.
    pub fn clear_sign(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        text: &str,
    ) -> Result<String, SigningError> {
        Ok(self.key.clear_sign(rng, &self.passphrase, text)?)
    }
}
