//! A streaming splitter for the one JSON shape seed files use: an array of
//! objects, bare or under a top-level key (Graph's `{"value": [...]}`).
//!
//! It hands out one object's bytes at a time, so memory stays at one token
//! however long the file is. It checks structure (strings, escapes, nesting,
//! commas) but leaves the object's content to `serde_json`.

use std::io::BufRead;

use crate::error::{Error, ErrorKind};

/// Yields the raw bytes of each object of the token array.
pub(crate) struct ObjectStream<R: BufRead> {
    input: R,
    line: u64,
    state: State,
    /// The array sits under a key of a top-level object.
    envelope: bool,
    /// Bytes of the current object (reused).
    pub(crate) object: Vec<u8>,
    /// Line the current object starts on.
    pub(crate) object_line: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// Inside the token array, before the first element.
    ArrayFirst,
    /// Inside the token array, after an element.
    ArrayNext,
    /// The array ended inside an envelope object; more keys may follow.
    EnvelopeRest,
    Done,
}

fn syntax(msg: impl Into<String>, line: u64) -> Error {
    Error::new(ErrorKind::Syntax(msg.into())).line(line)
}

impl<R: BufRead> ObjectStream<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            line: 1,
            state: State::Start,
            envelope: false,
            object: Vec::new(),
            object_line: 1,
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, Error> {
        Ok(self.input.fill_buf()?.first().copied())
    }

    fn bump(&mut self) -> Result<Option<u8>, Error> {
        let b = self.peek()?;
        if let Some(c) = b {
            self.input.consume(1);
            if c == b'\n' {
                self.line += 1;
            }
        }
        Ok(b)
    }

    fn skip_ws(&mut self) -> Result<Option<u8>, Error> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump()?;
                }
                other => return Ok(other),
            }
        }
    }

    fn expect(&mut self, want: u8, what: &str) -> Result<(), Error> {
        match self.skip_ws()? {
            Some(c) if c == want => {
                self.bump()?;
                Ok(())
            }
            Some(_) => Err(syntax(format!("expected {what}"), self.line)),
            None => Err(syntax(
                format!("unexpected end of file, expected {what}"),
                self.line,
            )),
        }
    }

    /// Copies (when `keep`) or skips one string, the opening quote already read.
    fn string(&mut self, keep: bool) -> Result<(), Error> {
        loop {
            let Some(c) = self.bump()? else {
                return Err(syntax("unterminated string", self.line));
            };
            if keep {
                self.object.push(c);
            }
            match c {
                b'"' => return Ok(()),
                b'\\' => {
                    let Some(e) = self.bump()? else {
                        return Err(syntax("unterminated string", self.line));
                    };
                    if keep {
                        self.object.push(e);
                    }
                }
                b'\n' => return Err(syntax("line break inside a string", self.line - 1)),
                _ => {}
            }
        }
    }

    /// Reads a key string into a small buffer (keys are short, never secrets).
    fn key(&mut self) -> Result<Vec<u8>, Error> {
        let mut key = Vec::new();
        loop {
            match self.bump()? {
                None => return Err(syntax("unterminated string", self.line)),
                Some(b'"') => return Ok(key),
                Some(b'\\') => {
                    if let Some(e) = self.bump()? {
                        key.push(e);
                    }
                }
                Some(c) => key.push(c),
            }
        }
    }

    /// Copies or skips one complete value (object, array, string, literal).
    fn value(&mut self, keep: bool) -> Result<(), Error> {
        let Some(first) = self.skip_ws()? else {
            return Err(syntax(
                "unexpected end of file, expected a value",
                self.line,
            ));
        };
        let mut depth = 0usize;
        loop {
            let Some(c) = self.bump()? else {
                return Err(syntax("unexpected end of file inside a value", self.line));
            };
            if keep {
                self.object.push(c);
            }
            match c {
                b'"' => self.string(keep)?,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| syntax("unbalanced brackets", self.line))?;
                }
                _ => {}
            }
            if depth == 0 {
                // A scalar ends before a delimiter; a container at its closer.
                let scalar = !matches!(first, b'{' | b'[' | b'"');
                if !scalar
                    || !matches!(
                        self.peek()?,
                        Some(b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'+' | b'E')
                    )
                {
                    return Ok(());
                }
            }
        }
    }

    /// Finds the token array: `[` at the top, or the `value` key of an object.
    fn open(&mut self) -> Result<(), Error> {
        match self.skip_ws()? {
            Some(b'[') => {
                self.bump()?;
                self.state = State::ArrayFirst;
                Ok(())
            }
            Some(b'{') => {
                self.bump()?;
                self.envelope = true;
                self.envelope_keys(true, true)
            }
            Some(_) => Err(syntax(
                "expected `[` or `{` at the start of the JSON",
                self.line,
            )),
            None => Err(Error::new(ErrorKind::Empty)),
        }
    }

    /// Walks the envelope's keys until `value` (when `seek`) or the end.
    /// `first`: no key read yet in this object, so no comma is expected.
    fn envelope_keys(&mut self, seek: bool, mut first: bool) -> Result<(), Error> {
        loop {
            match self.skip_ws()? {
                Some(b'}') => {
                    self.bump()?;
                    if seek {
                        return Err(syntax(
                            "the JSON object has no `value` array of tokens",
                            self.line,
                        ));
                    }
                    self.state = State::Done;
                    return self.trailing();
                }
                Some(b',') if !first => {
                    self.bump()?;
                }
                Some(b'"') if first => {}
                Some(_) => return Err(syntax("expected `,` or `}` between keys", self.line)),
                None => {
                    return Err(syntax(
                        "unexpected end of file in the JSON object",
                        self.line,
                    ));
                }
            }
            first = false;
            self.expect(b'"', "a key")?;
            let key = self.key()?;
            self.expect(b':', "`:` after a key")?;
            if key == b"value" {
                if !seek {
                    return Err(syntax("the key `value` appears twice", self.line));
                }
                self.expect(b'[', "an array under `value`")?;
                self.state = State::ArrayFirst;
                return Ok(());
            }
            self.value(false)?;
        }
    }

    fn trailing(&mut self) -> Result<(), Error> {
        match self.skip_ws()? {
            None => Ok(()),
            Some(_) => Err(syntax(
                "unexpected content after the end of the JSON",
                self.line,
            )),
        }
    }

    /// The next object, or `None` at the end of the array.
    pub(crate) fn next_object(&mut self) -> Result<bool, Error> {
        loop {
            match self.state {
                State::Start => self.open()?,
                State::ArrayFirst | State::ArrayNext => {
                    let c = self.skip_ws()?;
                    match (self.state, c) {
                        (_, Some(b']')) => {
                            self.bump()?;
                            self.state = State::EnvelopeRest;
                            continue;
                        }
                        (State::ArrayNext, Some(b',')) => {
                            self.bump()?;
                            self.skip_ws()?;
                        }
                        (State::ArrayNext, Some(_)) => {
                            return Err(syntax("expected `,` or `]` after a token", self.line));
                        }
                        (_, None) => {
                            return Err(syntax(
                                "unexpected end of file inside the token array",
                                self.line,
                            ));
                        }
                        _ => {}
                    }
                    match self.peek()? {
                        Some(b'{') => {}
                        Some(_) => {
                            return Err(syntax(
                                "expected a token object `{…}` in the array",
                                self.line,
                            ));
                        }
                        None => {
                            return Err(syntax(
                                "unexpected end of file inside the token array",
                                self.line,
                            ));
                        }
                    }
                    self.object.clear();
                    self.object_line = self.line;
                    self.value(true)?;
                    self.state = State::ArrayNext;
                    return Ok(true);
                }
                State::EnvelopeRest => {
                    self.state = State::Done;
                    if self.envelope {
                        self.envelope_keys(false, false)?;
                    } else {
                        self.trailing()?;
                    }
                    return Ok(false);
                }
                State::Done => return Ok(false),
            }
        }
    }
}
