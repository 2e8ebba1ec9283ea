//! The simulator on a real line: a [`Pbx`] behind a pacer, over `tcp-listen://`,
//! `tcp://` or a pseudo-terminal. This is an I/O shell: it alone reads the clock.
//!
//! ```text
//!   driver thread (line::transport, or the pty thread here)
//!        │ PortEvent (bounded)            ▲ Bytes
//!        ▼                                │
//!   run(): select!{ port | at(deadline) | stop }  ─▶ Pbx (sans-IO) ─▶ output lines
//!           sim time = start + real elapsed × speed
//! ```
//!
//! The simulator is the clock master: its span is `clock: internal` (unless told
//! otherwise), so it transmits 8000 frames per second of the time it is handed. At
//! `--speed N` that time runs N times faster than the wall clock, so N × 8000 frames go
//! out per real second and every timer (Q.921, Q.931, the scenario's) runs N times
//! faster too; a line-clocked gateway simply follows the faster line.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, select};

use super::pbx::{Event, Pbx, PbxConfig, Report};
use super::scenario::Scenario;
use crate::line::transport::{self, LineSpec, PortEvent, PortOptions, RxChunk};

/// Where the simulator's line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimLine {
    /// `tcp-listen://HOST:PORT`: wait for the gateway to connect.
    Listen(String),
    /// `tcp://HOST:PORT`: connect to a gateway listening there.
    Connect(String),
    /// A new pseudo-terminal; its slave path is the first output line (`PTY /dev/pts/N`).
    Pty,
    /// A serial device or another simulator's pty slave (sim against sim over a pty).
    Serial(std::path::PathBuf),
}

/// Where the run's lines go.
#[derive(Clone, Debug)]
pub enum Output {
    /// Printed on stdout as they happen.
    Stdout,
    /// Sent on a channel (an in-process simulator, a test).
    Channel(Sender<String>),
    /// Only the [`Report`] is kept.
    Quiet,
}

/// How to run a simulator on a real line.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub line: SimLine,
    pub pbx: PbxConfig,
    /// Line and timers run this many times faster than real time (at least 0.01).
    pub speed: f64,
    pub output: Output,
    /// A message (or the sender dropped) ends the run.
    pub stop: Option<Receiver<()>>,
    /// End the run after this long of real time (the passive PBX otherwise runs until
    /// stopped).
    pub duration: Option<Duration>,
}

impl SimOptions {
    /// Real time, output on stdout, no stop channel, no time limit.
    pub fn new(line: SimLine, pbx: PbxConfig) -> Self {
        SimOptions {
            line,
            pbx,
            speed: 1.0,
            output: Output::Stdout,
            stop: None,
            duration: None,
        }
    }
}

/// Run `scenario` on the line until it is finished (or stopped), printing every check
/// and the final `N passed, N failed`. Blocks; errors only if the line cannot be opened.
pub fn run(options: SimOptions, scenario: &Scenario) -> io::Result<Report> {
    let speed = if options.speed.is_finite() {
        options.speed.max(0.01)
    } else {
        1.0
    };
    let mut out = Printer {
        output: options.output.clone(),
    };
    let line = open(&options.line, &mut out)?;
    let real_start = now();
    // Sim time starts at the real start and runs `speed` times faster.
    let epoch = real_start;
    let to_sim = |real: Instant| epoch + real.saturating_duration_since(real_start).mul_f64(speed);
    let to_real = |sim: Instant| real_start + sim.saturating_duration_since(epoch).div_f64(speed);
    let mut pbx = Pbx::new(options.pbx.clone(), scenario, epoch);
    out.line(&format!("scenario: {}", scenario.description));
    let stop = options
        .stop
        .clone()
        .unwrap_or_else(crossbeam_channel::never);
    let until = options.duration.map_or_else(crossbeam_channel::never, |d| {
        crossbeam_channel::at(real_start + d)
    });
    // Handed times never go backwards, even if a read was stamped before a timeout ran.
    let mut last = epoch;
    let mono = |last: &mut Instant, t: Instant| {
        *last = (*last).max(t);
        *last
    };
    loop {
        let real_now = now();
        // Wake no more often than every half millisecond of real time: at high speeds
        // the span's 1 ms transmit batches become larger rather than more frequent.
        let deadline = pbx
            .poll_timeout()
            .map_or(real_now + Duration::from_millis(100), to_real)
            .max(real_now + Duration::from_micros(500));
        select! {
            recv(line.events) -> event => {
                let Ok(event) = event else {
                    pbx.finish("the line's driver stopped");
                    break;
                };
                match event {
                    PortEvent::Data(RxChunk { read_at, bytes, lost_before }) => {
                        let t = mono(&mut last, to_sim(read_at));
                        if lost_before > 0 {
                            pbx.handle_rx_lost(t, lost_before);
                        }
                        pbx.handle_rx(t, &bytes);
                    }
                    PortEvent::Up { at, peer } => {
                        out.line(&format!("transport up: {peer}"));
                        pbx.handle_transport_up(mono(&mut last, to_sim(at)));
                    }
                    PortEvent::Down { at, reason } => {
                        out.line(&format!("transport down: {reason}"));
                        pbx.handle_transport_down(mono(&mut last, to_sim(at)));
                    }
                }
            }
            recv(crossbeam_channel::at(deadline)) -> _ => {}
            recv(stop) -> _ => pbx.finish("stopped"),
            recv(until) -> _ => pbx.finish("time limit reached"),
        }
        // The internal clock transmits on timeouts: give it the time on every turn.
        pbx.handle_timeout(mono(&mut last, to_sim(now())));
        while let Some(bytes) = pbx.poll_transmit() {
            if line.tx.send(bytes).is_err() {
                break;
            }
        }
        let mut finished = false;
        while let Some(event) = pbx.poll_event() {
            match event {
                Event::Finished => finished = true,
                Event::Info(text) => out.note(&text, pbx_time(&last, epoch)),
                check @ Event::Check { .. } => out.line(&check.line()),
            }
        }
        if finished {
            break;
        }
    }
    let report = pbx.report().clone();
    out.line(&report.summary());
    drop(line);
    Ok(report)
}

fn pbx_time(last: &Instant, epoch: Instant) -> Duration {
    last.saturating_duration_since(epoch)
}

/// Either a driver thread of the line layer, or the pty thread.
struct Line {
    events: Receiver<PortEvent>,
    tx: Sender<Bytes>,
    _port: Option<transport::LinePort>,
}

fn open(line: &SimLine, out: &mut Printer) -> io::Result<Line> {
    let options = PortOptions {
        poll_interval: Duration::from_millis(2),
        ..PortOptions::default()
    };
    match line {
        SimLine::Listen(addr) => {
            let port = transport::spawn(&LineSpec::TcpListen(addr.clone()), options)?;
            let bound = port
                .listen_addr
                .map_or_else(|| addr.clone(), |a| a.to_string());
            out.line(&format!("LISTEN {bound}"));
            Ok(Line {
                events: port.events.clone(),
                tx: port.tx.clone(),
                _port: Some(port),
            })
        }
        SimLine::Connect(addr) => {
            let port = transport::spawn(&LineSpec::Tcp(addr.clone()), options)?;
            out.line(&format!("CONNECT {addr}"));
            Ok(Line {
                events: port.events.clone(),
                tx: port.tx.clone(),
                _port: Some(port),
            })
        }
        SimLine::Serial(path) => {
            let port = transport::spawn(&LineSpec::Serial(path.clone()), options)?;
            out.line(&format!("SERIAL {}", path.display()));
            Ok(Line {
                events: port.events.clone(),
                tx: port.tx.clone(),
                _port: Some(port),
            })
        }
        SimLine::Pty => {
            let (events, tx, path) = spawn_pty()?;
            out.line(&format!("PTY {path}"));
            Ok(Line {
                events,
                tx,
                _port: None,
            })
        }
    }
}

/// A pseudo-terminal pair: we serve the master, the gateway opens the slave path. We
/// keep the slave open too, so that reads on the master do not fail while nobody else
/// has it open; what we write then fills the pty's buffer and is dropped once full
/// (a line nobody listens to).
fn spawn_pty() -> io::Result<(Receiver<PortEvent>, Sender<Bytes>, String)> {
    use serialport::SerialPort as _;
    let (mut master, slave) = serialport::TTYPort::pair()
        .map_err(|e| io::Error::other(format!("cannot create a pty: {e}")))?;
    let path = slave
        .name()
        .ok_or_else(|| io::Error::other("the pty has no slave path"))?;
    master
        .set_timeout(Duration::from_millis(2))
        .map_err(|e| io::Error::other(format!("pty: {e}")))?;
    let (event_tx, events) = crossbeam_channel::bounded(256);
    let (tx, tx_queue) = crossbeam_channel::unbounded::<Bytes>();
    std::thread::Builder::new()
        .name(format!("sim pty {path}"))
        .spawn(move || {
            let _slave = slave;
            let _ = event_tx.send(PortEvent::Up {
                at: now(),
                peer: "pty".into(),
            });
            let mut buf = vec![0u8; 4096];
            let mut lost = 0u64;
            loop {
                match master.read(&mut buf) {
                    Ok(0) => {}
                    Ok(n) => {
                        let chunk = RxChunk {
                            read_at: now(),
                            bytes: Bytes::copy_from_slice(&buf[..n]),
                            lost_before: lost,
                        };
                        match event_tx.try_send(PortEvent::Data(chunk)) {
                            Ok(()) => lost = 0,
                            Err(TrySendError::Full(_)) => lost += n as u64,
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::TimedOut
                                | io::ErrorKind::WouldBlock
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => {
                        let _ = event_tx.send(PortEvent::Down {
                            at: now(),
                            reason: e.to_string(),
                        });
                        return;
                    }
                }
                let mut full = false;
                loop {
                    match tx_queue.try_recv() {
                        // A full pty buffer (nobody reading the slave): drop what is
                        // queued rather than fall behind the pacer.
                        Ok(_) if full => {}
                        Ok(bytes) => {
                            let mut rest: &[u8] = &bytes;
                            while !rest.is_empty() {
                                match master.write(rest) {
                                    Ok(0) | Err(_) => {
                                        full = true;
                                        break;
                                    }
                                    Ok(n) => rest = &rest[n..],
                                }
                            }
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return,
                    }
                }
            }
        })?;
    Ok((events, tx, path))
}

struct Printer {
    output: Output,
}

impl Printer {
    fn line(&mut self, text: &str) {
        match &self.output {
            Output::Stdout => {
                let mut out = io::stdout().lock();
                // A closed stdout (piped into `head`) must not stop the simulator.
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
            Output::Channel(tx) => {
                let _ = tx.send(text.to_string());
            }
            Output::Quiet => {}
        }
    }

    /// A note, stamped with the simulator's own time (seconds since it started).
    fn note(&mut self, text: &str, sim: Duration) {
        self.line(&format!("[{:9.3}] {text}", sim.as_secs_f64()));
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "I/O shell: the simulator's pacer"
)]
fn now() -> Instant {
    Instant::now()
}
