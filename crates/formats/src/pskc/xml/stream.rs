//! [`Elements`]: the input read into a window that is wiped as it moves,
//! the root's start tag, then each child of the root as a complete
//! [`Tree`].

use std::io::BufRead;

use quick_xml::events::attributes::Attributes;
use zeroize::{Zeroize, Zeroizing};

use super::error::XmlError;
use super::names::{Ns, Outer};
use super::scan::{Markup, markup, newlines};
use super::tree::Tree;

/// The document's root element: its name, namespace, attributes and line.
#[derive(Debug)]
pub(crate) struct Root {
    pub(crate) ns: Option<Ns>,
    pub(crate) name: String,
    qname: String,
    attrs: Vec<(String, String)>,
    /// The namespace URI of the root element, as written.
    pub(crate) ns_uri: String,
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
        let (root_prefix, _) = super::names::split_qname(&qname);
        let mut ns_uri = String::new();
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
                if root_prefix.is_empty() {
                    value.trim().clone_into(&mut ns_uri);
                }
                bindings.default = Some(Ns::from_uri(&value));
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                if prefix == root_prefix {
                    value.trim().clone_into(&mut ns_uri);
                }
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
            ns_uri,
            line: self.line,
        })
    }

    /// Reads the root's namespace as `ns` in the root and every child: a
    /// vendor's namespace on a PSKC-shaped container. (A child that
    /// declares the same URI again keeps its own reading.)
    pub(crate) fn adopt_root_namespace(&mut self, ns: Ns) {
        let Some(root) = self.root.as_mut() else {
            return;
        };
        let (prefix, _) = super::names::split_qname(&root.qname);
        if prefix.is_empty() {
            self.bindings.default = Some(ns);
        } else {
            for (p, n) in &mut self.bindings.prefixed {
                if p == prefix {
                    *n = ns;
                }
            }
        }
        root.ns = Some(ns);
    }

    /// The root's namespace declarations, in scope for every child.
    pub(crate) fn bindings(&self) -> &Outer {
        &self.bindings
    }

    /// Finds the next child of the root without moving past it (text and
    /// comments before it are skipped): its span for [`Self::span`] and
    /// [`Self::take`], or `None` at the root's end.
    pub(crate) fn peek_child(&mut self) -> Result<Option<(usize, usize)>, XmlError> {
        self.next_span()
    }

    /// The bytes of a span from [`Self::peek_child`] (valid until the next read).
    pub(crate) fn span(&self, (from, len): (usize, usize)) -> &[u8] {
        self.window.get(from..from + len).unwrap_or_default()
    }

    /// Moves past a span from [`Self::peek_child`]: its bytes and first line.
    pub(crate) fn take(&mut self, (from, len): (usize, usize)) -> (&[u8], u64) {
        let line = self.line;
        self.advance(len);
        (self.window.get(from..from + len).unwrap_or_default(), line)
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
