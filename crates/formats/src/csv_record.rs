//! A small RFC 4180 record reader, tuned for seed files: a line without a
//! quote (nearly every line) is split on commas in one pass; quoted fields,
//! doubled quotes and line breaks inside quotes take the careful path.
//!
//! Leniency matches common readers: a quote inside an unquoted field is
//! kept as text, text after a closing quote is appended, blank lines are
//! skipped, CRLF or LF ends a record. Buffers are reused and wiped on drop.

use std::io::BufRead;

use oathvault_token::Token;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};

/// A source of CSV records (a stream, or text already in memory).
pub(crate) trait Records {
    /// Reads the next record; `false` at the end.
    fn read(&mut self) -> Result<bool, Error>;
    /// The line the current record starts on (1-based).
    fn line(&self) -> u64;
    /// Number of fields in the current record.
    fn len(&self) -> usize;
    /// Field `i` of the current record.
    fn get(&self, i: usize) -> Option<&str>;
    /// Whether the current record is all ASCII.
    fn is_ascii(&self) -> bool;
}

/// A reader that makes at most one token of each record (OATH CSV, `YubiKey`
/// logs): [`next_record_token`] runs its loop.
pub(crate) trait PerRecord {
    /// The input.
    type Input: BufRead;
    /// The record source.
    fn records(&mut self) -> &mut RecordReader<Self::Input>;
    /// The token on the current record, `Ok(None)` for a comment or a
    /// skipped line.
    fn token(&mut self) -> Result<Option<Token>, Error>;
    /// `(done, tokens)`: whether reading ended, and tokens made so far.
    fn progress(&mut self) -> (&mut bool, &mut u64);
    /// Whether no line was skipped (an empty result is then "no tokens").
    fn nothing_skipped(&self) -> bool;
}

/// Reads records until one makes a token, the input ends or fails.
pub(crate) fn next_record_token<T: PerRecord>(r: &mut T) -> Option<Result<Token, Error>> {
    loop {
        if *r.progress().0 {
            return None;
        }
        match r.records().read() {
            Ok(true) => {}
            Ok(false) => {
                let nothing = r.nothing_skipped();
                let (done, tokens) = r.progress();
                *done = true;
                return (*tokens == 0 && nothing).then(|| Err(Error::new(ErrorKind::NoTokens)));
            }
            Err(e) => {
                // A bad line is reported and reading goes on; a failing input ends it.
                if matches!(e.kind, ErrorKind::Io(_)) {
                    *r.progress().0 = true;
                }
                return Some(Err(e));
            }
        }
        match r.token() {
            Ok(Some(t)) => {
                *r.progress().1 += 1;
                return Some(Ok(t));
            }
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
    }
}

/// Where each field of the current record lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Slices of the record's own text (no quotes in the record).
    Text,
    /// Slices of the unescaped copy.
    Unescaped,
}

/// Reads one record at a time.
pub(crate) struct RecordReader<R> {
    input: R,
    /// The record's bytes while read, then (once checked) its text; one
    /// buffer moving between the two, never dropped unwiped.
    raw: Zeroizing<Vec<u8>>,
    text: Zeroizing<String>,
    /// The same for the unescaped copy of a quoted record.
    unescaped_raw: Zeroizing<Vec<u8>>,
    unescaped: Zeroizing<String>,
    fields: Vec<(usize, usize)>,
    source: Source,
    /// The current record is all ASCII (fields need no Unicode handling).
    ascii: bool,
    /// Lines consumed so far, and the line the current record starts on.
    lines: u64,
    start: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Parses one complete record out of `raw` into `out` (unescaped text) and
/// `fields`; `false` when `raw` ends inside a quoted field (read more).
fn parse(raw: &[u8], out: &mut Vec<u8>, fields: &mut Vec<(usize, usize)>) -> bool {
    out.clear();
    fields.clear();
    let mut state = State::FieldStart;
    let mut start = 0usize;
    let mut iter = raw.iter().copied().peekable();
    while let Some(b) = iter.next() {
        let ends_line = b == b'\n' || (b == b'\r' && matches!(iter.peek(), Some(b'\n') | None));
        match state {
            State::Quoted => {
                if b == b'"' {
                    state = State::QuoteInQuoted;
                } else {
                    out.push(b);
                }
            }
            State::FieldStart | State::Unquoted | State::QuoteInQuoted => {
                if ends_line {
                    if b == b'\r' {
                        iter.next();
                    }
                    break;
                }
                match (state, b) {
                    (_, b',') => {
                        fields.push((start, out.len()));
                        start = out.len();
                        state = State::FieldStart;
                    }
                    (State::FieldStart, b'"') => state = State::Quoted,
                    (State::QuoteInQuoted, b'"') => {
                        out.push(b'"');
                        state = State::Quoted;
                    }
                    _ => {
                        out.push(b);
                        state = State::Unquoted;
                    }
                }
            }
        }
    }
    if state == State::Quoted {
        return false;
    }
    fields.push((start, out.len()));
    true
}

impl<R: BufRead> Records for RecordReader<R> {
    fn read(&mut self) -> Result<bool, Error> {
        RecordReader::read(self)
    }
    fn line(&self) -> u64 {
        self.start
    }
    fn len(&self) -> usize {
        self.fields.len()
    }
    fn get(&self, i: usize) -> Option<&str> {
        let &(a, b) = self.fields.get(i)?;
        match self.source {
            Source::Text => self.text.get(a..b),
            Source::Unescaped => self.unescaped.get(a..b),
        }
    }
    fn is_ascii(&self) -> bool {
        self.ascii
    }
}

impl<R: BufRead> RecordReader<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            raw: Zeroizing::new(Vec::with_capacity(256)),
            text: Zeroizing::new(String::new()),
            unescaped_raw: Zeroizing::new(Vec::new()),
            unescaped: Zeroizing::new(String::new()),
            fields: Vec::with_capacity(8),
            source: Source::Text,
            ascii: true,
            lines: 0,
            start: 0,
        }
    }

    /// Reads the next record; `false` at the end of the input.
    fn read(&mut self) -> Result<bool, Error> {
        reclaim(&mut self.raw, &mut self.text);
        self.fields.clear();
        // Skip blank lines; read one physical line.
        loop {
            self.raw.clear();
            if self.input.read_until(b'\n', &mut self.raw)? == 0 {
                return Ok(false);
            }
            self.lines += 1;
            if !self.raw.iter().all(|&b| b == b'\r' || b == b'\n') {
                break;
            }
        }
        self.start = self.lines;
        self.ascii = self.raw.is_ascii();
        let quoted = crate::scan::contains(&self.raw, b'"');
        if quoted {
            self.read_quoted()?;
        } else {
            let end = self
                .raw
                .strip_suffix(b"\n")
                .map_or(self.raw.len(), <[u8]>::len);
            let end = self
                .raw
                .get(..end)
                .and_then(|r| r.strip_suffix(b"\r"))
                .map_or(end, <[u8]>::len);
            crate::scan::split_commas(self.raw.get(..end).unwrap_or_default(), 0, &mut self.fields);
            self.source = Source::Text;
        }
        self.check_utf8()?;
        Ok(true)
    }

    /// The careful path: quoted fields, possibly over several lines.
    fn read_quoted(&mut self) -> Result<(), Error> {
        reclaim(&mut self.unescaped_raw, &mut self.unescaped);
        while !parse(&self.raw, &mut self.unescaped_raw, &mut self.fields) {
            if self.input.read_until(b'\n', &mut self.raw)? == 0 {
                self.fields.clear();
                return Err(Error::new(ErrorKind::Syntax(
                    "a quoted field is not closed before the end of the file".into(),
                ))
                .line(self.start));
            }
            self.lines += 1;
        }
        self.source = Source::Unescaped;
        if settle(&mut self.unescaped_raw, &mut self.unescaped) {
            Ok(())
        } else {
            self.fields.clear();
            Err(Error::new(ErrorKind::Syntax("is not valid UTF-8".into())).line(self.start))
        }
    }

    /// Turns the record's bytes into text, or reports the line.
    fn check_utf8(&mut self) -> Result<(), Error> {
        if settle(&mut self.raw, &mut self.text) {
            Ok(())
        } else {
            self.fields.clear();
            Err(Error::new(ErrorKind::Syntax("is not valid UTF-8".into())).line(self.start))
        }
    }
}

/// Moves the buffer from `text` back to `bytes` (if it is there) and clears it.
fn reclaim(bytes: &mut Zeroizing<Vec<u8>>, text: &mut Zeroizing<String>) {
    if bytes.capacity() == 0 {
        // `bytes` holds an empty, unallocated vector: nothing to wipe.
        **bytes = std::mem::take(&mut **text).into_bytes();
    }
    bytes.clear();
}

/// Moves the buffer from `bytes` to `text` if it is UTF-8; otherwise leaves
/// it in `bytes` and says so.
fn settle(bytes: &mut Zeroizing<Vec<u8>>, text: &mut Zeroizing<String>) -> bool {
    match String::from_utf8(std::mem::take(&mut **bytes)) {
        Ok(s) => {
            // `text` was emptied by `reclaim`: nothing to wipe.
            **text = s;
            true
        }
        Err(e) => {
            **bytes = e.into_bytes();
            false
        }
    }
}

/// Records of text already in memory and already checked as UTF-8 (a chunk
/// of a file): fields are slices of the text, nothing is copied unless a
/// record has quotes.
pub(crate) struct TextRecords<'a> {
    text: &'a str,
    pos: usize,
    fields: Vec<(usize, usize)>,
    source: Source,
    unescaped_raw: Zeroizing<Vec<u8>>,
    unescaped: Zeroizing<String>,
    ascii: bool,
    lines: u64,
    start: u64,
}

impl<'a> TextRecords<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            fields: Vec::with_capacity(8),
            source: Source::Text,
            unescaped_raw: Zeroizing::new(Vec::new()),
            unescaped: Zeroizing::new(String::new()),
            ascii: true,
            lines: 0,
            start: 0,
        }
    }

    /// The next physical line from `pos` (with its line break), if any.
    fn next_line(&mut self) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        let rest = bytes.get(self.pos..).filter(|r| !r.is_empty())?;
        let start = self.pos;
        let end = memchr::memchr(b'\n', rest).map_or(bytes.len(), |i| start + i + 1);
        self.pos = end;
        self.lines += 1;
        Some((start, end))
    }
}

impl Records for TextRecords<'_> {
    fn read(&mut self) -> Result<bool, Error> {
        self.fields.clear();
        let bytes = self.text.as_bytes();
        let (start, mut end) = loop {
            let Some((s, e)) = self.next_line() else {
                return Ok(false);
            };
            if !bytes
                .get(s..e)
                .unwrap_or_default()
                .iter()
                .all(|&b| b == b'\r' || b == b'\n')
            {
                break (s, e);
            }
        };
        self.start = self.lines;
        let line = bytes.get(start..end).unwrap_or_default();
        self.ascii = line.is_ascii();
        if !crate::scan::contains(line, b'"') {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            crate::scan::split_commas(body, start, &mut self.fields);
            self.source = Source::Text;
            return Ok(true);
        }
        reclaim(&mut self.unescaped_raw, &mut self.unescaped);
        while !parse(
            bytes.get(start..end).unwrap_or_default(),
            &mut self.unescaped_raw,
            &mut self.fields,
        ) {
            let Some((_, e)) = self.next_line() else {
                self.fields.clear();
                return Err(Error::new(ErrorKind::Syntax(
                    "a quoted field is not closed before the end of the file".into(),
                ))
                .line(self.start));
            };
            end = e;
        }
        self.ascii = bytes.get(start..end).unwrap_or_default().is_ascii();
        self.source = Source::Unescaped;
        if settle(&mut self.unescaped_raw, &mut self.unescaped) {
            Ok(true)
        } else {
            self.fields.clear();
            Err(Error::new(ErrorKind::Syntax("is not valid UTF-8".into())).line(self.start))
        }
    }

    fn line(&self) -> u64 {
        self.start
    }

    fn len(&self) -> usize {
        self.fields.len()
    }

    fn get(&self, i: usize) -> Option<&str> {
        let &(a, b) = self.fields.get(i)?;
        match self.source {
            Source::Text => self.text.get(a..b),
            Source::Unescaped => self.unescaped.get(a..b),
        }
    }

    fn is_ascii(&self) -> bool {
        self.ascii
    }
}

/// The quoting state after byte `b`, as the reader sees it.
fn next_state(state: State, b: u8) -> State {
    match (state, b) {
        (State::Quoted, b'"') => State::QuoteInQuoted,
        (State::Quoted, _) | (State::FieldStart | State::QuoteInQuoted, b'"') => State::Quoted,
        (_, b'\n' | b',') => State::FieldStart,
        _ => State::Unquoted,
    }
}

/// Finds the end of the last complete record in `buf` (just past its line
/// break), following the same quoting rules as the reader.
pub(crate) fn last_record_end(buf: &[u8]) -> Option<usize> {
    // The common case: no quote at all, so the last line break ends a record.
    if !crate::scan::contains(buf, b'"') {
        return buf.iter().rposition(|&b| b == b'\n').map(|p| p + 1);
    }
    let mut state = State::FieldStart;
    let mut last = None;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' && state != State::Quoted {
            last = Some(i + 1);
        }
        state = next_state(state, b);
    }
    last
}

/// Counts the line breaks and the records in `buf` as the reader sees them
/// (lines holding only line-break characters are skipped; quoted line
/// breaks stay inside their record), in one pass.
pub(crate) fn count_lines_and_records(buf: &[u8]) -> (u64, u64) {
    let mut lines = 0u64;
    let mut records = 0u64;
    if !crate::scan::contains(buf, b'"') {
        // A line has content unless it holds only `\r`s.
        let mut start = 0usize;
        for nl in memchr::memchr_iter(b'\n', buf) {
            lines += 1;
            // `any` stops at the first byte of a normal line.
            let line = buf.get(start..nl).unwrap_or_default();
            records += u64::from(line.iter().any(|&b| b != b'\r'));
            start = nl + 1;
        }
        let tail = buf.get(start..).unwrap_or_default();
        records += u64::from(tail.iter().any(|&b| b != b'\r'));
        return (lines, records);
    }
    let mut state = State::FieldStart;
    let mut content = false;
    for &b in buf {
        if b == b'\n' {
            lines += 1;
            if state != State::Quoted {
                records += u64::from(content);
                content = false;
            }
        } else if b != b'\r' {
            content = true;
        }
        state = next_state(state, b);
    }
    (lines, records + u64::from(content))
}

/// Finds the end of the first record (the header), or `None` if `buf` holds
/// no complete record.
pub(crate) fn first_record_end(buf: &[u8]) -> Option<usize> {
    let mut state = State::FieldStart;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' && state != State::Quoted {
            return Some(i + 1);
        }
        state = next_state(state, b);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &str) -> Vec<(u64, Vec<String>)> {
        let mut r = RecordReader::new(input.as_bytes());
        let mut out = Vec::new();
        while r.read().unwrap() {
            out.push((
                r.line(),
                (0..r.len()).map(|i| r.get(i).unwrap().to_owned()).collect(),
            ));
        }
        out
    }

    #[test]
    fn plain_quoted_and_multiline() {
        let got = records(
            "a,b,c\r\n\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\nlast,,\n5\" tall,\"q\"tail,z",
        );
        assert_eq!(
            got,
            [
                (1, vec!["a".into(), "b".into(), "c".into()]),
                (
                    3,
                    vec!["x,1".into(), "say \"hi\"".into(), "two\nlines".into()]
                ),
                (5, vec!["last".into(), String::new(), String::new()]),
                (6, vec!["5\" tall".into(), "qtail".into(), "z".into()]),
            ]
        );
    }

    #[test]
    fn unclosed_quote_and_bad_utf8() {
        let mut r = RecordReader::new(&b"ok\n\"never closed\nmore\n"[..]);
        assert!(r.read().unwrap());
        let e = r.read().unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: a quoted field is not closed before the end of the file"
        );
        let mut r = RecordReader::new(&b"a,\xff\n"[..]);
        assert_eq!(
            r.read().unwrap_err().to_string(),
            "line 1: is not valid UTF-8"
        );
    }

    #[test]
    fn record_ends_follow_quotes() {
        let b = b"a,b\n\"x\ny\",z\nc,d";
        assert_eq!(last_record_end(b), Some(12));
        assert_eq!(last_record_end(b"\"open\nstill"), None);
        assert_eq!(last_record_end(b"1\n2\n3"), Some(4));
        assert_eq!(last_record_end(b"5\" tall,x\nnext"), Some(10));
        assert_eq!(first_record_end(b"\"h\n1\",h2\nrow\n"), Some(9));
        assert_eq!(count_lines_and_records(b"a\r\n\r\n\nb\nc"), (4, 3));
        assert_eq!(count_lines_and_records(b"\"x\n\ny\",1\n\r\nz\n"), (5, 2));
        assert_eq!(count_lines_and_records(b""), (0, 0));
        assert_eq!(count_lines_and_records(b"\r\r\nx\n\r"), (2, 1));
    }
}
