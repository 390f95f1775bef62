//! A seed file sent with a form (multipart): read whole, its format
//! recognised from the content, every token read off the async threads —
//! shared by the portal's import page and the help desk's upload.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use axum::extract::Multipart;
use oathvault_formats::{Format, ReadOptions, detect};
use zeroize::Zeroizing;

use oathvault_formats::ReadAll;

/// Problems listed on a page before the rest are only counted.
pub const PROBLEMS_SHOWN: usize = 50;

/// The first [`PROBLEMS_SHOWN`] problems and, when there are more, a line
/// counting the rest: every reader's problems at once, within a page.
#[must_use]
pub fn problem_lines(mut problems: Vec<String>) -> Vec<String> {
    let more = problems.len().saturating_sub(PROBLEMS_SHOWN);
    problems.truncate(PROBLEMS_SHOWN);
    if more > 0 {
        problems.push(format!("… and {more} more problem(s)"));
    }
    problems
}

/// What the signature of an uploaded file must be: a PSKC file must carry
/// an enveloped XML signature that `key` verifies, checked over the whole
/// file before any key is read; with `signed_only`, files that cannot carry
/// one (CSV, JSON) are refused too.
#[derive(Debug, Clone)]
pub struct SignatureRule {
    /// The signer's key, from a certificate the operator trusts.
    pub key: oathvault_formats::pskc::SignerKey,
    /// Refuse every file that is not a signed PSKC file.
    pub signed_only: bool,
}

/// The form: the file, the keys a protected PSKC file needs, and the other
/// (non-secret) fields by name.
#[derive(Default)]
pub struct SeedUpload {
    /// The file's name as the browser sent it.
    pub file_name: String,
    /// Its bytes (wiped when dropped).
    pub file: Zeroizing<Vec<u8>>,
    /// A PSKC pre-shared key, hex.
    pub psk: Zeroizing<String>,
    /// A PSKC password.
    pub passphrase: Zeroizing<String>,
    /// Every other field, trimmed.
    pub fields: HashMap<String, String>,
}

impl std::fmt::Debug for SeedUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedUpload")
            .field("file_name", &self.file_name)
            .field("bytes", &self.file.len())
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl SeedUpload {
    /// A field other than the file and the keys (`""` when absent).
    #[must_use]
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    fn options(&self) -> Result<ReadOptions, String> {
        let mut o = ReadOptions {
            prompts: oathvault_formats::pskc::Prompts::Form,
            ..ReadOptions::default()
        };
        if !self.psk.is_empty() {
            let key = oathvault_token::SecretEncoding::Hex
                .decode(&self.psk)
                .map_err(|e| format!("the pre-shared key: {e}"))?;
            o.pskc.psk = Some(Zeroizing::new(key.expose().to_vec()));
        }
        if !self.passphrase.is_empty() {
            o.pskc.passphrase = Some(self.passphrase.clone());
        }
        Ok(o)
    }

    /// Recognises the format and reads every token (off the async
    /// threads). `Err` when there is no file, its format cannot be read, or
    /// a key is malformed; problems in the file are in the [`ReadAll`].
    ///
    /// # Errors
    /// As above, in words naming the file.
    pub async fn read(&self) -> Result<(Format, ReadAll), String> {
        self.read_checked(None).await
    }

    /// As [`Self::read`], first checking the file's signature against
    /// `rule` when there is one. A signature refused (or missing, or a
    /// file that cannot be signed under `signed_only`) is the one problem
    /// in the [`ReadAll`], nothing read; one that verifies is a note.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub async fn read_checked(
        &self,
        rule: Option<&SignatureRule>,
    ) -> Result<(Format, ReadAll), String> {
        if self.file.is_empty() {
            return Err("the file is empty or missing".into());
        }
        let head = self
            .file
            .get(..self.file.len().min(64 << 10))
            .unwrap_or_default();
        let format = match detect(head) {
            Ok(f) if f.readable() => f,
            Ok(f) => {
                return Err(format!(
                    "{}: {} files cannot be read",
                    self.file_name,
                    f.name()
                ));
            }
            Err(e) => return Err(format!("{}: {e}", self.file_name)),
        };
        let mut opts = self.options()?;
        if let Some(rule) = rule {
            let refused = |why: String| ReadAll {
                problems: vec![format!("{}: {why}; nothing was read", self.file_name)],
                ..ReadAll::default()
            };
            if format == Format::Pskc {
                let (file, key) = (self.file.clone(), rule.key.clone());
                let checked = tokio::task::spawn_blocking(move || {
                    oathvault_formats::pskc::verify_signature(&file, &key)
                })
                .await
                .map_err(|_| "checking the signature failed".to_owned())?;
                match checked {
                    Ok(v) => {
                        opts.signature_verified = true;
                        opts.notes
                            .inform(format!("XML signature verified ({})", v.method));
                        for w in v.warnings {
                            opts.notes.inform(format!("warning: {w}"));
                        }
                    }
                    Err(e) => return Ok((format, refused(format!("XML signature refused: {e}")))),
                }
            } else if rule.signed_only {
                return Ok((
                    format,
                    refused(format!(
                        "{} files carry no signature, and this portal imports signed PSKC files only",
                        format.name()
                    )),
                ));
            }
        }
        let name: Arc<str> = Arc::from(self.file_name.as_str());
        let file = self.file.clone();
        let read = tokio::task::spawn_blocking(move || {
            oathvault_formats::read_all(format, Cursor::new(file.as_slice()), &name, &opts)
        })
        .await
        .map_err(|_| "reading the file failed".to_owned())?;
        Ok((format, read))
    }
}

/// Reads the form: the field `file`, `psk`, `passphrase`, and the rest.
///
/// # Errors
/// The upload was cut off or is not multipart.
pub async fn read_seed_upload(mut form: Multipart) -> Result<SeedUpload, String> {
    let mut up = SeedUpload::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        format!("the upload was cut off or malformed ({})", e.body_text())
    };
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            up.file_name = field.file_name().unwrap_or("upload").to_owned();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                up.file.extend_from_slice(&chunk);
            }
            continue;
        }
        let text = Zeroizing::new(field.text().await.map_err(bad)?);
        match name.as_str() {
            "psk" => up.psk = Zeroizing::new(text.trim().to_owned()),
            "passphrase" => up.passphrase = text,
            _ => {
                up.fields.insert(name, text.trim().to_owned());
            }
        }
    }
    Ok(up)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help desk's and the portal's forms: a PSKC message names the
    /// form's field, never a command-line flag; long lists are capped.
    #[test]
    fn pskc_messages_name_form_fields_and_lists_are_capped() {
        let xml = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../formats/testdata/pskc/rfc6030/figure6.pskcxml"
        ))
        .unwrap_or_default();
        assert!(!xml.is_empty());
        let up = SeedUpload {
            file_name: "figure6.xml".into(),
            file: Zeroizing::new(xml),
            ..SeedUpload::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, read) = rt.block_on(up.read()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.problems.len(), 1, "{:?}", read.problems);
        let p = &read.problems[0];
        assert!(p.contains("give it in the pre-shared key field"), "{p}");
        assert!(!p.contains("--"), "{p}");

        let many: Vec<String> = (0..120).map(|i| format!("line {i}: bad")).collect();
        let shown = problem_lines(many);
        assert_eq!(shown.len(), PROBLEMS_SHOWN + 1);
        assert_eq!(shown[PROBLEMS_SHOWN], "… and 70 more problem(s)");
        assert_eq!(problem_lines(vec!["one".into()]), ["one"]);
    }
}
