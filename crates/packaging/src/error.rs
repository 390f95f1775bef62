//! Why a package could not be made or opened. Messages name files and
//! keys, never contents or passwords.

/// A packaging error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ZIP needs a password and none was given.
    #[error("{entry} in the ZIP is encrypted: a password is needed (--password-file)")]
    PasswordRequired {
        /// The first encrypted entry.
        entry: String,
    },
    /// The ZIP password is wrong.
    #[error("wrong password for the ZIP")]
    WrongPassword,
    /// An entry's content fails its integrity check (AES authentication
    /// code or CRC).
    #[error(
        "{entry} in the ZIP fails its integrity check — the file was changed or damaged after it was made"
    )]
    Tampered {
        /// The entry.
        entry: String,
    },
    /// The ZIP ends early.
    #[error("the ZIP is truncated: {0}")]
    Truncated(String),
    /// Not a ZIP, or one that cannot be read.
    #[error("not a readable ZIP: {0}")]
    BadZip(String),
    /// An entry name that could escape the output directory or is not a plain name.
    #[error("the ZIP holds an unsafe file name {0:?} (absolute, with `..`, or not a plain name)")]
    UnsafeName(String),
    /// Two entries with the same name.
    #[error("the ZIP holds {0:?} twice")]
    DuplicateName(String),
    /// The content is larger than this tool accepts.
    #[error("{entry} unpacks to more than {limit} bytes; refusing (a ZIP bomb?)")]
    TooLarge {
        /// The entry.
        entry: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// More entries than any delivery holds.
    #[error("the ZIP holds {entries} entries; more than {limit} is refused (a ZIP bomb?)")]
    TooManyEntries {
        /// Entries in the archive.
        entries: usize,
        /// The limit.
        limit: usize,
    },
    /// A ZIP method this tool does not read.
    #[error("{entry}: {what} is not supported")]
    Unsupported {
        /// The entry.
        entry: String,
        /// What is not supported.
        what: String,
    },
    /// The delivery's `MANIFEST` cannot be read.
    #[error("the delivery's MANIFEST: {0}")]
    BadManifest(String),
    /// Writing the package failed.
    #[error("cannot write the package: {0}")]
    Write(String),
    /// An OpenPGP key problem.
    #[error(transparent)]
    Key(#[from] crate::pgp::KeyProblem),
    /// An OpenPGP message problem.
    #[error(transparent)]
    Message(#[from] crate::pgp::MessageProblem),
    /// The manifest's signature does not check out.
    #[error("the MANIFEST signature: {0}")]
    Signature(#[from] crate::pgp::SignatureProblem),
}
