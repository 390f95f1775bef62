//! Secret keys: generating, reading (with their passphrase), signing and
//! decrypting with them.

#[allow(
    clippy::wildcard_imports,
    reason = "one OpenPGP module, split for size"
)]
use super::*;

impl SecretKey {
    /// Reads a secret key (armored or binary).
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyProblem> {
        match parse_any(bytes)? {
            PublicOrSecret::Secret(k) => Ok(Self(k)),
            PublicOrSecret::Public(_) => Err(KeyProblem::PublicGiven),
        }
    }

    /// Generates an Ed25519 signing key with a Curve25519 encryption
    /// subkey (what GnuPG 2.2 calls `future-default`), its secrets
    /// protected by `passphrase`.
    pub fn generate<R: Rng + CryptoRng>(
        rng: &mut R,
        user_id: &str,
        passphrase: &Password,
    ) -> Result<Self, KeyProblem> {
        let fail = |e: &dyn std::fmt::Display| KeyProblem::Malformed(e.to_string());
        let sub = SubkeyParamsBuilder::default()
            .key_type(KeyType::ECDH(ECCCurve::Curve25519Legacy))
            .can_encrypt(EncryptionCaps::All)
            .passphrase(Some(passphrase.expose().to_owned()))
            .build()
            .map_err(|e| fail(&e))?;
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.to_owned())
            .passphrase(Some(passphrase.expose().to_owned()))
            .preferred_symmetric_algorithms(
                vec![SymmetricKeyAlgorithm::AES256, SymmetricKeyAlgorithm::AES128].into(),
            )
            .preferred_hash_algorithms(vec![HashAlgorithm::Sha512, HashAlgorithm::Sha256].into())
            .preferred_compression_algorithms(vec![CompressionAlgorithm::ZLIB].into())
            .subkeys(vec![sub])
            .build()
            .map_err(|e| fail(&e))?;
        params.generate(rng).map(Self).map_err(|e| fail(&e))
    }

    /// The matching public key.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.to_public_key())
    }

    /// The key armored (its secrets still protected by the passphrase).
    pub fn to_armored(&self) -> Result<Zeroizing<String>, KeyProblem> {
        self.0
            .to_armored_string(ArmorOptions::default())
            .map(Zeroizing::new)
            .map_err(|e| KeyProblem::Malformed(e.to_string()))
    }

    pub(super) fn fingerprint(&self) -> String {
        hex(self.0.primary_key.fingerprint())
    }

    /// The subkey that signs for this key, or `None` when the primary key
    /// may sign itself.
    fn signing_subkey(&self) -> Result<Option<&pgp::composed::SignedSecretSubKey>, KeyProblem> {
        let public = self.public();
        if public
            .self_signature()
            .is_some_and(|s| s.key_flags().sign())
        {
            return Ok(None);
        }
        self.0
            .secret_subkeys
            .iter()
            .filter(|sk| {
                let p = sk.signed_public_key();
                binding(&public.0.primary_key, &p).is_some_and(|b| b.key_flags().sign())
                    && !subkey_revoked(&public.0.primary_key, &p)
            })
            .max_by_key(|sk| sk.key.created_at())
            .map(Some)
            .ok_or_else(|| KeyProblem::NoSigningKey {
                fingerprint: self.fingerprint(),
            })
    }

    /// An armored detached signature over `data` by the primary key (or,
    /// when the primary may not sign, the newest signing subkey).
    pub fn sign_detached<R: Rng + CryptoRng>(
        &self,
        rng: &mut R,
        passphrase: &Password,
        data: &[u8],
    ) -> Result<String, KeyProblem> {
        let pw = PgpPassword::from(passphrase.expose());
        let result = match self.signing_subkey()? {
            None => DetachedSignature::sign_binary_data(
                rng,
                &self.0.primary_key,
                &pw,
                HashAlgorithm::Sha256,
                data,
            ),
            Some(sub) => {
                DetachedSignature::sign_binary_data(rng, &sub.key, &pw, HashAlgorithm::Sha256, data)
            }
        };
        let sig = result.map_err(|_| KeyProblem::WrongPassphrase {
            fingerprint: self.fingerprint(),
        })?;
        sig.to_armored_string(ArmorOptions::default())
            .map_err(|e| KeyProblem::Malformed(e.to_string()))
    }

    /// `text` as an OpenPGP cleartext-signed message (RFC 9580 §7), signed
    /// like [`SecretKey::sign_detached`]; `gpg --verify` checks it.
    pub fn clear_sign<R: Rng + CryptoRng>(
        &self,
        rng: &mut R,
        passphrase: &Password,
        text: &str,
    ) -> Result<String, KeyProblem> {
        use pgp::composed::CleartextSignedMessage;
        let pw = PgpPassword::from(passphrase.expose());
        let result = match self.signing_subkey()? {
            None => CleartextSignedMessage::sign(rng, text, &self.0.primary_key, &pw),
            Some(sub) => CleartextSignedMessage::sign(rng, text, &sub.key, &pw),
        };
        let msg = result.map_err(|_| KeyProblem::WrongPassphrase {
            fingerprint: self.fingerprint(),
        })?;
        msg.to_armored_string(ArmorOptions::default())
            .map_err(|e| KeyProblem::Malformed(e.to_string()))
    }

    /// A copy whose secrets are unlocked with `passphrase`, for the
    /// (sub)keys a message is encrypted to.
    pub(super) fn unlocked_for(
        &self,
        esk: &[Esk],
        passphrase: &Password,
    ) -> Result<Option<SignedSecretKey>, KeyProblem> {
        let pw = PgpPassword::from(passphrase.expose());
        let wrong = || KeyProblem::WrongPassphrase {
            fingerprint: self.fingerprint(),
        };
        let mut key = self.0.clone();
        let mut matched = false;
        for e in esk {
            let Esk::PublicKeyEncryptedSessionKey(p) = e else {
                continue;
            };
            if p.match_identity(key.primary_key.public_key()) {
                matched = true;
                key.primary_key.remove_password(&pw).map_err(|_| wrong())?;
            }
            for sk in &mut key.secret_subkeys {
                if p.match_identity(sk.key.public_key()) {
                    matched = true;
                    sk.key.remove_password(&pw).map_err(|_| wrong())?;
                }
            }
        }
        Ok(matched.then_some(key))
    }
}
