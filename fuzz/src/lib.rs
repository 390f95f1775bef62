//! What every fuzz target checks: a reader given any bytes returns tokens or
//! errors, never panics; format detection never panics; and every token it
//! returns survives the lossless JSON Lines format unchanged.

use std::sync::Arc;

use oathvault_formats::duo_csv::DuoType;
use oathvault_formats::pskc::Keys;
use oathvault_formats::{Format, ReadOptions, WriteOptions, detect, reader, reader_with, writer};
use oathvault_token::Token;

/// Reads `data` as `format` and checks the tokens it yields.
pub fn read(format: Format, data: &[u8]) {
    let _ = detect(data);
    let options = options(format);
    let tokens: Vec<Token> = reader_with(format, data, Some(Arc::from("fuzz")), &options)
        .filter_map(Result::ok)
        .collect();
    round_trip(&tokens);
}

/// Reads `data` as a passphrase-protected PSKC file, refusing more than
/// `max_iterations` PBKDF2 iterations, and checks the tokens it yields.
pub fn read_passphrase(data: &[u8], max_iterations: u32) {
    let keys = Keys {
        psk: None,
        passphrase: Some(zeroize::Zeroizing::new("qwerty".to_owned())),
    };
    let tokens: Vec<Token> =
        oathvault_formats::pskc::Reader::new(data, Some(Arc::from("fuzz")), keys)
            .with_max_iterations(max_iterations)
            .filter_map(Result::ok)
            .collect();
    round_trip(&tokens);
}

/// Keys and batch types so the protected and typed paths run too: the
/// RFC 6030 pre-shared key (figure 6) for PSKC, TOTP 6 for Duo.
fn options(format: Format) -> ReadOptions {
    let mut options = ReadOptions::default();
    match format {
        Format::Pskc => {
            options.pskc = Keys {
                psk: Some(zeroize::Zeroizing::new(vec![
                    0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56,
                    0x78, 0x90, 0x12,
                ])),
                passphrase: None,
            };
        }
        Format::DuoCsv => options.duo = Some(DuoType::Totp6),
        _ => {}
    }
    options
}

/// Tokens written as JSON Lines read back equal.
fn round_trip(tokens: &[Token]) {
    if tokens.is_empty() {
        return;
    }
    let mut out = Vec::new();
    {
        let Ok(mut w) = writer(Format::Jsonl, &mut out, &WriteOptions::default()) else {
            panic!("a JSON Lines writer always opens");
        };
        for t in tokens {
            if let Err(e) = w.write(t) {
                panic!("JSON Lines refused a token the reader accepted: {e}");
            }
        }
        if let Err(e) = w.finish() {
            panic!("JSON Lines could not finish: {e}");
        }
    }
    let back: Result<Vec<Token>, _> = reader(Format::Jsonl, out.as_slice(), None).collect();
    match back {
        Ok(back) => assert!(back == tokens, "JSON Lines changed a token"),
        Err(e) => panic!("JSON Lines could not read its own output: {e}"),
    }
}
