//! Format detection from content (the file name is only a hint elsewhere).

use crate::Format;
use crate::error::{Error, ErrorKind};

/// Tells the format from the first bytes of a file (a few KiB is enough).
///
/// Binary files get a specific message: a ZIP or PGP delivery is pointed to
/// `oathvault open`, anything else is called binary.
pub fn detect(head: &[u8]) -> Result<Format, Error> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Err(Error::new(ErrorKind::Binary(
            "this is a ZIP archive: unpack it first with `oathvault open`",
        )));
    }
    if head.starts_with(b"-----BEGIN PGP")
        || head
            .first()
            .is_some_and(|b| matches!(b, 0x84 | 0x85 | 0x8c | 0xc1 | 0xc3))
    {
        return Err(Error::new(ErrorKind::Binary(
            "this is an OpenPGP message: decrypt it first with `oathvault open`",
        )));
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let valid = match std::str::from_utf8(text) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the sample is fine.
        Err(e) => e.error_len().is_none(),
    };
    if !valid || text.contains(&0) {
        return Err(Error::new(ErrorKind::Binary(
            "this is a binary file, not a seed file (not UTF-8 text)",
        )));
    }
    let trimmed = text.trim_ascii_start();
    let Some(&first) = trimmed.first() else {
        return Err(Error::new(ErrorKind::Empty));
    };
    match first {
        b'[' => Ok(Format::EntraJson),
        b'{' => {
            let first_line = trimmed.split(|&b| b == b'\n').next().unwrap_or_default();
            let is_jsonl =
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(first_line)
                    .is_ok_and(|m| m.contains_key("serial") && m.contains_key("secret_encoding"));
            Ok(if is_jsonl {
                Format::Jsonl
            } else {
                Format::EntraJson
            })
        }
        b'<' => {
            if memchr::memmem::find(trimmed, b"KeyContainer").is_some() {
                Ok(Format::Pskc)
            } else if memchr::memmem::find(trimmed, b"<data").is_some()
                && memchr::memmem::find(trimmed, b"<header").is_some()
            {
                Ok(Format::DualShield)
            } else {
                Err(Error::new(ErrorKind::Unrecognised(
                    "this is XML but neither PSKC (no KeyContainer) nor a DualShield token file"
                        .into(),
                )))
            }
        }
        _ => {
            let header = trimmed.split(|&b| b == b'\n').next().unwrap_or_default();
            let header = String::from_utf8_lossy(header).to_ascii_lowercase();
            let cols: Vec<String> = header
                .split(',')
                .map(|c| c.trim().trim_matches('"').replace(' ', ""))
                .collect();
            let has = |name: &str| cols.iter().any(|c| c == name);
            if has("login") && has("encoding") {
                Ok(Format::OktaCsv)
            } else if has("serialnumber") && has("secretkey") {
                Ok(entra_or_safeid(trimmed, &cols))
            } else if has("sharedkey") {
                Ok(Format::SalesforceCsv)
            } else if looks_like_oath_csv(trimmed) {
                Ok(Format::OathCsv)
            } else if looks_like_yubico_log(trimmed) {
                Ok(Format::YubicoCsv)
            } else if looks_like_duo_csv(trimmed) {
                Ok(Format::DuoCsv)
            } else {
                Err(Error::new(ErrorKind::Unrecognised(
                    "the first line is not a known header; name the format with --from".into(),
                )))
            }
        }
    }
}

/// Entra's columns carry Base32 secrets, SafeID's hex: a secret of hex
/// digits only, with one that Base32 lacks (0, 1, 8 or 9), in any row of
/// the sample makes the file SafeID's. Base32 never has those digits, so an
/// Entra file is never taken for SafeID; a SafeID file whose sampled secrets
/// all lack them (unlikely past one row) is taken for Entra's, which is
/// why `--from safeid-csv` is the sure way.
fn entra_or_safeid(text: &[u8], cols: &[String]) -> Format {
    let Some(secret_col) = cols.iter().position(|c| c == "secretkey") else {
        return Format::EntraCsv;
    };
    let text = String::from_utf8_lossy(text);
    let hex_row = text.lines().skip(1).any(|row| {
        row.split(',')
            .nth(secret_col)
            .map(|s| s.trim().trim_matches('"'))
            .is_some_and(|s| {
                crate::entra_csv::is_hex(s)
                    && s.bytes().any(|b| matches!(b, b'0' | b'1' | b'8' | b'9'))
            })
    });
    if hex_row {
        Format::SafeIdCsv
    } else {
        Format::EntraCsv
    }
}

/// `privacyIDEA`/`LinOTP` OATH CSV: a `# version:` line, or among the first
/// data lines one `serial, hex, hotp|totp|ocra|tan, …`.
fn looks_like_oath_csv(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.clone().next() else {
        return false;
    };
    if first
        .strip_prefix('#')
        .is_some_and(|r| r.trim().to_ascii_lowercase().starts_with("version:"))
    {
        return true;
    }
    // Some lines give only `serial, seed`; one with a type word settles it.
    let mut lines = lines;
    lines
        .by_ref()
        .filter(|l| !l.starts_with('#'))
        .take(20)
        .any(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            f.len() >= 3
                && f.get(1)
                    .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
                && f.get(2).is_some_and(|t| {
                    matches!(
                        t.to_ascii_lowercase().as_str(),
                        "hotp" | "totp" | "ocra" | "tan" | "hmac"
                    )
                })
        })
}

/// `YubiKey` Personalization Tool log: a traditional line type, or the
/// Yubico layout's seven fields ending in an ISO time and an empty field.
fn looks_like_yubico_log(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take(20)
        .any(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let traditional = f.len() >= 12
                && matches!(
                    f.first().copied(),
                    Some("OATH-HOTP" | "Yubico OTP" | "Static Password" | "Challenge-Response")
                );
            let yubico = f.len() == 7
                && f.first()
                    .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                && f.get(5)
                    .is_some_and(|t| t.len() >= 19 && t.as_bytes().get(10) == Some(&b'T'))
                && f.get(6).is_some_and(|x| x.is_empty());
            traditional || yubico
        })
}

/// Duo CSV: every line `serial,hex[,number]`, no header.
fn looks_like_duo_csv(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(20)
        .peekable();
    lines.peek().is_some()
        && lines.all(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            (2..=3).contains(&f.len())
                && f.get(1).is_some_and(|s| {
                    s.len() >= 20 && s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit())
                })
                && f.get(2)
                    .is_none_or(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_content() {
        let csv = b"\xef\xbb\xbfUPN,Serial Number,Secret Key,TimeInterval,Manufacturer,Model\r\n";
        assert_eq!(detect(csv).unwrap(), Format::EntraCsv);
        let safeid = b"serial number,secret key,time interval,manufacturer,model\r\n\
            71358472,08E49538328BAE830E0DB14A82341100BC23B840,60,Deepnet Security,SafeID/Classic\r\n";
        assert_eq!(detect(safeid).unwrap(), Format::SafeIdCsv);
        // Deepnet's own Entra sample: Base32, so Entra's.
        let entra = b"serial number,secret key,time interval,manufacturer,model\n\
            10001001,234567ABCDEFGHIJKLMNOPQRSTUVWXYZ,60,Deepnet Security,SafeID/Classic\n";
        assert_eq!(detect(entra).unwrap(), Format::EntraCsv);
        assert_eq!(
            detect(b"serial number,secret key,time interval\n").unwrap(),
            Format::EntraCsv
        );
        assert_eq!(
            detect(b"  {\"@context\":\"#$delta\",\"value\":[]}").unwrap(),
            Format::EntraJson
        );
        assert_eq!(
            detect(b"[{\"serialNumber\":\"1\"}]").unwrap(),
            Format::EntraJson
        );
        assert_eq!(detect(b"{\n  \"value\": []\n}").unwrap(), Format::EntraJson);
        let jsonl = b"{\"serial\":\"1\",\"type\":\"totp\",\"secret_encoding\":\"hex\"}\n{";
        assert_eq!(detect(jsonl).unwrap(), Format::Jsonl);
    }

    #[test]
    fn clear_refusals() {
        let msg = |b: &[u8]| detect(b).unwrap_err().to_string();
        assert_eq!(msg(b""), "the file is empty");
        assert_eq!(msg(b" \n\t"), "the file is empty");
        assert!(msg(b"PK\x03\x04rest").contains("oathvault open"));
        assert!(msg(b"-----BEGIN PGP MESSAGE-----").contains("OpenPGP"));
        assert!(msg(b"\x7fELF\x02\x01\x00\x00").contains("binary"));
        assert!(msg(b"\xff\xfe\xfd text").contains("binary"));
        assert!(msg(b"<?xml version=\"1.0\"?><other/>").contains("neither PSKC"));
        assert_eq!(
            detect(b"<?xml version=\"1.0\"?>\n<pskc:KeyContainer Version=\"1.0\"").unwrap(),
            Format::Pskc
        );
        assert!(msg(b"a,b,c\n1,2,3\n").contains("--from"));
    }
}
