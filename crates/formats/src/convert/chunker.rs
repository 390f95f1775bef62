//! Cutting a line-based input (Entra CSV, jsonl) into chunks at record
//! boundaries, each with the lines and records before it, so workers can
//! name lines and number items.

use std::io::Read;

use zeroize::Zeroizing;

use crate::entra_csv::Columns;
use crate::error::Error;

/// A piece of the input that starts and ends at record boundaries.
pub(super) struct Chunk {
    /// Place in the input, from 0.
    pub(super) seq: u64,
    /// The chunk's bytes (wiped when dropped).
    pub(super) bytes: Zeroizing<Vec<u8>>,
    /// Lines of the input before the chunk.
    pub(super) lines_before: u64,
    /// Records of the input before the chunk.
    pub(super) records_before: u64,
}

fn count_lines(b: &[u8]) -> u64 {
    crate::scan::count(b, b'\n')
}

/// Cuts the input into chunks; stops when told or at the end. The CSV
/// header, if any, is parsed first and handed back.
///
/// Input is read into one buffer that is initialised once and reused; a
/// chunk is copied out of it, and the unfinished tail moved to its front.
pub(super) struct Chunker<R> {
    input: R,
    size: usize,
    csv: bool,
    buf: Zeroizing<Vec<u8>>,
    /// Bytes of `buf` holding input.
    valid: usize,
    lines: u64,
    records: u64,
    seq: u64,
}

impl<R: Read> Chunker<R> {
    pub(super) fn new(input: R, size: usize, csv: bool) -> Self {
        Self {
            input,
            size,
            csv,
            buf: Zeroizing::new(Vec::new()),
            valid: 0,
            lines: 0,
            records: 0,
            seq: 0,
        }
    }

    fn data(&self) -> &[u8] {
        self.buf.get(..self.valid).unwrap_or_default()
    }

    /// Reads until `want` bytes are held or the input ends; false at the end.
    fn fill(&mut self, want: usize) -> Result<bool, Error> {
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.valid < want {
            let Some(room) = self.buf.get_mut(self.valid..want) else {
                break;
            };
            match self.input.read(room) {
                Ok(0) => return Ok(false),
                Ok(n) => self.valid += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// Drops the first `n` bytes held.
    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.valid, 0);
        self.valid -= n;
    }

    /// The CSV header's columns (CSV input), read before any chunk.
    pub(super) fn header(&mut self) -> Result<Option<Columns>, Error> {
        if !self.csv {
            return Ok(None);
        }
        let mut want = self.size;
        let end = loop {
            let more = self.fill(want)?;
            if let Some(end) = crate::csv_record::first_record_end(self.data()) {
                break end;
            }
            if !more {
                break self.valid;
            }
            want = self.valid + self.size;
        };
        let end = if self.data().starts_with(b"\xef\xbb\xbf") {
            self.consume(3);
            end - 3
        } else {
            end
        };
        let header = self.data().get(..end).unwrap_or_default();
        let columns = Columns::parse(header)?;
        self.lines = count_lines(header);
        self.consume(end);
        Ok(Some(columns))
    }

    /// The next chunk; `None` at the end of the input.
    pub(super) fn next(&mut self) -> Result<Option<Chunk>, Error> {
        let mut want = self.size;
        loop {
            let more = self.fill(want)?;
            let cut = if !more {
                if self.valid == 0 {
                    return Ok(None);
                }
                Some(self.valid)
            } else if self.csv {
                crate::csv_record::last_record_end(self.data())
            } else {
                memchr::memrchr(b'\n', self.data()).map(|p| p + 1)
            };
            if let Some(cut) = cut {
                let bytes = Zeroizing::new(self.data().get(..cut).unwrap_or_default().to_vec());
                self.consume(cut);
                return Ok(Some(self.chunk(bytes)));
            }
            // One record longer than a chunk: read on.
            want = self.valid + self.size;
        }
    }

    fn chunk(&mut self, bytes: Zeroizing<Vec<u8>>) -> Chunk {
        let chunk = Chunk {
            seq: self.seq,
            lines_before: self.lines,
            records_before: self.records,
            bytes,
        };
        let (lines, records) = if self.csv {
            crate::csv_record::count_lines_and_records(&chunk.bytes)
        } else {
            // jsonl skips lines that are blank or only whitespace.
            let records = chunk
                .bytes
                .split(|&b| b == b'\n')
                .map(|l| u64::from(!l.trim_ascii().is_empty()))
                .sum();
            (count_lines(&chunk.bytes), records)
        };
        self.lines += lines;
        self.records += records;
        self.seq += 1;
        chunk
    }
}
