//! What a conversion is asked to do ([`ConvertOptions`]) and what it
//! reports ([`Conversion`]).

use std::sync::Arc;

use crate::emit::WriteSummary;
use crate::{Format, ReadOptions, WriteOptions};

/// Bytes per chunk handed to a worker.
pub const DEFAULT_CHUNK: usize = 256 << 10;

/// How to convert.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Input format.
    pub from: Format,
    /// Output format.
    pub to: Format,
    /// Writer settings.
    pub write: WriteOptions,
    /// Reader settings (keys for protected inputs).
    pub read: ReadOptions,
    /// Input name for messages.
    pub file: Option<Arc<str>>,
    /// Worker threads (1: sequential).
    pub threads: usize,
    /// Problems kept for the report; the rest are only counted.
    pub shown: usize,
    /// Reading stops after this many problems.
    pub stop_after: usize,
    /// Input size in bytes, when known: memory for duplicate detection is
    /// reserved up front instead of grown.
    pub size_hint: Option<u64>,
    /// Bytes per chunk for the parallel path ([`DEFAULT_CHUNK`] normally;
    /// small values make tests cross many chunk boundaries).
    pub chunk_size: usize,
}

/// What a conversion found and wrote.
#[derive(Debug, Default)]
pub struct Conversion {
    /// Tokens written (zero when there were problems: the output is void).
    pub summary: WriteSummary,
    /// The first problems, in file order.
    pub problems: Vec<String>,
    /// All problems counted.
    pub problem_count: usize,
    /// Reading stopped early because of too many problems.
    pub stopped: bool,
}

impl Conversion {
    /// Whether the output may be kept: no problem and at least one token.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.problem_count == 0 && self.summary.tokens > 0
    }

    /// Counts a problem, keeping it if fewer than `shown` are kept.
    pub(super) fn problem(&mut self, p: String, shown: usize) {
        self.problem_count += 1;
        if self.problems.len() < shown {
            self.problems.push(p);
        }
    }
}
