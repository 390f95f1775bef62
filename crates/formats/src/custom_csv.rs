//! Custom CSV: columns the customer names, each a fixed value or a token
//! property; header row on or off; secrets in hex, Base32 or Base64.
//!
//! On the command line a template is `name=property` or `name="fixed"`,
//! comma-separated:
//!
//! ```text
//! Serial=serial,Seed=secret,Type="TOTP",Digits=digits,Period=step
//! ```
//!
//! Properties: `serial`, `secret`, `secret_bytes`, `type`, `hash`, `digits`,
//! `step`, `t0`, `counter`, `manufacturer`, `model`, `display_name`, `user`,
//! `issuer`, `key_id`, `otpauth` (an `otpauth://` URI for programmable tokens).

use std::fmt::Write as _;
use std::str::FromStr;

use oathvault_token::{Kind, SecretEncoding, Token};
use zeroize::Zeroizing;

use crate::emit::csv_field;
use crate::error::Error;

/// A token property a column can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Property {
    /// The serial number.
    Serial,
    /// The secret, in the template's encoding.
    Secret,
    /// The secret's length in bytes.
    SecretBytes,
    /// `TOTP` or `HOTP`.
    Type,
    /// `SHA1`, `SHA256` or `SHA512`.
    Hash,
    /// Code length.
    Digits,
    /// TOTP step in seconds (empty for HOTP).
    Step,
    /// TOTP T0 (empty for HOTP).
    T0,
    /// HOTP counter (empty for TOTP).
    Counter,
    /// Manufacturer.
    Manufacturer,
    /// Model.
    Model,
    /// Display name.
    DisplayName,
    /// Assigned user.
    User,
    /// Issuer.
    Issuer,
    /// Vendor key id.
    KeyId,
    /// `otpauth://totp|hotp/…` with the secret in Base32.
    Otpauth,
}

impl Property {
    /// Every property, with its template name.
    pub const ALL: [(&'static str, Self); 16] = [
        ("serial", Self::Serial),
        ("secret", Self::Secret),
        ("secret_bytes", Self::SecretBytes),
        ("type", Self::Type),
        ("hash", Self::Hash),
        ("digits", Self::Digits),
        ("step", Self::Step),
        ("t0", Self::T0),
        ("counter", Self::Counter),
        ("manufacturer", Self::Manufacturer),
        ("model", Self::Model),
        ("display_name", Self::DisplayName),
        ("user", Self::User),
        ("issuer", Self::Issuer),
        ("key_id", Self::KeyId),
        ("otpauth", Self::Otpauth),
    ];

    /// Whether the value carries the secret (masked in previews).
    #[must_use]
    pub fn is_secret(self) -> bool {
        matches!(self, Self::Secret | Self::Otpauth)
    }
}

/// What a column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The same text on every row.
    Fixed(String),
    /// A token property.
    Property(Property),
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Header name.
    pub name: String,
    /// Content.
    pub value: Value,
}

/// A Custom CSV layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Columns, in order.
    pub columns: Vec<Column>,
    /// Whether the first row names the columns.
    pub header: bool,
    /// How the `secret` property is written.
    pub secret_encoding: SecretEncoding,
}

impl FromStr for Template {
    type Err = String;

    /// Parses `name=property,name="fixed",…` (header on, Base32 secrets).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut columns = Vec::new();
        for part in split_top(s) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                format!("template column {part:?} is not name=property or name=\"fixed\"")
            })?;
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                return Err(format!("template column {part:?} has no name"));
            }
            let value =
                if let Some(fixed) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    Value::Fixed(fixed.to_owned())
                } else {
                    let p = Property::ALL
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(value))
                    .map(|(_, p)| *p)
                    .ok_or_else(|| {
                        format!(
                            "unknown token property {value:?} (known: {}; or a \"fixed value\")",
                            Property::ALL.map(|(n, _)| n).join(", ")
                        )
                    })?;
                    Value::Property(p)
                };
            columns.push(Column {
                name: name.to_owned(),
                value,
            });
        }
        if columns.is_empty() {
            return Err("the template has no columns".into());
        }
        Ok(Self {
            columns,
            header: true,
            secret_encoding: SecretEncoding::Base32,
        })
    }
}

/// Splits on commas outside double quotes.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(s.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(s.get(start..).unwrap_or(""));
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

fn percent(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

impl Template {
    /// The header row (empty when the header is off).
    #[must_use]
    pub fn header_row(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.header {
            for (i, c) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv_field(&mut out, &c.name);
            }
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn value(&self, token: &Token, p: Property, masked: bool) -> Zeroizing<String> {
        let mut v = Zeroizing::new(String::new());
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        match p {
            Property::Serial => v.push_str(token.serial.as_str()),
            Property::Secret if masked => v.push_str("••••••"),
            Property::Secret => self.secret_encoding.encode_append(&token.secret, &mut v),
            Property::SecretBytes => v.push_str(&token.secret.len().to_string()),
            Property::Type => v.push_str(&token.kind.name().to_uppercase()),
            Property::Hash => v.push_str(&token.hash.to_string()),
            Property::Digits => v.push_str(&token.digits.to_string()),
            Property::Step => {
                v.push_str(&token.kind.step().map(|s| s.to_string()).unwrap_or_default());
            }
            Property::T0 => {
                if let Kind::Totp { t0, .. } = token.kind {
                    v.push_str(&t0.to_string());
                }
            }
            Property::Counter => {
                if let Kind::Hotp { counter } = token.kind {
                    v.push_str(&counter.to_string());
                }
            }
            Property::Manufacturer => v.push_str(&opt(&token.manufacturer)),
            Property::Model => v.push_str(&opt(&token.model)),
            Property::DisplayName => v.push_str(&opt(&token.display_name)),
            Property::User => v.push_str(&opt(&token.user)),
            Property::Issuer => v.push_str(&opt(&token.issuer)),
            Property::KeyId => v.push_str(&opt(&token.key_id)),
            Property::Otpauth if masked => v.push_str("otpauth://••••••"),
            Property::Otpauth => {
                let issuer = token
                    .issuer
                    .as_deref()
                    .or(token.manufacturer.as_deref())
                    .unwrap_or("oathvault");
                let _ = write!(v, "otpauth://{}/", token.kind.name());
                percent(&mut v, issuer);
                v.push(':');
                percent(&mut v, token.serial.as_str());
                v.push_str("?secret=");
                SecretEncoding::Base32.encode_append(&token.secret, &mut v);
                v.push_str("&issuer=");
                percent(&mut v, issuer);
                let _ = write!(v, "&algorithm={}&digits={}", token.hash, token.digits);
                match token.kind {
                    Kind::Totp { step, .. } => {
                        let _ = write!(v, "&period={step}");
                    }
                    Kind::Hotp { counter } => {
                        let _ = write!(v, "&counter={counter}");
                    }
                }
            }
        }
        v
    }

    fn row(&self, token: &Token, masked: bool, out: &mut Vec<u8>) {
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match &c.value {
                Value::Fixed(f) => csv_field(out, f),
                Value::Property(p) => csv_field(out, &self.value(token, *p, masked)),
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The first rows as the file would show them, secrets masked (for the
    /// portal's live preview).
    #[must_use]
    pub fn preview(&self, tokens: &[Token]) -> String {
        let mut out = self.header_row();
        for t in tokens {
            self.row(t, true, &mut out);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Encodes tokens with a template.
#[derive(Debug)]
pub struct Encoder {
    template: Template,
}

impl Encoder {
    /// Rows of `template`.
    #[must_use]
    pub fn new(template: Template) -> Self {
        Self { template }
    }
}

impl crate::emit::Encoder for Encoder {
    fn encode(&mut self, token: &Token, out: &mut Vec<u8>) -> Result<(), Error> {
        self.template.row(token, false, out);
        Ok(())
    }

    fn header(&self) -> Vec<u8> {
        self.template.header_row()
    }
}
