//! The driver seam: one blocking thread per span that moves bytes between the device
//! and the protocol stack, and knows nothing about frames.
//!
//! ```text
//!  device ──read──▶ driver thread ──PortEvent (bounded)──▶ stack thread (line::Span ...)
//!  device ◀─write── driver thread ◀──Bytes (unbounded)──── stack thread
//! ```
//!
//! Rules (`docs/architecture.md`):
//! - The driver thread only reads, stamps each chunk with its read time, and writes.
//! - The receive channel is bounded. The wire cannot pause, so when the stack falls
//!   behind a chunk is dropped, counted, and reported on the next chunk as
//!   [`RxChunk::lost_before`]; the span counts it as a slip. The reader never blocks.
//! - Dropping the [`LinePort`] (its transmit sender) is the shutdown signal.
//! - A connection that closes or fails is reported as [`PortEvent::Down`] (the span's
//!   LOS), then reopened with exponential backoff; [`PortEvent::Up`] says it is back.
//!
//! Three forms of line (contract section 1): a serial device or pseudo-terminal, raw
//! 8N1 with no flow control ([`serial`]); `tcp://HOST:PORT`, connected with reconnect
//! and backoff; and `tcp-listen://HOST:PORT`, serving one peer at a time ([`tcp`]).

use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

pub mod serial;
pub mod tcp;

/// Where a span's byte stream comes from, as written in the hardware YAML `line:` key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineSpec {
    /// A serial device or pseudo-terminal slave: `/dev/ttyUSB0` or `serial:/dev/ttyS1`.
    Serial(PathBuf),
    /// `tcp://HOST:PORT`: we connect.
    Tcp(String),
    /// `tcp-listen://HOST:PORT`: we listen and serve one peer at a time.
    TcpListen(String),
}

/// A `line:` value that is none of the forms the contract allows.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} is not a line: allowed are a device path (/dev/ttyUSB0 or serial:/dev/ttyS1), tcp://HOST:PORT or tcp-listen://HOST:PORT"
)]
pub struct LineSpecError {
    pub given: String,
}

impl LineSpec {
    /// Parse the `line:` forms of contract section 1.
    pub fn parse(text: &str) -> Result<LineSpec, LineSpecError> {
        let bad = || LineSpecError {
            given: text.to_string(),
        };
        let text = text.trim();
        let host_port = |rest: &str| -> Result<String, LineSpecError> {
            // HOST:PORT, HOST may be a bracketed IPv6 literal; the port must be a number.
            let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
            if host.is_empty() || port.parse::<u16>().is_err() || rest.contains('/') {
                return Err(bad());
            }
            Ok(rest.to_string())
        };
        if let Some(rest) = text.strip_prefix("tcp://") {
            Ok(LineSpec::Tcp(host_port(rest)?))
        } else if let Some(rest) = text.strip_prefix("tcp-listen://") {
            Ok(LineSpec::TcpListen(host_port(rest)?))
        } else if let Some(rest) = text.strip_prefix("serial:") {
            if rest.is_empty() {
                return Err(bad());
            }
            Ok(LineSpec::Serial(PathBuf::from(rest)))
        } else if text.starts_with('/') {
            Ok(LineSpec::Serial(PathBuf::from(text)))
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for LineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineSpec::Serial(p) => write!(f, "serial:{}", p.display()),
            LineSpec::Tcp(a) => write!(f, "tcp://{a}"),
            LineSpec::TcpListen(a) => write!(f, "tcp-listen://{a}"),
        }
    }
}

/// Bytes read from the line, stamped when they were read.
#[derive(Clone, Debug)]
pub struct RxChunk {
    pub read_at: Instant,
    pub bytes: Bytes,
    /// Bytes read but dropped since the previous delivered chunk because the stack
    /// was behind (the receive channel was full).
    pub lost_before: u64,
}

/// What the driver thread tells the stack.
#[derive(Clone, Debug)]
pub enum PortEvent {
    /// The device is open or a peer is connected; bytes flow.
    Up { at: Instant, peer: String },
    /// Bytes from the line.
    Data(RxChunk),
    /// The device closed or failed (loss of signal); it is reopened with backoff.
    Down { at: Instant, reason: String },
}

/// Counters the driver thread keeps (atomics: read by `line watch` while it runs).
#[derive(Debug, Default)]
pub struct PortStats {
    pub rx_bytes: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// Chunks and bytes dropped because the receive channel was full.
    pub rx_dropped_chunks: AtomicU64,
    pub rx_dropped_bytes: AtomicU64,
    /// Bytes handed to the port while the line was down, discarded.
    pub tx_discarded_bytes: AtomicU64,
    /// Times the device was opened or a peer connected.
    pub connects: AtomicU64,
}

impl PortStats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Read a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Tunables of a driver thread.
#[derive(Clone, Debug)]
pub struct PortOptions {
    /// Capacity of the receive channel, in chunks.
    pub rx_capacity: usize,
    /// Largest read, in bytes.
    pub read_size: usize,
    /// How long a read waits before the thread looks at its transmit queue.
    pub poll_interval: Duration,
    /// First and largest wait between reopen attempts.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Serial speed, ignored for TCP.
    pub baud: u32,
}

impl Default for PortOptions {
    fn default() -> Self {
        PortOptions {
            rx_capacity: 256,
            read_size: 4096,
            poll_interval: Duration::from_millis(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            baud: 2_000_000,
        }
    }
}

/// The stack's end of a driver thread.
pub struct LinePort {
    /// Events from the driver thread; bounded.
    pub events: Receiver<PortEvent>,
    /// Bytes to write to the line. Dropping the port closes it and ends the thread.
    pub tx: Sender<Bytes>,
    pub stats: Arc<PortStats>,
    /// Where the line is, for messages.
    pub spec: LineSpec,
    /// The bound address of a `tcp-listen://` line (useful with port 0).
    pub listen_addr: Option<std::net::SocketAddr>,
    thread: Option<JoinHandle<()>>,
}

impl LinePort {
    /// Close the line and wait for the driver thread to finish.
    pub fn close(mut self) {
        let thread = self.thread.take();
        // Dropping our ends of both channels is the driver thread's signal to stop.
        drop(self);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// A byte stream the driver thread can serve: reads time out after the poll interval.
pub(crate) trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// Something that can (re)open the line.
pub(crate) trait Opener: Send + 'static {
    /// Open the device or wait for/establish a connection. May return
    /// `ErrorKind::WouldBlock` to mean "nothing yet, ask again" (a listener with no
    /// peer waiting).
    fn open(&mut self, options: &PortOptions) -> io::Result<(Box<dyn Stream>, String)>;
}

/// Open a line and start its driver thread.
///
/// A serial device is opened once here so that a wrong path is an immediate error; a
/// `tcp-listen://` address is bound here for the same reason. A `tcp://` peer may not be
/// up yet: the thread keeps trying with backoff and reports each failure as `Down`.
pub fn spawn(spec: &LineSpec, options: PortOptions) -> io::Result<LinePort> {
    match spec {
        LineSpec::Serial(path) => {
            let mut opener = serial::SerialOpener::new(path.clone());
            let first = opener.open(&options)?;
            start(spec.clone(), opener, Some(first), None, options)
        }
        LineSpec::Tcp(addr) => start(
            spec.clone(),
            tcp::ConnectOpener::new(addr.clone()),
            None,
            None,
            options,
        ),
        LineSpec::TcpListen(addr) => {
            let opener = tcp::ListenOpener::bind(addr)?;
            let bound = opener.local_addr()?;
            start(spec.clone(), opener, None, Some(bound), options)
        }
    }
}

fn start<O: Opener>(
    spec: LineSpec,
    opener: O,
    first: Option<(Box<dyn Stream>, String)>,
    listen_addr: Option<std::net::SocketAddr>,
    options: PortOptions,
) -> io::Result<LinePort> {
    let (event_tx, events) = crossbeam_channel::bounded(options.rx_capacity.max(1));
    let (tx, tx_queue) = crossbeam_channel::unbounded();
    let stats = Arc::new(PortStats::default());
    let driver = Driver {
        opener,
        options,
        events: event_tx,
        tx_queue,
        stats: stats.clone(),
        lost: 0,
    };
    let thread = std::thread::Builder::new()
        .name(format!("line {spec}"))
        .spawn(move || driver.run(first))?;
    Ok(LinePort {
        events,
        tx,
        stats,
        spec,
        listen_addr,
        thread: Some(thread),
    })
}

/// Why serving a stream ended.
enum Ended {
    /// The stack dropped its port: stop the thread.
    Shutdown,
    /// The device or peer went away: report LOS and reopen.
    Lost(String),
}

struct Driver<O> {
    opener: O,
    options: PortOptions,
    events: Sender<PortEvent>,
    tx_queue: Receiver<Bytes>,
    stats: Arc<PortStats>,
    /// Bytes dropped since the last delivered chunk.
    lost: u64,
}

impl<O: Opener> Driver<O> {
    fn run(mut self, mut first: Option<(Box<dyn Stream>, String)>) {
        let mut backoff = self.options.backoff_min;
        let mut reported_down = false;
        loop {
            let opened = match first.take() {
                Some(s) => Ok(s),
                None => self.opener.open(&self.options),
            };
            match opened {
                Ok((stream, peer)) => {
                    backoff = self.options.backoff_min;
                    PortStats::add(&self.stats.connects, 1);
                    if self.send_state(PortEvent::Up {
                        at: now(),
                        peer: peer.clone(),
                    }) {
                        return;
                    }
                    tracing::info!(%peer, "line up");
                    match self.serve(stream) {
                        Ended::Shutdown => return,
                        Ended::Lost(reason) => {
                            tracing::warn!(%peer, %reason, "line lost");
                            if self.send_state(PortEvent::Down { at: now(), reason }) {
                                return;
                            }
                            reported_down = true;
                        }
                    }
                    // Reconnect at once after a clean drop, back off if it keeps failing.
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // A listener with nobody connected: poll again soon, no backoff.
                    if self.idle_wait(self.options.poll_interval.max(Duration::from_millis(20))) {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    if !reported_down {
                        reported_down = true;
                        let reason = e.to_string();
                        tracing::warn!(%reason, "line cannot be opened; retrying with backoff");
                        if self.send_state(PortEvent::Down { at: now(), reason }) {
                            return;
                        }
                    }
                }
            }
            if self.idle_wait(backoff) {
                return;
            }
            backoff = (backoff * 2).min(self.options.backoff_max);
        }
    }

    /// Send a state change. These must not be lost, so this blocks until the stack takes
    /// it (the line is not delivering data at that moment). Returns true on shutdown.
    fn send_state(&self, event: PortEvent) -> bool {
        self.events.send(event).is_err()
    }

    /// Wait `d` while the line is down, discarding what the stack asks us to send.
    /// Waiting on the transmit queue instead of sleeping means a shutdown wakes us.
    /// Returns true on shutdown.
    fn idle_wait(&self, d: Duration) -> bool {
        let deadline = now() + d;
        loop {
            let left = deadline.saturating_duration_since(now());
            if left.is_zero() {
                return false;
            }
            match self.tx_queue.recv_timeout(left) {
                Ok(bytes) => PortStats::add(&self.stats.tx_discarded_bytes, bytes.len() as u64),
                Err(RecvTimeoutError::Timeout) => return false,
                Err(RecvTimeoutError::Disconnected) => return true,
            }
        }
    }

    fn serve(&mut self, mut stream: Box<dyn Stream>) -> Ended {
        let mut buf = vec![0u8; self.options.read_size.max(1)];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Ended::Lost("closed by the far end".into()),
                Ok(n) => {
                    let read_at = now();
                    PortStats::add(&self.stats.rx_bytes, n as u64);
                    let chunk = RxChunk {
                        read_at,
                        bytes: Bytes::copy_from_slice(&buf[..n]),
                        lost_before: self.lost,
                    };
                    match self.events.try_send(PortEvent::Data(chunk)) {
                        Ok(()) => self.lost = 0,
                        Err(TrySendError::Full(_)) => {
                            // The wire cannot pause: drop, count, report with the next chunk.
                            self.lost += n as u64;
                            PortStats::add(&self.stats.rx_dropped_chunks, 1);
                            PortStats::add(&self.stats.rx_dropped_bytes, n as u64);
                        }
                        Err(TrySendError::Disconnected(_)) => return Ended::Shutdown,
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Ended::Lost(e.to_string()),
            }
            // Write whatever the stack has produced since the last read.
            loop {
                match self.tx_queue.try_recv() {
                    Ok(bytes) => {
                        if let Err(e) = stream.write_all(&bytes) {
                            return Ended::Lost(format!("write failed: {e}"));
                        }
                        PortStats::add(&self.stats.tx_bytes, bytes.len() as u64);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ended::Shutdown,
                }
            }
        }
    }
}

/// The driver thread is an I/O shell: it alone stamps reads with the wall clock.
#[expect(
    clippy::disallowed_methods,
    reason = "I/O shell: the driver thread stamps reads"
)]
fn now() -> Instant {
    Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_spec_parses_every_contract_form() {
        assert_eq!(
            LineSpec::parse("/dev/ttyUSB0"),
            Ok(LineSpec::Serial("/dev/ttyUSB0".into()))
        );
        assert_eq!(
            LineSpec::parse("serial:/dev/ttyS1"),
            Ok(LineSpec::Serial("/dev/ttyS1".into()))
        );
        assert_eq!(
            LineSpec::parse("tcp://127.0.0.1:7001"),
            Ok(LineSpec::Tcp("127.0.0.1:7001".into()))
        );
        assert_eq!(
            LineSpec::parse("tcp-listen://[::1]:7001"),
            Ok(LineSpec::TcpListen("[::1]:7001".into()))
        );
    }

    #[test]
    fn line_spec_refuses_what_the_contract_does_not_name() {
        for bad in [
            "",
            "tty",
            "udp://h:1",
            "tcp://h",
            "tcp://h:port",
            "tcp://:1",
            "tcp://h:1/x",
            "serial:",
            "tcp://h:70000",
        ] {
            assert!(LineSpec::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn line_spec_display_parses_back() {
        for s in [
            "serial:/dev/ttyS1",
            "tcp://h:1",
            "tcp-listen://0.0.0.0:7001",
        ] {
            assert_eq!(LineSpec::parse(s).unwrap().to_string(), s);
        }
    }
}
