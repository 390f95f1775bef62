//! Entra CSV → Entra JSON in memory: the reader, the writer, and both.
//!
//! Run: `cargo bench -p oathvault-formats --bench convert`
#![allow(
    clippy::unwrap_used,
    reason = "bench setup: a failure is a broken bench"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oathvault_formats::{Format, WriteOptions, reader, writer};
use oathvault_testkit::synth;

const N: usize = 10_000;

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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
