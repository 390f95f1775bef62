//! `oathvault pack`, `open` and `key`, driven as a vendor and a customer
//! would: every failure exits 1 with its own message and leaves nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use oathvault_packaging::Password;
use oathvault_packaging::pgp::SecretKey;
use predicates::prelude::*;

fn ov() -> Command {
    Command::cargo_bin("oathvault").unwrap()
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../formats/testdata/golden.entra.csv")
}

/// Keys and secrets on disk, as a vendor and a customer hold them.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = oathvault_vault::random::os();
        let pass = Password::new("key passphrase");
        for who in ["customer", "vendor", "stranger"] {
            let key = SecretKey::generate(&mut rng, &format!("{who} <{who}@example.com>"), &pass)
                .unwrap();
            std::fs::write(
                dir.path().join(format!("{who}.sec")),
                key.to_armored().unwrap().as_bytes(),
            )
            .unwrap();
            std::fs::write(
                dir.path().join(format!("{who}.asc")),
                key.public().to_armored().unwrap(),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("key.pass"), "key passphrase\n").unwrap();
        std::fs::write(dir.path().join("zip.pass"), "a long zip password\n").unwrap();
        std::fs::write(dir.path().join("wrong.pass"), "not the password\n").unwrap();
        std::fs::copy(golden(), dir.path().join("seeds.csv")).unwrap();
        Self { dir }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.p(name).to_string_lossy().into_owned()
    }

    fn pack(&self, out: &str) {
        ov().args(["pack", &self.s("seeds.csv"), "-o", &self.s(out)])
            .args([
                "--password-file",
                &self.s("zip.pass"),
                "--recipient",
                &self.s("customer.asc"),
            ])
            .args([
                "--sign-key",
                &self.s("vendor.sec"),
                "--sign-key-passphrase-file",
                &self.s("key.pass"),
            ])
            .args(["--order", "PO-4711", "--shipment", "SHP-1"])
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "2 tokens; AES-256 ZIP inside OpenPGP",
            ));
    }

    fn open(
        &self,
        file: &str,
        key: &str,
        password: &str,
        vendor: &str,
        out: &str,
    ) -> assert_cmd::assert::Assert {
        ov().args(["open", &self.s(file), "-o", &self.s(out)])
            .args([
                "--key",
                &self.s(key),
                "--key-passphrase-file",
                &self.s("key.pass"),
            ])
            .args([
                "--password-file",
                &self.s(password),
                "--vendor-key",
                &self.s(vendor),
            ])
            .assert()
    }
}

#[test]
fn pack_then_open_verifies_and_writes_private_files() {
    let s = Setup::new();
    s.pack("delivery.zip.pgp");
    s.open(
        "delivery.zip.pgp",
        "customer.sec",
        "zip.pass",
        "vendor.asc",
        "out",
    )
    .success()
    .stdout(predicate::str::contains("manifest: signature good"))
    .stdout(predicate::str::contains(
        "entra-csv, 2 tokens (10001001 … 10001002)",
    ))
    .stdout(predicate::str::contains("next: oathvault inspect"));
    let written = s.p("out/seeds.csv");
    assert_eq!(
        std::fs::read(&written).unwrap(),
        std::fs::read(golden()).unwrap()
    );
    assert_eq!(
        std::fs::metadata(&written).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Opening again does not overwrite silently.
    s.open(
        "delivery.zip.pgp",
        "customer.sec",
        "zip.pass",
        "vendor.asc",
        "out",
    )
    .code(1)
    .stderr(predicate::str::contains("exists; pass --force"));
}

#[test]
fn each_failure_exits_1_with_its_own_message_and_leaves_nothing() {
    let s = Setup::new();
    s.pack("delivery.zip.pgp");
    let bytes = std::fs::read(s.p("delivery.zip.pgp")).unwrap();
    std::fs::write(s.p("truncated.zip.pgp"), &bytes[..bytes.len() / 2]).unwrap();
    let mut tampered = bytes.clone();
    let i = tampered.len() - 30;
    tampered[i] ^= 0x20;
    std::fs::write(s.p("tampered.zip.pgp"), &tampered).unwrap();

    let cases = [
        (
            "wrong password",
            "delivery.zip.pgp",
            "customer.sec",
            "wrong.pass",
            "vendor.asc",
            "wrong password for the ZIP",
        ),
        (
            "wrong key",
            "delivery.zip.pgp",
            "stranger.sec",
            "zip.pass",
            "vendor.asc",
            "encrypted to other keys",
        ),
        (
            "truncated",
            "truncated.zip.pgp",
            "customer.sec",
            "zip.pass",
            "vendor.asc",
            "truncated",
        ),
        (
            "tampered",
            "tampered.zip.pgp",
            "customer.sec",
            "zip.pass",
            "vendor.asc",
            "fails its integrity check",
        ),
        (
            "other vendor",
            "delivery.zip.pgp",
            "customer.sec",
            "zip.pass",
            "stranger.asc",
            "made by another key",
        ),
    ];
    let mut seen = Vec::new();
    for (what, file, key, password, vendor, expect) in cases {
        let out = format!("out-{}", what.replace(' ', "-"));
        let assert = s.open(file, key, password, vendor, &out).code(1);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains(expect), "{what}: {stderr}");
        assert!(
            !seen.contains(&stderr),
            "{what}: same message as another case"
        );
        seen.push(stderr);
        let left: Vec<_> = std::fs::read_dir(s.p(&out))
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{what}: left {left:?}");
    }
}

#[test]
fn key_command_explains_what_it_finds() {
    let s = Setup::new();
    ov().args(["key", &s.s("customer.asc")])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "user ID     : customer <customer@example.com>",
        ))
        .stdout(predicate::str::contains("usable      : yes"));
    ov().args(["key", &s.s("customer.sec")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("this is a secret key"));
    ov().args(["key", &s.s("seeds.csv")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not an OpenPGP key"));
}

#[test]
fn pack_names_tell_what_the_file_is() {
    let s = Setup::new();
    ov().args([
        "pack",
        &s.s("seeds.csv"),
        "-o",
        &s.s("d.zip"),
        "--recipient",
        &s.s("customer.asc"),
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("should end with .zip.pgp"));
    assert!(!s.p("d.zip").exists());
}

#[test]
fn no_delivery_command_prints_a_secret_or_a_password() {
    let s = Setup::new();
    s.pack("delivery.zip.pgp");
    let forbidden = [
        "GEZDGNBVGY3TQOJQ",
        "234567ABCDEFGHIJ",
        "a long zip password",
        "key passphrase",
        "not the password",
    ];
    let outputs = [
        s.open(
            "delivery.zip.pgp",
            "customer.sec",
            "zip.pass",
            "vendor.asc",
            "ok",
        )
        .get_output()
        .clone(),
        s.open(
            "delivery.zip.pgp",
            "customer.sec",
            "wrong.pass",
            "vendor.asc",
            "bad1",
        )
        .get_output()
        .clone(),
        s.open(
            "delivery.zip.pgp",
            "stranger.sec",
            "zip.pass",
            "vendor.asc",
            "bad2",
        )
        .get_output()
        .clone(),
        ov().args(["key", &s.s("customer.sec")]).output().unwrap(),
        ov().args([
            "pack",
            &s.s("seeds.csv"),
            "-o",
            &s.s("x.zip"),
            "--password-file",
            &s.s("zip.pass"),
        ])
        .output()
        .unwrap(),
    ];
    for out in outputs {
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for f in forbidden {
            assert!(!shown.contains(f), "printed {f:?}: {shown}");
        }
    }
}
