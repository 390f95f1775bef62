//! Opening inputs (file or stdin, with format detection) and writing outputs
//! atomically (temporary file, 0600, renamed on success).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Stdin, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use oathvault_formats::{Format, ReadOptions, TokenReader, detect, reader_with};
use zeroize::Zeroizing;

use crate::Failure;
use crate::args::InputArgs;

/// Counts bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    bar: ProgressBar,
    pending: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending += n as u64;
        if self.pending >= 1 << 20 || n == 0 {
            self.bar.inc(self.pending);
            self.pending = 0;
        }
        Ok(n)
    }
}

enum Source {
    File(File),
    Stdin(Stdin),
    /// A whole file read first (to verify its signature), wiped when dropped.
    Memory(Zeroizing<Vec<u8>>, usize),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::File(f) => f.read(buf),
            Self::Stdin(s) => s.read(buf),
            Self::Memory(bytes, at) => {
                let rest = bytes.get(*at..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                buf.get_mut(..n)
                    .unwrap_or_default()
                    .copy_from_slice(rest.get(..n).unwrap_or_default());
                *at += n;
                Ok(n)
            }
        }
    }
}

/// Reads the whole input and verifies its XML signature with the
/// certificate at `cert` before anything else reads it; the bytes to read
/// next, and a note saying how it was signed.
fn verified(mut source: Source, name: &str, cert: &Path) -> Result<(Source, Vec<String>), Failure> {
    use oathvault_formats::pskc::{SignerKey, verify_signature};
    let pem = std::fs::read_to_string(cert)
        .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
    let key = SignerKey::from_pem(&pem)
        .map_err(|e| Failure::Usage(format!("--verify-signature {}: {e}", cert.display())))?;
    let mut bytes = Zeroizing::new(Vec::new());
    source
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    let ok = verify_signature(&bytes, &key)
        .map_err(|e| anyhow!("{name}: XML signature refused: {e}; nothing was read"))?;
    let mut notes = vec![format!("signature verified ({})", ok.method)];
    notes.extend(ok.warnings.into_iter().map(|w| format!("warning: {w}")));
    Ok((Source::Memory(bytes, 0), notes))
}

/// Reads a secret from a file: the content without its final line break,
/// wiped when dropped.
pub fn secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>, Failure> {
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .with_context(|| format!("cannot read the {what} file {}", path.display()))?,
    );
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow!("the {what} file {} is not UTF-8 text", path.display()))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty() {
        return Err(anyhow!("the {what} file {} is empty", path.display()).into());
    }
    Ok(Zeroizing::new(text.to_owned()))
}

/// Reads a pre-shared key file: hex digits (spaces and line breaks ignored).
pub fn psk_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let text = secret_file(path, "pre-shared key")?;
    let key = oathvault_token::SecretEncoding::Hex
        .decode(&text)
        .map_err(|e| anyhow!("the pre-shared key file {}: {e}", path.display()))?;
    Ok(Zeroizing::new(key.expose().to_vec()))
}

/// Keys for protected inputs, from the input flags.
pub fn read_options(args: &InputArgs) -> Result<ReadOptions, Failure> {
    let mut o = ReadOptions::default();
    if let Some(p) = &args.psk_file {
        o.pskc.psk = Some(psk_file(p)?);
    }
    if let Some(p) = &args.passphrase_file {
        o.pskc.passphrase = Some(secret_file(p, "passphrase")?);
    }
    if let Some(t) = &args.duo_type {
        o.duo = Some(t.parse().map_err(Failure::Usage)?);
    }
    if let Some(s) = &args.serial_from {
        o.serial_from = Some(
            s.parse()
                .map_err(|e| Failure::Usage(format!("--serial-from: {e}")))?,
        );
    }
    Ok(o)
}

/// An opened seed file.
pub struct Input {
    pub name: Arc<str>,
    pub format: Format,
    pub bar: ProgressBar,
    /// Size in bytes, for files.
    pub len: Option<u64>,
    /// Keys for protected inputs.
    pub options: ReadOptions,
    reader: BufReader<Counting<Source>>,
}

impl Input {
    /// Opens the file (or stdin), detects the format unless forced.
    pub fn open(args: &InputArgs, show_progress: bool) -> Result<Self, Failure> {
        let is_stdin = args.input.as_os_str() == "-";
        let name: Arc<str> = Arc::from(if is_stdin {
            "<stdin>".to_owned()
        } else {
            args.input.display().to_string()
        });
        let (source, len) = if is_stdin {
            (Source::Stdin(io::stdin()), None)
        } else {
            let file = File::open(&args.input).with_context(|| format!("cannot open {name}"))?;
            let meta = file
                .metadata()
                .with_context(|| format!("cannot read {name}"))?;
            if meta.is_dir() {
                return Err(anyhow!("{name} is a directory, not a seed file").into());
            }
            (Source::File(file), Some(meta.len()))
        };
        let (source, signature_notes) = match &args.verify_signature {
            Some(cert) => verified(source, &name, cert)?,
            None => (source, Vec::new()),
        };
        let bar = if show_progress && len.is_some_and(|l| l > 4 << 20) {
            let bar = ProgressBar::new(len.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({eta})",
                )
                .map_or_else(
                    |_| ProgressStyle::default_bar(),
                    |s| s.progress_chars("=> "),
                ),
            );
            bar.set_message(format!("reading {name}"));
            bar
        } else {
            ProgressBar::hidden()
        };
        let mut reader = BufReader::with_capacity(
            256 * 1024,
            Counting {
                inner: source,
                bar: bar.clone(),
                pending: 0,
            },
        );
        let format = if let Some(f) = args.from {
            f.into()
        } else {
            let head = reader
                .fill_buf()
                .with_context(|| format!("cannot read {name}"))?;
            detect(head).map_err(|e| anyhow!("{name}: {e}"))?
        };
        let mut options = read_options(args)?;
        if args.verify_signature.is_some() {
            if format != Format::Pskc {
                return Err(Failure::Usage(format!(
                    "--verify-signature is for PSKC files; {name} is {format}"
                )));
            }
            options.signature_verified = true;
            for n in signature_notes {
                options.notes.inform(n);
            }
        }
        Ok(Self {
            name,
            format,
            bar,
            len,
            options,
            reader,
        })
    }

    /// The raw bytes (after detection, which consumed nothing).
    pub fn into_reader(self) -> impl io::Read + Send {
        self.reader
    }

    /// The tokens, streamed.
    pub fn tokens(self) -> TokenReader<'static> {
        reader_with(self.format, self.reader, Some(self.name), &self.options)
    }
}

/// Where converted output goes until it is complete.
pub enum Output {
    /// A temporary file beside the destination, renamed on commit.
    File {
        temp: tempfile::NamedTempFile,
        dest: PathBuf,
        /// Flushes to disk in the background while the output is written.
        syncer: Option<crate::early_sync::Syncer>,
    },
    /// Standard output: held in memory (wiped on drop) so that a refused
    /// conversion prints nothing.
    Stdout(Zeroizing<Vec<u8>>),
    /// A device or pipe, written in place (like standard output) at commit.
    Special {
        path: PathBuf,
        buf: Zeroizing<Vec<u8>>,
    },
}

impl Output {
    /// Prepares the destination (`None` or `-`: stdout).
    pub fn create(dest: Option<&Path>, force: bool) -> Result<Self, Failure> {
        let Some(dest) = dest.filter(|d| d.as_os_str() != "-") else {
            return Ok(Self::Stdout(Zeroizing::new(Vec::new())));
        };
        if let Ok(meta) = std::fs::metadata(dest) {
            if meta.is_dir() {
                return Err(anyhow!("{} is a directory", dest.display()).into());
            }
            if !meta.is_file() {
                // A device or a pipe (/dev/null, a FIFO): never replace it with
                // a renamed file; write into it once the output is complete.
                return Ok(Self::Special {
                    path: dest.to_path_buf(),
                    buf: Zeroizing::new(Vec::new()),
                });
            }
        }
        if dest.exists() && !force {
            return Err(Failure::Input(Some(anyhow!(
                "{} exists; pass --force to replace it",
                dest.display()
            ))));
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // tempfile creates files with mode 0600 on Unix.
        let temp = tempfile::Builder::new()
            .prefix(".oathvault-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        Ok(Self::File {
            temp,
            dest: dest.to_path_buf(),
            syncer: None,
        })
    }

    /// The writer to stream into.
    pub fn writer(&mut self) -> Box<dyn Write + '_> {
        match self {
            Self::File { temp, syncer, .. } => {
                if syncer.is_none() {
                    // Without a second thread the output is still synced at commit.
                    *syncer = crate::early_sync::Syncer::start(temp.as_file()).ok();
                }
                match syncer {
                    Some(s) => Box::new(io::BufWriter::with_capacity(
                        256 * 1024,
                        crate::early_sync::Writer {
                            file: temp.as_file(),
                            syncer: s,
                            since: 0,
                        },
                    )),
                    None => Box::new(io::BufWriter::with_capacity(256 * 1024, temp.as_file_mut())),
                }
            }
            Self::Stdout(buf) | Self::Special { buf, .. } => Box::new(&mut **buf),
        }
    }

    /// Makes the output visible: sync and rename, or print.
    pub fn commit(self) -> Result<(), Failure> {
        match self {
            Self::File { temp, dest, syncer } => {
                if let Some(s) = syncer {
                    s.finish().context("cannot flush the output to disk")?;
                }
                // The content is on disk before the name points at it.
                temp.as_file()
                    .sync_data()
                    .context("cannot flush the output to disk")?;
                temp.persist(&dest)
                    .map_err(|e| anyhow!("cannot write {}: {}", dest.display(), e.error))?;
                Ok(())
            }
            Self::Special { path, buf } => {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                f.write_all(&buf)
                    .and_then(|()| f.flush())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(())
            }
            Self::Stdout(buf) => {
                let mut out = io::stdout().lock();
                out.write_all(&buf)
                    .and_then(|()| out.flush())
                    .context("cannot write to standard output")?;
                Ok(())
            }
        }
    }

    /// Where the output goes, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::File { dest, .. } => dest.display().to_string(),
            Self::Stdout(_) => "standard output".into(),
            Self::Special { path, .. } => path.display().to_string(),
        }
    }
}
