//! XML namespaces: the ones PSKC files use, and how a prefix resolves
//! (declarations inside a child first, then the root's).

/// The namespaces PSKC files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    /// `urn:ietf:params:xml:ns:keyprov:pskc` (and the pre-RFC `…:pskc:1.0`).
    Pskc,
    /// The portable symmetric key container drafts' namespaces
    /// (`urn:ietf:params:xml:ns:keyprov:container`, `…:container:1.0`).
    PskcDraft,
    /// A vendor's own namespace on a PSKC-shaped `<KeyContainer>`, adopted
    /// by the reader (`Elements::adopt_root_namespace`).
    Vendor,
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
    pub(super) fn from_uri(uri: &str) -> Self {
        match uri.trim() {
            "urn:ietf:params:xml:ns:keyprov:pskc" | "urn:ietf:params:xml:ns:keyprov:pskc:1.0" => {
                Self::Pskc
            }
            "urn:ietf:params:xml:ns:keyprov:container"
            | "urn:ietf:params:xml:ns:keyprov:container:1.0" => Self::PskcDraft,
            "http://www.w3.org/2000/09/xmldsig#" => Self::Ds,
            "http://www.w3.org/2001/04/xmlenc#" => Self::Xenc,
            "http://www.w3.org/2009/xmlenc11#" => Self::Xenc11,
            "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#" => Self::Pkcs5,
            "" => Self::None,
            _ => Self::Other,
        }
    }
}

impl Ns {
    /// PSKC's namespace, a draft's, or an adopted vendor's.
    pub(crate) fn is_pskc(self) -> bool {
        matches!(self, Self::Pskc | Self::PskcDraft | Self::Vendor)
    }
}

/// A namespace declaration in scope: prefix (empty for the default) and URI.
pub(super) type Binding<'a> = (&'a str, Ns);

/// The root's namespace declarations, which every child inherits.
#[derive(Debug, Default, Clone)]
pub(crate) struct Outer {
    /// `xmlns="…"` on the root.
    pub(super) default: Option<Ns>,
    /// `xmlns:prefix="…"` on the root.
    pub(super) prefixed: Vec<(String, Ns)>,
}

/// Short-string equality without a `memcmp` call (prefixes are a few bytes).
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The namespace of a prefix, innermost declaration first; `None` for an
/// undeclared prefix.
pub(super) fn lookup(prefix: &str, inner: &[Binding<'_>], outer: &Outer) -> Option<Ns> {
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

/// A qualified name's prefix (empty when there is none) and local name.
pub(super) fn split_qname(qname: &str) -> (&str, &str) {
    match qname.bytes().position(|c| c == b':') {
        Some(i) => (
            qname.get(..i).unwrap_or_default(),
            qname.get(i + 1..).unwrap_or_default(),
        ),
        None => ("", qname),
    }
}
