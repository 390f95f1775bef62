//! Reading CRLF-terminated lines with a length limit, so a client cannot
//! make the sink buffer more than the limit.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How a line read ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line; the buffer holds it without its line end.
    Complete,
    /// A line longer than the limit, read to its end and thrown away.
    TooLong,
    /// The connection ended (a partial last line is dropped).
    Eof,
}

/// Reads one line ending in LF (CRLF or a bare LF) into `buf`, at most
/// `max` bytes including the line end.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (available.get(..=end).unwrap_or(available), true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long && buf.len() + used <= max {
            buf.extend_from_slice(chunk);
        } else {
            too_long = true;
            buf.clear();
        }
        reader.consume(used);
        if done {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong);
    }
    buf.pop(); // the LF
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Line::Complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_end_at_lf_and_respect_the_limit() {
        let input: &[u8] = b"EHLO a\r\nbare\nxxxxxxxxxxxx\r\nok\r\npartial";
        let mut reader = tokio::io::BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        loop {
            let line = read_line(&mut reader, &mut buf, 10).await.unwrap();
            got.push((line, String::from_utf8(buf.clone()).unwrap()));
            if got.last().is_some_and(|(l, _)| *l == Line::Eof) {
                break;
            }
        }
        let want = [
            (Line::Complete, "EHLO a"),
            (Line::Complete, "bare"),
            (Line::TooLong, ""),
            (Line::Complete, "ok"),
        ];
        assert_eq!(got.len(), want.len() + 1);
        for ((line, text), (want_line, want_text)) in got.iter().zip(want) {
            assert_eq!((line, text.as_str()), (&want_line, want_text));
        }
    }
}
