//! Secret encodings: hex, Base32 (RFC 4648 §6) and Base64 (RFC 4648 §4).
//!
//! Decoding is lenient the way vendor files need: spaces anywhere, either
//! case, hex with `0x`, Base32 without padding or with spare trailing bits
//! (Entra's own sample has 26 characters). Encoding is canonical: lower-case
//! hex, upper-case unpadded Base32 (padded on request), padded Base64.

use std::fmt;
use std::str::FromStr;

use data_encoding::{BASE32, BASE32_NOPAD, BASE64, HEXLOWER, HEXUPPER};
use zeroize::Zeroizing;

use crate::error::EncodingError;
use crate::secret::Secret;

/// How a secret is written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretEncoding {
    /// Hexadecimal; written lower case.
    Hex,
    /// Hexadecimal; written upper case (`DualShield`, Deepnet).
    HexUpper,
    /// RFC 4648 Base32, upper case, no padding (Entra, Graph, Google Authenticator).
    Base32,
    /// RFC 4648 Base32, upper case, `=`-padded to a multiple of 8.
    Base32Padded,
    /// RFC 4648 Base64, standard alphabet, padded (PSKC `PlainValue`).
    Base64,
}

impl SecretEncoding {
    /// Every encoding, in the order the CLI lists them.
    pub const ALL: [Self; 5] = [
        Self::Hex,
        Self::HexUpper,
        Self::Base32,
        Self::Base32Padded,
        Self::Base64,
    ];

    /// The name used on the command line and in jsonl files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::HexUpper => "hex-upper",
            Self::Base32 => "base32",
            Self::Base32Padded => "base32-padded",
            Self::Base64 => "base64",
        }
    }

    /// Decodes a secret, leniently (see the module docs).
    pub fn decode(self, text: &str) -> Result<Secret, EncodingError> {
        let mut bytes = match self {
            Self::Hex | Self::HexUpper => decode_hex(text)?,
            Self::Base32 | Self::Base32Padded => decode_base32(text)?,
            Self::Base64 => decode_base64(text)?,
        };
        // Move the buffer out (the Zeroizing shell is left empty).
        Ok(Secret::new(std::mem::take(&mut *bytes))?)
    }

    /// Decodes into an existing secret, reusing its buffer (no allocation
    /// once the buffer is large enough). On error the secret holds a single
    /// zero byte: the caller must not use it.
    pub fn decode_into(self, text: &str, secret: &mut Secret) -> Result<(), EncodingError> {
        secret.with_buffer(|buf| match self {
            Self::Hex | Self::HexUpper => decode_hex_into(text, buf),
            Self::Base32 | Self::Base32Padded => decode_base32_into(text, buf),
            Self::Base64 => {
                let decoded = decode_base64(text)?;
                buf.extend_from_slice(&decoded);
                Ok(())
            }
        })
    }

    /// Encodes a secret canonically. The text is wiped when dropped.
    #[must_use]
    pub fn encode(self, secret: &Secret) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        self.encode_append(secret, &mut out);
        out
    }

    /// Appends the canonical text of `secret` to a byte buffer (the fast
    /// path for writers that build bytes). The caller owns wiping `out`.
    pub fn encode_to(self, secret: &Secret, out: &mut Vec<u8>) {
        let bytes = secret.expose();
        if matches!(self, Self::Base32) {
            encode_base32_nopad(bytes, out);
            return;
        }
        let enc = match self {
            Self::Hex => &HEXLOWER,
            Self::HexUpper => &HEXUPPER,
            Self::Base32 => &BASE32_NOPAD,
            Self::Base32Padded => &BASE32,
            Self::Base64 => &BASE64,
        };
        let start = out.len();
        out.resize(start + enc.encode_len(bytes.len()), 0);
        if let Some(dst) = out.get_mut(start..) {
            enc.encode_mut(bytes, dst);
        }
    }

    /// Appends the canonical text of `secret` to `out` (no allocation when
    /// `out` has room). The caller owns wiping `out`.
    pub fn encode_append(self, secret: &Secret, out: &mut String) {
        let bytes = secret.expose();
        match self {
            Self::Hex => HEXLOWER.encode_append(bytes, out),
            Self::HexUpper => HEXUPPER.encode_append(bytes, out),
            Self::Base32 => BASE32_NOPAD.encode_append(bytes, out),
            Self::Base32Padded => BASE32.encode_append(bytes, out),
            Self::Base64 => BASE64.encode_append(bytes, out),
        }
    }
}

impl fmt::Display for SecretEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SecretEncoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|e| e.name() == wanted)
            .or(match wanted.as_str() {
                "hexadecimal" => Some(Self::Hex),
                "b32" | "base32-nopad" => Some(Self::Base32),
                "b64" => Some(Self::Base64),
                _ => None,
            })
            .ok_or_else(|| {
                format!(
                    "unknown secret encoding {s:?} (expected one of: {})",
                    Self::ALL.map(Self::name).join(", ")
                )
            })
    }
}

/// Base32 (RFC 4648), upper case, unpadded: every 5 bytes become 8
/// characters via one 40-bit word; a short tail becomes fewer.
fn encode_base32_nopad(bytes: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    out.reserve(bytes.len().div_ceil(5) * 8);
    for group in bytes.chunks(5) {
        let mut word = [0u8; 8];
        if let Some(dst) = word.get_mut(3..3 + group.len()) {
            dst.copy_from_slice(group);
        }
        let acc = u64::from_be_bytes(word);
        let mut chars = [0u8; 8];
        for (i, c) in chars.iter_mut().enumerate() {
            let v = (acc >> (35 - 5 * i)) & 0x1f;
            *c = ALPHABET
                .get(usize::try_from(v).unwrap_or(0))
                .copied()
                .unwrap_or(b'A');
        }
        out.extend_from_slice(
            chars
                .get(..(group.len() * 8).div_ceil(5))
                .unwrap_or_default(),
        );
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_hex(text: &str) -> Result<Zeroizing<Vec<u8>>, EncodingError> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 2));
    decode_hex_into(text, &mut out)?;
    Ok(out)
}

fn decode_hex_into(text: &str, out: &mut Vec<u8>) -> Result<(), EncodingError> {
    let raw = text.as_bytes();
    let trimmed = text.trim_start();
    let skip = raw.len() - trimmed.len()
        + if trimmed.starts_with("0x") || trimmed.starts_with("0X") {
            2
        } else {
            0
        };
    let mut high: Option<u8> = None;
    let mut digits = 0usize;
    for (i, &c) in raw.iter().enumerate().skip(skip) {
        if is_space(c) {
            continue;
        }
        let Some(v) = hex_value(c) else {
            return Err(EncodingError::InvalidChar {
                encoding: "hex",
                position: i + 1,
                hint: if c.is_ascii_alphabetic() {
                    " (hex uses 0-9 and a-f; is this Base32?)"
                } else {
                    ""
                },
            });
        };
        digits += 1;
        match high.take() {
            None => high = Some(v),
            Some(h) => out.push((h << 4) | v),
        }
    }
    if digits == 0 {
        return Err(EncodingError::Empty);
    }
    if high.is_some() {
        return Err(EncodingError::OddHexLength { len: digits });
    }
    Ok(())
}

/// RFC 4648 Base32 values, either case; 0xff marks a non-alphabet byte.
#[allow(
    clippy::indexing_slicing,
    reason = "const evaluation: an out-of-range index fails the build"
)]
const BASE32_VALUES: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0u8;
    while i < 26 {
        t[(b'A' + i) as usize] = i;
        t[(b'a' + i) as usize] = i;
        i += 1;
    }
    let mut d = 0u8;
    while d < 6 {
        t[(b'2' + d) as usize] = 26 + d;
        d += 1;
    }
    t
};

fn base32_value(c: u8) -> Option<u8> {
    BASE32_VALUES
        .get(usize::from(c))
        .copied()
        .filter(|&v| v != 0xff)
}

fn decode_base32(text: &str) -> Result<Zeroizing<Vec<u8>>, EncodingError> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8));
    decode_base32_into(text, &mut out)?;
    Ok(out)
}

fn decode_base32_into(text: &str, out: &mut Vec<u8>) -> Result<(), EncodingError> {
    let raw = text.as_bytes();
    // Fast path: whole groups of 8 alphabet characters make 5 bytes each,
    // gathered on the stack (wiped below) and appended at once.
    let mut block = [0u8; 80];
    let mut filled = 0usize;
    let mut start = 0usize;
    while let (Some(group), Some(dst)) =
        (raw.get(start..start + 8), block.get_mut(filled..filled + 5))
    {
        let mut acc = 0u64;
        let mut bad = false;
        for &c in group {
            let v = BASE32_VALUES.get(usize::from(c)).copied().unwrap_or(0xff);
            bad |= v == 0xff;
            acc = (acc << 5) | u64::from(v & 0x1f);
        }
        if bad {
            break;
        }
        dst.copy_from_slice(acc.to_be_bytes().get(3..).unwrap_or_default());
        filled += 5;
        start += 8;
    }
    out.extend_from_slice(block.get(..filled).unwrap_or_default());
    zeroize::Zeroize::zeroize(&mut block);
    // The rest (spaces, padding, a short tail, or an error to locate).
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    let mut chars = start;
    let mut pad = 0usize;
    for (i, &c) in raw.iter().enumerate().skip(start) {
        if is_space(c) {
            continue;
        }
        if c == b'=' {
            pad += 1;
            continue;
        }
        if pad > 0 {
            return Err(EncodingError::BadPadding { encoding: "Base32" });
        }
        let Some(v) = base32_value(c) else {
            return Err(EncodingError::InvalidChar {
                encoding: "Base32",
                position: i + 1,
                hint: match c {
                    b'0' | b'1' | b'8' | b'9' => {
                        " (Base32 uses A-Z and 2-7; 0, 1, 8 and 9 suggest hex)"
                    }
                    _ => " (Base32 uses A-Z and 2-7)",
                },
            });
        };
        chars += 1;
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            // Truncation intended: the top byte of the accumulated bits.
            #[allow(clippy::cast_possible_truncation, reason = "masked to one byte")]
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    if chars == 0 {
        return Err(EncodingError::Empty);
    }
    // A single spare character (5 bits) cannot come from whole bytes.
    if bits >= 5 {
        return Err(EncodingError::BadLength {
            encoding: "Base32",
            len: chars,
        });
    }
    if pad > 0 && !(chars + pad).is_multiple_of(8) {
        return Err(EncodingError::BadPadding { encoding: "Base32" });
    }
    Ok(())
}

fn decode_base64(text: &str) -> Result<Zeroizing<Vec<u8>>, EncodingError> {
    let compact: Zeroizing<Vec<u8>> =
        Zeroizing::new(text.bytes().filter(|c| !is_space(*c)).collect());
    if compact.is_empty() {
        return Err(EncodingError::Empty);
    }
    if let Some(pos) = compact
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')))
    {
        // Report the position in the original text.
        let position = text
            .bytes()
            .enumerate()
            .filter(|(_, c)| !is_space(*c))
            .nth(pos)
            .map_or(pos, |(i, _)| i);
        return Err(EncodingError::InvalidChar {
            encoding: "Base64",
            position: position + 1,
            hint: "",
        });
    }
    // Accept missing padding by adding it.
    let mut padded = compact.clone();
    while !padded.len().is_multiple_of(4) {
        padded.push(b'=');
    }
    let len = BASE64
        .decode_len(padded.len())
        .map_err(|_| EncodingError::BadLength {
            encoding: "Base64",
            len: compact.len(),
        })?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    match BASE64.decode_mut(&padded, &mut out) {
        Ok(n) => {
            out.truncate(n);
            Ok(out)
        }
        Err(partial) => Err(match partial.error.kind {
            data_encoding::DecodeKind::Trailing => EncodingError::TrailingBits,
            data_encoding::DecodeKind::Padding => EncodingError::BadPadding { encoding: "Base64" },
            _ => EncodingError::BadLength {
                encoding: "Base64",
                len: compact.len(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC: &[u8] = b"12345678901234567890";

    fn dec(e: SecretEncoding, s: &str) -> Vec<u8> {
        e.decode(s).unwrap().expose().to_vec()
    }

    #[test]
    fn hex_is_lenient() {
        for s in [
            "3132333435363738393031323334353637383930",
            "3132333435363738393031323334353637383930"
                .to_uppercase()
                .as_str(),
            "0x3132333435363738393031323334353637383930",
            "  31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30 ",
        ] {
            assert_eq!(dec(SecretEncoding::Hex, s), RFC, "{s}");
        }
    }

    #[test]
    fn hex_errors() {
        assert_eq!(
            SecretEncoding::Hex.decode("abc").unwrap_err(),
            EncodingError::OddHexLength { len: 3 }
        );
        assert_eq!(
            SecretEncoding::Hex.decode("  ").unwrap_err(),
            EncodingError::Empty
        );
        let e = SecretEncoding::Hex.decode("31zz").unwrap_err();
        assert!(
            matches!(e, EncodingError::InvalidChar { position: 3, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn base32_is_lenient() {
        for s in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
        ] {
            assert_eq!(dec(SecretEncoding::Base32, s), RFC, "{s}");
        }
        // 32-byte key, padded and unpadded.
        let k32 = b"12345678901234567890123456789012";
        assert_eq!(
            dec(
                SecretEncoding::Base32,
                "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA===="
            ),
            k32
        );
        assert_eq!(
            dec(
                SecretEncoding::Base32,
                "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
            ),
            k32
        );
    }

    #[test]
    fn base32_entra_sample_with_spare_bits() {
        // Microsoft's sample secret: 26 chars, lower case, 2 spare bits.
        let s = SecretEncoding::Base32
            .decode("2234567abcdef2234567abcdef")
            .unwrap();
        assert_eq!(s.len(), 16);
    }

    #[test]
    fn base32_errors() {
        let e = SecretEncoding::Base32.decode("GEZDGNB0").unwrap_err();
        assert!(
            matches!(e, EncodingError::InvalidChar { position: 8, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("suggest hex"));
        assert_eq!(
            SecretEncoding::Base32.decode("GEZDGNBVG").unwrap_err(),
            EncodingError::BadLength {
                encoding: "Base32",
                len: 9
            }
        );
        assert_eq!(
            SecretEncoding::Base32.decode("GE=ZD").unwrap_err(),
            EncodingError::BadPadding { encoding: "Base32" }
        );
        assert_eq!(
            SecretEncoding::Base32.decode("").unwrap_err(),
            EncodingError::Empty
        );
    }

    #[test]
    fn base64() {
        assert_eq!(
            dec(SecretEncoding::Base64, "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA="),
            RFC
        );
        assert_eq!(
            dec(SecretEncoding::Base64, "MTIzNDU2\n Nzg5MDEy\nMzQ1Njc4OTA"),
            RFC
        );
        assert!(SecretEncoding::Base64.decode("MTI*").is_err());
        assert_eq!(
            SecretEncoding::Base64.decode("MTJ=").unwrap_err(),
            EncodingError::TrailingBits
        );
    }

    #[test]
    fn canonical_output() {
        let s = Secret::from_slice(RFC).unwrap();
        assert_eq!(
            &*SecretEncoding::Hex.encode(&s),
            "3132333435363738393031323334353637383930"
        );
        assert_eq!(
            &*SecretEncoding::HexUpper.encode(&s),
            "3132333435363738393031323334353637383930"
        );
        assert_eq!(
            &*SecretEncoding::Base32.encode(&s),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            &*SecretEncoding::Base64.encode(&s),
            "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA="
        );
        let s32 = Secret::from_slice(b"12345678901234567890123456789012").unwrap();
        assert_eq!(
            &*SecretEncoding::Base32Padded.encode(&s32),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA===="
        );
        let b = SecretEncoding::Hex
            .decode("d6f9df7c0110c8531d0952d8d73e1194e95b5f19")
            .unwrap();
        assert_eq!(
            &*SecretEncoding::Base32.encode(&b),
            "234567ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        );
        assert_eq!(
            &*SecretEncoding::Base64.encode(&b),
            "1vnffAEQyFMdCVLY1z4RlOlbXxk="
        );
    }

    #[test]
    fn decode_into_reuses_and_fails_safe() {
        let mut s = Secret::from_slice(b"old secret bytes").unwrap();
        SecretEncoding::Base32
            .decode_into("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", &mut s)
            .unwrap();
        assert_eq!(s.expose(), RFC);
        SecretEncoding::Hex.decode_into("3132", &mut s).unwrap();
        assert_eq!(s.expose(), b"12");
        assert!(SecretEncoding::Base32.decode_into("GEZ0", &mut s).is_err());
        assert_eq!(s.expose(), [0]);
        assert!(SecretEncoding::Hex.decode_into(" ", &mut s).is_err());
        assert_eq!(s.len(), 1);
        SecretEncoding::Base64
            .decode_into("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", &mut s)
            .unwrap();
        assert_eq!(s.expose(), RFC);
    }

    #[test]
    fn names_parse() {
        for e in SecretEncoding::ALL {
            assert_eq!(e.name().parse::<SecretEncoding>().unwrap(), e);
        }
        assert!(
            "rot13"
                .parse::<SecretEncoding>()
                .unwrap_err()
                .contains("base32")
        );
    }

    #[test]
    fn encode_to_matches_encode() {
        for len in [1usize, 4, 5, 6, 10, 16, 20, 32, 64, 128] {
            let s = Secret::new(
                (0..len)
                    .map(|i| u8::try_from(i * 37 % 256).unwrap())
                    .collect(),
            )
            .unwrap();
            for e in SecretEncoding::ALL {
                let mut v = b"x".to_vec();
                e.encode_to(&s, &mut v);
                assert_eq!(&v[1..], e.encode(&s).as_bytes(), "{e} {len}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn every_encoding_round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 1..=128)) {
            let s = Secret::new(bytes.clone()).unwrap();
            for e in SecretEncoding::ALL {
                let text = e.encode(&s);
                let back = e.decode(&text).unwrap();
                proptest::prop_assert_eq!(back.expose(), bytes.as_slice());
            }
        }
    }
}
