//! The converter: parallel chunks give exactly what the sequential path gives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use std::fmt::Write as _;
use std::sync::Arc;

use oathvault_formats::{Conversion, ConvertOptions, Format, WriteOptions, convert, writer};
use oathvault_testkit::synth;
use oathvault_token::{SecretEncoding, Token};
use proptest::prelude::*;

fn opts(from: Format, to: Format, threads: usize, chunk_size: usize) -> ConvertOptions {
    ConvertOptions {
        from,
        to,
        write: WriteOptions {
            secret_encoding: SecretEncoding::Hex,
            ..WriteOptions::default()
        },
        read: oathvault_formats::ReadOptions::default(),
        file: Some(Arc::from("in.csv")),
        threads,
        shown: 20,
        stop_after: 10_000,
        chunk_size,
        size_hint: None,
    }
}

fn run(input: &[u8], o: &ConvertOptions) -> (Conversion, Vec<u8>) {
    let mut out = Vec::new();
    let c = convert(input, &mut out, o).unwrap();
    (c, out)
}

fn encode(format: Format, tokens: &[Token]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = writer(format, &mut out, &WriteOptions::default()).unwrap();
    for t in tokens {
        w.write(t).unwrap();
    }
    w.finish().unwrap();
    out
}

/// Both ways, the same bytes and the same verdict.
fn same(input: &[u8], from: Format, to: Format, chunk: usize) -> (Conversion, Vec<u8>) {
    let (seq, seq_out) = run(input, &opts(from, to, 1, chunk));
    let (par, par_out) = run(input, &opts(from, to, 3, chunk));
    assert_eq!(par.problems, seq.problems, "chunk {chunk}");
    assert_eq!(par.problem_count, seq.problem_count);
    assert_eq!(par.summary, seq.summary);
    if seq.ok() {
        assert_eq!(
            String::from_utf8_lossy(&par_out),
            String::from_utf8_lossy(&seq_out),
            "chunk {chunk}"
        );
    }
    (seq, seq_out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn parallel_equals_sequential(
        tokens in proptest::collection::vec(synth::entra_csv_token(true), 1..40),
        chunk in 1usize..400,
    ) {
        let csv = encode(Format::EntraCsv, &tokens);
        for to in [Format::EntraJson, Format::Jsonl, Format::EntraCsv, Format::DuoCsv] {
            let (c, _) = same(&csv, Format::EntraCsv, to, chunk);
            // Synthetic serials may repeat; then the Entra targets refuse.
            prop_assert!(c.ok() || c.problems.iter().all(|p| p.contains("appear only once")));
        }
        let jsonl = encode(Format::Jsonl, &tokens);
        same(&jsonl, Format::Jsonl, Format::EntraCsv, chunk);
    }
}

#[test]
fn quoted_line_breaks_across_chunks() {
    let csv = "serial number,secret key,time interval,manufacturer,model\n\
               1,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30,\"Multi\nLine, Inc.\",\"A \"\"quoted\"\"\nmodel\"\n\
               \r\n\n\
               2,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,60,Plain,X\n\r\n\
               3,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,60,\"x\n\ny\",Y\n\n";
    for chunk in 1..csv.len() + 2 {
        let (c, out) = same(csv.as_bytes(), Format::EntraCsv, Format::EntraJson, chunk);
        assert!(c.ok(), "{:?}", c.problems);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["value"][0]["manufacturer"], "Multi\nLine, Inc.");
        assert_eq!(v["value"][1]["@contentId"], "2");
        assert_eq!(v["value"][2]["@contentId"], "3");
        assert_eq!(v["value"][2]["manufacturer"], "x\n\ny");
    }
}

#[test]
fn errors_in_later_chunks_name_the_right_line() {
    let mut csv = String::from("serial number,secret key,time interval\n");
    for i in 0..500 {
        let secret = if i == 337 {
            "NOT-BASE32"
        } else {
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        };
        writeln!(csv, "{i},{secret},30").unwrap();
    }
    csv.push_str("12,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30\n");
    // To Entra CSV: no manufacturer or model needed, duplicates refused.
    let (c, _) = same(csv.as_bytes(), Format::EntraCsv, Format::EntraCsv, 777);
    assert_eq!(c.problem_count, 2);
    assert!(
        c.problems[0].starts_with("in.csv: line 339: field `secret key`"),
        "{:?}",
        c.problems
    );
    assert_eq!(
        c.problems[1],
        "serial 12: each serial may appear only once (this token: repeated)"
    );
}

#[test]
fn one_kind_per_file_is_checked_in_file_order_on_every_path() {
    let all: Vec<Token> = oathvault_testkit::golden::all()
        .into_iter()
        .map(|g| g.token)
        .collect();
    let jsonl = encode(Format::Jsonl, &all);
    for chunk in [16, 64, 100_000] {
        let (c, _) = same(&jsonl, Format::Jsonl, Format::DuoCsv, chunk);
        assert_eq!(c.problem_count, 1, "{:?}", c.problems);
        assert!(
            c.problems[0].starts_with("serial 20000001:"),
            "{:?}",
            c.problems
        );
    }
}

#[test]
fn header_only_and_limits() {
    let (c, _) = same(
        b"serial number,secret key,time interval\r\n",
        Format::EntraCsv,
        Format::EntraJson,
        8,
    );
    assert_eq!(c.problems, ["in.csv: the file has a header but no tokens"]);
    let jsonl = b"{\"serial\":\"9\",\"type\":\"hotp\",\"hash\":\"sha1\",\"digits\":8,\"counter\":3,\"secret\":\"3132\",\"secret_encoding\":\"hex\"}\n";
    let (c, _) = same(jsonl, Format::Jsonl, Format::EntraCsv, 16);
    assert_eq!(
        c.problems,
        [
            "serial 9: Entra takes TOTP tokens only (this token: HOTP)",
            "serial 9: Entra takes 6-digit tokens only (this token: 8 digits)"
        ]
    );
}

#[test]
fn stops_after_the_cap() {
    let mut csv = String::from("serial number,secret key,time interval\n");
    for i in 0..200 {
        writeln!(csv, "{i},bad!,30").unwrap();
    }
    let mut o = opts(Format::EntraCsv, Format::EntraJson, 2, 64);
    o.stop_after = 50;
    let (c, _) = run(csv.as_bytes(), &o);
    assert!(c.stopped);
    assert!(
        c.problem_count >= 50 && c.problem_count < 200,
        "{}",
        c.problem_count
    );
    assert_eq!(c.problems.len(), 20);
}

/// An output that fails after `left` bytes (a full disk).
struct Failing {
    left: usize,
}

impl std::io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_output_stops_every_thread() {
    let tokens: Vec<Token> = synth::entra_tokens(3_000, 7);
    let csv = encode(Format::EntraCsv, &tokens);
    for left in [0usize, 10, 5_000, 100_000] {
        for threads in [1, 2, 4] {
            let o = opts(Format::EntraCsv, Format::EntraJson, threads, 4096);
            let e = convert(csv.as_slice(), &mut Failing { left }, &o).unwrap_err();
            assert!(e.to_string().contains("disk full"), "{e}");
        }
    }
}

/// Readers that cannot be chunked (PSKC) read on a second thread: the same
/// bytes and the same problems as one thread, and a failing output stops
/// the reading thread too.
#[test]
fn pskc_read_ahead_equals_one_thread() {
    let tokens: Vec<Token> = synth::entra_tokens(1_500, 11);
    // A bad key (one without a secret).
    let mut pskc = String::from_utf8(encode(Format::Pskc, &tokens)).unwrap();
    let at = pskc.find("<Secret>").unwrap();
    let end = pskc[at..].find("</Secret>").unwrap() + at + "</Secret>".len();
    pskc.replace_range(at..end, "");
    let both = [Format::Jsonl, Format::EntraJson].map(|to| {
        let one = run(pskc.as_bytes(), &opts(Format::Pskc, to, 1, 4096));
        let two = run(pskc.as_bytes(), &opts(Format::Pskc, to, 2, 4096));
        assert_eq!(one.1, two.1, "{to}");
        assert_eq!(one.0.problems, two.0.problems, "{to}");
        assert_eq!(one.0.problem_count, 1, "{to}: {:?}", one.0.problems);
        one
    });
    assert!(
        both[0].0.problems[0].contains("no secret"),
        "{:?}",
        both[0].0.problems
    );
    let good = encode(Format::Pskc, &synth::entra_tokens(2_000, 3));
    let (ok, out) = run(good.as_slice(), &opts(Format::Pskc, Format::Jsonl, 2, 4096));
    assert_eq!(ok.problem_count, 0);
    assert_eq!(
        out,
        run(good.as_slice(), &opts(Format::Pskc, Format::Jsonl, 1, 4096)).1
    );
    for left in [0usize, 10, 50_000] {
        let o = opts(Format::Pskc, Format::Jsonl, 2, 4096);
        let e = convert(good.as_slice(), &mut Failing { left }, &o).unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
    }
}

/// Duplicates found by the workers as they go, in whatever order they meet
/// the records, are reported as one pass in file order reports them: every
/// occurrence but the first, in place among the other problems.
#[test]
fn duplicates_across_chunks_are_reported_in_file_order() {
    let mut csv = String::from("serial number,secret key,time interval,manufacturer,model\n");
    let (mut seen, mut want) = (std::collections::HashSet::new(), 0);
    for i in 0..3000 {
        let serial = (i * 7919) % 1300;
        let secret = if i % 211 == 3 {
            want += 1;
            "NOT-BASE32"
        } else {
            if !seen.insert(serial) {
                want += 1;
            }
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        };
        writeln!(csv, "{serial},{secret},30,Acme,T1").unwrap();
    }
    assert!(want > 1600, "{want}");
    for chunk in [64, 997, 30_000] {
        let (c, _) = same(csv.as_bytes(), Format::EntraCsv, Format::EntraJson, chunk);
        assert_eq!(c.problem_count, want, "{:?}", &c.problems[..5]);
        assert!(
            c.problems.iter().any(|p| p.contains("repeated")),
            "{:?}",
            c.problems
        );
    }
}
