//! Byte scans written so the compiler can vectorise them (no early exit).

/// Whether `buf` holds `byte`.
#[allow(
    clippy::needless_bitwise_bool,
    reason = "no short-circuit: the loop vectorises"
)]
pub(crate) fn contains(buf: &[u8], byte: u8) -> bool {
    buf.iter().fold(false, |acc, &b| acc | (b == byte))
}

/// Whether `buf` holds a byte a JSON string must escape.
#[allow(
    clippy::needless_bitwise_bool,
    reason = "no short-circuit: the loop vectorises"
)]
pub(crate) fn needs_json_escape(buf: &[u8]) -> bool {
    buf.iter().fold(false, |acc, &c| {
        acc | (c < 0x20) | (c == b'"') | (c == b'\\')
    })
}

/// How many times `byte` occurs in `buf`.
pub(crate) fn count(buf: &[u8], byte: u8) -> u64 {
    buf.iter().map(|&b| u64::from(b == byte)).sum()
}
