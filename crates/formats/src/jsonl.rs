//! Canonical JSON Lines: one token per line, every field, the secret in a
//! stated encoding. The lossless interchange format of oathvault.
//!
//! ```text
//! {"serial":"10001001","type":"totp","hash":"sha1","digits":6,"step":30,"t0":0,"secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","secret_encoding":"base32","manufacturer":"Deepnet Security","model":"SafeID/Enterprise"}
//! {"serial":"20000001","type":"hotp","hash":"sha1","digits":6,"counter":0,"secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","secret_encoding":"base32"}
//! ```
//!
//! Unknown keys are refused (a typo must not drop data); blank lines are skipped.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{Digits, Hash, Kind, SecretEncoding, Serial, Step, Token, TokenError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow)]
    serial: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    digits: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    step: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    t0: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    counter: Option<u64>,
    #[serde(borrow)]
    secret: Cow<'a, str>,
    #[serde(borrow)]
    secret_encoding: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    manufacturer: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    display_name: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    issuer: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    key_id: Option<Cow<'a, str>>,
}

impl fmt::Debug for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("jsonl::Line")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

fn field<T>(r: Result<T, TokenError>, name: &'static str) -> Result<T, Error> {
    r.map_err(|e| Error::new(e).field(name))
}

impl Line<'_> {
    fn token(&self) -> Result<Token, Error> {
        let serial = field(Serial::new(&self.serial), "serial")?;
        let encoding: SecretEncoding = self
            .secret_encoding
            .parse()
            .map_err(|e: String| Error::new(ErrorKind::Syntax(e)).field("secret_encoding"))?;
        let secret = encoding
            .decode(&self.secret)
            .map_err(|e| Error::new(e).field("secret"))?;
        let kind = match self.kind.to_ascii_lowercase().as_str() {
            "totp" => {
                let step = self
                    .step
                    .ok_or_else(|| Error::new(ErrorKind::Missing).field("step"))?;
                Kind::Totp {
                    step: field(Step::new(step), "step")?,
                    t0: self.t0.unwrap_or(0),
                }
            }
            "hotp" => Kind::Hotp {
                counter: self.counter.unwrap_or(0),
            },
            _ => {
                return Err(Error::new(TokenError::UnknownKind {
                    name: self.kind.to_string(),
                })
                .field("type"));
            }
        };
        let own = |v: &Option<Cow<'_, str>>| v.as_deref().map(str::to_owned);
        Ok(Token {
            serial,
            kind,
            hash: field(self.hash.parse::<Hash>(), "hash")?,
            digits: field(Digits::new(self.digits), "digits")?,
            secret,
            manufacturer: own(&self.manufacturer),
            model: own(&self.model),
            display_name: own(&self.display_name),
            user: own(&self.user),
            issuer: own(&self.issuer),
            key_id: own(&self.key_id),
        })
    }
}

fn json_error(e: &serde_json::Error) -> Error {
    let msg = match e.classify() {
        // serde's "unknown field"/"missing field" messages name fields, not values.
        serde_json::error::Category::Data => {
            let s = e.to_string();
            if s.starts_with("unknown field") || s.starts_with("missing field") {
                s.split(" at line")
                    .next()
                    .unwrap_or("invalid token")
                    .to_owned()
            } else {
                "a field has the wrong type".to_owned()
            }
        }
        serde_json::error::Category::Eof => "the line ends inside the JSON object".to_owned(),
        _ => "malformed JSON".to_owned(),
    };
    Error::new(ErrorKind::Syntax(msg))
}

/// Streaming reader of canonical JSON Lines.
pub struct Reader<R: BufRead> {
    input: R,
    file: Option<Arc<str>>,
    buf: Zeroizing<Vec<u8>>,
    line: u64,
    tokens: u64,
    done: bool,
}

impl<R: BufRead> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("jsonl::Reader")
            .field("file", &self.file)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads a chunk of a file after `lines_before` lines (errors give the
    /// line in the whole file; an empty chunk is not an empty file).
    pub fn continuation(input: R, file: Option<Arc<str>>, lines_before: u64) -> Self {
        let mut r = Self::new(input, file);
        r.line = lines_before;
        r.tokens = 1;
        r
    }

    /// Reads from `input`; `file` names it in errors.
    pub fn new(input: R, file: Option<Arc<str>>) -> Self {
        Self {
            input,
            file,
            buf: Zeroizing::new(Vec::with_capacity(512)),
            line: 0,
            tokens: 0,
            done: false,
        }
    }

    fn next_token(&mut self) -> Option<Result<Token, Error>> {
        while !self.done {
            // Reused: cleared per line, wiped on drop (Zeroizing).
            self.buf.clear();
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return (self.tokens == 0).then(|| Err(Error::new(ErrorKind::Empty)));
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
            self.line += 1;
            let mut text: &[u8] = &self.buf;
            if self.line == 1 && self.tokens == 0 {
                text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
            }
            if text.trim_ascii().is_empty() {
                continue;
            }
            self.tokens += 1;
            let line = self.line;
            return Some(
                serde_json::from_slice::<Line<'_>>(text)
                    .map_err(|e| json_error(&e))
                    .and_then(|l| l.token())
                    .map_err(|e| e.line(line)),
            );
        }
        None
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Token, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_token()
            .map(|r| r.map_err(|e| e.in_file(self.file.as_ref())))
    }
}

/// Encodes tokens as canonical JSON Lines.
#[derive(Debug)]
pub struct Encoder {
    encoding: SecretEncoding,
}

impl Encoder {
    /// Writes secrets in `encoding`.
    #[must_use]
    pub fn new(encoding: SecretEncoding) -> Self {
        Self { encoding }
    }
}

fn borrowed(v: Option<&String>) -> Option<Cow<'_, str>> {
    v.map(|s| Cow::Borrowed(s.as_str()))
}

impl crate::emit::Encoder for Encoder {
    fn encode(&mut self, t: &Token, out: &mut Vec<u8>) -> Result<(), Error> {
        let secret = self.encoding.encode(&t.secret);
        let (step, t0, counter) = match t.kind {
            Kind::Totp { step, t0 } => (Some(u64::from(step.seconds())), Some(t0), None),
            Kind::Hotp { counter } => (None, None, Some(counter)),
        };
        let line = Line {
            serial: Cow::Borrowed(t.serial.as_str()),
            kind: Cow::Borrowed(t.kind.name()),
            hash: Cow::Borrowed(t.hash.name()),
            digits: u64::from(t.digits.get()),
            step,
            t0,
            counter,
            secret: Cow::Borrowed(secret.as_str()),
            secret_encoding: Cow::Borrowed(self.encoding.name()),
            manufacturer: borrowed(t.manufacturer.as_ref()),
            model: borrowed(t.model.as_ref()),
            display_name: borrowed(t.display_name.as_ref()),
            user: borrowed(t.user.as_ref()),
            issuer: borrowed(t.issuer.as_ref()),
            key_id: borrowed(t.key_id.as_ref()),
        };
        serde_json::to_writer(&mut *out, &line)
            .map_err(|_| Error::new(ErrorKind::Syntax("cannot encode token".into())))?;
        out.push(b'\n');
        Ok(())
    }
}
