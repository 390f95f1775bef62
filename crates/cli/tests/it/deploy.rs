//! The systemd units in `deploy/`: `systemd-analyze verify` accepts them
//! without a warning (against this build's binary: verify needs the
//! `ExecStart` program to exist, so each unit is checked as a copy whose
//! `/usr/local/bin/oathvault` is replaced by the binary under test), they
//! carry the hardening the operations guide promises, their command lines
//! parse, and the portal and the desk find their master keys where
//! `LoadCredential=` puts them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failure is a failed test"
)]

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_oathvault");
const UNITS: [(&str, &str); 2] = [
    (
        "oathvault-portal.service",
        include_str!("../../../../deploy/oathvault-portal.service"),
    ),
    (
        "oathvault-desk.service",
        include_str!("../../../../deploy/oathvault-desk.service"),
    ),
];

#[test]
fn units_verify_cleanly_and_are_hardened() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in UNITS {
        for wanted in [
            "User=oathvault",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "ReadWritePaths=/var/lib/oathvault",
            "LoadCredential=",
            "CapabilityBoundingSet=\n",
        ] {
            assert!(text.contains(wanted), "{name} lacks {wanted:?}");
        }
        assert!(
            text.contains("ExecStart=/usr/local/bin/oathvault "),
            "{name}"
        );
        let copy = tmp.path().join(name);
        std::fs::write(&copy, text.replace("/usr/local/bin/oathvault", BIN)).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .expect("systemd-analyze is installed by scripts/test (Debian package systemd)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{name}: {stderr}"
        );
        // The command line parses (clap refuses an unknown flag before --help).
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart=/usr/local/bin/oathvault "))
            .unwrap();
        let args: Vec<String> = exec
            .split_whitespace()
            .map(|a| a.replace("%d", "/run/credentials/x"))
            .collect();
        let out = Command::new(BIN)
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {exec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn oathvault(data: &Path, creds: Option<&Path>, args: &[&str]) -> (bool, String) {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("OATHVAULT_DATA_DIR", data)
        .env_remove("OATHVAULT_DATABASE")
        .env_remove("OATHVAULT_DESK_DATABASE")
        .env_remove("OATHVAULT_MASTER_KEY_FILE")
        .env_remove("OATHVAULT_DESK_KEY_FILE")
        .env_remove("OATHVAULT_CONFIG")
        .env_remove("CREDENTIALS_DIRECTORY");
    if let Some(d) = creds {
        c.env("CREDENTIALS_DIRECTORY", d);
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Moves `data/name` into `creds/name` with the mode systemd gives a
/// credential (0400).
fn as_credential(data: &Path, creds: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(creds).unwrap();
    std::fs::rename(data.join(name), creds.join(name)).unwrap();
    std::fs::set_permissions(creds.join(name), std::fs::Permissions::from_mode(0o400)).unwrap();
}

#[test]
fn the_portal_and_the_desk_read_their_keys_from_the_credentials_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let creds = tmp.path().join("credentials");
    for (app, key) in [("portal", "master.key"), ("desk", "desk.key")] {
        let (ok, out) = oathvault(&data, None, &[app, "init"]);
        assert!(ok, "{app} init: {out}");
        as_credential(&data, &creds, key);
        // Without the credentials directory the key is missing…
        let (ok, out) = oathvault(&data, None, &[app, "verify"]);
        assert!(!ok, "{app} verify without its key: {out}");
        assert!(out.contains(key), "{out}");
        // …with it, the key there opens the database.
        let (ok, out) = oathvault(&data, Some(&creds), &[app, "verify"]);
        assert!(ok, "{app} verify with the key as a credential: {out}");
    }
    // A credentials directory without the file: the data directory's key.
    let (ok, out) = oathvault(
        &data,
        Some(&tmp.path().join("empty")),
        &["portal", "verify"],
    );
    assert!(!ok && out.contains("master.key"), "{out}");
}
