//! The master keyring: every master key still in use, oldest first; the
//! newest seals, any of them opens.
//!
//! Each value sealed or wrapped under the ring starts with a small header
//! that names the master key (its public id), so a rotation can tell what is
//! still under an old key and retire that key only when nothing is. Values
//! sealed before the ring existed carry no header; they open under whichever
//! key of the ring opens them, and a rotation re-seals them with one.
//!
//! A ring read from a file follows the file: before each use it looks at the
//! file's size, time and inode and reads it again when they changed, so a
//! running server picks up a key that `rotate-key` added and never seals
//! under a key that was retired. A key file that its group or others can
//! read is refused, as ssh refuses such a private key.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rand08::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::{DataKey, Error, MasterKey};

/// The header's first bytes: "OVK" and the layout version.
const MAGIC: &[u8; 4] = b"OVK\x01";
/// Magic and the 8-byte key id.
const HEADER: usize = MAGIC.len() + 8;

/// What the file's metadata looked like when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode,
    })
}

/// The keys, oldest first (never empty).
struct Ring {
    keys: Vec<MasterKey>,
}

impl Ring {
    fn newest(&self) -> Option<&MasterKey> {
        self.keys.last()
    }

    fn by_id(&self, id: &[u8]) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.raw_id().as_slice() == id)
    }
}

struct Watched {
    ring: Arc<Ring>,
    stamp: Option<Stamp>,
}

/// The master keyring. Cheap to clone (clones share one ring and its file).
#[derive(Clone)]
pub struct Keyring {
    state: Arc<RwLock<Watched>>,
    file: Option<Arc<PathBuf>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring({})", self.ids().join(", "))
    }
}

/// Reads a keyring file's content: one key per line (64 hexadecimal
/// digits), oldest first; blank lines and lines starting with `#` ignored.
fn parse(content: &[u8]) -> Result<Ring, Error> {
    let text = std::str::from_utf8(content).map_err(|_| Error::BadMasterKey)?;
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = MasterKey::from_file(line.as_bytes())?;
        if keys.iter().any(|k: &MasterKey| k.id() == key.id()) {
            continue;
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(Error::BadMasterKey);
    }
    Ok(Ring { keys })
}

/// Refuses a key file that anyone but its owner can read or write.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::Unprotected {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), Error> {
    Ok(())
}

impl Keyring {
    fn of(ring: Ring, file: Option<PathBuf>, stamp: Option<Stamp>) -> Self {
        Self {
            state: Arc::new(RwLock::new(Watched {
                ring: Arc::new(ring),
                stamp,
            })),
            file: file.map(Arc::new),
        }
    }

    /// A ring of one fresh random key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self::of(
            Ring {
                keys: vec![MasterKey::generate(rng)],
            },
            None,
            None,
        )
    }

    /// Reads a keyring file's content (what [`Keyring::to_file`] writes; a
    /// file of one key, as written before rings existed, is a ring of one).
    pub fn from_file(content: &[u8]) -> Result<Self, Error> {
        Ok(Self::of(parse(content)?, None, None))
    }

    /// Opens the keyring file at `path` and follows it: a change to the file
    /// (a rotation adding or retiring a key) is picked up before the next use.
    /// Refused when the group or others may read or write the file.
    pub fn open_file(path: &Path) -> Result<Self, Error> {
        check_private(path)?;
        let before = stamp(path);
        let content = Zeroizing::new(std::fs::read(path).map_err(|e| Error::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?);
        Ok(Self::of(parse(&content)?, Some(path.to_path_buf()), before))
    }

    /// The file this ring follows, if any.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.file.as_deref().map(PathBuf::as_path)
    }

    /// Reads the file again if it changed; a file that cannot be read now
    /// leaves the ring as it was.
    fn refresh(&self, force: bool) {
        let Some(path) = self.file.as_deref() else {
            return;
        };
        let now = stamp(path);
        let changed = {
            let guard = self
                .state
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            force || guard.stamp != now
        };
        if !changed {
            return;
        }
        let Ok(content) = std::fs::read(path).map(Zeroizing::new) else {
            return;
        };
        if let Ok(ring) = parse(&content) {
            let mut guard = self
                .state
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.ring = Arc::new(ring);
            guard.stamp = now;
        }
    }

    fn ring(&self) -> Arc<Ring> {
        self.refresh(false);
        let guard = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&guard.ring)
    }

    /// The keyring file's content: a comment line, then one key per line,
    /// oldest first.
    #[must_use]
    pub fn to_file(&self) -> Zeroizing<String> {
        let ring = self.ring();
        let mut s = Zeroizing::new(String::from(
            "# oathvault master keyring: one key per line, oldest first; the last one seals\n",
        ));
        for k in &ring.keys {
            s.push_str(k.to_file().as_str());
        }
        s
    }

    /// The id of the key that seals now (the newest).
    #[must_use]
    pub fn id(&self) -> String {
        self.ring().newest().map(MasterKey::id).unwrap_or_default()
    }

    /// The ids of every key in the ring, oldest first.
    #[must_use]
    pub fn ids(&self) -> Vec<String> {
        self.ring().keys.iter().map(MasterKey::id).collect()
    }

    /// A new ring: this one with a fresh key added as the newest (not
    /// written anywhere; the caller saves it with [`Keyring::to_file`]).
    #[must_use]
    pub fn with_new_key(&self, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let held = self.ring();
        let mut keys: Vec<MasterKey> = held.keys.iter().map(MasterKey::clone_key).collect();
        keys.push(MasterKey::generate(rng));
        Self::of(Ring { keys }, None, None)
    }

    /// A new ring holding only the newest key of this one.
    #[must_use]
    pub fn newest_only(&self) -> Self {
        let ring = self.ring();
        let keys = ring
            .newest()
            .map(MasterKey::clone_key)
            .into_iter()
            .collect();
        Self::of(Ring { keys }, None, None)
    }

    /// The id of the key a sealed or wrapped value names in its header
    /// (`None` for a value sealed before keyrings, which names none).
    #[must_use]
    pub fn key_id_of(sealed: &[u8]) -> Option<String> {
        let (magic, rest) = sealed.split_at_checked(MAGIC.len())?;
        if magic != MAGIC {
            return None;
        }
        let id = rest.get(..8)?;
        Some(data_encoding::HEXLOWER.encode(id))
    }

    fn header(key: &MasterKey, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&key.raw_id());
        out.extend_from_slice(body);
        out
    }

    /// Runs `open` with the key the value names, or — for a value without a
    /// header, or when the named key opens nothing — with every key of the
    /// ring. A key this ring does not hold makes it look at its file again
    /// (another process may have just added it).
    fn opening<T>(
        &self,
        sealed: &[u8],
        open: impl Fn(&MasterKey, &[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if let Some((magic, rest)) = sealed.split_at_checked(MAGIC.len())
            && magic == MAGIC
            && let Some((id, body)) = rest.split_at_checked(8)
        {
            let mut ring = self.ring();
            if ring.by_id(id).is_none() {
                self.refresh(true);
                ring = self.ring();
            }
            if let Some(key) = ring.by_id(id)
                && let Ok(v) = open(key, body)
            {
                return Ok(v);
            }
        }
        let ring = self.ring();
        let mut last = Error::Open;
        for key in ring.keys.iter().rev() {
            match open(key, sealed) {
                Ok(v) => return Ok(v),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Seals a secret that belongs to no shipment under the newest key,
    /// bound to `purpose`.
    pub fn seal(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        purpose: &str,
        secret: &[u8],
    ) -> Vec<u8> {
        let held = self.ring();
        let Some(key) = held.newest() else {
            return Vec::new();
        };
        Self::header(key, &key.seal(rng, purpose, secret))
    }

    /// Opens what [`Keyring::seal`] (or a single master key before rings)
    /// sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.opening(sealed, |k, body| k.open(purpose, body))
    }

    /// Wraps `key` for the shipment or file `owner` under the newest key.
    pub fn wrap(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        key: &DataKey,
        owner: &str,
    ) -> Vec<u8> {
        let held = self.ring();
        let Some(master) = held.newest() else {
            return Vec::new();
        };
        Self::header(master, &master.wrap(rng, key, owner))
    }

    /// Unwraps a data key of `owner`.
    pub fn unwrap(&self, wrapped: &[u8], owner: &str) -> Result<DataKey, Error> {
        self.opening(wrapped, |k, body| k.unwrap(body, owner))
    }

    /// HMAC-SHA-256 of `data` under a key derived from the newest master key
    /// for `purpose`, hex.
    #[must_use]
    pub fn mac(&self, purpose: &str, data: &[u8]) -> String {
        self.ring()
            .newest()
            .map(|k| k.mac(purpose, data))
            .unwrap_or_default()
    }

    /// Opens a sealed value and seals it again under the newest key; `None`
    /// when it already names the newest key.
    pub fn reseal(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        purpose: &str,
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        if Self::key_id_of(sealed).is_some_and(|id| id == self.id()) {
            return Ok(None);
        }
        let plain = self.open(purpose, sealed)?;
        Ok(Some(self.seal(rng, purpose, &plain)))
    }

    /// Unwraps a data key and wraps it again under the newest key; `None`
    /// when it already names the newest key.
    pub fn rewrap(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        owner: &str,
        wrapped: &[u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        if Self::key_id_of(wrapped).is_some_and(|id| id == self.id()) {
            return Ok(None);
        }
        let data = self.unwrap(wrapped, owner)?;
        Ok(Some(self.wrap(rng, &data, owner)))
    }
}

#[cfg(test)]
mod tests {
    use rand08::SeedableRng;
    use rand08::rngs::StdRng;

    use super::*;

    #[test]
    fn the_newest_key_seals_and_every_key_opens() {
        let mut rng = StdRng::seed_from_u64(11);
        let one = Keyring::generate(&mut rng);
        let old = one.seal(&mut rng, "p", b"secret one");
        assert_eq!(Keyring::key_id_of(&old), Some(one.id()));
        let two = one.with_new_key(&mut rng);
        assert_eq!(two.ids().len(), 2);
        assert_ne!(two.id(), one.id());
        let new = two.seal(&mut rng, "p", b"secret two");
        assert_eq!(Keyring::key_id_of(&new), Some(two.id()));
        assert_eq!(
            two.open("p", &old).ok().as_deref().map(Vec::as_slice),
            Some(&b"secret one"[..])
        );
        assert_eq!(one.open("p", &new).err(), Some(Error::Open));
        assert_eq!(two.open("q", &old).err(), Some(Error::Open));

        let moved = two
            .reseal(&mut rng, "p", &old)
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(Keyring::key_id_of(&moved), Some(two.id()));
        assert!(matches!(two.reseal(&mut rng, "p", &moved), Ok(None)));
        let only = two.newest_only();
        assert_eq!(only.ids(), vec![two.id()]);
        assert_eq!(
            only.open("p", &moved).ok().as_deref().map(Vec::as_slice),
            Some(&b"secret one"[..])
        );
        assert_eq!(only.open("p", &old).err(), Some(Error::Open));

        let data = DataKey::generate(&mut rng);
        let wrapped = one.wrap(&mut rng, &data, "S1");
        let rewrapped = two
            .rewrap(&mut rng, "S1", &wrapped)
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(only.unwrap(&rewrapped, "S1").is_ok());
        assert!(only.unwrap(&wrapped, "S1").is_err());
    }

    #[test]
    fn values_sealed_before_rings_still_open() {
        let mut rng = StdRng::seed_from_u64(12);
        let single = MasterKey::generate(&mut rng);
        let legacy = single.seal(&mut rng, "p", b"from before");
        let two = Keyring::from_file(single.to_file().as_bytes())
            .map(|r| r.with_new_key(&mut rng))
            .ok();
        let opened = two.as_ref().and_then(|r| r.open("p", &legacy).ok());
        assert_eq!(
            opened.as_deref().map(Vec::as_slice),
            Some(&b"from before"[..])
        );
        assert_eq!(Keyring::key_id_of(&legacy), None);
    }

    #[test]
    fn files_round_trip_and_a_followed_file_is_read_again() {
        let mut rng = StdRng::seed_from_u64(13);
        let dir = std::env::temp_dir().join(format!("ov-keyring-{}", rng.next_u64()));
        std::fs::create_dir_all(&dir).ok();
        let path = dir.join("master.key");
        let one = Keyring::generate(&mut rng);
        write_private(&path, &one.to_file());
        let followed = Keyring::open_file(&path);
        assert_eq!(followed.as_ref().map(Keyring::id).ok(), Some(one.id()));
        let two = one.with_new_key(&mut rng);
        write_private(&path, &two.to_file());
        assert_eq!(followed.as_ref().map(Keyring::ids).ok(), Some(two.ids()));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).ok();
            let refused = Keyring::open_file(&path).err();
            assert_eq!(
                refused.map(|e| e.to_string()),
                Some(format!(
                    "{} can be read or written by others (mode 0644); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ))
            );
        }
        std::fs::remove_dir_all(&dir).ok();
        assert!(Keyring::from_file(b"# only a comment\n").is_err());
        let shown = format!("{two:?}");
        assert!(!shown.contains(two.to_file().lines().nth(1).unwrap_or("x")));
    }

    fn write_private(path: &Path, content: &str) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, content).ok();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).ok();
        }
        std::fs::rename(&tmp, path).ok();
    }
}
