//! XML Signature on a PSKC container (RFC 6030 §7): an enveloped
//! `ds:Signature`, child of `KeyContainer`, whose one `Reference` covers the
//! whole document (`URI=""` or the container's `Id`), canonicalised with
//! Canonical XML 1.0 or Exclusive C14N (without comments), signed with
//! RSA (PKCS #1 v1.5) and SHA-256 — or SHA-1, accepted for older files with
//! a warning — or with ECDSA on P-256 and SHA-256 (RFC 4051: the value is
//! r ‖ s). The signer's key comes from a certificate the user trusts;
//! `KeyInfo` in the file is never trusted. Verified over the whole file
//! before any key is read.

mod c14n;

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::Digest;
use subtle::ConstantTimeEq;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};

use c14n::{DS, Doc};

const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
/// `id-ecPublicKey` and the `prime256v1` (P-256) curve (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// DER `DigestInfo` prefixes (RFC 8017 §9.2, note 1).
const SHA1_INFO: &[u8] = &[
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
const SHA256_INFO: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A signer's public key, from the certificate the user trusts.
#[derive(Clone)]
pub struct SignerKey {
    key: PublicKey,
    subject: String,
}

/// The kinds of key a signer may have.
#[derive(Clone)]
enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    fn name(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RSA",
            Self::P256(_) => "ECDSA P-256",
        }
    }
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerKey")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignatureError(String);

fn refuse<T>(why: impl Into<String>) -> Result<T, SignatureError> {
    Err(SignatureError(why.into()))
}

impl SignerKey {
    /// Reads the first certificate of PEM text (an RSA key of 2048 bits or
    /// more, or an ECDSA key on the P-256 curve).
    ///
    /// # Errors
    /// No certificate, not X.509, another kind of key, or a short RSA key.
    pub fn from_pem(pem: &str) -> Result<Self, SignatureError> {
        let der = pem
            .split("-----BEGIN CERTIFICATE-----")
            .nth(1)
            .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
            .map(|b64| {
                b64.bytes()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect::<Vec<u8>>()
            })
            .and_then(|b64| data_encoding::BASE64.decode(&b64).ok())
            .ok_or_else(|| SignatureError("no PEM certificate (BEGIN CERTIFICATE) in it".into()))?;
        let cert = x509_cert::Certificate::from_der(&der)
            .map_err(|e| SignatureError(format!("not an X.509 certificate: {e}")))?;
        let tbs = &cert.tbs_certificate;
        let info = &tbs.subject_public_key_info;
        let key = if info.algorithm.oid == EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            if curve != Some(P256_CURVE) {
                return refuse(
                    "the certificate's ECDSA key is not on the P-256 curve (the one accepted)",
                );
            }
            let point = info.subject_public_key.raw_bytes();
            PublicKey::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| {
                    SignatureError("the certificate's ECDSA key is not a valid P-256 point".into())
                })?,
            )
        } else {
            let spki = info.to_der().map_err(|_| {
                SignatureError("the certificate's public key cannot be read".into())
            })?;
            let key = RsaPublicKey::from_public_key_der(&spki).map_err(|_| {
                SignatureError(
                    "the certificate's key is neither RSA nor ECDSA on P-256 (the kinds accepted)"
                        .into(),
                )
            })?;
            if key.n().bits() < 2048 {
                return refuse(format!(
                    "the certificate's RSA key has {} bits; 2048 or more are accepted",
                    key.n().bits()
                ));
            }
            PublicKey::Rsa(key)
        };
        Ok(Self {
            key,
            subject: tbs.subject.to_string(),
        })
    }

    /// The certificate's subject.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// How it was made, e.g. "RSA-SHA256, exclusive C14N".
    pub method: String,
    /// Warnings (SHA-1).
    pub warnings: Vec<String>,
}

/// Verifies the enveloped signature of a PSKC document with `key`.
///
/// # Errors
/// No signature, a layout other than the one described above, a digest
/// that does not match the document (anything changed), or a signature
/// value that does not verify with `key` — each in words.
pub fn verify(xml: &[u8], key: &SignerKey) -> Result<Verified, SignatureError> {
    let doc = Doc::parse(xml).map_err(SignatureError)?;
    let root = 0;
    let sigs: Vec<usize> = doc.children(root, DS, "Signature").collect();
    let sig = match sigs.as_slice() {
        [] => return refuse("the file is not signed (no ds:Signature under KeyContainer)"),
        [one] => *one,
        _ => return refuse("the file has more than one ds:Signature; refused"),
    };
    let one = |parent: usize, name: &str| -> Result<usize, SignatureError> {
        let found: Vec<usize> = doc.children(parent, DS, name).collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => refuse(format!("the signature has no ds:{name}")),
            _ => refuse(format!("the signature has more than one ds:{name}")),
        }
    };
    let signed_info = one(sig, "SignedInfo")?;
    let mut warnings = Vec::new();
    let c14n_method = one(signed_info, "CanonicalizationMethod")?;
    let (si_exclusive, si_prefixes) = canonicalization(&doc, c14n_method)?;
    let sig_method = one(signed_info, "SignatureMethod")?;
    let sig_alg = doc.attr(sig_method, "Algorithm").unwrap_or_default().trim();
    let (alg, sha1_signature) = match sig_alg {
        RSA_SHA256 => ("RSA", false),
        ECDSA_SHA256 => ("ECDSA P-256", false),
        RSA_SHA1 => {
            warnings.push(
                "the signature uses RSA with SHA-1, which is weak; ask the vendor for SHA-256"
                    .into(),
            );
            ("RSA", true)
        }
        other => return refuse(format!("unsupported signature method {other}")),
    };
    if alg != key.key.name() {
        return refuse(format!(
            "the file is signed with {alg}, but the certificate of {} holds an {} key",
            key.subject,
            key.key.name()
        ));
    }
    let reference = one(signed_info, "Reference")?;
    let uri = doc.attr(reference, "URI").unwrap_or_default();
    let root_id = doc.attr(root, "Id").or_else(|| doc.attr(root, "ID"));
    let whole = uri.is_empty() || root_id.is_some_and(|id| uri.strip_prefix('#') == Some(id));
    if !whole {
        return refuse(format!(
            "the signature's Reference ({uri:?}) does not cover the whole KeyContainer"
        ));
    }
    let mut enveloped = false;
    let (mut exclusive, mut prefixes) = (false, Vec::new());
    for transforms in doc.children(reference, DS, "Transforms") {
        for t in doc.children(transforms, DS, "Transform") {
            match doc.attr(t, "Algorithm").unwrap_or_default().trim() {
                ENVELOPED => enveloped = true,
                C14N | EXC_C14N => (exclusive, prefixes) = canonicalization(&doc, t)?,
                other => return refuse(format!("unsupported transform {other}")),
            }
        }
    }
    let digest_method = one(reference, "DigestMethod")?;
    let digest_value = one(reference, "DigestValue")?;
    let content = doc.canonical(root, enveloped.then_some(sig), exclusive, &prefixes);
    check_digest(&doc, digest_method, digest_value, &content, &mut warnings)?;
    let signed = doc.canonical(signed_info, None, si_exclusive, &si_prefixes);
    let value = one(sig, "SignatureValue")?;
    let signature = base64(&doc.text(value), "SignatureValue")?;
    if !signature_verifies(&key.key, &signed, &signature, sha1_signature) {
        return refuse(format!(
            "the signature does not verify with the certificate of {}: another signer, or a changed file",
            key.subject
        ));
    }
    let method = format!(
        "{}-{}, {} C14N, certificate {}",
        if alg == "RSA" { "RSA" } else { "ECDSA" },
        if sha1_signature { "SHA1" } else { "SHA256" },
        if si_exclusive {
            "exclusive"
        } else {
            "inclusive"
        },
        key.subject
    );
    Ok(Verified { method, warnings })
}

/// Whether `signature` over `signed` (the canonical `SignedInfo`) verifies
/// with `key`: RSA PKCS #1 v1.5 with SHA-256 (or SHA-1), or ECDSA with
/// SHA-256 whose value is r ‖ s, 32 bytes each.
fn signature_verifies(key: &PublicKey, signed: &[u8], signature: &[u8], sha1: bool) -> bool {
    match key {
        PublicKey::Rsa(key) => {
            let mut info = Vec::with_capacity(64);
            if sha1 {
                info.extend_from_slice(SHA1_INFO);
                info.extend_from_slice(&sha1::Sha1::digest(signed));
            } else {
                info.extend_from_slice(SHA256_INFO);
                info.extend_from_slice(&sha2::Sha256::digest(signed));
            }
            key.verify(Pkcs1v15Sign::new_unprefixed(), &info, signature)
                .is_ok()
        }
        PublicKey::P256(key) => p256::ecdsa::Signature::from_slice(signature).is_ok_and(|s| {
            key.verify_prehash(&sha2::Sha256::digest(signed), &s)
                .is_ok()
        }),
    }
}

/// The `Reference`'s digest against the canonical document.
fn check_digest(
    doc: &Doc,
    method: usize,
    value: usize,
    content: &[u8],
    warnings: &mut Vec<String>,
) -> Result<(), SignatureError> {
    let want = base64(&doc.text(value), "DigestValue")?;
    let got = match doc.attr(method, "Algorithm").unwrap_or_default().trim() {
        SHA256 => sha2::Sha256::digest(content).to_vec(),
        SHA1 => {
            warnings.push(
                "the signed digest is SHA-1, which is weak; ask the vendor for SHA-256".into(),
            );
            sha1::Sha1::digest(content).to_vec()
        }
        other => return refuse(format!("unsupported digest method {other}")),
    };
    if got.len() != want.len() || !bool::from(got.ct_eq(&want)) {
        return refuse("the signature does not match the file: it was changed after signing");
    }
    Ok(())
}

/// A canonicalization method: exclusive or not, and its inclusive prefixes.
fn canonicalization(doc: &Doc, method: usize) -> Result<(bool, Vec<String>), SignatureError> {
    match doc.attr(method, "Algorithm").unwrap_or_default().trim() {
        C14N => Ok((false, Vec::new())),
        EXC_C14N => {
            let prefixes = doc
                .element(method)
                .map(|e| &e.content)
                .into_iter()
                .flatten()
                .filter_map(|c| match c {
                    c14n::Content::Element(j) => Some(*j),
                    _ => None,
                })
                .filter(|&j| {
                    doc.element(j)
                        .is_some_and(|e| e.local == "InclusiveNamespaces")
                })
                .filter_map(|j| doc.attr(j, "PrefixList"))
                .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .collect();
            Ok((true, prefixes))
        }
        other => refuse(format!(
            "unsupported canonicalization {other} (Canonical XML 1.0 or Exclusive C14N 1.0, without comments)"
        )),
    }
}

fn base64(text: &str, what: &str) -> Result<Vec<u8>, SignatureError> {
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    data_encoding::BASE64
        .decode(&compact)
        .map_err(|_| SignatureError(format!("{what} is not valid Base64")))
}
