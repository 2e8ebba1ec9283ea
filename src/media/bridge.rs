//! The media I/O shell: RTP/RTCP sockets per leg, the legs spread over a few shards (one
//! 1 ms tick task each), and the lock-free [`LineEnd`] queues to the span's stack thread.
//!
//! ```text
//!  stack thread                        tokio (this engine), one task per shard
//!  read_b_samples ─▶ LineEnd.push ─▶ [ring in ] ─┐  ≥ ptime waiting: wake ─┐
//!                                                 │  deadline (heap): wake ─┴▶ ready queue
//!                                                 │                               │
//!  write_b_samples ◀ LineEnd.pull ◀─ [ring out] ◀┘  shard tick (1 ms): run the ◀──┘
//!                                                    queued legs: read the sockets,
//!                                                    run the stream, send
//! ```
//!
//! The TDM side is the clock: every octet the line hands in is answered by one octet
//! queued back out, so the two sides never drift apart. It paces the sockets too: a leg
//! reads its RTP socket when it runs, once per packet-time of line audio, just before
//! the stream plays out toward the line. Received audio is only ever played at those
//! runs, so reading at them loses no time; the kernel stamps each datagram's arrival
//! (`SO_TIMESTAMPNS`), so jitter, RTCP timing and the RTP timeout see when it came, not
//! when it was read. The sockets are not registered with tokio at all: a readiness
//! event per datagram (the driver's `epoll_wait`, a wake-up, one more visit per packet)
//! cost the engine a sixth to a fifth of its CPU. A leg whose line is silent (not yet
//! connected, a span down) is still read every [`Config::idle_read`] by the deadline
//! heap, and so is every leg's RTCP socket (reports come every few seconds).
//!
//! Each shard's 1 ms tick runs only the legs that have work, from the shard's ready queue.
//! A leg goes on it (at most once, its `queued` flag says whether it is) from two places,
//! neither of which wakes the shard's task: the line side queues it when a packet-time
//! of audio is waiting; the shard's deadline heap queues it when its RTCP report, RTP
//! timeout or idle read is due (`set_remote` and the leg's drop queue it too). The next
//! tick takes the whole queue and runs it in port order. So packets leave within about
//! a millisecond of their last sample arriving, the tick still batches the work (no
//! task per leg) and its cost follows the legs with work, not the legs open; with one
//! shard per tokio worker both cores send. Ports: each leg takes an even RTP port and
//! the odd one above it for RTCP; when the leg is dropped it queues itself, its shard
//! sends an RTCP BYE, closes both and the pair goes back to the pool, within a tick.
//!
//! Every producer of work publishes it (a ring position, the closed flag, a new remote)
//! before it looks at `queued`, and the shard clears `queued` before it looks at the
//! work; with a sequentially consistent fence on both sides at least one of them sees
//! the other's write, so no work is left with its leg off the queue.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use crate::line::Law;
use crate::udp_batch::{self, RecvBatch};

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
    /// How often a leg's sockets are read when its line hands in no audio, and how often
    /// its RTCP socket is read in any case (RTP is read with each packet-time of line
    /// audio).
    pub idle_read: Duration,
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
            idle_read: Duration::from_millis(100),
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
/// Datagrams per receive call: a leg gets one packet per ptime, so a run finds one or
/// two waiting and the batch comes back short (drained) in one call; the room for eight
/// is for an idle read, which finds `idle_read`'s worth.
const RX_BATCH: usize = 8;
/// Receive calls per socket and visit: a flood on one leg is served a batch at a time
/// and the leg goes back on the queue for the next tick, so it cannot hold the shard.
const RX_CALLS_PER_VISIT: usize = 16;
/// `deadline_ms` / `scheduled_ms` of a leg without one.
const NEVER: u64 = u64::MAX;

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
    /// Line octets the stream needs to complete its next packet: the leg is queued when
    /// this many are waiting (a run that took part of a packet-time in, for a timer or a
    /// datagram, leaves it lower, so the packet still leaves when its last octet is in).
    wanted: AtomicUsize,
    wake: Arc<LegWake>,
}

impl LineEnd {
    /// B-channel octets read from the line (line law), any count.
    pub fn push_from_line(&self, samples: &[u8]) {
        let waiting = self.rings.from_line.push_waiting(samples);
        // Only the push that completes a packet-time (or one while the shard is behind)
        // goes on to look at the leg's flag.
        if waiting >= self.rings.wanted.load(Ordering::Relaxed) {
            self.rings.wake.schedule();
        }
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

/// A shard's legs with work for its next tick.
#[derive(Debug, Default)]
struct ReadyQueue {
    legs: Mutex<Vec<Arc<LegInner>>>,
}

/// Puts one leg on its shard's ready queue: the line side, the deadline heap,
/// `set_remote` and `Leg::drop` call it.
///
/// Both links are weak: the queue holds the leg strongly while it waits, and a strong
/// link back would be a cycle that outlives the engine.
#[derive(Debug)]
struct LegWake {
    leg: Weak<LegInner>,
    ready: Weak<ReadyQueue>,
    /// On the ready queue, or taken by the shard and not yet looked at. Stays set once
    /// the shard has closed the leg, so nothing queues it again.
    queued: AtomicBool,
}

impl LegWake {
    /// Queue the leg unless it is queued: call after publishing the work.
    fn schedule(&self) {
        // Pairs with the shard's fence between clearing `queued` and looking at the work.
        fence(Ordering::SeqCst);
        self.enqueue();
    }

    fn enqueue(&self) {
        if self.queued.load(Ordering::Relaxed) || self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        if let (Some(leg), Some(ready)) = (self.leg.upgrade(), self.ready.upgrade()) {
            lock(&ready.legs).push(leg);
        }
    }
}

#[derive(Debug)]
struct LegInner {
    stream: Mutex<Stream>,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    rings: Arc<LineRings>,
    events: mpsc::UnboundedSender<Event>,
    /// When the leg must be run next without other work, in ms since the engine's epoch:
    /// the stream's `poll_timeout` or the idle read, whichever comes first.
    deadline_ms: AtomicU64,
    /// When the RTCP socket is read next (ms since the engine's epoch).
    rtcp_read_ms: AtomicU64,
    /// The earliest entry of this leg in its shard's deadline heap ([`NEVER`]: none).
    scheduled_ms: AtomicU64,
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

    fn idle_read_ms(&self) -> u64 {
        (self.config.idle_read.as_millis() as u64).max(1)
    }

    /// The leg's next deadline: its stream's timers or the idle read after `now_ms`.
    fn deadline_ms(&self, stream: &Stream, now_ms: u64) -> u64 {
        let idle = now_ms.saturating_add(self.idle_read_ms());
        stream.poll_timeout().map_or(idle, |t| self.ms(t).min(idle))
    }
}

/// One tick task and its ready queue. A leg belongs to one shard for its life; between
/// visits only the queue, the deadline heap and the leg's own handles hold it.
#[derive(Debug, Default)]
struct Shard {
    ready: Arc<ReadyQueue>,
    /// Legs open on this shard (for balancing and [`Engine::legs`]).
    open: AtomicUsize,
    ticks: AtomicU64,
    visits: AtomicU64,
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
    /// Legs the ticks took off the ready queue (a leg with nothing to do is not visited).
    pub visits: u64,
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
        let (events, events_rx) = mpsc::unbounded_channel();
        let stream = Stream::new(now, config);
        let now_ms = shared.ms(now);
        let deadline = shared.deadline_ms(&stream, now_ms);
        let wanted = stream.octets_until_packet();
        // The least loaded shard, so both workers send.
        let shard = shared
            .shards
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.open.load(Ordering::Relaxed))
            .map_or(0, |(i, _)| i);
        let Some(home) = shared.shards.get(shard) else {
            return Err(MediaError::Stopped);
        };
        let inner = Arc::new_cyclic(|leg| {
            // Queued from the start: the first visit enters the leg's deadline.
            let wake = Arc::new(LegWake {
                leg: leg.clone(),
                ready: Arc::downgrade(&home.ready),
                queued: AtomicBool::new(true),
            });
            let rings = Arc::new(LineRings {
                from_line: Ring::new(LINE_QUEUE),
                to_line: Ring::new(LINE_QUEUE),
                law: line_law,
                wanted: AtomicUsize::new(wanted),
                wake: wake.clone(),
            });
            rings.to_line.push(&[line_law.idle_code(); PREFILL]);
            LegInner {
                stream: Mutex::new(stream),
                rtp,
                rtcp,
                rings,
                events,
                deadline_ms: AtomicU64::new(deadline),
                rtcp_read_ms: AtomicU64::new(now_ms),
                scheduled_ms: AtomicU64::new(NEVER),
                send_errors: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                lease: PortLease {
                    port,
                    engine: Arc::downgrade(shared),
                },
            }
        });
        home.open.fetch_add(1, Ordering::Relaxed);
        lock(&home.ready.legs).push(inner.clone());
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
                let s = UdpSocket::bind(SocketAddr::new(shared.config.bind, p))?;
                s.set_nonblocking(true)?;
                udp_batch::stamp_arrivals(&s)?;
                Ok(s)
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

    /// Per shard: legs, ticks, legs visited, time spent in ticks, late ticks.
    pub fn shard_stats(&self) -> Vec<ShardStats> {
        self.shared
            .shards
            .iter()
            .map(|s| ShardStats {
                legs: s.open.load(Ordering::Relaxed),
                ticks: s.ticks.load(Ordering::Relaxed),
                visits: s.visits.load(Ordering::Relaxed),
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

/// A tick's clock readings: the monotonic one the streams run on, and the wall clock the
/// kernel's arrival stamps are in.
#[derive(Clone, Copy, Debug)]
struct Clock {
    now: Instant,
    now_ms: u64,
    /// The wall clock at `now`, since the Unix epoch.
    wall: Duration,
}

/// Arrival stamps older than this (or later than the tick's wall clock) are taken as the
/// wall clock having been stepped, and the datagram as read now.
const STAMP_SANE: Duration = Duration::from_secs(10);

impl Clock {
    #[expect(clippy::disallowed_methods, reason = "I/O shell: the shard's clock")]
    fn read(shared: &Shared) -> Clock {
        let now = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            now,
            now_ms: shared.ms(now),
            wall,
        }
    }

    /// When a datagram stamped `stamp` (wall clock) arrived, on the monotonic clock.
    fn arrival(&self, stamp: Option<Duration>) -> Instant {
        stamp
            .and_then(|at| self.wall.checked_sub(at))
            .filter(|age| *age <= STAMP_SANE)
            .and_then(|age| self.now.checked_sub(age))
            .unwrap_or(self.now)
    }
}

/// A shard's buffers, reused every tick so the hot path does not allocate.
struct Scratch {
    line: Box<[u8; LINE_QUEUE]>,
    out: Box<[u8; LINE_QUEUE]>,
    /// Received datagrams, a few per system call.
    rx: RecvBatch,
    /// Datagrams taken out of a stream, sent once its lock is released.
    transmits: Vec<Transmit>,
    /// The ready queue as taken by this tick (swapped with the shard's, so both keep
    /// their capacity).
    batch: Vec<Arc<LegInner>>,
}

/// One entry of a shard's deadline heap: the leg is to be looked at by `at_ms`.
#[derive(Debug)]
struct Due {
    at_ms: u64,
    leg: Weak<LegInner>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at_ms == other.at_ms
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    /// Reversed: `BinaryHeap` pops its greatest, and the earliest is wanted first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.at_ms.cmp(&self.at_ms)
    }
}

/// A shard's timers. A stream's deadline moves with nearly every packet (the RTP timeout
/// is counted from the last one heard), so a leg is not re-entered each run: an entry
/// goes in only when the deadline is earlier than the leg's earliest entry, and an entry
/// that comes due looks at the leg's deadline of that moment. Entries of closed legs and
/// superseded ones are dropped as they come out.
#[derive(Debug, Default)]
struct Deadlines {
    heap: BinaryHeap<Due>,
}

impl Deadlines {
    /// Make sure `leg` is looked at by `at_ms`.
    fn keep(&mut self, leg: &Arc<LegInner>, at_ms: u64) {
        if at_ms < leg.scheduled_ms.load(Ordering::Relaxed) {
            leg.scheduled_ms.store(at_ms, Ordering::Relaxed);
            self.heap.push(Due {
                at_ms,
                leg: Arc::downgrade(leg),
            });
        }
    }

    /// Queue the legs whose deadline has come; re-enter those whose deadline moved on.
    fn pop_due(&mut self, now_ms: u64) {
        while self.heap.peek().is_some_and(|d| d.at_ms <= now_ms) {
            let Some(due) = self.heap.pop() else { break };
            let Some(leg) = due.leg.upgrade() else {
                continue;
            };
            if leg.scheduled_ms.load(Ordering::Relaxed) != due.at_ms {
                // Superseded by an earlier entry, which has already come out.
                continue;
            }
            leg.scheduled_ms.store(NEVER, Ordering::Relaxed);
            let deadline = leg.deadline_ms.load(Ordering::Relaxed);
            if deadline <= now_ms {
                leg.rings.wake.schedule();
            } else if deadline != NEVER {
                self.keep(&leg, deadline);
            }
        }
    }
}

/// One shard's 1 ms tick: queue the legs whose timers are due, then run every queued leg.
async fn shard_task(weak: Weak<Shared>, index: usize) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut deadlines = Deadlines::default();
    let mut scratch = Scratch {
        line: Box::new([0; LINE_QUEUE]),
        out: Box::new([0; LINE_QUEUE]),
        rx: RecvBatch::new(1500, RX_BATCH),
        transmits: Vec::with_capacity(8),
        batch: Vec::new(),
    };
    loop {
        let due = tick.tick().await;
        let Some(shared) = weak.upgrade() else { break };
        let Some(shard) = shared.shards.get(index) else {
            break;
        };
        let clock = Clock::read(&shared);
        let now = clock.now;
        if now.saturating_duration_since(due.into_std()) > TICK {
            shard.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
        deadlines.pop_due(clock.now_ms);
        std::mem::swap(&mut *lock(&shard.ready.legs), &mut scratch.batch);
        let mut batch = std::mem::take(&mut scratch.batch);
        // In port order, not wake-up order: a leg's place in the tick (and so its send
        // time within it) stays about the same from packet to packet.
        batch.sort_unstable_by_key(|leg| leg.lease.port);
        let visits = batch.len() as u64;
        for leg in batch.drain(..) {
            run_leg(&shared, &leg, &clock, &mut scratch, &mut deadlines);
        }
        scratch.batch = batch;
        let busy = now.elapsed().as_nanos() as u64;
        shard.ticks.fetch_add(1, Ordering::Relaxed);
        shard.visits.fetch_add(visits, Ordering::Relaxed);
        shard.busy_ns.fetch_add(busy, Ordering::Relaxed);
        shard.max_busy_ns.fetch_max(busy, Ordering::Relaxed);
    }
}

/// Run one queued leg: take its datagrams, its line audio and its due timers, send what
/// comes out, and enter its next deadline. A closed leg sends its RTCP BYE and is let go
/// (its sockets close with the last reference, this one).
fn run_leg(
    shared: &Shared,
    leg: &Arc<LegInner>,
    clock: &Clock,
    s: &mut Scratch,
    deadlines: &mut Deadlines,
) {
    let (now, now_ms) = (clock.now, clock.now_ms);
    // Off the queue before looking at the work: whatever arrives from here on queues the
    // leg again (for the next tick). Pairs with the fence in `LegWake::schedule`.
    leg.rings.wake.queued.store(false, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    if leg.closed.load(Ordering::Relaxed) {
        // Never queued again.
        leg.rings.wake.queued.store(true, Ordering::Relaxed);
        let mut stream = lock(&leg.stream);
        stream.close(now);
        take_output(leg, &mut stream, &mut s.transmits);
        drop(stream);
        send(leg, &mut s.transmits);
        return;
    }
    let mut guard: Option<MutexGuard<'_, Stream>> = None;
    let mut flooded = false;
    // RTCP every `idle_read`: its reports come seconds apart, and an empty read per
    // packet would cost as much as the RTP one.
    let read_rtcp = leg.rtcp_read_ms.load(Ordering::Relaxed) <= now_ms;
    if read_rtcp {
        leg.rtcp_read_ms
            .store(now_ms + shared.idle_read_ms(), Ordering::Relaxed);
    }
    for rtcp in [false, true] {
        if rtcp && !read_rtcp {
            continue;
        }
        let socket = if rtcp { &leg.rtcp } else { &leg.rtp };
        let drained = drain(socket, &mut s.rx, clock, |at, from, datagram| {
            let stream = guard.get_or_insert_with(|| lock(&leg.stream));
            if rtcp {
                stream.handle_rtcp(at, from, datagram);
            } else {
                stream.handle_rtp(at, from, datagram);
            }
        });
        flooded |= drained == Drained::Flooded;
    }
    let waiting = leg.rings.from_line.len();
    let deadline = leg.deadline_ms.load(Ordering::Relaxed);
    let due = deadline <= now_ms;
    let wanted = leg.rings.wanted.load(Ordering::Relaxed);
    if guard.is_some() || waiting >= wanted || due {
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
        let deadline = shared.deadline_ms(&stream, now_ms);
        // Stored under the lock, so a `set_remote` in between cannot be overwritten by
        // the deadline it replaced (nor the octets wanted under its packet-time).
        leg.deadline_ms.store(deadline, Ordering::Relaxed);
        let wanted = stream.octets_until_packet();
        leg.rings.wanted.store(wanted, Ordering::Relaxed);
        drop(stream);
        send(leg, &mut s.transmits);
        // A push since the pop was weighed against the old count: look again, or the
        // packet it completed would wait for the next push.
        fence(Ordering::SeqCst);
        if leg.rings.from_line.len() >= wanted {
            leg.rings.wake.schedule();
        }
    }
    deadlines.keep(leg, leg.deadline_ms.load(Ordering::Relaxed));
    if flooded {
        leg.rings.wake.schedule();
    }
}

/// How a socket was left by [`drain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drained {
    /// Empty (or a receive error, consumed by the read: the next visit reads on).
    Empty,
    /// Still holding datagrams after [`RX_CALLS_PER_VISIT`] receives.
    Flooded,
}

/// Receive what `socket` holds, up to [`RX_CALLS_PER_VISIT`] batches, and hand each
/// datagram to `handle` with its arrival time.
///
/// A receive error (an ICMP error queued on the socket) is consumed by the call that
/// reports it; what follows it waits for the leg's next run.
fn drain(
    socket: &UdpSocket,
    rx: &mut RecvBatch,
    clock: &Clock,
    mut handle: impl FnMut(Instant, SocketAddr, &[u8]),
) -> Drained {
    for _ in 0..RX_CALLS_PER_VISIT {
        let Ok(more) = rx.recv_stamped(socket) else {
            return Drained::Empty;
        };
        for (from, datagram, stamp) in rx.stamped() {
            handle(clock.arrival(stamp), from, datagram);
        }
        if !more {
            return Drained::Empty;
        }
    }
    Drained::Flooded
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
        if socket.send_to(t.payload(), t.to).is_err() {
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
            .rings
            .wanted
            .store(stream.octets_until_packet(), Ordering::Relaxed);
        // The RTP timeout starts now: the shard's next visit enters the new deadline.
        let shared = &self.engine.shared;
        let deadline = shared.deadline_ms(&stream, shared.ms(Instant::now()));
        inner.deadline_ms.store(deadline, Ordering::Relaxed);
        drop(stream);
        // Visited on the next tick: the deadline goes into the heap and audio already
        // waiting under a changed packet-time goes out.
        inner.rings.wake.schedule();
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

    /// Bytes this leg holds in user space: stream state and buffers, the two line
    /// queues and the leg's wake handle (receive buffers, ready queue and deadline heap are per
    /// shard, not per leg; sockets' kernel buffers not counted).
    pub fn footprint(&self) -> usize {
        let inner = self.inner();
        lock(&inner.stream).footprint()
            + std::mem::size_of::<LegInner>()
            + inner.rings.from_line.capacity()
            + inner.rings.to_line.capacity()
            + std::mem::size_of::<LineRings>()
            + std::mem::size_of::<LegWake>()
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
        // Queued (this reference is still alive to be queued): within a tick the shard
        // sends the BYE and drops the last reference, which closes the sockets and
        // returns the port pair.
        inner.rings.wake.schedule();
    }
}

#[cfg(test)]
#[expect(
    clippy::disallowed_methods,
    reason = "real sockets: the tests wait for the kernel"
)]
mod tests {
    use super::*;

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A gateway socket set up as a leg's is (non-blocking, arrivals stamped) and a plain
    /// socket for the far end, on loopback.
    fn gateway_and_phone() -> (UdpSocket, UdpSocket) {
        let gw = ok(UdpSocket::bind("127.0.0.1:0"));
        ok(gw.set_nonblocking(true));
        ok(udp_batch::stamp_arrivals(&gw));
        let phone = ok(UdpSocket::bind("127.0.0.1:0"));
        (gw, phone)
    }

    fn clock_at(now: Instant, wall: Duration) -> Clock {
        Clock {
            now,
            now_ms: 0,
            wall,
        }
    }

    #[test]
    fn arrivals_are_the_kernel_stamps_moved_onto_the_monotonic_clock() {
        let now = Instant::now();
        let wall = Duration::from_secs(1_800_000_000);
        let clock = clock_at(now, wall);
        let ms = Duration::from_millis;
        // (stamp, arrival as time before now)
        let rows = [
            (Some(wall - ms(15)), ms(15)),
            (Some(wall), ms(0)),
            // No stamp (not Linux): read now.
            (None, ms(0)),
            // Later than the tick's wall clock, or very old: the clock was stepped.
            (Some(wall + ms(5)), ms(0)),
            (Some(wall - STAMP_SANE - ms(1)), ms(0)),
            (Some(wall - STAMP_SANE), STAMP_SANE),
        ];
        for (stamp, before) in rows {
            assert_eq!(clock.arrival(stamp), now - before, "{stamp:?}");
        }
    }

    #[test]
    fn a_drain_takes_what_waited_with_the_kernels_arrival_times() {
        let (gw, phone) = gateway_and_phone();
        let to = ok(gw.local_addr());
        let mut rx = RecvBatch::new(1500, RX_BATCH);
        let sent_at = Instant::now();
        for b in 0..3u8 {
            ok(phone.send_to(&[b], to));
        }
        std::thread::sleep(Duration::from_millis(30));
        let clock = Clock::read(&Shared {
            config: Config::default(),
            epoch: sent_at,
            shards: Box::new([]),
            free: Mutex::default(),
            seed: AtomicU64::new(1),
        });
        let mut got = Vec::new();
        assert_eq!(
            drain(&gw, &mut rx, &clock, |at, _, d| got.push((d.to_vec(), at))),
            Drained::Empty
        );
        assert_eq!(got.len(), 3);
        for (i, (d, at)) in got.iter().enumerate() {
            assert_eq!(d, &[i as u8]);
            // Stamped on arrival, about 30 ms before the read (the sleep), not at it.
            let age = clock.now.saturating_duration_since(*at);
            if cfg!(target_os = "linux") {
                assert!(age >= Duration::from_millis(20), "{age:?}");
            }
            assert!(age < Duration::from_secs(2), "{age:?}");
        }
        // Nothing left: the next drain reads nothing.
        let mut more = 0;
        assert_eq!(
            drain(&gw, &mut rx, &clock, |_, _, _| more += 1),
            Drained::Empty
        );
        assert_eq!(more, 0);
    }

    #[test]
    fn a_flooded_socket_gives_up_after_its_receive_calls() {
        let (gw, phone) = gateway_and_phone();
        let to = ok(gw.local_addr());
        let mut rx = RecvBatch::new(1500, RX_BATCH);
        let clock = clock_at(Instant::now(), Duration::ZERO);
        let cap = RX_CALLS_PER_VISIT * RX_BATCH;
        // (datagrams waiting, taken by one visit, outcome)
        let rows = [
            (cap - 1, cap - 1, Drained::Empty),
            (cap + 10, cap, Drained::Flooded),
        ];
        for (waiting, taken, outcome) in rows {
            for i in 0..waiting {
                ok(phone.send_to(&[i as u8], to));
            }
            std::thread::sleep(Duration::from_millis(20));
            let mut n = 0;
            assert_eq!(drain(&gw, &mut rx, &clock, |_, _, _| n += 1), outcome);
            assert_eq!(n, taken);
            // What is left comes with the next visit.
            let mut rest = 0;
            assert_eq!(
                drain(&gw, &mut rx, &clock, |_, _, _| rest += 1),
                Drained::Empty
            );
            assert_eq!(rest, waiting - taken);
        }
    }
}
