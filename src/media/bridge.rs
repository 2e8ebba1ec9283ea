//! The media I/O shell: RTP/RTCP sockets per leg, one pacing timer per engine, and the
//! lock-free [`LineEnd`] queues to the span's stack thread.
//!
//! ```text
//!  stack thread                       tokio (this engine)
//!  read_b_samples ─▶ LineEnd.push ─▶ [ring in ] ─┐ engine tick (1 ms, one timer for all
//!                                                 ├▶ legs): ≥ ptime waiting → Stream
//!  write_b_samples ◀ LineEnd.pull ◀─ [ring out] ◀┘   handle_line / fill_line, send RTP
//!                                     per-leg task: recv RTP/RTCP → Stream.handle_*
//! ```
//!
//! The TDM side is the clock: every octet the line hands in is answered by one octet
//! queued back out, so the two sides never drift apart. One 1 ms timer for the whole
//! engine looks at each leg's queue depth (one atomic load) and runs only the legs with a
//! packet-time waiting: packets leave within about a millisecond of their last sample
//! arriving, without a timer per leg. Ports: each leg takes an even RTP port and the odd
//! one above it for RTCP; both are closed, and the pair goes back to the pool, as soon as
//! the leg is dropped.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::line::Law;

use super::ring::Ring;
use super::stream::{Event, LegStats, Remote, Stream, StreamConfig};
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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([0, 0, 0, 0]),
            rtp_ports: 16384..=32767,
            ptime_ms: 20,
            jitter_max_ms: 200,
            rtp_timeout: Duration::from_secs(30),
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
    port: u16,
    rings: Arc<LineRings>,
    events: mpsc::UnboundedSender<Event>,
    /// Next `poll_timeout`, in ms since the engine's epoch.
    deadline_ms: AtomicU64,
    send_errors: AtomicU64,
    closed: AtomicBool,
    engine: Weak<Shared>,
}

impl Drop for LegInner {
    fn drop(&mut self) {
        // The sockets close as this struct goes; the pair can be handed out again.
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
    legs: Mutex<Vec<Arc<LegInner>>>,
    free: Mutex<VecDeque<u16>>,
    seed: AtomicU64,
}

impl Shared {
    fn ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_millis() as u64
    }
}

/// The media engine: owns the port pool and the pacing timer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// Start the engine's timer task; must be called inside a tokio runtime.
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
        let now = Instant::now();
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        let shared = Arc::new(Shared {
            config,
            epoch: now,
            legs: Mutex::new(Vec::new()),
            free: Mutex::new(free),
            seed: AtomicU64::new(seed),
        });
        let weak = Arc::downgrade(&shared);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut line = vec![0u8; LINE_QUEUE];
            let mut out = vec![0u8; LINE_QUEUE];
            loop {
                tick.tick().await;
                let Some(shared) = weak.upgrade() else { break };
                run_legs(&shared, Instant::now(), &mut line, &mut out);
            }
        });
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
        let inner = Arc::new(LegInner {
            stream: Mutex::new(stream),
            rtp,
            rtcp,
            port,
            rings,
            events,
            deadline_ms: AtomicU64::new(deadline),
            send_errors: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            engine: Arc::downgrade(shared),
        });
        lock(&shared.legs).push(inner.clone());
        let task = tokio::spawn(receive(inner.clone()));
        Ok(Leg {
            inner: Some(inner),
            task,
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
        lock(&self.shared.legs).len()
    }

    /// Port pairs free now.
    pub fn free_pairs(&self) -> usize {
        lock(&self.shared.free).len()
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

/// The engine tick: run every leg with a packet-time of line audio waiting or a timer due.
fn run_legs(shared: &Shared, now: Instant, line: &mut [u8], out: &mut [u8]) {
    let now_ms = shared.ms(now);
    let legs = lock(&shared.legs);
    for leg in legs.iter() {
        let waiting = leg.rings.from_line.len();
        let due = leg.deadline_ms.load(Ordering::Relaxed) <= now_ms;
        if waiting < 160 && !due {
            continue;
        }
        let mut stream = lock(&leg.stream);
        let n = leg.rings.from_line.pop(line);
        if n > 0 {
            stream.handle_line(now, &line[..n]);
            // One octet back to the line for every octet it gave: TDM is the clock.
            stream.fill_line(now, &mut out[..n]);
            leg.rings.to_line.push(&out[..n]);
        }
        stream.handle_timeout(now);
        drain(leg, &mut stream);
        let deadline = stream.poll_timeout().map_or(u64::MAX, |t| shared.ms(t));
        leg.deadline_ms.store(deadline, Ordering::Relaxed);
    }
}

/// Send what the stream queued and pass its events on.
fn drain(leg: &LegInner, stream: &mut Stream) {
    while let Some(t) = stream.poll_transmit() {
        let socket = if t.rtcp { &leg.rtcp } else { &leg.rtp };
        // The wire cannot wait: a full socket buffer is a counted drop.
        if socket.try_send_to(t.payload(), t.to).is_err() {
            leg.send_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    while let Some(e) = stream.poll_event() {
        let _ = leg.events.send(e);
    }
}

/// Per-leg receive task: RTP and RTCP datagrams into the stream.
#[expect(
    clippy::disallowed_methods,
    reason = "I/O shell: arrival time of each datagram"
)]
async fn receive(leg: Arc<LegInner>) {
    let mut rtp_buf = [0u8; 1500];
    let mut rtcp_buf = [0u8; 1500];
    loop {
        tokio::select! {
            r = leg.rtp.recv_from(&mut rtp_buf) => {
                let Ok((n, from)) = r else { continue };
                let mut stream = lock(&leg.stream);
                stream.handle_rtp(Instant::now(), from, &rtp_buf[..n]);
                drain(&leg, &mut stream);
            }
            r = leg.rtcp.recv_from(&mut rtcp_buf) => {
                let Ok((n, from)) = r else { continue };
                let mut stream = lock(&leg.stream);
                stream.handle_rtcp(Instant::now(), from, &rtcp_buf[..n]);
                drain(&leg, &mut stream);
            }
        }
        if leg.closed.load(Ordering::Relaxed) {
            break;
        }
    }
}

/// One call's media. Dropping it (or [`Leg::close`]) closes its ports at once.
#[derive(Debug)]
pub struct Leg {
    inner: Option<Arc<LegInner>>,
    task: JoinHandle<()>,
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
            .unwrap_or_else(|_| SocketAddr::new(self.engine.shared.config.bind, inner.port))
    }

    /// Set or change (re-INVITE) the peer from its SDP.
    #[expect(clippy::disallowed_methods, reason = "I/O shell")]
    pub fn set_remote(&self, remote: Remote) {
        lock(&self.inner().stream).set_remote(Instant::now(), remote);
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

    /// Bytes this leg holds in user space: stream state and buffers, the two line queues
    /// and the receive task's buffers (sockets' kernel buffers not counted).
    pub fn footprint(&self) -> usize {
        let inner = self.inner();
        lock(&inner.stream).footprint()
            + std::mem::size_of::<LegInner>()
            + inner.rings.from_line.capacity()
            + inner.rings.to_line.capacity()
            + std::mem::size_of::<LineRings>()
            + 2 * 1500
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
        self.task.abort();
        lock(&self.engine.shared.legs).retain(|l| !Arc::ptr_eq(l, &inner));
        // The receive task holds the last other reference; its abort drops the sockets.
    }
}
