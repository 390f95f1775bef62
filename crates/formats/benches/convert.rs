//! Entra CSV → Entra JSON in memory: the reader, the writer, and both.
//!
//! Run: `cargo bench -p oathvault-formats --bench convert`
#![allow(
    missing_docs, // criterion_main! writes an undocumented `main`
    clippy::unwrap_used,
    reason = "bench setup: a failure is a broken bench"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oathvault_formats::{
    ConvertOptions, DEFAULT_CHUNK, Format, WriteOptions, convert, reader, writer,
};
use oathvault_testkit::synth;

const N: usize = 10_000;
// 10k tokens are ~0.8 MB of CSV: four chunks for the parallel path.

fn bench(c: &mut Criterion) {
    let tokens = synth::entra_tokens(N, 42);
    let mut csv = Vec::new();
    {
        let mut w = writer(Format::EntraCsv, &mut csv, &WriteOptions::default()).unwrap();
        for t in &tokens {
            w.write(t).unwrap();
        }
        w.finish().unwrap();
    }
    let mut g = c.benchmark_group("entra");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("csv_read_10k", |b| {
        b.iter(|| {
            reader(Format::EntraCsv, csv.as_slice(), None).fold(0usize, |n, t| {
                black_box(t.unwrap());
                n + 1
            })
        });
    });
    g.bench_function("json_write_10k", |b| {
        let mut out = Vec::with_capacity(4 << 20);
        b.iter(|| {
            out.clear();
            let mut w = writer(Format::EntraJson, &mut out, &WriteOptions::default()).unwrap();
            for t in &tokens {
                w.write(t).unwrap();
            }
            black_box(w.finish().unwrap())
        });
    });
    g.bench_function("csv_to_json_10k", |b| {
        let mut out = Vec::with_capacity(4 << 20);
        b.iter(|| {
            out.clear();
            let mut w = writer(Format::EntraJson, &mut out, &WriteOptions::default()).unwrap();
            for t in reader(Format::EntraCsv, csv.as_slice(), None) {
                w.write(&t.unwrap()).unwrap();
            }
            black_box(w.finish().unwrap())
        });
    });
    for threads in [1usize, 2] {
        let opts = ConvertOptions {
            from: Format::EntraCsv,
            to: Format::EntraJson,
            write: WriteOptions::default(),
            read: oathvault_formats::ReadOptions::default(),
            file: None,
            threads,
            shown: 20,
            stop_after: 10_000,
            chunk_size: DEFAULT_CHUNK,
            size_hint: Some(csv.len() as u64),
        };
        g.bench_function(format!("convert_10k_threads{threads}"), |b| {
            let mut out = Vec::with_capacity(4 << 20);
            b.iter(|| {
                out.clear();
                let c = convert(csv.as_slice(), &mut out, &opts).unwrap();
                assert!(c.ok());
                black_box(c.summary)
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
