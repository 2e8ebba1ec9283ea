//! The span on its public API with a virtual clock: alarms (contract section 7), line
//! and internal clocking (section 6), the D-channel through HDLC (section 4) and the
//! B-channels (section 5).

use std::time::{Duration, Instant};

use dialgate::line::alarm::{Alarm, Indication};
use dialgate::line::span::{Event, Span};
use dialgate::line::{Clock, Framing, SpanConfig, T1Framing, e1, t1};
use proptest::prelude::*;

const ESF: Framing = Framing::T1(T1Framing::Esf);
const SF: Framing = Framing::T1(T1Framing::Sf);
const E1: Framing = Framing::E1 { crc4: true };
const FRAME: Duration = Duration::from_micros(125);

#[expect(
    clippy::disallowed_methods,
    reason = "the virtual clock's epoch; time only moves by adding to it"
)]
fn epoch() -> Instant {
    Instant::now()
}

/// A far end built from the bare transmitters: idle B-channels, flags on the D-channel.
struct FarEnd {
    framing: Framing,
    t1: t1::Transmitter,
    e1: e1::Transmitter,
    frames: u64,
}

impl FarEnd {
    fn new(framing: Framing) -> Self {
        let (t1f, crc4) = match framing {
            Framing::T1(f) => (f, true),
            Framing::E1 { crc4 } => (T1Framing::Esf, crc4),
        };
        FarEnd {
            framing,
            t1: t1::Transmitter::new(t1f),
            e1: e1::Transmitter::new(crc4),
            frames: 0,
        }
    }

    fn set_rai(&mut self, on: bool) {
        self.t1.set_rai(on);
        self.e1.set_rai(on);
    }

    /// `n` frames of line bytes (T1: n a multiple of 8 keeps the output byte aligned).
    fn frames(&mut self, n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..n {
            let k = self.frames;
            self.frames += 1;
            match self.framing {
                Framing::T1(_) => {
                    let mut ts = [0xFFu8; 24];
                    ts[0] = k as u8;
                    ts[23] = 0x7E;
                    self.t1.push_frame(&ts, &mut out);
                }
                Framing::E1 { .. } => {
                    let mut ts = [0xD5u8; 32];
                    ts[1] = k as u8;
                    ts[16] = 0x7E;
                    self.e1.push_frame(&ts, &mut out);
                }
            }
        }
        out
    }
}

fn frame_bytes(framing: Framing) -> u64 {
    match framing {
        Framing::T1(_) => 193,
        Framing::E1 { .. } => 256,
    }
}

/// Drives a span with line time: `now` advances 125 us per frame-length fed.
struct Line {
    span: Span,
    t0: Instant,
    bits: u64,
    events: Vec<(u64, Event)>,
    tx: Vec<u8>,
}

impl Line {
    fn new(config: SpanConfig) -> Self {
        let t0 = epoch();
        Line {
            span: Span::new(config, t0),
            t0,
            bits: 0,
            events: Vec::new(),
            tx: Vec::new(),
        }
    }

    fn frame_bits(&self) -> u64 {
        frame_bytes(self.span.config().framing)
    }

    fn now(&self) -> Instant {
        self.t0 + FRAME * (self.bits / self.frame_bits()) as u32
    }

    /// Feed bytes in chunks of `chunk`, recording events with the line frame they came at.
    fn feed(&mut self, bytes: &[u8], chunk: usize) {
        for c in bytes.chunks(chunk) {
            self.bits += 8 * c.len() as u64;
            let now = self.now();
            self.span.handle_rx(now, c);
            self.span.handle_timeout(now);
            self.drain();
        }
    }

    fn drain(&mut self) {
        let frame = self.bits / self.frame_bits();
        while let Some(e) = self.span.poll_event() {
            self.events.push((frame, e));
        }
        while let Some(b) = self.span.poll_transmit() {
            self.tx.extend_from_slice(&b);
        }
    }

    fn first(&self, want: &Event) -> Option<u64> {
        self.events.iter().find(|(_, e)| e == want).map(|(f, _)| *f)
    }

    fn frames(&self) -> u64 {
        self.bits / self.frame_bits()
    }
}

fn config(framing: Framing) -> SpanConfig {
    let mut c = SpanConfig::new(framing);
    c.recovery_after = Duration::from_millis(500);
    c
}

/// A span that is aligned and up on a clean far end.
fn up(framing: Framing) -> (Line, FarEnd) {
    let mut line = Line::new(config(framing));
    let mut far = FarEnd::new(framing);
    // 0.5 s recovery plus the hunt: 6000 frames.
    line.feed(&far.frames(6000), 1000);
    assert!(line.span.status().up, "{:?}", line.events);
    line.events.clear();
    line.tx.clear();
    (line, far)
}

/// Indications a receiver sees in our transmitted stream (what the far end would see).
fn far_end_view(framing: Framing, bytes: &[u8]) -> Vec<Indication> {
    match framing {
        Framing::T1(f) => {
            let mut rx = t1::Receiver::new(f);
            rx.handle_rx(bytes, |_| {});
            std::iter::from_fn(|| rx.poll_indication()).collect()
        }
        Framing::E1 { crc4 } => {
            let mut rx = e1::Receiver::new(crc4);
            rx.handle_rx(bytes, |_| {});
            std::iter::from_fn(|| rx.poll_indication()).collect()
        }
    }
}

fn sees_rai(framing: Framing, bytes: &[u8]) -> bool {
    far_end_view(framing, bytes)
        .iter()
        .any(|i| matches!(i, Indication::Rai { active: true, .. }))
}

fn alarm(alarm: Alarm, active: bool) -> Event {
    Event::Alarm { alarm, active }
}

fn flip_bits(bytes: &mut [u8], ber: f64, rng: &mut fastrand::Rng) -> u64 {
    let mut flips = 0;
    for b in bytes.iter_mut() {
        for i in 0..8 {
            if rng.f64() < ber {
                *b ^= 1 << i;
                flips += 1;
            }
        }
    }
    flips
}

/// BER 1e-3 for four seconds of line time. Asserted: nothing panics; the span comes up
/// and stays up (framing bits are rarely hit twice in four, so any OOF is brief and red
/// is never declared); no LOS, AIS or red; CRC errors are counted (most blocks are hit).
fn ber_case(framing: Framing, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut line = Line::new(config(framing));
    let mut far = FarEnd::new(framing);
    let mut bytes = far.frames(32_000);
    flip_bits(&mut bytes, 1e-3, &mut rng);
    let mut i = 0;
    while i < bytes.len() {
        let n = rng.usize(1..2000).min(bytes.len() - i);
        line.feed(&bytes[i..i + n], n);
        i += n;
    }
    assert!(
        line.first(&Event::SpanUp).is_some(),
        "{framing:?}: never up"
    );
    for bad in [
        alarm(Alarm::Red, true),
        alarm(Alarm::Los, true),
        alarm(Alarm::Ais, true),
        Event::SpanDown,
    ] {
        assert!(line.first(&bad).is_none(), "{framing:?}: {bad:?}");
    }
    assert!(line.span.status().up);
    assert!(
        line.span.counters().crc_errors > 100,
        "{:?}",
        line.span.counters()
    );
}

#[test]
fn span_t1_esf_ber_1e3_stays_up_counting_crc_errors() {
    ber_case(ESF, 1);
}

#[test]
fn span_t1_sf_ber_1e3_stays_up() {
    let mut rng = fastrand::Rng::with_seed(2);
    let mut line = Line::new(config(SF));
    let mut far = FarEnd::new(SF);
    let mut bytes = far.frames(32_000);
    flip_bits(&mut bytes, 1e-3, &mut rng);
    line.feed(&bytes, 777);
    assert!(line.first(&Event::SpanUp).is_some());
    assert!(line.first(&Event::SpanDown).is_none());
    assert!(line.span.counters().framing_bit_errors > 0);
}

#[test]
fn span_e1_ber_1e3_stays_up_counting_crc_errors() {
    ber_case(E1, 3);
}

#[test]
fn span_e1_errored_blocks_go_back_as_e_bits() {
    let (mut line, mut far) = up(E1);
    let mut bytes = far.frames(16 * 20);
    // One payload bit in each of three sub-multiframes.
    for smf in [4, 8, 12] {
        bytes[smf * 8 * 32 + 40] ^= 0x08;
    }
    line.feed(&bytes, 512);
    line.feed(&far.frames(16 * 10), 512);
    assert_eq!(line.span.counters().crc_errors, 3);
    let mut rx = e1::Receiver::new(true);
    rx.handle_rx(&line.tx, |_| {});
    assert_eq!(rx.counters().far_end_block_errors, 3);
}

#[test]
fn up_unframed_all_ones_is_ais_span_down_and_rai_sent() {
    for framing in [ESF, SF, E1] {
        let (mut line, _) = up(framing);
        line.feed(&vec![0xFF; 8000], 100);
        assert!(
            line.first(&alarm(Alarm::Ais, true)).is_some(),
            "{framing:?}"
        );
        assert!(line.first(&Event::SpanDown).is_some(), "{framing:?}");
        assert!(line.span.status().alarms.ais);
        assert!(
            sees_rai(framing, &line.tx),
            "{framing:?}: RAI not sent during AIS"
        );
    }
}

#[test]
fn up_far_end_remote_alarm_is_rai_on_every_format() {
    for framing in [ESF, SF, E1] {
        let (mut line, mut far) = up(framing);
        far.set_rai(true);
        line.feed(&far.frames(24 * 20), 193);
        assert!(
            line.first(&alarm(Alarm::Rai, true)).is_some(),
            "{framing:?}: {:?}",
            line.events
        );
        let status = line.span.status();
        assert!(status.alarms.rai && status.up && !status.accepts_new_calls());
        far.set_rai(false);
        line.feed(&far.frames(24 * 20), 193);
        assert!(
            line.first(&alarm(Alarm::Rai, false)).is_some(),
            "{framing:?}"
        );
    }
}

#[test]
fn up_oof_for_2_5_s_is_red_with_rai_sent_then_recovers_after_10_s() {
    for framing in [ESF, E1] {
        let mut cfg = SpanConfig::new(framing);
        cfg.recovery_after = Duration::from_millis(300);
        let mut line = Line::new(cfg);
        let mut far = FarEnd::new(framing);
        line.feed(&far.frames(4000), 1000);
        assert!(line.span.status().up);
        // Now the recovery timer of the contract: 10 s.
        let mut line = {
            let mut cfg = SpanConfig::new(framing);
            cfg.recovery_after = SpanConfig::RECOVERY_AFTER;
            let mut l = Line::new(cfg);
            l.feed(&far.frames(8 * 10_000 + 1000), 2000);
            assert!(l.span.status().up);
            l.events.clear();
            l
        };
        // Garbage: out of frame.
        let mut rng = fastrand::Rng::with_seed(9);
        let fb = frame_bytes(framing);
        let oof_from = line.frames();
        let junk: Vec<u8> = (0..(8 * 3000 * fb / 8)).map(|_| rng.u8(..)).collect();
        line.tx.clear();
        line.feed(&junk, 2 * fb as usize);
        let oof = line.first(&alarm(Alarm::Oof, true)).expect("oof");
        assert!(
            oof - oof_from <= 24,
            "{framing:?}: OOF after {} frames",
            oof - oof_from
        );
        let red = line
            .first(&alarm(Alarm::Red, true))
            .unwrap_or_else(|| panic!("{framing:?} no red: {:?}", line.events));
        let red_after = red - oof;
        // 2.5 s = 20000 frames of line time, to within one 16-frame chunk.
        assert!(
            (20_000..=20_032).contains(&red_after),
            "{framing:?}: red after {red_after}"
        );
        assert!(line.first(&Event::SpanDown).is_some());
        let tx_while_red = line.tx.len() - (8 * 400 * fb / 8) as usize;
        assert!(
            sees_rai(framing, &line.tx[tx_while_red..]),
            "{framing:?}: no RAI while red"
        );
        // Good signal again: up after 10 s of alignment, not before.
        line.events.clear();
        line.feed(&far.frames(8 * 10_500), 2 * fb as usize);
        let aligned = line.first(&alarm(Alarm::Oof, false)).expect("realigned");
        let up = line.first(&Event::SpanUp).expect("span up");
        let held = up - aligned;
        assert!(
            (80_000..=80_032).contains(&held),
            "{framing:?}: up after {held}"
        );
        assert!(line.first(&alarm(Alarm::Red, false)).is_some());
        assert!(!line.span.status().alarms.red);
    }
}

#[test]
fn up_no_bytes_for_100_ms_is_los() {
    let (mut line, _) = up(ESF);
    let now = line.now();
    line.span.handle_timeout(now + Duration::from_millis(99));
    line.drain();
    assert!(line.events.is_empty());
    assert_eq!(
        line.span.poll_timeout(),
        Some(now + Duration::from_millis(100))
    );
    line.span.handle_timeout(now + Duration::from_millis(100));
    line.drain();
    assert!(line.first(&alarm(Alarm::Los, true)).is_some());
    assert!(line.first(&Event::SpanDown).is_some());
}

#[test]
fn up_transport_down_is_los_at_once_and_recovery_follows_reconnect() {
    let (mut line, mut far) = up(E1);
    let now = line.now();
    line.span.handle_transport_down(now);
    line.drain();
    assert!(line.first(&alarm(Alarm::Los, true)).is_some());
    assert!(line.first(&Event::SpanDown).is_some());
    assert!(
        !line.span.status().aligned,
        "the framer hunts afresh after a reconnect"
    );
    line.span.handle_transport_up(now);
    line.events.clear();
    line.feed(&far.frames(6000), 1000);
    assert!(line.first(&alarm(Alarm::Los, false)).is_some());
    assert!(line.first(&Event::SpanUp).is_some());
}

#[test]
fn line_clock_one_tx_frame_per_rx_frame_length_across_any_chunking() {
    for framing in [ESF, E1] {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut line = Line::new(config(framing));
        let fb = frame_bytes(framing);
        for _ in 0..500 {
            let n = rng.usize(0..600);
            let chunk: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            line.feed(&chunk, n.max(1));
            let frames = line.bits / fb;
            assert_eq!(line.span.counters().frames_tx, frames);
            assert_eq!(
                line.tx.len() as u64,
                frames * fb / 8,
                "whole bytes only, none held back"
            );
        }
        // Lost bytes are line time too.
        let before = line.span.counters().frames_tx;
        let now = line.now();
        line.span.handle_rx_lost(now, 2 * fb);
        assert_eq!(line.span.counters().frames_tx, before + 16);
        assert_eq!(line.span.counters().rx_bytes_lost, 2 * fb);
        assert!(line.span.counters().slips >= 1);
    }
}

#[test]
fn internal_clock_sends_8000_frames_per_second_of_virtual_time() {
    let mut cfg = SpanConfig::new(ESF);
    cfg.clock = Clock::Internal;
    let t0 = epoch();
    let mut span = Span::new(cfg, t0);
    let mut bytes = 0;
    let end = t0 + Duration::from_secs(1);
    loop {
        let at = span.poll_timeout().expect("a batch is always due");
        if at > end {
            break;
        }
        assert!(at - t0 <= Duration::from_secs(1));
        // Calls at the same instant are idempotent.
        span.handle_timeout(at);
        span.handle_timeout(at);
        while let Some(b) = span.poll_transmit() {
            bytes += b.len();
        }
    }
    span.handle_timeout(end);
    while let Some(b) = span.poll_transmit() {
        bytes += b.len();
    }
    assert_eq!(span.counters().frames_tx, 8000);
    assert_eq!(bytes, 8000 * 193 / 8);
    // Irregular calls: the batch size follows elapsed time, not the number of calls.
    span.handle_timeout(end + Duration::from_micros(125 * 37 + 60));
    assert_eq!(span.counters().frames_tx, 8037);
}

#[test]
fn b_channel_samples_cross_the_span_both_ways() {
    // Two spans back to back: ours line-clocked from the far span's internal clock.
    let mut far_cfg = SpanConfig::new(ESF);
    far_cfg.clock = Clock::Internal;
    let t0 = epoch();
    let mut far = Span::new(far_cfg, t0);
    let mut near = Span::new(config(ESF), t0);
    assert!(far.open_b_channel(5) && near.open_b_channel(5));
    assert!(!near.open_b_channel(24), "TS24 is the D-channel");
    let mut t = t0;
    let mut got = Vec::new();
    for ms in 0..200u32 {
        t = t0 + Duration::from_millis(u64::from(ms));
        far.write_b_samples(5, &[(ms % 200) as u8 + 1; 8]);
        far.handle_timeout(t);
        while let Some(b) = far.poll_transmit() {
            near.handle_rx(t, &b);
        }
        let mut buf = [0u8; 64];
        let n = near.read_b_samples(5, &mut buf);
        got.extend_from_slice(&buf[..n]);
    }
    let _ = t;
    assert!(near.status().aligned);
    // Once aligned, every sample arrives in order: runs of 8 of the same value.
    let tail = &got[got.len() - 800..];
    for w in tail.chunks(8) {
        assert!(w.iter().all(|&s| s == w[0]) || w.windows(2).filter(|p| p[0] != p[1]).count() == 1);
    }
    assert_eq!(near.counters().timeslots.rx_overflow, 0);
}

/// Two spans back to back; frames queued on `far` must come out of `near` exactly.
fn d_channel_round_trip(framing: Framing, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut far_cfg = SpanConfig::new(framing);
    far_cfg.clock = Clock::Internal;
    let t0 = epoch();
    let mut far = Span::new(far_cfg, t0);
    let mut near = Span::new(config(framing), t0);
    let mut got = Vec::new();
    let mut ms = 0u64;
    let step = |ms: &mut u64, far: &mut Span, near: &mut Span, got: &mut Vec<Vec<u8>>| {
        *ms += 1;
        let t = t0 + Duration::from_millis(*ms);
        far.handle_timeout(t);
        while let Some(b) = far.poll_transmit() {
            near.handle_rx(t, &b);
        }
        while let Some(e) = near.poll_event() {
            if let Event::DFrame(f) = e {
                got.push(f.to_vec());
            }
        }
    };
    while !near.status().aligned {
        step(&mut ms, &mut far, &mut near, &mut got);
        assert!(ms < 100, "no alignment");
    }
    for f in frames {
        far.send_d_frame(f);
    }
    // 64 kbit/s is 8 octets per ms; allow for stuffing and flags.
    let octets: usize = frames.iter().map(|f| f.len() + 4).sum();
    for _ in 0..octets / 6 + 20 {
        step(&mut ms, &mut far, &mut near, &mut got);
    }
    assert_eq!(near.counters().hdlc.bad_fcs, 0);
    got
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn d_frames_cross_the_span_exactly(
        e1 in any::<bool>(),
        frames in prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 3..=260),
                (3usize..=260).prop_map(|n| vec![0xFF; n]),
                (3usize..=40).prop_map(|n| vec![0x7E; n]),
            ],
            1..6,
        ),
    ) {
        let framing = if e1 { E1 } else { ESF };
        let got = d_channel_round_trip(framing, &frames);
        prop_assert_eq!(got, frames);
    }
}
