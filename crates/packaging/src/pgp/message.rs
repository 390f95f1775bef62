//! Messages: encrypting to a key or a password, recognising, decrypting,
//! and detached signatures.

#[allow(
    clippy::wildcard_imports,
    reason = "one OpenPGP module, split for size"
)]
use super::*;

/// Encrypts what `plain` yields to `key` (checked first at time `now`),
/// streaming into `out` (binary OpenPGP).
pub fn encrypt_to<R: Rng + CryptoRng>(
    rng: &mut R,
    key: &PublicKey,
    now: i64,
    plain: impl Read,
    out: impl Write,
) -> Result<(), crate::Error> {
    let target = key.encryption_target(now)?;
    let mut b =
        MessageBuilder::from_reader("", plain).seipd_v1(&mut *rng, SymmetricKeyAlgorithm::AES256);
    let added = match target {
        Target::Primary(k) => b.encrypt_to_key(&mut *rng, k),
        Target::Subkey(k) => b.encrypt_to_key(&mut *rng, k),
    };
    added.map_err(|e| crate::Error::Write(e.to_string()))?;
    b.to_writer(rng, out)
        .map_err(|e| crate::Error::Write(e.to_string()))
}

/// Encrypts what `plain` yields with `password` (OpenPGP symmetric),
/// streaming into `out`.
pub fn encrypt_with_password<R: Rng + CryptoRng>(
    rng: &mut R,
    password: &Password,
    plain: impl Read,
    out: impl Write,
) -> Result<(), crate::Error> {
    let mut b =
        MessageBuilder::from_reader("", plain).seipd_v1(&mut *rng, SymmetricKeyAlgorithm::AES256);
    let s2k = StringToKey::new_iterated(&mut *rng, HashAlgorithm::Sha256, 0xff);
    b.encrypt_with_password(s2k, &PgpPassword::from(password.expose()))
        .map_err(|e| crate::Error::Write(e.to_string()))?;
    b.to_writer(rng, out)
        .map_err(|e| crate::Error::Write(e.to_string()))
}

/// True when `bytes` look like an OpenPGP message (armored or binary).
#[must_use]
pub fn is_pgp(bytes: &[u8]) -> bool {
    let text = bytes.trim_ascii_start();
    if text.starts_with(b"-----BEGIN PGP MESSAGE-----") {
        return true;
    }
    // Binary: a packet header (bit 7 set) whose tag is a session key
    // (PKESK 1, SKESK 3), an encrypted data packet (9, 18, 20) or a marker (10).
    bytes.first().is_some_and(|&b| {
        let tag = if b & 0x40 != 0 {
            b & 0x3f
        } else {
            (b >> 2) & 0x0f
        };
        b & 0x80 != 0 && matches!(tag, 1 | 3 | 9 | 10 | 18 | 20)
    })
}

fn classify_io(e: &std::io::Error) -> MessageProblem {
    if let Some(PgpError::MdcError) = e.get_ref().and_then(|i| i.downcast_ref::<PgpError>()) {
        return MessageProblem::Tampered;
    }
    let msg = e.to_string();
    if e.kind() == std::io::ErrorKind::UnexpectedEof
        || msg.contains("shorter than expected")
        || msg.contains("not enough bytes")
    {
        return MessageProblem::Truncated(msg);
    }
    MessageProblem::Other(msg)
}

fn classify(e: &PgpError) -> MessageProblem {
    match e {
        PgpError::MdcError => MessageProblem::Tampered,
        PgpError::IO { source, .. } => classify_io(source),
        other => MessageProblem::Other(other.to_string()),
    }
}

fn read_plain(mut m: Message<'_>) -> Result<Zeroizing<Vec<u8>>, MessageProblem> {
    while m.is_compressed() {
        m = m.decompress().map_err(|e| classify(&e))?;
    }
    let mut out = Zeroizing::new(Vec::new());
    m.read_to_end(&mut out).map_err(|e| classify_io(&e))?;
    Ok(out)
}

/// How a message was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// With this secret key (primary fingerprint).
    Key(String),
    /// With a password.
    Password,
}

/// Decrypts an OpenPGP message (armored or binary) with a secret key and
/// its passphrase, or with a password, whichever the message needs. The
/// plaintext comes back only once its integrity check passed.
pub fn decrypt(
    bytes: &[u8],
    key: Option<(&SecretKey, &Password)>,
    password: Option<&Password>,
) -> Result<(Zeroizing<Vec<u8>>, Opened), crate::Error> {
    let (msg, _) = Message::from_reader(bytes).map_err(|e| match classify(&e) {
        t @ MessageProblem::Truncated(_) => t,
        _ => MessageProblem::NotAMessage(e.to_string()),
    })?;
    let Message::Encrypted { esk, .. } = &msg else {
        return Err(MessageProblem::NotEncrypted.into());
    };
    let recipients: Vec<String> = esk
        .iter()
        .filter_map(|e| match e {
            Esk::PublicKeyEncryptedSessionKey(p) => {
                p.id().ok().map(|id| id.to_string().to_uppercase())
            }
            Esk::SymKeyEncryptedSessionKey(_) => None,
        })
        .collect();
    let symmetric = esk
        .iter()
        .any(|e| matches!(e, Esk::SymKeyEncryptedSessionKey(_)));
    if let Some((secret, passphrase)) = key
        && !recipients.is_empty()
    {
        match secret.unlocked_for(esk, passphrase)? {
            Some(unlocked) => {
                let m = msg
                    .decrypt(&PgpPassword::empty(), &unlocked)
                    .map_err(|e| classify(&e))?;
                return Ok((read_plain(m)?, Opened::Key(secret.fingerprint())));
            }
            None if !symmetric || password.is_none() => {
                return Err(MessageProblem::NotForThisKey {
                    recipients: recipients.join(", "),
                    fingerprint: secret.fingerprint(),
                }
                .into());
            }
            None => {}
        }
    }
    if symmetric {
        let Some(pw) = password else {
            return Err(MessageProblem::PasswordNeeded.into());
        };
        let wrong = |p: MessageProblem| match p {
            MessageProblem::Tampered => MessageProblem::WrongPassword,
            other => other,
        };
        let m = msg
            .decrypt_with_password(&PgpPassword::from(pw.expose()))
            .map_err(|e| match e {
                PgpError::MissingKey => MessageProblem::WrongPassword,
                other => wrong(classify(&other)),
            })?;
        return Ok((read_plain(m).map_err(wrong)?, Opened::Password));
    }
    Err(MessageProblem::KeyNeeded {
        recipients: recipients.join(", "),
    }
    .into())
}

/// Who made a good signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The certificate's primary fingerprint.
    pub fingerprint: String,
    /// The (sub)key that signed.
    pub signing_key: String,
}

/// Checks a detached signature (armored or binary) over `data` against
/// `key`'s primary key and its validly bound signing subkeys.
pub fn verify_detached(
    key: &PublicKey,
    signature: &[u8],
    data: &[u8],
) -> Result<Signer, SignatureProblem> {
    let (sig, _) = DetachedSignature::from_reader_single(signature)
        .map_err(|e| SignatureProblem::NotASignature(e.to_string()))?;
    let fingerprint = key.fingerprint();
    if key.revoked() {
        return Err(SignatureProblem::Revoked { fingerprint });
    }
    let cert = &key.0;
    if sig.verify(&cert.primary_key, data).is_ok() {
        return Ok(Signer {
            signing_key: fingerprint.clone(),
            fingerprint,
        });
    }
    for sub in &cert.public_subkeys {
        let signs = binding(&cert.primary_key, sub).is_some_and(|b| b.key_flags().sign());
        if signs && !subkey_revoked(&cert.primary_key, sub) && sig.verify(&sub.key, data).is_ok() {
            return Ok(Signer {
                fingerprint,
                signing_key: hex(sub.key.fingerprint()),
            });
        }
    }
    let ours = std::iter::once((
        cert.primary_key.fingerprint(),
        cert.primary_key.legacy_key_id(),
    ))
    .chain(
        cert.public_subkeys
            .iter()
            .map(|k| (k.key.fingerprint(), k.key.legacy_key_id())),
    )
    .any(|(fp, id)| {
        sig.signature.issuer_fingerprint().contains(&&fp)
            || sig.signature.issuer_key_id().contains(&&id)
    });
    if ours {
        Err(SignatureProblem::Bad { fingerprint })
    } else {
        let issuer: Vec<String> = sig
            .signature
            .issuer_fingerprint()
            .iter()
            .map(hex)
            .chain(
                sig.signature
                    .issuer_key_id()
                    .iter()
                    .map(|k| k.to_string().to_uppercase()),
            )
            .collect();
        Err(SignatureProblem::OtherSigner {
            issuer: issuer.join(", "),
            fingerprint,
        })
    }
}

/// Checks a cleartext-signed message (what `gpg --clearsign` makes) against
/// `key`'s primary key and its validly bound signing subkeys; returns the
/// signed text.
pub fn verify_cleartext(key: &PublicKey, armored: &str) -> Result<String, SignatureProblem> {
    let (msg, _) = pgp::composed::CleartextSignedMessage::from_string(armored)
        .map_err(|e| SignatureProblem::NotASignature(e.to_string()))?;
    let fingerprint = key.fingerprint();
    if key.revoked() {
        return Err(SignatureProblem::Revoked { fingerprint });
    }
    let cert = &key.0;
    if msg.verify(&cert.primary_key).is_ok() {
        return Ok(msg.signed_text());
    }
    for sub in &cert.public_subkeys {
        let signs = binding(&cert.primary_key, sub).is_some_and(|b| b.key_flags().sign());
        if signs && !subkey_revoked(&cert.primary_key, sub) && msg.verify(&sub.key).is_ok() {
            return Ok(msg.signed_text());
        }
    }
    Err(SignatureProblem::Bad { fingerprint })
}
