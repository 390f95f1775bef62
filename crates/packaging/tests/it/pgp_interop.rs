//! The OpenPGP layer against GnuPG (`scripts/test` installs it; a missing
//! `gpg` fails the test): keys made by `gpg` in a throwaway home, every
//! key rejection with a real key, both directions of encryption and of
//! detached signatures, and the distinct failures of a delivery.
#![allow(clippy::panic, reason = "test helpers: a failure is a failed test")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use oathvault_packaging::manifest::Manifest;
use oathvault_packaging::package::{self, Layer, Seal, SignatureStatus, Unseal};
use oathvault_packaging::pgp::{
    self, KeyProblem, MessageProblem, PublicKey, SecretKey, SignatureProblem,
};
use oathvault_packaging::{Error, File, Password};

/// Unix time the tests treat as now (keys made by gpg moments ago are valid).
fn now() -> i64 {
    let out = Command::new("date")
        .arg("+%s")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A throwaway GnuPG home.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        Self { home }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(self.home.path()).args([
            "--batch",
            "--yes",
            "--quiet",
            "--no-tty",
            "--trust-model",
            "always",
        ]);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self
            .cmd()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run gpg (scripts/test installs it): {e}"));
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Makes a key with `gpg --quick-gen-key UID ALGO USAGE EXPIRE` and
    /// returns its fingerprint.
    fn gen_key(
        &self,
        uid: &str,
        algo: &str,
        usage: &str,
        expire: &str,
        passphrase: &str,
    ) -> String {
        self.run(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--quick-gen-key",
            uid,
            algo,
            usage,
            expire,
        ]);
        let out = self.run(&["--with-colons", "--list-keys", uid]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .map_or_else(
                || panic!("no fingerprint for {uid}"),
                |f| f.trim_end_matches(':').to_owned(),
            )
    }

    fn export(&self, fpr: &str) -> Vec<u8> {
        self.run(&["--armor", "--export", fpr]).stdout
    }

    fn export_secret(&self, fpr: &str, passphrase: &str) -> Vec<u8> {
        self.run(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--armor",
            "--export-secret-keys",
            fpr,
        ])
        .stdout
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }
}

fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{e}"));
}

fn seed_files() -> Vec<File> {
    vec![
        File::new(
            "seeds.csv",
            b"upn,serial number,secret key,timeinterval\n,0001,JBSWY3DPEHPK3PXP,30\n".to_vec(),
        ),
        File::new(
            "more.csv",
            b"upn,serial number,secret key,timeinterval\n,0002,GEZDGNBVGY3TQOJQ,30\n".to_vec(),
        ),
    ]
}

#[test]
fn every_key_rejection_with_a_real_key() {
    let gpg = Gpg::new();
    let now = now();
    let good = gpg.gen_key(
        "Good <good@example.com>",
        "future-default",
        "default",
        "never",
        "",
    );
    let key = PublicKey::parse(&gpg.export(&good)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(key.check_for_encryption(now), Ok(()));
    let info = key.info(now);
    assert_eq!(info.fingerprint, good);
    assert_eq!(info.user_ids, vec!["Good <good@example.com>".to_owned()]);
    assert_eq!(info.algorithm, "ed25519");
    assert_eq!(info.encryption_algorithm.as_deref(), Some("cv25519"));

    // Not a public key: the secret key, and text that is no key at all.
    let secret = gpg.export_secret(&good, "");
    assert_eq!(
        PublicKey::parse(&secret).err(),
        Some(KeyProblem::SecretGiven)
    );
    assert!(matches!(
        PublicKey::parse(b"hello, this is not a key"),
        Err(KeyProblem::NotAKey(_))
    ));

    // No encryption-capable subkey.
    let sign_only = gpg.gen_key("Sign <sign@example.com>", "ed25519", "sign", "never", "");
    let key = PublicKey::parse(&gpg.export(&sign_only)).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        key.check_for_encryption(now),
        Err(KeyProblem::NoEncryptionKey { .. })
    ));

    // Expired: valid for a day, checked three days later.
    let short = gpg.gen_key(
        "Short <short@example.com>",
        "future-default",
        "default",
        "1d",
        "",
    );
    let key = PublicKey::parse(&gpg.export(&short)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(key.check_for_encryption(now), Ok(()));
    assert!(matches!(
        key.check_for_encryption(now + 3 * 86_400),
        Err(KeyProblem::Expired { .. })
    ));

    // Revoked: import the revocation certificate gpg made at generation.
    let revoked = gpg.gen_key(
        "Gone <gone@example.com>",
        "future-default",
        "default",
        "never",
        "",
    );
    let cert = gpg
        .home
        .path()
        .join("openpgp-revocs.d")
        .join(format!("{revoked}.rev"));
    let text = std::fs::read_to_string(&cert).unwrap_or_else(|e| panic!("{e}"));
    // gpg prefixes the armor line with ':' so it is not imported by accident.
    let rev = gpg.path("revoke.asc");
    write(
        &rev,
        text.replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        )
        .as_bytes(),
    );
    gpg.run(&["--import", rev.to_str().unwrap_or_default()]);
    let key = PublicKey::parse(&gpg.export(&revoked)).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        key.check_for_encryption(now),
        Err(KeyProblem::Revoked { .. })
    ));
    assert!(key.info(now).revoked);

    // Weak: RSA-1024.
    let weak = gpg.gen_key("Weak <weak@example.com>", "rsa1024", "default", "never", "");
    let key = PublicKey::parse(&gpg.export(&weak)).unwrap_or_else(|e| panic!("{e}"));
    let problem = key.check_for_encryption(now);
    assert!(
        matches!(&problem, Err(KeyProblem::Weak { what, .. }) if what == "rsa1024"),
        "{problem:?}"
    );
    assert!(
        problem
            .err()
            .is_some_and(|p| p.to_string().contains("too weak"))
    );
}

/// The customer's key made by gpg (with its secret exported) and a vendor
/// signing key made here, imported into gpg.
struct Parties {
    gpg: Gpg,
    now: i64,
    customer: String,
    customer_pub: PublicKey,
    customer_sec: SecretKey,
    cust_pass: Password,
    vendor: SecretKey,
    vendor_pass: Password,
}

fn parties() -> Parties {
    let gpg = Gpg::new();
    let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(line!().into());
    let customer = gpg.gen_key(
        "Customer <it@customer.example>",
        "future-default",
        "default",
        "never",
        "cust pass",
    );
    let customer_pub = PublicKey::parse(&gpg.export(&customer)).unwrap_or_else(|e| panic!("{e}"));
    let customer_sec = SecretKey::parse(&gpg.export_secret(&customer, "cust pass"))
        .unwrap_or_else(|e| panic!("{e}"));
    let vendor_pass = Password::new("vendor signing passphrase");
    let vendor = SecretKey::generate(
        &mut rng,
        "Vendor Delivery <delivery@vendor.example>",
        &vendor_pass,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let vendor_pub_path = gpg.path("vendor.asc");
    write(
        &vendor_pub_path,
        vendor.public().to_armored().unwrap_or_default().as_bytes(),
    );
    gpg.run(&["--import", vendor_pub_path.to_str().unwrap_or_default()]);
    Parties {
        gpg,
        now: now(),
        customer,
        customer_pub,
        customer_sec,
        cust_pass: Password::new("cust pass"),
        vendor,
        vendor_pass,
    }
}

#[test]
fn gpg_opens_our_delivery_and_verifies_its_manifest_signature() {
    let Parties {
        gpg,
        now,
        customer_pub,
        customer_sec,
        cust_pass,
        vendor,
        vendor_pass,
        ..
    } = parties();
    let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(line!().into());
    // Ours → gpg: password + PGP delivery; gpg decrypts the outer layer to a ZIP.
    let files = seed_files();
    let manifest = Manifest::new(&files, now);
    let zip_pw = Password::new("zip password long enough");
    let seal = Seal {
        password: Some(&zip_pw),
        recipient: Some(&customer_pub),
        pgp_password: None,
        signer: Some((&vendor, &vendor_pass)),
        now,
    };
    let packed =
        package::pack(&mut rng, &files, &manifest, &seal).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(packed.extension, "zip.pgp");
    let sealed = gpg.path("delivery.zip.pgp");
    write(&sealed, &packed.bytes);
    let zip_path = gpg.path("delivery.zip");
    gpg.run(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "cust pass",
        "--output",
        zip_path.to_str().unwrap_or_default(),
        "--decrypt",
        sealed.to_str().unwrap_or_default(),
    ]);
    let zip_bytes = std::fs::read(&zip_path).unwrap_or_else(|e| panic!("{e}"));
    let unzipped =
        oathvault_packaging::zip::read(&zip_bytes, Some(&zip_pw)).unwrap_or_else(|e| panic!("{e}"));
    assert!(unzipped.encrypted);
    // The manifest signature verifies with gpg --verify.
    let get = |name: &str| {
        unzipped
            .files
            .iter()
            .find(|f| f.name == name)
            .map_or_else(|| panic!("{name} missing"), |f| f.data.to_vec())
    };
    write(&gpg.path("MANIFEST"), &get("MANIFEST"));
    write(&gpg.path("MANIFEST.asc"), &get("MANIFEST.asc"));
    gpg.run(&[
        "--verify",
        gpg.path("MANIFEST.asc").to_str().unwrap_or_default(),
        gpg.path("MANIFEST").to_str().unwrap_or_default(),
    ]);

    // And we open it ourselves, signature checked against the vendor key.
    let vendor_pub = vendor.public();
    let unseal = Unseal {
        password: Some(&zip_pw),
        key: Some((&customer_sec, &cust_pass)),
        vendor: Some(&vendor_pub),
    };
    let opened =
        package::open(&packed.bytes, "delivery.zip.pgp", &unseal).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        opened.verified(),
        "{:?} {:?}",
        opened.signature,
        opened.mismatches
    );
    assert_eq!(opened.layers.len(), 2);
    assert_eq!(opened.layers.get(1), Some(&Layer::Zip { encrypted: true }));
    assert_eq!(opened.files.len(), 2);
}

#[test]
fn we_decrypt_what_gpg_encrypts() {
    let Parties {
        gpg,
        customer,
        customer_sec,
        cust_pass,
        ..
    } = parties();
    let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(line!().into());
    let plain = gpg.path("plain.csv");
    write(&plain, b"serial,secret\n1,JBSWY3DPEHPK3PXP\n");
    // gpg → ours: gpg encrypts a file to the customer key; we decrypt it.
    let enc = gpg.path("plain.csv.gpg");
    gpg.run(&[
        "--recipient",
        &customer,
        "--output",
        enc.to_str().unwrap_or_default(),
        "--encrypt",
        plain.to_str().unwrap_or_default(),
    ]);
    let bytes = std::fs::read(&enc).unwrap_or_else(|e| panic!("{e}"));
    let (got, how) = pgp::decrypt(&bytes, Some((&customer_sec, &cust_pass)), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.as_slice(), b"serial,secret\n1,JBSWY3DPEHPK3PXP\n");
    assert_eq!(how, pgp::Opened::Key(customer.clone()));
    // Through `open`, a bare encrypted seed file keeps its name minus `.gpg`.
    let opened = package::open(
        &bytes,
        "plain.csv.gpg",
        &Unseal {
            key: Some((&customer_sec, &cust_pass)),
            ..Unseal::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        opened.files.first().map(|f| f.name.as_str()),
        Some("plain.csv")
    );
    assert_eq!(opened.signature, SignatureStatus::Absent);

    // gpg's symmetric encryption opens with the password.
    let sym = gpg.path("plain.csv.sym.gpg");
    gpg.run(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "sym pass",
        "--symmetric",
        "--cipher-algo",
        "AES256",
        "--output",
        sym.to_str().unwrap_or_default(),
        plain.to_str().unwrap_or_default(),
    ]);
    let bytes = std::fs::read(&sym).unwrap_or_else(|e| panic!("{e}"));
    let (got, how) = pgp::decrypt(&bytes, None, Some(&Password::new("sym pass")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (got.as_slice(), how),
        (
            &b"serial,secret\n1,JBSWY3DPEHPK3PXP\n"[..],
            pgp::Opened::Password
        )
    );
    let wrong = pgp::decrypt(&bytes, None, Some(&Password::new("not it")));
    assert!(
        matches!(wrong, Err(Error::Message(MessageProblem::WrongPassword))),
        "{wrong:?}"
    );

    // Our symmetric encryption opens in gpg.
    let mut ours = Vec::new();
    pgp::encrypt_with_password(
        &mut rng,
        &Password::new("sym two"),
        &b"hello gpg"[..],
        &mut ours,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    write(&gpg.path("ours.sym.gpg"), &ours);
    let out = gpg.run(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "sym two",
        "--decrypt",
        gpg.path("ours.sym.gpg").to_str().unwrap_or_default(),
    ]);
    assert_eq!(out.stdout, b"hello gpg");
}

#[test]
fn detached_signatures_check_both_ways() {
    let Parties {
        gpg,
        customer,
        customer_pub,
        vendor,
        ..
    } = parties();
    let plain = gpg.path("plain.csv");
    write(&plain, b"serial,secret\n1,JBSWY3DPEHPK3PXP\n");
    let vendor_pub = vendor.public();
    // A detached signature made by gpg (the customer key signs) verifies here.
    let sig = gpg.path("plain.csv.asc");
    gpg.run(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "cust pass",
        "--armor",
        "--output",
        sig.to_str().unwrap_or_default(),
        "--detach-sign",
        plain.to_str().unwrap_or_default(),
    ]);
    let sig_bytes = std::fs::read(&sig).unwrap_or_else(|e| panic!("{e}"));
    let signer = pgp::verify_detached(
        &customer_pub,
        &sig_bytes,
        b"serial,secret\n1,JBSWY3DPEHPK3PXP\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(signer.fingerprint, customer);
    let bad = pgp::verify_detached(
        &customer_pub,
        &sig_bytes,
        b"serial,secret\n1,JBSWY3DPEHPK3PXQ\n",
    );
    assert!(matches!(bad, Err(SignatureProblem::Bad { .. })), "{bad:?}");
    let other = pgp::verify_detached(
        &vendor_pub,
        &sig_bytes,
        b"serial,secret\n1,JBSWY3DPEHPK3PXP\n",
    );
    assert!(
        matches!(other, Err(SignatureProblem::OtherSigner { .. })),
        "{other:?}"
    );
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one table of failure cases, read top to bottom"
)]
fn each_failure_of_a_delivery_is_distinct() {
    let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(line!().into());
    let now = now();
    let pass = Password::new("customer key passphrase");
    let customer = SecretKey::generate(&mut rng, "Customer <c@example.com>", &pass)
        .unwrap_or_else(|e| panic!("{e}"));
    let stranger = SecretKey::generate(&mut rng, "Stranger <s@example.com>", &pass)
        .unwrap_or_else(|e| panic!("{e}"));
    let vendor = SecretKey::generate(&mut rng, "Vendor <v@example.com>", &pass)
        .unwrap_or_else(|e| panic!("{e}"));
    let impostor = SecretKey::generate(&mut rng, "Impostor <i@example.com>", &pass)
        .unwrap_or_else(|e| panic!("{e}"));
    let files = seed_files();
    let manifest = Manifest::new(&files, now);
    let zip_pw = Password::new("zip password");
    let customer_pub = customer.public();
    let packed = package::pack(
        &mut rng,
        &files,
        &manifest,
        &Seal {
            password: Some(&zip_pw),
            recipient: Some(&customer_pub),
            pgp_password: None,
            signer: Some((&vendor, &pass)),
            now,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let vendor_pub = vendor.public();
    let good = Unseal {
        password: Some(&zip_pw),
        key: Some((&customer, &pass)),
        vendor: Some(&vendor_pub),
    };
    let open = |bytes: &[u8], u: &Unseal<'_>| package::open(bytes, "d.zip.pgp", u);
    assert!(open(&packed.bytes, &good).is_ok_and(|o| o.verified()));

    let wrong_zip_pw = Password::new("not the zip password");
    let cases: Vec<(&str, Result<package::Unpacked, Error>)> = vec![
        (
            "wrong key",
            open(
                &packed.bytes,
                &Unseal {
                    key: Some((&stranger, &pass)),
                    ..good
                },
            ),
        ),
        (
            "wrong key passphrase",
            open(
                &packed.bytes,
                &Unseal {
                    key: Some((&customer, &zip_pw)),
                    ..good
                },
            ),
        ),
        ("no key", open(&packed.bytes, &Unseal { key: None, ..good })),
        (
            "wrong zip password",
            open(
                &packed.bytes,
                &Unseal {
                    password: Some(&wrong_zip_pw),
                    ..good
                },
            ),
        ),
        (
            "truncated",
            open(
                packed
                    .bytes
                    .get(..packed.bytes.len() / 2)
                    .unwrap_or_default(),
                &good,
            ),
        ),
        ("tampered", {
            let mut b = packed.bytes.clone();
            let i = b.len() - 40;
            if let Some(x) = b.get_mut(i) {
                *x ^= 0x55;
            }
            open(&b, &good)
        }),
    ];
    let mut messages = Vec::new();
    for (what, result) in cases {
        let e = result.err().unwrap_or_else(|| panic!("{what}: opened"));
        let text = e.to_string();
        match what {
            "wrong key" => assert!(
                matches!(e, Error::Message(MessageProblem::NotForThisKey { .. })),
                "{what}: {e:?}"
            ),
            "wrong key passphrase" => assert!(
                matches!(e, Error::Key(KeyProblem::WrongPassphrase { .. })),
                "{what}: {e:?}"
            ),
            "no key" => assert!(
                matches!(e, Error::Message(MessageProblem::KeyNeeded { .. })),
                "{what}: {e:?}"
            ),
            "wrong zip password" => assert!(matches!(e, Error::WrongPassword), "{what}: {e:?}"),
            "truncated" => assert!(
                matches!(e, Error::Message(MessageProblem::Truncated(_))),
                "{what}: {e:?}"
            ),
            _ => assert!(
                matches!(e, Error::Message(MessageProblem::Tampered)),
                "{what}: {e:?}"
            ),
        }
        assert!(
            !messages.contains(&text),
            "{what}: same message as another case: {text}"
        );
        messages.push(text);
    }

    // A manifest signed by someone else, or files that differ from it.
    let impostor_pub = impostor.public();
    let other = open(
        &packed.bytes,
        &Unseal {
            vendor: Some(&impostor_pub),
            ..good
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        other.signature,
        SignatureStatus::Bad(SignatureProblem::OtherSigner { .. })
    ));
    assert!(!other.verified());
}

#[test]
fn gpg_opens_a_password_only_openpgp_delivery() {
    let gpg = Gpg::new();
    let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(line!().into());
    let files = seed_files();
    let now = now();
    let pw = Password::new("one password for gpg");
    let seal = Seal {
        password: None,
        recipient: None,
        pgp_password: Some(&pw),
        signer: None,
        now,
    };
    let packed = package::pack(&mut rng, &files, &Manifest::new(&files, now), &seal)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(packed.extension, "zip.pgp");
    let sealed = gpg.path("d.zip.pgp");
    write(&sealed, &packed.bytes);
    let out = gpg.run(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        pw.expose(),
        "--decrypt",
        sealed.to_str().unwrap_or_default(),
    ]);
    let unzipped =
        oathvault_packaging::zip::read(&out.stdout, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(!unzipped.encrypted);
    assert_eq!(unzipped.files.len(), 3, "two seed files and the MANIFEST");
    let opened = package::open(
        &packed.bytes,
        "d.zip.pgp",
        &Unseal {
            password: Some(&pw),
            ..Unseal::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        opened.layers,
        vec![
            Layer::Pgp(pgp::Opened::Password),
            Layer::Zip { encrypted: false }
        ]
    );
    assert!(opened.mismatches.is_empty());
}
