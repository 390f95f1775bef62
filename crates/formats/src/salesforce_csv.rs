//! Salesforce CSV, as oathvault defines it (Salesforce publishes no seed
//! file): Data-Loader-ready rows for the `TwoFactorInfo` object.
//!
//! ```text
//! User Name,Serial Number,SharedKey,Type
//! ,10001001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,TOTP
//! ```
//!
//! `SharedKey` is what Salesforce documents: "a base32-encoded string of a
//! 20-byte secret" (upper case, unpadded). Salesforce verifies 6-digit,
//! 30-second HMAC-SHA-1 codes, so those are the limits. `User Name` is left
//! for the customer; Data Loader maps it to `UserId`. See
//! `docs/formats/salesforce.md`.

use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{SecretEncoding, Serial, Step, Token};

use crate::emit::csv_field;
use crate::error::{Error, ErrorKind};
use crate::limits::Target;
use crate::table::{self, Row};

/// The header written.
pub const HEADER: &[u8] = b"User Name,Serial Number,SharedKey,Type\r\n";

const KNOWN: &[&[&str]] = &[
    &["user name", "username", "userid", "user"],
    &["serial number", "serialnumber", "serial"],
    &["sharedkey", "shared key", "secret key"],
    &["type"],
];

fn build<R: BufRead>(row: &Row<'_, R>) -> Result<Token, Error> {
    let serial = Serial::new(row.need("serial number")?)
        .map_err(|e| Error::new(e).field("Serial Number"))?;
    if let Some(t) = row.get("type")
        && !t.eq_ignore_ascii_case("totp")
    {
        return Err(Error::new(ErrorKind::Syntax(format!("type {t:?} is not TOTP"))).field("Type"));
    }
    let secret = SecretEncoding::Base32
        .decode(row.need("sharedkey")?)
        .map_err(|e| Error::new(e).field("SharedKey"))?;
    let mut token = Token::totp(serial, secret, Step::S30);
    token.user = row.get("user name").map(str::to_owned);
    Ok(token)
}

/// A reader of Salesforce CSV files.
pub fn reader<'a, R: BufRead + Send + 'a>(
    input: R,
    file: Option<Arc<str>>,
) -> crate::TokenReader<'a> {
    Box::new(table::Reader::new(
        input,
        file,
        KNOWN,
        &["serial number", "sharedkey"],
        build::<R>,
    ))
}

/// Encodes tokens as Salesforce CSV rows.
#[derive(Debug, Default)]
pub struct Encoder;

impl crate::emit::Encoder for Encoder {
    fn encode(&mut self, token: &Token, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(v) = Target::Salesforce.check(token).into_iter().next() {
            return Err(Error::new(ErrorKind::Limit(v)));
        }
        csv_field(out, token.user.as_deref().unwrap_or(""));
        out.push(b',');
        csv_field(out, token.serial.as_str());
        out.push(b',');
        SecretEncoding::Base32.encode_to(&token.secret, out);
        out.extend_from_slice(b",TOTP\r\n");
        Ok(())
    }
}
