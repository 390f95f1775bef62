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

mod error;
mod names;
mod scan;
mod stream;
mod tree;

pub(crate) use error::XmlError;
pub(crate) use names::{Ns, Outer};
pub(crate) use stream::Elements;
pub(crate) use tree::{Node, Tree};

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
