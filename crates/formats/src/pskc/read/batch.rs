//! `KeyPackage`s read on several threads: the scanner gathers the next
//! packages of the document (up to [`MAX_PACKAGES`] or [`MAX_BYTES`]), each
//! thread parses and decrypts an equal share with its own copy of what the
//! container said (keys, MAC key, …), and the results are put back in file
//! order — tokens, problems, skips and counts are what one thread makes.
//!
//! Anything else (the container's `EncryptionKey`, `MACMethod`, a
//! signature, extensions) ends a batch and is read alone, in order, so a
//! package is always read with what came before it. Serials made up in
//! file order (`--serial-from sequence:`) keep one thread.

use std::io::BufRead;

use oathvault_token::Token;
use zeroize::Zeroizing;

use super::{Reader, State};
use crate::error::{Error, ErrorKind};
use crate::pskc::values::from_xml;
use crate::pskc::xml::{Ns, Outer, Tree};

/// Packages gathered before they are read (about 1 KiB each).
const MAX_PACKAGES: usize = 1024;
/// Bytes gathered before they are read.
const MAX_BYTES: usize = 2 << 20;
/// Below this many packages one thread reads them (a thread costs more).
const MIN_SHARED: usize = 16;

/// The reader's batches: the next one, gathered while the last was
/// parsed, and a buffer to reuse.
#[derive(Default)]
pub(super) struct Batches {
    ahead: Option<Batch>,
    spare: Batch,
}

/// Packages copied out of the reader's window (wiped when dropped).
#[derive(Default)]
pub(super) struct Batch {
    bytes: Zeroizing<Vec<u8>>,
    /// Start, end and first line of each package in `bytes`.
    spans: Vec<(usize, usize, u64)>,
}

/// What one thread made of its share of a batch.
struct Share {
    tokens: Vec<Result<Token, Error>>,
    skipped: Vec<String>,
    packages: u64,
    serials_made: u64,
    /// Not well-formed XML: the document ends here (nothing after it counts).
    failed: Option<Error>,
}

/// Whether the element starting at `src[0] == b'<'` is named `KeyPackage`
/// or `Device` (any prefix; its namespace is checked when it is parsed).
fn package_named(src: &[u8]) -> bool {
    let name_end = src
        .iter()
        .position(|&c| c.is_ascii_whitespace() || c == b'>' || c == b'/')
        .unwrap_or(src.len());
    let qname = src.get(1..name_end).unwrap_or_default();
    let local = qname
        .iter()
        .rposition(|&c| c == b':')
        .map_or(qname, |i| qname.get(i + 1..).unwrap_or_default());
    local == b"KeyPackage" || local == b"Device"
}

/// Reads one share: each package parsed and turned into tokens as the
/// single-threaded reader does.
fn read_share(bytes: &[u8], spans: &[(usize, usize, u64)], outer: &Outer, mut st: State) -> Share {
    let mut packages = 0;
    let mut failed = None;
    for &(start, end, line) in spans {
        let src = bytes.get(start..end).unwrap_or_default();
        let tree = match Tree::parse(src, line, outer) {
            Ok(t) => t,
            Err(e) => {
                failed = Some(from_xml(e));
                break;
            }
        };
        let node = tree.root();
        if node.ns().is_some_and(Ns::is_pskc) && matches!(node.name(), "KeyPackage" | "Device") {
            packages += 1;
            st.key_package(node);
        }
    }
    Share {
        tokens: std::mem::take(&mut st.pending),
        skipped: st.skipped.list().to_vec(),
        packages,
        serials_made: st.serials.made(),
        failed,
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads the `KeyPackage`s that come next on `self.threads` threads,
    /// leaving their tokens in `pending` (last first). `false`: the next
    /// child is not a package, the document ends, or the scanner found a
    /// problem — the single-threaded path takes it from there.
    pub(super) fn read_batch(&mut self) -> bool {
        let batch = if let Some(b) = self.batch.ahead.take() {
            b
        } else {
            let spare = std::mem::take(&mut self.batch.spare);
            self.gather(spare)
        };
        if batch.spans.is_empty() {
            self.batch.spare = batch;
            return false;
        }
        // The root's declarations, for the threads (this one scans on).
        let outer = self.elements.bindings().clone();
        let threads = if batch.spans.len() < MIN_SHARED {
            1
        } else {
            self.threads.max(1)
        };
        // This thread takes one part and each other thread two: it also
        // scans the next batch while they parse.
        let unit = batch.spans.len().div_ceil(2 * threads - 1).max(1);
        let (mine, theirs) = batch.spans.split_at(unit.min(batch.spans.len()));
        let shares: Vec<Share> = std::thread::scope(|scope| {
            let handles: Vec<_> = if threads > 1 {
                theirs
                    .chunks(2 * unit)
                    .map(|part| {
                        let st = self.st.worker();
                        let (bytes, outer) = (&batch.bytes, &outer);
                        scope.spawn(move || read_share(bytes, part, outer, st))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            if threads > 1 {
                let spare = std::mem::take(&mut self.batch.spare);
                self.batch.ahead = Some(self.gather(spare));
            }
            let all_mine = if threads > 1 {
                mine
            } else {
                batch.spans.as_slice()
            };
            let mut shares = vec![read_share(&batch.bytes, all_mine, &outer, self.st.worker())];
            for h in handles {
                shares.push(h.join().unwrap_or_else(|_| Share {
                    tokens: Vec::new(),
                    skipped: Vec::new(),
                    packages: 0,
                    serials_made: 0,
                    failed: Some(Error::new(ErrorKind::Syntax(
                        "a reading thread stopped unexpectedly".into(),
                    ))),
                }));
            }
            shares
        });
        // Wiped and kept for a next batch.
        let mut batch = batch;
        zeroize::Zeroize::zeroize(&mut *batch.bytes);
        batch.spans.clear();
        self.batch.spare = batch;
        let mut tokens = Vec::new();
        for share in shares {
            tokens.extend(share.tokens);
            for s in share.skipped {
                self.st.skipped.push(s);
            }
            self.packages += share.packages;
            self.st.serials.absorb(share.serials_made);
            if let Some(e) = share.failed {
                tokens.push(Err(e));
                self.done = true;
                break;
            }
        }
        tokens.reverse();
        self.st.pending = tokens;
        true
    }

    /// Copies the `KeyPackage`s that come next into `batch` (emptied
    /// first), up to a batch's size or the next child that is not one.
    fn gather(&mut self, mut batch: Batch) -> Batch {
        batch.spans.clear();
        zeroize::Zeroize::zeroize(&mut *batch.bytes);
        while batch.spans.len() < MAX_PACKAGES && batch.bytes.len() < MAX_BYTES {
            let Ok(Some(span)) = self.elements.peek_child() else {
                break;
            };
            if !package_named(self.elements.span(span)) {
                break;
            }
            let (src, line) = self.elements.take(span);
            let start = batch.bytes.len();
            batch.bytes.extend_from_slice(src);
            batch.spans.push((start, batch.bytes.len(), line));
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::package_named;

    #[test]
    fn packages_are_known_by_local_name() {
        assert!(package_named(b"<KeyPackage>"));
        assert!(package_named(b"<pskc:KeyPackage xmlns:pskc=\"x\">"));
        assert!(package_named(b"<Device/>"));
        assert!(package_named(b"<KeyPackage\n>"));
        assert!(!package_named(b"<KeyPackages>"));
        assert!(!package_named(b"<pskc:MACMethod>"));
        assert!(!package_named(b"<ds:Signature>"));
    }
}
