//! D-channel HDLC throughput, in bytes of line bitstream per second.
//!
//! The corpus is random frames of `MIN_FRAME..=MAX_FRAME` octets back to back (one flag
//! between frames), the load the simulator puts on the codec. Targets: 300 MB/s each way
//! on one core (`cargo bench --bench hdlc`).
//!
//! Two groups run the same benchmarks: `hdlc` on criterion's wall clock, and `hdlc-cpu` on
//! the bench thread's own CPU time (Linux `/proc/thread-self/schedstat`), because the build
//! machine's cores are shared and wall time then measures the neighbours as much as us.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use dialgate::line::hdlc::{Decoder, Encoder};

#[path = "common/hdlc_corpus.rs"]
mod hdlc_corpus;
use hdlc_corpus::{corpus, encode, line};

/// CPU time the calling thread has run, in nanoseconds (scheduler accounting: exact at
/// context switches, otherwise updated every tick, so use long samples).
struct ThreadCpuTime;

fn thread_cpu_nanos() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn bench_wall(c: &mut Criterion) {
    bench_hdlc(c, "hdlc");
}

fn bench_cpu(c: &mut Criterion<ThreadCpuTime>) {
    bench_hdlc(c, "hdlc-cpu");
}

fn bench_hdlc<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let frames = corpus(1 << 20);
    let line = line(&frames);

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::BytesDecimal(line.len() as u64));

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
    // One encoder for all iterations, as on a line: it is idle again after each corpus.
    let mut encoder = Encoder::new();
    group.bench_function("encode", |b| {
        b.iter(|| {
            let n = encode(&mut encoder, black_box(&frames), &mut out);
            assert!(encoder.is_idle());
            n
        })
    });
    // A yardstick from outside this crate: the `crc` crate's slice-by-16 FCS over the same
    // bytes. On a loaded machine the ratio to it says more than the absolute figures.
    let x25 = crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_IBM_SDLC);
    group.bench_function("fcs-yardstick", |b| {
        b.iter(|| x25.checksum(black_box(&line)))
    });
    group.finish();
}

criterion_group!(wall, bench_wall);
criterion_group! {
    name = cpu;
    config = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .sample_size(20)
        .measurement_time(std::time::Duration::from_secs(8));
    targets = bench_cpu
}
criterion_main!(wall, cpu);
