//! A small namespace-aware XML reader for PSKC and `DualShield`: the
//! document's root start tag, then each child of the root as a complete
//! subtree, so memory stays at one `KeyPackage`.
//!
//! The input is read into a window; a light scanner finds where the next
//! child of the root ends (tags, comments, CDATA, processing instructions),
//! and quick-xml parses that slice without copying into an arena of nodes
//! whose names and text borrow the window. Elements are matched by
//! namespace URI and local name, never by prefix; the root's namespace
//! declarations apply to every child. The window is wiped as it moves and
//! when dropped, and text assembled from pieces is wiped too: a
//! `PlainValue` holds a secret.

use std::borrow::Cow;
use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::Event;
use quick_xml::events::attributes::Attributes;
use zeroize::{Zeroize, Zeroizing};

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
        match uri.trim() {
            "urn:ietf:params:xml:ns:keyprov:pskc" | "urn:ietf:params:xml:ns:keyprov:pskc:1.0" => {
                Self::Pskc
            }
            "http://www.w3.org/2000/09/xmldsig#" => Self::Ds,
            "http://www.w3.org/2001/04/xmlenc#" => Self::Xenc,
            "http://www.w3.org/2009/xmlenc11#" => Self::Xenc11,
            "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#" => Self::Pkcs5,
            "" => Self::None,
            _ => Self::Other,
        }
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
        quick_xml::Error::Encoding(_) => "the XML is not valid UTF-8".to_owned(),
        _ => "not well-formed XML".to_owned(),
    };
    XmlError { message, line }
}

fn newlines(b: &[u8]) -> u64 {
    // Byte-wide counters per 255-byte block: the compiler vectorises this.
    b.chunks(255)
        .map(|block| {
            u64::from(
                block
                    .iter()
                    .fold(0u8, |n, &c| n.wrapping_add(u8::from(c == b'\n'))),
            )
        })
        .sum()
}

/// A namespace declaration in scope: prefix (empty for the default) and URI.
type Binding<'a> = (&'a str, Ns);

/// The root's namespace declarations, which every child inherits.
#[derive(Debug, Default)]
struct Outer {
    /// `xmlns="…"` on the root.
    default: Option<Ns>,
    prefixed: Vec<(String, Ns)>,
}

/// Short-string equality without a `memcmp` call (prefixes are a few bytes).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The namespace of a prefix, innermost declaration first; `None` for an
/// undeclared prefix.
fn lookup(prefix: &str, inner: &[Binding<'_>], outer: &Outer) -> Option<Ns> {
    if let Some((_, ns)) = inner.iter().rev().find(|(p, _)| same(p, prefix)) {
        return Some(*ns);
    }
    if prefix.is_empty() {
        return Some(outer.default.unwrap_or(Ns::None));
    }
    if let Some((_, ns)) = outer.prefixed.iter().rev().find(|(p, _)| same(p, prefix)) {
        return Some(*ns);
    }
    (prefix == "xml").then_some(Ns::Other)
}

fn split_qname(qname: &str) -> (&str, &str) {
    match qname.bytes().position(|c| c == b':') {
        Some(i) => (
            qname.get(..i).unwrap_or_default(),
            qname.get(i + 1..).unwrap_or_default(),
        ),
        None => ("", qname),
    }
}

/// Text of an element: one borrowed piece, or pieces joined (wiped on drop).
enum Text<'a> {
    Borrowed(&'a str),
    Owned(Zeroizing<String>),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Self::Borrowed(s) => s,
            Self::Owned(s) => s,
        }
    }
}

impl<'a> Text<'a> {
    fn push(&mut self, piece: Cow<'a, str>) {
        match (&mut *self, piece) {
            (Self::Borrowed(s @ ""), Cow::Borrowed(p)) => *s = p,
            (Self::Borrowed(s), piece) => {
                let mut joined = Zeroizing::new(String::with_capacity(s.len() + piece.len()));
                joined.push_str(s);
                joined.push_str(&piece);
                wipe(piece);
                *self = Self::Owned(joined);
            }
            (Self::Owned(s), piece) => {
                s.push_str(&piece);
                wipe(piece);
            }
        }
    }

    fn push_char(&mut self, ch: char) {
        let mut buf = [0u8; 4];
        self.push(Cow::Owned(ch.encode_utf8(&mut buf).to_owned()));
        buf.zeroize();
    }
}

fn wipe(piece: Cow<'_, str>) {
    if let Cow::Owned(mut p) = piece {
        p.zeroize();
    }
}

/// One element of a [`Tree`].
struct Item<'a> {
    ns: Option<Ns>,
    name: &'a str,
    /// Range of this element's attributes in [`Tree::attrs`].
    attrs: (usize, usize),
    text: Text<'a>,
    /// Index after this element's last descendant.
    end: usize,
    /// Offset of the start tag's `<` in the source.
    pos: usize,
}

/// One child of the root, parsed: elements in document order (an element's
/// descendants follow it, up to its `end`). No `Debug`: text holds secrets.
pub(crate) struct Tree<'a> {
    src: &'a [u8],
    /// Line of `src`'s first byte.
    line: u64,
    items: Vec<Item<'a>>,
    attrs: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Tree<'a> {
    /// Parses `src`, one complete element, with the root's namespace
    /// declarations `outer` in scope.
    fn parse(src: &'a [u8], line: u64, outer: &Outer) -> Result<Self, XmlError> {
        let text = std::str::from_utf8(src).map_err(|e| XmlError {
            message: "the XML is not valid UTF-8".into(),
            line: line + newlines(src.get(..e.valid_up_to()).unwrap_or_default()),
        })?;
        let mut b = Builder {
            tree: Self {
                src,
                line,
                items: Vec::with_capacity(32),
                attrs: Vec::with_capacity(16),
            },
            open: Vec::with_capacity(16),
            scope: Vec::new(),
            marks: Vec::with_capacity(16),
        };
        let mut reader = Reader::from_str(text);
        // Not trimmed by the reader: a text split by an entity (`a &amp; b`)
        // must keep its inner spaces. Values are trimmed where they are used.
        reader.config_mut().trim_text(false);
        reader.config_mut().expand_empty_elements = true;
        loop {
            let p0 = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = reader.read_event().map_err(|e| {
                let at = usize::try_from(reader.error_position()).unwrap_or(0);
                xml_err(&e, b.tree.line_at(at))
            })?;
            match event {
                Event::Start(start) => {
                    let p1 = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                    // The tag's content between `<` and `>` (or `/>`), borrowed
                    // from the source rather than the event.
                    let content = text
                        .get(p0 + 1..p1.saturating_sub(1))
                        .map(|c| c.strip_suffix('/').unwrap_or(c))
                        .unwrap_or_default();
                    b.start(content, start.name().as_ref().len(), p0, outer)?;
                }
                // Closing the outermost element completes the tree.
                Event::End(_) if b.end() => return Ok(b.tree),
                Event::Text(t) => {
                    let piece = t.into_inner();
                    if let Some(item) = b.top() {
                        // Indentation between child elements is not content.
                        if !(item.text.as_str().is_empty() && piece.trim_ascii().is_empty()) {
                            item.text.push(piece);
                        }
                    }
                }
                Event::CData(c) => {
                    if let Some(item) = b.top() {
                        item.text.push(c.into_inner());
                    }
                }
                Event::GeneralRef(r) => {
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
                            line: b.tree.line_at(p0),
                        });
                    };
                    if let Some(item) = b.top() {
                        item.text.push_char(ch);
                    }
                }
                Event::Eof => {
                    return Err(XmlError {
                        message: "the XML ends before its elements are closed".into(),
                        line: b.tree.line_at(src.len()),
                    });
                }
                _ => {}
            }
        }
    }

    fn line_at(&self, pos: usize) -> u64 {
        self.line + newlines(self.src.get(..pos).unwrap_or(self.src))
    }

    /// The element this tree holds.
    pub(crate) fn root(&self) -> Node<'_> {
        Node { tree: self, i: 0 }
    }
}

/// A [`Tree`] under construction: open elements and namespace scopes.
struct Builder<'a> {
    tree: Tree<'a>,
    /// Indices of the open elements, innermost last.
    open: Vec<usize>,
    /// Declarations made inside this element, innermost last.
    scope: Vec<Binding<'a>>,
    /// `scope`'s length when each open element started.
    marks: Vec<usize>,
}

impl<'a> Builder<'a> {
    /// The innermost open element.
    fn top(&mut self) -> Option<&mut Item<'a>> {
        let i = *self.open.last()?;
        self.tree.items.get_mut(i)
    }

    /// A start tag: `content` is what lies between `<` and `>`, the name
    /// its first `name_len` bytes; `pos` the offset of its `<`.
    fn start(
        &mut self,
        content: &'a str,
        name_len: usize,
        pos: usize,
        outer: &Outer,
    ) -> Result<(), XmlError> {
        let qname = content.get(..name_len).unwrap_or_default();
        self.marks.push(self.scope.len());
        let first_attr = self.tree.attrs.len();
        for a in Attributes::new(content, name_len) {
            let a = a.map_err(|e| XmlError {
                message: format!("bad attribute in <{qname}>: {e}"),
                line: self.tree.line_at(pos),
            })?;
            let key = a.key.into_inner();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|_| XmlError {
                    message: format!("bad attribute value in <{qname}>"),
                    line: self.tree.line_at(pos),
                })?;
            if key == "xmlns" {
                self.scope.push(("", Ns::from_uri(&value)));
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                self.scope.push((prefix, Ns::from_uri(&value)));
            } else {
                self.tree.attrs.push((split_qname(key).1, value));
            }
        }
        let (prefix, name) = split_qname(qname);
        self.open.push(self.tree.items.len());
        self.tree.items.push(Item {
            ns: lookup(prefix, &self.scope, outer),
            name,
            attrs: (first_attr, self.tree.attrs.len()),
            text: Text::Borrowed(""),
            end: 0,
            pos,
        });
        Ok(())
    }

    /// An end tag; `true` when it closes the outermost element.
    fn end(&mut self) -> bool {
        let end = self.tree.items.len();
        if let Some(i) = self.open.pop()
            && let Some(item) = self.tree.items.get_mut(i)
        {
            item.end = end;
        }
        if let Some(mark) = self.marks.pop() {
            self.scope.truncate(mark);
        }
        self.open.is_empty()
    }
}

/// One element, for reading.
#[derive(Clone, Copy)]
pub(crate) struct Node<'t> {
    tree: &'t Tree<'t>,
    i: usize,
}

impl<'t> Node<'t> {
    fn item(self) -> Option<&'t Item<'t>> {
        self.tree.items.get(self.i)
    }

    /// The namespace (`None`: an undeclared prefix).
    pub(crate) fn ns(self) -> Option<Ns> {
        self.item().and_then(|i| i.ns)
    }

    /// The local name.
    pub(crate) fn name(self) -> &'t str {
        self.item().map_or("", |i| i.name)
    }

    /// Text content, untrimmed.
    pub(crate) fn text(self) -> &'t str {
        self.item().map_or("", |i| i.text.as_str())
    }

    /// 1-based line of the start tag.
    pub(crate) fn line(self) -> u64 {
        self.item()
            .map_or(self.tree.line, |i| self.tree.line_at(i.pos))
    }

    /// An attribute by local name.
    pub(crate) fn attr(self, name: &str) -> Option<&'t str> {
        let (from, to) = self.item()?.attrs;
        self.tree
            .attrs
            .get(from..to)?
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_ref())
    }

    /// All children with this local name (any namespace but a foreign one).
    pub(crate) fn children<'n>(self, name: &'n str) -> impl Iterator<Item = Node<'t>> + 'n
    where
        't: 'n,
    {
        let end = self.item().map_or(0, |i| i.end);
        let tree = self.tree;
        let mut next = self.i + 1;
        std::iter::from_fn(move || {
            while next < end {
                let node = Node { tree, i: next };
                next = node.item().map_or(end, |i| i.end.max(next + 1));
                if same(node.name(), name) && node.ns() != Some(Ns::Other) {
                    return Some(node);
                }
            }
            None
        })
    }

    /// The first child with this local name (any namespace but a foreign one).
    pub(crate) fn child(self, name: &str) -> Option<Node<'t>> {
        self.children(name).next()
    }

    /// A child's text, trimmed, if the child exists and is not empty.
    pub(crate) fn child_text(self, name: &str) -> Option<&'t str> {
        self.child(name)
            .map(|c| c.text().trim())
            .filter(|t| !t.is_empty())
    }
}

/// The document's root element: its name, namespace, attributes and line.
#[derive(Debug)]
pub(crate) struct Root {
    pub(crate) ns: Option<Ns>,
    pub(crate) name: String,
    qname: String,
    attrs: Vec<(String, String)>,
    pub(crate) line: u64,
}

impl Root {
    /// An attribute by local name.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The smallest read from the input.
const READ: usize = 64 * 1024;

/// What the scanner found at a `<`.
enum Markup {
    /// The input ends inside this markup: read more.
    Incomplete,
    /// A start tag ending at this offset; `true` when it closes itself.
    Start(usize, bool),
    /// An end tag ending at this offset.
    End(usize),
    /// A comment, CDATA section, processing instruction or declaration.
    Other(usize),
}

/// Where the markup starting at `b[0] == b'<'` ends.
fn markup(b: &[u8]) -> Markup {
    let after = |pat: &[u8], from: usize| {
        b.get(from..)
            .and_then(|rest| memchr::memmem::find(rest, pat))
            .map_or(Markup::Incomplete, |i| Markup::Other(from + i + pat.len()))
    };
    match b.get(1) {
        None => Markup::Incomplete,
        Some(b'/') => memchr::memchr(b'>', b).map_or(Markup::Incomplete, |i| Markup::End(i + 1)),
        Some(b'?') => after(b"?>", 2),
        Some(b'!') => {
            if b.len() < 9 {
                Markup::Incomplete
            } else if b.starts_with(b"<!--") {
                after(b"-->", 4)
            } else if b.starts_with(b"<![CDATA[") {
                after(b"]]>", 9)
            } else {
                declaration(b)
            }
        }
        Some(_) => {
            // A start tag: the first `>` outside quoted attribute values.
            let mut quote = None;
            let mut i = 1;
            while let Some(rel) = match quote {
                None => b
                    .get(i..)
                    .and_then(|r| memchr::memchr3(b'>', b'"', b'\'', r)),
                Some(q) => b.get(i..).and_then(|r| memchr::memchr(q, r)),
            } {
                let at = i + rel;
                match (quote, b.get(at).copied()) {
                    (None, Some(b'>')) => {
                        let empty = at > 0 && b.get(at - 1) == Some(&b'/');
                        return Markup::Start(at + 1, empty);
                    }
                    (None, q @ Some(b'"' | b'\'')) => quote = q,
                    _ => quote = None,
                }
                i = at + 1;
            }
            Markup::Incomplete
        }
    }
}

/// `<!DOCTYPE …>` and friends, with an internal subset in brackets.
fn declaration(b: &[u8]) -> Markup {
    let mut depth = 0u32;
    let mut quote = None;
    for (i, &c) in b.iter().enumerate().skip(2) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'[') => depth += 1,
            (None, b']') => depth = depth.saturating_sub(1),
            (None, b'>') if depth == 0 => return Markup::Other(i + 1),
            _ => {}
        }
    }
    Markup::Incomplete
}

/// Streams the children of the document's root, one subtree at a time.
pub(crate) struct Elements<R: BufRead> {
    input: R,
    /// Bytes read and not yet released; wiped as they are released.
    window: Zeroizing<Vec<u8>>,
    /// Offset in `window` of the first byte not yet handed out.
    start: usize,
    /// Line of `window[start]`.
    line: u64,
    eof: bool,
    root: Option<Root>,
    /// The root's namespace declarations, in scope for every child.
    bindings: Outer,
    done: bool,
}

impl<R: BufRead> Elements<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            window: Zeroizing::new(Vec::new()),
            start: 0,
            line: 1,
            eof: false,
            root: None,
            bindings: Outer::default(),
            done: false,
        }
    }

    /// Reads more input (at least as much as is pending, so a large element
    /// costs linear time); `false` at the end of the input.
    fn fill(&mut self) -> Result<bool, XmlError> {
        if self.eof {
            return Ok(false);
        }
        // Release what was handed out: move the rest to the front, wipe the tail.
        if self.start > 0 {
            let len = self.window.len();
            self.window.copy_within(self.start.., 0);
            let kept = len - self.start;
            if let Some(tail) = self.window.get_mut(kept..) {
                tail.zeroize();
            }
            self.window.truncate(kept);
            self.start = 0;
        }
        let want = READ.max(self.window.len());
        if self.window.capacity() - self.window.len() < want {
            // Grow by hand so the old allocation is wiped, not just freed.
            let mut bigger = Zeroizing::new(Vec::with_capacity(self.window.len() + want));
            bigger.extend_from_slice(&self.window);
            self.window = bigger;
        }
        let mut got = 0;
        while got < want {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(XmlError {
                        message: format!("cannot read: {e}"),
                        line: self.line + newlines(&self.window),
                    });
                }
            };
            if buf.is_empty() {
                self.eof = true;
                break;
            }
            let n = buf.len().min(want - got);
            self.window
                .extend_from_slice(buf.get(..n).unwrap_or_default());
            self.input.consume(n);
            got += n;
        }
        Ok(got > 0)
    }

    fn pending(&self) -> &[u8] {
        self.window.get(self.start..).unwrap_or_default()
    }

    /// Moves past `n` pending bytes, counting their lines.
    fn advance(&mut self, n: usize) {
        self.line += newlines(self.pending().get(..n).unwrap_or_default());
        self.start += n;
    }

    fn truncated(&self) -> XmlError {
        XmlError {
            message: "the XML ends before its elements are closed".into(),
            line: self.line + newlines(self.pending()),
        }
    }

    /// Reads the root start tag; `Err` if the document has none.
    pub(crate) fn open(&mut self) -> Result<&Root, XmlError> {
        let mut first = true;
        loop {
            if first && self.pending().len() < 3 && !self.eof {
                self.fill()?;
                continue;
            }
            if first {
                first = false;
                if self.pending().starts_with(b"\xEF\xBB\xBF") {
                    self.start += 3;
                    continue;
                }
            }
            let pending = self.pending();
            let skip = pending
                .iter()
                .position(|c| !c.is_ascii_whitespace())
                .unwrap_or(pending.len());
            self.advance(skip);
            match self.pending().first().copied() {
                None if self.fill()? => continue,
                None => {
                    return Err(XmlError {
                        message: "the file holds no XML element".into(),
                        line: self.line,
                    });
                }
                Some(b'<') => {}
                Some(_) => {
                    return Err(XmlError {
                        message: "text before the first XML element".into(),
                        line: self.line,
                    });
                }
            }
            match markup(self.pending()) {
                Markup::Incomplete if self.fill()? => {}
                Markup::Incomplete => return Err(self.truncated()),
                Markup::Other(n) => self.advance(n),
                Markup::End(_) => {
                    return Err(XmlError {
                        message: "not well-formed XML: an end tag before any element".into(),
                        line: self.line,
                    });
                }
                Markup::Start(n, empty) => {
                    let root = self.root_tag(n, empty)?;
                    self.advance(n);
                    self.done = empty;
                    return Ok(self.root.insert(root));
                }
            }
        }
    }

    /// Parses the root's start tag (the first `n` pending bytes).
    fn root_tag(&mut self, n: usize, empty: bool) -> Result<Root, XmlError> {
        let tag = self.pending().get(..n).unwrap_or_default();
        let mut src = tag.to_vec();
        if !empty {
            // Close it so the tag parses as a complete element.
            src.extend_from_slice(b"</");
            let name_end = tag
                .iter()
                .position(|&c| c.is_ascii_whitespace() || c == b'>' || c == b'/')
                .unwrap_or(tag.len());
            src.extend_from_slice(tag.get(1..name_end).unwrap_or_default());
            src.push(b'>');
        }
        let tree = Tree::parse(&src, self.line, &Outer::default())?;
        let node = tree.root();
        let item = node.item().ok_or_else(|| XmlError {
            message: "not well-formed XML".into(),
            line: self.line,
        })?;
        let qname = std::str::from_utf8(tag.get(1..).unwrap_or_default())
            .unwrap_or_default()
            .split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or_default()
            .to_owned();
        // The root's own declarations, as the parser saw them.
        let mut bindings = Outer::default();
        let text = std::str::from_utf8(&src).unwrap_or_default();
        let content = text
            .get(1..text.find('>').unwrap_or(0))
            .unwrap_or_default()
            .trim_end_matches('/');
        for a in Attributes::new(content, qname.len()).flatten() {
            let key = a.key.into_inner();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .unwrap_or_default();
            if key == "xmlns" {
                bindings.default = Some(Ns::from_uri(&value));
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                bindings
                    .prefixed
                    .push((prefix.to_owned(), Ns::from_uri(&value)));
            }
        }
        self.bindings = bindings;
        let (from, to) = item.attrs;
        Ok(Root {
            ns: item.ns,
            name: item.name.to_owned(),
            qname,
            attrs: tree
                .attrs
                .get(from..to)
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone().into_owned()))
                .collect(),
            line: self.line,
        })
    }

    /// The next complete child of the root, or `None` at the root's end.
    pub(crate) fn next_child(&mut self) -> Result<Option<Tree<'_>>, XmlError> {
        let Some((from, to)) = self.next_span()? else {
            return Ok(None);
        };
        let line = self.line;
        self.advance(to);
        let src = self.window.get(from..from + to).unwrap_or_default();
        Tree::parse(src, line, &self.bindings).map(Some)
    }

    /// Finds the next child of the root: its offset in the window and its
    /// length; text and comments before it are skipped.
    fn next_span(&mut self) -> Result<Option<(usize, usize)>, XmlError> {
        if self.done {
            return Ok(None);
        }
        // Skip to the child's first `<` that starts an element.
        loop {
            let pending = self.pending();
            let Some(lt) = memchr::memchr(b'<', pending) else {
                let n = pending.len();
                self.advance(n);
                if !self.fill()? {
                    return Err(self.truncated());
                }
                continue;
            };
            self.advance(lt);
            match markup(self.pending()) {
                Markup::Incomplete => {
                    if !self.fill()? {
                        return Err(self.truncated());
                    }
                }
                Markup::Other(n) => self.advance(n),
                Markup::End(n) => {
                    self.check_root_end(n)?;
                    self.advance(n);
                    self.done = true;
                    return Ok(None);
                }
                Markup::Start(n, true) => return Ok(Some((self.start, n))),
                Markup::Start(_, false) => break,
            }
        }
        // Inside the child: find the end tag that closes it.
        let mut depth = 0u64;
        let mut at = 0;
        loop {
            let pending = self.pending();
            let Some(lt) = pending.get(at..).and_then(|r| memchr::memchr(b'<', r)) else {
                at = pending.len();
                if !self.fill()? {
                    return Err(self.truncated());
                }
                continue;
            };
            let tag = at + lt;
            match markup(pending.get(tag..).unwrap_or_default()) {
                Markup::Incomplete => {
                    at = tag;
                    if !self.fill()? {
                        return Err(self.truncated());
                    }
                }
                Markup::Other(n) | Markup::Start(n, true) => at = tag + n,
                Markup::Start(n, false) => {
                    depth += 1;
                    at = tag + n;
                }
                Markup::End(n) => {
                    depth = depth.saturating_sub(1);
                    at = tag + n;
                    if depth == 0 {
                        return Ok(Some((self.start, at)));
                    }
                }
            }
        }
    }

    /// The root's end tag must name the root.
    fn check_root_end(&self, n: usize) -> Result<(), XmlError> {
        let tag = self
            .pending()
            .get(2..n.saturating_sub(1))
            .unwrap_or_default();
        let root = self.root.as_ref().map_or("", |r| r.qname.as_str());
        if tag.trim_ascii() == root.as_bytes() {
            Ok(())
        } else {
            Err(XmlError {
                message: format!(
                    "not well-formed XML: expected `</{root}>`, found `</{}>`",
                    String::from_utf8_lossy(tag.trim_ascii())
                ),
                line: self.line,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// Names and texts of the root's children, with each child's line.
    fn children(xml: &[u8]) -> Result<Vec<(String, String, u64)>, XmlError> {
        let mut el = Elements::new(xml);
        el.open()?;
        let mut out = Vec::new();
        while let Some(tree) = el.next_child()? {
            let node = tree.root();
            let text: Vec<&str> = node.children("v").map(Node::text).collect();
            out.push((node.name().to_owned(), text.join("|"), node.line()));
        }
        Ok(out)
    }

    #[test]
    fn markup_that_looks_like_tags_does_not_cut_a_child() {
        let xml = "<?xml version=\"1.0\"?>\n<!-- <r> -->\n<!DOCTYPE r [ <!ENTITY x \"y\"> ]>\n\
                   <r a=\"1>2\">\n\
                   <c k='</c>'><!-- </c> --><v><![CDATA[</c><]]></v><?pi </c>?></c>\n\
                   <c/>\n<c><v>a &amp; b</v><v>&#65;</v></c>\n</r>trailing";
        let got = children(xml.as_bytes()).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(
            got,
            vec![
                ("c".into(), "</c><".into(), 5),
                ("c".into(), String::new(), 6),
                ("c".into(), "a & b|A".into(), 7),
            ]
        );
    }

    #[test]
    fn prefixes_declared_on_the_root_or_inside_a_child_resolve() {
        let xml = "<p:KeyContainer xmlns:p=\"urn:ietf:params:xml:ns:keyprov:pskc\" \
                   xmlns:x=\"http://www.w3.org/2001/04/xmlenc#\">\
                   <p:KeyPackage><x:CipherValue/><y:A xmlns:y=\"http://www.w3.org/2000/09/xmldsig#\"/>\
                   <z:B/><C/></p:KeyPackage></p:KeyContainer>";
        let mut el = Elements::new(xml.as_bytes());
        let root = el.open().unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(
            (root.name.as_str(), root.ns),
            ("KeyContainer", Some(Ns::Pskc))
        );
        let tree = el
            .next_child()
            .unwrap_or_else(|e| panic!("{}", e.message))
            .unwrap_or_else(|| panic!("no child"));
        let pkg = tree.root();
        assert_eq!(pkg.ns(), Some(Ns::Pskc));
        let ns = |name| pkg.children(name).next().map(Node::ns);
        assert_eq!(ns("CipherValue"), Some(Some(Ns::Xenc)));
        assert_eq!(ns("A"), Some(Some(Ns::Ds)));
        assert_eq!(
            ns("B"),
            Some(None),
            "an undeclared prefix resolves to nothing"
        );
        assert_eq!(ns("C"), Some(Some(Ns::None)));
        drop(tree);
        assert!(matches!(el.next_child(), Ok(None)));
    }

    #[test]
    fn children_across_many_reads_keep_their_lines() {
        // Far more than one read (64 KiB), so children straddle the window's end.
        let mut xml = String::from("<r>\n");
        for i in 0..5000 {
            let dashes = "-".repeat(i % 7);
            let _ = write!(xml, "  <c>\n    <v>{i}</v><!-- {dashes} -->\n  </c>\n");
        }
        xml.push_str("  <c><v>bad &nope;</v></c>\n</r>\n");
        let mut el = Elements::new(std::io::BufReader::with_capacity(1000, xml.as_bytes()));
        el.open().unwrap_or_else(|e| panic!("{}", e.message));
        for i in 0..5000u64 {
            let tree = el
                .next_child()
                .unwrap_or_else(|e| panic!("{}", e.message))
                .unwrap_or_else(|| panic!("child {i} missing"));
            let node = tree.root();
            assert_eq!(node.child_text("v"), Some(i.to_string().as_str()));
            assert_eq!(node.line(), 2 + 3 * i);
        }
        let err = el
            .next_child()
            .err()
            .unwrap_or_else(|| panic!("entity accepted"));
        assert_eq!(
            (err.message.as_str(), err.line),
            ("unknown XML entity", 15002)
        );
    }

    #[test]
    fn broken_documents_are_refused_with_a_line() {
        let cases = [
            ("", "the file holds no XML element", 1),
            ("  \n", "the file holds no XML element", 2),
            ("hello <r/>", "text before the first XML element", 1),
            (
                "<r>\n<c>\n",
                "the XML ends before its elements are closed",
                3,
            ),
            ("<r>\n<c></d></r>", "not well-formed XML", 2),
            (
                "<r>\n<c/>\n</q>",
                "not well-formed XML: expected `</r>`, found `</q>`",
                3,
            ),
            ("<r>\n<c a=\"1\" a=\"2\"/></r>", "bad attribute in <c>", 2),
        ];
        let invalid_utf8: (&[u8], &str, u64) =
            (b"<r>\n<c>\xff</c></r>", "the XML is not valid UTF-8", 2);
        for (xml, want, line) in cases
            .iter()
            .map(|&(x, w, l)| (x.as_bytes(), w, l))
            .chain([invalid_utf8])
        {
            let xml_text = String::from_utf8_lossy(xml);
            let result = children(xml);
            let Err(e) = result else {
                panic!("{xml_text:?} accepted");
            };
            assert!(e.message.starts_with(want), "{xml_text:?}: {}", e.message);
            assert_eq!(e.line, line, "{xml_text:?}: {}", e.message);
        }
    }

    #[test]
    fn an_empty_root_has_no_children() {
        let mut el = Elements::new(&b"\xEF\xBB\xBF<r/>"[..]);
        assert_eq!(el.open().map(|r| r.name.clone()).ok(), Some("r".into()));
        assert!(matches!(el.next_child(), Ok(None)));
    }
}
