//! Percent-decoding of query strings, and percent-encoding for the
//! query of `@odata.nextLink`.

use std::borrow::Cow;

use super::{QueryError, bad};

/// Percent-decodes one key or value of a query string, reading `+` as a space.
pub(super) fn decode(s: &str) -> Result<Cow<'_, str>, QueryError> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let high = bytes.next().and_then(hex_value);
                let low = bytes.next().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(bad(
                        "The query string has an invalid percent-encoding: '%' must be followed \
                         by two hexadecimal digits.",
                    ));
                };
                out.push((high << 4) | low);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| bad("The query string is not valid UTF-8 once percent-decoded."))
}

/// The value of one hexadecimal digit.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `s` percent-encoded for a query value: unreserved characters and
/// the `OData` punctuation `' / , : @ ( )` stay; everything else, spaces
/// included, becomes `%XX`.
pub(super) fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b'\'' | b'/' | b',' | b':' | b'@' | b'(' | b')'
            )
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0x0f));
        }
    }
}

/// The upper-case hexadecimal digit for a nibble.
fn hex_digit(nibble: u8) -> char {
    match nibble {
        0..=9 => char::from(b'0' + nibble),
        _ => char::from(b'A' + (nibble & 0x0f) - 10),
    }
}
