//! `oathvault portal …` as an administrator scripts it, on SQLite and on a
//! real PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use oathvault_testkit::postgres::TempPostgres;
use predicates::prelude::*;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../formats/testdata/golden.entra.csv")
}

struct Portal {
    dir: tempfile::TempDir,
    database: Option<String>,
}

impl Portal {
    fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        let mut cmd = Command::cargo_bin("oathvault").unwrap();
        cmd.arg("portal")
            .env("OATHVAULT_DATA_DIR", self.dir.path().join("data"))
            .env_remove("OATHVAULT_DATABASE")
            .env_remove("OATHVAULT_MASTER_KEY_FILE");
        if let Some(db) = &self.database {
            cmd.args(["--database", db]);
        }
        cmd.args(args).assert()
    }

    fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    }
}

fn scenario(p: &Portal) {
    inventory(p);
    staff_rotation_and_audit(p);
}

/// Layers: defaults < TOML file < `OATHVAULT_*` environment < flags.
#[test]
fn configuration_layers() {
    let p = Portal {
        dir: tempfile::tempdir().unwrap(),
        database: None,
    };
    let file = p.file(
        "portal.toml",
        "listen = \"127.0.0.1:9000\"\nissuer = \"Example Tokens\"\n[signin]\nlock_after = 5\n",
    );
    let out = p
        .run(&["--config", &file, "config"])
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("listen = \"127.0.0.1:9000\""), "{out}");
    assert!(out.contains("issuer = \"Example Tokens\""), "{out}");
    assert!(
        out.contains("lock_after = 5") && out.contains("session_hours = 8"),
        "{out}"
    );
    assert!(
        out.contains("portal.db"),
        "the default database is shown: {out}"
    );

    let mut cmd = Command::cargo_bin("oathvault").unwrap();
    let out = cmd
        .args(["portal", "--config", &file, "config"])
        .env("OATHVAULT_DATA_DIR", p.dir.path().join("data"))
        .env("OATHVAULT_LISTEN", "127.0.0.1:9100")
        .env("OATHVAULT_SIGNIN__LOCK_AFTER", "3")
        .env("OATHVAULT_LOG__FORMAT", "json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("listen = \"127.0.0.1:9100\""),
        "env wins over the file: {out}"
    );
    assert!(
        out.contains("lock_after = 3") && out.contains("format = \"json\""),
        "{out}"
    );

    p.run(&["--config", &file, "--database", "/tmp/flag.db", "config"])
        .success()
        .stdout(predicate::str::contains("database = \"/tmp/flag.db\""));
    let bad = p.file("bad.toml", "lisen = \"x\"\n");
    p.run(&["--config", &bad, "config"])
        .code(2)
        .stderr(predicate::str::contains("lisen"));
    p.run(&["--config", "/nonexistent/portal.toml", "config"])
        .code(2)
        .stderr(predicate::str::contains("nonexistent"));
}

fn inventory(p: &Portal) {
    p.run(&["init"])
        .success()
        .stdout(predicate::str::contains("created the master key"));
    let key = p.dir.path().join("data/master.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    p.run(&[
        "customer",
        "add",
        "Example Ltd",
        "--email",
        "it@example.com",
    ])
    .success();
    p.run(&["customer", "add", "Other Co"])
        .code(2)
        .stderr(predicate::str::contains("give at least one contact e-mail"));
    p.run(&["customer", "add", "Other Co", "--email", "not an address"])
        .code(2)
        .stderr(predicate::str::contains("is not an e-mail address"));
    p.run(&["customer", "add", "Example Ltd", "--email", "x@example.com"])
        .code(1)
        .stderr(predicate::str::contains(
            "customer \"Example Ltd\" already exists",
        ));
    p.run(&["order", "add", "--customer", "Nobody", "--po", "PO-0"])
        .code(1)
        .stderr(predicate::str::contains(
            "customer \"Nobody\" does not exist",
        ));
    p.run(&[
        "order",
        "add",
        "--customer",
        "Example Ltd",
        "--po",
        "PO-1",
        "--invoice",
        "INV-1",
    ])
    .success();
    p.run(&[
        "shipment",
        "add",
        "--order",
        "PO-1",
        "--number",
        "SHP-1",
        "--date",
        "2026-11-20",
    ])
    .success();
    p.run(&[
        "shipment",
        "add",
        "--order",
        "PO-1",
        "--number",
        "SHP-2",
        "--date",
        "20/11/2026",
    ])
    .code(2);
    p.run(&["shipment", "add", "--order", "PO-1", "--number", "SHP-2"])
        .success();
    let golden = golden();
    let golden = golden.to_str().unwrap();
    p.run(&["import", "--order", "PO-1", "--shipment", "SHP-1", golden])
        .success()
        .stdout(predicate::str::contains(
            "imported 2 tokens (2 TOTP, 0 HOTP)",
        ));
    // Again: refused, naming the serials; into a shipment of another order: refused.
    p.run(&["import", "--order", "PO-1", "--shipment", "SHP-2", golden])
        .code(1)
        .stderr(predicate::str::contains(
            "already in the inventory: 10001001, 10001002",
        ));
    p.run(&["import", "--order", "PO-9", "--shipment", "SHP-2", golden])
        .code(1);
    // A bad last row: nothing of the file is imported.
    let bad = p.file(
        "bad.csv",
        "upn,serial number,secret key,time interval\n,20000001,JBSWY3DPEHPK3PXP,30\n,20000002,NOT!BASE32,30\n",
    );
    p.run(&["import", "--order", "PO-1", "--shipment", "SHP-2", &bad])
        .code(1)
        .stderr(
            predicate::str::contains("line 3")
                .and(predicate::str::contains("nothing was imported")),
        );
    p.run(&["shipment", "list"])
        .success()
        .stdout(predicate::str::contains("SHP-2\torder PO-1\t-\t0 token(s)"))
        .stdout(predicate::str::contains(
            "SHP-1\torder PO-1\t2026-11-20\t2 token(s)",
        ));
}

fn staff_rotation_and_audit(p: &Portal) {
    let weak = p.file("weak.pw", "short\n");
    p.run(&[
        "staff",
        "add",
        "--email",
        "a@v.example",
        "--name",
        "A",
        "--role",
        "administrator",
        "--password-file",
        &weak,
    ])
    .code(1)
    .stderr(predicate::str::contains("at least 12 characters"));
    let pw = p.file("admin.pw", "correct horse battery\n");
    p.run(&[
        "staff",
        "add",
        "--email",
        "Ada@Vendor.example",
        "--name",
        "Ada",
        "--role",
        "administrator",
        "--password-file",
        &pw,
    ])
    .success()
    .stdout(predicate::str::contains(
        "otpauth://totp/oathvault%20portal:Ada@Vendor.example?secret=",
    ));
    // Two shipment data keys, the staff member's TOTP secret, the audit
    // chain's key and the vendor's signing key move to the new key; the old
    // one is retired.
    p.run(&["rotate-key"])
        .success()
        .stdout(predicate::str::contains("5 re-sealed"))
        .stdout(predicate::str::contains("retired master key(s)"));
    p.run(&["key", "status"])
        .success()
        .stdout(predicate::str::contains("1 key(s)"))
        .stdout(predicate::str::contains("shipment data keys"));
    // The rotated key still opens the shipments: importing into SHP-2 works.
    let more = p.file(
        "more.csv",
        "upn,serial number,secret key,time interval\n,30000001,JBSWY3DPEHPK3PXP,30\n",
    );
    p.run(&["import", "--order", "PO-1", "--shipment", "SHP-2", &more])
        .success();
    p.run(&["audit", "verify"])
        .success()
        .stdout(predicate::str::contains("audit log intact: 13 events"));
    p.run(&["audit", "list", "--filter", "import"])
        .success()
        .stdout(predicate::str::contains("refused"));
}

#[test]
fn portal_administration_on_sqlite() {
    let p = Portal {
        dir: tempfile::tempdir().unwrap(),
        database: None,
    };
    scenario(&p);
    let db = p.dir.path().join("data/portal.db");
    assert_eq!(
        std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let bytes = std::fs::read(&db).unwrap();
    for secret in [
        "JBSWY3DPEHPK3PXP",
        "GEZDGNBVGY3TQOJQ",
        "48656c6c6f21deadbeef",
        "3132333435363738393031323334353637383930",
    ] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in the database"
        );
    }
}

#[test]
fn portal_administration_on_postgres() {
    let pg = TempPostgres::start();
    let p = Portal {
        dir: tempfile::tempdir().unwrap(),
        database: Some(pg.url().to_owned()),
    };
    scenario(&p);
    let dump = pg.dump();
    assert!(dump.contains("SHP-2"));
    assert!(!dump.contains("JBSWY3DPEHPK3PXP") && !dump.contains("GEZDGNBVGY3TQOJQ"));
}
