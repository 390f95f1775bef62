//! Why the XML could not be read: a message that names tags and
//! positions, never text content, and a line.

/// Why the XML could not be read.
#[derive(Debug)]
pub(crate) struct XmlError {
    pub(crate) message: String,
    pub(crate) line: u64,
}

/// quick-xml's error as an [`XmlError`] at `line`.
pub(super) fn xml_err(e: &quick_xml::Error, line: u64) -> XmlError {
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
