//! The `oathvault` binary, driven as a user would.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../formats/testdata")
        .join(name)
}

fn ov() -> Command {
    Command::cargo_bin("oathvault").unwrap()
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn convert_csv_to_json_file_is_private_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seeds.json");
    ov().args([
        "convert",
        testdata("golden.entra.csv").to_str().unwrap(),
        "--to",
        "entra-json",
        "-o",
    ])
    .arg(&out)
    .assert()
    .success()
    .stderr(predicate::str::contains("2 tokens entra-csv → entra-json"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["@context"], "#$delta");
    assert_eq!(
        json["value"][1]["secretKey"],
        "234567ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    );
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(dir_entries(dir.path()), ["seeds.json"]);
    // No silent overwrite.
    ov().args([
        "convert",
        testdata("golden.entra.csv").to_str().unwrap(),
        "--to",
        "jsonl",
        "-o",
    ])
    .arg(&out)
    .assert()
    .code(1)
    .stderr(predicate::str::contains("exists; pass --force"));
    ov().args([
        "convert",
        testdata("golden.entra.csv").to_str().unwrap(),
        "--to",
        "jsonl",
        "--force",
        "-o",
    ])
    .arg(&out)
    .assert()
    .success();
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("{\"serial\":\"10001001\"")
    );
}

#[test]
fn bad_base32_on_line_5_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    ov().args([
        "convert",
        testdata("bad-base32-line5.csv").to_str().unwrap(),
        "--to",
        "entra-json",
        "-o",
    ])
    .arg(&out)
    .assert()
    .code(1)
    .stdout("")
    .stderr(predicate::str::contains(
        "line 5: field `secret key`: invalid Base32 character",
    ))
    .stderr(predicate::str::contains("nothing was written"))
    // The bad secret itself is never echoed.
    .stderr(predicate::str::contains("GEZDGNBV0Y3T").not());
    assert!(
        dir_entries(dir.path()).is_empty(),
        "left behind: {:?}",
        dir_entries(dir.path())
    );
    // To stdout: nothing is printed either.
    ov().args([
        "convert",
        testdata("bad-base32-line5.csv").to_str().unwrap(),
        "--to",
        "entra-json",
    ])
    .assert()
    .code(1)
    .stdout("");
}

#[test]
fn target_limits_name_every_serial() {
    ov().args([
        "convert",
        testdata("golden.jsonl").to_str().unwrap(),
        "--to",
        "entra-csv",
    ])
    .assert()
    .code(1)
    .stdout("")
    .stderr(predicate::str::contains(
        "serial 20000001: Entra takes TOTP tokens only (this token: HOTP)",
    ));
    let dup = "serial number,secret key,time interval\n7,GEZDGNBV,30\n7,GEZDGNBV,30\n";
    ov().args(["convert", "-", "--to", "entra-json"])
        .write_stdin(dup)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "serial 7: each serial may appear only once",
        ));
}

#[test]
fn empty_binary_and_header_only_files_are_explained() {
    for (file, msg) in [
        ("empty.csv", "the file is empty"),
        ("binary.png", "binary file, not a seed file"),
        ("header-only.csv", "the file has a header but no tokens"),
    ] {
        ov().args(["convert", testdata(file).to_str().unwrap(), "--to", "jsonl"])
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::contains(msg));
    }
    ov().args(["inspect", "/nonexistent/seeds.csv"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot open"));
}

#[test]
fn usage_errors_exit_2() {
    ov().args(["convert", "x.csv"]).assert().code(2);
    ov().args(["convert", "x.csv", "--to", "nonsense"])
        .assert()
        .code(2);
    ov().args([
        "convert",
        testdata("golden.jsonl").to_str().unwrap(),
        "--to",
        "entra-json",
        "--secret-encoding",
        "hex",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("fixes its secret encoding"));
    ov().args(["otp", testdata("golden.jsonl").to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--serial"));
    ov().arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("convert"));
    for sub in ["convert", "inspect", "otp", "check", "formats"] {
        ov().args([sub, "--help"]).assert().success();
    }
}

#[test]
fn stdin_jsonl_with_chosen_encoding() {
    let csv = std::fs::read(testdata("golden.entra.csv")).unwrap();
    ov().args([
        "convert",
        "-",
        "--to",
        "jsonl",
        "--secret-encoding",
        "base64",
        "-q",
    ])
    .write_stdin(csv)
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "\"secret\":\"1vnffAEQyFMdCVLY1z4RlOlbXxk=\",\"secret_encoding\":\"base64\"",
    ));
}

#[test]
fn otp_prints_codes() {
    let f = testdata("golden.jsonl");
    ov().args([
        "otp",
        f.to_str().unwrap(),
        "--serial",
        "10001001",
        "--at",
        "1234567890",
    ])
    .assert()
    .success()
    .stdout("005924\n");
    let two = ov()
        .args([
            "otp",
            f.to_str().unwrap(),
            "--serial",
            "10001002",
            "--at",
            "59",
            "-n",
            "2",
        ])
        .assert()
        .success();
    let two = String::from_utf8(two.get_output().stdout.clone()).unwrap();
    assert!(
        two.starts_with("285124\n") && two.lines().count() == 2,
        "{two}"
    );
    ov().args([
        "otp",
        f.to_str().unwrap(),
        "--serial",
        "20000001",
        "-n",
        "2",
    ])
    .assert()
    .success()
    .stdout("755224\n287082\n");
    ov().args(["otp", f.to_str().unwrap(), "--serial", "99"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("serial 99 is not in"));
}

#[test]
fn check_accepts_with_drift_and_rejects_with_exit_1() {
    let f = testdata("golden.jsonl");
    let f = f.to_str().unwrap();
    ov().args([
        "check",
        f,
        "-s",
        "10001001",
        "-c",
        "081804",
        "--at",
        "1111111139",
    ])
    .assert()
    .success()
    .stdout("accepted: serial 10001001, drift -1 step (-30 s)\n");
    ov().args([
        "check",
        f,
        "-s",
        "10001001",
        "-c",
        "081804",
        "--at",
        "1111111169",
        "--json",
    ])
    .assert()
    .code(1)
    .stdout(predicate::str::contains("\"accepted\":false"));
    ov().args([
        "check",
        f,
        "-s",
        "10001001",
        "-c",
        "081804",
        "--at",
        "1111111169",
        "--window",
        "2",
        "--json",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "\"drift\":-2,\"drift_seconds\":-60",
    ));
    ov().args(["check", f, "-s", "10001001", "-c", "81804", "--at", "59"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the code has 5 digits; this token shows 6",
        ));
}

#[test]
fn inspect_reports_targets_duplicates_and_weak_secrets() {
    let input = "serial number,secret key,time interval,manufacturer,model\n\
                 1,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30,M,X\n\
                 1,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,60,M,X\n\
                 2,GEZDGNBVGY3TQOJQ,30,M,X\n";
    let out = ov()
        .args(["inspect", "-", "--json"])
        .write_stdin(input)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(r["tokens"], 3);
    assert_eq!(r["duplicate_serials"]["serials"], serde_json::json!(["1"]));
    assert_eq!(r["weak_secrets"]["serials"], serde_json::json!(["2"]));
    assert_eq!(r["targets"][0]["format"], "entra-csv");
    assert_eq!(r["targets"][0]["ok"], false);
    assert_eq!(r["targets"][2]["ok"], true);
    ov().args([
        "inspect",
        testdata("bad-base32-line5.csv").to_str().unwrap(),
    ])
    .assert()
    .code(1)
    .stdout(predicate::str::contains("ERRORS (1)"))
    .stdout(predicate::str::contains("line 5"));
}

/// Every command but a successful `convert` keeps secrets out of what it
/// prints, on success and on failure.
#[test]
fn no_command_prints_a_secret() {
    let golden = testdata("golden.jsonl");
    let golden = golden.to_str().unwrap();
    // Encodings of the golden secrets (A/C and B), and a prefix long enough to matter.
    let forbidden = [
        "3132333435363738393031323334353637383930",
        "GEZDGNBVGY3TQOJQ",
        "MTIzNDU2Nzg5MDEy",
        "d6f9df7c0110c853",
        "234567ABCDEFGHIJ",
        "1vnffAEQyFMdCVLY",
    ];
    let bad_line = "serial number,secret key,time interval\n\
                    1,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30\n\
                    2,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ!,30\n"
        .to_owned();
    let runs: Vec<(Vec<&str>, Option<String>)> = vec![
        (vec!["inspect", golden], None),
        (vec!["inspect", golden, "--json"], None),
        (
            vec![
                "check", golden, "-s", "10001001", "-c", "123456", "--at", "59",
            ],
            None,
        ),
        (
            vec![
                "check", golden, "-s", "10001002", "-c", "285124", "--at", "59", "--json",
            ],
            None,
        ),
        (vec!["otp", golden, "-s", "10001002", "-n", "5"], None),
        (vec!["convert", golden, "--to", "entra-csv"], None),
        (
            vec!["convert", "-", "--to", "entra-json"],
            Some(bad_line.clone()),
        ),
        (vec!["inspect", "-"], Some(bad_line)),
        (
            vec!["check", golden, "-s", "10001001", "-c", "12x456"],
            None,
        ),
    ];
    for (args, stdin) in runs {
        let mut cmd = ov();
        cmd.args(&args);
        if let Some(s) = stdin {
            cmd.write_stdin(s);
        }
        let out = cmd.output().unwrap();
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for f in forbidden {
            assert!(!shown.contains(f), "{args:?} printed a secret: {shown}");
        }
    }
}

#[test]
fn pskc_round_trip_with_a_key_and_a_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let psk = dir.path().join("psk.hex");
    std::fs::write(&psk, "12345678901234567890123456789012\n").unwrap();
    let pw = dir.path().join("pw.txt");
    std::fs::write(&pw, "correct horse battery staple\n").unwrap();
    let golden = testdata("golden.jsonl");
    let golden = golden.to_str().unwrap();
    for (write_flag, read_flag, key) in [
        ("--pskc-psk-file", "--psk-file", &psk),
        ("--pskc-passphrase-file", "--passphrase-file", &pw),
    ] {
        let out = dir.path().join(format!("seeds{write_flag}.xml"));
        let mut convert = ov();
        convert
            .args(["convert", golden, "--to", "pskc", "-o"])
            .arg(&out)
            .arg(write_flag)
            .arg(key);
        if write_flag.contains("passphrase") {
            convert.args(["--pskc-iterations", "1000"]);
        }
        convert.assert().success();
        let xml = std::fs::read_to_string(&out).unwrap();
        assert!(
            xml.contains("<ValueMAC>") && !xml.contains("PlainValue>MTIz"),
            "secrets must be encrypted"
        );
        // Without the key: a clear error, exit 1.
        ov().args(["inspect", out.to_str().unwrap()])
            .assert()
            .code(1)
            .stdout(predicate::str::contains(read_flag));
        // With it: the same tokens.
        ov().args([
            "convert",
            out.to_str().unwrap(),
            "--to",
            "jsonl",
            "--secret-encoding",
            "hex",
            read_flag,
        ])
        .arg(key)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "\"serial\":\"20000001\",\"type\":\"hotp\"",
        ))
        .stdout(predicate::str::contains(
            "\"secret\":\"d6f9df7c0110c8531d0952d8d73e1194e95b5f19\"",
        ));
        // A wrong key: the MAC check fails.
        let wrong = dir.path().join("wrong.txt");
        std::fs::write(
            &wrong,
            if read_flag == "--psk-file" {
                "00000000000000000000000000000000"
            } else {
                "wrong"
            },
        )
        .unwrap();
        ov().args(["convert", out.to_str().unwrap(), "--to", "jsonl", read_flag])
            .arg(&wrong)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::contains(
                "MAC check failed — wrong key or tampered file",
            ));
    }
}

/// python-pskc (an implementation nobody here wrote) reads what we write in
/// all three modes, and we read what it writes.
#[test]
fn pskc_interop_with_python_pskc() {
    let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/pskc_peer.py");
    let dir = tempfile::tempdir().unwrap();
    let psk_hex = "12345678901234567890123456789012";
    let psk = dir.path().join("psk.hex");
    std::fs::write(&psk, psk_hex).unwrap();
    let phrase = "correct horse battery staple";
    let pw = dir.path().join("pw.txt");
    std::fs::write(&pw, phrase).unwrap();
    let expected = "10001001 3132333435363738393031323334353637383930 totp 6 30 None\n\
                    10001002 d6f9df7c0110c8531d0952d8d73e1194e95b5f19 totp 6 60 None\n\
                    20000001 3132333435363738393031323334353637383930 hotp 6 None 0\n";
    let golden = testdata("golden.jsonl");
    for (mode, key, write_args, read_args) in [
        ("plain", "-", vec![], vec![]),
        (
            "psk",
            psk_hex,
            vec!["--pskc-psk-file", psk.to_str().unwrap()],
            vec!["--psk-file", psk.to_str().unwrap()],
        ),
        (
            "passphrase",
            phrase,
            vec![
                "--pskc-passphrase-file",
                pw.to_str().unwrap(),
                "--pskc-iterations",
                "1000",
            ],
            vec!["--passphrase-file", pw.to_str().unwrap()],
        ),
    ] {
        // Ours → python-pskc.
        let ours = dir.path().join(format!("ours-{mode}.xml"));
        ov().args([
            "convert",
            golden.to_str().unwrap(),
            "--to",
            "pskc",
            "-q",
            "-o",
        ])
        .arg(&ours)
        .args(&write_args)
        .assert()
        .success();
        let out = std::process::Command::new("python3")
            .arg(&peer)
            .arg("read")
            .arg(&ours)
            .args([mode, key])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python-pskc failed (is it installed? scripts/test installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "python-pskc reading our {mode} file"
        );
        // python-pskc → ours.
        let theirs = dir.path().join(format!("theirs-{mode}.xml"));
        let out = std::process::Command::new("python3")
            .arg(&peer)
            .arg("write")
            .arg(&theirs)
            .args([mode, key])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python-pskc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read = ov()
            .args([
                "convert",
                theirs.to_str().unwrap(),
                "--to",
                "jsonl",
                "--secret-encoding",
                "hex",
                "-q",
            ])
            .args(&read_args)
            .assert()
            .success();
        assert_golden_secrets(
            &String::from_utf8(read.get_output().stdout.clone()).unwrap(),
            mode,
        );
    }
}

/// The jsonl (hex secrets) holds the three golden tokens.
fn assert_golden_secrets(text: &str, context: &str) {
    for (serial, secret) in [
        ("10001001", "3132333435363738393031323334353637383930"),
        ("10001002", "d6f9df7c0110c8531d0952d8d73e1194e95b5f19"),
        ("20000001", "3132333435363738393031323334353637383930"),
    ] {
        assert!(
            text.contains(&format!("\"serial\":\"{serial}\""))
                && text.contains(&format!("\"secret\":\"{secret}\"")),
            "{context}: {text}"
        );
    }
}

/// Regression: `-o /dev/null` once replaced /dev/null with a regular file
/// (temporary file renamed over it). Devices and pipes are written in place.
#[test]
fn output_to_a_pipe_keeps_the_pipe() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    ov().args([
        "convert",
        testdata("golden.entra.csv").to_str().unwrap(),
        "--to",
        "entra-json",
        "-q",
        "-o",
    ])
    .arg(&fifo)
    .assert()
    .success();
    let got = String::from_utf8(reader.join().unwrap()).unwrap();
    assert!(got.starts_with("{\"@context\":\"#$delta\""), "{got}");
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "the pipe was replaced"
    );
    assert_eq!(dir_entries(dir.path()), ["pipe"]);
    ov().args([
        "convert",
        testdata("golden.entra.csv").to_str().unwrap(),
        "--to",
        "jsonl",
        "-o",
    ])
    .arg(dir.path())
    .assert()
    .code(1)
    .stderr(predicate::str::contains("is a directory"));
}

#[test]
fn split_writes_one_file_per_kind_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let golden = testdata("golden.jsonl");
    let out = dir.path().join("d.csv");
    let convert = |extra: &[&str]| {
        let mut c = ov();
        c.args(["convert", golden.to_str().unwrap(), "--to", "duo-csv", "-o"])
            .arg(&out)
            .args(extra);
        c
    };
    // Mixed kinds without --split: refused, with the way out named.
    convert(&[])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("hint: --split"));
    assert!(dir_entries(dir.path()).is_empty());
    // One target name taken: nothing written, not even the free one.
    std::fs::write(dir.path().join("d-hotp6.csv"), "keep").unwrap();
    convert(&["--split"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("d-hotp6.csv exists"));
    assert_eq!(dir_entries(dir.path()), ["d-hotp6.csv"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("d-hotp6.csv")).unwrap(),
        "keep"
    );
    convert(&["--split", "--force"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "3 tokens jsonl → duo-csv in 2 files",
        ));
    assert_eq!(dir_entries(dir.path()), ["d-hotp6.csv", "d-totp6.csv"]);
    let totp = std::fs::read_to_string(dir.path().join("d-totp6.csv")).unwrap();
    assert_eq!(totp.lines().count(), 2, "{}", totp.len());
    // Each file reads back as its kind.
    ov().args(["inspect", "--duo-type", "hotp6"])
        .arg(dir.path().join("d-hotp6.csv"))
        .assert()
        .success()
        .stdout(predicate::str::contains("hotp: 1"));
    // --split is for one-kind-per-file targets only, and needs -o.
    ov().args([
        "convert",
        golden.to_str().unwrap(),
        "--to",
        "jsonl",
        "--split",
        "-o",
    ])
    .arg(dir.path().join("x.jsonl"))
    .assert()
    .code(2)
    .stderr(predicate::str::contains(
        "--split is for duo-csv and dualshield",
    ));
    ov().args([
        "convert",
        golden.to_str().unwrap(),
        "--to",
        "duo-csv",
        "--split",
    ])
    .assert()
    .code(2);
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    // `oathvault formats | head -0`: the pipe's reader is gone before the
    // first line is written.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("oathvault"))
        .arg("formats")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
