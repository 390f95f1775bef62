//! Test certificates made by Debian's `openssl` (installed by `scripts/test`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A self-signed RSA 2048 certificate for `CN=name`, valid for a day, and
/// its unencrypted key: `(DIR/name.pem, DIR/name-key.pem)`.
#[must_use]
pub fn openssl_certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    certificate(dir, name, &["-newkey", "rsa:2048"])
}

/// A self-signed ECDSA certificate on the P-256 curve for `CN=name`, valid
/// for a day, and its unencrypted key: `(DIR/name.pem, DIR/name-key.pem)`.
#[must_use]
pub fn openssl_ec_certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    certificate(
        dir,
        name,
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    )
}

fn certificate(dir: &Path, name: &str, new_key: &[&str]) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509"])
        .args(new_key)
        .args(["-nodes", "-keyout"])
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

/// Runs `openssl` with `args` in `dir`; panics with its error output.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}); scripts/test installs Debian's openssl package")
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway certificate authority and a server certificate it signed.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The authority's certificate (PEM): the only root a client trusts.
    pub ca: PathBuf,
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// The server's unencrypted key (PEM).
    pub key: PathBuf,
}

/// A new P-256 authority valid for a day (`DIR/ca.pem`) and a server
/// certificate it signed for the DNS name `host` and `127.0.0.1`
/// (`DIR/server.pem`, `DIR/server-key.pem`).
#[must_use]
pub fn throwaway_ca(dir: &Path, host: &str) -> ServerTls {
    let p256 = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(p256);
    ca.extend([
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=oathvault test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(p256);
    let subject = format!("/CN={host}");
    csr.extend([
        "-keyout",
        "server-key.pem",
        "-out",
        "server.csr",
        "-subj",
        &subject,
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName=DNS:{host},IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap_or_else(|e| panic!("cannot write server.ext: {e}"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ],
    );
    ServerTls {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    }
}
