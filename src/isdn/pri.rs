//! One ISDN PRI: a span's line ([`line::Span`]: framing, alarms, HDLC) with its
//! D-channel ([`DChannel`]: Q.921 and Q.931) on top, sans-IO.
//!
//! This is what a span's stack thread runs, and what the tests run on a virtual clock.
//!
//! ```text
//!   handle_command(isdn::Command) ─▶ DChannel ─▶ Event::Isdn (calls, link, traces)
//!                                      ▲   │ LAPD frames (no FCS)
//!           SpanUp / SpanDown ─────────┤   ▼
//!   handle_rx(line bytes) ───────────▶ line::Span ──▶ poll_transmit (line bytes)
//!                                      └─▶ Event::Line (alignment, alarms)
//!                                      └─▶ Event::Frame (every D-channel frame, both ways)
//! ```
//!
//! The span tells the D-channel when layer 1 is usable (`SpanUp`, after alignment has
//! held for the recovery time) and when it is not (`SpanDown`: red, LOS or AIS; the
//! D-channel then clears every call with cause 38, contract section 7).

use std::time::Instant;

use bytes::Bytes;

use super::dchannel::{self, Command, DChannel, Direction};
use crate::line::SpanConfig;
use crate::line::span::{self, Span};

/// What a PRI reports upwards.
#[derive(Debug)]
pub enum Event {
    /// A line state change (alignment, alarm, span up or down).
    Line(span::Event),
    /// A call or link event from the D-channel.
    Isdn(dchannel::Event),
    /// A LAPD frame sent or received (address to information, no FCS), for captures and
    /// `line watch`. Only with [`Pri::set_frame_events`].
    Frame { direction: Direction, frame: Bytes },
}

/// A span and its D-channel.
#[derive(Debug)]
pub struct Pri {
    span: Span,
    d: DChannel,
    frame_events: bool,
    events: std::collections::VecDeque<Event>,
}

impl Pri {
    /// A PRI whose line starts hunting for alignment now; the D-channel starts when the
    /// span first comes up.
    pub fn new(span: SpanConfig, d: dchannel::Config, now: Instant) -> Self {
        Pri {
            span: Span::new(span, now),
            d: DChannel::new(d),
            frame_events: false,
            events: std::collections::VecDeque::new(),
        }
    }

    /// Report every D-channel frame as [`Event::Frame`] (for captures and watching).
    pub fn set_frame_events(&mut self, on: bool) {
        self.frame_events = on;
    }

    /// Bytes read from the line.
    pub fn handle_rx(&mut self, now: Instant, bytes: &[u8]) {
        self.span.handle_rx(now, bytes);
        self.pump(now);
    }

    /// The driver dropped `lost_bytes` (its channel was full): a slip.
    pub fn handle_rx_lost(&mut self, now: Instant, lost_bytes: u64) {
        self.span.handle_rx_lost(now, lost_bytes);
        self.pump(now);
    }

    /// The transport closed or failed: loss of signal.
    pub fn handle_transport_down(&mut self, now: Instant) {
        self.span.handle_transport_down(now);
        self.pump(now);
    }

    /// The transport is open again.
    pub fn handle_transport_up(&mut self, now: Instant) {
        self.span.handle_transport_up(now);
        self.pump(now);
    }

    /// A call-control command from the mapper.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        self.d.handle_command(now, command);
        self.pump(now);
    }

    /// Timers of the line and the D-channel; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.span.handle_timeout(now);
        self.d.handle_timeout(now);
        self.pump(now);
    }

    /// The earlier of the line's and the D-channel's deadlines.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.span.poll_timeout(), self.d.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Line bytes to write.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.span.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The span, for B-channel samples.
    pub fn span_mut(&mut self) -> &mut Span {
        &mut self.span
    }

    pub fn d_channel(&self) -> &DChannel {
        &self.d
    }

    /// A fresh call id for [`Command::Setup`].
    pub fn new_call_id(&mut self) -> dchannel::CallId {
        self.d.new_call_id()
    }

    /// Move frames and events between the span and the D-channel until both are quiet.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(event) = self.span.poll_event() {
                moved = true;
                match event {
                    span::Event::DFrame(frame) => {
                        self.d.handle_frame(now, &frame);
                        if self.frame_events {
                            self.events.push_back(Event::Frame {
                                direction: Direction::Receive,
                                frame,
                            });
                        }
                    }
                    span::Event::SpanUp => {
                        self.d.handle_link_up(now);
                        self.events.push_back(Event::Line(span::Event::SpanUp));
                    }
                    span::Event::SpanDown => {
                        self.d.handle_link_down(now);
                        self.events.push_back(Event::Line(span::Event::SpanDown));
                    }
                    other => self.events.push_back(Event::Line(other)),
                }
            }
            while let Some(frame) = self.d.poll_transmit() {
                moved = true;
                self.span.send_d_frame(&frame);
                if self.frame_events {
                    self.events.push_back(Event::Frame {
                        direction: Direction::Transmit,
                        frame,
                    });
                }
            }
            while let Some(event) = self.d.poll_event() {
                moved = true;
                self.events.push_back(Event::Isdn(event));
            }
            if !moved {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::isdn::lapd::Side;
    use crate::isdn::q931::Variant;
    use crate::isdn::q931::ie::{NumberingPlan, PartyNumber, TypeOfNumber};
    use crate::isdn::{Config, SetupRequest};
    use crate::line::{Clock, Framing, T1Framing};

    #[expect(clippy::disallowed_methods, reason = "test epoch")]
    fn epoch() -> Instant {
        Instant::now()
    }

    /// Two PRIs wired back to back at the bit level: the network side is the clock
    /// master, the user side follows (line clocking). `recovery` is kept short.
    fn pair(framing: Framing) -> (Pri, Pri, Instant) {
        let t0 = epoch();
        let mut line = SpanConfig::new(framing);
        line.recovery_after = Duration::from_millis(50);
        let mut master = line.clone();
        master.clock = Clock::Internal;
        let d = |side| match framing {
            Framing::T1(_) => Config::t1(side, Variant::National),
            Framing::E1 { .. } => Config::e1(side, Variant::EuroIsdn),
        };
        let network = Pri::new(master, d(Side::Network), t0);
        let user = Pri::new(line, d(Side::User), t0);
        (network, user, t0)
    }

    /// Run both for `ms` of virtual time in 1 ms steps, collecting D-channel events.
    fn run(
        network: &mut Pri,
        user: &mut Pri,
        from: Instant,
        ms: u64,
        seen: &mut Vec<(&'static str, dchannel::Event)>,
    ) -> Instant {
        let mut now = from;
        for _ in 0..ms {
            now += Duration::from_millis(1);
            network.handle_timeout(now);
            user.handle_timeout(now);
            while let Some(b) = network.poll_transmit() {
                user.handle_rx(now, &b);
            }
            while let Some(b) = user.poll_transmit() {
                network.handle_rx(now, &b);
            }
            for (name, pri) in [("network", &mut *network), ("user", &mut *user)] {
                while let Some(e) = pri.poll_event() {
                    if let Event::Isdn(e) = e {
                        seen.push((name, e));
                    }
                }
            }
        }
        now
    }

    fn call_both_ways_over_the_bitstream(framing: Framing) {
        let (mut network, mut user, t0) = pair(framing);
        let mut seen = Vec::new();
        let now = run(&mut network, &mut user, t0, 400, &mut seen);
        assert!(
            seen.iter()
                .any(|(n, e)| *n == "user" && matches!(e, dchannel::Event::LinkUp)),
            "user link never came up: {seen:?}"
        );
        let call = user.new_call_id();
        let called = PartyNumber::new(TypeOfNumber::UNKNOWN, NumberingPlan::ISDN, "2001");
        user.handle_command(
            now,
            Command::Setup {
                call,
                request: Box::new(SetupRequest::new(called)),
            },
        );
        seen.clear();
        let now = run(&mut network, &mut user, now, 50, &mut seen);
        let incoming = seen
            .iter()
            .find_map(|(n, e)| match e {
                dchannel::Event::Setup(s) if *n == "network" => Some(s.call),
                _ => None,
            })
            .expect("network saw no SETUP");
        network.handle_command(
            now,
            Command::Connect {
                call: incoming,
                connected: None,
            },
        );
        seen.clear();
        let now = run(&mut network, &mut user, now, 50, &mut seen);
        assert!(
            seen.iter()
                .any(|(n, e)| *n == "user" && matches!(e, dchannel::Event::Connect { .. })),
            "{seen:?}"
        );
        user.handle_command(
            now,
            Command::Release {
                call,
                cause: crate::isdn::q931::Cause::NORMAL_CLEARING,
                progress: None,
            },
        );
        seen.clear();
        run(&mut network, &mut user, now, 50, &mut seen);
        let cleared: Vec<_> = seen
            .iter()
            .filter(|(_, e)| matches!(e, dchannel::Event::Cleared { .. }))
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(cleared.len(), 2, "{seen:?}");
    }

    #[test]
    fn t1_esf_pair_places_answers_and_clears_a_call_over_the_bitstream() {
        call_both_ways_over_the_bitstream(Framing::T1(T1Framing::Esf));
    }

    #[test]
    fn e1_crc4_pair_places_answers_and_clears_a_call_over_the_bitstream() {
        call_both_ways_over_the_bitstream(Framing::E1 { crc4: true });
    }
}
