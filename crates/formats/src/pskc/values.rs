//! The values inside a PSKC key: `PlainValue`, `EncryptedValue` +
//! `ValueMAC`, the drafts' `Value` + `ValueDigest`, integers, and the
//! algorithm parameters (RFC 6030 `AlgorithmParameters` or the drafts'
//! `Usage`).

use oathvault_token::{Digits, Hash};
use zeroize::Zeroizing;

use super::crypto::{Cipher, MacAlg};
use super::xml::{Node, XmlError};
use crate::error::{Error, ErrorKind};

pub(super) fn fail(msg: impl Into<String>, line: u64) -> Error {
    Error::new(ErrorKind::Syntax(msg.into())).line(line)
}

pub(super) fn from_xml(e: XmlError) -> Error {
    fail(e.message, e.line)
}

/// Decodes `text`; an error names `what` and the line of `at`.
pub(super) fn base64(text: &str, what: &str, at: Node<'_>) -> Result<Zeroizing<Vec<u8>>, Error> {
    let compact: Zeroizing<Vec<u8>> =
        Zeroizing::new(text.bytes().filter(|b| !b.is_ascii_whitespace()).collect());
    data_encoding::BASE64
        .decode(&compact)
        .map(Zeroizing::new)
        .map_err(|_| fail(format!("{what} is not valid Base64"), at.line()))
}

/// How values of this file are decrypted and checked.
#[derive(Default, Clone)]
pub(super) struct Protection {
    /// The file says values are encrypted with a named or derived key.
    pub(super) encrypted: bool,
    /// The key, once known.
    pub(super) key: Option<Zeroizing<Vec<u8>>>,
    /// Why there is no key (message for the user).
    pub(super) missing_key: Option<String>,
    pub(super) mac: Option<(MacAlg, Zeroizing<Vec<u8>>)>,
    /// `MACMethod` (or the drafts' `DigestMethod`) without `MACKey`: the
    /// encryption key is the MAC key (legacy).
    pub(super) mac_alg_only: Option<MacAlg>,
    /// Drafts: the container's `EncryptionMethod` encrypts every `Value`.
    pub(super) draft_cipher: Option<Cipher>,
    /// Drafts: the container's `EncryptionMethod/IV`, when the values do
    /// not carry their own.
    pub(super) draft_iv: Option<Zeroizing<Vec<u8>>>,
}

/// A secret-bearing value: `PlainValue` or `EncryptedValue` + `ValueMAC`.
pub(super) fn value(
    node: Node<'_>,
    prot: &Protection,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if let Some(plain) = node.child("PlainValue") {
        return base64(plain.text(), what, plain);
    }
    if let Some(v) = node.child("Value") {
        return draft_value(node, v, prot, what);
    }
    let Some(enc) = node.child("EncryptedValue") else {
        return Err(fail(
            format!("{what} has neither PlainValue nor EncryptedValue"),
            node.line(),
        ));
    };
    let Some(key) = prot.key.as_ref() else {
        return Err(Error::new(ErrorKind::Syntax(
            prot.missing_key
                .clone()
                .unwrap_or_else(|| "values are encrypted but the file names no key".into()),
        ))
        .line(enc.line()));
    };
    let cipher = encryption_method(enc)?;
    let data = enc
        .child("CipherData")
        .and_then(|c| c.child_text("CipherValue"))
        .ok_or_else(|| fail(format!("{what} has no CipherValue"), enc.line()))
        .and_then(|t| base64(t, "CipherValue", enc))?;
    key_fits(key, cipher, enc.line())?;
    let plain = cipher
        .decrypt(key, &data)
        .ok_or_else(|| mac_failed(enc.line()));
    if node.child("ValueMAC").is_none()
        && let Some(mac_text) = enc.child_text("ValueMAC")
    {
        // draft-ietf-keyprov-pskc-02 (figure 5) puts the ValueMAC inside
        // EncryptedValue and names no MAC algorithm: HMAC-SHA-1 keyed with
        // the encryption key, over the plaintext. python-pskc ignores it;
        // it is checked here.
        let mac = base64(mac_text, "ValueMAC", enc)?;
        let alg = prot
            .mac
            .as_ref()
            .map(|(a, _)| *a)
            .or(prot.mac_alg_only)
            .unwrap_or(MacAlg::Sha1);
        let mac_key: &[u8] = prot.mac.as_ref().map_or(key, |(_, k)| k);
        let plain = plain?;
        if !(alg.verify(mac_key, &data, &mac) || alg.verify(mac_key, &plain, &mac)) {
            return Err(mac_failed(enc.line()));
        }
        return Ok(plain);
    }
    checked(node, "ValueMAC", prot, key, &data, plain, what)
}

fn key_fits(key: &[u8], cipher: Cipher, line: u64) -> Result<(), Error> {
    if key.len() == cipher.key_len() {
        return Ok(());
    }
    Err(fail(
        format!(
            "the key is {} bytes; {} needs {}",
            key.len(),
            cipher.uri(),
            cipher.key_len()
        ),
        line,
    ))
}

/// The drafts' `<Data Name="SECRET"><Value>…</Value><ValueDigest>`: the
/// value is plain unless the container names an `EncryptionMethod`; the
/// digest is an HMAC keyed with the encryption key (over the plaintext in
/// the files seen, over the ciphertext in the RFC's later rule), and is
/// checked only when the value is encrypted (unencrypted draft examples
/// carry placeholder digests; python-pskc ignores them too).
fn draft_value(
    node: Node<'_>,
    v: Node<'_>,
    prot: &Protection,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let raw = base64(v.text(), what, v)?;
    let Some(cipher) = prot.draft_cipher else {
        return Ok(raw);
    };
    // In the files seen, integers of an encrypted container are in the
    // clear and carry no digest (python-pskc reads them the same way); a
    // secret is always decrypted.
    if what != "Secret" && node.child("ValueDigest").is_none() {
        return Ok(raw);
    }
    let Some(key) = prot.key.as_ref() else {
        return Err(Error::new(ErrorKind::Syntax(
            prot.missing_key
                .clone()
                .unwrap_or_else(|| "values are encrypted but the file names no key".into()),
        ))
        .line(v.line()));
    };
    key_fits(key, cipher, v.line())?;
    let data = match &prot.draft_iv {
        Some(iv)
            if matches!(
                cipher,
                Cipher::Aes128Cbc | Cipher::Aes192Cbc | Cipher::Aes256Cbc
            ) =>
        {
            let mut d = Zeroizing::new(Vec::with_capacity(iv.len() + raw.len()));
            d.extend_from_slice(iv);
            d.extend_from_slice(&raw);
            d
        }
        _ => raw,
    };
    let plain = cipher
        .decrypt(key, &data)
        .ok_or_else(|| mac_failed(v.line()));
    checked(node, "ValueDigest", prot, key, &data, plain, what)
}

/// Checks the MAC element `mac_name` of `node` (if any) over the
/// ciphertext `data` or, as old files do, the plaintext.
fn checked(
    node: Node<'_>,
    mac_name: &str,
    prot: &Protection,
    key: &[u8],
    data: &[u8],
    plain: Result<Zeroizing<Vec<u8>>, Error>,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    match node.child_text(mac_name) {
        Some(mac_text) => {
            let mac = base64(mac_text, mac_name, node)?;
            let (alg, mac_key): (MacAlg, &[u8]) = match (&prot.mac, prot.mac_alg_only) {
                (Some((alg, k)), _) => (*alg, k),
                (None, Some(alg)) => (alg, key),
                (None, None) => {
                    return Err(fail(
                        format!("a {mac_name} is given but the file has no MACMethod"),
                        node.line(),
                    ));
                }
            };
            // The MAC covers IV ‖ ciphertext (RFC 6030); old files MAC the plaintext.
            let ok = alg.verify(mac_key, data, &mac)
                || plain.as_ref().is_ok_and(|p| alg.verify(mac_key, p, &mac));
            if !ok {
                return Err(mac_failed(node.line()));
            }
        }
        None if prot.mac.is_some() => {
            return Err(fail(
                format!("{what} is encrypted but has no ValueMAC"),
                node.line(),
            ));
        }
        None => {}
    }
    plain
}

pub(super) fn mac_failed(line: u64) -> Error {
    fail("MAC check failed — wrong key or tampered file", line)
}

pub(super) fn encryption_method(node: Node<'_>) -> Result<Cipher, Error> {
    let method = node
        .child("EncryptionMethod")
        .ok_or_else(|| fail("EncryptionMethod is missing", node.line()))?;
    // Pre-RFC drafts name the cipher in EncryptionScheme under a PBES2 method.
    let alg = method
        .child("EncryptionScheme")
        .and_then(|s| s.attr("Algorithm"))
        .or_else(|| method.attr("Algorithm"))
        .ok_or_else(|| fail("EncryptionMethod has no Algorithm", method.line()))?;
    Cipher::from_uri(alg).ok_or_else(|| {
        fail(
            format!("unsupported encryption algorithm {alg}"),
            method.line(),
        )
    })
}

pub(super) fn integer(node: Node<'_>, prot: &Protection, what: &'static str) -> Result<u64, Error> {
    if let Some(plain) = node.child("PlainValue") {
        let t = plain.text().trim();
        return t
            .parse()
            .map_err(|_| fail(format!("{what} is not a whole number"), plain.line()));
    }
    // Encrypted integers are ASCII digits or a big-endian binary number.
    let bytes = value(node, prot, what)?;
    if let Some(n) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return Ok(n);
    }
    if bytes.len() <= 8 {
        return Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
    }
    Err(fail(format!("{what} is not a whole number"), node.line()))
}

/// `AlgorithmParameters` (RFC 6030) or the drafts' `Usage`.
fn params(key: Node<'_>) -> Option<Node<'_>> {
    key.child("AlgorithmParameters")
        .or_else(|| key.child("Usage"))
}

/// Attributes and values that must be well-formed even on keys that are skipped.
pub(super) fn check_well_formed(key: Node<'_>) -> Result<(), Error> {
    if let Some(params) = params(key)
        && let Some(rf) = params.child("ResponseFormat")
        && let Some(cd) = rf.attr("CheckDigits")
        && !matches!(cd.trim(), "true" | "false" | "1" | "0")
    {
        return Err(fail(
            "ResponseFormat CheckDigits is not a boolean",
            rf.line(),
        ));
    }
    if let Some(policy) = key.child("Policy")
        && let Some(n) = policy.child("NumberOfTransactions")
        && n.text().trim().parse::<u64>().is_err()
    {
        return Err(fail(
            "Policy NumberOfTransactions is not a whole number",
            n.line(),
        ));
    }
    Ok(())
}

/// Code length (`ResponseFormat/@Length`, the drafts' `@length` too,
/// default 6) and hash (`Suite` text or `@hashalgo`, any spelling, default
/// SHA-1).
pub(super) fn parameters(key: Node<'_>) -> Result<(Digits, Hash), Error> {
    let params = params(key);
    let digits = match params
        .and_then(|p| p.child("ResponseFormat"))
        .and_then(|r| r.attr("Length").or_else(|| r.attr("length")))
    {
        Some(l) => Digits::parse(l).map_err(|e| {
            Error::new(e)
                .field("ResponseFormat Length")
                .line(key.line())
        })?,
        None => Digits::SIX,
    };
    let hash = match params.and_then(|p| p.child("Suite")) {
        Some(suite) => {
            let name = suite.attr("hashalgo").unwrap_or(suite.text().trim());
            if name.is_empty() {
                Hash::Sha1
            } else {
                name.parse::<Hash>()
                    .map_err(|e| Error::new(e).field("Suite").line(suite.line()))?
            }
        }
        None => Hash::Sha1,
    };
    Ok((digits, hash))
}
