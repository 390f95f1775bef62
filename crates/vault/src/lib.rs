//! Seeds sealed at rest.
//!
//! Every secret is encrypted with AES-256-GCM under a **data key** that
//! belongs to one shipment; the associated data binds each ciphertext to
//! its token (shipment and serial), so a sealed secret copied onto another
//! row does not open. Data keys are stored **wrapped** by the **master key**
//! (AES-256-GCM again, bound to the shipment), and the master key lives
//! outside the database — in a file named by `OATHVAULT_MASTER_KEY_FILE` —
//! so a dump of the database reveals no seed. The file is a [`Keyring`]:
//! during a rotation it holds the old and the new master key, every sealed
//! value names the key it is under, and the old key is retired once nothing
//! names it. Rotating re-wraps the data keys; the sealed seeds stay as they
//! are.
//!
//! Randomness is the caller's; keys and plaintexts are wiped when dropped
//! and never printed.

mod keyring;
pub mod password;
pub mod random;

pub use keyring::Keyring;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand08::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Bytes of a sealed value beyond its plaintext: a 12-byte nonce and a 16-byte tag.
pub const OVERHEAD: usize = 12 + 16;

/// Why sealing or opening failed. Never carries key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The master key file does not hold a key.
    #[error(
        "the master key file must hold 64 hexadecimal digits (32 bytes); run `oathvault portal init` to create one"
    )]
    BadMasterKey,
    /// A ciphertext does not open under this key and binding: wrong key,
    /// moved or changed data.
    #[error("a sealed value does not open: wrong master key, or the database was changed")]
    Open,
    /// A sealed value that is too short to be one.
    #[error("a sealed value is damaged")]
    Damaged,
    /// The key file cannot be read.
    #[error("cannot read the master key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// The key file can be read or written by the group or others.
    #[error("{path} can be read or written by others (mode {mode:04o}); run `chmod 600 {path}`")]
    Unprotected {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
}

fn seal_with(
    key: &[u8; 32],
    rng: &mut (impl RngCore + CryptoRng),
    plain: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let cipher = Aes256Gcm::new(key.into());
    // AES-GCM encryption fails only for inputs beyond 64 GiB.
    let ct = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(OVERHEAD + plain.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_with(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if sealed.len() < OVERHEAD {
        return Err(Error::Damaged);
    }
    let (nonce, ct) = sealed.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| Error::Damaged)?;
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| Error::Open)
}

/// One master key of the [`Keyring`]: wraps data keys.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id())
    }
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *k);
        Self(k)
    }

    /// Reads a key file's content: 64 hex digits, surrounding whitespace
    /// ignored (what [`MasterKey::to_file`] writes).
    pub fn from_file(content: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(content).map_err(|_| Error::BadMasterKey)?;
        let hex = text.trim();
        let mut k = Zeroizing::new([0u8; 32]);
        if hex.len() != 64 {
            return Err(Error::BadMasterKey);
        }
        data_encoding::HEXLOWER_PERMISSIVE
            .decode_mut(hex.as_bytes(), &mut *k)
            .map_err(|_| Error::BadMasterKey)?;
        Ok(Self(k))
    }

    /// The key file's content: 64 lower-case hex digits and a newline.
    #[must_use]
    pub fn to_file(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(data_encoding::HEXLOWER.encode(&*self.0));
        s.push('\n');
        s
    }

    /// HMAC-SHA-256 of `data` under a key derived from the master key for
    /// `purpose` (receipts the vendor can check later), hex.
    #[must_use]
    pub fn mac(&self, purpose: &str, data: &[u8]) -> String {
        let Ok(mut derive) = <Hmac<Sha256> as KeyInit>::new_from_slice(&*self.0) else {
            return String::new();
        };
        derive.update(b"oathvault mac key v1\0");
        derive.update(purpose.as_bytes());
        let key = Zeroizing::new(derive.finalize().into_bytes().to_vec());
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&key) else {
            return String::new();
        };
        mac.update(data);
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }

    /// A short public identifier (HMAC of a constant under the key), stored
    /// beside each wrapped data key so a wrong master key is named as such.
    #[must_use]
    pub fn id(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.raw_id())
    }

    /// The identifier's 8 bytes (what a sealed value's header holds).
    fn raw_id(&self) -> [u8; 8] {
        let mut id = [0u8; 8];
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&*self.0) else {
            return id;
        };
        mac.update(b"oathvault master key id v1");
        let tag = mac.finalize().into_bytes();
        if let Some(head) = tag.get(..8) {
            id.copy_from_slice(head);
        }
        id
    }

    /// The same key (a ring made from another keeps its keys).
    fn clone_key(&self) -> Self {
        Self(self.0.clone())
    }

    /// Wraps `key` for the shipment `owner` (the binding is checked on unwrap).
    pub fn wrap(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        key: &DataKey,
        owner: &str,
    ) -> Vec<u8> {
        seal_with(&self.0, rng, &*key.0, &wrap_aad(owner))
    }

    /// Seals a secret that belongs to no shipment (a staff member's TOTP
    /// secret) directly under the master key, bound to `purpose`.
    pub fn seal(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        purpose: &str,
        secret: &[u8],
    ) -> Vec<u8> {
        seal_with(&self.0, rng, secret, &purpose_aad(purpose))
    }

    /// Opens what [`MasterKey::seal`] sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        open_with(&self.0, sealed, &purpose_aad(purpose))
    }

    /// Unwraps a data key of the shipment `owner`.
    pub fn unwrap(&self, wrapped: &[u8], owner: &str) -> Result<DataKey, Error> {
        let plain = open_with(&self.0, wrapped, &wrap_aad(owner))?;
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| Error::Damaged)?;
        Ok(DataKey(Zeroizing::new(bytes)))
    }
}

fn wrap_aad(owner: &str) -> Vec<u8> {
    let mut aad = b"oathvault/data-key/v1\0".to_vec();
    aad.extend_from_slice(owner.as_bytes());
    aad
}

fn purpose_aad(purpose: &str) -> Vec<u8> {
    let mut aad = b"oathvault/master-sealed/v1\0".to_vec();
    aad.extend_from_slice(purpose.as_bytes());
    aad
}

fn seed_aad(owner: &str, serial: &str) -> Vec<u8> {
    let mut aad = b"oathvault/seed/v1\0".to_vec();
    aad.extend_from_slice(owner.as_bytes());
    aad.push(0);
    aad.extend_from_slice(serial.as_bytes());
    aad
}

/// A shipment's data key: seals that shipment's seeds.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *k);
        Self(k)
    }

    /// Seals the secret of token `serial` in shipment `owner`.
    pub fn seal(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        owner: &str,
        serial: &str,
        secret: &[u8],
    ) -> Vec<u8> {
        seal_with(&self.0, rng, secret, &seed_aad(owner, serial))
    }

    /// Opens the sealed secret of token `serial` in shipment `owner`.
    pub fn open(
        &self,
        owner: &str,
        serial: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        open_with(&self.0, sealed, &seed_aad(owner, serial))
    }
}

#[cfg(test)]
mod tests {
    use rand08::SeedableRng;
    use rand08::rngs::StdRng;

    use super::*;

    #[test]
    fn seal_open_and_every_binding() {
        let mut rng = StdRng::seed_from_u64(7);
        let master = MasterKey::generate(&mut rng);
        let data = DataKey::generate(&mut rng);
        let wrapped = master.wrap(&mut rng, &data, "shipment-1");
        let sealed = data.seal(&mut rng, "shipment-1", "0001", b"12345678901234567890");
        assert_eq!(sealed.len(), 20 + OVERHEAD);
        assert!(!sealed.windows(8).any(|w| w == b"12345678"));

        let back = master
            .unwrap(&wrapped, "shipment-1")
            .map(|k| k.open("shipment-1", "0001", &sealed));
        assert_eq!(
            back.ok().and_then(Result::ok).as_deref().map(Vec::as_slice),
            Some(&b"12345678901234567890"[..])
        );
        // Moved to another token or shipment, or under another master key: refused.
        assert_eq!(
            data.open("shipment-1", "0002", &sealed).err(),
            Some(Error::Open)
        );
        assert_eq!(
            data.open("shipment-2", "0001", &sealed).err(),
            Some(Error::Open)
        );
        assert_eq!(
            master.unwrap(&wrapped, "shipment-2").err(),
            Some(Error::Open)
        );
        let other = MasterKey::generate(&mut rng);
        assert_eq!(
            other.unwrap(&wrapped, "shipment-1").err(),
            Some(Error::Open)
        );
        assert_ne!(other.id(), master.id());
        let mut changed = sealed.clone();
        if let Some(b) = changed.last_mut() {
            *b ^= 1;
        }
        assert_eq!(
            data.open("shipment-1", "0001", &changed).err(),
            Some(Error::Open)
        );
        assert_eq!(
            data.open("shipment-1", "0001", &sealed[..10]).err(),
            Some(Error::Damaged)
        );
    }

    #[test]
    fn key_files_round_trip_and_nothing_prints_a_key() {
        let mut rng = StdRng::seed_from_u64(8);
        let master = MasterKey::generate(&mut rng);
        let file = master.to_file();
        assert_eq!(file.len(), 65);
        let again = MasterKey::from_file(format!("  {}\n", file.trim()).as_bytes());
        assert_eq!(again.map(|k| k.id()).ok(), Some(master.id()));
        assert_eq!(
            MasterKey::from_file(b"abc").err(),
            Some(Error::BadMasterKey)
        );
        assert_eq!(
            MasterKey::from_file(&[b'g'; 64]).err(),
            Some(Error::BadMasterKey)
        );
        let shown = format!("{master:?} {:?}", DataKey::generate(&mut rng));
        assert!(!shown.contains(file.trim()));
        assert!(shown.contains("[redacted]"));
    }
}
