//! Media engine benchmark: N concurrent bridged calls over loopback, both directions,
//! 20 ms packets.
//!
//! - The gateway: one `media::Engine` (tokio, 2 worker threads) with N legs, each an RTP
//!   and an RTCP socket.
//! - The span: one thread standing in for the stack thread, which every 5 ms pushes 40
//!   line octets into every leg's `LineEnd` and pulls 40 back (the line is the clock).
//! - The far end (the SIP phones): one socket and two threads, one sending a 20 ms PCMU
//!   packet to every leg each 20 ms, one receiving everything the gateway sends and
//!   timing it.
//!
//! Reports: process CPU (user + system, from `/proc/self/stat`, so it includes the span
//! and far-end threads: an upper bound on the gateway's share) per call; p50/p99/max of
//! the send jitter, |inter-arrival − 20 ms| per leg as seen by the far end; packets
//! delivered each way; and bytes per call computed from struct sizes and buffer
//! capacities (`Leg::footprint`).
//!
//! `cargo bench --bench media`; `DIALGATE_MEDIA_BENCH_CALLS` (default 5000) and
//! `DIALGATE_MEDIA_BENCH_SECS` (default 10) size the run.

#![expect(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "a benchmark is an I/O shell: it reads the clock, waits and panics on setup errors"
)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dialgate::line::Law;
use dialgate::media::{Config, DtmfRelay, Engine, LineEnd, Remote, rtp};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" of the command name start at field 3 (state); utime and
    // stime are fields 14 and 15, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    (field(11) + field(12)) as f64 / 100.0
}

fn span_thread(ends: Vec<LineEnd>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut chunks = 0u64;
        let mut short = 0u64;
        let line = [0xE5u8; 40];
        let mut out = [0u8; 40];
        while !stop.load(Ordering::Relaxed) {
            for e in &ends {
                e.push_from_line(&line);
                let n = e.pull_to_line(&mut out);
                if n < out.len() {
                    short += 1;
                }
            }
            chunks += 1;
            let due = start + Duration::from_millis(chunks * 5);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        short
    })
}

fn main() {
    let calls = env("DIALGATE_MEDIA_BENCH_CALLS", 5000) as usize;
    let secs = env("DIALGATE_MEDIA_BENCH_SECS", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let far = Arc::new(UdpSocket::bind((LOOPBACK, 0)).unwrap());
    let far_addr = far.local_addr().unwrap();
    far.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();

    let (engine, legs) = rt.block_on(async {
        let config = Config {
            bind: LOOPBACK,
            rtp_ports: 20_000..=(20_000 + 2 * calls as u16 + 1),
            ..Config::default()
        };
        let engine = Engine::start(config).unwrap();
        let legs: Vec<_> = (0..calls)
            .map(|_| engine.open(Law::MuLaw).unwrap())
            .collect();
        for leg in &legs {
            leg.set_remote(Remote {
                addr: far_addr,
                law: Law::MuLaw,
                payload_type: rtp::PT_PCMU,
                ptime_ms: 20,
                telephone_event: Some(101),
                dtmf_relay: DtmfRelay::RtpNte,
                symmetric: false,
            });
        }
        (engine, legs)
    });
    let footprint = legs[0].footprint();
    let targets: Vec<SocketAddr> = legs.iter().map(|l| l.local_addr()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let span = span_thread(legs.iter().map(|l| l.line_end()).collect(), stop.clone());

    // Far end sender: a packet to every leg each 20 ms.
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let (far, stop, sent) = (far.clone(), stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut buf = [0u8; 200];
            let mut k = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for (i, to) in targets.iter().enumerate() {
                    let h = rtp::Header {
                        marker: k == 0,
                        payload_type: rtp::PT_PCMU,
                        sequence: k as u16,
                        timestamp: k * 160,
                        ssrc: i as u32 + 1,
                    };
                    let n = rtp::encode(h, &[0xE5; 160], &mut buf).unwrap_or(0);
                    if far.send_to(&buf[..n], to).is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                k += 1;
                let due = start + Duration::from_millis(u64::from(k) * 20);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        })
    };

    // Far end receiver: inter-arrival deviation per leg, in µs, after a warm-up.
    let warmup = Duration::from_secs(2);
    let receiver = {
        let (far, stop) = (far.clone(), stop.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut last: HashMap<u16, Instant> = HashMap::new();
            let mut deviations: Vec<u32> = Vec::new();
            let mut received = 0u64;
            let mut buf = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = far.recv_from(&mut buf) else {
                    continue;
                };
                let now = Instant::now();
                if rtp::decode(&buf[..n]).is_none() {
                    continue; // RTCP
                }
                if let Some(prev) = last.insert(from.port(), now)
                    && now.duration_since(start) > warmup
                {
                    received += 1;
                    let gap = now.duration_since(prev).as_micros() as i64;
                    deviations.push((gap - 20_000).unsigned_abs() as u32);
                }
            }
            (received, deviations)
        })
    };

    std::thread::sleep(warmup);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let sent0 = sent.load(Ordering::Relaxed);
    let recv0: u64 = legs.iter().map(|l| l.stats().packets_received).sum();
    std::thread::sleep(Duration::from_secs(secs));
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let sent_far = sent.load(Ordering::Relaxed) - sent0;
    let recv_gw: u64 = legs.iter().map(|l| l.stats().packets_received).sum::<u64>() - recv0;
    let gw_sent: u64 = legs.iter().map(|l| l.stats().packets_sent).sum();
    let send_errors: u64 = legs.iter().map(|l| l.send_errors()).sum();
    stop.store(true, Ordering::Relaxed);
    let short_pulls = span.join().unwrap();
    sender.join().unwrap();
    let (far_received, mut dev) = receiver.join().unwrap();
    dev.sort_unstable();
    let pct = |p: f64| {
        dev.get(((dev.len() as f64 * p) as usize).min(dev.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let expected = calls as f64 * 50.0 * wall;
    println!(
        "media bench: {calls} bridged calls, {wall:.1} s measured (under load: shared machine)"
    );
    println!(
        "  CPU: {cpu:.2} s over {wall:.1} s = {:.0}% of one core; {:.1} us CPU per call-second ({:.3}% of a core per call)",
        100.0 * cpu / wall,
        1e6 * cpu / wall / calls as f64,
        100.0 * cpu / wall / calls as f64
    );
    println!(
        "  gateway -> far: {far_received} packets timed ({:.1}% of {expected:.0} expected in the window); gateway sent {gw_sent} in all, {send_errors} send errors",
        100.0 * far_received as f64 / expected
    );
    println!(
        "  far -> gateway: {recv_gw} of {sent_far} sent received ({:.1}%)",
        100.0 * recv_gw as f64 / sent_far.max(1) as f64
    );
    println!(
        "  send jitter |inter-arrival - 20 ms|: p50 {} us, p99 {} us, max {} us ({} samples)",
        pct(0.5),
        pct(0.99),
        dev.last().copied().unwrap_or(0),
        dev.len()
    );
    println!("  line pulls short of audio: {short_pulls}");
    println!(
        "  bytes per call (struct sizes + buffer capacities, Leg::footprint): {footprint} ({:.1} KiB)",
        footprint as f64 / 1024.0
    );
    drop(legs);
    drop(engine);
}
