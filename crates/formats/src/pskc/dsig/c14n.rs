//! A whole XML document in memory, and its canonical form: Canonical XML 1.0
//! (inclusive) and Exclusive XML Canonicalization 1.0, both without
//! comments, of an element's subtree minus one excluded element (the
//! enveloped-signature transform). Written from the W3C recommendations for
//! what signed PSKC files use; tested against signatures `xmlsec1` makes.

use quick_xml::Reader;
use quick_xml::events::Event;

/// XML Signature's namespace.
pub(super) const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// One element: its name, the namespaces it declares, its attributes and
/// its content in order.
#[derive(Debug, Default)]
pub(super) struct Element {
    pub(super) prefix: String,
    pub(super) local: String,
    /// `xmlns` (prefix "") and `xmlns:p` declarations on this element.
    decls: Vec<(String, String)>,
    /// (prefix, local name, value), values normalized as a parser does.
    attrs: Vec<(String, String, String)>,
    pub(super) content: Vec<Content>,
    parent: Option<usize>,
}

/// Element content.
#[derive(Debug)]
pub(super) enum Content {
    Element(usize),
    Text(String),
    Pi(String),
}

/// A parsed document: elements in document order, the first is the root.
#[derive(Debug, Default)]
pub(super) struct Doc {
    pub(super) elements: Vec<Element>,
}

/// Why a document cannot be canonicalised.
pub(super) type Failed = String;

impl Doc {
    /// Parses `xml` (line ends normalised first, as a parser must).
    pub(super) fn parse(xml: &[u8]) -> Result<Self, Failed> {
        let text = std::str::from_utf8(xml).map_err(|_| "the XML is not valid UTF-8".to_owned())?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut reader = Reader::from_str(&text);
        reader.config_mut().trim_text(false);
        reader.config_mut().expand_empty_elements = true;
        let mut doc = Self::default();
        let mut open: Vec<usize> = Vec::new();
        let bad = |e: &dyn std::fmt::Display| format!("not well-formed XML: {e}");
        loop {
            let event = reader.read_event().map_err(|e| bad(&e))?;
            match event {
                Event::Start(start) => {
                    if open.is_empty() && !doc.elements.is_empty() {
                        return Err("more than one root element".into());
                    }
                    let qname = start.name().as_ref().to_owned();
                    let (prefix, local) = split(&qname);
                    let mut el = Element {
                        prefix: prefix.to_owned(),
                        local: local.to_owned(),
                        parent: open.last().copied(),
                        ..Element::default()
                    };
                    for a in start.attributes().with_checks(true) {
                        let a = a.map_err(|e| bad(&e))?;
                        let key = a.key.as_ref().to_owned();
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(|e| bad(&e))?
                            .into_owned();
                        if key == "xmlns" {
                            el.decls.push((String::new(), value));
                        } else if let Some(p) = key.strip_prefix("xmlns:") {
                            el.decls.push((p.to_owned(), value));
                        } else {
                            let (p, l) = split(&key);
                            el.attrs.push((p.to_owned(), l.to_owned(), value));
                        }
                    }
                    let i = doc.elements.len();
                    if let Some(&p) = open.last()
                        && let Some(parent) = doc.elements.get_mut(p)
                    {
                        parent.content.push(Content::Element(i));
                    }
                    doc.elements.push(el);
                    open.push(i);
                }
                Event::End(_) => {
                    open.pop();
                }
                Event::Text(t) => {
                    doc.push_text(&open, &t.into_inner());
                }
                Event::CData(c) => {
                    doc.push_text(&open, &c.into_inner());
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
                    let ch = ch.ok_or_else(|| "unknown XML entity".to_owned())?;
                    doc.push_text(&open, ch.encode_utf8(&mut [0u8; 4]));
                }
                Event::PI(pi) => {
                    if let Some(&top) = open.last()
                        && let Some(el) = doc.elements.get_mut(top)
                    {
                        el.content.push(Content::Pi(pi.into_inner().into_owned()));
                    }
                }
                Event::DocType(_) => {
                    return Err("a DOCTYPE is not accepted in a signed file".into());
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if doc.elements.is_empty() || !open.is_empty() {
            return Err("the XML ends before its elements are closed".into());
        }
        Ok(doc)
    }

    fn push_text(&mut self, open: &[usize], s: &str) {
        let Some(el) = open.last().and_then(|&i| self.elements.get_mut(i)) else {
            return; // whitespace outside the root is not part of the document's canonical form
        };
        if let Some(Content::Text(t)) = el.content.last_mut() {
            t.push_str(s);
        } else {
            el.content.push(Content::Text(s.to_owned()));
        }
    }

    pub(super) fn element(&self, i: usize) -> Option<&Element> {
        self.elements.get(i)
    }

    /// The namespace URI a prefix has at element `i` ("" for none).
    pub(super) fn ns_of(&self, i: usize, prefix: &str) -> String {
        if prefix == "xml" {
            return "http://www.w3.org/XML/1998/namespace".into();
        }
        let mut at = Some(i);
        while let Some(e) = at.and_then(|j| self.elements.get(j)) {
            if let Some((_, uri)) = e.decls.iter().rev().find(|(p, _)| p == prefix) {
                return uri.clone();
            }
            at = e.parent;
        }
        String::new()
    }

    /// Every namespace in scope at element `i`: (prefix, URI), innermost first.
    fn in_scope(&self, i: usize) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut at = Some(i);
        while let Some(e) = at.and_then(|j| self.elements.get(j)) {
            for (p, u) in &e.decls {
                if !out.iter().any(|(q, _)| q == p) {
                    out.push((p.clone(), u.clone()));
                }
            }
            at = e.parent;
        }
        out
    }

    /// Element children of `i` in `ns` named `local`.
    pub(super) fn children<'d>(
        &'d self,
        i: usize,
        ns: &'d str,
        local: &'d str,
    ) -> impl Iterator<Item = usize> + 'd {
        self.elements
            .get(i)
            .map(|e| e.content.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(move |c| match c {
                Content::Element(j)
                    if self
                        .elements
                        .get(*j)
                        .is_some_and(|e| e.local == local && self.ns_of(*j, &e.prefix) == ns) =>
                {
                    Some(*j)
                }
                _ => None,
            })
    }

    /// An attribute without a namespace.
    pub(super) fn attr(&self, i: usize, local: &str) -> Option<&str> {
        self.elements.get(i).and_then(|e| {
            e.attrs
                .iter()
                .find(|(p, l, _)| p.is_empty() && l == local)
                .map(|(_, _, v)| v.as_str())
        })
    }

    /// The text content of element `i` (its direct text children).
    pub(super) fn text(&self, i: usize) -> String {
        self.elements
            .get(i)
            .map(|e| {
                e.content
                    .iter()
                    .filter_map(|c| match c {
                        Content::Text(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The canonical form of element `apex`'s subtree without `exclude`.
    /// `exclusive`: Exclusive C14N, with `inclusive_prefixes` (its
    /// `InclusiveNamespaces PrefixList`) treated as in inclusive C14N.
    pub(super) fn canonical(
        &self,
        apex: usize,
        exclude: Option<usize>,
        exclusive: bool,
        inclusive_prefixes: &[String],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        let c = Canon {
            doc: self,
            exclude,
            exclusive,
            inclusive_prefixes,
        };
        c.element(apex, &[], &mut out);
        out
    }
}

struct Canon<'d> {
    doc: &'d Doc,
    exclude: Option<usize>,
    exclusive: bool,
    inclusive_prefixes: &'d [String],
}

impl Canon<'_> {
    /// `rendered`: the namespaces output ancestors declared, innermost last.
    fn element(&self, i: usize, rendered: &[(String, String)], out: &mut Vec<u8>) {
        if Some(i) == self.exclude {
            return;
        }
        let Some(e) = self.doc.element(i) else {
            return;
        };
        let in_effect = |p: &str| -> &str {
            rendered
                .iter()
                .rev()
                .find(|(q, _)| q == p)
                .map_or("", |(_, u)| u.as_str())
        };
        let scope = self.doc.in_scope(i);
        let candidates: Vec<(String, String)> = if self.exclusive {
            let mut used: Vec<String> = vec![e.prefix.clone()];
            for (p, _, _) in &e.attrs {
                if !p.is_empty() && p != "xml" && !used.contains(p) {
                    used.push(p.clone());
                }
            }
            for p in self.inclusive_prefixes {
                let p = if p == "#default" {
                    String::new()
                } else {
                    p.clone()
                };
                if !used.contains(&p) && (p.is_empty() || scope.iter().any(|(q, _)| *q == p)) {
                    used.push(p);
                }
            }
            used.into_iter()
                .map(|p| {
                    let uri = self.doc.ns_of(i, &p);
                    (p, uri)
                })
                .collect()
        } else {
            scope
        };
        let mut decls: Vec<(String, String)> = candidates
            .into_iter()
            .filter(|(p, u)| p != "xml" && in_effect(p) != u.as_str())
            .collect();
        decls.sort_by(|a, b| a.0.cmp(&b.0));
        // (namespace URI, local name, prefix, value), sorted by URI then name.
        let mut attrs: Vec<(String, &str, &str, &str)> = e
            .attrs
            .iter()
            .map(|(p, l, v)| {
                let uri = if p.is_empty() {
                    String::new()
                } else {
                    self.doc.ns_of(i, p)
                };
                (uri, l.as_str(), p.as_str(), v.as_str())
            })
            .collect();
        attrs.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
        let qname = |prefix: &str, local: &str| {
            if prefix.is_empty() {
                local.to_owned()
            } else {
                format!("{prefix}:{local}")
            }
        };
        let name = qname(&e.prefix, &e.local);
        out.push(b'<');
        out.extend_from_slice(name.as_bytes());
        for (p, u) in &decls {
            out.extend_from_slice(if p.is_empty() { b" xmlns" } else { b" xmlns:" });
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_attr(u, out);
            out.push(b'"');
        }
        for (_, local, prefix, value) in &attrs {
            out.push(b' ');
            out.extend_from_slice(qname(prefix, local).as_bytes());
            out.extend_from_slice(b"=\"");
            escape_attr(value, out);
            out.push(b'"');
        }
        out.push(b'>');
        let mut now: Vec<(String, String)> = rendered.to_vec();
        now.extend(decls);
        for c in &e.content {
            match c {
                Content::Element(j) => self.element(*j, &now, out),
                Content::Text(t) => escape_text(t, out),
                Content::Pi(p) => {
                    out.extend_from_slice(b"<?");
                    out.extend_from_slice(p.as_bytes());
                    out.extend_from_slice(b"?>");
                }
            }
        }
        out.extend_from_slice(b"</");
        out.extend_from_slice(name.as_bytes());
        out.push(b'>');
    }
}

fn split(qname: &str) -> (&str, &str) {
    qname.split_once(':').unwrap_or(("", qname))
}

fn escape_text(s: &str, out: &mut Vec<u8>) {
    for ch in s.chars() {
        match ch {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            c => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
        }
    }
}

fn escape_attr(s: &str, out: &mut Vec<u8>) {
    for ch in s.chars() {
        match ch {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\t' => out.extend_from_slice(b"&#x9;"),
            '\n' => out.extend_from_slice(b"&#xA;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            c => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, exclusive: bool) -> String {
        let doc = Doc::parse(xml.as_bytes()).unwrap();
        String::from_utf8(doc.canonical(0, None, exclusive, &[])).unwrap()
    }

    #[test]
    fn c14n_spec_examples() {
        // Canonical XML 1.0 §3.3 (start and end tags), abridged.
        let xml = "<doc>\r\n   <e1   />\n   <e2   ></e2>\n   <e3   name = \"elem3\"   id=\"elem3\"   />\n   \
                   <e5 a:attr=\"out\" b:attr=\"sorted\" attr2=\"all\" attr=\"I'm\"\n      xmlns:b=\"http://www.ietf.org\"\n      \
                   xmlns:a=\"http://www.w3.org\"\n      xmlns=\"http://example.org\"/>\n</doc>";
        assert_eq!(
            c14n(xml, false),
            "<doc>\n   <e1></e1>\n   <e2></e2>\n   <e3 id=\"elem3\" name=\"elem3\"></e3>\n   \
             <e5 xmlns=\"http://example.org\" xmlns:a=\"http://www.w3.org\" xmlns:b=\"http://www.ietf.org\" \
             attr=\"I'm\" attr2=\"all\" b:attr=\"sorted\" a:attr=\"out\"></e5>\n</doc>"
        );
        // §3.4: character escapes in text and attributes.
        let xml = "<doc><text>First line&#x0d;&#10;Second line</text><value>&#x32;</value>\
                   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/></doc>";
        assert_eq!(
            c14n(xml, false),
            "<doc><text>First line&#xD;\nSecond line</text><value>2</value>\
             <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm></doc>"
        );
    }

    #[test]
    fn exclusive_renders_only_visibly_used_namespaces() {
        let xml = "<a:r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" xmlns=\"urn:d\"><a:c><d/></a:c></a:r>";
        assert_eq!(
            c14n(xml, true),
            "<a:r xmlns:a=\"urn:a\"><a:c><d xmlns=\"urn:d\"></d></a:c></a:r>"
        );
        assert_eq!(
            c14n(xml, false),
            "<a:r xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:b=\"urn:b\"><a:c><d></d></a:c></a:r>"
        );
        // A subtree as apex takes its ancestors' namespaces (inclusive) or
        // only the ones it uses (exclusive).
        let doc = Doc::parse(xml.as_bytes()).unwrap();
        let c = |ex| String::from_utf8(doc.canonical(1, None, ex, &[])).unwrap();
        assert_eq!(
            c(true),
            "<a:c xmlns:a=\"urn:a\"><d xmlns=\"urn:d\"></d></a:c>"
        );
        assert_eq!(
            c(false),
            "<a:c xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:b=\"urn:b\"><d></d></a:c>"
        );
    }
}
