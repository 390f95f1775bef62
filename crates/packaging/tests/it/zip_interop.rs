//! The ZIP layer against implementations nobody here wrote: 7-Zip and
//! pyzipper (`scripts/test` installs both; a missing tool fails the test).
#![allow(clippy::panic, reason = "test helpers: a failure is a failed test")]

use std::fmt::Write as _;

use std::path::Path;
use std::process::Command;

use oathvault_packaging::zip;
use oathvault_packaging::{Error, File, Password};
use sha2::{Digest, Sha256};

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (scripts/test installs it): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn peer() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/zip_peer.py")
}

fn files() -> Vec<File> {
    let csv: Vec<u8> = (0..3000)
        .flat_map(|i| {
            format!("user{i}@example.com,{i:010},JBSWY3DPEHPK3PXP,totp,30\n").into_bytes()
        })
        .collect();
    vec![
        File::new("seeds.csv", csv),
        File::new("MANIFEST", b"{\"v\":1}\n".to_vec()),
    ]
}

fn sha(data: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(data))
}

fn sorted(files: Vec<File>) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|f| (f.name, f.data.to_vec()))
        .collect();
    v.sort();
    v
}

#[test]
fn seven_zip_and_pyzipper_open_our_aes_zip() {
    let pw = Password::new("Tr0ub4dor&3 and more");
    // Written seekable (sizes in the headers) and streamed (data descriptors).
    let seekable = zip::write(&files(), Some(&pw), 1_795_696_620).unwrap_or_else(|e| panic!("{e}"));
    let mut streamed = Vec::new();
    let mut w = zip::Writer::streaming(&mut streamed, Some(&pw), 1_795_696_620);
    for f in files() {
        w.add(&f.name, &mut f.data.as_slice())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    w.finish().unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(seekable, streamed);
    check_with_7zip_and_pyzipper(&seekable, &pw);
    check_with_7zip_and_pyzipper(&streamed, &pw);
}

fn check_with_7zip_and_pyzipper(bytes: &[u8], pw: &Password) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("delivery.zip");
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));

    let listing = run(Command::new("7z")
        .args(["l", "-slt"])
        .arg(format!("-p{}", pw.expose()))
        .arg(&path));
    assert_eq!(
        listing.matches("Method = AES-256 Deflate").count(),
        2,
        "{listing}"
    );
    let out = dir.path().join("out");
    run(Command::new("7z")
        .args(["x", "-y"])
        .arg(format!("-p{}", pw.expose()))
        .arg(format!("-o{}", out.display()))
        .arg(&path));
    for f in files() {
        let got = std::fs::read(out.join(&f.name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, *f.data, "7-Zip extracted {} differently", f.name);
    }
    // A wrong password is refused by 7-Zip too (the file really is encrypted).
    let wrong = Command::new("7z")
        .args(["t", "-pnot-it"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!wrong.status.success());

    let listed = run(Command::new("python3")
        .arg(peer())
        .arg("read")
        .arg(&path)
        .arg(pw.expose()));
    let want = files().iter().fold(String::new(), |mut s, f| {
        let _ = writeln!(s, "{}\t{}", f.name, sha(&f.data));
        s
    });
    assert_eq!(listed, want, "pyzipper");
}

#[test]
fn we_open_aes_zips_made_by_7zip_and_pyzipper() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pw = Password::new("another long passphrase");
    for f in files() {
        std::fs::write(dir.path().join(&f.name), &*f.data).unwrap_or_else(|e| panic!("{e}"));
    }
    let seven = dir.path().join("7z.zip");
    run(Command::new("7z")
        .current_dir(dir.path())
        .args(["a", "-tzip", "-mem=AES256"])
        .arg(format!("-p{}", pw.expose()))
        .arg(&seven)
        .args(["seeds.csv", "MANIFEST"]));
    let py = dir.path().join("py.zip");
    run(Command::new("python3")
        .arg(peer())
        .arg("write")
        .arg(&py)
        .arg(pw.expose())
        .arg(format!(
            "seeds.csv={}",
            dir.path().join("seeds.csv").display()
        ))
        .arg(format!(
            "MANIFEST={}",
            dir.path().join("MANIFEST").display()
        )));
    for path in [&seven, &py] {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{e}"));
        let got =
            zip::read(&bytes, Some(&pw)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(got.encrypted);
        assert_eq!(sorted(got.files), sorted(files()), "{}", path.display());
        let wrong = zip::read(&bytes, Some(&Password::new("nope")));
        assert!(matches!(wrong, Err(Error::WrongPassword)), "{wrong:?}");
    }
}
