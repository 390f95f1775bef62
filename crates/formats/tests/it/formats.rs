//! Readers, writers, round trips and errors of the formats crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use std::sync::Arc;

use oathvault_formats::{ErrorKind, Format, Rule, WriteOptions, detect, reader, writer};
use oathvault_testkit::{golden, synth};
use oathvault_token::{Hash, Kind, SecretEncoding, Step, Token};
use proptest::prelude::*;

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn read_all(format: Format, bytes: &[u8]) -> Result<Vec<Token>, oathvault_formats::Error> {
    reader(format, bytes, Some(Arc::from("input"))).collect()
}

fn write_all(format: Format, tokens: &[Token], encoding: SecretEncoding) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = writer(
        format,
        &mut out,
        &WriteOptions {
            secret_encoding: encoding,
            ..WriteOptions::default()
        },
    )
    .unwrap();
    for t in tokens {
        w.write(t).unwrap();
    }
    w.finish().unwrap();
    out
}

#[test]
fn golden_entra_csv_is_read() {
    let tokens = read_all(Format::EntraCsv, &testdata("golden.entra.csv")).unwrap();
    assert_eq!(tokens, golden::entra());
}

#[test]
fn golden_jsonl_is_read() {
    let tokens = read_all(Format::Jsonl, &testdata("golden.jsonl")).unwrap();
    let want: Vec<Token> = golden::all().into_iter().map(|g| g.token).collect();
    assert_eq!(tokens, want);
}

#[test]
fn golden_renderings_match_the_spec() {
    let csv = String::from_utf8(write_all(
        Format::EntraCsv,
        &golden::entra(),
        SecretEncoding::Base32,
    ))
    .unwrap();
    assert_eq!(
        csv,
        "upn,serial number,secret key,time interval,manufacturer,model\r\n\
         ,10001001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30,Deepnet Security,SafeID/Enterprise\r\n\
         ,10001002,234567ABCDEFGHIJKLMNOPQRSTUVWXYZ,60,Deepnet Security,SafeID/Classic\r\n"
    );
    let json = String::from_utf8(write_all(
        Format::EntraJson,
        &golden::entra(),
        SecretEncoding::Base32,
    ))
    .unwrap();
    assert!(
        json.starts_with("{\"@context\":\"#$delta\",\"value\":["),
        "{json}"
    );
    assert!(json.contains(
        r#"{"@contentId":"1","serialNumber":"10001001","manufacturer":"Deepnet Security","model":"SafeID/Enterprise","secretKey":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","timeIntervalInSeconds":30,"hashFunction":"hmacsha1"}"#
    ));
    // The whole body is one valid JSON document with the two tokens.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    assert_eq!(v["value"][1]["@contentId"], "2");
}

#[test]
fn microsoft_csv_sample_lower_case_spare_bits() {
    let t = read_all(Format::EntraCsv, &testdata("microsoft-sample.csv")).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].user.as_deref(), Some("Helga@contoso.com"));
    assert_eq!(t[0].secret.len(), 16);
    assert_eq!(t[0].kind, Kind::totp(Step::S60));
}

#[test]
fn header_variants() {
    let t = read_all(Format::EntraCsv, &testdata("deepnet-timeinterval.csv")).unwrap();
    assert_eq!(t[0].kind, Kind::totp(Step::S60));
    assert_eq!(t[0].user.as_deref(), Some("user1@acme.org"));
    let t = read_all(Format::EntraCsv, &testdata("thales-titlecase.csv")).unwrap();
    assert_eq!(t[0].serial.as_str(), "0755225266");
    assert_eq!(
        t[0].manufacturer.as_deref(),
        Some("Feitian Technology Co.,Ltd")
    );
    assert_eq!(t[0].user, None);
    // The comma in the manufacturer is quoted on the way out.
    let csv = String::from_utf8(write_all(Format::EntraCsv, &t, SecretEncoding::Base32)).unwrap();
    assert!(
        csv.contains(",\"Feitian Technology Co.,Ltd\",OTP c200\r\n"),
        "{csv}"
    );
    let bom = [b"\xef\xbb\xbf".as_slice(), &testdata("golden.entra.csv")].concat();
    assert_eq!(read_all(Format::EntraCsv, &bom).unwrap(), golden::entra());
}

#[test]
fn graph_example_and_token2_array() {
    let t = read_all(Format::EntraJson, &testdata("microsoft-graph-example.json")).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].serial.as_str(), "TOTP123456");
    assert_eq!(t[0].kind, Kind::totp(Step::S30));
    assert_eq!(
        t[1].user.as_deref(),
        Some("0cadbf92-####-####-####-############")
    );
    let t = read_all(Format::EntraJson, &testdata("token2-bare-array.json")).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].manufacturer.as_deref(), Some("Token2"));
    assert_eq!(
        detect(&testdata("token2-bare-array.json")).unwrap(),
        Format::EntraJson
    );
    assert_eq!(
        detect(&testdata("microsoft-graph-example.json")).unwrap(),
        Format::EntraJson
    );
    assert_eq!(detect(&testdata("golden.jsonl")).unwrap(), Format::Jsonl);
    assert_eq!(
        detect(&testdata("golden.entra.csv")).unwrap(),
        Format::EntraCsv
    );
}

#[test]
fn json_envelope_variants() {
    let keys_after = br##"{"value":[{"serialNumber":"1","secretKey":"GEZDGNBV","timeIntervalInSeconds":30,"hashFunction":"HMACSHA256"}],"@context":"#$delta","x":{"y":[1,"]"]}}"##;
    let t = read_all(Format::EntraJson, keys_after).unwrap();
    assert_eq!(t[0].hash, Hash::Sha256);
    let numeric_serial =
        br#"[{"serialNumber":123,"secretKey":"GEZDGNBV","timeIntervalInSeconds":"60"}]"#;
    assert_eq!(
        read_all(Format::EntraJson, numeric_serial).unwrap()[0]
            .serial
            .as_str(),
        "123"
    );
}

#[test]
fn json_errors_name_record_line_and_field() {
    let listing = b"{\"value\":[\n{\"id\":\"a\",\"serialNumber\":\"1\",\"secretKey\":null,\"timeIntervalInSeconds\":30}\n]}";
    let e = read_all(Format::EntraJson, listing).unwrap_err();
    assert_eq!(e.location.record, Some(1));
    assert_eq!(e.location.line, Some(2));
    assert_eq!(e.location.field, Some("secretKey"));
    assert!(e.to_string().contains("device listing"), "{e}");

    let missing = b"[{\"serialNumber\":\"1\",\"secretKey\":\"GEZDGNBV\"}]";
    let e = read_all(Format::EntraJson, missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        "input: record 1 (line 1): field `timeIntervalInSeconds`: is missing or empty"
    );

    for (bad, want) in [
        (
            &b"[{\"serialNumber\":\"1\",\"secretKey\":\"GEZDGNBV\",\"timeIntervalInSeconds\":30},"
                [..],
            "record 2 (line 1): unexpected end of file",
        ),
        (b"[{\"serialNumber\":\"1}]", "unterminated string"),
        (b"{\"context\":1}", "no `value` array"),
        (b"[1,2]", "expected a token object"),
        (b"[] trailing", "after the end"),
        (b"[]", "holds no tokens"),
    ] {
        let e = read_all(Format::EntraJson, bad).unwrap_err();
        assert!(e.to_string().contains(want), "{e} / {want}");
    }
}

#[test]
fn csv_errors_name_line_and_field() {
    let tokens: Vec<_> = reader(
        Format::EntraCsv,
        testdata("bad-base32-line5.csv").as_slice(),
        Some(Arc::from("bad.csv")),
    )
    .collect();
    assert_eq!(tokens.len(), 5);
    let e = tokens[3].as_ref().unwrap_err();
    assert_eq!(e.location.line, Some(5));
    assert_eq!(e.location.field, Some("secret key"));
    assert_eq!(
        e.to_string(),
        "bad.csv: line 5: field `secret key`: invalid Base32 character at position 9 (Base32 uses A-Z and 2-7; 0, 1, 8 and 9 suggest hex)"
    );
    assert!(
        tokens
            .iter()
            .enumerate()
            .all(|(i, t)| t.is_ok() == (i != 3))
    );

    let e = read_all(Format::EntraCsv, &testdata("header-only.csv")).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::HeaderOnly));
    let e = read_all(Format::EntraCsv, b"serial number,model\n1,x\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "input: line 1: the header has no `secret key` column (found: serial number, model)"
    );
    let e = read_all(
        Format::EntraCsv,
        b"serial number,secret key,time interval\n1,GEZDGNBV,0\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "input: line 2: field `time interval`: time step of 0 s is not supported (1 to 2147483647 s)"
    );
    let e = read_all(
        Format::EntraCsv,
        b"serial number,secret key,time interval\n,GEZDGNBV,30\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "input: line 2: field `serial number`: is missing or empty"
    );
}

#[test]
fn limits_refuse_before_writing() {
    let hotp = golden::token_c().token;
    let mut out = Vec::new();
    let mut w = writer(Format::EntraCsv, &mut out, &WriteOptions::default()).unwrap();
    let e = w.write(&hotp).unwrap_err();
    match e.kind {
        ErrorKind::Limit(v) => {
            assert_eq!(v.rule, Rule::TotpOnly);
            assert_eq!(v.serial.as_str(), "20000001");
        }
        other => panic!("{other:?}"),
    }
    let mut sha256 = golden::token_a().token;
    sha256.hash = Hash::Sha256;
    assert!(
        writer(Format::EntraCsv, Vec::new(), &WriteOptions::default())
            .unwrap()
            .write(&sha256)
            .is_err()
    );
    assert!(
        writer(Format::EntraJson, Vec::new(), &WriteOptions::default())
            .unwrap()
            .write(&sha256)
            .is_ok()
    );
}

#[test]
fn upns_are_not_sent_as_object_ids() {
    let mut t = golden::token_a().token;
    t.user = Some("helga@contoso.com".into());
    let mut out = Vec::new();
    let mut w = writer(Format::EntraJson, &mut out, &WriteOptions::default()).unwrap();
    w.write(&t).unwrap();
    let summary = w.finish().unwrap();
    assert_eq!(summary.users_dropped, 1);
    assert!(!String::from_utf8(out).unwrap().contains("assignTo"));
}

#[test]
fn jsonl_refuses_unknown_keys_and_names_lines() {
    let e = read_all(Format::Jsonl, b"\n{\"serial\":\"1\",\"type\":\"totp\",\"hash\":\"sha1\",\"digits\":6,\"step\":30,\"secret\":\"GEZDGNBV\",\"secret_encoding\":\"base32\",\"colour\":\"red\"}\n").unwrap_err();
    assert_eq!(e.location.line, Some(2));
    assert!(
        e.to_string()
            .starts_with("input: line 2: unknown field `colour`"),
        "{e}"
    );
}

#[test]
fn errors_never_contain_secrets() {
    // A secret that is almost valid: every error path must keep it out.
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1";
    let inputs: Vec<(Format, String)> = vec![
        (
            Format::EntraCsv,
            format!("serial number,secret key,time interval\n1,{secret},30\n"),
        ),
        (
            Format::EntraCsv,
            format!("serial number,secret key,time interval\n1,{secret},3x\n"),
        ),
        (
            Format::EntraJson,
            format!(
                "[{{\"serialNumber\":\"1\",\"secretKey\":\"{secret}\",\"timeIntervalInSeconds\":30}}]"
            ),
        ),
        (
            Format::EntraJson,
            format!(
                "[{{\"serialNumber\":\"1\",\"secretKey\":[\"{secret}\"],\"timeIntervalInSeconds\":30}}]"
            ),
        ),
        (
            Format::EntraJson,
            format!("[{{\"serialNumber\":\"1\",\"secretKey\":\"{secret}"),
        ),
        (
            Format::Jsonl,
            format!(
                "{{\"serial\":\"1\",\"type\":\"totp\",\"hash\":\"sha1\",\"digits\":6,\"step\":30,\"secret\":\"{secret}\",\"secret_encoding\":\"base32\"}}\n"
            ),
        ),
        (
            Format::Jsonl,
            format!(
                "{{\"serial\":\"1\",\"type\":\"totp\",\"hash\":\"sha1\",\"digits\":6,\"step\":30,\"secret\":\"{secret}\",\"secret_encoding\":\"hex\"}}\n"
            ),
        ),
        (
            Format::Jsonl,
            format!(
                "{{\"serial\":\"1\",\"type\":\"totp\",\"hash\":\"sha1\",\"digits\":\"6\",\"step\":30,\"secret\":\"{secret}\",\"secret_encoding\":\"base32\"}}\n"
            ),
        ),
        (
            Format::Jsonl,
            format!("{{\"serial\":\"1\",\"secret\":{secret}}}\n"),
        ),
    ];
    for (format, input) in inputs {
        let e = read_all(format, input.as_bytes()).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("GEZDGNBVGY3TQOJQ"), "{format}: {shown}");
    }
    // Tokens' Debug is redacted.
    let dbg = format!(
        "{:?}",
        read_all(Format::Jsonl, &testdata("golden.jsonl")).unwrap()
    );
    assert!(!dbg.contains("3132") && !dbg.contains("GEZD") && dbg.contains("[redacted]"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn csv_to_jsonl_to_csv(tokens in proptest::collection::vec(synth::entra_csv_token(true), 1..8)) {
        let csv = write_all(Format::EntraCsv, &tokens, SecretEncoding::Base32);
        let back = read_all(Format::EntraCsv, &csv).unwrap();
        prop_assert_eq!(&back, &tokens);
        for enc in SecretEncoding::ALL {
            let jsonl = write_all(Format::Jsonl, &back, enc);
            let again = read_all(Format::Jsonl, &jsonl).unwrap();
            prop_assert_eq!(&again, &tokens);
            prop_assert_eq!(write_all(Format::EntraCsv, &again, SecretEncoding::Base32), csv.clone());
        }
    }

    #[test]
    fn safeid_round_trip(tokens in proptest::collection::vec(synth::entra_csv_token(true), 1..8)) {
        let csv = write_all(Format::SafeIdCsv, &tokens, SecretEncoding::Base32);
        prop_assert_eq!(&read_all(Format::SafeIdCsv, &csv).unwrap(), &tokens);
        // The same rows as Entra's, but for the secret's encoding.
        let entra = write_all(Format::EntraCsv, &tokens, SecretEncoding::Base32);
        prop_assert_eq!(&read_all(Format::EntraCsv, &entra).unwrap(), &tokens);
        prop_assert_eq!(&read_all(Format::SafeIdCsv, &entra).unwrap(), &tokens);
    }

    #[test]
    fn csv_to_json_to_csv(tokens in proptest::collection::vec(synth::entra_csv_token(false), 1..8)) {
        let csv = write_all(Format::EntraCsv, &tokens, SecretEncoding::Base32);
        let json = write_all(Format::EntraJson, &read_all(Format::EntraCsv, &csv).unwrap(), SecretEncoding::Base32);
        let back = read_all(Format::EntraJson, &json).unwrap();
        prop_assert_eq!(&back, &tokens);
        prop_assert_eq!(write_all(Format::EntraCsv, &back, SecretEncoding::Base32), csv);
    }

    #[test]
    fn graph_json_round_trip(tokens in proptest::collection::vec(synth::entra_json_token(), 1..8)) {
        let json = write_all(Format::EntraJson, &tokens, SecretEncoding::Base32);
        prop_assert_eq!(read_all(Format::EntraJson, &json).unwrap(), tokens);
    }

    #[test]
    fn jsonl_is_lossless(tokens in proptest::collection::vec(synth::any_token(), 1..8)) {
        for enc in SecretEncoding::ALL {
            let jsonl = write_all(Format::Jsonl, &tokens, enc);
            prop_assert_eq!(detect(&jsonl).unwrap(), Format::Jsonl);
            prop_assert_eq!(&read_all(Format::Jsonl, &jsonl).unwrap(), &tokens);
        }
    }

    #[test]
    fn readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for f in Format::ALL {
            let _ = read_all(f, &bytes);
        }
        let _ = detect(&bytes);
    }
}

#[test]
fn golden_round_trips_through_every_format() {
    let entra = golden::entra();
    let csv = write_all(Format::EntraCsv, &entra, SecretEncoding::Base32);
    let jsonl = write_all(
        Format::Jsonl,
        &read_all(Format::EntraCsv, &csv).unwrap(),
        SecretEncoding::Hex,
    );
    let json = write_all(
        Format::EntraJson,
        &read_all(Format::Jsonl, &jsonl).unwrap(),
        SecretEncoding::Base32,
    );
    let back = read_all(Format::EntraJson, &json).unwrap();
    assert_eq!(back, entra);
    assert_eq!(
        write_all(Format::EntraCsv, &back, SecretEncoding::Base32),
        csv
    );
}

mod oath_csv {
    use super::*;
    use oathvault_formats::oath_csv::Reader;

    fn read(name: &str) -> (Vec<Token>, Vec<String>) {
        let bytes = testdata(&format!("csv/{name}"));
        let mut r = Reader::new(bytes.as_slice(), Some(Arc::from(name)));
        let tokens = r.by_ref().map(|t| t.unwrap()).collect();
        (tokens, r.skipped().to_vec())
    }

    #[test]
    fn import_oath() {
        let (t, _) = read("import.oath");
        let rows: Vec<(&str, &str, u8, Option<u32>)> = t
            .iter()
            .map(|t| {
                (
                    t.serial.as_str(),
                    t.kind.name(),
                    t.digits.get(),
                    t.kind.step().map(Step::seconds),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("token01", "hotp", 6, None),
                ("token02", "totp", 6, Some(30)),
                ("token03", "totp", 8, Some(60))
            ]
        );
        assert!(
            t.iter()
                .all(|t| SecretEncoding::Hex.encode(&t.secret).as_str()
                    == "3132333435363738393031323334353637383930")
        );
        assert_eq!(
            detect(&testdata("csv/import.oath")).unwrap(),
            Format::OathCsv
        );
    }

    #[test]
    fn inline_with_comments_and_a_serial_without_key() {
        let (t, skipped) = read("OATHCSV-inline.txt");
        let serials: Vec<&str> = t.iter().map(|t| t.serial.as_str()).collect();
        assert_eq!(serials, ["tok1", "tok2", "tok3", "tok4", "tok5", "tok6"]);
        assert_eq!(t[3].kind.step(), Some(Step::S60));
        assert_eq!(t[2].digits.get(), 8);
        assert_eq!(t[5].kind, Kind::Hotp { counter: 345 });
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains("no seed"));
        assert_eq!(
            detect(&testdata("csv/OATHCSV-inline.txt")).unwrap(),
            Format::OathCsv
        );
    }

    #[test]
    fn version_2_carries_users() {
        let (t, skipped) = read("OATHCSV_USER-inline.txt");
        let rows: Vec<(&str, Option<&str>)> = t
            .iter()
            .map(|t| (t.serial.as_str(), t.user.as_deref()))
            .collect();
        assert_eq!(rows, [("tok1", Some("user1")), ("tok3", Some("user3"))]);
        assert!(skipped[0].contains("no serial"));
        assert_eq!(
            detect(&testdata("csv/OATHCSV_USER-inline.txt")).unwrap(),
            Format::OathCsv
        );
    }

    #[test]
    fn ocra_is_reported_not_imported() {
        let (t, skipped) = read("ocra.csv");
        assert!(t.is_empty());
        assert!(
            skipped[0].contains("ocra, not an HOTP/TOTP token"),
            "{skipped:?}"
        );
    }

    #[test]
    fn bad_seed_names_line_and_field() {
        let e = read_all(Format::OathCsv, b"# c\nt1, 31zz, totp, 6, 30\n").unwrap_err();
        assert_eq!(e.location.line, Some(2));
        assert_eq!(e.location.field, Some("seed"));
    }
}

mod duo_csv {
    use super::*;
    use oathvault_formats::ReadOptions;
    use oathvault_formats::duo_csv::DuoType;

    fn read_duo(
        bytes: &[u8],
        kind: Option<DuoType>,
    ) -> Result<Vec<Token>, oathvault_formats::Error> {
        let opts = ReadOptions {
            duo: kind,
            ..ReadOptions::default()
        };
        oathvault_formats::reader_with(Format::DuoCsv, bytes, Some(Arc::from("duo.csv")), &opts)
            .collect()
    }

    #[test]
    fn golden_batches_as_the_spec_renders_them() {
        let totp = String::from_utf8(write_all(
            Format::DuoCsv,
            &golden::entra(),
            SecretEncoding::Hex,
        ))
        .unwrap();
        assert_eq!(
            totp,
            "10001001,3132333435363738393031323334353637383930,30\r\n10001002,d6f9df7c0110c8531d0952d8d73e1194e95b5f19,60\r\n"
        );
        let hotp = String::from_utf8(write_all(
            Format::DuoCsv,
            &[golden::token_c().token],
            SecretEncoding::Hex,
        ))
        .unwrap();
        assert_eq!(
            hotp,
            "20000001,3132333435363738393031323334353637383930,0\r\n"
        );
        assert_eq!(detect(totp.as_bytes()).unwrap(), Format::DuoCsv);
        let back = read_duo(totp.as_bytes(), Some(DuoType::Totp6)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].kind, Kind::totp(Step::S60));
        assert_eq!(back[1].secret, golden::token_b().token.secret);
        let back = read_duo(hotp.as_bytes(), Some(DuoType::Hotp8)).unwrap();
        assert_eq!(
            (back[0].kind, back[0].digits.get()),
            (Kind::Hotp { counter: 0 }, 8)
        );
    }

    #[test]
    fn the_type_must_be_given() {
        let e = read_duo(b"1,3132333435363738393031323334353637383930,30\n", None).unwrap_err();
        assert!(e.to_string().contains("--duo-type"), "{e}");
        let e = read_duo(b"1,31323g,30\n", Some(DuoType::Totp6)).unwrap_err();
        assert_eq!(
            (e.location.line, e.location.field),
            (Some(1), Some("secret"))
        );
    }

    #[test]
    fn mixed_batches_are_refused_naming_the_first_odd_token() {
        let all: Vec<Token> = golden::all().into_iter().map(|g| g.token).collect();
        let jsonl = write_all(Format::Jsonl, &all, SecretEncoding::Hex);
        let opts = oathvault_formats::ConvertOptions {
            from: Format::Jsonl,
            to: Format::DuoCsv,
            write: WriteOptions::default(),
            read: ReadOptions::default(),
            file: None,
            threads: 1,
            shown: 20,
            stop_after: 100,
            chunk_size: oathvault_formats::DEFAULT_CHUNK,
            size_hint: None,
        };
        let c = oathvault_formats::convert(jsonl.as_slice(), &mut Vec::new(), &opts).unwrap();
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert!(
            c.problems[0].starts_with("serial 20000001: the file holds one kind of token"),
            "{:?}",
            c.problems
        );
        assert!(c.problems[0].contains("HOTP 6 digits, where the file started with TOTP 6 digits"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]
        #[test]
        fn duo_round_trip(tokens in proptest::collection::vec(synth::entra_csv_token(false), 1..8)) {
            let csv = write_all(Format::DuoCsv, &tokens, SecretEncoding::Hex);
            let back = read_duo(&csv, Some(DuoType::Totp6)).unwrap();
            for (a, b) in back.iter().zip(&tokens) {
                prop_assert_eq!(&a.serial, &b.serial);
                prop_assert_eq!(&a.secret, &b.secret);
                prop_assert_eq!(a.kind, b.kind);
            }
            prop_assert_eq!(back.len(), tokens.len());
        }
    }
}

mod salesforce_csv {
    use super::*;

    #[test]
    fn golden_token_a_and_the_limits() {
        let a = golden::token_a().token;
        let csv = String::from_utf8(write_all(
            Format::SalesforceCsv,
            std::slice::from_ref(&a),
            SecretEncoding::Base32,
        ))
        .unwrap();
        assert_eq!(
            csv,
            "User Name,Serial Number,SharedKey,Type\r\n,10001001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,TOTP\r\n"
        );
        assert_eq!(detect(csv.as_bytes()).unwrap(), Format::SalesforceCsv);
        let back = read_all(Format::SalesforceCsv, csv.as_bytes()).unwrap();
        assert_eq!(
            (&back[0].serial, &back[0].secret, back[0].kind),
            (&a.serial, &a.secret, a.kind)
        );
        let mut short = a.clone();
        short.secret = SecretEncoding::Hex
            .decode("31323334353637383930313233343536")
            .unwrap();
        for (t, rule) in [
            (golden::token_b().token, Rule::SalesforceTotp),
            (golden::token_c().token, Rule::SalesforceTotp),
            (short, Rule::SalesforceSecret),
        ] {
            let mut w =
                writer(Format::SalesforceCsv, Vec::new(), &WriteOptions::default()).unwrap();
            match w.write(&t).unwrap_err().kind {
                ErrorKind::Limit(v) => assert_eq!(v.rule, rule, "{}", t.serial),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn user_names_and_errors() {
        let csv = b"user name,serial number,sharedkey,type\nuser1@acme.org,1,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,TOTP\n2,,x,TOTP\n";
        let items: Vec<_> =
            oathvault_formats::reader(Format::SalesforceCsv, csv.as_slice(), None).collect();
        assert_eq!(
            items[0].as_ref().unwrap().user.as_deref(),
            Some("user1@acme.org")
        );
        let e = items[1].as_ref().unwrap_err();
        assert_eq!(
            (e.location.line, e.location.field),
            (Some(3), Some("serial number"))
        );
        let e = read_all(Format::SalesforceCsv, b"serial number,type\n1,TOTP\n").unwrap_err();
        assert!(e.to_string().contains("no `sharedkey` column"), "{e}");
    }
}

mod okta_csv {
    use super::*;

    #[test]
    fn golden_tokens_in_each_encoding_read_back() {
        let entra = golden::entra();
        let b32 =
            String::from_utf8(write_all(Format::OktaCsv, &entra, SecretEncoding::Base32)).unwrap();
        assert!(b32.starts_with(
            "login,serial number,secret key,time interval,algorithm,digits,encoding\r\n"
        ));
        assert!(
            b32.contains(",10001002,234567ABCDEFGHIJKLMNOPQRSTUVWXYZ,60,HMacSHA1,6,base32\r\n"),
            "{b32}"
        );
        assert_eq!(detect(b32.as_bytes()).unwrap(), Format::OktaCsv);
        for enc in [
            SecretEncoding::Base32,
            SecretEncoding::Hex,
            SecretEncoding::Base64,
        ] {
            let csv = write_all(Format::OktaCsv, &entra, enc);
            let back = read_all(Format::OktaCsv, &csv).unwrap();
            for (a, b) in back.iter().zip(&entra) {
                assert_eq!(
                    (&a.serial, &a.secret, a.kind, a.hash, a.digits),
                    (&b.serial, &b.secret, b.kind, b.hash, b.digits)
                );
            }
        }
        let hex =
            String::from_utf8(write_all(Format::OktaCsv, &entra, SecretEncoding::Hex)).unwrap();
        assert!(
            hex.contains(",3132333435363738393031323334353637383930,30,HMacSHA1,6,hexadecimal\r\n"),
            "{hex}"
        );
    }

    #[test]
    fn hotp_is_refused() {
        let mut w = writer(Format::OktaCsv, Vec::new(), &WriteOptions::default()).unwrap();
        match w.write(&golden::token_c().token).unwrap_err().kind {
            ErrorKind::Limit(v) => assert_eq!(v.rule, Rule::OktaTotp),
            other => panic!("{other:?}"),
        }
    }
}

mod yubico_csv {
    use super::*;
    use oathvault_formats::yubico_csv::Reader;

    fn read(name: &str) -> (Vec<Token>, Vec<String>) {
        let bytes = testdata(&format!("csv/{name}"));
        let mut r = Reader::new(bytes.as_slice(), Some(Arc::from(name)));
        let tokens = r.by_ref().map(|t| t.unwrap()).collect();
        (tokens, r.skipped().to_vec())
    }

    #[test]
    fn oath_slots_become_tokens_the_rest_is_listed() {
        let (t, skipped) = read("yubico.csv");
        let rows: Vec<(&str, String, u8)> = t
            .iter()
            .map(|t| {
                (
                    t.serial.as_str(),
                    SecretEncoding::Hex.encode(&t.secret).to_string(),
                    t.digits.get(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "cccccccccccc",
                    "916821d3a138bf855e70069605559a206ba854cd".to_owned(),
                    6
                ),
                (
                    "508327",
                    "69cfb9202438ca68964ec3244bfa4843d073a43b".to_owned(),
                    6
                ),
                (
                    "1382042",
                    "bf7efc1c8b6f23604930a9ce693bdd6c3265be00".to_owned(),
                    6
                ),
            ]
        );
        assert!(t.iter().all(|t| t.kind == Kind::Hotp { counter: 0 }));
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert_eq!(
            detect(&testdata("csv/yubico.csv")).unwrap(),
            Format::YubicoCsv
        );
        let (t, _) = read("yubico-oath.csv");
        assert_eq!(t.len(), 3);
        assert_eq!(
            detect(&testdata("csv/yubico-oath.csv")).unwrap(),
            Format::YubicoCsv
        );
    }
}

mod custom_csv {
    use super::*;
    use oathvault_formats::custom_csv::Template;

    fn options(spec: &str, header: bool, enc: SecretEncoding) -> WriteOptions {
        let mut t: Template = spec.parse().unwrap();
        t.header = header;
        WriteOptions {
            secret_encoding: enc,
            custom: Some(t),
            ..WriteOptions::default()
        }
    }

    fn render(tokens: &[Token], o: &WriteOptions) -> String {
        let mut out = Vec::new();
        let mut w = writer(Format::CustomCsv, &mut out, o).unwrap();
        for t in tokens {
            w.write(t).unwrap();
        }
        w.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_fixed_values_and_encodings() {
        let all: Vec<Token> = golden::all().into_iter().map(|g| g.token).collect();
        let o = options(
            r#"serial=serial,seed=secret,type=type,"Vendor, Inc."="Deepnet, Ltd",step=step,counter=counter"#,
            true,
            SecretEncoding::Base64,
        );
        assert_eq!(
            render(&all, &o),
            "serial,seed,type,\"\"\"Vendor, Inc.\"\"\",step,counter\r\n\
             10001001,MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=,TOTP,\"Deepnet, Ltd\",30,\r\n\
             10001002,1vnffAEQyFMdCVLY1z4RlOlbXxk=,TOTP,\"Deepnet, Ltd\",60,\r\n\
             20000001,MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=,HOTP,\"Deepnet, Ltd\",,0\r\n"
        );
        let o = options("s=serial,k=secret", false, SecretEncoding::Hex);
        assert_eq!(
            render(&all[..1], &o),
            "10001001,3132333435363738393031323334353637383930\r\n"
        );
    }

    #[test]
    fn otpauth_uri_and_masked_preview() {
        let o = options("uri=otpauth", true, SecretEncoding::Base32);
        let csv = render(&[golden::token_b().token], &o);
        assert!(csv.contains("otpauth://totp/Deepnet%20Security:10001002?secret=234567ABCDEFGHIJKLMNOPQRSTUVWXYZ&issuer=Deepnet%20Security&algorithm=SHA1&digits=6&period=60"), "{csv}");
        let t: Template = "Serial=serial,Seed=secret,URI=otpauth".parse().unwrap();
        let preview = t.preview(&golden::entra());
        assert!(
            preview.contains("10001001,••••••,otpauth://••••••"),
            "{preview}"
        );
        assert!(
            !preview.contains("GEZD") && !preview.contains("3132"),
            "{preview}"
        );
    }

    #[test]
    fn bad_templates_say_why() {
        assert!("".parse::<Template>().unwrap_err().contains("no columns"));
        assert!(
            "seed"
                .parse::<Template>()
                .unwrap_err()
                .contains("not name=property")
        );
        let e = "seed=sekret".parse::<Template>().unwrap_err();
        assert!(
            e.contains("unknown token property \"sekret\"") && e.contains("otpauth"),
            "{e}"
        );
        let e = writer(Format::CustomCsv, Vec::new(), &WriteOptions::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("needs a template"));
    }
}

mod dualshield {
    use super::*;

    const DEEPNET_SAMPLE: &str = "<?xml version=\"1.0\"?>\n<data>\n<header>\n\t<manufacturerCode>DN</manufacturerCode>\n\t<productCode>ST</productCode>\n\t<encrypt>NONE</encrypt>\n\t<encode>HEX</encode>\n\t<digits>6</digits>\n\t<timeWindow>60</timeWindow>\n\t<crypto>HmacSHA1</crypto>   </header>\n <tokens>\n   <token>\n\t\t<serial>71358472</serial>\n\t\t<seed>08E49538328BAE830E0DB14A82341100BC23B840</seed>\n\t </token>\n\t <token>\n\t\t<serial>71358473</serial>\n\t\t<seed>08E49538328BAE830E0DB14A82341100BC23B841</seed>\n\t</token>\n</tokens>\n</data>\n";

    #[test]
    fn deepnet_sample_reads() {
        assert_eq!(
            detect(DEEPNET_SAMPLE.as_bytes()).unwrap(),
            Format::DualShield
        );
        let t = read_all(Format::DualShield, DEEPNET_SAMPLE.as_bytes()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].serial.as_str(), "71358473");
        assert_eq!(t[0].kind, Kind::totp(Step::S60));
        assert_eq!(
            SecretEncoding::Hex.encode(&t[1].secret).as_str(),
            "08e49538328bae830e0db14a82341100bc23b841"
        );
    }

    #[test]
    fn golden_token_a_round_trips_and_batches_must_match() {
        let a = golden::token_a().token;
        let xml = String::from_utf8(write_all(
            Format::DualShield,
            std::slice::from_ref(&a),
            SecretEncoding::Hex,
        ))
        .unwrap();
        assert!(xml.contains("<encode>HEX</encode>\n\t<digits>6</digits>\n\t<timeWindow>30</timeWindow>\n\t<crypto>HmacSHA1</crypto>"), "{xml}");
        assert!(xml.contains("<serial>10001001</serial>\n\t\t<seed>3132333435363738393031323334353637383930</seed>"), "{xml}");
        let back = read_all(Format::DualShield, xml.as_bytes()).unwrap();
        assert_eq!(
            (&back[0].serial, &back[0].secret, back[0].kind),
            (&a.serial, &a.secret, a.kind)
        );
        // A (30 s) and B (60 s) cannot share a header.
        let jsonl = write_all(Format::Jsonl, &golden::entra(), SecretEncoding::Hex);
        let opts = oathvault_formats::ConvertOptions {
            from: Format::Jsonl,
            to: Format::DualShield,
            write: WriteOptions::default(),
            read: oathvault_formats::ReadOptions::default(),
            file: None,
            threads: 1,
            shown: 20,
            stop_after: 100,
            chunk_size: oathvault_formats::DEFAULT_CHUNK,
            size_hint: None,
        };
        let c = oathvault_formats::convert(jsonl.as_slice(), &mut Vec::new(), &opts).unwrap();
        assert_eq!(
            c.problems,
            [
                "serial 10001002: the file holds one kind of token (one header, or one choice in the import form) (this token: TOTP 6 digits 60 s SHA1, where the file started with TOTP 6 digits 30 s SHA1)"
            ]
        );
    }

    #[test]
    fn base32_seeds_and_refusals() {
        let b32 = "<data><header><encode>BASE32</encode><synchronisation>30</synchronisation></header><tokens><token><serial>g1</serial><seed>GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ</seed></token></tokens></data>";
        assert_eq!(
            read_all(Format::DualShield, b32.as_bytes()).unwrap()[0].kind,
            Kind::totp(Step::S30)
        );
        let aes = b32.replace("<encode>", "<encrypt>AES256</encrypt><encode>");
        assert!(
            read_all(Format::DualShield, aes.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("encrypted (AES256)")
        );
        let mut w = writer(Format::DualShield, Vec::new(), &WriteOptions::default()).unwrap();
        assert!(matches!(
            w.write(&golden::token_c().token).unwrap_err().kind,
            ErrorKind::Limit(_)
        ));
    }
}

mod safeid_csv {
    use super::*;

    /// Deepnet's delivery sample (seed-formats.md §2, from the wiki page
    /// "How to Upload SafeID Hardware Token to Azure AD"), Base32.
    const DEEPNET: &str = "serial number,secret key,time interval,manufacturer,model\n\
        10001001,234567ABCDEFGHIJKLMNOPQRSTUVWXYZ,60,Deepnet Security,SafeID/Classic\n\
        10001002,ZYXWVUTSRQPONMLKJIHGFEDCBA765432,60,Deepnet Security,SafeID/Classic\n";

    fn hex(t: &Token) -> String {
        let mut out = Vec::new();
        SecretEncoding::Hex.encode_to(&t.secret, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn deepnet_sample_reads_and_writes_as_hex() {
        let tokens = read_all(Format::SafeIdCsv, DEEPNET.as_bytes()).unwrap();
        // Expected values re-computed in seed-formats.md [V].
        assert_eq!(hex(&tokens[0]), "d6f9df7c0110c8531d0952d8d73e1194e95b5f19");
        assert_eq!(hex(&tokens[1]), "ce2f6ad2728c1ee6b16a4a0e629062083feef37a");
        assert_eq!(tokens[0].kind, Kind::totp(Step::S60));
        assert_eq!(tokens[0].model.as_deref(), Some("SafeID/Classic"));
        let out =
            String::from_utf8(write_all(Format::SafeIdCsv, &tokens, SecretEncoding::Hex)).unwrap();
        assert_eq!(
            out,
            "upn,serial number,secret key,time interval,manufacturer,model\r\n\
             ,10001001,D6F9DF7C0110C8531D0952D8D73E1194E95B5F19,60,Deepnet Security,SafeID/Classic\r\n\
             ,10001002,CE2F6AD2728C1EE6B16A4A0E629062083FEEF37A,60,Deepnet Security,SafeID/Classic\r\n"
        );
        assert_eq!(read_all(Format::SafeIdCsv, out.as_bytes()).unwrap(), tokens);
        // Entra's reader refuses the hex rows, naming line and field.
        let e = read_all(Format::EntraCsv, out.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("secret key"), "{e}");
        assert!(!e.contains("D6F9DF7C"), "{e}");
    }

    #[test]
    fn odd_length_hex_is_base32_and_bad_values_name_the_field() {
        // Odd length: not hex, so Base32 (and "ABC" is not 5-bit aligned).
        let csv = "serial number,secret key,time interval\n1,GEZDGNBVGY3TQOJQ,30\n2,XYZ0,30\n";
        let mut r = reader(Format::SafeIdCsv, csv.as_bytes(), Some(Arc::from("s.csv")));
        assert_eq!(hex(&r.next().unwrap().unwrap()), "31323334353637383930");
        let e = r.next().unwrap().unwrap_err().to_string();
        assert!(
            e.contains("s.csv") && e.contains("line 3") && e.contains("secret key"),
            "{e}"
        );
    }

    #[test]
    fn limits_are_entras() {
        let mut w = writer(Format::SafeIdCsv, Vec::new(), &WriteOptions::default()).unwrap();
        assert!(matches!(
            w.write(&golden::token_c().token).unwrap_err().kind,
            ErrorKind::Limit(_)
        ));
    }
}
