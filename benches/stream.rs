//! Stream-path benchmarks: the user-space work one bridged call costs per call-second,
//! without sockets, threads or the engine's timers.
//!
//! * `stream/call_second/quiet` and `stream/call_second/tone`: one sans-IO [`Stream`]
//!   (PCMU both sides, 20 ms, `rtp-nte` with telephone-event, so the DTMF detector and
//!   the 45 ms delay line run) fed one call-second on a virtual clock: 50 RTP packets
//!   through `handle_rtp`, 50 × 160 line octets through `handle_line` and `fill_line`,
//!   `handle_timeout` when `poll_timeout` says so, and every datagram and event taken
//!   out, in the order the engine's visit does them. `quiet` carries the octet the
//!   media bench carries (0xE5, under the detector's energy gate), `tone` a 1 kHz tone
//!   at -10 dBm0 each way (the detector's filters run on every hop).
//! * `ring/pair/N`: one push of N octets into a 1024-octet ring and one pop of N, on
//!   one thread (N = 40: the span's 5 ms chunk; 160: the engine's 20 ms packet; 37: a
//!   count that leaves the positions unaligned).
//! * `ring/call_second`: both of a leg's rings for one call-second as the bench's span
//!   and the engine use them: 200 pushes of 40 and 50 pops of 160 one way, 50 pushes of
//!   160 and 200 pops of 40 the other.
//!
//! Run: `cargo bench --bench stream`. Instruction counts, steadier than wall time on a
//! shared machine: `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect='*call_second*' target/release/deps/stream-<hash> --bench
//! --profile-time 2 stream/call_second/tone`, then `callgrind_annotate` for the
//! instructions, divided by the calls of `call_second` it reports.

#![expect(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "a benchmark is an I/O shell: it reads the clock once for the virtual one and panics on setup errors"
)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dialgate::line::Law;
use dialgate::media::tone::{ToneGenerator, ToneSpec};
use dialgate::media::{DtmfRelay, Remote, Stream, StreamConfig, g711, rtp};

/// The ring is crate-private (only the engine's `LineEnd` uses it): the bench compiles
/// the same source file into itself rather than widening the crate's API for a bench.
#[allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    reason = "only part of the ring is benchmarked; its tests are not run here"
)]
#[path = "../src/media/ring.rs"]
mod ring;

use ring::Ring;

const PACKETS: usize = 50;
const PACKET: usize = 160;

/// One call: the stream, its virtual clock and the far end's packet template.
struct Call {
    stream: Stream,
    now: Instant,
    far: SocketAddr,
    /// One PCMU datagram; sequence and timestamp are patched in per packet.
    datagram: Vec<u8>,
    sequence: u16,
    timestamp: u32,
    line: Vec<u8>,
    out: [u8; PACKET],
}

impl Call {
    fn new(line: Vec<u8>, payload: &[u8]) -> Self {
        let now = Instant::now();
        let config = StreamConfig {
            line_law: Law::MuLaw,
            jitter_max_ms: 200,
            ssrc: 0x1111_1111,
            initial_sequence: 1,
            initial_timestamp: 0x1000,
            ntp_at_start: 0xE000_0000_0000_0000,
            seed: 7,
            rtp_timeout: Duration::from_secs(30),
        };
        let far: SocketAddr = "198.51.100.7:30000".parse().unwrap();
        let mut stream = Stream::new(now, config);
        stream.set_remote(
            now,
            Remote {
                addr: far,
                law: Law::MuLaw,
                payload_type: rtp::PT_PCMU,
                ptime_ms: 20,
                telephone_event: Some(101),
                dtmf_relay: DtmfRelay::RtpNte,
                symmetric: false,
                rtcp: None,
            },
        );
        let mut datagram = vec![0u8; rtp::MAX_DATAGRAM];
        let header = rtp::Header {
            marker: false,
            payload_type: rtp::PT_PCMU,
            sequence: 0,
            timestamp: 0,
            ssrc: 0x2222_2222,
        };
        let len = rtp::encode(header, payload, &mut datagram).unwrap();
        datagram.truncate(len);
        Self {
            stream,
            now,
            far,
            datagram,
            sequence: 100,
            timestamp: 50_000,
            line,
            out: [0; PACKET],
        }
    }

    /// One call-second (50 packet-times), as the engine's visits run it.
    #[inline(never)]
    fn call_second(&mut self) {
        for k in 0..PACKETS {
            self.datagram[2..4].copy_from_slice(&self.sequence.to_be_bytes());
            self.datagram[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
            self.sequence = self.sequence.wrapping_add(1);
            self.timestamp = self.timestamp.wrapping_add(PACKET as u32);
            self.stream.handle_rtp(self.now, self.far, &self.datagram);
            let line = &self.line[k * PACKET..(k + 1) * PACKET];
            self.stream.handle_line(self.now, line);
            self.stream.fill_line(self.now, &mut self.out);
            black_box(&self.out);
            if self.stream.poll_timeout().is_some_and(|t| t <= self.now) {
                self.stream.handle_timeout(self.now);
            }
            while let Some(t) = self.stream.poll_transmit() {
                black_box(t.payload());
            }
            while let Some(e) = self.stream.poll_event() {
                black_box(e);
            }
            self.now += Duration::from_millis(20);
        }
    }
}

/// A call-second of `spec` in mu-law.
fn mu_law(spec: ToneSpec) -> Vec<u8> {
    let mut linear = vec![0i16; PACKETS * PACKET];
    ToneGenerator::new(spec).fill(&mut linear);
    let mut octets = vec![0u8; linear.len()];
    g711::encode_into(Law::MuLaw, &linear, &mut octets);
    octets
}

fn stream(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream/call_second");
    let quiet = vec![0xE5u8; PACKETS * PACKET];
    let tone = mu_law(ToneSpec::single(1000.0, -10.0));
    for (name, line) in [("quiet", quiet), ("tone", tone)] {
        let mut call = Call::new(line.clone(), &line[..PACKET]);
        // Past the first packets' start-up (playout start, the delay line filling).
        call.call_second();
        g.bench_function(name, |b| b.iter(|| call.call_second()));
    }
    g.finish();
}

#[inline(never)]
fn ring_pair(r: &Ring, data: &[u8], out: &mut [u8]) {
    let n = r.push(data);
    let m = r.pop(&mut out[..n]);
    black_box((n, m));
}

#[inline(never)]
fn ring_call_second(from_line: &Ring, to_line: &Ring, chunk: &mut [u8; 40], packet: &mut [u8]) {
    for _ in 0..PACKETS {
        for _ in 0..4 {
            from_line.push_waiting(chunk);
        }
        let n = from_line.pop(packet);
        to_line.push(&packet[..n]);
        for _ in 0..4 {
            to_line.pop(chunk);
        }
    }
    black_box((chunk, packet));
}

fn rings(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    for n in [40usize, 160, 37] {
        let r = Ring::new(1024);
        let data: Vec<u8> = (0..n as u8).collect();
        let mut out = vec![0u8; n];
        g.bench_with_input(BenchmarkId::new("pair", n), &n, |b, _| {
            b.iter(|| ring_pair(&r, black_box(&data), &mut out))
        });
    }
    let (from_line, to_line) = (Ring::new(1024), Ring::new(1024));
    to_line.push(&[0xFF; 320]);
    let mut chunk = [0xE5u8; 40];
    let mut packet = vec![0u8; 1024];
    g.bench_function("call_second", |b| {
        b.iter(|| ring_call_second(&from_line, &to_line, &mut chunk, &mut packet))
    });
    g.finish();
}

criterion_group!(benches, stream, rings);
criterion_main!(benches);
