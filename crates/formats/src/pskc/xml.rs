//! A small namespace-aware element tree for PSKC, built one top-level
//! element at a time so memory stays at one `KeyPackage`.
//!
//! Elements are matched by namespace URI and local name, never by prefix.
//! Text (which can hold Base64 secrets) is wiped when a node is dropped.

use std::io::BufRead;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use zeroize::Zeroize;

/// The namespaces PSKC files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    /// `urn:ietf:params:xml:ns:keyprov:pskc` (and the pre-RFC `…:pskc:1.0`).
    Pskc,
    /// XML Signature.
    Ds,
    /// XML Encryption 1.0.
    Xenc,
    /// XML Encryption 1.1.
    Xenc11,
    /// PKCS #5 v2.0 schema.
    Pkcs5,
    /// No namespace (unqualified children, e.g. of `pkcs5:PBKDF2-params`).
    None,
    /// Anything else.
    Other,
}

impl Ns {
    fn from_uri(uri: &str) -> Self {
        match uri {
            "urn:ietf:params:xml:ns:keyprov:pskc" | "urn:ietf:params:xml:ns:keyprov:pskc:1.0" => {
                Self::Pskc
            }
            "http://www.w3.org/2000/09/xmldsig#" => Self::Ds,
            "http://www.w3.org/2001/04/xmlenc#" => Self::Xenc,
            "http://www.w3.org/2009/xmlenc11#" => Self::Xenc11,
            "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#" => Self::Pkcs5,
            _ => Self::Other,
        }
    }
}

/// One element. No `Debug`: a `PlainValue`'s text is a secret.
#[derive(Default)]
pub(crate) struct Node {
    pub(crate) ns: Option<Ns>,
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    /// Text content; wiped on drop when it can hold a plain secret.
    pub(crate) text: String,
    pub(crate) children: Vec<Node>,
    /// 1-based line of the start tag.
    pub(crate) line: u64,
}

impl Drop for Node {
    fn drop(&mut self) {
        // Only a `PlainValue` can hold a secret in clear (Base64); cipher
        // texts, MACs and metadata need no wipe.
        if self.name == "PlainValue" {
            self.text.zeroize();
        }
    }
}

impl Node {
    /// The first child with this local name (any namespace but a foreign one).
    pub(crate) fn child(&self, name: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|c| c.name == name && c.ns != Some(Ns::Other))
    }

    /// All children with this local name.
    pub(crate) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |c| c.name == name && c.ns != Some(Ns::Other))
    }

    /// A child's text, trimmed, if the child exists and is not empty.
    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }

    /// An attribute by local name.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn resolve(r: &ResolveResult<'_>) -> Option<Ns> {
    match r {
        ResolveResult::Bound(uri) => Some(Ns::from_uri(uri.as_ref())),
        ResolveResult::Unbound => Some(Ns::None),
        ResolveResult::Unknown(_) => None,
    }
}

/// Why the XML could not be read.
#[derive(Debug)]
pub(crate) struct XmlError {
    pub(crate) message: String,
    pub(crate) line: u64,
}

fn xml_err(e: &quick_xml::Error, line: u64) -> XmlError {
    // quick-xml's messages name tags and positions, not text content.
    let message = match e {
        quick_xml::Error::Io(io) => format!("cannot read: {io}"),
        quick_xml::Error::Syntax(s) => format!("not well-formed XML: {s}"),
        quick_xml::Error::IllFormed(s) => format!("not well-formed XML: {s}"),
        _ => "not well-formed XML".to_owned(),
    };
    XmlError { message, line }
}

/// Counts the line breaks the XML reader consumes, so errors can name a
/// line without the reader reporting every whitespace run.
pub(crate) struct LineCount<R> {
    inner: R,
    newlines: u64,
}

impl<R: BufRead> std::io::Read for LineCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += newlines_in(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCount<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            self.newlines += newlines_in(buf.get(..amt).unwrap_or(buf));
        }
        self.inner.consume(amt);
    }
}

fn newlines_in(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// Streams the children of the document's root, one subtree at a time.
pub(crate) struct Elements<R: BufRead> {
    reader: NsReader<LineCount<R>>,
    buf: Vec<u8>,
    pub(crate) root: Option<Node>,
    done: bool,
}

impl<R: BufRead> Elements<R> {
    pub(crate) fn new(input: R) -> Self {
        let mut reader = NsReader::from_reader(LineCount {
            inner: input,
            newlines: 0,
        });
        // Not trimmed by the reader: a text split by an entity (`a &amp; b`)
        // must keep its inner spaces. Values are trimmed where they are used.
        reader.config_mut().trim_text(false);
        reader.config_mut().expand_empty_elements = true;
        Self {
            reader,
            buf: Vec::new(),
            root: None,
            done: false,
        }
    }

    /// The line the reader has reached (the end of the last event read).
    fn line(&self) -> u64 {
        1 + self.reader.get_ref().newlines
    }

    fn next_event(&mut self) -> Result<(Option<Ns>, Event<'static>), XmlError> {
        self.buf.clear();
        let (ns, event) = match self.reader.read_resolved_event_into(&mut self.buf) {
            Ok((ns, event)) => (resolve(&ns), event.into_owned()),
            Err(e) => return Err(xml_err(&e, 1 + self.reader.get_ref().newlines)),
        };
        Ok((ns, event))
    }

    fn start_node(
        ns: Option<Ns>,
        start: &quick_xml::events::BytesStart<'_>,
        line: u64,
    ) -> Result<Node, XmlError> {
        let name = start.local_name().as_ref().to_owned();
        let mut attrs = Vec::new();
        for a in start.attributes() {
            let a = a.map_err(|e| XmlError {
                message: format!("bad attribute in <{name}>: {e}"),
                line,
            })?;
            let key = a.key.local_name().as_ref().to_owned();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|_| XmlError {
                    message: format!("bad attribute value in <{name}>"),
                    line,
                })?
                .into_owned();
            attrs.push((key, value));
        }
        Ok(Node {
            ns,
            name,
            attrs,
            text: String::new(),
            children: Vec::new(),
            line,
        })
    }

    /// Reads the root start tag; `Err` if the document has none.
    pub(crate) fn open(&mut self) -> Result<&Node, XmlError> {
        loop {
            let (ns, event) = self.next_event()?;
            let line = self.line();
            match event {
                Event::Start(s) => {
                    let node = Self::start_node(ns, &s, line)?;
                    return Ok(self.root.insert(node));
                }
                Event::Eof => {
                    return Err(XmlError {
                        message: "the file holds no XML element".into(),
                        line,
                    });
                }
                Event::Text(t) if !t.trim().is_empty() => {
                    return Err(XmlError {
                        message: "text before the first XML element".into(),
                        line,
                    });
                }
                _ => {}
            }
        }
    }

    /// The next complete child of the root, or `None` at the root's end.
    pub(crate) fn next_child(&mut self) -> Result<Option<Node>, XmlError> {
        if self.done {
            return Ok(None);
        }
        // Events borrow the buffer, not the reader: no copy per event.
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.next_child_with(&mut buf);
        self.buf = buf;
        result
    }

    fn next_child_with(&mut self, buf: &mut Vec<u8>) -> Result<Option<Node>, XmlError> {
        let mut stack: Vec<Node> = Vec::new();
        loop {
            buf.clear();
            let (ns, event) = match self.reader.read_resolved_event_into(buf) {
                Ok((resolved, event)) => (resolve(&resolved), event),
                Err(e) => return Err(xml_err(&e, 1 + self.reader.get_ref().newlines)),
            };
            let line = 1 + self.reader.get_ref().newlines;
            match event {
                Event::Start(s) => stack.push(Self::start_node(ns, &s, line)?),
                Event::End(_) => match stack.pop() {
                    None => {
                        self.done = true;
                        return Ok(None);
                    }
                    Some(node) => match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(Some(node)),
                    },
                },
                Event::Text(t) => {
                    // Indentation between child elements is not content.
                    if let Some(top) = stack.last_mut()
                        && !(top.text.is_empty() && t.trim_ascii().is_empty())
                    {
                        top.text.push_str(&t);
                    }
                }
                Event::CData(c) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&c);
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(top) = stack.last_mut() {
                        let ch = match &*r {
                            "amp" => Some('&'),
                            "lt" => Some('<'),
                            "gt" => Some('>'),
                            "quot" => Some('"'),
                            "apos" => Some('\''),
                            _ => r.resolve_char_ref().ok().flatten(),
                        };
                        let Some(ch) = ch else {
                            return Err(XmlError {
                                message: "unknown XML entity".into(),
                                line,
                            });
                        };
                        top.text.push(ch);
                    }
                }
                Event::Eof => {
                    return Err(XmlError {
                        message: "the XML ends before its elements are closed".into(),
                        line,
                    });
                }
                _ => {}
            }
        }
    }
}
