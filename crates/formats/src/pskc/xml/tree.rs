//! One child of the root, parsed into an arena of elements whose names and
//! text borrow the source, and [`Node`], the view readers walk.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;
use quick_xml::events::attributes::Attributes;
use zeroize::{Zeroize, Zeroizing};

use super::error::{XmlError, xml_err};
use super::names::{Binding, Ns, Outer, lookup, same, split_qname};
use super::scan::newlines;

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
pub(super) struct Item<'a> {
    pub(super) ns: Option<Ns>,
    pub(super) name: &'a str,
    /// Range of this element's attributes in [`Tree::attrs`].
    pub(super) attrs: (usize, usize),
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
    pub(super) attrs: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Tree<'a> {
    /// Parses `src`, one complete element, with the root's namespace
    /// declarations `outer` in scope.
    pub(crate) fn parse(src: &'a [u8], line: u64, outer: &Outer) -> Result<Self, XmlError> {
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
    pub(super) fn item(self) -> Option<&'t Item<'t>> {
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
