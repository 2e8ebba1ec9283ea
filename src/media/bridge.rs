//! The media I/O shell: RTP/RTCP sockets per leg, the legs spread over a few shards (one
//! 1 ms tick task each), and the lock-free [`LineEnd`] queues to the span's stack thread.
//!
//! ```text
//!  stack thread                       tokio (this engine), one task per shard
//!  read_b_samples ─▶ LineEnd.push ─▶ [ring in ] ─┐ shard tick (1 ms, for all its legs):
//!                                                 ├▶ datagrams waiting → Stream.handle_rtp
//!  write_b_samples ◀ LineEnd.pull ◀─ [ring out] ◀┘   ≥ ptime waiting → handle_line /
//!                                                    fill_line, then send RTP
//! ```
//!
//! The TDM side is the clock: every octet the line hands in is answered by one octet
//! queued back out, so the two sides never drift apart. Each shard's 1 ms timer looks at
//! each of its legs' queue depth (one atomic load) and socket readiness (tokio's, one
//! atomic load: no system call and no task wake-up per datagram) and runs only the legs
//! with something to do: packets leave within about a millisecond of their last sample
//! arriving, without a timer or a task per leg, and with one shard per tokio worker
//! both cores send. Ports: each leg takes an even RTP port and the odd one above it for
//! RTCP; when the leg is dropped its shard sends an RTCP BYE, closes both and the pair
//! goes back to the pool, within a tick.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::line::Law;
use crate::udp_batch::RecvBatch;

use super::ring::Ring;
use super::stream::{Event, LegStats, Remote, Stream, StreamConfig, Transmit};
use super::tone::ToneSpec;

/// Engine settings (the `media:` section of the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Address the RTP sockets bind to.
    pub bind: IpAddr,
    /// Ports to take RTP/RTCP pairs from.
    pub rtp_ports: RangeInclusive<u16>,
    /// Packet time before the peer's SDP says otherwise.
    pub ptime_ms: u8,
    /// Upper bound of the adaptive playout delay.
    pub jitter_max_ms: u16,
    /// Silence from the peer (no RTP, no RTCP) that raises [`Event::RtpTimeout`].
    pub rtp_timeout: Duration,
    /// Tick tasks the legs are spread over; 0: one per tokio worker thread.
    pub shards: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([0, 0, 0, 0]),
            rtp_ports: 16384..=32767,
            ptime_ms: 20,
            jitter_max_ms: 200,
            rtp_timeout: Duration::from_secs(30),
            shards: 0,
        }
    }
}

/// Why a leg could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Every RTP/RTCP pair of the range is in use.
    #[error("no free RTP/RTCP port pair in the configured range")]
    NoFreePort,
    /// The engine has stopped.
    #[error("the media engine has stopped")]
    Stopped,
}

/// What a leg reports: see [`Event`].
pub type MediaEvent = Event;

/// Octets queued each way between the line and the engine (128 ms).
const LINE_QUEUE: usize = 1024;
/// Line octets queued toward the line at start, so the first pulls find audio while
/// the first packet-time is still being collected.
const PREFILL: usize = 320;
const TICK: Duration = Duration::from_millis(1);
/// Datagrams per receive call: a leg gets one packet per ptime, so a tick finds one or
/// two waiting and a batch of four comes back short (drained) in one call.
const RX_BATCH: usize = 4;

/// The line side of a leg: `Send + Sync`, lock-free, never blocks. One thread pushes and
/// pulls (the span's stack thread).
#[derive(Clone, Debug)]
pub struct LineEnd {
    rings: Arc<LineRings>,
}

#[derive(Debug)]
struct LineRings {
    from_line: Ring,
    to_line: Ring,
    law: Law,
}

impl LineEnd {
    /// B-channel octets read from the line (line law), any count.
    pub fn push_from_line(&self, samples: &[u8]) {
        self.rings.from_line.push(samples);
    }

    /// Octets to write into the B-channel (line law); returns how many were written.
    /// Short when the engine is behind: the caller fills the rest with the idle code.
    pub fn pull_to_line(&self, out: &mut [u8]) -> usize {
        self.rings.to_line.pop(out)
    }

    /// The idle code of this line's law, for the caller's fill after a short pull.
    pub fn idle_code(&self) -> u8 {
        self.rings.law.idle_code()
    }

    /// Octets dropped because a queue was full (line → engine, engine → line).
    pub fn dropped(&self) -> (u64, u64) {
        (self.rings.from_line.dropped(), self.rings.to_line.dropped())
    }
}

#[derive(Debug)]
struct LegInner {
    stream: Mutex<Stream>,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    rings: Arc<LineRings>,
    events: mpsc::UnboundedSender<Event>,
    /// Next `poll_timeout`, in ms since the engine's epoch.
    deadline_ms: AtomicU64,
    /// Line octets per packet: the shard runs the stream when this many are waiting.
    packet_samples: AtomicUsize,
    send_errors: AtomicU64,
    closed: AtomicBool,
    /// Declared after the sockets: fields drop in order, so the pair is back in the pool
    /// only once both sockets are closed.
    lease: PortLease,
}

/// A leg's RTP/RTCP port pair, handed back to the engine's pool when dropped.
#[derive(Debug)]
struct PortLease {
    port: u16,
    engine: Weak<Shared>,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.upgrade() {
            lock(&engine.free).push_back(self.port);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct Shared {
    config: Config,
    epoch: Instant,
    shards: Box<[Shard]>,
    free: Mutex<VecDeque<u16>>,
    seed: AtomicU64,
}

impl Shared {
    fn ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_millis() as u64
    }
}

/// One tick task and the legs it runs. The task owns its leg list; `open` hands new legs
/// over through `incoming`, a dropped leg marks itself closed and the task lets it go.
#[derive(Debug, Default)]
struct Shard {
    incoming: Mutex<Vec<Arc<LegInner>>>,
    /// Legs open on this shard (for balancing and [`Engine::legs`]).
    open: AtomicUsize,
    ticks: AtomicU64,
    busy_ns: AtomicU64,
    max_busy_ns: AtomicU64,
    /// Ticks that started more than a tick late.
    late_ticks: AtomicU64,
}

/// What one shard's tick task has done so far: see [`Engine::shard_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Legs open on the shard.
    pub legs: usize,
    /// Ticks run.
    pub ticks: u64,
    /// Time spent inside ticks (receiving, running streams, sending).
    pub busy: Duration,
    /// Longest tick.
    pub max_busy: Duration,
    /// Ticks that started more than 1 ms after their due time (the runtime was busy).
    pub late_ticks: u64,
}

/// The media engine: owns the port pool and the pacing shards. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// Start the engine's tick tasks (one per shard, [`Config::shards`]); must be called
    /// inside a tokio runtime.
    #[expect(clippy::disallowed_methods, reason = "I/O shell: the engine's clock")]
    pub fn start(config: Config) -> io::Result<Engine> {
        let start = config.rtp_ports.start().div_ceil(2) * 2;
        let end = *config.rtp_ports.end();
        let free: VecDeque<u16> = (start..end)
            .step_by(2)
            .filter(|p| p.checked_add(1).is_some_and(|q| q <= end))
            .collect();
        if free.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "RTP port range holds no even/odd pair",
            ));
        }
        let shards = match config.shards {
            0 => tokio::runtime::Handle::current().metrics().num_workers(),
            n => n,
        }
        .max(1);
        let now = Instant::now();
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        let shared = Arc::new(Shared {
            config,
            epoch: now,
            shards: (0..shards).map(|_| Shard::default()).collect(),
            free: Mutex::new(free),
            seed: AtomicU64::new(seed),
        });
        for index in 0..shards {
            tokio::spawn(shard_task(Arc::downgrade(&shared), index));
        }
        Ok(Engine { shared })
    }

    /// Open a leg for a B-channel of `line_law`: binds an even RTP port and the RTCP port
    /// above it from the range.
    #[expect(
        clippy::disallowed_methods,
        reason = "I/O shell: the leg's creation time and NTP base"
    )]
    pub fn open(&self, line_law: Law) -> Result<Leg, MediaError> {
        let shared = &self.shared;
        let (rtp, rtcp, port) = self.bind_pair()?;
        let now = Instant::now();
        let seed = shared
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let mut rng = fastrand::Rng::with_seed(seed);
        let config = StreamConfig {
            line_law,
            jitter_max_ms: shared.config.jitter_max_ms,
            ssrc: rng.u32(..),
            initial_sequence: rng.u16(..),
            initial_timestamp: rng.u32(..),
            ntp_at_start: ntp_now(),
            seed: rng.u64(..),
            rtp_timeout: shared.config.rtp_timeout,
        };
        let rings = Arc::new(LineRings {
            from_line: Ring::new(LINE_QUEUE),
            to_line: Ring::new(LINE_QUEUE),
            law: line_law,
        });
        rings.to_line.push(&[line_law.idle_code(); PREFILL]);
        let (events, events_rx) = mpsc::unbounded_channel();
        let stream = Stream::new(now, config);
        let deadline = stream.poll_timeout().map_or(u64::MAX, |t| shared.ms(t));
        let packet_samples = stream.samples_per_packet();
        let inner = Arc::new(LegInner {
            stream: Mutex::new(stream),
            rtp,
            rtcp,
            rings,
            events,
            deadline_ms: AtomicU64::new(deadline),
            packet_samples: AtomicUsize::new(packet_samples),
            send_errors: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            lease: PortLease {
                port,
                engine: Arc::downgrade(shared),
            },
        });
        // The least loaded shard, so both workers send.
        let shard = shared
            .shards
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.open.load(Ordering::Relaxed))
            .map_or(0, |(i, _)| i);
        shared.shards[shard].open.fetch_add(1, Ordering::Relaxed);
        lock(&shared.shards[shard].incoming).push(inner.clone());
        Ok(Leg {
            inner: Some(inner),
            shard,
            events: events_rx,
            engine: self.clone(),
        })
    }

    fn bind_pair(&self) -> Result<(UdpSocket, UdpSocket, u16), MediaError> {
        let shared = &self.shared;
        let tries = lock(&shared.free).len();
        for _ in 0..tries {
            let Some(port) = lock(&shared.free).pop_front() else {
                break;
            };
            let bind = |p: u16| -> io::Result<UdpSocket> {
                let s = std::net::UdpSocket::bind(SocketAddr::new(shared.config.bind, p))?;
                s.set_nonblocking(true)?;
                UdpSocket::from_std(s)
            };
            match (bind(port), bind(port + 1)) {
                (Ok(rtp), Ok(rtcp)) => return Ok((rtp, rtcp, port)),
                // Someone else holds one of them: try it again last.
                _ => lock(&shared.free).push_back(port),
            }
        }
        Err(MediaError::NoFreePort)
    }

    /// Legs open now.
    pub fn legs(&self) -> usize {
        self.shared
            .shards
            .iter()
            .map(|s| s.open.load(Ordering::Relaxed))
            .sum()
    }

    /// Port pairs free now.
    pub fn free_pairs(&self) -> usize {
        lock(&self.shared.free).len()
    }

    /// Per shard: legs, ticks, time spent in them, late ticks.
    pub fn shard_stats(&self) -> Vec<ShardStats> {
        self.shared
            .shards
            .iter()
            .map(|s| ShardStats {
                legs: s.open.load(Ordering::Relaxed),
                ticks: s.ticks.load(Ordering::Relaxed),
                busy: Duration::from_nanos(s.busy_ns.load(Ordering::Relaxed)),
                max_busy: Duration::from_nanos(s.max_busy_ns.load(Ordering::Relaxed)),
                late_ticks: s.late_ticks.load(Ordering::Relaxed),
            })
            .collect()
    }
}

fn ntp_now() -> u64 {
    #[expect(clippy::disallowed_methods, reason = "I/O shell: RTCP's wall clock")]
    let now = SystemTime::now();
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    // NTP counts from 1900; 70 years and 17 leap days before the Unix epoch.
    let secs = d.as_secs() + 2_208_988_800;
    let frac = ((u128::from(d.subsec_nanos()) << 32) / 1_000_000_000) as u64;
    (secs << 32) | frac
}

/// A shard's buffers, reused every tick so the hot path does not allocate.
struct Scratch {
    line: Box<[u8; LINE_QUEUE]>,
    out: Box<[u8; LINE_QUEUE]>,
    /// Received datagrams, a few per system call.
    rx: RecvBatch,
    /// Datagrams taken out of a stream, sent once its lock is released.
    transmits: Vec<Transmit>,
}

/// One shard's 1 ms tick: receive, run and send for every leg it owns.
#[expect(clippy::disallowed_methods, reason = "I/O shell: the shard's clock")]
async fn shard_task(weak: Weak<Shared>, index: usize) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut legs: Vec<Arc<LegInner>> = Vec::new();
    let mut scratch = Scratch {
        line: Box::new([0; LINE_QUEUE]),
        out: Box::new([0; LINE_QUEUE]),
        rx: RecvBatch::new(1500, RX_BATCH),
        transmits: Vec::with_capacity(8),
    };
    loop {
        let due = tick.tick().await;
        let Some(shared) = weak.upgrade() else { break };
        let shard = &shared.shards[index];
        let now = Instant::now();
        if now.saturating_duration_since(due.into_std()) > TICK {
            shard.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
        legs.append(&mut lock(&shard.incoming));
        run_shard(&shared, &mut legs, now, &mut scratch);
        let busy = now.elapsed().as_nanos() as u64;
        shard.ticks.fetch_add(1, Ordering::Relaxed);
        shard.busy_ns.fetch_add(busy, Ordering::Relaxed);
        shard.max_busy_ns.fetch_max(busy, Ordering::Relaxed);
    }
}

/// Run every leg with a datagram waiting, a packet-time of line audio waiting or a timer
/// due; let closed legs go (after their RTCP BYE).
#[expect(
    clippy::disallowed_methods,
    reason = "I/O shell: arrival time of datagrams"
)]
fn run_shard(shared: &Shared, legs: &mut Vec<Arc<LegInner>>, now: Instant, s: &mut Scratch) {
    let now_ms = shared.ms(now);
    let mut i = 0;
    while i < legs.len() {
        let leg = &legs[i];
        if leg.closed.load(Ordering::Relaxed) {
            let mut stream = lock(&leg.stream);
            stream.close(now);
            take_output(leg, &mut stream, &mut s.transmits);
            drop(stream);
            send(leg, &mut s.transmits);
            // The last reference but the `Leg`'s, which is gone: the sockets close here.
            legs.swap_remove(i);
            continue;
        }
        i += 1;
        // Readiness is tokio's (edge-triggered epoll): a socket with nothing new costs
        // an atomic load, not a system call, and no task is woken per datagram.
        let mut guard: Option<MutexGuard<'_, Stream>> = None;
        for rtcp in [false, true] {
            let socket = if rtcp { &leg.rtcp } else { &leg.rtp };
            // A burst is bounded by what the socket buffer holds; errors (ICMP
            // unreachable reported on the socket) end this tick's turn. A short batch
            // has cleared readiness, so a socket holding one packet costs one call.
            while let Ok(more) = s.rx.recv(socket) {
                let at = Instant::now();
                for (from, datagram) in s.rx.datagrams() {
                    let stream = guard.get_or_insert_with(|| lock(&leg.stream));
                    if rtcp {
                        stream.handle_rtcp(at, from, datagram);
                    } else {
                        stream.handle_rtp(at, from, datagram);
                    }
                }
                if !more {
                    break;
                }
            }
        }
        let waiting = leg.rings.from_line.len();
        let due = leg.deadline_ms.load(Ordering::Relaxed) <= now_ms;
        if guard.is_none() && waiting < leg.packet_samples.load(Ordering::Relaxed) && !due {
            continue;
        }
        let mut stream = guard.unwrap_or_else(|| lock(&leg.stream));
        let n = leg.rings.from_line.pop(&mut s.line[..]);
        if n > 0 {
            stream.handle_line(now, &s.line[..n]);
            // One octet back to the line for every octet it gave: TDM is the clock.
            stream.fill_line(now, &mut s.out[..n]);
            leg.rings.to_line.push(&s.out[..n]);
        }
        if due {
            stream.handle_timeout(now);
        }
        take_output(leg, &mut stream, &mut s.transmits);
        let deadline = stream.poll_timeout().map_or(u64::MAX, |t| shared.ms(t));
        drop(stream);
        leg.deadline_ms.store(deadline, Ordering::Relaxed);
        send(leg, &mut s.transmits);
    }
}

/// Move the stream's datagrams out (so no lock is held across the sends) and pass its
/// events on.
fn take_output(leg: &LegInner, stream: &mut Stream, transmits: &mut Vec<Transmit>) {
    transmits.extend(std::iter::from_fn(|| stream.poll_transmit()));
    while let Some(e) = stream.poll_event() {
        let _ = leg.events.send(e);
    }
}

fn send(leg: &LegInner, transmits: &mut Vec<Transmit>) {
    for t in transmits.drain(..) {
        let socket = if t.rtcp { &leg.rtcp } else { &leg.rtp };
        // The wire cannot wait: a full socket buffer is a counted drop.
        if socket.try_send_to(t.payload(), t.to).is_err() {
            leg.send_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One call's media. Dropping it (or [`Leg::close`]) closes its ports at once.
#[derive(Debug)]
pub struct Leg {
    inner: Option<Arc<LegInner>>,
    shard: usize,
    events: mpsc::UnboundedReceiver<Event>,
    engine: Engine,
}

impl Leg {
    fn inner(&self) -> &Arc<LegInner> {
        // Only `close` (which consumes the leg) and `drop` take it.
        self.inner
            .as_ref()
            .unwrap_or_else(|| unreachable!("leg used after close"))
    }

    /// RTP address to put in our SDP (the bind address; the mapper substitutes the
    /// advertised one if it binds a wildcard).
    pub fn local_addr(&self) -> SocketAddr {
        let inner = self.inner();
        inner
            .rtp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::new(self.engine.shared.config.bind, inner.lease.port))
    }

    /// Set or change (re-INVITE) the peer from its SDP.
    #[expect(clippy::disallowed_methods, reason = "I/O shell")]
    pub fn set_remote(&self, remote: Remote) {
        let inner = self.inner();
        let mut stream = lock(&inner.stream);
        stream.set_remote(Instant::now(), remote);
        inner
            .packet_samples
            .store(stream.samples_per_packet(), Ordering::Relaxed);
    }

    /// Play a local tone into the B-channel instead of RTP (ringback etc.); `None`: back
    /// to RTP.
    pub fn play(&self, tone: Option<ToneSpec>) {
        lock(&self.inner().stream).play(tone);
    }

    /// The line side, for the span's stack thread.
    pub fn line_end(&self) -> LineEnd {
        LineEnd {
            rings: self.inner().rings.clone(),
        }
    }

    /// The next event, if one is waiting.
    pub fn events(&mut self) -> Option<MediaEvent> {
        self.events.try_recv().ok()
    }

    /// Wait for the next event.
    pub async fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.recv().await
    }

    /// Counters so far.
    pub fn stats(&self) -> LegStats {
        lock(&self.inner().stream).stats()
    }

    /// Datagrams the socket refused (full buffer, unreachable).
    pub fn send_errors(&self) -> u64 {
        self.inner().send_errors.load(Ordering::Relaxed)
    }

    /// Bytes this leg holds in user space: stream state and buffers and the two line
    /// queues (receive buffers are per shard, not per leg; sockets' kernel buffers not
    /// counted).
    pub fn footprint(&self) -> usize {
        let inner = self.inner();
        lock(&inner.stream).footprint()
            + std::mem::size_of::<LegInner>()
            + inner.rings.from_line.capacity()
            + inner.rings.to_line.capacity()
            + std::mem::size_of::<LineRings>()
    }

    /// End the leg now (the same as dropping it).
    pub fn close(self) {}
}

impl Drop for Leg {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        inner.closed.store(true, Ordering::Relaxed);
        if let Some(shard) = self.engine.shared.shards.get(self.shard) {
            shard.open.fetch_sub(1, Ordering::Relaxed);
        }
        // The shard's tick holds the last other reference: within a tick it sends the
        // BYE and drops it, which closes the sockets and returns the port pair.
    }
}
