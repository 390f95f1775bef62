//! Header-based CSV files oathvault defines for targets without a published
//! seed-file format (Salesforce, Okta): columns found by name in any case
//! and order, values trimmed, errors naming line and column.

use std::io::BufRead;
use std::sync::Arc;

use oathvault_token::Token;

use crate::csv_record::{RecordReader, Records};
use crate::error::{Error, ErrorKind};

/// One row, with its columns found by name.
pub(crate) struct Row<'a, R: BufRead> {
    records: &'a RecordReader<R>,
    columns: &'a [(String, usize)],
}

impl<R: BufRead> Row<'_, R> {
    /// The trimmed value of a column, `None` when absent or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let idx = self
            .columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| *i)?;
        self.records
            .get(idx)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// A required value.
    pub(crate) fn need(&self, name: &'static str) -> Result<&str, Error> {
        self.get(name)
            .ok_or_else(|| Error::new(ErrorKind::Missing).field(name))
    }
}

/// Turns one row into a token.
pub(crate) type Build<R> = fn(&Row<'_, R>) -> Result<Token, Error>;

/// A streaming reader of a header-based CSV.
pub(crate) struct Reader<R: BufRead> {
    records: RecordReader<R>,
    file: Option<Arc<str>>,
    /// Column names as the format knows them (lower case), the first of
    /// each group being the canonical name; aliases follow.
    known: &'static [&'static [&'static str]],
    required: &'static [&'static str],
    columns: Option<Vec<(String, usize)>>,
    build: Build<R>,
    rows: u64,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    pub(crate) fn new(
        input: R,
        file: Option<Arc<str>>,
        known: &'static [&'static [&'static str]],
        required: &'static [&'static str],
        build: Build<R>,
    ) -> Self {
        Self {
            records: RecordReader::new(input),
            file,
            known,
            required,
            columns: None,
            build,
            rows: 0,
            done: false,
        }
    }

    fn header(&mut self) -> Result<(), Error> {
        let mut columns = Vec::new();
        let mut seen = Vec::new();
        for i in 0..self.records.len() {
            let name = self
                .records
                .get(i)
                .unwrap_or("")
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase();
            seen.push(name.clone());
            if let Some(group) = self.known.iter().find(|g| g.contains(&name.as_str()))
                && let Some(canonical) = group.first()
            {
                columns.push(((*canonical).to_owned(), i));
            }
        }
        for need in self.required {
            if !columns.iter().any(|(n, _)| n == need) {
                return Err(Error::new(ErrorKind::MissingColumn {
                    column: need,
                    found: seen.join(", "),
                })
                .line(1));
            }
        }
        self.columns = Some(columns);
        Ok(())
    }

    fn next_token(&mut self) -> Option<Result<Token, Error>> {
        while !self.done {
            match self.records.read() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return match (&self.columns, self.rows) {
                        (None, _) => Some(Err(Error::new(ErrorKind::Empty))),
                        (Some(_), 0) => Some(Err(Error::new(ErrorKind::HeaderOnly))),
                        _ => None,
                    };
                }
                Err(e) => {
                    self.done = matches!(e.kind, ErrorKind::Io(_));
                    return Some(Err(e));
                }
            }
            let Some(columns) = &self.columns else {
                if let Err(e) = self.header() {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            };
            self.rows += 1;
            let line = self.records.line();
            let row = Row {
                records: &self.records,
                columns,
            };
            return Some((self.build)(&row).map_err(|e| e.line(line)));
        }
        None
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Token, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_token()
            .map(|r| r.map_err(|e| e.in_file(self.file.as_ref())))
    }
}
