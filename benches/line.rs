//! Line framer throughput, in bytes of line bitstream per second.
//!
//! Receive benches feed three seconds of line (24000 frames) to a receiver that has
//! already locked on the same stream, in 4 KiB chunks as a driver would hand them over,
//! so they measure the in-frame path: alignment tracking, CRC check and timeslot demux.
//! The target is >= 1 GB/s for T1 ESF and E1 CRC-4. The span bench adds HDLC and the
//! B-channel demux on top.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dialgate::line::{Framing, SpanConfig, T1Framing, e1, span::Span, t1};

const FRAMES: u64 = 24_000;
const LOCK_FRAMES: u64 = 24 * 8;
const CHUNK: usize = 4096;

fn payload(rng: &mut fastrand::Rng, out: &mut [u8]) {
    for b in out {
        *b = rng.u8(..);
    }
}

/// (lock prefix, measured rest) of a T1 stream.
fn t1_stream(format: T1Framing) -> (Vec<u8>, Vec<u8>) {
    let mut rng = fastrand::Rng::with_seed(1);
    let mut tx = t1::Transmitter::new(format);
    let mut out = Vec::new();
    let mut ts = [0u8; 24];
    for _ in 0..LOCK_FRAMES + FRAMES {
        payload(&mut rng, &mut ts);
        tx.push_frame(&ts, &mut out);
    }
    // LOCK_FRAMES is a multiple of 8, so the split is on a byte boundary.
    let split = (LOCK_FRAMES * 193 / 8) as usize;
    let rest = out.split_off(split);
    (out, rest)
}

fn e1_stream(crc4: bool) -> (Vec<u8>, Vec<u8>) {
    let mut rng = fastrand::Rng::with_seed(2);
    let mut tx = e1::Transmitter::new(crc4);
    let mut out = Vec::new();
    let mut ts = [0u8; 32];
    for _ in 0..LOCK_FRAMES + FRAMES {
        payload(&mut rng, &mut ts);
        tx.push_frame(&ts, &mut out);
    }
    let rest = out.split_off((LOCK_FRAMES * 32) as usize);
    (out, rest)
}

fn t1_receive(c: &mut Criterion, name: &str, format: T1Framing) {
    let (lock, rest) = t1_stream(format);
    let mut g = c.benchmark_group("line");
    g.throughput(Throughput::Bytes(rest.len() as u64));
    g.bench_function(name, |b| {
        b.iter_batched_ref(
            || {
                let mut rx = t1::Receiver::new(format);
                rx.handle_rx(&lock, |_| {});
                assert!(rx.is_aligned());
                rx
            },
            |rx| {
                let mut acc = 0u64;
                for chunk in rest.chunks(CHUNK) {
                    rx.handle_rx(chunk, |f| {
                        acc = acc
                            .wrapping_add(u64::from(f.timeslots[23]) ^ u64::from(f.timeslots[0]));
                    });
                }
                black_box(acc)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn e1_receive(c: &mut Criterion, name: &str, crc4: bool) {
    let (lock, rest) = e1_stream(crc4);
    let mut g = c.benchmark_group("line");
    g.throughput(Throughput::Bytes(rest.len() as u64));
    g.bench_function(name, |b| {
        b.iter_batched_ref(
            || {
                let mut rx = e1::Receiver::new(crc4);
                rx.handle_rx(&lock, |_| {});
                assert!(rx.is_aligned() && (!crc4 || rx.is_multiframe_aligned()));
                rx
            },
            |rx| {
                let mut acc = 0u64;
                for chunk in rest.chunks(CHUNK) {
                    rx.handle_rx(chunk, |f| {
                        acc = acc
                            .wrapping_add(u64::from(f.timeslots[16]) ^ u64::from(f.timeslots[1]));
                    });
                }
                black_box(acc)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn receive(c: &mut Criterion) {
    t1_receive(c, "t1_esf_receive", T1Framing::Esf);
    t1_receive(c, "t1_sf_receive", T1Framing::Sf);
    e1_receive(c, "e1_crc4_receive", true);
}

fn transmit(c: &mut Criterion) {
    let mut g = c.benchmark_group("line");
    g.throughput(Throughput::Bytes(FRAMES * 193 / 8));
    g.bench_function("t1_esf_transmit", |b| {
        let mut out = Vec::with_capacity((FRAMES * 193 / 8 + 8) as usize);
        let ts = [0x5Au8; 24];
        b.iter(|| {
            out.clear();
            let mut tx = t1::Transmitter::new(T1Framing::Esf);
            for _ in 0..FRAMES {
                tx.push_frame(black_box(&ts), &mut out);
            }
            black_box(out.len())
        })
    });
    g.throughput(Throughput::Bytes(FRAMES * 32));
    g.bench_function("e1_crc4_transmit", |b| {
        let mut out = Vec::with_capacity((FRAMES * 32) as usize);
        let ts = [0x5Au8; 32];
        b.iter(|| {
            out.clear();
            let mut tx = e1::Transmitter::new(true);
            for _ in 0..FRAMES {
                tx.push_frame(black_box(&ts), &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

/// The whole span on a T1 ESF stream: framer, D-channel HDLC, demux and the line-clocked
/// transmit of one frame per received frame.
fn span(c: &mut Criterion) {
    let (lock, rest) = t1_stream(T1Framing::Esf);
    let mut g = c.benchmark_group("line");
    g.throughput(Throughput::Bytes(rest.len() as u64));
    // Benches run outside the sans-IO rule: one reading of the clock for the epoch.
    #[expect(clippy::disallowed_methods, reason = "bench harness")]
    let t0 = Instant::now();
    g.bench_function("span_t1_esf_rx_and_line_clocked_tx", |b| {
        b.iter_batched_ref(
            || {
                let mut s = Span::new(SpanConfig::new(Framing::T1(T1Framing::Esf)), t0);
                s.handle_rx(t0, &lock);
                while s.poll_transmit().is_some() {}
                s
            },
            |s| {
                for chunk in rest.chunks(CHUNK) {
                    s.handle_rx(t0, chunk);
                    black_box(s.poll_transmit());
                    while s.poll_event().is_some() {}
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, receive, transmit, span);
criterion_main!(benches);
