//! Delivery packages for seed files: WinZip AES-256 ZIP, OpenPGP and a
//! signed manifest, combined the way the portal offers them, and opened
//! again layer by layer.
//!
//! Bytes in, bytes out: this crate reads no files, no clock and no
//! environment. Times and randomness come from the caller. Passwords and
//! file contents live in zeroizing buffers.

mod error;
pub mod manifest;
pub mod package;
pub mod pgp;
pub mod zip;

pub use error::Error;

use zeroize::Zeroizing;

/// A password (ZIP or OpenPGP symmetric). `Debug` does not show it.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password; surrounding line breaks (from a password file) are removed.
    #[must_use]
    pub fn new(text: &str) -> Self {
        Self(Zeroizing::new(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        ))
    }

    /// The password's text.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A named file inside a package. `Debug` shows the name and size only.
pub struct File {
    /// The file's name (no directories).
    pub name: String,
    /// Its contents (seed files: wiped when dropped).
    pub data: Zeroizing<Vec<u8>>,
}

impl File {
    /// A file named `name` holding `data`.
    #[must_use]
    pub fn new(name: impl Into<String>, data: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            data: Zeroizing::new(data),
        }
    }
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("name", &self.name)
            .field("bytes", &self.data.len())
            .finish()
    }
}
