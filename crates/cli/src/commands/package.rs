//! `oathvault pack`, `open` and `key`: deliveries (ZIP, OpenPGP, signed
//! manifest) made and opened; customers' keys checked.

use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use oathvault_formats::{Format, detect, reader};
use oathvault_otp::clock::rfc3339;
use oathvault_packaging::manifest::{Entry, Manifest};
use oathvault_packaging::package::{self, Layer, Seal, SignatureStatus, Source, Unpacked, Unseal};
use oathvault_packaging::pgp::{KeyInfo, Opened, PublicKey, SecretKey};
use oathvault_packaging::{File, Password};
use zeroize::Zeroizing;

use super::now;
use crate::Failure;
use crate::args::{KeyArgs, KeygenArgs, OpenArgs, PackArgs};
use crate::io::{Output, secret_file};

fn read(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .with_context(|| format!("cannot read the {what} {}", path.display()))
        .map_err(Failure::from)
}

fn password(path: Option<&Path>) -> Result<Option<Password>, Failure> {
    path.map(|p| secret_file(p, "password").map(|t| Password::new(&t)))
        .transpose()
}

fn passphrase(path: Option<&Path>) -> Result<Password, Failure> {
    Ok(match path {
        Some(p) => Password::new(&secret_file(p, "passphrase")?),
        None => Password::new(""),
    })
}

fn public_key(path: &Path) -> Result<PublicKey, Failure> {
    let bytes = read(path, "public key")?;
    PublicKey::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()).into())
}

fn secret_key(path: &Path) -> Result<SecretKey, Failure> {
    let bytes = read(path, "secret key")?;
    SecretKey::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()).into())
}

/// Format, token count and serial range of a seed file, when it can be read
/// without keys (an encrypted PSKC cannot: its entry keeps size and hash only).
fn describe_seeds<R: std::io::BufRead + Send>(
    name: &str,
    mut data: R,
) -> (Option<Format>, Option<(u64, String, String)>) {
    let head = data.fill_buf().map(|h| detect(h).ok());
    let Ok(Some(format)) = head else {
        return (None, None);
    };
    let mut count = 0u64;
    let mut range: Option<(String, String)> = None;
    for token in reader(format, data, Some(name.into())) {
        let Ok(token) = token else {
            return (Some(format), None);
        };
        count += 1;
        let s = token.serial.as_str();
        range = Some(match range {
            None => (s.to_owned(), s.to_owned()),
            Some((lo, hi)) => (
                if s < lo.as_str() { s.to_owned() } else { lo },
                if s > hi.as_str() { s.to_owned() } else { hi },
            ),
        });
    }
    (Some(format), range.map(|(lo, hi)| (count, lo, hi)))
}

fn base_name(path: &Path) -> Result<String, Failure> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{} has no usable file name", path.display()).into())
}

#[allow(clippy::print_stdout, reason = "the command's report")]
pub fn pack(args: &PackArgs) -> Result<(), Failure> {
    let now = now();
    let password = password(args.password_file.as_deref())?;
    let recipient = args.recipient.as_deref().map(public_key).transpose()?;
    let signer = args.sign_key.as_deref().map(secret_key).transpose()?;
    let sign_pass = passphrase(args.sign_key_passphrase_file.as_deref())?;
    let (zip_password, pgp_password) = if args.symmetric {
        (None, password.as_ref())
    } else {
        (password.as_ref(), None)
    };
    let seal = Seal {
        password: zip_password,
        recipient: recipient.as_ref(),
        pgp_password,
        signer: signer.as_ref().map(|k| (k, &sign_pass)),
        now,
    };
    let want = format!(".{}", package::extension(&seal));
    let out_name = args.output.to_string_lossy();
    if !out_name.ends_with(&want) {
        return Err(Failure::Usage(format!(
            "{out_name}: the delivery's name should end with {want} so the customer knows how to open it"
        )));
    }
    if password.is_none() && recipient.is_none() {
        eprintln_note("no --password-file and no --recipient: the ZIP is not encrypted");
    }
    // Each file is read twice, streamed: once to count its tokens, once
    // into the package (hashed on the way).
    let mut sources = Vec::new();
    for path in &args.files {
        let name = base_name(path)?;
        let open = || {
            std::fs::File::open(path)
                .map(|f| BufReader::with_capacity(256 * 1024, f))
                .with_context(|| format!("cannot read the seed file {}", path.display()))
        };
        let (format, seeds) = describe_seeds(&name, open()?);
        let (tokens, first_serial, last_serial) = match seeds {
            Some((n, lo, hi)) => (Some(n), Some(lo), Some(hi)),
            None => (None, None, None),
        };
        sources.push(Source {
            entry: Entry {
                name,
                bytes: 0,
                sha256: String::new(),
                format: format.map(|f| f.name().to_owned()),
                tokens,
                first_serial,
                last_serial,
            },
            content: Box::new(open()?),
        });
    }
    let mut manifest = Manifest::new(&[], now);
    manifest.order.clone_from(&args.order);
    manifest.vendor.clone_from(&args.vendor);
    manifest.shipments.clone_from(&args.shipments);

    let mut output = Output::create(Some(&args.output), args.force)?;
    let dest = output.describe();
    let written = {
        let mut w = output.writer();
        let m = package::pack_stream(
            &mut oathvault_vault::random::os(),
            sources,
            manifest,
            &seal,
            &mut w,
        )
        .map_err(|e| anyhow!("{e}"))?;
        w.flush().with_context(|| format!("cannot write {dest}"))?;
        m
    };
    output.commit()?;
    let total: u64 = written.files.iter().filter_map(|e| e.tokens).sum();
    let mut layers = vec![if zip_password.is_some() {
        "AES-256 ZIP".to_owned()
    } else {
        "ZIP".to_owned()
    }];
    if let Some(k) = &recipient {
        layers.push(format!("OpenPGP to {}", k.fingerprint()));
    }
    if pgp_password.is_some() {
        layers.push("OpenPGP with the password".to_owned());
    }
    say!(
        "wrote {dest}: {} seed file(s), {total} tokens; {}; manifest {}",
        written.files.len(),
        layers.join(" inside "),
        match &signer {
            Some(k) => format!("signed by {}", k.public().fingerprint()),
            None => "unsigned (no --sign-key)".to_owned(),
        }
    );
    Ok(())
}

#[allow(clippy::print_stderr, reason = "notes go to stderr")]
fn eprintln_note(msg: &str) {
    eprintln!("note: {msg}");
}

/// Why the files are not written, unless `--no-verify`.
fn verification_problems(u: &Unpacked, vendor_given: bool) -> Vec<String> {
    let mut problems: Vec<String> = u.mismatches.iter().map(ToString::to_string).collect();
    if vendor_given {
        match &u.signature {
            SignatureStatus::Good(_) => {}
            SignatureStatus::Bad(p) => problems.push(format!("the MANIFEST signature: {p}")),
            SignatureStatus::Absent | SignatureStatus::Unchecked => {
                problems.push("the delivery carries no MANIFEST signature".into());
            }
        }
        if u.manifest.is_none() {
            problems.push("the delivery carries no MANIFEST".into());
        }
    }
    problems
}

#[allow(clippy::print_stdout, reason = "the command's report")]
pub fn open(args: &OpenArgs) -> Result<(), Failure> {
    let bytes = read(&args.file, "delivery")?;
    let password = password(args.password_file.as_deref())?;
    let key = args.key.as_deref().map(secret_key).transpose()?;
    let key_pass = passphrase(args.key_passphrase_file.as_deref())?;
    let vendor = args.vendor_key.as_deref().map(public_key).transpose()?;
    let name = base_name(&args.file)?;
    let unseal = Unseal {
        password: password.as_ref(),
        key: key.as_ref().map(|k| (k, &key_pass)),
        vendor: vendor.as_ref(),
    };
    let opened = package::open(&bytes, &name, &unseal)
        .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let problems = verification_problems(&opened, vendor.is_some());
    if !problems.is_empty() {
        for p in &problems {
            eprintln_note(&format!("{}: {p}", args.file.display()));
        }
        if !args.no_verify {
            return Err(anyhow!(
                "{}: not opened — the delivery does not match what its vendor signed \
                 (nothing was written; --no-verify writes the files anyway)",
                args.file.display()
            )
            .into());
        }
    }
    let dir = args.output.clone().unwrap_or_else(|| PathBuf::from("."));
    write_all(&dir, &opened.files, args.force)?;

    for layer in &opened.layers {
        match layer {
            Layer::Pgp(Opened::Key(fp)) => say!("OpenPGP: decrypted with key {fp}"),
            Layer::Pgp(Opened::Password) => say!("OpenPGP: decrypted with the password"),
            Layer::Zip { encrypted: true } => {
                say!("ZIP: AES-encrypted, opened with the password");
            }
            Layer::Zip { encrypted: false } => say!("ZIP: not encrypted"),
        }
    }
    match (&opened.manifest, &opened.signature) {
        (None, _) => {
            say!("manifest: none (the files cannot be checked against what the vendor sent)");
        }
        (Some(_), SignatureStatus::Good(s)) => say!(
            "manifest: signature good, by {} — every file matches it",
            s.fingerprint
        ),
        (Some(_), SignatureStatus::Unchecked) => say!(
            "manifest: files match it; it is signed, but not checked — give --vendor-key to check who signed it"
        ),
        (Some(_), SignatureStatus::Absent) => {
            say!("manifest: files match it; it is not signed");
        }
        (Some(_), SignatureStatus::Bad(p)) => {
            say!("manifest: {p} (written anyway: --no-verify)");
        }
    }
    let mut first = None;
    for f in &opened.files {
        let path = dir.join(&f.name);
        let (format, seeds) = describe_seeds(&f.name, f.data.as_slice());
        let what = match (format, seeds) {
            (Some(fmt), Some((n, lo, hi))) => format!("{}, {n} tokens ({lo} … {hi})", fmt.name()),
            (Some(fmt), None) => format!(
                "{} (tokens not counted: protected or unreadable)",
                fmt.name()
            ),
            (None, _) => "not a seed file this version recognises".to_owned(),
        };
        say!("wrote {} (mode 0600): {what}", path.display());
        if format.is_some() && first.is_none() {
            first = Some(path);
        }
    }
    if let Some(p) = first {
        say!(
            "next: oathvault inspect {0}   or   oathvault convert {0} --to entra-json -o tokens.json",
            p.display()
        );
    }
    Ok(())
}

/// Writes `data` to a staged output, flushed (committing is the caller's).
fn put(out: &mut Output, data: &[u8], dest: &str) -> Result<(), Failure> {
    let mut w = out.writer();
    w.write_all(data)
        .and_then(|()| w.flush())
        .with_context(|| format!("cannot write {dest}"))?;
    Ok(())
}

/// Writes every file into `dir` (mode 0600): all to temporary files first,
/// then renamed, so a failure leaves none of them behind.
fn write_all(dir: &Path, files: &[File], force: bool) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for f in files {
        let dest = dir.join(&f.name);
        if dest.exists() && !force {
            return Err(anyhow!("{} exists; pass --force to replace it", dest.display()).into());
        }
    }
    let mut staged = Vec::new();
    for f in files {
        let mut out = Output::create(Some(&dir.join(&f.name)), true)?;
        let dest = out.describe();
        put(&mut out, &f.data, &dest)?;
        staged.push(out);
    }
    for out in staged {
        out.commit()?;
    }
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's report")]
pub fn key(args: &KeyArgs) -> Result<(), Failure> {
    let key = public_key(&args.file)?;
    let now = now();
    let info: KeyInfo = key.info(now);
    let check = key.check_for_encryption(now);
    if args.json {
        let v = serde_json::json!({
            "key": info,
            "usable": check.is_ok(),
            "problem": check.as_ref().err().map(ToString::to_string),
        });
        say!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        say!("fingerprint : {}", info.fingerprint);
        for uid in &info.user_ids {
            say!("user ID     : {uid}");
        }
        say!("algorithm   : {}", info.algorithm);
        say!("created     : {}", rfc3339(info.created));
        say!(
            "expires     : {}",
            info.expires.map_or_else(|| "never".to_owned(), rfc3339)
        );
        if let (Some(k), Some(a)) = (&info.encryption_key, &info.encryption_algorithm) {
            say!("encrypts to : {k} ({a})");
        }
        match &check {
            Ok(()) => say!("usable      : yes"),
            Err(e) => say!("usable      : no — {e}"),
        }
    }
    // The reason is printed above.
    check.map_err(|_| Failure::Input(None))
}

#[allow(clippy::print_stdout, reason = "the command's report")]
pub fn keygen(args: &KeygenArgs) -> Result<(), Failure> {
    let pass = passphrase(args.passphrase_file.as_deref())?;
    if args.passphrase_file.is_none() {
        eprintln_note(
            "no --passphrase-file: the secret key is stored unprotected; keep OUT.sec safe",
        );
    }
    let key = SecretKey::generate(&mut oathvault_vault::random::os(), &args.user_id, &pass)
        .map_err(|e| anyhow!("{e}"))?;
    let public = key.public();
    let base = args.output.to_string_lossy();
    let files = [
        (
            format!("{base}.asc"),
            Zeroizing::new(public.to_armored().map_err(|e| anyhow!("{e}"))?),
        ),
        (
            format!("{base}.sec"),
            key.to_armored().map_err(|e| anyhow!("{e}"))?,
        ),
    ];
    let mut staged = Vec::new();
    for (path, text) in &files {
        let mut out = Output::create(Some(Path::new(path)), args.force)?;
        put(&mut out, text.as_bytes(), path)?;
        staged.push(out);
    }
    for out in staged {
        out.commit()?;
    }
    say!(
        "wrote {base}.asc (public) and {base}.sec (secret, mode 0600): {} {}",
        public.fingerprint(),
        args.user_id
    );
    Ok(())
}
