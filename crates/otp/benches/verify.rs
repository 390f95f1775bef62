#![allow(
    missing_docs, // criterion_main! writes an undocumented `main`
    clippy::unwrap_used,
    reason = "bench setup: a failure is a broken bench"
)]
//! TOTP verification throughput, beside the raw HMAC-SHA-1 rate that bounds it.
//!
//! A ±1 step window with a wrong code is the worst case: three HMACs, no early
//! exit. The raw rate (one pre-keyed HMAC-SHA-1 over an 8-byte counter) is the
//! ceiling; the report's ratio is `verify rate × 3 / raw HMAC rate`.
//!
//! Run: `cargo bench -p oathvault-otp --bench verify`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use oathvault_otp::{Otp, Window};
use oathvault_token::{Digits, Hash, Kind, Step};
use sha1::Sha1;

const KEY: &[u8] = b"12345678901234567890";

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("otp");
    g.throughput(Throughput::Elements(1));

    let keyed = <Hmac<Sha1> as KeyInit>::new_from_slice(KEY).unwrap();
    let mut counter = 0u64;
    g.bench_function("raw_hmac_sha1_prekeyed", |b| {
        b.iter(|| {
            counter = counter.wrapping_add(1);
            let mut m = keyed.clone();
            m.update(&black_box(counter).to_be_bytes());
            black_box(m.finalize().into_bytes())
        });
    });

    let otp = Otp::from_parts(
        KEY,
        Hash::Sha1,
        Kind::Totp {
            step: Step::S30,
            t0: 0,
        },
        Digits::SIX,
    )
    .unwrap();
    // One code: our pre-keyed HMAC-SHA-1 (two compressions) plus truncation.
    let mut c2 = 0u64;
    g.bench_function("code_at_counter_sha1", |b| {
        b.iter(|| {
            c2 = c2.wrapping_add(1);
            black_box(otp.at_counter(black_box(c2)))
        });
    });

    let mut at = 1_111_111_109u64;
    // "000000" is almost never the code (p = 3e-6 per check): the full window is scanned.
    g.bench_function("totp_verify_window1_wrong_code", |b| {
        b.iter(|| {
            at = at.wrapping_add(30);
            black_box(
                otp.verify_totp(black_box("000000"), at, Window::symmetric(1))
                    .unwrap(),
            )
        });
    });
    let mut at2 = 1_111_111_109u64;
    g.bench_function("totp_verify_window1_right_code", |b| {
        b.iter(|| {
            at2 = at2.wrapping_add(30);
            let code = otp.totp(at2).unwrap().to_string();
            black_box(otp.verify_totp(&code, at2, Window::symmetric(1)).unwrap())
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
