//! A delivery, layer by layer: seed files and a `MANIFEST` (with the
//! vendor's detached signature) in a ZIP — AES-256 when there is a
//! password — and the ZIP encrypted to the customer's OpenPGP key when
//! there is one. Opening peels the layers in the opposite order.

use std::io::{Read, Write};

use rand08::{CryptoRng, Rng, SeedableRng};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::manifest::{self, Entry, Manifest, Mismatch};
use crate::pgp::{self, Opened, PublicKey, SecretKey, SignatureProblem, Signer};
use crate::{Error, File, Password, zip};

/// How to seal a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Seal<'a> {
    /// AES-256 ZIP password.
    pub password: Option<&'a Password>,
    /// The customer's OpenPGP key: the ZIP is encrypted to it.
    pub recipient: Option<&'a PublicKey>,
    /// Without a recipient: the ZIP is encrypted with this password as
    /// OpenPGP (symmetric), for customers who open files with gpg alone.
    pub pgp_password: Option<&'a Password>,
    /// The vendor's signing key and its passphrase: the manifest is signed.
    pub signer: Option<(&'a SecretKey, &'a Password)>,
    /// Now (Unix seconds): ZIP dates and the recipient key's expiry check.
    pub now: i64,
}

/// A sealed delivery.
#[derive(Debug)]
pub struct Packed {
    /// The bytes to store or send.
    pub bytes: Vec<u8>,
    /// What the file name should end with: `zip` or `zip.pgp`.
    pub extension: &'static str,
}

/// What the file name of a delivery sealed this way should end with.
#[must_use]
pub fn extension(seal: &Seal<'_>) -> &'static str {
    if seal.recipient.is_some() || seal.pgp_password.is_some() {
        "zip.pgp"
    } else {
        "zip"
    }
}

/// Seals `files` with `manifest` (which must list them; see
/// [`Manifest::new`]), in memory. The recipient key is checked before
/// anything is made.
pub fn pack<R: Rng + CryptoRng>(
    rng: &mut R,
    files: &[File],
    manifest: &Manifest,
    seal: &Seal<'_>,
) -> Result<Packed, Error> {
    if let Some(m) = manifest.check(files).into_iter().next() {
        return Err(Error::Write(format!(
            "the manifest does not describe the files: {m}"
        )));
    }
    let sources = files
        .iter()
        .map(|f| Source {
            entry: manifest
                .files
                .iter()
                .find(|e| e.name == f.name)
                .cloned()
                .unwrap_or_else(|| Entry::of(f)),
            content: Box::new(f.data.as_slice()),
        })
        .collect();
    let mut bytes = Vec::new();
    pack_stream(rng, sources, manifest.clone(), seal, &mut bytes)?;
    Ok(Packed {
        bytes,
        extension: extension(seal),
    })
}

/// A seed file to pack, read once while it is packed.
pub struct Source<'a> {
    /// Its manifest entry: name, and format, token count and serial range
    /// when the caller knows them; size and SHA-256 are measured while packing.
    pub entry: Entry,
    /// Its content.
    pub content: Box<dyn Read + Send + 'a>,
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.entry.name)
            .finish_non_exhaustive()
    }
}

/// Seals `sources` into `out` with bounded memory: each file is read once,
/// hashed as it is zipped, and the manifest (from `manifest`'s vendor,
/// order, shipments and time, with one entry per source) is added last.
/// With a recipient or an OpenPGP password, the ZIP is made on a second thread and streamed into
/// the OpenPGP encryption through a small in-memory channel. On error,
/// `out` holds an incomplete delivery the caller must discard. Returns the
/// manifest written.
pub fn pack_stream<R: Rng + CryptoRng>(
    rng: &mut R,
    sources: Vec<Source<'_>>,
    manifest: Manifest,
    seal: &Seal<'_>,
    out: impl Write,
) -> Result<Manifest, Error> {
    for (i, s) in sources.iter().enumerate() {
        let name = &s.entry.name;
        if name == manifest::NAME || name == manifest::SIGNATURE {
            return Err(Error::UnsafeName(name.clone()));
        }
        if sources.iter().skip(i + 1).any(|t| t.entry.name == *name) {
            return Err(Error::DuplicateName(name.clone()));
        }
    }
    if seal.recipient.is_none() && seal.pgp_password.is_none() {
        return zip_all(rng, sources, manifest, seal, out);
    }
    if let Some(key) = seal.recipient {
        key.check_for_encryption(seal.now)?;
    }
    // The ZIP thread gets its own generator (for the signature), seeded from ours.
    let mut zip_rng =
        rand08::rngs::StdRng::from_rng(&mut *rng).map_err(|e| Error::Write(e.to_string()))?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Zeroizing<Vec<u8>>>(4);
    std::thread::scope(|scope| {
        let zipper = scope
            .spawn(move || zip_all(&mut zip_rng, sources, manifest, seal, pipe::Writer::new(tx)));
        let zip_stream = pipe::Reader::new(rx);
        let encrypted = match (seal.recipient, seal.pgp_password) {
            (Some(key), _) => pgp::encrypt_to(rng, key, seal.now, zip_stream, out),
            (None, Some(pw)) => pgp::encrypt_with_password(rng, pw, zip_stream, out),
            (None, None) => Ok(()),
        };
        let zip_result = zipper
            .join()
            .unwrap_or_else(|_| Err(Error::Write("the ZIP thread failed".into())));
        // A ZIP error explains a cut-short encryption; report it first.
        let manifest = zip_result?;
        encrypted.map(|()| manifest)
    })
}

/// The ZIP layer: every source, then `MANIFEST` and its signature.
fn zip_all<R: Rng + CryptoRng>(
    rng: &mut R,
    sources: Vec<Source<'_>>,
    mut manifest: Manifest,
    seal: &Seal<'_>,
    out: impl Write,
) -> Result<Manifest, Error> {
    let mut zip = zip::Writer::streaming(out, seal.password, seal.now);
    manifest.files.clear();
    for mut source in sources {
        let mut hashing = Hashing::new(&mut source.content);
        zip.add(&source.entry.name, &mut hashing)?;
        let (bytes, sha256) = hashing.finish();
        source.entry.bytes = bytes;
        source.entry.sha256 = sha256;
        manifest.files.push(source.entry);
    }
    let manifest_bytes = manifest.to_bytes();
    zip.add(manifest::NAME, &mut manifest_bytes.as_slice())?;
    if let Some((key, passphrase)) = seal.signer {
        let sig = key.sign_detached(rng, passphrase, &manifest_bytes)?;
        zip.add(manifest::SIGNATURE, &mut sig.as_bytes())?;
    }
    let mut out = zip.finish()?.into_inner();
    out.flush().map_err(|e| Error::Write(e.to_string()))?;
    Ok(manifest)
}

/// Counts and hashes what is read through it.
struct Hashing<'r> {
    inner: &'r mut dyn Read,
    sha: Sha256,
    bytes: u64,
}

impl<'r> Hashing<'r> {
    fn new(inner: &'r mut dyn Read) -> Self {
        Self {
            inner,
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (u64, String) {
        (
            self.bytes,
            data_encoding::HEXLOWER.encode(&self.sha.finalize()),
        )
    }
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = buf.get(..n).unwrap_or_default();
        self.sha.update(got);
        self.bytes += u64::try_from(n).unwrap_or(0);
        Ok(n)
    }
}

/// A bounded in-memory pipe between the ZIP thread and the OpenPGP
/// encryption; chunks (plaintext ZIP when there is no password) are wiped.
mod pipe {
    use std::io::{Read, Write};
    use std::sync::mpsc::{Receiver, SyncSender};

    use zeroize::Zeroizing;

    const CHUNK: usize = 256 * 1024;

    pub(super) struct Writer {
        tx: SyncSender<Zeroizing<Vec<u8>>>,
        buf: Zeroizing<Vec<u8>>,
    }

    impl Writer {
        pub(super) fn new(tx: SyncSender<Zeroizing<Vec<u8>>>) -> Self {
            Self {
                tx,
                buf: Zeroizing::new(Vec::with_capacity(CHUNK)),
            }
        }

        fn send(&mut self) -> std::io::Result<()> {
            if self.buf.is_empty() {
                return Ok(());
            }
            let full = std::mem::replace(&mut self.buf, Zeroizing::new(Vec::with_capacity(CHUNK)));
            self.tx.send(full).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the encryption stopped")
            })
        }
    }

    impl Write for Writer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            let room = CHUNK - self.buf.len();
            let n = data.len().min(room);
            self.buf
                .extend_from_slice(data.get(..n).unwrap_or_default());
            if self.buf.len() == CHUNK {
                self.send()?;
            }
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.send()
        }
    }

    pub(super) struct Reader {
        rx: Receiver<Zeroizing<Vec<u8>>>,
        cur: Zeroizing<Vec<u8>>,
        pos: usize,
    }

    impl Reader {
        pub(super) fn new(rx: Receiver<Zeroizing<Vec<u8>>>) -> Self {
            Self {
                rx,
                cur: Zeroizing::new(Vec::new()),
                pos: 0,
            }
        }
    }

    impl Read for Reader {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            while self.pos >= self.cur.len() {
                match self.rx.recv() {
                    Ok(chunk) => {
                        self.cur = chunk;
                        self.pos = 0;
                    }
                    // The ZIP thread finished (or failed; it reports that itself).
                    Err(_) => return Ok(0),
                }
            }
            let rest = self.cur.get(self.pos..).unwrap_or_default();
            let n = rest.len().min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.pos += n;
            Ok(n)
        }
    }
}

/// What opening a delivery may use.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unseal<'a> {
    /// ZIP password (also tried for an OpenPGP symmetric layer).
    pub password: Option<&'a Password>,
    /// The customer's secret key and its passphrase.
    pub key: Option<(&'a SecretKey, &'a Password)>,
    /// The vendor key the manifest signature must come from.
    pub vendor: Option<&'a PublicKey>,
}

/// One layer that was peeled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// OpenPGP, opened with a key or a password.
    Pgp(Opened),
    /// ZIP, with encrypted entries or not.
    Zip {
        /// Entries were encrypted.
        encrypted: bool,
    },
}

/// The manifest signature's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No `MANIFEST.asc`.
    Absent,
    /// A signature, not checked (no vendor key given).
    Unchecked,
    /// Good, by the vendor key given.
    Good(Signer),
    /// Does not check out against the vendor key given.
    Bad(SignatureProblem),
}

/// An opened delivery.
#[derive(Debug)]
pub struct Unpacked {
    /// Layers peeled, outermost first.
    pub layers: Vec<Layer>,
    /// The seed files (without `MANIFEST` and its signature).
    pub files: Vec<File>,
    /// The manifest, when the delivery has one.
    pub manifest: Option<Manifest>,
    /// The manifest signature.
    pub signature: SignatureStatus,
    /// How the files differ from the manifest (empty when they match).
    pub mismatches: Vec<Mismatch>,
}

impl Unpacked {
    /// True when the vendor's signature is good and the files match it.
    #[must_use]
    pub fn verified(&self) -> bool {
        matches!(self.signature, SignatureStatus::Good(_))
            && self.manifest.is_some()
            && self.mismatches.is_empty()
    }
}

/// Opens a delivery: OpenPGP (if any), then ZIP (if any), then checks the
/// manifest. `name` is the delivery's file name, used to name the content
/// of an OpenPGP file that holds no ZIP.
pub fn open(bytes: &[u8], name: &str, unseal: &Unseal<'_>) -> Result<Unpacked, Error> {
    let mut layers = Vec::new();
    let mut inner: Option<zeroize::Zeroizing<Vec<u8>>> = None;
    if pgp::is_pgp(bytes) {
        let (plain, how) = pgp::decrypt(bytes, unseal.key, unseal.password)?;
        layers.push(Layer::Pgp(how));
        inner = Some(plain);
    }
    let data = inner.as_deref().map_or(bytes, Vec::as_slice);
    let mut files = if zip::is_zip(data) {
        let unzipped = zip::read(data, unseal.password)?;
        layers.push(Layer::Zip {
            encrypted: unzipped.encrypted,
        });
        unzipped.files
    } else if layers.is_empty() {
        return Err(Error::BadZip(
            "neither a ZIP nor an OpenPGP message (a seed file itself? use convert or inspect)"
                .into(),
        ));
    } else {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let stem = [".pgp", ".gpg", ".asc"]
            .iter()
            .find_map(|ext| base.strip_suffix(ext))
            .unwrap_or(base);
        vec![File {
            name: if stem.is_empty() {
                "seeds".into()
            } else {
                stem.to_owned()
            },
            data: inner.unwrap_or_default(),
        }]
    };
    let take = |files: &mut Vec<File>, name: &str| {
        files
            .iter()
            .position(|f| f.name == name)
            .map(|i| files.remove(i))
    };
    let manifest_file = take(&mut files, manifest::NAME);
    let signature_file = take(&mut files, manifest::SIGNATURE);
    let manifest = manifest_file
        .as_ref()
        .map(|f| Manifest::parse(&f.data))
        .transpose()
        .map_err(Error::BadManifest)?;
    let mismatches = manifest
        .as_ref()
        .map(|m| m.check(&files))
        .unwrap_or_default();
    let signature = match (&signature_file, &manifest_file, unseal.vendor) {
        (None, _, _) | (Some(_), None, _) => SignatureStatus::Absent,
        (Some(_), Some(_), None) => SignatureStatus::Unchecked,
        (Some(sig), Some(m), Some(vendor)) => {
            match pgp::verify_detached(vendor, &sig.data, &m.data) {
                Ok(signer) => SignatureStatus::Good(signer),
                Err(problem) => SignatureStatus::Bad(problem),
            }
        }
    };
    Ok(Unpacked {
        layers,
        files,
        manifest,
        signature,
        mismatches,
    })
}
