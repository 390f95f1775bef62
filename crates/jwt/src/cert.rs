//! [`Certificate`]: an X.509 certificate whose RSA key verifies client
//! assertions, named in a token header by its thumbprint (`x5t`: SHA-1,
//! `x5t#S256`: SHA-256, both base64url over the certificate's DER).

use std::fmt;

use data_encoding::{BASE64URL_NOPAD, HEXUPPER};
use rsa::RsaPublicKey;
use rsa::pkcs1v15;
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha256;
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value};
use sha2::Digest;
use x509_cert::der::{Decode, Encode};

use crate::pem::find_block;
use crate::verify::{header_is, verify_rs256};
use crate::{JwtError, MAX_BITS, MIN_BITS};

/// The header naming a certificate by its SHA-1 thumbprint.
pub const X5T: &str = "x5t";

/// The header naming a certificate by its SHA-256 thumbprint.
pub const X5T_S256: &str = "x5t#S256";

/// An X.509 certificate with an RSA public key (2048 to 4096 bits).
///
/// Only what client assertions need is kept: the DER, the thumbprints, the
/// validity period and the key. The certificate's own signature and chain
/// are not checked (Entra trusts a certificate because it was uploaded to
/// the application, not because of who issued it). Its `Debug` output shows
/// the subject and the SHA-1 thumbprint.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    not_before: i64,
    not_after: i64,
    x5t: String,
    x5t_s256: String,
    verifier: pkcs1v15::VerifyingKey<Sha256>,
}

/// Two certificates are equal when their DER encodings are.
impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Reads the first `BEGIN CERTIFICATE` block of PEM text; other blocks
    /// (a private key before or after it, as in Azure's combined PEM) and
    /// text between blocks are skipped.
    pub fn from_pem(pem: &str) -> Result<Self, JwtError> {
        let block = find_block(pem, "CERTIFICATE").ok_or_else(|| {
            JwtError::Certificate("no \"CERTIFICATE\" block in the PEM text".to_owned())
        })?;
        let (_, der) = x509_cert::der::pem::decode_vec(block.as_bytes())
            .map_err(|_| JwtError::Certificate("the PEM block is not valid base64".to_owned()))?;
        Self::from_der(&der)
    }

    /// Reads a DER-encoded certificate (the whole input, nothing after it).
    pub fn from_der(der: &[u8]) -> Result<Self, JwtError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| JwtError::Certificate(format!("not an X.509 certificate: {e}")))?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|_| JwtError::Certificate("public key encoding failed".to_owned()))?;
        let public = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|_| JwtError::Certificate("the public key is not an RSA key".to_owned()))?;
        let bits = public.n().bits();
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(JwtError::Certificate(format!(
                "RSA modulus has {bits} bits, {MIN_BITS} to {MAX_BITS} are accepted"
            )));
        }
        let unix = |t: &x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs())
                .map_err(|_| JwtError::Certificate("validity out of range".to_owned()))
        };
        Ok(Self {
            der: der.to_vec(),
            subject: tbs.subject.to_string(),
            not_before: unix(&tbs.validity.not_before)?,
            not_after: unix(&tbs.validity.not_after)?,
            x5t: BASE64URL_NOPAD.encode(&sha1::Sha1::digest(der)),
            x5t_s256: BASE64URL_NOPAD.encode(&sha2::Sha256::digest(der)),
            verifier: pkcs1v15::VerifyingKey::new(public),
        })
    }

    /// The certificate's DER encoding, as read.
    #[must_use]
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as PEM text (`BEGIN CERTIFICATE`, 64-character
    /// lines, `\n` line ends).
    pub fn to_pem(&self) -> Result<String, JwtError> {
        x509_cert::der::pem::encode_string(
            "CERTIFICATE",
            x509_cert::der::pem::LineEnding::LF,
            &self.der,
        )
        .map_err(|_| JwtError::Certificate("PEM encoding failed".to_owned()))
    }

    /// The subject's distinguished name (RFC 4514), for display.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Entra's `x5t`: base64url (no padding) of SHA-1 over the DER.
    #[must_use]
    pub fn thumbprint_sha1_b64url(&self) -> &str {
        &self.x5t
    }

    /// `x5t#S256`: base64url (no padding) of SHA-256 over the DER.
    #[must_use]
    pub fn thumbprint_sha256_b64url(&self) -> &str {
        &self.x5t_s256
    }

    /// The SHA-1 thumbprint in upper-case hex, as the Azure portal and
    /// `openssl x509 -fingerprint` show it (without colons).
    #[must_use]
    pub fn thumbprint_sha1_hex(&self) -> String {
        BASE64URL_NOPAD
            .decode(self.x5t.as_bytes())
            .map(|bytes| HEXUPPER.encode(&bytes))
            .unwrap_or_default()
    }

    /// Start of the validity period (`notBefore`), Unix seconds.
    #[must_use]
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// End of the validity period (`notAfter`), Unix seconds.
    #[must_use]
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// True when `not_before <= now <= not_after` (Unix seconds).
    #[must_use]
    pub fn is_valid_at(&self, now: i64) -> bool {
        (self.not_before..=self.not_after).contains(&now)
    }

    /// The certificate's RSA public key.
    #[must_use]
    pub fn public_key(&self) -> &RsaPublicKey {
        self.verifier.as_ref()
    }

    /// Verifies an RS256 compact JWS signed with this certificate's key,
    /// with the same rules as [`SigningKey::verify`](crate::SigningKey::verify)
    /// except how the header names the key: `x5t` or `x5t#S256` (at least
    /// one; each given must be this certificate's thumbprint, else
    /// [`JwtError::UnknownKey`]). A `kid` is ignored. The certificate's own
    /// validity period is not checked here: see
    /// [`is_valid_at`](Self::is_valid_at). Returns the claims object.
    pub fn verify(&self, token: &str, now: i64) -> Result<Map<String, Value>, JwtError> {
        verify_rs256(&self.verifier, token, now, |header| self.named_by(header))
    }

    /// True when `header` names this certificate by `x5t` or `x5t#S256`
    /// and neither names another.
    #[must_use]
    pub fn named_by(&self, header: &Map<String, Value>) -> bool {
        let sha1 = header.get(X5T).map(|_| header_is(header, X5T, &self.x5t));
        let sha256 = header
            .get(X5T_S256)
            .map(|_| header_is(header, X5T_S256, &self.x5t_s256));
        match (sha1, sha256) {
            (None, None) => false,
            (a, b) => a.unwrap_or(true) && b.unwrap_or(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::SigningKey;

    const CERT: &str = include_str!("../testdata/cert.pem");
    const KEY: &str = include_str!("../testdata/key.pem");
    const COMBINED: &str = include_str!("../testdata/combined.pem");
    const EC_CERT: &str = include_str!("../testdata/ec-cert.pem");

    /// `openssl x509 -fingerprint` (testdata/README.md).
    const SHA1_HEX: &str = "198033D584C096BCE8C4E0186B2E6346EFF89142";
    const X5T_OF_CERT: &str = "GYAz1YTAlrzoxOAYay5jRu_4kUI";
    const X5T_S256_OF_CERT: &str = "bV0HnZEYcS3mmhtp5CAzsnAj0NN4D1PCLM8t-Dnnv6g";
    const NOT_BEFORE: i64 = 1_795_750_934;
    const NOT_AFTER: i64 = 4_949_350_934;
    const NOW: i64 = NOT_BEFORE + 1000;

    fn cert() -> Certificate {
        Certificate::from_pem(CERT).unwrap()
    }

    fn key() -> SigningKey {
        SigningKey::from_pem(KEY).unwrap()
    }

    fn header(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect()
    }

    fn claims() -> Value {
        json!({"iss": "app", "sub": "app", "nbf": NOW, "exp": NOW + 600, "jti": "1"})
    }

    #[test]
    fn thumbprints_and_validity_match_openssl() {
        let c = cert();
        assert_eq!(c.thumbprint_sha1_b64url(), X5T_OF_CERT);
        assert_eq!(c.thumbprint_sha256_b64url(), X5T_S256_OF_CERT);
        assert_eq!(c.thumbprint_sha1_hex(), SHA1_HEX);
        assert_eq!(c.not_before(), NOT_BEFORE);
        assert_eq!(c.not_after(), NOT_AFTER);
        assert_eq!(c.subject(), "O=Example,CN=oathvault test");
        assert!(c.der().starts_with(&[0x30, 0x82]));
        assert_eq!(
            format!("{c:?}"),
            format!(
                "Certificate {{ subject: \"O=Example,CN=oathvault test\", x5t: \"{X5T_OF_CERT}\", .. }}"
            )
        );
    }

    #[test]
    fn validity_period_is_inclusive() {
        let c = cert();
        assert!(!c.is_valid_at(NOT_BEFORE - 1));
        assert!(c.is_valid_at(NOT_BEFORE));
        assert!(c.is_valid_at(NOT_AFTER));
        assert!(!c.is_valid_at(NOT_AFTER + 1));
    }

    #[test]
    fn der_and_pem_round_trip() {
        let c = cert();
        assert_eq!(Certificate::from_der(c.der()).unwrap(), c);
        let pem = c.to_pem().unwrap();
        assert_eq!(pem.replace("\r\n", "\n"), CERT);
        assert_eq!(Certificate::from_pem(&pem).unwrap(), c);
    }

    #[test]
    fn combined_pem_finds_the_certificate_either_side_of_the_key() {
        assert_eq!(Certificate::from_pem(COMBINED).unwrap(), cert());
        let cert_first = format!("Bag Attributes\n{CERT}Bag Attributes\n{KEY}");
        assert_eq!(Certificate::from_pem(&cert_first).unwrap(), cert());
    }

    #[test]
    fn the_key_of_the_certificate() {
        assert_eq!(cert().public_key(), key().public_key());
        let other = SigningKey::generate(
            &mut <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(3),
        )
        .unwrap();
        assert_ne!(cert().public_key(), other.public_key());
    }

    #[test]
    fn what_is_not_an_rsa_certificate_is_refused() {
        let cases: [(&str, &str); 5] = [
            ("", "no \"CERTIFICATE\" block in the PEM text"),
            (KEY, "no \"CERTIFICATE\" block in the PEM text"),
            (
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                "the PEM block is not valid base64",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
                "not an X.509 certificate",
            ),
            (EC_CERT, "the public key is not an RSA key"),
        ];
        for (pem, message) in cases {
            match Certificate::from_pem(pem) {
                Err(JwtError::Certificate(m)) => assert!(m.starts_with(message), "{m}"),
                other => panic!("{other:?} for {pem:.40}"),
            }
        }
        let mut der = cert().der().to_vec();
        der.push(0);
        assert!(matches!(
            Certificate::from_der(&der),
            Err(JwtError::Certificate(_))
        ));
    }

    #[test]
    fn verifies_an_assertion_named_by_either_thumbprint() {
        let (c, k) = (cert(), key());
        for h in [
            header(&[(X5T, X5T_OF_CERT)]),
            header(&[(X5T_S256, X5T_S256_OF_CERT)]),
            header(&[(X5T, X5T_OF_CERT), (X5T_S256, X5T_S256_OF_CERT)]),
            header(&[(X5T, X5T_OF_CERT), ("kid", "anything")]),
        ] {
            let token = k.sign_with_header(&h, &claims()).unwrap();
            assert_eq!(Value::Object(c.verify(&token, NOW).unwrap()), claims());
        }
    }

    #[test]
    fn a_header_naming_no_or_another_certificate_is_refused() {
        let (c, k) = (cert(), key());
        for h in [
            header(&[]),
            header(&[("kid", X5T_OF_CERT)]),
            header(&[(X5T, X5T_S256_OF_CERT)]),
            header(&[(X5T_S256, X5T_OF_CERT)]),
            header(&[(X5T, X5T_OF_CERT), (X5T_S256, "other")]),
            header(&[(X5T, "other"), (X5T_S256, X5T_S256_OF_CERT)]),
        ] {
            let token = k.sign_with_header(&h, &claims()).unwrap();
            assert_eq!(c.verify(&token, NOW), Err(JwtError::UnknownKey), "{h:?}");
        }
        let mut numeric = Map::new();
        numeric.insert(X5T.to_owned(), json!(1));
        let token = k.sign_with_header(&numeric, &claims()).unwrap();
        assert_eq!(c.verify(&token, NOW), Err(JwtError::UnknownKey));
    }

    #[test]
    fn the_shared_rules_apply() {
        let c = cert();
        let other = SigningKey::generate(
            &mut <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(4),
        )
        .unwrap();
        let h = header(&[(X5T, X5T_OF_CERT)]);
        let forged = other.sign_with_header(&h, &claims()).unwrap();
        assert_eq!(c.verify(&forged, NOW), Err(JwtError::BadSignature));
        let token = key().sign_with_header(&h, &claims()).unwrap();
        assert_eq!(c.verify(&token, NOW + 600 + 300), Err(JwtError::Expired));
        assert_eq!(c.verify(&token, NOW - 301), Err(JwtError::NotYetValid));
        assert_eq!(c.verify("a.b", NOW), Err(JwtError::Malformed));
        let none = format!(
            "{}.{}.",
            BASE64URL_NOPAD.encode(br#"{"alg":"none","x5t":"GYAz1YTAlrzoxOAYay5jRu_4kUI"}"#),
            BASE64URL_NOPAD.encode(b"{}")
        );
        assert_eq!(
            c.verify(&none, NOW),
            Err(JwtError::UnsupportedAlgorithm("none".to_owned()))
        );
    }
}
