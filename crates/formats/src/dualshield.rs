//! Deepnet `DualShield` token file (XML), for `SafeID` TOTP tokens.
//!
//! ```xml
//! <?xml version="1.0"?>
//! <data>
//! <header>
//!   <manufacturerCode>DN</manufacturerCode><productCode>ST</productCode>
//!   <encrypt>NONE</encrypt><encode>HEX</encode><digits>6</digits>
//!   <timeWindow>60</timeWindow><crypto>HmacSHA1</crypto>
//! </header>
//! <tokens><token><serial>71358472</serial><seed>08E4…B840</seed></token></tokens>
//! </data>
//! ```
//!
//! One header per file: one digit count, time window and hash for every
//! token (a mixed input is refused, naming the first token that differs).
//! Written with `encrypt` `NONE` and `encode` `HEX` (the delivery wraps the
//! file in the password/PGP protection); read with `HEX`, `BASE64` or
//! `BASE32` seeds and `timeWindow` or `synchronisation`. `AES256`-encrypted
//! seeds are refused (their scheme is not public). HOTP has no documented
//! representation and is refused. The manufacturer and product codes are
//! `DN`/`ST` from Deepnet's example (`shared/spec/seed-formats.md` §5.2).

use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::{Digits, Hash, SecretEncoding, Serial, Step, Token};

use crate::error::{Error, ErrorKind};
use crate::limits::Target;
use crate::pskc::xml::{Elements, Node, XmlError};

fn fail(msg: impl Into<String>, line: u64) -> Error {
    Error::new(ErrorKind::Syntax(msg.into())).line(line)
}

fn from_xml(e: XmlError) -> Error {
    fail(e.message, e.line)
}

/// What the header fixes for every token.
#[derive(Debug, Clone, Copy)]
struct Header {
    encoding: SecretEncoding,
    digits: Digits,
    step: Step,
    hash: Hash,
}

fn header(node: Node<'_>) -> Result<Header, Error> {
    let text = |n: &str| node.child_text(n);
    if let Some(enc) = text("encrypt")
        && !enc.eq_ignore_ascii_case("none")
    {
        return Err(fail(
            format!(
                "seeds are encrypted ({enc}); oathvault reads DualShield files with encrypt NONE"
            ),
            node.line(),
        ));
    }
    let encoding = match text("encode").map(str::to_ascii_uppercase).as_deref() {
        None | Some("HEX") => SecretEncoding::Hex,
        Some("BASE64") => SecretEncoding::Base64,
        Some("BASE32") => SecretEncoding::Base32,
        Some(other) => return Err(fail(format!("unknown seed encoding {other}"), node.line())),
    };
    let digits = match text("digits") {
        None => Digits::SIX,
        Some(d) => Digits::parse(d).map_err(|e| Error::new(e).field("digits").line(node.line()))?,
    };
    let step = match text("timeWindow").or_else(|| text("synchronisation")) {
        None => Step::S30,
        Some(s) => {
            Step::parse(s).map_err(|e| Error::new(e).field("timeWindow").line(node.line()))?
        }
    };
    let hash = match text("crypto") {
        None => Hash::Sha1,
        Some(h) => h
            .parse()
            .map_err(|e| Error::new(e).field("crypto").line(node.line()))?,
    };
    Ok(Header {
        encoding,
        digits,
        step,
        hash,
    })
}

/// Streaming reader of `DualShield` token files.
pub struct Reader<R: BufRead> {
    elements: Elements<R>,
    file: Option<Arc<str>>,
    header: Option<Header>,
    pending: Vec<Result<Token, Error>>,
    opened: bool,
    done: bool,
    tokens: u64,
}

impl<R: BufRead> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("dualshield::Reader")
            .field("file", &self.file)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads `input`; `file` names it in errors.
    pub fn new(input: R, file: Option<Arc<str>>) -> Self {
        Self {
            elements: Elements::new(input),
            file,
            header: None,
            pending: Vec::new(),
            opened: false,
            done: false,
            tokens: 0,
        }
    }

    fn token(h: Header, node: Node<'_>) -> Result<Token, Error> {
        let serial = Serial::new(node.child_text("serial").unwrap_or(""))
            .map_err(|e| Error::new(e).field("serial").line(node.line()))?;
        let seed = node.child_text("seed").ok_or_else(|| {
            Error::new(ErrorKind::Missing)
                .field("seed")
                .line(node.line())
        })?;
        let secret = h
            .encoding
            .decode(seed)
            .map_err(|e| Error::new(e).field("seed").line(node.line()))?;
        let mut token = Token::totp(serial, secret, h.step);
        token.digits = h.digits;
        token.hash = h.hash;
        token.manufacturer = Some("Deepnet Security".into());
        Ok(token)
    }

    fn next_token(&mut self) -> Option<Result<Token, Error>> {
        loop {
            if let Some(t) = self.pending.pop() {
                self.tokens += u64::from(t.is_ok());
                return Some(t);
            }
            if self.done {
                return None;
            }
            if !self.opened {
                self.opened = true;
                match self.elements.open() {
                    Ok(root) if root.name == "data" => {}
                    Ok(root) => {
                        self.done = true;
                        let msg = format!(
                            "this XML is not a DualShield token file: the root is <{}>, not <data>",
                            root.name
                        );
                        return Some(Err(fail(msg, root.line)));
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(from_xml(e)));
                    }
                }
            }
            let child = match self.elements.next_child() {
                Ok(Some(c)) => c,
                Ok(None) => {
                    self.done = true;
                    return (self.tokens == 0).then(|| Err(Error::new(ErrorKind::NoTokens)));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(from_xml(e)));
                }
            };
            let node = child.root();
            match node.name() {
                "header" => match header(node) {
                    Ok(h) => self.header = Some(h),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
                "tokens" => {
                    let Some(h) = self.header else {
                        self.done = true;
                        return Some(Err(fail(
                            "the tokens come before any <header>",
                            node.line(),
                        )));
                    };
                    self.pending = node.children("token").map(|t| Self::token(h, t)).collect();
                    self.pending.reverse();
                }
                _ => {}
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

/// The header for a batch like `token` (the framing's start).
#[must_use]
pub fn header_xml(token: &Token) -> String {
    let step = token.kind.step().map_or(30, Step::seconds);
    let crypto = match token.hash {
        Hash::Sha1 => "HmacSHA1",
        Hash::Sha256 => "HmacSHA256",
        Hash::Sha512 => "HmacSHA512",
    };
    format!(
        "<?xml version=\"1.0\"?>\n<data>\n<header>\n\t<manufacturerCode>DN</manufacturerCode>\n\t<productCode>ST</productCode>\n\t\
         <encrypt>NONE</encrypt>\n\t<encode>HEX</encode>\n\t<digits>{}</digits>\n\t<timeWindow>{step}</timeWindow>\n\t\
         <crypto>{crypto}</crypto>\n</header>\n<tokens>\n",
        token.digits
    )
}

/// Streaming `DualShield` writer: the first token's settings make the
/// header; every later token must share them (the converter checks that and
/// names the first that differs).
pub struct Writer<W: std::io::Write> {
    out: W,
    item: zeroize::Zeroizing<Vec<u8>>,
    tokens: u64,
}

impl<W: std::io::Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("dualshield::Writer")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl<W: std::io::Write> Writer<W> {
    /// Writes into `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            item: zeroize::Zeroizing::new(Vec::with_capacity(256)),
            tokens: 0,
        }
    }
}

impl<W: std::io::Write> crate::emit::TokenWriter for Writer<W> {
    fn write(&mut self, token: &Token) -> Result<(), Error> {
        if let Some(v) = Target::DualShield.check(token).into_iter().next() {
            return Err(Error::new(ErrorKind::Limit(v)));
        }
        if self.tokens == 0 {
            self.out.write_all(header_xml(token).as_bytes())?;
        }
        self.item.clear();
        self.item.extend_from_slice(b"\t<token>\n\t\t<serial>");
        let mut serial = String::new();
        crate::emit::escape_xml(&mut serial, token.serial.as_str());
        self.item.extend_from_slice(serial.as_bytes());
        self.item.extend_from_slice(b"</serial>\n\t\t<seed>");
        SecretEncoding::HexUpper.encode_to(&token.secret, &mut self.item);
        self.item.extend_from_slice(b"</seed>\n\t</token>\n");
        self.out.write_all(&self.item)?;
        self.tokens += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<crate::emit::WriteSummary, Error> {
        if self.tokens > 0 {
            self.out.write_all(b"</tokens>\n</data>\n")?;
        }
        self.out.flush()?;
        Ok(crate::emit::WriteSummary {
            tokens: self.tokens,
            users_dropped: 0,
        })
    }
}
