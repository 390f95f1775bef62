//! Entra MFA JSON: the Microsoft Graph bulk body for
//! `PATCH /beta/directory/authenticationMethodDevices/hardwareOathDevices`.
//!
//! Written as `{"@context":"#$delta","value":[{"@contentId":"1",…},…]}` with
//! one token per line and `timeIntervalInSeconds` as an integer. Read: that
//! envelope, Token2's bare array, a Graph listing's `value` (which has no
//! secrets and is refused clearly), `timeIntervalInSeconds` as a string or an
//! integer, `hashFunction` in any spelling, serials as strings or numbers.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{Hash, SecretEncoding, Serial, Step, Token};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use zeroize::Zeroize;

use crate::emit::push_decimal;
use crate::error::{Error, ErrorKind};
use crate::json_stream::ObjectStream;
use crate::limits::Target;

/// A JSON scalar, read without ever echoing its value in an error. No
/// `Debug`: it can hold a secret.
#[derive(Default)]
enum Scalar<'a> {
    /// The key is not in the object.
    #[default]
    Absent,
    Text(Cow<'a, str>),
    Number(String),
    Bool,
    Null,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text or a number")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Number(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Number(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Number(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
        }
        d.deserialize_any(V)
    }
}

impl Scalar<'_> {
    /// The text of a string or number; `None` for null or empty.
    fn text(&self, field: &'static str) -> Result<Option<&str>, Error> {
        match self {
            Scalar::Text(t) => Ok(Some(t.trim()).filter(|t| !t.is_empty())),
            Scalar::Number(n) => Ok(Some(n.as_str())),
            Scalar::Null | Scalar::Absent => Ok(None),
            Scalar::Bool => Err(Error::new(ErrorKind::Syntax(
                "is true/false, expected text".into(),
            ))
            .field(field)),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAssign<'a> {
    #[serde(default, borrow)]
    id: Scalar<'a>,
}

/// One entry as it appears in the file (all optional: validation names what
/// is missing). No `Debug`: it holds the secret.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry<'a> {
    #[serde(default, borrow)]
    serial_number: Scalar<'a>,
    #[serde(default, borrow)]
    secret_key: Scalar<'a>,
    #[serde(default, borrow)]
    time_interval_in_seconds: Scalar<'a>,
    #[serde(default, borrow)]
    hash_function: Scalar<'a>,
    #[serde(default, borrow)]
    manufacturer: Scalar<'a>,
    #[serde(default, borrow)]
    model: Scalar<'a>,
    #[serde(default, borrow)]
    display_name: Scalar<'a>,
    #[serde(borrow)]
    assign_to: Option<RawAssign<'a>>,
}

fn opt<'s>(v: &'s Scalar<'_>, field: &'static str) -> Result<Option<&'s str>, Error> {
    v.text(field)
}

fn req<'s>(v: &'s Scalar<'_>, field: &'static str) -> Result<&'s str, Error> {
    opt(v, field)?.ok_or_else(|| Error::new(ErrorKind::Missing).field(field))
}

impl RawEntry<'_> {
    fn token(&self) -> Result<Token, Error> {
        let serial = Serial::new(req(&self.serial_number, "serialNumber")?)
            .map_err(|e| Error::new(e).field("serialNumber"))?;
        let secret_text = match opt(&self.secret_key, "secretKey")? {
            Some(t) => t,
            None if matches!(self.secret_key, Scalar::Null) => {
                return Err(Error::new(ErrorKind::Syntax(
                    "is null: Graph never returns secrets, so this is a device listing, not a seed file".into(),
                ))
                .field("secretKey"));
            }
            None => return Err(Error::new(ErrorKind::Missing).field("secretKey")),
        };
        let secret = SecretEncoding::Base32
            .decode(secret_text)
            .map_err(|e| Error::new(e).field("secretKey"))?;
        let step = Step::parse(req(
            &self.time_interval_in_seconds,
            "timeIntervalInSeconds",
        )?)
        .map_err(|e| Error::new(e).field("timeIntervalInSeconds"))?;
        let mut token = Token::totp(serial, secret, step);
        if let Some(h) = opt(&self.hash_function, "hashFunction")? {
            token.hash = h
                .parse::<Hash>()
                .map_err(|e| Error::new(e).field("hashFunction"))?;
        }
        token.manufacturer = opt(&self.manufacturer, "manufacturer")?.map(str::to_owned);
        token.model = opt(&self.model, "model")?.map(str::to_owned);
        token.display_name = opt(&self.display_name, "displayName")?.map(str::to_owned);
        if let Some(a) = &self.assign_to {
            token.user = opt(&a.id, "assignTo.id")?.map(str::to_owned);
        }
        Ok(token)
    }
}

fn json_error(e: &serde_json::Error, base_line: u64) -> Error {
    let line = base_line + e.line().saturating_sub(1) as u64;
    let msg = match e.classify() {
        serde_json::error::Category::Data => {
            "a field holds an object or array where text or a number belongs"
        }
        serde_json::error::Category::Eof => "unexpected end of the token object",
        _ => "malformed JSON in the token object",
    };
    Error::new(ErrorKind::Syntax(msg.into())).line(line)
}

/// Streaming reader of Entra MFA JSON (and Token2's bare array).
pub struct Reader<R: BufRead> {
    stream: ObjectStream<R>,
    file: Option<Arc<str>>,
    records: u64,
    done: bool,
}

impl<R: BufRead> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("entra_json::Reader")
            .field("file", &self.file)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads from `input`; `file` names it in errors.
    pub fn new(input: R, file: Option<Arc<str>>) -> Self {
        Self {
            stream: ObjectStream::new(input),
            file,
            records: 0,
            done: false,
        }
    }

    fn next_token(&mut self) -> Option<Result<Token, Error>> {
        if self.done {
            return None;
        }
        match self.stream.next_object() {
            Ok(true) => {
                self.records += 1;
                let line = self.stream.object_line;
                let parsed = serde_json::from_slice::<RawEntry<'_>>(&self.stream.object)
                    .map_err(|e| json_error(&e, line))
                    .and_then(|raw| raw.token().map_err(|e| e.line(line)));
                self.stream.object.zeroize();
                Some(parsed.map_err(|e| e.record(self.records)))
            }
            Ok(false) => {
                self.done = true;
                (self.records == 0).then(|| Err(Error::new(ErrorKind::NoTokens)))
            }
            Err(e) => {
                self.done = true;
                self.stream.object.zeroize();
                Some(Err(if self.records > 0 {
                    e.record(self.records + 1)
                } else {
                    e
                }))
            }
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Token, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_token()
            .map(|r| r.map_err(|e| e.in_file(self.file.as_ref())))
    }
}

/// Writes `s` as a JSON string (quotes included).
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Fast path: nothing to escape (the usual serial, model, manufacturer).
    let special = crate::scan::needs_json_escape(bytes);
    if !special {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match c {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Whether `s` is a directory object id (a GUID), which Graph's `assignTo` needs.
fn is_object_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Encodes tokens as Graph `#$delta` items. The item starts after
/// `{"@contentId":"N",`, which the framing writes.
#[derive(Debug, Default)]
pub struct Encoder {
    users_dropped: u64,
}

impl crate::emit::Encoder for Encoder {
    fn encode(&mut self, token: &Token, l: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(v) = Target::EntraGraph.check(token).into_iter().next() {
            return Err(Error::new(ErrorKind::Limit(v)));
        }
        l.extend_from_slice(b"\"serialNumber\":");
        write_json_str(l, token.serial.as_str());
        l.extend_from_slice(b",\"manufacturer\":");
        write_json_str(l, token.manufacturer.as_deref().unwrap_or(""));
        l.extend_from_slice(b",\"model\":");
        write_json_str(l, token.model.as_deref().unwrap_or(""));
        l.extend_from_slice(b",\"secretKey\":\"");
        SecretEncoding::Base32.encode_to(&token.secret, l);
        l.extend_from_slice(b"\",\"timeIntervalInSeconds\":");
        push_decimal(l, u64::from(token.kind.step().map_or(30, Step::seconds)));
        l.extend_from_slice(if token.hash == Hash::Sha256 {
            b",\"hashFunction\":\"hmacsha256\""
        } else {
            b",\"hashFunction\":\"hmacsha1\""
        });
        if let Some(name) = &token.display_name {
            l.extend_from_slice(b",\"displayName\":");
            write_json_str(l, name);
        }
        match token.user.as_deref() {
            Some(id) if is_object_id(id) => {
                l.extend_from_slice(b",\"assignTo\":{\"id\":\"");
                l.extend_from_slice(id.as_bytes());
                l.extend_from_slice(b"\"}");
            }
            Some(_) => self.users_dropped += 1,
            None => {}
        }
        l.push(b'}');
        Ok(())
    }

    fn users_dropped(&self) -> u64 {
        self.users_dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut out = Vec::new();
        write_json_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\nd\u0001é""#);
        let v: String = serde_json::from_str(r#""a\"b\\c\nd\u0001é""#).unwrap();
        assert_eq!(v, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn object_ids() {
        assert!(is_object_id("0cadbf92-1234-4abc-8def-0123456789ab"));
        assert!(!is_object_id("helga@contoso.com"));
    }
}
