//! A delivery, layer by layer: seed files and a `MANIFEST` (with the
//! vendor's detached signature) in a ZIP — AES-256 when there is a
//! password — and the ZIP encrypted to the customer's OpenPGP key when
//! there is one. Opening peels the layers in the opposite order.

use rand08::{CryptoRng, Rng};

use crate::manifest::{self, Manifest, Mismatch};
use crate::pgp::{self, Opened, PublicKey, SecretKey, SignatureProblem, Signer};
use crate::{Error, File, Password, zip};

/// How to seal a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Seal<'a> {
    /// AES-256 ZIP password.
    pub password: Option<&'a Password>,
    /// The customer's OpenPGP key: the ZIP is encrypted to it.
    pub recipient: Option<&'a PublicKey>,
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

/// Seals `files` with `manifest` (which must list them; see
/// [`Manifest::new`]). The recipient key is checked before anything is made.
pub fn pack<R: Rng + CryptoRng>(
    rng: &mut R,
    files: &[File],
    manifest: &Manifest,
    seal: &Seal<'_>,
) -> Result<Packed, Error> {
    for f in files {
        if f.name == manifest::NAME || f.name == manifest::SIGNATURE {
            return Err(Error::UnsafeName(f.name.clone()));
        }
        if files.iter().filter(|g| g.name == f.name).count() > 1 {
            return Err(Error::DuplicateName(f.name.clone()));
        }
    }
    if let Some(m) = manifest.check(files).into_iter().next() {
        return Err(Error::Write(format!(
            "the manifest does not describe the files: {m}"
        )));
    }
    if let Some(key) = seal.recipient {
        key.check_for_encryption(seal.now)?;
    }
    let manifest_bytes = manifest.to_bytes();
    let mut zip = zip::Writer::new(std::io::Cursor::new(Vec::new()), seal.password, seal.now);
    for f in files {
        zip.add(&f.name, &mut f.data.as_slice())?;
    }
    zip.add(manifest::NAME, &mut manifest_bytes.as_slice())?;
    if let Some((key, passphrase)) = seal.signer {
        let sig = key.sign_detached(rng, passphrase, &manifest_bytes)?;
        zip.add(manifest::SIGNATURE, &mut sig.as_bytes())?;
    }
    let zipped = zip.finish()?.into_inner();
    match seal.recipient {
        None => Ok(Packed {
            bytes: zipped,
            extension: "zip",
        }),
        Some(key) => {
            let mut out = Vec::with_capacity(zipped.len() + 1024);
            pgp::encrypt_to(rng, key, seal.now, zipped.as_slice(), &mut out)?;
            Ok(Packed {
                bytes: out,
                extension: "zip.pgp",
            })
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
        .map_err(Error::BadZip)?;
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
