//! PSKC `KeyPackage`s read on several threads give what one thread gives:
//! the same tokens, problems and notes in the same order, whatever lies
//! between the packages (container settings, extensions, comments) and
//! wherever the document breaks.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure is a failed test"
)]

use std::fmt::Write as _;

use oathvault_formats::pskc::{Keys, Reader, SerialFrom};

/// A plain PSKC document of `n` keys with, among them, keys that are not
/// OTP tokens (skipped), secrets that are not Base64 and keys without a
/// serial (problems), extensions and comments between packages; `broken`
/// puts an unknown entity (not well-formed) in package `broken`.
fn document(n: usize, broken: Option<usize>) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\"?>\n<KeyContainer Version=\"1.0\" \
         xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n",
    );
    for i in 0..n {
        if i % 97 == 5 {
            x.push_str(
                "  <!-- a comment -->\n  <x:Note xmlns:x=\"urn:example:other\">n</x:Note>\n",
            );
        }
        if i % 211 == 7 {
            x.push_str("  <Extensions><Extension/></Extensions>\n");
        }
        let alg = if i % 13 == 0 { "pin" } else { "totp" };
        let secret = if i % 17 == 0 {
            "not*base64".to_owned()
        } else {
            let bytes = format!("secret-{i:08}-abcdefgh");
            data_encoding::BASE64.encode(bytes.as_bytes())
        };
        let (device, id) = if i % 101 == 0 {
            (String::new(), String::new())
        } else {
            (
                format!("<DeviceInfo><SerialNo>S{i}</SerialNo></DeviceInfo>"),
                format!(" Id=\"k{i}\""),
            )
        };
        let text = if broken == Some(i) { "&nope;" } else { "" };
        let _ = writeln!(
            x,
            "  <KeyPackage>{device}<Key{id} Algorithm=\"urn:ietf:params:xml:ns:keyprov:pskc:{alg}\">\
             <FriendlyName>t{i}{text}</FriendlyName>\
             <AlgorithmParameters><ResponseFormat Length=\"6\" Encoding=\"DECIMAL\"/></AlgorithmParameters>\
             <Data><Secret><PlainValue>{secret}</PlainValue></Secret>\
             <TimeInterval><PlainValue>30</PlainValue></TimeInterval></Data></Key></KeyPackage>"
        );
    }
    x.push_str("</KeyContainer>\n");
    x
}

/// Everything a reader yields, in order, then its notes.
fn read(xml: &str, threads: usize, from: Option<SerialFrom>) -> (Vec<String>, Vec<String>) {
    let mut r = Reader::new(xml.as_bytes(), None, Keys::default())
        .with_threads(threads)
        .with_serial_from(from);
    let items = r
        .by_ref()
        .map(|t| match t {
            Ok(t) => format!(
                "{} {:?} {}",
                t.serial.as_str(),
                t.display_name,
                data_encoding::HEXLOWER.encode(t.secret.expose())
            ),
            Err(e) => format!("error: {e}"),
        })
        .collect();
    (items, r.skipped().to_vec())
}

#[test]
fn several_threads_read_what_one_reads() {
    for (n, broken) in [(3000, None), (3000, Some(2500)), (40, None), (3, None)] {
        let xml = document(n, broken);
        for from in [None, Some(SerialFrom::KeyId)] {
            let (one, one_notes) = read(&xml, 1, from.clone());
            let good = one.iter().filter(|i| !i.starts_with("error")).count();
            if n == 3000 {
                assert!(good > 2000, "{good}");
                assert!(one.iter().any(|i| i.contains("Base64")), "{:?}", &one[..20]);
                assert!(
                    one_notes
                        .iter()
                        .any(|n| n.contains("not an HOTP/TOTP token"))
                );
            }
            if broken.is_some() {
                let last = one.last().unwrap();
                assert!(last.contains("unknown XML entity"), "{last}");
                assert!(!one.iter().any(|i| i.starts_with("S2600 ")));
            }
            for threads in [2, 3] {
                let (many, many_notes) = read(&xml, threads, from.clone());
                assert_eq!(many, one, "{n} keys, {threads} threads, {from:?}");
                assert_eq!(many_notes, one_notes, "{n} keys, {threads} threads");
            }
        }
    }
}

/// Made-up serials are numbered in file order: one thread reads.
#[test]
fn sequence_serials_keep_file_order() {
    let xml = document(500, None);
    let from = Some(SerialFrom::Sequence("Q-".into()));
    let (one, notes) = read(&xml, 1, from.clone());
    assert!(one.iter().any(|i| i.starts_with("Q-1 ")), "{:?}", &one[..3]);
    assert_eq!(read(&xml, 2, from), (one, notes));
}
