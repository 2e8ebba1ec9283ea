//! One span as the rest of the gateway sees it: line bytes in and out, D-channel frames,
//! B-channel samples, alarms and span up/down. Sans-IO: contract `spec/line-format.md`
//! sections 2 to 7.
//!
//! ```text
//!  handle_rx ─▶ t1/e1::Receiver ─frames─▶ Timeslots ─D octets─▶ hdlc::Decoder ─▶ Event::DFrame
//!                    │ indications (stamped with their stream bit)
//!                    ▼
//!              alarm::Machine ─▶ Event::Alarm / SpanUp / SpanDown, "send RAI"
//!                    │
//!  clock: line      one tx frame per 193/256 received bits (lost bytes included)
//!  clock: internal  8000 frames/s from `now`, in 1 ms batches (poll_timeout)
//!                    ▼
//!  send_d_frame ─▶ hdlc::Encoder ─▶ Timeslots ─▶ t1/e1::Transmitter ─▶ poll_transmit
//! ```
//!
//! Line time for the red-alarm and recovery integrators is the number of frame-lengths
//! of bits received (and reported lost), so it follows the far end's clock: at
//! `--speed N` or in a test pushing bytes as fast as it can, 2.5 s of OOF is 20000
//! frames, not 2.5 s of wall time. LOS is the only wall-time alarm.
//!
//! Span up/down follows [`alarm::Machine`]: down on red, LOS or AIS (a brief OOF does
//! not clear calls), up once alignment has held `recovery_after`, at start-up too. RAI
//! from the far end is reported and makes [`Status::accepts_new_calls`] false but does
//! not take the span down (contract: "span down for new calls"). While red, LOS or AIS
//! we send RAI. B-channel samples are buffered per open channel, bounded (see
//! [`timeslot`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::alarm::{self, Alarm, Indication};
use super::timeslot::{self, Timeslots};
use super::{Clock, Framing, SpanConfig, e1, hdlc, t1};

/// What the span tells the layer above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Frame alignment found or lost.
    FrameAlignment { aligned: bool },
    /// An alarm started or stopped.
    Alarm { alarm: Alarm, active: bool },
    /// The span is usable: alignment has held for `recovery_after` with no LOS/AIS.
    SpanUp,
    /// The span is down (red, LOS or AIS): release Q.921, clear the calls.
    SpanDown,
    /// A good D-channel frame, address to information, FCS removed.
    DFrame(Bytes),
}

/// Everything counted on the span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub frames_rx: u64,
    pub frames_tx: u64,
    /// FPS/Ft/Fs bits (T1) or FAS words (E1) in error while in frame.
    pub framing_bit_errors: u64,
    /// CRC-6 superframes or CRC-4 sub-multiframes in error.
    pub crc_errors: u64,
    /// E bits received at 0 (E1 CRC-4).
    pub far_end_block_errors: u64,
    /// Realignments onto a new bit position plus driver drops.
    pub slips: u64,
    /// Losses of frame alignment.
    pub oof: u64,
    /// Bytes the driver reported dropped.
    pub rx_bytes_lost: u64,
    /// The HDLC decoder's counters.
    pub hdlc: hdlc::Counters,
    /// B-channel buffer overflows and underruns.
    pub timeslots: timeslot::Counters,
}

/// A snapshot of the span state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub aligned: bool,
    /// E1 with CRC-4: whether the multiframe is found (always false otherwise).
    pub multiframe_aligned: bool,
    pub alarms: alarm::Status,
    pub up: bool,
}

impl Status {
    /// Whether new calls may be placed: up and the far end reports no remote alarm.
    pub fn accepts_new_calls(&self) -> bool {
        self.up && !self.alarms.rai
    }
}

#[derive(Debug)]
enum Receiver {
    T1(t1::Receiver),
    E1(e1::Receiver),
}

#[derive(Debug)]
enum Transmitter {
    T1(t1::Transmitter),
    E1(e1::Transmitter),
}

/// Frames per internal-clock batch: one poll_timeout every millisecond.
const BATCH_FRAMES: u64 = 8;
const FRAME_TIME: Duration = Duration::from_micros(125);

/// The sans-IO span.
#[derive(Debug)]
pub struct Span {
    config: SpanConfig,
    rx: Receiver,
    tx: Transmitter,
    alarms: alarm::Machine,
    timeslots: Timeslots,
    decoder: hdlc::Decoder,
    encoder: hdlc::Encoder,
    events: VecDeque<Event>,
    counters: Counters,
    /// Received plus reported-lost line bits: line time and the line clock.
    line_bits: u64,
    /// Lost bits before the receiver's current stream position, to map its positions
    /// to line time.
    lost_bits: u64,
    /// Internal clock epoch.
    started: Instant,
    tx_out: Vec<u8>,
    /// Scratch: D octets of one handle_rx.
    d_octets: Vec<u8>,
    /// E1: receiver CRC errors already reported to the transmitter's E bits.
    reported_crc_errors: u64,
    /// Slips from driver drops, kept apart from the framer's realignment slips.
    lost_slips: u64,
    /// RAI asked for from above (a simulator's fault), sent whatever our alarms say.
    forced_rai: bool,
}

impl Span {
    /// A span that is down and hunting, created at `now`.
    pub fn new(config: SpanConfig, now: Instant) -> Self {
        let (rx, tx) = match config.framing {
            Framing::T1(f) => (
                Receiver::T1(t1::Receiver::new(f)),
                Transmitter::T1(t1::Transmitter::new(f)),
            ),
            Framing::E1 { crc4 } => (
                Receiver::E1(e1::Receiver::new(crc4)),
                Transmitter::E1(e1::Transmitter::new(crc4)),
            ),
        };
        Span {
            alarms: alarm::Machine::new(
                config.red_alarm_after,
                config.recovery_after,
                config.los_after,
                now,
            ),
            timeslots: Timeslots::new(config.framing, config.law),
            config,
            rx,
            tx,
            decoder: hdlc::Decoder::new(),
            encoder: hdlc::Encoder::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            line_bits: 0,
            lost_bits: 0,
            started: now,
            tx_out: Vec::new(),
            d_octets: Vec::new(),
            reported_crc_errors: 0,
            lost_slips: 0,
            forced_rai: false,
        }
    }

    /// The configuration the span was made with.
    pub fn config(&self) -> &SpanConfig {
        &self.config
    }

    fn frame_bits(&self) -> u64 {
        self.config.framing.frame_bits() as u64
    }

    /// Line bytes from the transport.
    pub fn handle_rx(&mut self, now: Instant, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.alarms.handle_signal(now);
        self.lift_alarm_events();
        self.line_bits += 8 * bytes.len() as u64;
        let timeslots = &mut self.timeslots;
        let d = &mut self.d_octets;
        d.clear();
        match &mut self.rx {
            Receiver::T1(rx) => {
                rx.handle_rx(bytes, |f| d.push(timeslots.handle_rx_frame(&f.timeslots)))
            }
            Receiver::E1(rx) => {
                rx.handle_rx(bytes, |f| d.push(timeslots.handle_rx_frame(&f.timeslots)))
            }
        }
        let events = &mut self.events;
        self.decoder.decode(&self.d_octets, |frame| {
            events.push_back(Event::DFrame(Bytes::copy_from_slice(frame)))
        });
        self.after_rx();
        if self.config.clock == Clock::Line {
            let due = self.line_bits / self.frame_bits();
            self.transmit_until(due);
        } else {
            self.pump_internal(now);
        }
    }

    /// The driver dropped `lost_bytes`: count a slip; the lost bits still count as line
    /// time (the far end sent them) and for the line clock.
    pub fn handle_rx_lost(&mut self, now: Instant, lost_bytes: u64) {
        if lost_bytes == 0 {
            return;
        }
        self.counters.rx_bytes_lost += lost_bytes;
        self.lost_slips += 1;
        self.counters.slips += 1;
        self.line_bits += 8 * lost_bytes;
        self.lost_bits += 8 * lost_bytes;
        self.alarms
            .handle_line_time(self.line_bits / self.frame_bits());
        self.lift_alarm_events();
        if self.config.clock == Clock::Line {
            let due = self.line_bits / self.frame_bits();
            self.transmit_until(due);
        } else {
            self.pump_internal(now);
        }
    }

    /// The transport closed or failed: LOS, and the framer hunts afresh afterwards.
    pub fn handle_transport_down(&mut self, now: Instant) {
        self.alarms.handle_transport_down(now);
        match &mut self.rx {
            Receiver::T1(rx) => rx.reset(),
            Receiver::E1(rx) => rx.reset(),
        }
        self.after_rx();
    }

    /// The transport is open again; LOS clears when bytes arrive.
    pub fn handle_transport_up(&mut self, now: Instant) {
        self.alarms.handle_transport_up(now);
        self.lift_alarm_events();
    }

    /// Timers: LOS and the internal transmit clock. Idempotent; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.alarms.handle_timeout(now);
        self.lift_alarm_events();
        if self.config.clock == Clock::Internal {
            self.pump_internal(now);
        }
    }

    /// The next instant `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let los = self.alarms.poll_timeout();
        let clock = (self.config.clock == Clock::Internal).then(|| {
            let next = (self.counters.frames_tx / BATCH_FRAMES + 1) * BATCH_FRAMES;
            self.started + frames_to_duration(next)
        });
        match (los, clock) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Send the remote alarm indication while `on`, even with no alarm of our own (the
    /// simulator's RAI fault); our own red, LOS and AIS still send it regardless.
    pub fn set_send_rai(&mut self, on: bool) {
        self.forced_rai = on;
    }

    /// Queue a LAPD frame (without FCS) for the D-channel.
    pub fn send_d_frame(&mut self, frame: &[u8]) {
        self.encoder.push_frame(frame);
    }

    /// Line bytes to write, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.tx_out.is_empty() {
            return None;
        }
        Some(Bytes::from(std::mem::take(&mut self.tx_out)))
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// All counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Alignment, alarms and up/down.
    pub fn status(&self) -> Status {
        let (aligned, multiframe_aligned) = match &self.rx {
            Receiver::T1(rx) => (rx.is_aligned(), false),
            Receiver::E1(rx) => (rx.is_aligned(), rx.is_multiframe_aligned()),
        };
        let alarms = self.alarms.status();
        Status {
            aligned,
            multiframe_aligned,
            alarms,
            up: alarms.up,
        }
    }

    /// Start carrying B-channel `channel` (T1 1..=23, E1 1..=15, 17..=31): received
    /// samples are kept for [`Span::read_b_samples`], written ones are sent. Returns
    /// false for a number that is not a B-channel of this span.
    pub fn open_b_channel(&mut self, channel: u8) -> bool {
        self.timeslots.open(channel)
    }

    /// Stop carrying `channel`; it returns to the idle code.
    pub fn close_b_channel(&mut self, channel: u8) {
        self.timeslots.close(channel);
    }

    /// Take up to `out.len()` received samples of an open channel; returns how many.
    pub fn read_b_samples(&mut self, channel: u8, out: &mut [u8]) -> usize {
        self.timeslots.read_samples(channel, out)
    }

    /// Queue samples to send on an open channel (bounded: the oldest are dropped and
    /// counted when more than 200 ms is queued). Returns false if it is not open.
    pub fn write_b_samples(&mut self, channel: u8, samples: &[u8]) -> bool {
        self.timeslots.write_samples(channel, samples)
    }

    /// Lift receiver indications into the alarm machine (in stream order, each at its
    /// own line time) and refresh the counters.
    fn after_rx(&mut self) {
        let fb = self.frame_bits();
        loop {
            let ind = match &mut self.rx {
                Receiver::T1(rx) => rx.poll_indication(),
                Receiver::E1(rx) => rx.poll_indication(),
            };
            let Some(ind) = ind else { break };
            let at = match ind {
                Indication::Alignment { at_bit, aligned } => {
                    self.events.push_back(Event::FrameAlignment { aligned });
                    at_bit
                }
                Indication::Ais { at_bit, .. } | Indication::Rai { at_bit, .. } => at_bit,
            };
            self.alarms
                .handle_indication(ind, (at + self.lost_bits) / fb);
            self.lift_alarm_events();
        }
        self.alarms.handle_line_time(self.line_bits / fb);
        self.lift_alarm_events();
        let c = &mut self.counters;
        let slips_lost = self.lost_slips;
        match &self.rx {
            Receiver::T1(rx) => {
                let r = rx.counters();
                c.frames_rx = r.frames;
                c.framing_bit_errors = r.framing_bit_errors;
                c.crc_errors = r.crc_errors;
                c.slips = r.slips + slips_lost;
                c.oof = r.oof;
            }
            Receiver::E1(rx) => {
                let r = rx.counters();
                c.frames_rx = r.frames;
                c.framing_bit_errors = r.framing_bit_errors;
                c.crc_errors = r.crc_errors;
                c.far_end_block_errors = r.far_end_block_errors;
                c.slips = r.slips + slips_lost;
                c.oof = r.oof;
            }
        }
        c.hdlc = *self.decoder.counters();
        c.timeslots = *self.timeslots.counters();
        if let Transmitter::E1(tx) = &mut self.tx {
            let new = self.counters.crc_errors - self.reported_crc_errors;
            tx.report_errored_blocks(new);
            self.reported_crc_errors = self.counters.crc_errors;
        }
    }

    fn lift_alarm_events(&mut self) {
        while let Some(e) = self.alarms.poll_event() {
            self.events.push_back(match e {
                alarm::Event::Alarm { alarm, active } => Event::Alarm { alarm, active },
                alarm::Event::SpanUp => Event::SpanUp,
                alarm::Event::SpanDown => Event::SpanDown,
            });
        }
    }

    fn pump_internal(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.started);
        let due = (elapsed.as_nanos() / FRAME_TIME.as_nanos()) as u64;
        self.transmit_until(due);
    }

    /// Build and pack frames until `frames_tx == due`.
    fn transmit_until(&mut self, due: u64) {
        let rai = self.alarms.sends_rai() || self.forced_rai;
        match &mut self.tx {
            Transmitter::T1(tx) => tx.set_rai(rai),
            Transmitter::E1(tx) => tx.set_rai(rai),
        }
        while self.counters.frames_tx < due {
            let mut d = [0u8; 1];
            self.encoder.fill(&mut d);
            match &mut self.tx {
                Transmitter::T1(tx) => {
                    let mut ts = [0u8; 24];
                    self.timeslots.build_tx_frame(d[0], &mut ts);
                    tx.push_frame(&ts, &mut self.tx_out);
                }
                Transmitter::E1(tx) => {
                    let mut ts = [0u8; 32];
                    self.timeslots.build_tx_frame(d[0], &mut ts);
                    tx.push_frame(&ts, &mut self.tx_out);
                }
            }
            self.counters.frames_tx += 1;
        }
        self.counters.timeslots = *self.timeslots.counters();
    }
}

fn frames_to_duration(frames: u64) -> Duration {
    Duration::from_nanos(frames.saturating_mul(125_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::T1Framing;

    #[expect(clippy::disallowed_methods, reason = "an epoch for virtual time")]
    fn span(framing: Framing) -> (Span, Instant) {
        let t0 = Instant::now();
        (Span::new(SpanConfig::new(framing), t0), t0)
    }

    #[test]
    fn new_span_is_down_out_of_frame_and_silent() {
        let (mut s, t0) = span(Framing::T1(T1Framing::Esf));
        let st = s.status();
        assert!(!st.up && !st.aligned && st.alarms.oof && !st.alarms.los);
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.poll_transmit(), None);
        assert_eq!(s.poll_timeout(), Some(t0 + SpanConfig::LOS_AFTER));
    }

    #[test]
    fn line_clocked_one_byte_short_of_a_frame_sends_nothing_then_one_frame() {
        let (mut s, t0) = span(Framing::E1 { crc4: true });
        s.handle_rx(t0, &[0x55; 31]);
        assert_eq!(s.poll_transmit(), None);
        s.handle_rx(t0, &[0x55; 1]);
        assert_eq!(s.poll_transmit().map(|b| b.len()), Some(32));
        assert_eq!(s.counters().frames_tx, 1);
    }

    #[test]
    fn down_rx_lost_counts_a_slip_and_the_lost_bytes() {
        let (mut s, t0) = span(Framing::T1(T1Framing::Sf));
        s.handle_rx_lost(t0, 193);
        assert_eq!(s.counters().slips, 1);
        assert_eq!(s.counters().rx_bytes_lost, 193);
        assert_eq!(
            s.counters().frames_tx,
            8,
            "lost bits still clock the transmitter"
        );
    }

    #[test]
    fn internal_clock_early_timeout_is_a_no_op() {
        let mut cfg = SpanConfig::new(Framing::T1(T1Framing::Esf));
        cfg.clock = Clock::Internal;
        let (_, t0) = span(cfg.framing);
        let mut s = Span::new(cfg, t0);
        s.handle_timeout(t0 + Duration::from_micros(100));
        assert_eq!(s.counters().frames_tx, 0);
        s.handle_timeout(t0 + Duration::from_micros(250));
        assert_eq!(s.counters().frames_tx, 2);
    }
}
