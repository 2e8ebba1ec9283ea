//! ISDN benchmarks. Target: Q.931 SETUP decode >= 2 million/s on one core
//! (<= 500 ns for a realistic PRI SETUP).
//!
//! Run with `cargo bench --bench isdn`. A call-rate benchmark (SETUP to CONNECT
//! through the call states) will join the `q931` group once the states exist.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dialgate::isdn::q931::{Message, Setup};

/// A PRI SETUP as a NI-2 switch sends it: speech/mu-law, B-channel 5 exclusive,
/// PI 3, display "John Doe" (B1 prefix), calling 2125551000 (allowed,
/// network-provided), called 2125552000.
const SETUP: &[u8] = &[
    0x08, 0x02, 0x00, 0x01, 0x05, // header, CRV 1
    0x04, 0x03, 0x80, 0x90, 0xA2, // bearer capability
    0x18, 0x03, 0xA9, 0x83, 0x85, // channel identification
    0x1E, 0x02, 0x81, 0x83, // progress indicator
    0x28, 0x09, 0xB1, b'J', b'o', b'h', b'n', b' ', b'D', b'o', b'e', // display
    0x6C, 0x0C, 0x21, 0x83, b'2', b'1', b'2', b'5', b'5', b'5', b'1', b'0', b'0',
    b'0', // calling
    0x70, 0x0B, 0xA1, b'2', b'1', b'2', b'5', b'5', b'5', b'2', b'0', b'0', b'0', // called
];

fn q931(c: &mut Criterion) {
    let mut group = c.benchmark_group("q931");
    group.throughput(Throughput::Elements(1));
    group.bench_function("setup_decode", |b| {
        b.iter(|| Message::decode(black_box(SETUP)))
    });
    group.bench_function("setup_decode_typed", |b| {
        b.iter(|| Message::decode(black_box(SETUP)).and_then(|m| Setup::from_message(&m)))
    });
    let message = Message::decode(SETUP).expect("benchmark SETUP decodes");
    group.bench_function("setup_encode", |b| b.iter(|| black_box(&message).encode()));
    group.finish();
}

criterion_group!(benches, q931);
criterion_main!(benches);
