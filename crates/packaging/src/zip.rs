//! ZIP layer: WinZip AES-256 (AE-2) entries when a password is given,
//! plain deflated entries otherwise. Reading also takes AES-128/192 and
//! legacy `ZipCrypto` (never written).
//!
//! Info-ZIP `unzip` 6.0 cannot open AES entries; 7-Zip, WinZip, macOS
//! Archive Utility (recent) and Python's `pyzipper` can.

use std::io::{Cursor, Read, Seek, Write};

use zeroize::Zeroizing;
use zip::result::ZipError;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{AesMode, CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::{Error, File, Password};
use oathvault_otp::clock::civil;

/// Largest entry [`read`] unpacks (seed files are far smaller).
pub const MAX_ENTRY: u64 = 1 << 30;
/// Largest total [`read`] unpacks, all entries together.
pub const MAX_TOTAL: u64 = 2 << 30;
/// Most entries [`read`] accepts (a delivery holds a handful).
pub const MAX_ENTRIES: usize = 1000;

/// True when `bytes` start like a ZIP (local file header or empty archive).
#[must_use]
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

fn dos_time(unix: i64) -> DateTime {
    let c = civil(unix);
    // ZIP can store 1980–2107; clamp rather than fail on odd clocks.
    let year = u16::try_from(c.year.clamp(1980, 2107)).unwrap_or(1980);
    DateTime::from_date_and_time(year, c.month, c.day, c.hour, c.minute, c.second)
        .unwrap_or_default()
}

fn write_err(e: impl std::fmt::Display) -> Error {
    Error::Write(e.to_string())
}

/// Writes a ZIP entry by entry, streaming each entry's content.
pub struct Writer<'p, W: Write + Seek> {
    zip: ZipWriter<W>,
    options: SimpleFileOptions,
    password: Option<&'p Password>,
}

impl<W: Write + Seek> std::fmt::Debug for Writer<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("zip::Writer")
            .field("encrypted", &self.password.is_some())
            .finish_non_exhaustive()
    }
}

fn options(modified: i64) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(dos_time(modified))
        .unix_permissions(0o600)
        .large_file(false)
}

impl<'p, W: Write> Writer<'p, StreamWriter<W>> {
    /// A ZIP streamed into `out`, which need not seek: each entry's sizes
    /// follow it in a data descriptor. Otherwise as [`Writer::new`].
    pub fn streaming(out: W, password: Option<&'p Password>, modified: i64) -> Self {
        Self {
            zip: ZipWriter::new_stream(out),
            options: options(modified),
            password,
        }
    }
}

impl<'p, W: Write + Seek> Writer<'p, W> {
    /// A ZIP into `out`; entries are AES-256 encrypted with `password` when
    /// given, and dated `modified` (Unix seconds, UTC).
    pub fn new(out: W, password: Option<&'p Password>, modified: i64) -> Self {
        Self {
            zip: ZipWriter::new(out),
            options: options(modified),
            password,
        }
    }

    /// Adds an entry named `name` with the content read from `content`.
    pub fn add(&mut self, name: &str, content: &mut dyn Read) -> Result<(), Error> {
        check_name(name)?;
        let options = match self.password {
            // A fresh random salt per entry (never the fixed-salt variant).
            Some(p) => self
                .options
                .with_aes_encryption(AesMode::Aes256, p.expose()),
            None => self.options,
        };
        self.zip.start_file(name, options).map_err(write_err)?;
        std::io::copy(content, &mut self.zip).map_err(write_err)?;
        Ok(())
    }

    /// Writes the central directory and returns the output.
    pub fn finish(self) -> Result<W, Error> {
        self.zip.finish().map_err(write_err)
    }
}

/// A whole ZIP in memory from `files`.
pub fn write(files: &[File], password: Option<&Password>, modified: i64) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new(Cursor::new(Vec::new()), password, modified);
    for f in files {
        w.add(&f.name, &mut f.data.as_slice())?;
    }
    Ok(w.finish()?.into_inner())
}

/// A plain file name: no directories, nothing that could leave the output directory.
fn check_name(name: &str) -> Result<(), Error> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control);
    if bad {
        return Err(Error::UnsafeName(name.to_owned()));
    }
    Ok(())
}

fn open_err(bytes: &[u8], e: &ZipError) -> Error {
    match e {
        ZipError::InvalidArchive(_) | ZipError::Io(_) if bytes.starts_with(b"PK\x03\x04") => {
            Error::Truncated("its directory at the end is missing or cut short".into())
        }
        other => Error::BadZip(other.to_string()),
    }
}

/// The files of a ZIP, and whether any was encrypted.
#[derive(Debug)]
pub struct Unzipped {
    /// The files, in the archive's order.
    pub files: Vec<File>,
    /// True when entries were encrypted (AES or `ZipCrypto`).
    pub encrypted: bool,
}

/// Unpacks every file of the ZIP `bytes` (directories are skipped; a file
/// in a folder keeps its last name component). A wrong password, a changed
/// or truncated file, unsafe or duplicate names and oversized entries are
/// distinct errors, and nothing is returned unless everything unpacked.
pub fn read(bytes: &[u8], password: Option<&Password>) -> Result<Unzipped, Error> {
    let mut any_encrypted = false;
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| open_err(bytes, &e))?;
    if archive.len() > MAX_ENTRIES {
        return Err(Error::TooManyEntries {
            entries: archive.len(),
            limit: MAX_ENTRIES,
        });
    }
    let mut files: Vec<File> = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let (name, encrypted, is_dir) = {
            let raw = archive.by_index_raw(i).map_err(|e| open_err(bytes, &e))?;
            let name = raw
                .name()
                .map_err(|e| Error::BadZip(e.to_string()))?
                .into_owned();
            if raw.enclosed_name().is_none() {
                return Err(Error::UnsafeName(name));
            }
            (name, raw.encrypted(), raw.is_dir())
        };
        if is_dir {
            continue;
        }
        any_encrypted |= encrypted;
        let base = name.rsplit(['/', '\\']).next().unwrap_or(&name).to_owned();
        check_name(&base)?;
        if files.iter().any(|f| f.name == base) {
            return Err(Error::DuplicateName(base));
        }
        let entry = match (encrypted, password) {
            (true, None) => return Err(Error::PasswordRequired { entry: name }),
            (true, Some(p)) => archive.by_index_decrypt(i, p.expose().as_bytes()),
            (false, _) => archive.by_index(i),
        };
        let mut entry = entry.map_err(|e| match e {
            ZipError::InvalidPassword => Error::WrongPassword,
            ZipError::UnsupportedArchive(what) => Error::Unsupported {
                entry: name.clone(),
                what: what.to_owned(),
            },
            ZipError::CompressionMethodNotSupported(m) => Error::Unsupported {
                entry: name.clone(),
                what: format!("compression method {m}"),
            },
            other => open_err(bytes, &other),
        })?;
        let mut data = Zeroizing::new(Vec::new());
        let room = MAX_ENTRY.min(MAX_TOTAL.saturating_sub(total));
        let read = (&mut entry)
            .take(room + 1)
            .read_to_end(&mut data)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Error::Truncated(format!("{name} ends early")),
                _ => Error::Tampered {
                    entry: name.clone(),
                },
            })?;
        let read = u64::try_from(read).unwrap_or(u64::MAX);
        if read > room {
            return Err(Error::TooLarge {
                entry: name,
                limit: if room < MAX_ENTRY {
                    MAX_TOTAL
                } else {
                    MAX_ENTRY
                },
            });
        }
        total = total.saturating_add(read);
        files.push(File { name: base, data });
    }
    Ok(Unzipped {
        files,
        encrypted: any_encrypted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<File> {
        vec![
            File::new("seeds.csv", b"upn,serial number,secret key\n".repeat(100)),
            File::new("MANIFEST", b"{}".to_vec()),
        ]
    }

    #[test]
    fn plain_and_aes_round_trip() {
        let pw = Password::new("correct horse battery staple\n");
        for password in [None, Some(&pw)] {
            let zip = write(&sample(), password, 1_795_696_620).unwrap_or_default();
            assert!(is_zip(&zip));
            let back = read(&zip, password).map(|u| u.files).unwrap_or_default();
            assert_eq!(back.len(), 2);
            for (a, b) in back.iter().zip(sample()) {
                assert_eq!(
                    (a.name.as_str(), a.data.as_slice()),
                    (b.name.as_str(), b.data.as_slice())
                );
            }
        }
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let pw = Password::new("right");
        let zip = write(&sample(), Some(&pw), 0).unwrap_or_default();
        assert!(matches!(
            read(&zip, None),
            Err(Error::PasswordRequired { .. })
        ));
        assert!(matches!(
            read(&zip, Some(&Password::new("wrong"))),
            Err(Error::WrongPassword)
        ));
        let cut = zip.get(..zip.len() / 2).unwrap_or_default();
        assert!(
            matches!(read(cut, Some(&pw)), Err(Error::Truncated(_))),
            "{:?}",
            read(cut, Some(&pw))
        );
        // Flip a byte inside the first entry's encrypted data (after its
        // 30-byte header, name, AES extra field, salt and verifier).
        let mut changed = zip.clone();
        if let Some(b) = changed.get_mut(90) {
            *b ^= 1;
        }
        let result = read(&changed, Some(&pw));
        assert!(matches!(result, Err(Error::Tampered { .. })), "{result:?}");
        assert!(matches!(read(b"hello", None), Err(Error::BadZip(_))));
    }

    #[test]
    fn too_many_entries_are_refused_before_any_is_read() {
        let many: Vec<File> = (0..=MAX_ENTRIES)
            .map(|i| File::new(format!("f{i}.txt"), vec![b'x']))
            .collect();
        let zip = write(&many, None, 0).unwrap_or_default();
        assert!(
            matches!(
                read(&zip, None),
                Err(Error::TooManyEntries { entries, limit }) if entries == MAX_ENTRIES + 1 && limit == MAX_ENTRIES
            ),
            "{:?}",
            read(&zip, None).map(|u| u.files.len())
        );
    }

    #[test]
    fn unsafe_names_are_refused_both_ways() {
        for name in ["../x", "a/b", "", "..", "c\\d"] {
            let result = write(&[File::new(name, vec![1])], None, 0);
            assert!(matches!(result, Err(Error::UnsafeName(_))), "{name:?}");
        }
    }
}
