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
    memchr::memchr_iter(byte, buf).count() as u64
}

/// Pushes the `(start, end)` of each comma-separated field of `line`
/// (offsets plus `base`).
pub(crate) fn split_commas(line: &[u8], base: usize, fields: &mut Vec<(usize, usize)>) {
    let mut start = 0usize;
    for comma in memchr::memchr_iter(b',', line) {
        fields.push((base + start, base + comma));
        start = comma + 1;
    }
    fields.push((base + start, base + line.len()));
}
