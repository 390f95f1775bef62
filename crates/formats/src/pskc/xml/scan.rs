//! The light scanner that finds where markup ends (tags, comments, CDATA,
//! processing instructions, declarations) without parsing it, and counts
//! lines.

/// The line breaks in `b`.
pub(super) fn newlines(b: &[u8]) -> u64 {
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

/// What the scanner found at a `<`.
pub(super) enum Markup {
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
pub(super) fn markup(b: &[u8]) -> Markup {
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
