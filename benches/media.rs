//! Media engine benchmark: N concurrent bridged calls over loopback, both directions,
//! 20 ms packets.
//!
//! - The gateway: one `media::Engine` on a 2-worker tokio runtime (threads `gw-worker`),
//!   N legs, each an RTP and an RTCP socket, spread over one shard per worker.
//! - The span (thread `span`): stands in for the stack thread; every 5 ms it pushes 40
//!   line octets into every leg's `LineEnd` and pulls 40 back (the line is the clock).
//! - The far end (the SIP phones): `DIALGATE_MEDIA_BENCH_FAR` sockets (default 2), leg
//!   i talking to socket i mod that. One thread (`far-tx`) sends a 20 ms PCMU packet to
//!   every leg each 20 ms; one thread per socket (`far-rx`) takes what the gateway sends
//!   with `recvmmsg` from a 4 MiB receive buffer. Each datagram is timed by the kernel
//!   as it arrives (`SO_TIMESTAMPNS`), so a receiver that reads late does not add to the
//!   jitter measured; how late it reads is reported apart.
//!
//! Reports: CPU (user + system) per thread group from `/proc/self/task/<tid>/stat`, the
//! gateway's (`gw-worker`) and the whole process's per call-second; p50/p99/max of the
//! send jitter, |inter-arrival − 20 ms| per leg on the kernel's arrival stamps; the far
//! receivers' read lag; how late the span and the far sender ran; the engine's shard
//! counters (ticks, time in ticks, late ticks, legs visited); packets delivered each way; and bytes per
//! call from struct sizes and buffer capacities (`Leg::footprint`).
//!
//! On loopback the kernel's receive path runs inside the sender's system call, so each
//! side's system time includes some of the other side's receiving.
//!
//! First, the kernel floor: N plain UDP sockets on two threads (`floor`), each sending one
//! 172-octet datagram (a 20 ms PCMU packet) to a partner socket every 20 ms and reading
//! the one its partner sent: the system calls a leg cannot do without, and nothing else.
//! Its CPU per socket-second is what any design with a socket per call pays the kernel
//! on this machine, so the gateway's figure is also given as a ratio to it
//! (`DIALGATE_MEDIA_BENCH_FLOOR=0` skips it).
//!
//! `cargo bench --bench media`; `DIALGATE_MEDIA_BENCH_CALLS` (default 5000) and
//! `DIALGATE_MEDIA_BENCH_SECS` (default 10) size the run.

#![expect(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "a benchmark is an I/O shell: it reads the clock, waits and panics on setup errors"
)]

use std::collections::BTreeMap;
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dialgate::line::Law;
use dialgate::media::{Config, DtmfRelay, Engine, LineEnd, Remote, rtp};
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg, setsockopt,
    sockopt,
};
use nix::sys::time::TimeSpec;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const BASE_PORT: u16 = 20_000;
const BATCH: usize = 32;
/// Packets per `sendmmsg` of the far sender.
const TX_BATCH: usize = 64;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU seconds per thread name, from `/proc/self/task/*/stat`.
fn thread_cpu() -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        // Fields after the ")" start at field 3 (state); utime and stime are fields 14
        // and 15, in clock ticks of 1/100 s.
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        *by_name.entry(name).or_insert(0.0) += (field(11) + field(12)) as f64 / 100.0;
    }
    by_name
}

/// A histogram of microseconds: 1 µs bins up to 100 ms, the rest kept as values.
struct Histogram {
    bins: Vec<u32>,
    over: Vec<u32>,
    count: u64,
    max: u32,
}

impl Histogram {
    fn new() -> Self {
        Self {
            bins: vec![0; 100_000],
            over: Vec::new(),
            count: 0,
            max: 0,
        }
    }

    fn add(&mut self, us: u32) {
        match self.bins.get_mut(us as usize) {
            Some(b) => *b += 1,
            None => self.over.push(us),
        }
        self.count += 1;
        self.max = self.max.max(us);
    }

    fn merge(&mut self, other: Histogram) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += b;
        }
        self.over.extend(other.over);
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    fn percentile(&mut self, p: f64) -> u32 {
        let rank = ((self.count as f64 * p) as u64).min(self.count.saturating_sub(1));
        let mut seen = 0u64;
        for (us, &n) in self.bins.iter().enumerate() {
            seen += u64::from(n);
            if seen > rank {
                return us as u32;
            }
        }
        self.over.sort_unstable();
        let i = (rank - seen) as usize;
        self.over.get(i).copied().unwrap_or(self.max)
    }

    fn summary(&mut self) -> String {
        format!(
            "p50 {} us, p99 {} us, max {} us ({} samples)",
            self.percentile(0.5),
            self.percentile(0.99),
            self.max,
            self.count
        )
    }
}

fn span_thread(
    ends: Vec<LineEnd>,
    stop: Arc<AtomicBool>,
    measuring: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, Histogram)> {
    std::thread::Builder::new()
        .name("span".into())
        .spawn(move || {
            let start = Instant::now();
            let mut chunks = 0u64;
            let mut short = 0u64;
            let mut late = Histogram::new();
            let line = [0xE5u8; 40];
            let mut out = [0u8; 40];
            while !stop.load(Ordering::Relaxed) {
                let due = start + Duration::from_millis(chunks * 5);
                if measuring.load(Ordering::Relaxed) {
                    late.add(due.elapsed().as_micros() as u32);
                }
                for e in &ends {
                    e.push_from_line(&line);
                    if e.pull_to_line(&mut out) < out.len() {
                        short += 1;
                    }
                }
                chunks += 1;
                let due = start + Duration::from_millis(chunks * 5);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            (short, late)
        })
        .unwrap()
}

/// Far-end sender: a packet to every leg each 20 ms, leg i from far socket i mod K.
fn sender_thread(
    far: Vec<Arc<UdpSocket>>,
    targets: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    measuring: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> std::thread::JoinHandle<Histogram> {
    std::thread::Builder::new()
        .name("far-tx".into())
        .spawn(move || {
            let start = Instant::now();
            // Leg i talks to far socket i mod the number of sockets.
            let legs_of: Vec<Vec<usize>> = (0..far.len())
                .map(|f| (f..targets.len()).step_by(far.len()).collect())
                .collect();
            let mut bufs = vec![[0u8; 200]; TX_BATCH];
            let mut lens = [0usize; TX_BATCH];
            let mut late = Histogram::new();
            let mut k = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let due = start + Duration::from_millis(u64::from(k) * 20);
                if measuring.load(Ordering::Relaxed) {
                    late.add(due.elapsed().as_micros() as u32);
                }
                // Per far socket, its legs' packets in batches of one `sendmmsg` each: the
                // phones stand in for many hosts, and their system calls share the cores
                // with the gateway's.
                for (socket, legs) in far.iter().zip(&legs_of) {
                    for chunk in legs.chunks(TX_BATCH) {
                        for (slot, &i) in chunk.iter().enumerate() {
                            let h = rtp::Header {
                                marker: k == 0,
                                payload_type: rtp::PT_PCMU,
                                sequence: k as u16,
                                timestamp: k * 160,
                                ssrc: i as u32 + 1,
                            };
                            lens[slot] = rtp::encode(h, &[0xE5; 160], &mut bufs[slot]).unwrap_or(0);
                        }
                        let slices: Vec<[IoSlice<'_>; 1]> = (0..chunk.len())
                            .map(|slot| [IoSlice::new(&bufs[slot][..lens[slot]])])
                            .collect();
                        let addrs: Vec<Option<SockaddrIn>> = chunk
                            .iter()
                            .map(|&i| Some(sockaddr_in(targets[i])))
                            .collect();
                        let mut headers =
                            MultiHeaders::<SockaddrIn>::preallocate(chunk.len(), None);
                        if let Ok(done) = sendmmsg(
                            socket.as_raw_fd(),
                            &mut headers,
                            slices.iter(),
                            addrs,
                            [],
                            MsgFlags::empty(),
                        ) {
                            sent.fetch_add(done.count() as u64, Ordering::Relaxed);
                        }
                    }
                }
                k += 1;
                let due = start + Duration::from_millis(u64::from(k) * 20);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            late
        })
        .unwrap()
}

fn sockaddr_in(addr: SocketAddr) -> SockaddrIn {
    match addr {
        SocketAddr::V4(v4) => SockaddrIn::from(v4),
        SocketAddr::V6(_) => unreachable!("the legs bind 127.0.0.1"),
    }
}

fn ns(ts: TimeSpec) -> i64 {
    ts.tv_sec() * 1_000_000_000 + ts.tv_nsec()
}

struct Received {
    packets: u64,
    jitter: Histogram,
    lag: Histogram,
}

/// Far-end receiver on one socket: inter-arrival deviation per leg on the kernel's
/// arrival stamps, and how long after arrival each batch was read.
fn receiver_thread(
    far: Arc<UdpSocket>,
    calls: usize,
    stop: Arc<AtomicBool>,
    measuring: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Received> {
    std::thread::Builder::new()
        .name("far-rx".into())
        .spawn(move || {
            let fd = far.as_raw_fd();
            let mut last = vec![0i64; calls];
            let mut r = Received {
                packets: 0,
                jitter: Histogram::new(),
                lag: Histogram::new(),
            };
            let mut bufs = vec![[0u8; 256]; BATCH];
            let mut headers =
                MultiHeaders::<SockaddrIn>::preallocate(BATCH, Some(nix::cmsg_space!(TimeSpec)));
            while !stop.load(Ordering::Relaxed) {
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
                    .iter_mut()
                    .map(|b| [IoSliceMut::new(&mut b[..])])
                    .collect();
                // Takes what is queued; when nothing is, naps a millisecond: the kernel's
                // stamps keep the timing, the 4 MiB buffer keeps the datagrams.
                let got = recvmmsg(
                    fd,
                    &mut headers,
                    iovs.iter_mut().map(|v| &*v),
                    MsgFlags::MSG_DONTWAIT,
                    None,
                );
                let mut msgs = match got {
                    Ok(msgs) => msgs.peekable(),
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                };
                if msgs.peek().is_none() {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                let read_at = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as i64);
                let on = measuring.load(Ordering::Relaxed);
                for m in msgs {
                    let Some(port) = m.address.map(|a| a.port()) else {
                        continue;
                    };
                    // RTCP comes from the odd ports.
                    if port % 2 == 1 || port < BASE_PORT {
                        continue;
                    }
                    let Some(at) = m.cmsgs().find_map(|c| match c {
                        ControlMessageOwned::ScmTimestampns(t) => Some(ns(t)),
                        _ => None,
                    }) else {
                        continue;
                    };
                    let Some(prev) = last.get_mut(usize::from((port - BASE_PORT) / 2)) else {
                        continue;
                    };
                    if on && *prev != 0 {
                        r.packets += 1;
                        let gap_us = (at - *prev) / 1000;
                        r.jitter.add((gap_us - 20_000).unsigned_abs() as u32);
                        r.lag.add(((read_at - at) / 1000).max(0) as u32);
                    }
                    *prev = at;
                }
            }
            r
        })
        .unwrap()
}

/// The kernel floor (see the module doc): CPU seconds per socket-second of `sockets` plain
/// sockets in pairs, each sending and receiving one datagram per 20 ms, over `secs`.
fn kernel_floor(sockets: usize, secs: u64) -> f64 {
    let sockets = sockets.max(2) & !1;
    let all: Arc<Vec<UdpSocket>> = Arc::new(
        (0..sockets)
            .map(|_| {
                let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
                s.set_nonblocking(true).unwrap();
                s
            })
            .collect(),
    );
    let addrs: Arc<Vec<SocketAddr>> =
        Arc::new(all.iter().map(|s| s.local_addr().unwrap()).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (all, addrs, stop) = (all.clone(), addrs.clone(), stop.clone());
            std::thread::Builder::new()
                .name("floor".into())
                .spawn(move || {
                    let packet = [0x80u8; 172];
                    let mut buf = [0u8; 1500];
                    let start = Instant::now();
                    // Each thread its half of the sockets, a twentieth of them each 1 ms, as
                    // the engine's shards spread their legs' packets over the 20 ms.
                    let mine: Vec<usize> = (t..all.len()).step_by(2).collect();
                    let mut k = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for &i in mine.iter().skip((k % 20) as usize).step_by(20) {
                            let _ = all[i].recv_from(&mut buf);
                            let _ = all[i].send_to(&packet, addrs[i ^ 1]);
                        }
                        k += 1;
                        let due = start + Duration::from_millis(k);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                })
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1)); // warm-up
    let cpu0 = thread_cpu().get("floor").copied().unwrap_or(0.0);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let cpu = thread_cpu().get("floor").copied().unwrap_or(0.0) - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    cpu / (sockets as f64 * wall)
}

fn main() {
    let calls = env("DIALGATE_MEDIA_BENCH_CALLS", 5000) as usize;
    let secs = env("DIALGATE_MEDIA_BENCH_SECS", 10);
    let far_sockets = env("DIALGATE_MEDIA_BENCH_FAR", 2).max(1) as usize;
    let floor =
        (env("DIALGATE_MEDIA_BENCH_FLOOR", 1) != 0).then(|| kernel_floor(calls, 3.min(secs)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gw-worker")
        .enable_all()
        .build()
        .unwrap();
    let far: Vec<Arc<UdpSocket>> = (0..far_sockets)
        .map(|_| {
            let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
            // A large buffer, so that a receiver descheduled for a while loses nothing
            // (the kernel caps it at net.core.rmem_max).
            setsockopt(s.as_raw_fd(), sockopt::RcvBuf, &(4 << 20)).unwrap();
            setsockopt(s.as_raw_fd(), sockopt::ReceiveTimestampns, &true).unwrap();
            Arc::new(s)
        })
        .collect();

    let (engine, legs) = rt.block_on(async {
        let config = Config {
            bind: LOOPBACK,
            rtp_ports: BASE_PORT..=(BASE_PORT + 2 * calls as u16 + 1),
            ..Config::default()
        };
        let engine = Engine::start(config).unwrap();
        let legs: Vec<_> = (0..calls)
            .map(|_| engine.open(Law::MuLaw).unwrap())
            .collect();
        for (i, leg) in legs.iter().enumerate() {
            leg.set_remote(Remote {
                addr: far[i % far_sockets].local_addr().unwrap(),
                law: Law::MuLaw,
                payload_type: rtp::PT_PCMU,
                ptime_ms: 20,
                telephone_event: Some(101),
                dtmf_relay: DtmfRelay::RtpNte,
                symmetric: false,
                rtcp: None,
            });
        }
        (engine, legs)
    });
    let footprint = legs[0].footprint();
    let targets: Vec<SocketAddr> = legs.iter().map(|l| l.local_addr()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let span = span_thread(
        legs.iter().map(|l| l.line_end()).collect(),
        stop.clone(),
        measuring.clone(),
    );
    let sent = Arc::new(AtomicU64::new(0));
    let sender = sender_thread(
        far.clone(),
        targets,
        stop.clone(),
        measuring.clone(),
        sent.clone(),
    );
    let receivers: Vec<_> = far
        .iter()
        .map(|s| receiver_thread(s.clone(), calls, stop.clone(), measuring.clone()))
        .collect();

    std::thread::sleep(Duration::from_secs(2)); // warm-up
    let cpu0 = thread_cpu();
    let shards0 = engine.shard_stats();
    let t0 = Instant::now();
    let sent0 = sent.load(Ordering::Relaxed);
    let recv0: u64 = legs.iter().map(|l| l.stats().packets_received).sum();
    let playout = |legs: &[dialgate::media::Leg]| {
        legs.iter().fold((0, 0), |(concealed, late), l| {
            let p = l.stats().playout;
            (concealed + p.concealed, late + p.late)
        })
    };
    let playout0 = playout(&legs);
    measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(secs));
    measuring.store(false, Ordering::Relaxed);
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = thread_cpu();
    let shards1 = engine.shard_stats();
    let sent_far = sent.load(Ordering::Relaxed) - sent0;
    let recv_gw: u64 = legs.iter().map(|l| l.stats().packets_received).sum::<u64>() - recv0;
    let gw_sent: u64 = legs.iter().map(|l| l.stats().packets_sent).sum();
    let send_errors: u64 = legs.iter().map(|l| l.send_errors()).sum();
    let playout1 = playout(&legs);
    stop.store(true, Ordering::Relaxed);
    let (short_pulls, mut span_late) = span.join().unwrap();
    let mut sender_late = sender.join().unwrap();
    let mut timed = 0u64;
    let mut jitter = Histogram::new();
    let mut lag = Histogram::new();
    for r in receivers {
        let r = r.join().unwrap();
        timed += r.packets;
        jitter.merge(r.jitter);
        lag.merge(r.lag);
    }

    let expected = calls as f64 * 50.0 * wall;
    let call_seconds = calls as f64 * wall;
    println!(
        "media bench: {calls} bridged calls, {far_sockets} far sockets, {wall:.1} s measured (under load: shared machine)"
    );
    let mut total = 0.0;
    let mut gateway = 0.0;
    for (name, after) in &cpu1 {
        let cpu = after - cpu0.get(name).copied().unwrap_or(0.0);
        total += cpu;
        if name.starts_with("gw-worker") {
            gateway += cpu;
        }
        println!(
            "  CPU {name:>12}: {cpu:6.2} s = {:5.1}% of one core, {:6.1} us per call-second",
            100.0 * cpu / wall,
            1e6 * cpu / call_seconds
        );
    }
    println!(
        "  CPU gateway (gw-worker threads): {:.1} us per call-second ({:.4}% of a core per call); whole process: {:.1} us per call-second",
        1e6 * gateway / call_seconds,
        100.0 * gateway / call_seconds,
        1e6 * total / call_seconds
    );
    if let Some(floor) = floor {
        println!(
            "  kernel floor ({calls} sockets, one datagram sent and one read per 20 ms each): {:.1} us per socket-second = {:.2} cores for {calls} calls; gateway / floor = {:.2}",
            1e6 * floor,
            floor * calls as f64,
            gateway / call_seconds / floor
        );
    }
    for (i, (a, b)) in shards0.iter().zip(&shards1).enumerate() {
        let ticks = b.ticks - a.ticks;
        let busy = (b.busy - a.busy).as_secs_f64();
        let visits = b.visits - a.visits;
        println!(
            "  shard {i}: {} legs, {ticks} ticks ({:.0}/s), {:.1}% of wall in ticks, {:.0} us per tick, longest {} us, {} late ticks; {:.1} legs visited per tick, {:.2} us per visit",
            b.legs,
            ticks as f64 / wall,
            100.0 * busy / wall,
            1e6 * busy / ticks.max(1) as f64,
            b.max_busy.as_micros(),
            b.late_ticks - a.late_ticks,
            visits as f64 / ticks.max(1) as f64,
            1e6 * busy / visits.max(1) as f64
        );
    }
    println!(
        "  gateway -> far: {timed} packets timed ({:.1}% of {expected:.0} expected); gateway sent {gw_sent} in all, {send_errors} send errors",
        100.0 * timed as f64 / expected
    );
    println!(
        "  far -> gateway: {recv_gw} of {sent_far} sent received ({:.1}%)",
        100.0 * recv_gw as f64 / sent_far.max(1) as f64
    );
    println!(
        "  send jitter |inter-arrival - 20 ms| (kernel arrival stamps): {}",
        jitter.summary()
    );
    println!("  far receivers' read lag after arrival: {}", lag.summary());
    println!(
        "  span pacer lateness per 5 ms chunk: {}",
        span_late.summary()
    );
    println!(
        "  far sender lateness per 20 ms round: {}",
        sender_late.summary()
    );
    println!("  line pulls short of audio: {short_pulls}");
    println!(
        "  playout toward the line: {} octets concealed ({:.2}% of {:.0}), {} packets too late to play",
        playout1.0 - playout0.0,
        100.0 * (playout1.0 - playout0.0) as f64 / (call_seconds * 8000.0),
        call_seconds * 8000.0,
        playout1.1 - playout0.1
    );
    println!(
        "  bytes per call (struct sizes + buffer capacities, Leg::footprint): {footprint} ({:.1} KiB)",
        footprint as f64 / 1024.0
    );
    drop(legs);
    drop(engine);
}
