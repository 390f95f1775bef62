//! Reading PSKC: plain, pre-shared key and passphrase-protected files, with
//! the vendor quirks `shared/vectors/README.md` lists, the pre-RFC draft
//! layouts (`docs/formats/pskc.md`) and vendors' own namespaces on a
//! PSKC-shaped container.

mod batch;

use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{Kind, Secret, Serial, Step, Token};
use zeroize::Zeroizing;

use super::crypto::{Cipher, MacAlg, pbkdf2, uri};
use super::serial::{SerialFrom, Serials};
use super::values::{
    Protection, base64, check_well_formed, encryption_method, fail, from_xml, integer, mac_failed,
    parameters, value,
};
use super::xml::{Elements, Node, Ns};
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

/// Where the user supplies what a file needs, for messages that say how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Prompts {
    /// The `oathvault` command line: messages name its flags.
    #[default]
    CommandLine,
    /// A web form with a pre-shared key and a passphrase field: messages
    /// name the fields, never a flag.
    Form,
}

impl Prompts {
    fn psk(self) -> &'static str {
        match self {
            Self::CommandLine => "give it with --psk-file",
            Self::Form => "give it in the pre-shared key field",
        }
    }

    fn passphrase(self) -> &'static str {
        match self {
            Self::CommandLine => "give it with --passphrase-file",
            Self::Form => "give it in the passphrase field",
        }
    }

    fn signature(self) -> &'static str {
        match self {
            Self::CommandLine => " (check it with --verify-signature CERT.pem)",
            Self::Form => "",
        }
    }

    fn serial(self) -> &'static str {
        match self {
            Self::CommandLine => " (name such keys with --serial-from)",
            Self::Form => " (ask the vendor for a file with serials)",
        }
    }
}

/// The most PBKDF2 iterations a file may ask for by default: a file from
/// anyone (a web upload) must not buy minutes of CPU. Python-pskc writes
/// 12,000 and oathvault 100,000; RFC 8018 suggests at least 1,000.
pub const MAX_ITERATIONS: u32 = 5_000_000;

/// The one PSKC version RFC 6030 defines; a reader must refuse others.
const VERSION: &str = "1.0";

/// A reader of one PSKC document, yielding its HOTP and TOTP keys.
pub struct Reader<R: BufRead> {
    elements: Elements<R>,
    file: Option<Arc<str>>,
    opened: bool,
    done: bool,
    tokens: u64,
    errors: u64,
    /// `KeyPackage`s (or draft `Device`s) seen.
    packages: u64,
    /// The root is a vendor's namespace, adopted: refuse if nothing in it
    /// turns out PSKC-shaped.
    vendor_ns: Option<String>,
    signature_verified: bool,
    /// Threads that read `KeyPackage`s (1: this one alone).
    threads: usize,
    /// The packages being read on several threads (kept for its buffer).
    batch: batch::Batches,
    st: State,
}

/// What the reader learns from the container and collects per `KeyPackage`.
struct State {
    keys: Keys,
    prompts: Prompts,
    max_iterations: u32,
    prot: Protection,
    serials: Serials,
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
            packages: 0,
            vendor_ns: None,
            signature_verified: false,
            threads: 1,
            batch: batch::Batches::default(),
            st: State {
                keys,
                prompts: Prompts::default(),
                max_iterations: MAX_ITERATIONS,
                prot: Protection::default(),
                serials: Serials::default(),
                pending: Vec::new(),
                skipped: crate::Skips::default(),
            },
        }
    }

    /// Also sends every note (skips, the layout read, serials made up) to `notes`.
    #[must_use]
    pub fn with_notes(mut self, notes: crate::Notes) -> Self {
        self.st.skipped.set_notes(notes);
        self
    }

    /// Where keys without a serial get one (default: they are refused).
    #[must_use]
    pub fn with_serial_from(mut self, from: Option<SerialFrom>) -> Self {
        self.st.serials = Serials::new(from);
        self
    }

    /// Refuses files asking for more PBKDF2 iterations than `max` (default
    /// [`MAX_ITERATIONS`]; the passphrase fuzz target lowers it).
    #[must_use]
    pub fn with_max_iterations(mut self, max: u32) -> Self {
        self.st.max_iterations = max;
        self
    }

    /// The caller verified the file's signature (no "not verified" note).
    #[must_use]
    pub fn with_signature_verified(mut self, verified: bool) -> Self {
        self.signature_verified = verified;
        self
    }

    /// Reads `KeyPackage`s on `threads` threads (default 1); the tokens,
    /// problems and notes, and their order, are the same.
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// How messages say to supply a key (default: the command line's flags).
    #[must_use]
    pub fn with_prompts(mut self, prompts: Prompts) -> Self {
        self.st.prompts = prompts;
        self
    }

    /// What was skipped or noted so far, one message each.
    #[must_use]
    pub fn skipped(&self) -> &[String] {
        self.st.skipped.list()
    }

    fn open(&mut self) -> Result<(), Error> {
        let root = self.elements.open().map_err(from_xml)?;
        if root.name != "KeyContainer" {
            return Err(fail(
                format!(
                    "this XML is not PSKC: the root element is <{}>, not a PSKC <KeyContainer>",
                    root.name
                ),
                root.line,
            ));
        }
        let line = root.line;
        let version = root
            .attr("Version")
            .or_else(|| root.attr("version"))
            .map(str::trim);
        let ns = root.ns;
        let ns_uri = root.ns_uri.clone();
        match ns {
            Some(Ns::Pskc) => {
                let Some(v) = version else {
                    return Err(fail("KeyContainer has no Version", line));
                };
                check_version(v, line)?;
            }
            Some(Ns::PskcDraft) => {
                if let Some(v) = version {
                    check_version(v, line)?;
                }
                self.st.skipped.inform(format!(
                    "read as a pre-RFC PSKC draft container (namespace {ns_uri})"
                ));
            }
            _ => {
                if let Some(v) = version {
                    check_version(v, line)?;
                }
                let shown = if ns_uri.is_empty() {
                    "no namespace".to_owned()
                } else {
                    format!("namespace {ns_uri}")
                };
                self.elements.adopt_root_namespace(Ns::Vendor);
                self.st.skipped.inform(format!(
                    "the <KeyContainer> is in {shown}, not PSKC's; read as PSKC because its structure is"
                ));
                self.vendor_ns = Some(shown);
            }
        }
        Ok(())
    }

    /// The end of the document: every problem found was returned already.
    fn finish(&mut self) -> Option<Result<Token, Error>> {
        self.done = true;
        if let Some(note) = self.st.serials.summary() {
            self.st.skipped.inform(note);
        }
        if let Some(shown) = &self.vendor_ns
            && self.packages == 0
        {
            return Some(Err(fail(
                format!(
                    "this XML is not PSKC: its <KeyContainer> is in {shown} and holds no KeyPackage"
                ),
                1,
            )));
        }
        if self.tokens == 0 && self.errors == 0 && self.st.skipped.is_empty() {
            return Some(Err(Error::new(ErrorKind::NoTokens)));
        }
        None
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
            if self.threads > 1 && !self.st.serials.ordered() && self.read_batch() {
                continue;
            }
            let child = match self.elements.next_child() {
                Ok(Some(c)) => c,
                Ok(None) => return self.finish(),
                Err(e) => {
                    self.done = true;
                    return Some(Err(from_xml(e)));
                }
            };
            let node = child.root();
            if node.ns() == Some(Ns::Ds) && node.name() == "Signature" {
                if !self.signature_verified {
                    self.st.skipped.inform(format!(
                        "the file is signed (ds:Signature): signed, not verified{}",
                        self.st.prompts.signature()
                    ));
                }
                continue;
            }
            if !node.ns().is_some_and(Ns::is_pskc) {
                continue; // extensions
            }
            let setup = match node.name() {
                "EncryptionKey" => self.st.encryption_key(node),
                "MACMethod" => self.st.mac_method(node),
                "EncryptionMethod" => self.st.draft_encryption(node),
                "DigestMethod" => self.st.draft_digest(node),
                "KeyPackage" | "Device" => {
                    self.packages += 1;
                    self.st.key_package(node);
                    self.st.pending.reverse();
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

fn check_version(v: &str, line: u64) -> Result<(), Error> {
    if v == VERSION {
        return Ok(());
    }
    let shown: String = v.chars().take(20).collect();
    Err(fail(
        format!(
            "KeyContainer Version is {shown:?}; this reader knows PSKC version 1.0 only \
             (RFC 6030 §4: a file of another version is refused)"
        ),
        line,
    ))
}

impl State {
    /// What a reading thread needs: the container's keys and settings,
    /// nothing read yet.
    fn worker(&self) -> Self {
        Self {
            keys: self.keys.clone(),
            prompts: self.prompts,
            max_iterations: self.max_iterations,
            prot: self.prot.clone(),
            serials: self.serials.fresh(),
            pending: Vec::new(),
            skipped: crate::Skips::default(),
        }
    }

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
        self.psk(node.child_text("KeyName").unwrap_or("unnamed"));
        Ok(())
    }

    fn psk(&mut self, name: &str) {
        if let Some(k) = &self.keys.psk {
            self.prot.key = Some(k.clone());
        } else {
            self.prot.missing_key = Some(format!(
                "the file is encrypted with a pre-shared key ({name}); {}",
                self.prompts.psk()
            ));
        }
    }

    /// The drafts' container-level `<EncryptionMethod algorithm="…">`, with
    /// an optional `<IV>`: `NONE`, an XML Encryption AES URI (a pre-shared
    /// key), or a `PBE-…` scheme.
    fn draft_encryption(&mut self, node: Node<'_>) -> Result<(), Error> {
        let alg = node
            .attr("Algorithm")
            .or_else(|| node.attr("algorithm"))
            .map(str::trim)
            .unwrap_or_default();
        if alg.eq_ignore_ascii_case("NONE") || alg.is_empty() {
            return Ok(());
        }
        let Some(cipher) = Cipher::from_uri(alg) else {
            let why = if alg.to_ascii_uppercase().contains("3DES") {
                " (Triple DES; oathvault reads AES only)"
            } else {
                ""
            };
            return Err(fail(
                format!("unsupported encryption algorithm {alg}{why}"),
                node.line(),
            ));
        };
        self.prot.encrypted = true;
        self.prot.draft_cipher = Some(cipher);
        if let Some(iv) = node.child_text("IV") {
            self.prot.draft_iv = Some(base64(iv, "IV", node)?);
        }
        self.psk("unnamed");
        Ok(())
    }

    /// The drafts' `<DigestMethod>`: an HMAC keyed with the encryption key.
    fn draft_digest(&mut self, node: Node<'_>) -> Result<(), Error> {
        let alg = node
            .attr("Algorithm")
            .or_else(|| node.attr("algorithm"))
            .map(str::trim)
            .unwrap_or_default();
        let mac = MacAlg::from_uri(alg).or_else(|| match alg.to_ascii_uppercase().as_str() {
            "HMAC-SHA1" => Some(MacAlg::Sha1),
            "HMAC-SHA256" => Some(MacAlg::Sha256),
            _ => None,
        });
        match mac {
            Some(m) => {
                self.prot.mac_alg_only = Some(m);
                Ok(())
            }
            None => Err(fail(
                format!("unsupported MAC algorithm {alg}"),
                node.line(),
            )),
        }
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
        if iterations > self.max_iterations {
            return Err(fail(
                format!(
                    "PBKDF2 IterationCount {iterations} is more than the {} this reader allows",
                    self.max_iterations
                ),
                params.line(),
            ));
        }
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
            // RFC 6030 says MasterKeyName; draft-ietf-keyprov-pskc-02 CarriedKeyName.
            let name = derived
                .child_text("MasterKeyName")
                .or_else(|| derived.child_text("CarriedKeyName"))
                .unwrap_or("passphrase");
            self.prot.missing_key = Some(format!(
                "the file is protected by a passphrase (named {name:?}); {}",
                self.prompts.passphrase()
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

    /// Adds the package's tokens (and problems) to `pending`, in file order.
    fn key_package(&mut self, pkg: Node<'_>) {
        let device = pkg.child("DeviceInfo").or_else(|| pkg.child("DeviceId"));
        for key in pkg.children("Key") {
            let result = self.key(device, key);
            match result {
                Ok(Some(t)) => self.pending.push(Ok(t)),
                Ok(None) => {}
                Err(e) => self.pending.push(Err(e)),
            }
        }
    }

    fn key(&mut self, device: Option<Node<'_>>, key: Node<'_>) -> Result<Option<Token>, Error> {
        let id = key
            .attr("Id")
            .or_else(|| key.attr("KeyId"))
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let alg = key
            .attr("Algorithm")
            .or_else(|| key.attr("KeyAlgorithm"))
            .unwrap_or("")
            .trim();
        let kind_name = alg
            .rsplit([':', '#'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        check_well_formed(key)?;
        let device_serial = device.and_then(|d| d.child_text("SerialNo"));
        let label = device_serial.or(id).unwrap_or("(no serial)");
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
        let Some(secret_node) = data(key, "Secret") else {
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
        let serial_text = self.serials.serial(device_serial, id).ok_or_else(|| {
            fail(
                format!(
                    "a key has no serial number (neither DeviceInfo/SerialNo nor Key/@Id); \
                     its secret decrypted and its MAC checked, but a token needs a serial{}",
                    self.prompts.serial()
                ),
                key.line(),
            )
        })?;
        let serial = Serial::new(&serial_text)
            .map_err(|e| Error::new(e).field("SerialNo").line(key.line()))?;
        let secret = Secret::new(secret.to_vec())
            .map_err(|e| Error::new(e).field("Secret").line(secret_node.line()))?;
        let (digits, hash) = parameters(key)?;
        let int = |name: &'static str| -> Result<Option<u64>, Error> {
            data(key, name)
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
            key_id: id.filter(|i| *i != serial_text.as_str()).map(str::to_owned),
        }))
    }
}

/// A value of a key's `Data`: `Data/<name>` (RFC 6030 and later drafts) or
/// the early drafts' `<Data Name="SECRET">` (`COUNTER`, `TIME`,
/// `TIME_INTERVAL`).
fn data<'t>(key: Node<'t>, name: &str) -> Option<Node<'t>> {
    if let Some(n) = key.child("Data").and_then(|d| d.child(name)) {
        return Some(n);
    }
    let legacy = match name {
        "Secret" => "SECRET",
        "Counter" => "COUNTER",
        "Time" => "TIME",
        "TimeInterval" => "TIME_INTERVAL",
        _ => return None,
    };
    key.children("Data").find(|d| {
        d.attr("Name")
            .is_some_and(|n| n.trim().eq_ignore_ascii_case(legacy))
    })
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Token, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_token()
            .map(|r| r.map_err(|e| e.in_file(self.file.as_ref())))
    }
}
