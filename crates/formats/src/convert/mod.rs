//! Whole-file conversion, all or nothing, as fast as the machine allows.
//!
//! Every token is read, checked against the target's limits and for
//! duplicate serials, and encoded; if anything is wrong the caller gets every
//! problem (up to a cap) and must discard the output. Line-based inputs (Entra
//! CSV, jsonl) are cut into chunks at record boundaries and converted on all
//! cores; the items are reassembled in file order, so the output is
//! byte-for-byte what the sequential path writes. Memory stays bounded by the
//! chunks in flight, whatever the file size.

mod assembler;
mod chunker;
mod options;
mod parallel;
mod sequential;
mod shared_serials;

use std::io::{Read, Write};

pub use options::{Conversion, ConvertOptions, DEFAULT_CHUNK};

use crate::error::Error;
use crate::write::encoder;
use crate::{Format, reader_into};

/// Converts `input` to `out`. Returns `Err` only for failures of the output
/// itself (I/O); problems in the input are in the [`Conversion`]. When
/// `Conversion::ok` is false the bytes written to `out` must be discarded.
pub fn convert<R: Read + Send>(
    input: R,
    out: &mut dyn Write,
    opts: &ConvertOptions,
) -> Result<Conversion, Error> {
    let chunkable = matches!(opts.from, Format::EntraCsv | Format::Jsonl);
    let framed = encoder(opts.to, &opts.write).is_some();
    if chunkable && framed && opts.threads > 1 {
        return parallel::parallel(input, out, opts);
    }
    let input = std::io::BufReader::with_capacity(DEFAULT_CHUNK, input);
    let mut read = opts.read.clone();
    read.threads = opts.threads;
    let source = reader_into(opts.from, input, opts.file.clone(), &read);
    if framed && opts.threads > 1 {
        sequential::read_ahead(source, out, opts)
    } else if framed {
        sequential::sequential(source, out, opts)
    } else {
        sequential::through_writer(source, out, opts)
    }
}
