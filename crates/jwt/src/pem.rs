//! Finding one block in PEM text that may hold several (Azure's combined
//! PEM puts the certificate and the private key in one file; `openssl
//! pkcs12` adds "Bag Attributes" lines between blocks).

/// The first block labelled `label`, from its `-----BEGIN label-----` line
/// through its `-----END label-----` line, or `None`.
pub(crate) fn find_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let here = offset;
        offset += line.len();
        if line.trim_end() != begin {
            continue;
        }
        let rest = text.get(offset..)?;
        let mut stop = offset;
        for inner in rest.split_inclusive('\n') {
            stop += inner.len();
            let inner = inner.trim_end();
            if inner == end {
                return text.get(here..stop);
            }
            if inner.starts_with("-----") {
                return None;
            }
        }
        return None;
    }
    None
}

/// True when some line of `text` begins a block labelled `label`.
pub(crate) fn has_block(text: &str, label: &str) -> bool {
    let begin = format!("-----BEGIN {label}-----");
    text.lines().any(|line| line.trim_end() == begin)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMBINED: &str = "Bag Attributes\n    localKeyID: 01\n\
        -----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n\
        Bag Attributes\n\
        -----BEGIN PRIVATE KEY-----\r\nREVG\r\n-----END PRIVATE KEY-----\r\n";

    #[test]
    fn finds_each_block_of_a_combined_file() {
        assert_eq!(
            find_block(COMBINED, "CERTIFICATE"),
            Some("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n")
        );
        assert_eq!(
            find_block(COMBINED, "PRIVATE KEY"),
            Some("-----BEGIN PRIVATE KEY-----\r\nREVG\r\n-----END PRIVATE KEY-----\r\n")
        );
        assert_eq!(find_block(COMBINED, "RSA PRIVATE KEY"), None);
        assert!(has_block(COMBINED, "PRIVATE KEY"));
        assert!(!has_block(COMBINED, "ENCRYPTED PRIVATE KEY"));
    }

    #[test]
    fn last_block_without_a_newline() {
        let text = "-----BEGIN X-----\nQQ==\n-----END X-----";
        assert_eq!(find_block(text, "X"), Some(text));
    }

    #[test]
    fn unterminated_or_interleaved_blocks_are_not_found() {
        assert_eq!(find_block("-----BEGIN X-----\nQQ==\n", "X"), None);
        let interleaved = "-----BEGIN X-----\nQQ==\n-----BEGIN Y-----\n-----END X-----\n";
        assert_eq!(find_block(interleaved, "X"), None);
        assert_eq!(find_block("", "X"), None);
        // A label that only starts like the wanted one is another label.
        assert_eq!(
            find_block("-----BEGIN XY-----\n-----END XY-----\n", "X"),
            None
        );
    }
}
