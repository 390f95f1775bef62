//! Certificate credentials: a client assertion (RFC 7523 JWT, RS256) signed
//! with the app's private key and naming its certificate by thumbprint
//! (`x5t`, `x5t#S256`), as Microsoft's identity platform takes it.

use oathvault_jwt::{Certificate, SigningKey, X5T, X5T_S256};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::Error;
use crate::auth::ClientAssertion;

/// How long an assertion is valid (Microsoft suggests minutes).
const LIFETIME_SECONDS: i64 = 600;

/// An app's certificate and private key.
pub struct CertificateCredential {
    key: SigningKey,
    certificate: Certificate,
}

impl std::fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateCredential")
            .field("subject", &self.certificate.subject())
            .field("x5t", &self.certificate.thumbprint_sha1_b64url())
            .finish_non_exhaustive()
    }
}

impl CertificateCredential {
    /// Reads a PEM holding the certificate and its RSA private key (as
    /// Azure exports them), checking that the two belong together.
    ///
    /// # Errors
    /// `Invalid`, naming what is missing or wrong (never key material).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let certificate = Certificate::from_pem(pem)
            .map_err(|e| Error::Invalid(format!("no usable certificate in the PEM: {e}")))?;
        let key = SigningKey::from_pem(pem)
            .map_err(|e| Error::Invalid(format!("no usable RSA private key in the PEM: {e}")))?;
        if key.public_key() != certificate.public_key() {
            return Err(Error::Invalid(
                "the private key in the PEM does not belong to its certificate".into(),
            ));
        }
        Ok(Self { key, certificate })
    }

    /// The certificate.
    #[must_use]
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

impl ClientAssertion for CertificateCredential {
    fn assertion(
        &self,
        audience: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Zeroizing<String>, Error> {
        let mut header = Map::new();
        header.insert(
            X5T.into(),
            Value::String(self.certificate.thumbprint_sha1_b64url().to_owned()),
        );
        header.insert(
            X5T_S256.into(),
            Value::String(self.certificate.thumbprint_sha256_b64url().to_owned()),
        );
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + LIFETIME_SECONDS,
        });
        self.key
            .sign_with_header(&header, &claims)
            .map(Zeroizing::new)
            .map_err(|e| Error::Invalid(format!("cannot sign the client assertion: {e}")))
    }
}
