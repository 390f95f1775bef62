//! OpenPGP layer (rPGP): check a customer's public key before use, encrypt
//! to it or to a password, decrypt with a secret key or a password, and
//! make and check detached signatures (the vendor's manifest signature).
//!
//! Written for GnuPG 2.2 readers: SEIPD v1 with AES-256, iterated and
//! salted SHA-256 S2K. The time a key is checked at is a parameter; the
//! random generator is the caller's.

use std::io::{Read, Write};

use pgp::composed::{
    ArmorOptions, Deserializable, DetachedSignature, EncryptionCaps, Esk, KeyType, Message,
    MessageBuilder, PublicOrSecret, SecretKeyParamsBuilder, SignedPublicKey, SignedPublicSubKey,
    SignedSecretKey, SubkeyParamsBuilder,
};
use pgp::crypto::ecc_curve::ECCCurve;
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::errors::Error as PgpError;
use pgp::packet::{PublicKey as PrimaryKey, PublicSubkey, Signature, SignatureType};
use pgp::ser::Serialize as _;
use pgp::types::{
    CompressionAlgorithm, KeyDetails, Password as PgpPassword, PublicParams, StringToKey, Timestamp,
};
use rand08::{CryptoRng, Rng};
use zeroize::Zeroizing;

use crate::Password;

mod message;
mod secret;

pub use message::{
    Opened, Signer, decrypt, encrypt_to, encrypt_with_password, is_pgp, verify_cleartext,
    verify_detached,
};

/// The smallest RSA (and `ElGamal`) modulus accepted for encryption.
pub const MIN_RSA_BITS: u16 = 2048;

/// Why a key cannot be used, or could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    /// Not OpenPGP key material at all.
    #[error("not an OpenPGP key ({0})")]
    NotAKey(String),
    /// A secret key where a public key was expected.
    #[error(
        "this is a secret key: give the public key (gpg --armor --export), never the secret one"
    )]
    SecretGiven,
    /// A public key where a secret key was expected.
    #[error("this is a public key; a secret key is needed here (gpg --armor --export-secret-keys)")]
    PublicGiven,
    /// Key packets that do not parse.
    #[error("the OpenPGP key is damaged: {0}")]
    Malformed(String),
    /// Self-signatures that do not verify.
    #[error("the key's self-signatures do not verify: {0}")]
    BadSelfSignature(String),
    /// The key was revoked by its owner.
    #[error("the key {fingerprint} is revoked by its owner")]
    Revoked {
        /// The key.
        fingerprint: String,
    },
    /// The key expired.
    #[error("the key {fingerprint} expired on {date}")]
    Expired {
        /// The key.
        fingerprint: String,
        /// When (RFC 3339).
        date: String,
    },
    /// Nothing in the key may encrypt.
    #[error(
        "the key {fingerprint} has no usable encryption key (no subkey marked for encryption that is valid, unexpired and unrevoked)"
    )]
    NoEncryptionKey {
        /// The key.
        fingerprint: String,
    },
    /// Nothing in the key may sign.
    #[error("the key {fingerprint} has no usable signing key")]
    NoSigningKey {
        /// The key.
        fingerprint: String,
    },
    /// A weak algorithm or size.
    #[error(
        "the key {fingerprint} uses {what}, which is too weak (RSA needs at least {MIN_RSA_BITS} bits)"
    )]
    Weak {
        /// The key.
        fingerprint: String,
        /// The algorithm and size.
        what: String,
    },
    /// The passphrase of a secret key is wrong.
    #[error("wrong passphrase for the secret key {fingerprint}")]
    WrongPassphrase {
        /// The key.
        fingerprint: String,
    },
}

/// Why a message could not be decrypted or a signature not checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageProblem {
    /// Not an OpenPGP message.
    #[error("not an OpenPGP message ({0})")]
    NotAMessage(String),
    /// A message that is not encrypted.
    #[error("the OpenPGP message is not encrypted")]
    NotEncrypted,
    /// Encrypted to keys other than the one given.
    #[error("the file is encrypted to other keys ({recipients}), not to {fingerprint}")]
    NotForThisKey {
        /// Key ids the message names.
        recipients: String,
        /// The key given.
        fingerprint: String,
    },
    /// Encrypted to a key and no secret key given.
    #[error(
        "the file is encrypted to the OpenPGP key(s) {recipients}: give the secret key with --key"
    )]
    KeyNeeded {
        /// Key ids the message names.
        recipients: String,
    },
    /// Encrypted with a password and none given.
    #[error("the file is encrypted with a password: give it with --password-file")]
    PasswordNeeded,
    /// The password is wrong (or the data was changed).
    #[error("wrong password for the OpenPGP file (or the file was changed)")]
    WrongPassword,
    /// Integrity (MDC) check failed.
    #[error(
        "the OpenPGP file fails its integrity check — it was changed or damaged after it was made"
    )]
    Tampered,
    /// The message ends early.
    #[error("the OpenPGP file is truncated ({0})")]
    Truncated(String),
    /// Anything else rPGP reports.
    #[error("cannot decrypt the OpenPGP file: {0}")]
    Other(String),
}

/// Why a detached signature does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureProblem {
    /// Not a signature.
    #[error("the signature file is not an OpenPGP signature ({0})")]
    NotASignature(String),
    /// Made by another key.
    #[error("the signature was made by another key ({issuer}), not by {fingerprint}")]
    OtherSigner {
        /// Issuer fingerprints or key ids the signature names.
        issuer: String,
        /// The key it was checked against.
        fingerprint: String,
    },
    /// Made by this key over other data.
    #[error("BAD signature by {fingerprint}: the signed file was changed")]
    Bad {
        /// The key.
        fingerprint: String,
    },
    /// The signing key is revoked.
    #[error("the signing key {fingerprint} is revoked")]
    Revoked {
        /// The key.
        fingerprint: String,
    },
}

fn hex(fp: impl std::fmt::UpperHex) -> String {
    format!("{fp:X}")
}

/// An OpenPGP certificate (public key).
#[derive(Clone)]
pub struct PublicKey(SignedPublicKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// An OpenPGP secret key (its secrets stay encrypted until used with the passphrase).
pub struct SecretKey(SignedSecretKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", hex(self.0.primary_key.fingerprint()))
    }
}

fn parse_any(bytes: &[u8]) -> Result<PublicOrSecret, KeyProblem> {
    let (mut keys, _) = PublicOrSecret::from_reader_many(bytes).map_err(|e| match e {
        PgpError::Message { message, .. } => KeyProblem::NotAKey(message),
        PgpError::InvalidArmorWrappers => KeyProblem::NotAKey("no armor header line".into()),
        other => KeyProblem::Malformed(other.to_string()),
    })?;
    match keys.next() {
        None => Err(KeyProblem::NotAKey("no key packet".into())),
        Some(Err(e)) => Err(KeyProblem::Malformed(e.to_string())),
        Some(Ok(k)) => Ok(k),
    }
}

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// Primary key fingerprint, upper-case hex.
    pub fingerprint: String,
    /// User IDs as written.
    pub user_ids: Vec<String>,
    /// Primary key algorithm and size, e.g. `rsa3072`, `ed25519`.
    pub algorithm: String,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Expiry (Unix seconds), if any.
    pub expires: Option<i64>,
    /// Revoked by its owner.
    pub revoked: bool,
    /// The (sub)key a delivery would be encrypted to, when there is one.
    pub encryption_key: Option<String>,
    /// Its algorithm and size.
    pub encryption_algorithm: Option<String>,
}

/// Algorithm name and, for RSA/DSA/ElGamal, the modulus size.
fn strength(params: &PublicParams) -> (String, Option<u16>) {
    let bits = || {
        params
            .to_bytes()
            .ok()
            .and_then(|b| b.first_chunk::<2>().map(|h| u16::from_be_bytes(*h)))
    };
    match params {
        PublicParams::RSA(_) => {
            let b = bits();
            (format!("rsa{}", b.unwrap_or(0)), b)
        }
        PublicParams::DSA(_) => (format!("dsa{}", bits().unwrap_or(0)), Some(0)),
        PublicParams::Elgamal(_) => {
            let b = bits();
            (format!("elgamal{}", b.unwrap_or(0)), b)
        }
        PublicParams::ECDH(p) => (curve(&p.curve()), None),
        PublicParams::ECDSA(p) => (curve(&p.curve()), None),
        PublicParams::EdDSALegacy(p) => (curve(&p.curve()), None),
        PublicParams::Ed25519(_) => ("ed25519".into(), None),
        PublicParams::X25519(_) => ("x25519".into(), None),
        PublicParams::Ed448(_) => ("ed448".into(), None),
        PublicParams::X448(_) => ("x448".into(), None),
        PublicParams::Unknown { .. } => ("unknown".into(), Some(0)),
    }
}

/// A curve as GnuPG names it (`ed25519`, `cv25519`, `nistp256`, …).
fn curve(c: &ECCCurve) -> String {
    match c {
        ECCCurve::Ed25519Legacy => "ed25519".into(),
        ECCCurve::Curve25519Legacy => "cv25519".into(),
        ECCCurve::P256 => "nistp256".into(),
        ECCCurve::P384 => "nistp384".into(),
        ECCCurve::P521 => "nistp521".into(),
        other => other.name().to_ascii_lowercase(),
    }
}

fn newest<'a>(sigs: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    sigs.max_by_key(|s| s.created().map_or(0, Timestamp::as_secs))
}

/// Valid self-signatures of the primary key (direct-key and user-ID
/// certifications it made itself; third-party certifications are skipped).
fn self_signatures(cert: &SignedPublicKey) -> Vec<&Signature> {
    let pk = &cert.primary_key;
    let mut v: Vec<&Signature> = cert
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::Key) && s.verify_key(pk).is_ok())
        .collect();
    for u in &cert.details.users {
        v.extend(u.signatures.iter().filter(|s| {
            s.is_certification()
                && s.typ() != Some(SignatureType::CertRevocation)
                && s.verify_certification(pk, pgp::types::Tag::UserId, &u.id)
                    .is_ok()
        }));
    }
    v
}

/// The newest valid binding of a subkey (a signing subkey also needs its back-signature).
fn binding<'a>(primary: &PrimaryKey, sub: &'a SignedPublicSubKey) -> Option<&'a Signature> {
    newest(sub.signatures.iter().filter(|s| {
        s.typ() == Some(SignatureType::SubkeyBinding)
            && s.verify_subkey_binding(primary, &sub.key).is_ok()
            && (!s.key_flags().sign()
                || s.embedded_signature()
                    .is_some_and(|b| b.verify_primary_key_binding(&sub.key, primary).is_ok()))
    }))
}

fn subkey_revoked(primary: &PrimaryKey, sub: &SignedPublicSubKey) -> bool {
    sub.signatures.iter().any(|s| {
        s.typ() == Some(SignatureType::SubkeyRevocation)
            && s.verify_subkey_binding(primary, &sub.key).is_ok()
    })
}

fn expiry(created: Timestamp, sig: Option<&Signature>) -> Option<i64> {
    let d = sig?.key_expiration_time()?.as_secs();
    (d != 0).then(|| i64::from(created.as_secs()) + i64::from(d))
}

/// The component a message is encrypted to.
enum Target<'a> {
    Primary(&'a PrimaryKey),
    Subkey(&'a PublicSubkey),
}

impl PublicKey {
    /// Reads a public key (armored or binary). A secret key is refused: it
    /// must never be handed to the portal or to a vendor.
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyProblem> {
        match parse_any(bytes)? {
            PublicOrSecret::Public(k) => Ok(Self(k)),
            PublicOrSecret::Secret(_) => Err(KeyProblem::SecretGiven),
        }
    }

    /// The primary key's fingerprint, upper-case hex.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        hex(self.0.primary_key.fingerprint())
    }

    fn revoked(&self) -> bool {
        self.0
            .details
            .revocation_signatures
            .iter()
            .any(|s| s.verify_key(&self.0.primary_key).is_ok())
    }

    fn self_signature(&self) -> Option<&Signature> {
        newest(self_signatures(&self.0).into_iter())
    }

    /// Everything the portal shows before using the key.
    #[must_use]
    pub fn info(&self, now: i64) -> KeyInfo {
        let pk = &self.0.primary_key;
        let target = self.encryption_target(now).ok();
        let enc = target.map(|t| match t {
            Target::Primary(k) => (hex(k.fingerprint()), strength(k.public_params()).0),
            Target::Subkey(k) => (hex(k.fingerprint()), strength(k.public_params()).0),
        });
        KeyInfo {
            fingerprint: self.fingerprint(),
            user_ids: self
                .0
                .details
                .users
                .iter()
                .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
                .collect(),
            algorithm: strength(pk.public_params()).0,
            created: i64::from(pk.created_at().as_secs()),
            expires: expiry(pk.created_at(), self.self_signature()),
            revoked: self.revoked(),
            encryption_key: enc.as_ref().map(|(f, _)| f.clone()),
            encryption_algorithm: enc.map(|(_, a)| a),
        }
    }

    /// Checks the key for encrypting a delivery at time `now` (Unix
    /// seconds): self-signatures valid, not revoked, not expired, an
    /// encryption-capable (sub)key, no weak algorithm.
    pub fn check_for_encryption(&self, now: i64) -> Result<(), KeyProblem> {
        self.encryption_target(now).map(|_| ())
    }

    fn check_usable(&self, now: i64) -> Result<(), KeyProblem> {
        let fingerprint = self.fingerprint();
        let self_sig = self.self_signature().ok_or_else(|| {
            KeyProblem::BadSelfSignature("no valid self-signature on the primary key".into())
        })?;
        if self.revoked() {
            return Err(KeyProblem::Revoked { fingerprint });
        }
        if let Some(at) = expiry(self.0.primary_key.created_at(), Some(self_sig))
            && at <= now
        {
            return Err(KeyProblem::Expired {
                fingerprint,
                date: oathvault_otp::clock::rfc3339(at),
            });
        }
        weak_check(&fingerprint, self.0.primary_key.public_params())
    }

    fn encryption_target(&self, now: i64) -> Result<Target<'_>, KeyProblem> {
        self.check_usable(now)?;
        let fingerprint = self.fingerprint();
        let pk = &self.0.primary_key;
        let mut weak = None;
        let mut best: Option<(&PublicSubkey, u32)> = None;
        for sub in &self.0.public_subkeys {
            let Some(b) = binding(pk, sub) else { continue };
            let flags = b.key_flags();
            let usable = (flags.encrypt_comms() || flags.encrypt_storage())
                && sub.key.algorithm().can_encrypt()
                && !subkey_revoked(pk, sub)
                && expiry(sub.key.created_at(), Some(b)).is_none_or(|t| t > now);
            if !usable {
                continue;
            }
            if let Err(e) = weak_check(&fingerprint, sub.key.public_params()) {
                weak = Some(e);
                continue;
            }
            let created = sub.key.created_at().as_secs();
            if best.is_none_or(|(_, c)| created > c) {
                best = Some((&sub.key, created));
            }
        }
        if let Some((k, _)) = best {
            return Ok(Target::Subkey(k));
        }
        let primary_encrypts = self.self_signature().is_some_and(|s| {
            let f = s.key_flags();
            f.encrypt_comms() || f.encrypt_storage()
        }) && pk.algorithm().can_encrypt();
        if primary_encrypts {
            return Ok(Target::Primary(pk));
        }
        Err(weak.unwrap_or(KeyProblem::NoEncryptionKey { fingerprint }))
    }

    /// The key armored, as `gpg --armor --export` writes it.
    pub fn to_armored(&self) -> Result<String, KeyProblem> {
        self.0
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| KeyProblem::Malformed(e.to_string()))
    }
}

fn weak_check(fingerprint: &str, params: &PublicParams) -> Result<(), KeyProblem> {
    let (what, bits) = strength(params);
    if bits.is_some_and(|b| b < MIN_RSA_BITS) {
        return Err(KeyProblem::Weak {
            fingerprint: fingerprint.to_owned(),
            what,
        });
    }
    Ok(())
}
