//! Enveloped XML signatures made by `xmlsec1` (Debian package `xmlsec1`,
//! installed by `scripts/test`): an independent signer for the PSKC
//! signature tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Exclusive XML Canonicalization 1.0.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Canonical XML 1.0 (inclusive).
pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// RSA with SHA-256.
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// RSA with SHA-1.
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
/// ECDSA with SHA-256 (RFC 4051; the value is r ‖ s).
pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
/// SHA-256 digests.
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// SHA-1 digests.
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// Inserts a signature template before the root's end tag of `xml` and has
/// `xmlsec1` sign it with `key`/`cert` (PEM); returns the signed file
/// (`DIR/name`). `c14n` is used for `SignedInfo` and as the reference's
/// transform after the enveloped-signature transform.
#[must_use]
pub fn sign(
    dir: &Path,
    name: &str,
    xml: &str,
    (key, cert): (&Path, &Path),
    c14n: &str,
    method: &str,
    digest: &str,
) -> PathBuf {
    let template = format!(
        r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <ds:SignedInfo>
    <ds:CanonicalizationMethod Algorithm="{c14n}"/>
    <ds:SignatureMethod Algorithm="{method}"/>
    <ds:Reference URI="">
      <ds:Transforms>
        <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        <ds:Transform Algorithm="{c14n}"/>
      </ds:Transforms>
      <ds:DigestMethod Algorithm="{digest}"/>
      <ds:DigestValue></ds:DigestValue>
    </ds:Reference>
  </ds:SignedInfo>
  <ds:SignatureValue></ds:SignatureValue>
  <ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
</ds:Signature>
"#
    );
    let end = xml.rfind("</").unwrap_or(xml.len());
    let unsigned = dir.join(format!("{name}.template"));
    let mut text = String::with_capacity(xml.len() + template.len());
    text.push_str(xml.get(..end).unwrap_or(xml));
    text.push_str(&template);
    text.push_str(xml.get(end..).unwrap_or_default());
    std::fs::write(&unsigned, text).unwrap_or_else(|e| panic!("{e}"));
    let signed = dir.join(name);
    let out = Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), cert.display()))
        .arg("--output")
        .arg(&signed)
        .arg(&unsigned)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run xmlsec1 ({e}); scripts/test installs Debian's xmlsec1 package")
        });
    assert!(
        out.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    signed
}
