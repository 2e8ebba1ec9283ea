//! `dialgate line watch`: the turn-up tool an engineer runs first.
//!
//! It opens one span through the same driver thread and sans-IO stack the gateway uses
//! ([`Pri`]: the line's framing, alarms and HDLC, with Q.921 and Q.931 on top), and
//! prints what the line is doing: connection and LOS, frame alignment and alarm changes
//! as they happen, the counters once a second, and each D-channel frame in hex with its
//! direction and its Q.921 decode, then each Q.931 message decoded like Cisco's
//! `debug isdn q931`. It also transmits like the gateway would (framed idle line, HDLC
//! flags, RAI while in red alarm, LAPD establishment), so the far end sees a healthy
//! peer and its D-channel comes up. It places no calls and refuses incoming ones with
//! cause 21 (call rejected): it is a watch, not a router.
//!
//! This is an I/O shell: it alone reads the clock and blocks, on crossbeam only
//! (`docs/architecture.md`, the stack-thread loop).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, select};

use crate::cli::WatchArgs;
use crate::config::{Hardware, Side, SpanDef, SwitchType};
use crate::isdn::lapd::{self, Frame};
use crate::isdn::q931::{Cause, Variant};
use crate::isdn::{self, Direction, Pri, pri};
use crate::line::alarm::Alarm;
use crate::line::pcap::{self, PcapWriter};
use crate::line::span;
use crate::line::transport::{self, PortEvent, PortOptions, PortStats};

pub(super) fn run(args: &WatchArgs) -> ExitCode {
    match watch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dialgate line watch: {message}");
            ExitCode::from(2)
        }
    }
}

fn watch(args: &WatchArgs) -> Result<(), String> {
    let hardware = Hardware::load(&args.hardware).map_err(|e| e.to_string())?;
    let def = pick_span(&hardware, args.span.as_deref())?;
    let pcap = match args.pcap.as_ref().or(def.pcap.as_ref()) {
        None => None,
        Some(path) => {
            let file = File::create(path)
                .map_err(|e| format!("cannot create capture {}: {e}", path.display()))?;
            let side = match def.side {
                Side::User => pcap::Side::User,
                Side::Network => pcap::Side::Network,
            };
            let writer = PcapWriter::new(BufWriter::new(file), side)
                .map_err(|e| format!("cannot write capture {}: {e}", path.display()))?;
            Some(writer)
        }
    };
    let options = PortOptions {
        baud: def.baud,
        ..PortOptions::default()
    };
    let port = transport::spawn(&def.line, options)
        .map_err(|e| format!("cannot open {}: {e}", def.line))?;
    let stop = stop_signal()?;

    let start = now();
    let mut out = Printer {
        start,
        stdout: std::io::stdout(),
    };
    out.line(&format!(
        "watching {} ({}, {}, clock {:?}, {} side); Ctrl-C stops",
        def.name,
        describe_framing(def),
        def.line,
        def.config.clock,
        def.side
    ));

    let side = match def.side {
        Side::User => lapd::Side::User,
        Side::Network => lapd::Side::Network,
    };
    let mut d = isdn::Config::new(side, variant(def.switch), def.b_channels.clone());
    d.trace = true;
    let mut pri = Pri::new(def.config.clone(), d, start);
    pri.set_frame_events(true);
    let mut watch = Watcher {
        pri,
        side,
        pcap,
        out,
    };
    let ticker = match args.counters_every {
        0 => crossbeam_channel::never(),
        s => crossbeam_channel::tick(Duration::from_secs(s)),
    };
    let until = match args.duration {
        Some(d) if d.is_finite() && d >= 0.0 => {
            crossbeam_channel::at(start + Duration::from_secs_f64(d))
        }
        Some(d) => return Err(format!("--duration {d} is not a number of seconds")),
        None => crossbeam_channel::never(),
    };

    loop {
        // With nothing scheduled, wake once a second anyway: handle_timeout is idempotent.
        let deadline = watch
            .pri
            .poll_timeout()
            .unwrap_or_else(|| now() + Duration::from_secs(1));
        select! {
            recv(port.events) -> event => {
                let Ok(event) = event else { break };
                watch.handle_port_event(event);
            }
            recv(crossbeam_channel::at(deadline)) -> _ => watch.pri.handle_timeout(now()),
            recv(ticker) -> _ => watch.print_counters(&port.stats),
            recv(stop) -> _ => break,
            recv(until) -> _ => break,
        }
        while let Some(bytes) = watch.pri.poll_transmit() {
            // A closed port means the driver is gone; the events channel tells us next.
            let _ = port.tx.send(bytes);
        }
        watch.drain_events();
    }
    watch.print_counters(&port.stats);
    if let Some(mut p) = watch.pcap.take() {
        p.flush().map_err(|e| format!("capture: {e}"))?;
    }
    port.close();
    Ok(())
}

fn pick_span<'a>(hardware: &'a Hardware, name: Option<&str>) -> Result<&'a SpanDef, String> {
    let names = || {
        hardware
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => hardware
            .span(n)
            .ok_or_else(|| format!("no span named `{n}`; defined: {}", names())),
        None => hardware
            .spans
            .first()
            .ok_or_else(|| "the hardware files define no spans".to_string()),
    }
}

fn describe_framing(def: &SpanDef) -> String {
    use crate::line::{Framing, T1Framing};
    match def.config.framing {
        Framing::T1(T1Framing::Esf) => "T1 ESF".into(),
        Framing::T1(T1Framing::Sf) => "T1 SF".into(),
        Framing::E1 { crc4: true } => "E1 CRC-4".into(),
        Framing::E1 { crc4: false } => "E1 no CRC-4".into(),
    }
}

struct Watcher<W: Write> {
    pri: Pri,
    /// Our side of the interface: who sent a frame decides what its C/R bit means.
    side: lapd::Side,
    pcap: Option<PcapWriter<W>>,
    out: Printer,
}

impl<W: Write> Watcher<W> {
    fn handle_port_event(&mut self, event: PortEvent) {
        match event {
            PortEvent::Data(chunk) => {
                if chunk.lost_before > 0 {
                    self.out.line(&format!(
                        "receive overflow: {} bytes dropped (counted as a slip)",
                        chunk.lost_before
                    ));
                    self.pri.handle_rx_lost(chunk.read_at, chunk.lost_before);
                }
                self.pri.handle_rx(chunk.read_at, &chunk.bytes);
            }
            PortEvent::Up { at, peer } => {
                self.out.line(&format!("transport up: {peer}"));
                self.pri.handle_transport_up(at);
            }
            PortEvent::Down { at, reason } => {
                self.out.line(&format!("transport down: {reason}"));
                self.pri.handle_transport_down(at);
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.pri.poll_event() {
            match event {
                pri::Event::Frame { direction, frame } => self.frame(direction, &frame),
                pri::Event::Line(event) => self.out.line(&describe_event(&event)),
                pri::Event::Isdn(event) => self.isdn_event(event),
            }
        }
    }

    /// `TX -> D 00 01 7F  SABMEp sapi=0 tei=0`, and the frame into the capture.
    fn frame(&mut self, direction: Direction, frame: &[u8]) {
        let (arrow, sender) = match direction {
            Direction::Transmit => ("TX ->", self.side),
            Direction::Receive => ("RX <-", self.side.peer()),
        };
        let decoded = match Frame::decode(frame) {
            Ok(f) => f.display(sender).to_string(),
            Err(e) => format!("invalid LAPD frame: {e}"),
        };
        self.out
            .line(&format!("{arrow} D {}  {decoded}", hex(frame)));
        let capture_direction = match direction {
            Direction::Transmit => pcap::Direction::Sent,
            Direction::Receive => pcap::Direction::Received,
        };
        if let Some(p) = self.pcap.as_mut()
            && let Err(e) = p.write_frame(wall_clock(), capture_direction, frame)
        {
            self.out.line(&format!("capture stopped: {e}"));
            self.pcap = None;
        }
    }

    fn isdn_event(&mut self, event: isdn::Event) {
        match event {
            isdn::Event::Trace { direction, message } => {
                let arrow = match direction {
                    Direction::Transmit => "TX ->",
                    Direction::Receive => "RX <-",
                };
                let text = message.to_string();
                let mut lines = text.lines();
                let first = lines.next().unwrap_or_default();
                let mut block = format!("Q931: {arrow} {first}");
                for l in lines {
                    block.push_str("\n            ");
                    block.push_str(l);
                }
                self.out.line(&block);
            }
            isdn::Event::LinkUp => self
                .out
                .line("D-channel up (Q.921 multiple-frame established)"),
            isdn::Event::LinkDown => self.out.line("D-channel down"),
            isdn::Event::Setup(setup) => {
                let number = |n: &Option<isdn::q931::ie::PartyNumber>| {
                    n.as_ref()
                        .map_or_else(|| "(none)".to_string(), |n| n.digits.clone())
                };
                self.out.line(&format!(
                    "incoming call to {} from {} on B{}: refused with cause 21 (line watch routes no calls)",
                    number(&setup.called),
                    number(&setup.calling),
                    setup.channel
                ));
                self.pri.handle_command(
                    now(),
                    isdn::Command::Release {
                        call: setup.call,
                        cause: Cause::CALL_REJECTED,
                        progress: None,
                    },
                );
            }
            isdn::Event::ChannelsOutOfService { channels } => {
                self.out.line(&format!(
                    "B-channels out of service (RESTART unanswered): {channels:?}"
                ));
            }
            isdn::Event::Cleared { call, cause, .. } => {
                let name = cause.name().unwrap_or("unknown cause");
                self.out.line(&format!(
                    "call {} cleared: cause {} ({name})",
                    call.0, cause.0
                ));
            }
            other => self.out.line(&format!("call: {other:?}")),
        }
    }

    fn print_counters(&mut self, stats: &PortStats) {
        let c = self.pri.span().counters();
        let st = self.pri.span().status();
        let h = &c.hdlc;
        self.out.line(&format!(
            "counters: {} | rx {} frames, tx {} | framing errors {}, CRC errors {}, far-end block errors {}, OOF {}, slips {} | HDLC good {}, bad FCS {}, aborted {}, short {}, long {}, non-octet {} | line rx {} B, dropped {} B",
            describe_status(&st),
            c.frames_rx,
            c.frames_tx,
            c.framing_bit_errors,
            c.crc_errors,
            c.far_end_block_errors,
            c.oof,
            c.slips,
            h.good,
            h.bad_fcs,
            h.aborted,
            h.too_short,
            h.too_long,
            h.non_octet,
            PortStats::get(&stats.rx_bytes),
            PortStats::get(&stats.rx_dropped_bytes),
        ));
    }
}

/// The Q.931 dialect a hardware `switch:` names.
fn variant(switch: SwitchType) -> Variant {
    match switch {
        SwitchType::National => Variant::National,
        SwitchType::Ess5 => Variant::Ess5,
        SwitchType::Dms100 => Variant::Dms100,
        SwitchType::EuroIsdn => Variant::EuroIsdn,
    }
}

/// `up, aligned` or `down, alarms LOS red RAI`.
fn describe_status(st: &span::Status) -> String {
    let mut s = String::from(if st.up { "up" } else { "down" });
    s.push_str(if st.aligned {
        ", aligned"
    } else {
        ", not aligned"
    });
    let a = &st.alarms;
    let active: Vec<&str> = [
        (a.los, "LOS"),
        (a.oof, "OOF"),
        (a.red, "red"),
        (a.ais, "AIS"),
        (a.rai, "RAI"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    if !active.is_empty() {
        let _ = write!(s, ", alarms {}", active.join(" "));
    }
    s
}

fn alarm_name(alarm: Alarm) -> &'static str {
    match alarm {
        Alarm::Los => "LOS (loss of signal)",
        Alarm::Oof => "OOF (out of frame)",
        Alarm::Red => "red (loss of frame)",
        Alarm::Ais => "AIS (blue, unframed all ones)",
        Alarm::Rai => "RAI (yellow, far end lost our signal)",
    }
}

fn describe_event(event: &span::Event) -> String {
    match event {
        span::Event::FrameAlignment { aligned: true } => "frame alignment found".into(),
        span::Event::FrameAlignment { aligned: false } => "frame alignment lost".into(),
        span::Event::Alarm { alarm, active } => format!(
            "alarm {} {}",
            alarm_name(*alarm),
            if *active { "raised" } else { "cleared" }
        ),
        span::Event::SpanUp => "span up".into(),
        span::Event::SpanDown => "span down".into(),
        span::Event::DFrame(frame) => format!("RX D {}", hex(frame)),
    }
}

/// `00 01 7F`
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Lines stamped with seconds since the watch began, like `tcpdump -ttttt`.
struct Printer {
    start: Instant,
    stdout: std::io::Stdout,
}

impl Printer {
    fn line(&mut self, text: &str) {
        let t = now().saturating_duration_since(self.start).as_secs_f64();
        let mut out = self.stdout.lock();
        // A closed stdout (piped into `head`) must not crash the tool.
        let _ = writeln!(out, "[{t:9.3}] {text}");
        let _ = out.flush();
    }
}

/// SIGINT and SIGTERM, delivered as a channel message so the loop can `select!` on it.
fn stop_signal() -> Result<Receiver<()>, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                let _ = tx.try_send(());
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(rx)
}

#[expect(
    clippy::disallowed_methods,
    reason = "I/O shell: line watch drives the clock"
)]
fn now() -> Instant {
    Instant::now()
}

/// Capture timestamps are wall-clock time, as Wireshark shows them.
#[expect(clippy::disallowed_methods, reason = "I/O shell: capture timestamps")]
fn wall_clock() -> SystemTime {
    SystemTime::now()
}
