//! CSV files whose first record names the columns, read row by row: lists
//! that are not seed files, such as the command line's `serial,upn[,code]`
//! files. Quoting follows RFC 4180 as the seed-file readers read it (quoted
//! commas, doubled quotes, line breaks inside quotes; blank lines skipped).
//!
//! A column is found by name whatever its place, case, spaces or
//! underscores (`Serial Number`, `serial_number` and `serialnumber` are one
//! column); values are trimmed. Every error names the file, the line and,
//! where there is one, the column. Row values are wiped when dropped (a
//! column may hold a one-time code).
//!
//! ```
//! use oathvault_formats::named_csv::Reader;
//!
//! let csv = "Serial Number,UPN\n10001001, alice@example.com\n10001002,\n";
//! let mut rows = Reader::new(csv.as_bytes(), Some("map.csv".into()))?;
//! let first = rows.next().transpose()?.ok_or("no row")?;
//! assert_eq!(first.need("serial number")?, "10001001");
//! assert_eq!(first.get("upn"), Some("alice@example.com"));
//! let second = rows.next().transpose()?.ok_or("no row")?;
//! assert_eq!(
//!     second.need("upn").map_err(|e| e.to_string()),
//!     Err("map.csv: line 3: field `upn`: is missing or empty".into())
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::BufRead;
use std::sync::Arc;

use zeroize::Zeroize;

use crate::csv_record::{RecordReader, Records};
use crate::error::{Error, ErrorKind, Location};

/// The key a column is found by: lower case, without a byte-order mark,
/// spaces or underscores.
fn key(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Reads the rows of a CSV file with a header, one at a time.
pub struct Reader<R: BufRead> {
    records: RecordReader<R>,
    file: Option<Arc<str>>,
    /// The header's column keys.
    columns: Arc<[String]>,
    done: bool,
}

impl<R: BufRead> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("file", &self.file)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads the header of `input`; `file` names the input in errors. A
    /// file without a record is [`ErrorKind::Empty`].
    pub fn new(input: R, file: Option<Arc<str>>) -> Result<Self, Error> {
        let mut records = RecordReader::new(input);
        if !records.read().map_err(|e| e.in_file(file.as_ref()))? {
            return Err(Error::new(ErrorKind::Empty).in_file(file.as_ref()));
        }
        let columns = (0..records.len())
            .map(|i| key(records.get(i).unwrap_or_default()))
            .collect();
        Ok(Self {
            records,
            file,
            columns,
            done: false,
        })
    }

    /// Whether the header has `column` (compared as [`Row::get`] does).
    #[must_use]
    pub fn has_column(&self, column: &str) -> bool {
        let want = key(column);
        self.columns.contains(&want)
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Row, Error>;

    /// The next row; a row with more or fewer fields than the header is an
    /// error naming its line, and reading goes on after it.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.records.read() {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                // A bad line is reported and reading goes on; a failing input ends it.
                self.done = matches!(e.kind, ErrorKind::Io(_));
                return Some(Err(e.in_file(self.file.as_ref())));
            }
        }
        let line = self.records.line();
        let fields = self.records.len();
        if fields != self.columns.len() {
            let message = format!("{fields} fields, the header has {}", self.columns.len());
            let e = Error::new(ErrorKind::Syntax(message)).line(line);
            return Some(Err(e.in_file(self.file.as_ref())));
        }
        let values = (0..fields)
            .map(|i| self.records.get(i).unwrap_or_default().trim().to_owned())
            .collect();
        Some(Ok(Row {
            file: self.file.clone(),
            line,
            columns: Arc::clone(&self.columns),
            values,
        }))
    }
}

/// One row: its values by column name, and where it is. Values are wiped
/// on drop and not shown by `Debug`.
pub struct Row {
    file: Option<Arc<str>>,
    line: u64,
    columns: Arc<[String]>,
    values: Vec<String>,
}

impl Row {
    /// The 1-based line the row starts on.
    #[must_use]
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The file and line, for messages about the row (`map.csv: line 3`).
    #[must_use]
    pub fn location(&self) -> Location {
        Location {
            file: self.file.clone(),
            line: Some(self.line),
            ..Location::default()
        }
    }

    /// The trimmed value of `column`, or `None` when the header has no such
    /// column or the value is empty. Names compare without case, spaces or
    /// underscores.
    #[must_use]
    pub fn get(&self, column: &str) -> Option<&str> {
        let want = key(column);
        self.columns
            .iter()
            .zip(&self.values)
            .find(|(c, _)| **c == want)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value of a column the row must have.
    pub fn need(&self, column: &'static str) -> Result<&str, Error> {
        self.get(column).ok_or_else(|| self.missing(column))
    }

    /// The error of a missing or empty `column` on this row (for a value
    /// found under one of several names).
    #[must_use]
    pub fn missing(&self, column: &'static str) -> Error {
        Error::new(ErrorKind::Missing)
            .field(column)
            .line(self.line)
            .in_file(self.file.as_ref())
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field("file", &self.file)
            .field("line", &self.line)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl Drop for Row {
    fn drop(&mut self) {
        self.values.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_by_name_quotes_and_errors_with_file_and_line() {
        let csv =
            "\u{feff}Serial_Number,UPN,code\n\n\"1,2\", bob@example.com ,\"007\"\nonly,two\n3,,\n";
        let mut rows = Reader::new(csv.as_bytes(), Some("m.csv".into())).unwrap();
        assert!(rows.has_column("serial number") && !rows.has_column("user"));
        let row = rows.next().unwrap().unwrap();
        assert_eq!(
            (
                row.line(),
                row.get("serialnumber"),
                row.get("upn"),
                row.get("Code")
            ),
            (3, Some("1,2"), Some("bob@example.com"), Some("007"))
        );
        assert_eq!(row.location().to_string(), "m.csv: line 3");
        let e = rows.next().unwrap().unwrap_err();
        assert_eq!(e.to_string(), "m.csv: line 4: 2 fields, the header has 3");
        let row = rows.next().unwrap().unwrap();
        assert_eq!(
            row.need("upn").unwrap_err().to_string(),
            "m.csv: line 5: field `upn`: is missing or empty"
        );
        assert!(rows.next().is_none());
        let e = Reader::new(&b"\n\n"[..], Some("e.csv".into())).unwrap_err();
        assert_eq!(e.to_string(), "e.csv: the file is empty");
    }
}
