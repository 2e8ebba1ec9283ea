//! Line alarms and whether the span is up: contract `spec/line-format.md` section 7.
//!
//! The framers report what they see on the stream as [`Indication`]s stamped with the
//! stream bit where it happened; this machine turns them into alarm states and span
//! up/down. OOF and recovery are measured in *line time* (received frame-lengths of bits
//! x 125 us), not wall time, so a simulator running at `--speed N` and the tests see the
//! same behaviour; only LOS ("no bytes for 100 ms") is wall time, from the `now` passed in.
//!
//! ```text
//!               OOF for red_alarm_after (line time)
//!   aligned ───────────────────────────────────────▶ RED ─┐
//!     ▲   OOF (2 of 4 F bits / 3 bad FAS)                  │ LOS, AIS or RED:
//!     │                                                    │   span down, send RAI
//!     └── aligned for recovery_after, no LOS/AIS ◀─────────┘
//!         (red clears, span up)
//!
//!   LOS: no bytes for los_after (wall time) or transport down; clears on the next bytes
//!   AIS: a frame-length of ones while out of frame (reported by the framer)
//!   RAI: the far end's yellow alarm; reported, does not take the span down
//! ```
//!
//! OOF "persisting" tolerates flicker: an alignment that holds less than
//! [`Machine::OOF_HOLD_FRAMES`] (100 ms) does not restart the red-alarm integration, so
//! mimics found in a garbage stream (E1 without CRC-4 finds one every few tens of
//! milliseconds) cannot postpone red for ever.
//!
//! The span starts down and out of frame; the first SpanUp needs the same
//! `recovery_after` of alignment as a recovery, so start-up and recovery are one rule.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One of the alarms of contract section 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alarm {
    /// Loss of signal: no bytes for `los_after`, or the transport is down.
    Los,
    /// Out of frame: the framer has no alignment.
    Oof,
    /// Red alarm: OOF persisted for `red_alarm_after` of line time.
    Red,
    /// Blue alarm: unframed all ones.
    Ais,
    /// Yellow alarm: the far end reports it has lost our signal.
    Rai,
}

/// What a framer saw on the stream, at stream bit `at_bit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indication {
    /// Frame alignment found (`true`) or lost.
    Alignment { aligned: bool, at_bit: u64 },
    /// Unframed all ones started or stopped.
    Ais { active: bool, at_bit: u64 },
    /// The far end's remote alarm indication started or stopped.
    Rai { active: bool, at_bit: u64 },
}

/// A change of alarm or span state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Alarm { alarm: Alarm, active: bool },
    SpanUp,
    SpanDown,
}

/// The current alarms and span state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub los: bool,
    pub oof: bool,
    pub red: bool,
    pub ais: bool,
    pub rai: bool,
    pub up: bool,
}

/// The alarm state machine; line time is counted in frames of 125 us.
#[derive(Debug)]
pub struct Machine {
    red_after_frames: u64,
    recovery_after_frames: u64,
    los_after: Duration,
    status: Status,
    /// Line frame at which the current OOF began.
    oof_since: u64,
    /// Line frame at which the current alignment began (for recovery; pushed out by LOS
    /// and AIS).
    aligned_since: u64,
    /// Line frame at which the framer last reported alignment (for the OOF hold).
    in_frame_since: u64,
    /// Wall time of the last received bytes (or of transport up / creation).
    last_rx: Instant,
    transport_down: bool,
    /// The latest line time seen: indications never move it backwards.
    line_frame: u64,
    events: VecDeque<Event>,
}

/// Frames of line time in `d`, rounded up so a timer never fires early.
fn frames(d: Duration) -> u64 {
    (d.as_nanos().div_ceil(125_000)) as u64
}

impl Machine {
    /// An alignment shorter than this (100 ms) does not end an OOF for the red-alarm
    /// integration.
    pub const OOF_HOLD_FRAMES: u64 = 800;

    /// A machine for a span that has just been created: down, out of frame, no LOS yet.
    pub fn new(
        red_alarm_after: Duration,
        recovery_after: Duration,
        los_after: Duration,
        now: Instant,
    ) -> Self {
        Machine {
            red_after_frames: frames(red_alarm_after),
            recovery_after_frames: frames(recovery_after),
            los_after,
            status: Status {
                oof: true,
                ..Status::default()
            },
            oof_since: 0,
            aligned_since: 0,
            in_frame_since: 0,
            last_rx: now,
            transport_down: false,
            line_frame: 0,
            events: VecDeque::new(),
        }
    }

    /// The current state.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether we must send RAI: while in red, LOS or AIS (we are not receiving the far
    /// end properly and tell it so).
    pub fn sends_rai(&self) -> bool {
        self.status.red || self.status.los || self.status.ais
    }

    /// Bytes arrived at `now`: the signal is present.
    pub fn handle_signal(&mut self, now: Instant) {
        self.last_rx = now;
        if !self.transport_down {
            self.set(Alarm::Los, false);
        }
    }

    /// The transport closed or failed: LOS at once.
    pub fn handle_transport_down(&mut self, _now: Instant) {
        self.transport_down = true;
        self.set(Alarm::Los, true);
    }

    /// The transport is back; LOS clears with the first bytes, and the no-bytes timer
    /// restarts from `now`.
    pub fn handle_transport_up(&mut self, now: Instant) {
        self.transport_down = false;
        self.last_rx = now;
    }

    /// Check the LOS timer; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.status.los && now >= self.last_rx + self.los_after {
            self.set(Alarm::Los, true);
        }
    }

    /// When LOS would be declared if no bytes arrive.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.status.los).then(|| self.last_rx + self.los_after)
    }

    /// A framer indication at line frame `frame`.
    pub fn handle_indication(&mut self, indication: Indication, frame: u64) {
        self.handle_line_time(frame);
        match indication {
            Indication::Alignment { aligned, .. } => {
                if aligned != self.status.oof {
                    return;
                }
                if aligned {
                    self.aligned_since = self.line_frame;
                    self.in_frame_since = self.line_frame;
                } else if self.line_frame - self.in_frame_since >= Self::OOF_HOLD_FRAMES {
                    self.oof_since = self.line_frame;
                }
                self.set(Alarm::Oof, !aligned);
            }
            Indication::Ais { active, .. } => self.set(Alarm::Ais, active),
            Indication::Rai { active, .. } => self.set(Alarm::Rai, active),
        }
        self.handle_line_time(frame);
    }

    /// Line time has reached `frame`: run the red and recovery integrators.
    pub fn handle_line_time(&mut self, frame: u64) {
        self.line_frame = self.line_frame.max(frame);
        let now = self.line_frame;
        if self.status.oof && !self.status.red && now >= self.oof_since + self.red_after_frames {
            self.set(Alarm::Red, true);
        }
        let clean = !self.status.oof && !self.status.los && !self.status.ais;
        if clean && now >= self.aligned_since + self.recovery_after_frames {
            self.set(Alarm::Red, false);
            if !self.status.up {
                self.status.up = true;
                self.events.push_back(Event::SpanUp);
            }
        }
    }

    /// The next state change, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn set(&mut self, alarm: Alarm, active: bool) {
        let flag = match alarm {
            Alarm::Los => &mut self.status.los,
            Alarm::Oof => &mut self.status.oof,
            Alarm::Red => &mut self.status.red,
            Alarm::Ais => &mut self.status.ais,
            Alarm::Rai => &mut self.status.rai,
        };
        if *flag == active {
            return;
        }
        *flag = active;
        self.events.push_back(Event::Alarm { alarm, active });
        // A recovery must hold uninterrupted: any LOS or AIS restarts it.
        if active && matches!(alarm, Alarm::Los | Alarm::Ais) {
            self.aligned_since = u64::MAX / 2;
        }
        if !active && matches!(alarm, Alarm::Los | Alarm::Ais) && !self.status.oof {
            self.aligned_since = self.line_frame;
        }
        let down = self.status.red || self.status.los || self.status.ais;
        if down && self.status.up {
            self.status.up = false;
            self.events.push_back(Event::SpanDown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 8; // frames per millisecond

    #[expect(clippy::disallowed_methods, reason = "an epoch for virtual time")]
    fn machine() -> (Machine, Instant) {
        let t0 = Instant::now();
        let m = Machine::new(
            Duration::from_millis(2500),
            Duration::from_secs(10),
            Duration::from_millis(100),
            t0,
        );
        (m, t0)
    }

    fn drain(m: &mut Machine) -> Vec<Event> {
        std::iter::from_fn(|| m.poll_event()).collect()
    }

    fn aligned(at: u64) -> Indication {
        Indication::Alignment {
            aligned: true,
            at_bit: at,
        }
    }

    fn lost(at: u64) -> Indication {
        Indication::Alignment {
            aligned: false,
            at_bit: at,
        }
    }

    /// A machine that has been aligned and up for a while, at line frame 100_000.
    fn up() -> (Machine, Instant) {
        let (mut m, t0) = machine();
        m.handle_signal(t0);
        m.handle_indication(aligned(0), 10);
        m.handle_line_time(100_000);
        drain(&mut m);
        assert!(m.status().up);
        (m, t0)
    }

    #[test]
    fn new_aligned_for_recovery_time_goes_up() {
        let (mut m, t0) = machine();
        m.handle_signal(t0);
        m.handle_indication(aligned(0), 10);
        m.handle_line_time(10 + 10_000 * MS - 1);
        assert!(!m.status().up);
        m.handle_line_time(10 + 10_000 * MS);
        assert_eq!(
            drain(&mut m),
            vec![
                Event::Alarm {
                    alarm: Alarm::Oof,
                    active: false
                },
                Event::SpanUp
            ]
        );
    }

    #[test]
    fn up_oof_for_red_time_goes_red_and_down_and_sends_rai() {
        let (mut m, _) = up();
        m.handle_indication(lost(0), 100_000);
        m.handle_line_time(100_000 + 2500 * MS - 1);
        assert!(m.status().up && !m.sends_rai());
        m.handle_line_time(100_000 + 2500 * MS);
        assert_eq!(
            drain(&mut m),
            vec![
                Event::Alarm {
                    alarm: Alarm::Oof,
                    active: true
                },
                Event::Alarm {
                    alarm: Alarm::Red,
                    active: true
                },
                Event::SpanDown
            ]
        );
        assert!(m.sends_rai());
    }

    #[test]
    fn up_short_oof_stays_up() {
        let (mut m, _) = up();
        m.handle_indication(lost(0), 100_000);
        m.handle_indication(aligned(0), 100_000 + 100 * MS);
        m.handle_line_time(100_000 + 5000 * MS);
        assert!(m.status().up);
        assert!(!drain(&mut m).contains(&Event::SpanDown));
    }

    #[test]
    fn oof_brief_alignments_do_not_postpone_red() {
        let (mut m, _) = up();
        m.handle_indication(lost(0), 100_000);
        for k in 1..40 {
            let f = 100_000 + k * 600;
            m.handle_indication(aligned(0), f);
            m.handle_indication(lost(0), f + 50);
        }
        assert!(
            m.status().red,
            "red 2.5 s after the first OOF despite mimics"
        );
    }

    #[test]
    fn red_realigned_recovers_after_recovery_time() {
        let (mut m, _) = up();
        m.handle_indication(lost(0), 100_000);
        m.handle_line_time(100_000 + 3000 * MS);
        let back = 100_000 + 3000 * MS;
        m.handle_indication(aligned(0), back);
        drain(&mut m);
        m.handle_line_time(back + 10_000 * MS - 1);
        assert!(m.status().red && m.sends_rai());
        m.handle_line_time(back + 10_000 * MS);
        assert_eq!(
            drain(&mut m),
            vec![
                Event::Alarm {
                    alarm: Alarm::Red,
                    active: false
                },
                Event::SpanUp
            ]
        );
        assert!(!m.sends_rai());
    }

    #[test]
    fn up_no_bytes_for_100ms_is_los_and_down() {
        let (mut m, t0) = up();
        m.handle_timeout(t0 + Duration::from_millis(99));
        assert!(!m.status().los);
        assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_millis(100)));
        m.handle_timeout(t0 + Duration::from_millis(100));
        assert_eq!(
            drain(&mut m),
            vec![
                Event::Alarm {
                    alarm: Alarm::Los,
                    active: true
                },
                Event::SpanDown
            ]
        );
        assert!(m.sends_rai());
        m.handle_signal(t0 + Duration::from_millis(150));
        assert_eq!(
            drain(&mut m),
            vec![Event::Alarm {
                alarm: Alarm::Los,
                active: false
            }]
        );
    }

    #[test]
    fn up_transport_down_is_los_until_bytes_after_up() {
        let (mut m, t0) = up();
        m.handle_transport_down(t0);
        m.handle_signal(t0);
        assert!(
            m.status().los,
            "bytes while the transport is down do not clear LOS"
        );
        m.handle_transport_up(t0);
        m.handle_signal(t0);
        assert!(!m.status().los);
        assert!(!m.status().up, "recovery must hold again after LOS");
    }

    #[test]
    fn out_of_frame_ais_and_rai_are_reported() {
        let (mut m, _) = machine();
        m.handle_indication(
            Indication::Ais {
                active: true,
                at_bit: 0,
            },
            5,
        );
        m.handle_indication(
            Indication::Rai {
                active: true,
                at_bit: 0,
            },
            6,
        );
        assert_eq!(
            drain(&mut m),
            vec![
                Event::Alarm {
                    alarm: Alarm::Ais,
                    active: true
                },
                Event::Alarm {
                    alarm: Alarm::Rai,
                    active: true
                }
            ]
        );
        assert!(m.sends_rai());
    }
}
