//! The `MANIFEST` every delivery carries: what is in it (names, sizes,
//! SHA-256, token counts and serial ranges), for which order and
//! shipments, made when. It travels with a detached OpenPGP signature by
//! the vendor (`MANIFEST.asc`), so the customer can check that the files
//! are the vendor's and complete.
//!
//! JSON, one stable layout (`"manifest": "oathvault/1"`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::File;

/// The manifest's file name inside a package.
pub const NAME: &str = "MANIFEST";
/// The detached signature's file name inside a package.
pub const SIGNATURE: &str = "MANIFEST.asc";
/// The layout version written in every manifest.
pub const VERSION: &str = "oathvault/1";

/// One seed file as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// File name inside the package.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Seed-file format (`entra-csv`, `pskc`, …) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Number of tokens when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Lowest serial number (text order) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_serial: Option<String>,
    /// Highest serial number (text order) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_serial: Option<String>,
}

impl Entry {
    /// An entry for `file` with its size and hash; the token fields are the caller's.
    #[must_use]
    pub fn of(file: &File) -> Self {
        Self {
            name: file.name.clone(),
            bytes: u64::try_from(file.data.len()).unwrap_or(u64::MAX),
            sha256: sha256_hex(&file.data),
            format: None,
            tokens: None,
            first_serial: None,
            last_serial: None,
        }
    }
}

/// Lower-case hex SHA-256.
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(data))
}

/// A delivery's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`VERSION`]).
    pub manifest: String,
    /// When the package was made (RFC 3339, UTC).
    pub created: String,
    /// Who made it (the vendor), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The customer's order (PO number), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Shipment numbers covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipments: Vec<String>,
    /// The seed files.
    pub files: Vec<Entry>,
}

/// How a package's content differs from its manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// A listed file is not in the package.
    #[error("{0} is listed in the manifest but missing from the package")]
    Missing(String),
    /// A file in the package is not listed.
    #[error("{0} is in the package but not in the manifest")]
    Unlisted(String),
    /// A file's content is not what the manifest says.
    #[error("{0} does not match the manifest (SHA-256 or size differs)")]
    Changed(String),
}

impl Manifest {
    /// A manifest for `files`, made at `created` (Unix seconds, UTC).
    #[must_use]
    pub fn new(files: &[File], created: i64) -> Self {
        Self {
            manifest: VERSION.to_owned(),
            created: oathvault_otp::clock::rfc3339(created),
            vendor: None,
            order: None,
            shipments: Vec::new(),
            files: files.iter().map(Entry::of).collect(),
        }
    }

    /// The manifest as written into a package (pretty JSON, trailing newline).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parses a manifest.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let m: Self = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON ({e})"))?;
        if m.manifest != VERSION {
            return Err(format!(
                "manifest layout {:?} is not one this version reads ({VERSION})",
                m.manifest
            ));
        }
        Ok(m)
    }

    /// Every mismatch between the manifest and the seed `files` of a
    /// package (the manifest and its signature are not seed files).
    #[must_use]
    pub fn check(&self, files: &[File]) -> Vec<Mismatch> {
        let mut problems = Vec::new();
        for entry in &self.files {
            match files.iter().find(|f| f.name == entry.name) {
                None => problems.push(Mismatch::Missing(entry.name.clone())),
                Some(f) => {
                    let same = u64::try_from(f.data.len()).ok() == Some(entry.bytes)
                        && sha256_hex(&f.data) == entry.sha256.to_ascii_lowercase();
                    if !same {
                        problems.push(Mismatch::Changed(entry.name.clone()));
                    }
                }
            }
        }
        for f in files {
            if f.name != NAME && f.name != SIGNATURE && !self.files.iter().any(|e| e.name == f.name)
            {
                problems.push(Mismatch::Unlisted(f.name.clone()));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let files = vec![
            File::new("a.csv", b"x".to_vec()),
            File::new("b.xml", b"y".to_vec()),
        ];
        let mut m = Manifest::new(&files, 1_795_696_620);
        m.order = Some("PO-1".into());
        m.shipments = vec!["SHP-1".into()];
        let parsed = Manifest::parse(&m.to_bytes());
        assert_eq!(parsed.as_ref(), Ok(&m));
        assert_eq!(m.created, "2026-11-26T12:37:00Z");
        assert_eq!(
            m.files.first().map(|e| e.sha256.as_str()),
            Some("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")
        );
        assert!(m.check(&files).is_empty());
        let other = vec![
            File::new("a.csv", b"X".to_vec()),
            File::new("c.txt", Vec::new()),
            File::new(NAME, Vec::new()),
        ];
        assert_eq!(
            m.check(&other),
            vec![
                Mismatch::Changed("a.csv".into()),
                Mismatch::Missing("b.xml".into()),
                Mismatch::Unlisted("c.txt".into()),
            ]
        );
        assert!(
            Manifest::parse(b"{\"manifest\":\"other/9\",\"created\":\"\",\"files\":[]}").is_err()
        );
    }
}
