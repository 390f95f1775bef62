//! Test certificates made by Debian's `openssl` (installed by `scripts/test`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A self-signed RSA 2048 certificate for `CN=name`, valid for a day, and
/// its unencrypted key: `(DIR/name.pem, DIR/name-key.pem)`.
#[must_use]
pub fn openssl_certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "1", "-subj", &format!("/CN={name}")])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}); scripts/test installs Debian's openssl package")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
