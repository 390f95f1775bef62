//! Okta CSV, as oathvault defines it (Okta has no seed import screen; seeds
//! reach it through the Factors API, one call per user, with a Custom TOTP
//! factor profile that fixes the algorithm, digits, step and secret
//! encoding).
//!
//! ```text
//! login,serial number,secret key,time interval,algorithm,digits,encoding
//! ,10001001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30,HMacSHA1,6,base32
//! ```
//!
//! `algorithm` uses Okta's spellings (`HMacSHA1`, `HMacSHA256`,
//! `HMacSHA512`); `encoding` is the profile's "shared secret encoding"
//! (`base32`, `hexadecimal` or `base64`; chosen with `--secret-encoding`).
//! `login` is left for the customer. See `docs/formats/okta.md`.

use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Serial, Step, Token};

use crate::emit::{csv_field, push_decimal};
use crate::error::{Error, ErrorKind};
use crate::limits::Target;
use crate::table::{self, Row};

/// The header written.
pub const HEADER: &[u8] =
    b"login,serial number,secret key,time interval,algorithm,digits,encoding\r\n";

const KNOWN: &[&[&str]] = &[
    &["login", "upn", "user"],
    &["serial number", "serialnumber", "serial"],
    &["secret key", "secretkey", "sharedsecret", "shared secret"],
    &["time interval", "timeinterval", "time step", "timestep"],
    &["algorithm", "hmac algorithm", "hash"],
    &["digits", "otp length", "keylength"],
    &["encoding", "shared secret encoding"],
];

fn encoding_of(name: &str) -> Option<SecretEncoding> {
    match name.to_ascii_lowercase().as_str() {
        "base32" => Some(SecretEncoding::Base32),
        "hexadecimal" | "hex" => Some(SecretEncoding::Hex),
        "base64" => Some(SecretEncoding::Base64),
        _ => None,
    }
}

fn build<R: BufRead>(row: &Row<'_, R>) -> Result<Token, Error> {
    let serial = Serial::new(row.need("serial number")?)
        .map_err(|e| Error::new(e).field("serial number"))?;
    let encoding = match row.get("encoding") {
        None => SecretEncoding::Base32,
        Some(e) => encoding_of(e).ok_or_else(|| {
            Error::new(ErrorKind::Syntax(format!(
                "{e:?} is not base32, hexadecimal or base64"
            )))
            .field("encoding")
        })?,
    };
    let secret = encoding
        .decode(row.need("secret key")?)
        .map_err(|e| Error::new(e).field("secret key"))?;
    let step = match row.get("time interval") {
        None => Step::S30,
        Some(s) => Step::parse(s).map_err(|e| Error::new(e).field("time interval"))?,
    };
    let mut token = Token::totp(serial, secret, step);
    if let Some(h) = row.get("algorithm") {
        token.hash = h
            .parse::<Hash>()
            .map_err(|e| Error::new(e).field("algorithm"))?;
    }
    if let Some(d) = row.get("digits") {
        token.digits = Digits::parse(d).map_err(|e| Error::new(e).field("digits"))?;
    }
    token.user = row.get("login").map(str::to_owned);
    Ok(token)
}

/// A reader of Okta CSV files.
pub fn reader<'a, R: BufRead + Send + 'a>(
    input: R,
    file: Option<Arc<str>>,
) -> crate::TokenReader<'a> {
    Box::new(table::Reader::new(
        input,
        file,
        KNOWN,
        &["serial number", "secret key"],
        build::<R>,
    ))
}

/// Encodes tokens as Okta CSV rows, secrets in the chosen encoding.
#[derive(Debug)]
pub struct Encoder {
    encoding: SecretEncoding,
}

impl Encoder {
    /// Secrets in `encoding` (hex is written lower case; Base32 unpadded).
    #[must_use]
    pub fn new(encoding: SecretEncoding) -> Self {
        let encoding = match encoding {
            SecretEncoding::HexUpper => SecretEncoding::Hex,
            SecretEncoding::Base32Padded => SecretEncoding::Base32,
            e => e,
        };
        Self { encoding }
    }
}

impl crate::emit::Encoder for Encoder {
    fn encode(&mut self, token: &Token, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(v) = Target::Okta.check(token).into_iter().next() {
            return Err(Error::new(ErrorKind::Limit(v)));
        }
        let step = match token.kind {
            Kind::Totp { step, .. } => step.seconds(),
            Kind::Hotp { .. } => 30,
        };
        csv_field(out, token.user.as_deref().unwrap_or(""));
        out.push(b',');
        csv_field(out, token.serial.as_str());
        out.push(b',');
        self.encoding.encode_to(&token.secret, out);
        out.push(b',');
        push_decimal(out, u64::from(step));
        out.extend_from_slice(match token.hash {
            Hash::Sha1 => b",HMacSHA1,",
            Hash::Sha256 => b",HMacSHA256,",
            Hash::Sha512 => b",HMacSHA512,",
        });
        push_decimal(out, u64::from(token.digits.get()));
        out.extend_from_slice(match self.encoding {
            SecretEncoding::Base64 => b",base64\r\n",
            SecretEncoding::Hex | SecretEncoding::HexUpper => b",hexadecimal\r\n",
            SecretEncoding::Base32 | SecretEncoding::Base32Padded => b",base32\r\n",
        });
        Ok(())
    }
}
