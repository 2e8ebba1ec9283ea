//! D-channel HDLC throughput, in bytes of line bitstream per second.
//!
//! The corpus is random frames of `MIN_FRAME..=MAX_FRAME` octets back to back (one flag
//! between frames), the load the simulator puts on the codec. Targets: 300 MB/s each way
//! on one core (`cargo bench --bench hdlc`).

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use dialgate::line::hdlc::{Decoder, Encoder, MAX_FRAME, MAX_QUEUED, MIN_FRAME};

/// Random frames totalling about `bytes` octets, from a fixed seed so runs compare.
fn corpus(bytes: usize) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(0x48444C43);
    let mut frames = Vec::new();
    let mut total = 0;
    while total < bytes {
        let len = rng.usize(MIN_FRAME..=MAX_FRAME);
        let frame: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        total += len;
        frames.push(frame);
    }
    frames
}

/// Pushes `frames` through `encoder` in batches the queue accepts; returns the line bytes.
fn encode(encoder: &mut Encoder, frames: &[Vec<u8>], out: &mut Vec<u8>) -> usize {
    let mut written = 0;
    for batch in frames.chunks(MAX_QUEUED) {
        for frame in batch {
            encoder.push_frame(frame);
        }
        let n = encoder.queued_bytes();
        if out.len() < written + n {
            out.resize(written + n, 0);
        }
        encoder.fill(&mut out[written..written + n]);
        written += n;
    }
    written
}

fn bench_hdlc(c: &mut Criterion) {
    let frames = corpus(1 << 20);
    let mut line = Vec::new();
    let mut encoder = Encoder::new();
    let len = encode(&mut encoder, &frames, &mut line);
    // One idle byte completes the last closing flag.
    line.truncate(len + 1);
    line.resize(len + 1, 0);
    encoder.fill(&mut line[len..]);

    let mut group = c.benchmark_group("hdlc");
    group.throughput(Throughput::Bytes(line.len() as u64));

    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new();
            let mut octets = 0;
            decoder.decode(black_box(&line), |f| octets += f.len());
            assert_eq!(decoder.counters().good as usize, frames.len());
            octets
        })
    });

    let mut out = Vec::with_capacity(line.len());
    group.bench_function("encode", |b| {
        b.iter(|| {
            let mut encoder = Encoder::new();
            let n = encode(&mut encoder, black_box(&frames), &mut out);
            assert_eq!(n, len);
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench_hdlc);
criterion_main!(benches);
