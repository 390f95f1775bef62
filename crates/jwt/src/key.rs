//! [`SigningKey`]: an RSA key that signs RS256 tokens, publishes its JWKS
//! and verifies the tokens it made.

use std::fmt;

use data_encoding::BASE64URL_NOPAD;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::sha2::{Digest, Sha256};
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::pem::{find_block, has_block};
use crate::verify::{header_is, verify_rs256};
use crate::{ALGORITHM, JwtError, MAX_BITS, MIN_BITS};

/// Size of generated keys, in bits.
const GENERATED_BITS: usize = 2048;

/// Bytes of the SHA-256 digest kept in the key id.
const KID_BYTES: usize = 20;

/// An RS256 signing key (RSA 2048) with its key id.
///
/// Its `Debug` output shows only the key id.
pub struct SigningKey {
    /// The private key, with the SHA-256 `DigestInfo` prefix.
    signer: pkcs1v15::SigningKey<Sha256>,
    /// The public half, kept to verify tokens and publish the JWKS.
    verifier: pkcs1v15::VerifyingKey<Sha256>,
    /// base64url of the first 20 bytes of SHA-256 over the DER
    /// `SubjectPublicKeyInfo`.
    kid: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new 2048-bit RSA key (public exponent 65537).
    pub fn generate<R: rand08::RngCore + rand08::CryptoRng>(rng: &mut R) -> Result<Self, JwtError> {
        let key = RsaPrivateKey::new(rng, GENERATED_BITS)
            .map_err(|_| JwtError::Key("RSA key generation failed".to_owned()))?;
        Self::from_private_key(key)
    }

    /// Loads an RSA private key from a PKCS#8 `PrivateKeyInfo` DER document
    /// (unencrypted). The modulus must have 2048 to 4096 bits.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, JwtError> {
        // The parser's error text is not passed on: it could quote bytes of
        // a damaged key.
        let key = RsaPrivateKey::from_pkcs8_der(der)
            .map_err(|_| JwtError::Key("not a PKCS#8 RSA private key".to_owned()))?;
        Self::from_private_key(key)
    }

    /// Loads an RSA private key from PEM text: the first unencrypted
    /// PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`)
    /// block. Other blocks (a certificate before or after the key, as in
    /// Azure's combined PEM) and text between blocks are skipped. The
    /// modulus must have 2048 to 4096 bits.
    pub fn from_pem(pem: &str) -> Result<Self, JwtError> {
        // As with DER, the parser's error text is not passed on.
        let key = if let Some(block) = find_block(pem, "PRIVATE KEY") {
            RsaPrivateKey::from_pkcs8_pem(block)
                .map_err(|_| JwtError::Key("not a PKCS#8 RSA private key".to_owned()))?
        } else if let Some(block) = find_block(pem, "RSA PRIVATE KEY") {
            RsaPrivateKey::from_pkcs1_pem(block)
                .map_err(|_| JwtError::Key("not a PKCS#1 RSA private key".to_owned()))?
        } else if has_block(pem, "ENCRYPTED PRIVATE KEY") {
            return Err(JwtError::Key(
                "the private key is encrypted; decrypt it first (openssl pkey)".to_owned(),
            ));
        } else {
            return Err(JwtError::Key(
                "no \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" block in the PEM text".to_owned(),
            ));
        };
        Self::from_private_key(key)
    }

    /// Encodes the private key as a PKCS#8 `PrivateKeyInfo` DER document
    /// (unencrypted). The buffer is wiped when dropped.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, JwtError> {
        let document = self
            .signer
            .to_pkcs8_der()
            .map_err(|_| JwtError::Key("PKCS#8 encoding failed".to_owned()))?;
        Ok(document.to_bytes())
    }

    /// The key id: base64url (no padding) of the first 20 bytes of SHA-256
    /// over the DER `SubjectPublicKeyInfo` of the public key. Also used as
    /// `x5t`.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` (a JSON object) as a compact JWS: header
    /// `{"typ":"JWT","alg":"RS256","kid":kid,"x5t":kid}`.
    pub fn sign(&self, claims: &Value) -> Result<String, JwtError> {
        let mut header = Map::new();
        header.insert("kid".to_owned(), Value::String(self.kid.clone()));
        header.insert("x5t".to_owned(), Value::String(self.kid.clone()));
        self.sign_with_header(&header, claims)
    }

    /// Signs `claims` (a JSON object) as a compact JWS whose header is
    /// `{"alg":"RS256","typ":"JWT"}` plus `extra_header` (for a client
    /// assertion: `x5t` and/or `x5t#S256` naming the certificate). No `kid`
    /// is added unless `extra_header` has one. `extra_header` may repeat
    /// `alg` only as `"RS256"` ([`JwtError::UnsupportedAlgorithm`]
    /// otherwise), may replace `typ`, and may not hold `crit`
    /// ([`JwtError::Malformed`]: verifiers here refuse it).
    pub fn sign_with_header(
        &self,
        extra_header: &Map<String, Value>,
        claims: &Value,
    ) -> Result<String, JwtError> {
        if !claims.is_object() {
            return Err(JwtError::Malformed);
        }
        match extra_header.get("alg") {
            None => {}
            Some(Value::String(alg)) if alg == ALGORITHM => {}
            Some(Value::String(alg)) => return Err(JwtError::UnsupportedAlgorithm(alg.clone())),
            Some(_) => return Err(JwtError::Malformed),
        }
        if extra_header.contains_key("crit") {
            return Err(JwtError::Malformed);
        }
        let mut header = Map::new();
        header.insert("typ".to_owned(), Value::String("JWT".to_owned()));
        header.insert("alg".to_owned(), Value::String(ALGORITHM.to_owned()));
        header.extend(extra_header.iter().map(|(k, v)| (k.clone(), v.clone())));
        let header = serde_json::to_vec(&header).map_err(|_| JwtError::Malformed)?;
        let claims = serde_json::to_vec(claims).map_err(|_| JwtError::Malformed)?;

        let mut token = BASE64URL_NOPAD.encode(&header);
        token.push('.');
        token.push_str(&BASE64URL_NOPAD.encode(&claims));
        let signature = self
            .signer
            .try_sign_with_rng(&mut oathvault_vault::random::os(), token.as_bytes())
            .map_err(|_| JwtError::Key("RSA signing failed".to_owned()))?;
        token.push('.');
        token.push_str(&BASE64URL_NOPAD.encode(&signature.to_bytes()));
        Ok(token)
    }

    /// The public half of this key (to check that a certificate belongs
    /// to it: `certificate.public_key() == key.public_key()`).
    #[must_use]
    pub fn public_key(&self) -> &RsaPublicKey {
        self.verifier.as_ref()
    }

    /// This key as one JWK: `{"kty":"RSA","use":"sig","alg":"RS256",
    /// "kid":..,"x5t":..,"n":..,"e":..}`, with `n` and `e` base64url
    /// without padding, big-endian, without leading zero bytes. Useful to
    /// publish more than one key while keys are rotated.
    #[must_use]
    pub fn jwk(&self) -> Value {
        let public: &RsaPublicKey = self.verifier.as_ref();
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": ALGORITHM,
            "kid": self.kid,
            "x5t": self.kid,
            "n": BASE64URL_NOPAD.encode(&public.n().to_bytes_be()),
            "e": BASE64URL_NOPAD.encode(&public.e().to_bytes_be()),
        })
    }

    /// The JWKS document: `{"keys":[jwk]}` with this key's [`jwk`](Self::jwk),
    /// served at `/{tenant}/discovery/v2.0/keys`.
    #[must_use]
    pub fn jwks(&self) -> Value {
        serde_json::json!({ "keys": [self.jwk()] })
    }

    /// Verifies a compact JWS made by this key: exactly three base64url
    /// parts, header `alg` == `RS256` and `kid` == [`kid`](Self::kid)
    /// (anything else, including `none`, is refused), the signature, then
    /// the time claims: `exp` (required) must be > `now` - 300 and `nbf`
    /// (if present) <= `now` + 300. `now` is Unix time in seconds. Returns
    /// the claims object.
    pub fn verify(&self, token: &str, now: i64) -> Result<Map<String, Value>, JwtError> {
        verify_rs256(&self.verifier, token, now, |header| {
            header_is(header, "kid", &self.kid)
        })
    }

    /// Wraps a private key after checking its size, and computes the key id.
    fn from_private_key(key: RsaPrivateKey) -> Result<Self, JwtError> {
        let bits = key.n().bits();
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(JwtError::Key(format!(
                "RSA modulus has {bits} bits, {MIN_BITS} to {MAX_BITS} are accepted"
            )));
        }
        let public = key.to_public_key();
        let spki = public
            .to_public_key_der()
            .map_err(|_| JwtError::Key("public key encoding failed".to_owned()))?;
        let digest = Sha256::digest(spki.as_bytes());
        let kid_bytes = digest
            .get(..KID_BYTES)
            .ok_or_else(|| JwtError::Key("key id digest too short".to_owned()))?;
        Ok(Self {
            signer: pkcs1v15::SigningKey::new(key),
            verifier: pkcs1v15::VerifyingKey::new(public),
            kid: BASE64URL_NOPAD.encode(kid_bytes),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::sync::LazyLock;

    use rand08::SeedableRng;
    use rand08::rngs::StdRng;
    use rsa::signature::Signer;
    use serde_json::json;

    use super::*;
    use crate::verify::{MAX_TOKEN_LEN, decode};

    /// A fixed "now" (2025-06-15).
    const NOW: i64 = 1_750_000_000;

    static KEY: LazyLock<SigningKey> =
        LazyLock::new(|| SigningKey::generate(&mut StdRng::seed_from_u64(1)).unwrap());
    static OTHER_KEY: LazyLock<SigningKey> =
        LazyLock::new(|| SigningKey::generate(&mut StdRng::seed_from_u64(2)).unwrap());

    fn claims(exp: i64) -> Value {
        json!({
            "aud": "https://graph.microsoft.com",
            "iss": "https://login.microsoftonline.com/tenant/v2.0",
            "sub": "user",
            "iat": NOW,
            "nbf": NOW,
            "exp": exp,
        })
    }

    fn b64(bytes: &[u8]) -> String {
        BASE64URL_NOPAD.encode(bytes)
    }

    /// Builds a token from a header, claims and a signature made by `signer`
    /// over them (or the given raw signature).
    fn forge(header: &Value, claims: &Value, signer: Option<&SigningKey>) -> String {
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(header).unwrap()),
            b64(&serde_json::to_vec(claims).unwrap())
        );
        let signature = signer.map_or_else(Vec::new, |key| {
            key.signer.try_sign(input.as_bytes()).unwrap().to_vec()
        });
        format!("{input}.{}", b64(&signature))
    }

    fn parts(token: &str) -> Vec<&str> {
        token.split('.').collect()
    }

    #[test]
    fn round_trip() {
        let claims = claims(NOW + 3600);
        let token = KEY.sign(&claims).unwrap();
        assert_eq!(parts(&token).len(), 3);
        let verified = KEY.verify(&token, NOW).unwrap();
        assert_eq!(Value::Object(verified), claims);
    }

    #[test]
    fn header_is_microsoft_shaped() {
        let token = KEY.sign(&claims(NOW + 3600)).unwrap();
        let header: Value = serde_json::from_slice(&decode(parts(&token)[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"typ": "JWT", "alg": "RS256", "kid": KEY.kid(), "x5t": KEY.kid()})
        );
        assert_eq!(decode(parts(&token)[2]).unwrap().len(), 256);
    }

    #[test]
    fn flipped_signature_byte_is_refused() {
        let token = KEY.sign(&claims(NOW + 3600)).unwrap();
        let p = parts(&token);
        let mut signature = decode(p[2]).unwrap();
        signature[100] ^= 0x01;
        let tampered = format!("{}.{}.{}", p[0], p[1], b64(&signature));
        assert_eq!(KEY.verify(&tampered, NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn changed_claims_are_refused() {
        let token = KEY.sign(&claims(NOW + 3600)).unwrap();
        let p = parts(&token);
        let mut changed = claims(NOW + 3600);
        changed["sub"] = json!("admin");
        let tampered = format!(
            "{}.{}.{}",
            p[0],
            b64(&serde_json::to_vec(&changed).unwrap()),
            p[2]
        );
        assert_eq!(KEY.verify(&tampered, NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn other_key_is_refused() {
        assert_ne!(KEY.kid(), OTHER_KEY.kid());
        let token = OTHER_KEY.sign(&claims(NOW + 3600)).unwrap();
        assert_eq!(KEY.verify(&token, NOW), Err(JwtError::UnknownKey));

        // Signed by the other key but naming this key's kid.
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": KEY.kid()});
        let forged = forge(&header, &claims(NOW + 3600), Some(&OTHER_KEY));
        assert_eq!(KEY.verify(&forged, NOW), Err(JwtError::BadSignature));

        // The same forge signed by this key passes, so the helper is right.
        let genuine = forge(&header, &claims(NOW + 3600), Some(&KEY));
        assert!(KEY.verify(&genuine, NOW).is_ok());
    }

    #[test]
    fn missing_kid_is_refused() {
        let header = json!({"typ": "JWT", "alg": "RS256"});
        let token = forge(&header, &claims(NOW + 3600), Some(&KEY));
        assert_eq!(KEY.verify(&token, NOW), Err(JwtError::UnknownKey));
    }

    #[test]
    fn alg_none_is_refused() {
        let header = json!({"typ": "JWT", "alg": "none", "kid": KEY.kid()});
        let token = forge(&header, &claims(NOW + 3600), None);
        assert!(token.ends_with('.'));
        assert_eq!(
            KEY.verify(&token, NOW),
            Err(JwtError::UnsupportedAlgorithm("none".to_owned()))
        );
    }

    #[test]
    fn alg_hs256_is_refused() {
        // An HMAC "signature" keyed with the public JWKS, the classic
        // algorithm-confusion forge; any bytes do, it must never be checked.
        let header = json!({"typ": "JWT", "alg": "HS256", "kid": KEY.kid()});
        let mut token = forge(&header, &claims(NOW + 3600), None);
        token.push_str(&b64(&[7; 32]));
        assert_eq!(
            KEY.verify(&token, NOW),
            Err(JwtError::UnsupportedAlgorithm("HS256".to_owned()))
        );
    }

    #[test]
    fn alg_missing_or_not_a_string_is_malformed() {
        for header in [
            json!({"typ": "JWT", "kid": KEY.kid()}),
            json!({"alg": ["RS256"], "kid": KEY.kid()}),
        ] {
            let token = forge(&header, &claims(NOW + 3600), Some(&KEY));
            assert_eq!(KEY.verify(&token, NOW), Err(JwtError::Malformed));
        }
    }

    #[test]
    fn long_alg_is_cut_in_the_error() {
        let alg = "X".repeat(1000);
        let header = json!({"alg": alg, "kid": KEY.kid()});
        let token = forge(&header, &claims(NOW + 3600), None);
        assert_eq!(
            KEY.verify(&token, NOW),
            Err(JwtError::UnsupportedAlgorithm("X".repeat(32)))
        );
    }

    #[test]
    fn crit_header_is_refused() {
        let header = json!({"alg": "RS256", "kid": KEY.kid(), "crit": ["b64"], "b64": false});
        let token = forge(&header, &claims(NOW + 3600), Some(&KEY));
        assert_eq!(KEY.verify(&token, NOW), Err(JwtError::Malformed));
    }

    #[test]
    fn expiry_allows_five_minutes_of_skew() {
        let expired = KEY.sign(&claims(NOW - 301)).unwrap();
        assert_eq!(KEY.verify(&expired, NOW), Err(JwtError::Expired));
        let boundary = KEY.sign(&claims(NOW - 300)).unwrap();
        assert_eq!(KEY.verify(&boundary, NOW), Err(JwtError::Expired));
        let within_skew = KEY.sign(&claims(NOW - 10)).unwrap();
        assert!(KEY.verify(&within_skew, NOW).is_ok());
        let last_second = KEY.sign(&claims(NOW - 299)).unwrap();
        assert!(KEY.verify(&last_second, NOW).is_ok());
    }

    #[test]
    fn not_before_allows_five_minutes_of_skew() {
        let mut early = claims(NOW + 3600);
        early["nbf"] = json!(NOW + 301);
        let token = KEY.sign(&early).unwrap();
        assert_eq!(KEY.verify(&token, NOW), Err(JwtError::NotYetValid));

        early["nbf"] = json!(NOW + 300);
        let token = KEY.sign(&early).unwrap();
        assert!(KEY.verify(&token, NOW).is_ok());

        let mut no_nbf = claims(NOW + 3600);
        no_nbf.as_object_mut().unwrap().remove("nbf");
        let token = KEY.sign(&no_nbf).unwrap();
        assert!(KEY.verify(&token, NOW).is_ok());
    }

    #[test]
    fn exp_missing_or_not_an_integer_is_malformed() {
        let mut c = claims(NOW + 3600);
        c.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            KEY.verify(&KEY.sign(&c).unwrap(), NOW),
            Err(JwtError::Malformed)
        );
        c["exp"] = json!("1750003600");
        assert_eq!(
            KEY.verify(&KEY.sign(&c).unwrap(), NOW),
            Err(JwtError::Malformed)
        );
        c["exp"] = json!(NOW + 3600);
        c["nbf"] = json!(null);
        assert_eq!(
            KEY.verify(&KEY.sign(&c).unwrap(), NOW),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let token = KEY
            .sign(&json!({"exp": i64::MAX, "nbf": i64::MIN}))
            .unwrap();
        assert!(KEY.verify(&token, i64::MIN).is_ok());
        assert!(KEY.verify(&token, 0).is_ok());
        assert!(KEY.verify(&token, i64::MAX).is_ok());
        let token = KEY.sign(&json!({"exp": i64::MIN})).unwrap();
        assert_eq!(KEY.verify(&token, i64::MIN), Err(JwtError::Expired));
        assert_eq!(KEY.verify(&token, i64::MAX), Err(JwtError::Expired));
        let token = KEY
            .sign(&json!({"exp": i64::MAX, "nbf": i64::MAX}))
            .unwrap();
        assert_eq!(KEY.verify(&token, i64::MIN), Err(JwtError::NotYetValid));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let token = KEY.sign(&claims(NOW + 3600)).unwrap();
        let p = parts(&token);
        let not_json = b64(b"not json");
        let array = b64(b"[1,2]");
        let too_long = "a".repeat(MAX_TOKEN_LEN + 1);
        let cases = [
            String::new(),
            "..".to_owned(),
            format!("{}.{}", p[0], p[1]),
            format!("{token}.{}", p[2]),
            format!("{}.{}.{}!", p[0], p[1], p[2]),
            format!("{}+.{}.{}", p[0], p[1], p[2]),
            format!("{}=.{}.{}", p[0], p[1], p[2]),
            format!("{not_json}.{}.{}", p[1], p[2]),
            format!("{array}.{}.{}", p[1], p[2]),
            too_long,
        ];
        for case in &cases {
            assert_eq!(
                KEY.verify(case, NOW),
                Err(JwtError::Malformed),
                "{case:.80}"
            );
        }
    }

    #[test]
    fn claims_payload_not_an_object_is_refused() {
        assert_eq!(KEY.sign(&json!([1, 2])), Err(JwtError::Malformed));
        assert_eq!(KEY.sign(&json!("claims")), Err(JwtError::Malformed));
        // Signed correctly, but the payload is an array.
        let header = json!({"alg": "RS256", "kid": KEY.kid()});
        let token = forge(&header, &json!([1, 2]), Some(&KEY));
        assert_eq!(KEY.verify(&token, NOW), Err(JwtError::Malformed));
    }

    #[test]
    fn empty_signature_is_refused() {
        let token = KEY.sign(&claims(NOW + 3600)).unwrap();
        let p = parts(&token);
        let stripped = format!("{}.{}.", p[0], p[1]);
        assert_eq!(KEY.verify(&stripped, NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_kid() {
        let der = KEY.to_pkcs8_der().unwrap();
        let loaded = SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(loaded.kid(), KEY.kid());
        assert_eq!(loaded.jwks(), KEY.jwks());
        let token = KEY.sign(&claims(NOW + 3600)).unwrap();
        assert!(loaded.verify(&token, NOW).is_ok());
        let token = loaded.sign(&claims(NOW + 3600)).unwrap();
        assert!(KEY.verify(&token, NOW).is_ok());
    }

    #[test]
    fn bad_pkcs8_is_refused() {
        assert!(matches!(
            SigningKey::from_pkcs8_der(b"not a key"),
            Err(JwtError::Key(_))
        ));
        let der = KEY.to_pkcs8_der().unwrap();
        let truncated = der.get(..der.len() - 1).unwrap();
        assert!(matches!(
            SigningKey::from_pkcs8_der(truncated),
            Err(JwtError::Key(_))
        ));
    }

    #[test]
    fn jwks_publishes_n_and_e() {
        let jwks = KEY.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let jwk = &keys[0];
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["kid"], KEY.kid());
        assert_eq!(jwk["x5t"], KEY.kid());
        let n = decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert_ne!(n[0], 0);
        assert_eq!(decode(jwk["e"].as_str().unwrap()).unwrap(), [1, 0, 1]);
        assert_eq!(*jwk, KEY.jwk());
    }

    #[test]
    fn kid_is_stable_and_derived_from_the_spki() {
        assert_eq!(KEY.kid(), KEY.kid());
        assert_eq!(KEY.kid().len(), 27);
        let spki = KEY.verifier.as_ref().to_public_key_der().unwrap();
        let digest = Sha256::digest(spki.as_bytes());
        assert_eq!(KEY.kid(), b64(&digest[..20]));
        let again = SigningKey::from_pkcs8_der(&KEY.to_pkcs8_der().unwrap()).unwrap();
        assert_eq!(again.kid(), KEY.kid());
    }

    #[test]
    fn debug_shows_only_the_kid() {
        let shown = format!("{:?}", *KEY);
        assert_eq!(shown, format!("SigningKey {{ kid: {:?}, .. }}", KEY.kid()));
    }

    const PEM_KEY: &str = include_str!("../testdata/key.pem");
    const PEM_KEY_PKCS1: &str = include_str!("../testdata/key-pkcs1.pem");
    const PEM_COMBINED: &str = include_str!("../testdata/combined.pem");
    const PEM_ENCRYPTED: &str = include_str!("../testdata/key-encrypted.pem");
    const PEM_CERT: &str = include_str!("../testdata/cert.pem");

    #[test]
    fn pem_pkcs8_pkcs1_and_combined_are_the_same_key() {
        let pkcs8 = SigningKey::from_pem(PEM_KEY).unwrap();
        let pkcs1 = SigningKey::from_pem(PEM_KEY_PKCS1).unwrap();
        let combined = SigningKey::from_pem(PEM_COMBINED).unwrap();
        let cert_first = SigningKey::from_pem(&format!("{PEM_CERT}{PEM_KEY}")).unwrap();
        let crlf = SigningKey::from_pem(&PEM_KEY.replace('\n', "\r\n")).unwrap();
        for k in [&pkcs1, &combined, &cert_first, &crlf] {
            assert_eq!(k.kid(), pkcs8.kid());
        }
        let token = pkcs1.sign(&claims(NOW + 3600)).unwrap();
        assert!(pkcs8.verify(&token, NOW).is_ok());
    }

    #[test]
    fn pem_without_a_usable_key_is_refused() {
        let damaged = PEM_KEY.replacen("MII", "MIJ", 1);
        let cases = [
            (
                "",
                "signing key: no \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" block in the PEM text",
            ),
            (
                PEM_CERT,
                "signing key: no \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" block in the PEM text",
            ),
            (
                PEM_ENCRYPTED,
                "signing key: the private key is encrypted; decrypt it first (openssl pkey)",
            ),
            (
                damaged.as_str(),
                "signing key: not a PKCS#8 RSA private key",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n",
                "signing key: not a PKCS#1 RSA private key",
            ),
        ];
        for (pem, message) in cases {
            assert_eq!(SigningKey::from_pem(pem).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn sign_with_header_adds_the_fields_and_no_kid() {
        let mut extra = Map::new();
        extra.insert("x5t".to_owned(), json!("abc"));
        extra.insert("x5t#S256".to_owned(), json!("def"));
        let token = KEY.sign_with_header(&extra, &claims(NOW + 3600)).unwrap();
        let header: Value = serde_json::from_slice(&decode(parts(&token)[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "JWT", "x5t": "abc", "x5t#S256": "def"})
        );
        // No kid, so this key's own verifier does not take it.
        assert_eq!(KEY.verify(&token, NOW), Err(JwtError::UnknownKey));
        extra.insert("kid".to_owned(), json!(KEY.kid()));
        extra.insert("alg".to_owned(), json!("RS256"));
        let token = KEY.sign_with_header(&extra, &claims(NOW + 3600)).unwrap();
        assert!(KEY.verify(&token, NOW).is_ok());
    }

    #[test]
    fn sign_with_header_refuses_another_alg_or_crit() {
        let claims = claims(NOW + 3600);
        let one = |k: &str, v: Value| Map::from_iter([(k.to_owned(), v)]);
        assert_eq!(
            KEY.sign_with_header(&one("alg", json!("none")), &claims),
            Err(JwtError::UnsupportedAlgorithm("none".to_owned()))
        );
        assert_eq!(
            KEY.sign_with_header(&one("alg", json!(1)), &claims),
            Err(JwtError::Malformed)
        );
        assert_eq!(
            KEY.sign_with_header(&one("crit", json!(["b64"])), &claims),
            Err(JwtError::Malformed)
        );
        assert_eq!(
            KEY.sign_with_header(&Map::new(), &json!([1])),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn error_texts() {
        assert_eq!(JwtError::Malformed.to_string(), "malformed token");
        assert_eq!(
            JwtError::UnsupportedAlgorithm("none".to_owned()).to_string(),
            "unsupported token algorithm \"none\""
        );
        assert_eq!(JwtError::Expired.to_string(), "token expired");
    }
}
