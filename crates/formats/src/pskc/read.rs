//! Reading PSKC: plain, pre-shared key and passphrase-protected files, with
//! the vendor quirks `shared/vectors/README.md` lists.

use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{Digits, Hash, Kind, Secret, Serial, Step, Token};
use zeroize::Zeroizing;

use super::crypto::{Cipher, MacAlg, pbkdf2, uri};
use super::xml::{Elements, Node, Ns, XmlError};
use crate::error::{Error, ErrorKind};

/// What a reader may need to open a protected file.
#[derive(Default, Clone)]
pub struct Keys {
    /// The pre-shared key (raw bytes: 16, 24 or 32).
    pub psk: Option<Zeroizing<Vec<u8>>>,
    /// The passphrase of a PBKDF2-protected file.
    pub passphrase: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("psk", &self.psk.as_ref().map(|_| "[redacted]"))
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

fn fail(msg: impl Into<String>, line: u64) -> Error {
    Error::new(ErrorKind::Syntax(msg.into())).line(line)
}

fn from_xml(e: XmlError) -> Error {
    fail(e.message, e.line)
}

/// Decodes `text`; an error names `what` and the line of `at`.
fn base64(text: &str, what: &str, at: Node<'_>) -> Result<Zeroizing<Vec<u8>>, Error> {
    let compact: Zeroizing<Vec<u8>> =
        Zeroizing::new(text.bytes().filter(|b| !b.is_ascii_whitespace()).collect());
    data_encoding::BASE64
        .decode(&compact)
        .map(Zeroizing::new)
        .map_err(|_| fail(format!("{what} is not valid Base64"), at.line()))
}

/// How values of this file are decrypted and checked.
#[derive(Default)]
struct Protection {
    /// The file says values are encrypted with a named or derived key.
    encrypted: bool,
    /// The key, once known.
    key: Option<Zeroizing<Vec<u8>>>,
    /// Why there is no key (message for the user).
    missing_key: Option<String>,
    mac: Option<(MacAlg, Zeroizing<Vec<u8>>)>,
    /// `MACMethod` without `MACKey`: the encryption key is the MAC key (legacy).
    mac_alg_only: Option<MacAlg>,
}

/// A secret-bearing value: `PlainValue` or `EncryptedValue` + `ValueMAC`.
fn value(
    node: Node<'_>,
    prot: &Protection,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if let Some(plain) = node.child("PlainValue") {
        return base64(plain.text(), what, plain);
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
    if key.len() != cipher.key_len() {
        return Err(fail(
            format!(
                "the key is {} bytes; {} needs {}",
                key.len(),
                cipher.uri(),
                cipher.key_len()
            ),
            enc.line(),
        ));
    }
    let plain = cipher
        .decrypt(key, &data)
        .ok_or_else(|| mac_failed(enc.line()));
    match node.child_text("ValueMAC") {
        Some(mac_text) => {
            let mac = base64(mac_text, "ValueMAC", node)?;
            let (alg, mac_key): (MacAlg, &[u8]) = match (&prot.mac, prot.mac_alg_only) {
                (Some((alg, k)), _) => (*alg, k),
                (None, Some(alg)) => (alg, key),
                (None, None) => {
                    return Err(fail(
                        "a ValueMAC is given but the file has no MACMethod",
                        node.line(),
                    ));
                }
            };
            // The MAC covers IV ‖ ciphertext (RFC 6030); old files MAC the plaintext.
            let ok = alg.verify(mac_key, &data, &mac)
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

fn mac_failed(line: u64) -> Error {
    fail("MAC check failed — wrong key or tampered file", line)
}

fn encryption_method(node: Node<'_>) -> Result<Cipher, Error> {
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

fn integer(node: Node<'_>, prot: &Protection, what: &'static str) -> Result<u64, Error> {
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

/// Attributes and values that must be well-formed even on keys that are skipped.
fn check_well_formed(key: Node<'_>) -> Result<(), Error> {
    if let Some(params) = key.child("AlgorithmParameters")
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

/// Code length (`ResponseFormat/@Length`, default 6) and hash (`Suite` text
/// or `@hashalgo`, any spelling, default SHA-1).
fn parameters(key: Node<'_>) -> Result<(Digits, Hash), Error> {
    let params = key.child("AlgorithmParameters");
    let digits = match params
        .and_then(|p| p.child("ResponseFormat"))
        .and_then(|r| r.attr("Length"))
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

/// A reader of one PSKC document, yielding its HOTP and TOTP keys.
pub struct Reader<R: BufRead> {
    elements: Elements<R>,
    file: Option<Arc<str>>,
    opened: bool,
    done: bool,
    tokens: u64,
    errors: u64,
    st: State,
}

/// What the reader learns from the container and collects per `KeyPackage`.
struct State {
    keys: Keys,
    prot: Protection,
    /// Pending tokens of the current `KeyPackage` (one device can hold several keys).
    pending: Vec<Result<Token, Error>>,
    skipped: crate::Skips,
}

impl<R: BufRead> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pskc::Reader")
            .field("file", &self.file)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads `input`; `keys` opens protected files; `file` names it in errors.
    pub fn new(input: R, file: Option<Arc<str>>, keys: Keys) -> Self {
        Self {
            elements: Elements::new(input),
            file,
            opened: false,
            done: false,
            tokens: 0,
            errors: 0,
            st: State {
                keys,
                prot: Protection::default(),
                pending: Vec::new(),
                skipped: crate::Skips::default(),
            },
        }
    }

    /// Also sends every skip note to `notes`.
    #[must_use]
    pub fn with_notes(mut self, notes: crate::Notes) -> Self {
        self.st.skipped.set_notes(notes);
        self
    }

    /// What was skipped so far, one message each.
    #[must_use]
    pub fn skipped(&self) -> &[String] {
        self.st.skipped.list()
    }

    fn open(&mut self) -> Result<(), Error> {
        let root = self.elements.open().map_err(from_xml)?;
        if root.name != "KeyContainer" || root.ns != Some(Ns::Pskc) {
            return Err(fail(
                format!(
                    "this XML is not PSKC: the root element is <{}>, not a PSKC <KeyContainer>",
                    root.name
                ),
                root.line,
            ));
        }
        if root.attr("Version").is_none() {
            return Err(fail("KeyContainer has no Version", root.line));
        }
        Ok(())
    }

    fn next_token(&mut self) -> Option<Result<Token, Error>> {
        loop {
            if let Some(t) = self.st.pending.pop() {
                if t.is_ok() {
                    self.tokens += 1;
                } else {
                    self.errors += 1;
                }
                return Some(t);
            }
            if self.done {
                return None;
            }
            if !self.opened {
                self.opened = true;
                if let Err(e) = self.open() {
                    self.done = true;
                    return Some(Err(e));
                }
            }
            let child = match self.elements.next_child() {
                Ok(Some(c)) => c,
                Ok(None) => {
                    self.done = true;
                    if self.tokens == 0 && self.errors == 0 && self.st.skipped.is_empty() {
                        return Some(Err(Error::new(ErrorKind::NoTokens)));
                    }
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(from_xml(e)));
                }
            };
            let node = child.root();
            if node.ns() != Some(Ns::Pskc) {
                continue; // ds:Signature, extensions
            }
            let setup = match node.name() {
                "EncryptionKey" => self.st.encryption_key(node),
                "MACMethod" => self.st.mac_method(node),
                "KeyPackage" => {
                    self.st.key_package(node);
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = setup {
                // A container-level problem spoils every key: stop here.
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

impl State {
    fn encryption_key(&mut self, node: Node<'_>) -> Result<(), Error> {
        self.prot.encrypted = true;
        if let Some(derived) = node.child("DerivedKey") {
            return self.derived_key(derived);
        }
        if node.child("X509Data").is_some() {
            self.prot.missing_key = Some(
                "the file is encrypted to an X.509 (RSA) key; oathvault does not decrypt those — \
                 ask the vendor for a pre-shared key or passphrase file"
                    .into(),
            );
            return Ok(());
        }
        // A named pre-shared key, or (python-pskc writes this) an empty
        // EncryptionKey: the key travels out of band either way.
        if let Some(k) = &self.keys.psk {
            self.prot.key = Some(k.clone());
        } else {
            let name = node.child_text("KeyName").unwrap_or("unnamed");
            self.prot.missing_key = Some(format!(
                "the file is encrypted with a pre-shared key ({name}); give it with --psk-file"
            ));
        }
        Ok(())
    }

    fn derived_key(&mut self, derived: Node<'_>) -> Result<(), Error> {
        let method = derived
            .child("KeyDerivationMethod")
            .ok_or_else(|| fail("DerivedKey has no KeyDerivationMethod", derived.line()))?;
        if method.attr("Algorithm").map(str::trim) != Some(uri::PBKDF2) {
            return Err(fail(
                "unsupported key derivation (only PBKDF2 is)",
                method.line(),
            ));
        }
        let params = method
            .child("PBKDF2-params")
            .ok_or_else(|| fail("PBKDF2 parameters are missing", method.line()))?;
        let salt_text = params
            .child("Salt")
            .and_then(|s| s.child_text("Specified"))
            .ok_or_else(|| fail("PBKDF2 salt is missing", params.line()))?;
        let salt = base64(salt_text, "PBKDF2 salt", params)?;
        let iterations: u32 = params
            .child_text("IterationCount")
            .and_then(|t| t.parse().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                fail(
                    "PBKDF2 IterationCount is missing or not a positive number",
                    params.line(),
                )
            })?;
        let key_len: usize = params
            .child_text("KeyLength")
            .and_then(|t| t.parse().ok())
            .filter(|&n: &usize| (1..=64).contains(&n))
            .ok_or_else(|| fail("PBKDF2 KeyLength is missing or out of range", params.line()))?;
        let prf = match params.child("PRF").and_then(|p| p.attr("Algorithm")) {
            None => MacAlg::Sha1,
            Some(a) => MacAlg::from_uri(a)
                .ok_or_else(|| fail(format!("unsupported PBKDF2 PRF {a}"), params.line()))?,
        };
        if let Some(p) = &self.keys.passphrase {
            self.prot.key = Some(pbkdf2(prf, p.as_bytes(), &salt, iterations, key_len));
        } else {
            let name = derived.child_text("MasterKeyName").unwrap_or("passphrase");
            self.prot.missing_key = Some(format!(
                "the file is protected by a passphrase (named {name:?}); give it with --passphrase-file"
            ));
        }
        Ok(())
    }

    fn mac_method(&mut self, node: Node<'_>) -> Result<(), Error> {
        let alg_uri = node
            .attr("Algorithm")
            .ok_or_else(|| fail("MACMethod has no Algorithm", node.line()))?;
        let alg = MacAlg::from_uri(alg_uri)
            .ok_or_else(|| fail(format!("unsupported MAC algorithm {alg_uri}"), node.line()))?;
        match node.child("MACKey") {
            Some(mac_key) => {
                let cipher = encryption_method(mac_key)?;
                let data = mac_key
                    .child("CipherData")
                    .and_then(|c| c.child_text("CipherValue"))
                    .ok_or_else(|| fail("MACKey has no CipherValue", mac_key.line()))
                    .and_then(|t| base64(t, "MACKey", mac_key))?;
                if let Some(key) = &self.prot.key {
                    let mk = cipher
                        .decrypt(key, &data)
                        .ok_or_else(|| mac_failed(mac_key.line()))?;
                    self.prot.mac = Some((alg, mk));
                }
            }
            None => self.prot.mac_alg_only = Some(alg),
        }
        Ok(())
    }

    fn key_package(&mut self, pkg: Node<'_>) {
        let device = pkg.child("DeviceInfo");
        for key in pkg.children("Key") {
            let result = self.key(device, key);
            match result {
                Ok(Some(t)) => self.pending.push(Ok(t)),
                Ok(None) => {}
                Err(e) => self.pending.push(Err(e)),
            }
        }
        self.pending.reverse();
    }

    fn key(&mut self, device: Option<Node<'_>>, key: Node<'_>) -> Result<Option<Token>, Error> {
        let id = key.attr("Id").map(str::trim).filter(|s| !s.is_empty());
        let alg = key.attr("Algorithm").unwrap_or("").trim();
        let kind_name = alg
            .rsplit([':', '#'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        check_well_formed(key)?;
        let serial_text = device.and_then(|d| d.child_text("SerialNo")).or(id);
        let label = serial_text.unwrap_or("(no serial)");
        // RFC 6030 itself defines HOTP; a key naming no algorithm is read as HOTP.
        let kind_name = if alg.is_empty() {
            "hotp".to_owned()
        } else {
            kind_name
        };
        if !matches!(kind_name.as_str(), "hotp" | "totp") {
            let what = if alg.is_empty() {
                "no algorithm".to_owned()
            } else {
                alg.to_owned()
            };
            self.skipped.push(format!(
                "key {label}: not an HOTP/TOTP token ({what}); skipped"
            ));
            return Ok(None);
        }
        let data = key.child("Data");
        let Some(secret_node) = data.and_then(|d| d.child("Secret")) else {
            let why = if key.child("KeyProfileId").is_some() || key.child("KeyReference").is_some()
            {
                "it refers to a key profile or reference the vendor keeps, not the secret itself"
            } else {
                "the file carries no secret for it"
            };
            return Err(fail(
                format!("serial {label}: no secret — {why}"),
                key.line(),
            ));
        };
        let secret = value(secret_node, &self.prot, "Secret")?;
        let Some(serial_text) = serial_text else {
            return Err(fail(
                "a key has no serial number (neither DeviceInfo/SerialNo nor Key/@Id); \
                 its secret decrypted and its MAC checked, but a token needs a serial",
                key.line(),
            ));
        };
        let serial = Serial::new(serial_text)
            .map_err(|e| Error::new(e).field("SerialNo").line(key.line()))?;
        let secret = Secret::new(secret.to_vec())
            .map_err(|e| Error::new(e).field("Secret").line(secret_node.line()))?;
        let (digits, hash) = parameters(key)?;
        let int = |name: &'static str| -> Result<Option<u64>, Error> {
            data.and_then(|d| d.child(name))
                .map(|n| integer(n, &self.prot, name))
                .transpose()
        };
        let kind = if kind_name == "totp" {
            let step = int("TimeInterval")?.unwrap_or(30);
            let step = Step::new(step)
                .map_err(|e| Error::new(e).field("TimeInterval").line(key.line()))?;
            Kind::Totp {
                step,
                t0: int("Time")?.unwrap_or(0),
            }
        } else {
            Kind::Hotp {
                counter: int("Counter")?.unwrap_or(0),
            }
        };
        let text =
            |n: Option<Node<'_>>, name: &str| n.and_then(|n| n.child_text(name)).map(str::to_owned);
        Ok(Some(Token {
            serial,
            kind,
            hash,
            digits,
            secret,
            manufacturer: text(device, "Manufacturer"),
            model: text(device, "Model"),
            display_name: key.child_text("FriendlyName").map(str::to_owned),
            user: key
                .child_text("UserId")
                .or_else(|| device.and_then(|d| d.child_text("UserId")))
                .map(str::to_owned),
            issuer: key.child_text("Issuer").map(str::to_owned),
            key_id: id.filter(|i| *i != serial_text).map(str::to_owned),
        }))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Token, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_token()
            .map(|r| r.map_err(|e| e.in_file(self.file.as_ref())))
    }
}
