//! A user-side and a network-side data link wired back to back on a virtual clock.
//!
//! The `Pair` driver moves frames between the two machines (through an optional
//! impairment that may drop or rewrite them), collects their events and jumps the clock
//! to the earliest `poll_timeout()`. Nothing sleeps; a whole scenario runs in
//! microseconds and is exactly reproducible.

use std::time::{Duration, Instant};

use bytes::Bytes;
use dialgate::isdn::lapd::{
    Address, Command, Config, Event, Frame, FrameType, FrmrInformation, Lapd, MdlError, Sapi,
    SequenceNumber, Side, State, Tei,
};

const T200: Duration = Config::T200;
const T203: Duration = Config::T203;

#[expect(clippy::disallowed_methods, reason = "test epoch")]
fn epoch() -> Instant {
    Instant::now()
}

// What the wire does with one frame from `sender`: deliver it as is, drop it, or
// deliver other octets.
type Impairment = Box<dyn FnMut(Side, &Frame) -> Option<Vec<u8>>>;

struct Pair {
    user: Lapd,
    network: Lapd,
    now: Instant,
    start: Instant,
    impairment: Option<Impairment>,
    user_events: Vec<Event>,
    network_events: Vec<Event>,
    // Every frame put on the wire, with its sender and the time (delivered or not).
    wire: Vec<(Duration, Side, Frame)>,
}

impl Pair {
    fn new(user_initiates: bool, network_initiates: bool) -> Self {
        let now = epoch();
        let user = Config {
            initiate_establishment: user_initiates,
            ..Config::new(Side::User)
        };
        let network = Config {
            initiate_establishment: network_initiates,
            ..Config::new(Side::Network)
        };
        Self {
            user: Lapd::new(user, now),
            network: Lapd::new(network, now),
            now,
            start: now,
            impairment: None,
            user_events: Vec::new(),
            network_events: Vec::new(),
            wire: Vec::new(),
        }
    }

    // Established from the user's SABME, all output drained and forgotten.
    fn established() -> Self {
        let mut pair = Self::new(true, false);
        pair.settle();
        assert_eq!(pair.user.state(), State::MultipleFrameEstablished);
        assert_eq!(pair.network.state(), State::MultipleFrameEstablished);
        pair.forget();
        pair
    }

    fn forget(&mut self) {
        self.user_events.clear();
        self.network_events.clear();
        self.wire.clear();
    }

    fn side(&mut self, side: Side) -> &mut Lapd {
        match side {
            Side::User => &mut self.user,
            Side::Network => &mut self.network,
        }
    }

    // Moves everything waiting in one direction; true if anything was sent.
    fn transfer(&mut self, sender: Side) -> bool {
        let mut moved = false;
        while let Some(bytes) = self.side(sender).poll_transmit() {
            moved = true;
            let frame = Frame::decode(&bytes).expect("a machine sent an undecodable frame");
            self.wire
                .push((self.now - self.start, sender, frame.clone()));
            let delivered = match &mut self.impairment {
                Some(impair) => impair(sender, &frame),
                None => Some(bytes.to_vec()),
            };
            if let Some(bytes) = delivered {
                let now = self.now;
                self.side(sender.peer()).handle_frame(now, &bytes);
            }
        }
        moved
    }

    fn collect_events(&mut self) {
        self.user_events
            .extend(std::iter::from_fn(|| self.user.poll_event()));
        self.network_events
            .extend(std::iter::from_fn(|| self.network.poll_event()));
    }

    // Exchanges frames until both sides are quiet.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let user = self.transfer(Side::User);
            let network = self.transfer(Side::Network);
            self.collect_events();
            if !user && !network {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.user.poll_timeout(), self.network.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    // Runs timers and traffic until `duration` from now has passed.
    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        self.settle();
        while let Some(deadline) = self.next_deadline().filter(|d| *d <= end) {
            self.now = self.now.max(deadline);
            let now = self.now;
            self.user.handle_timeout(now);
            self.network.handle_timeout(now);
            self.settle();
        }
        self.now = end;
    }

    fn send(&mut self, side: Side, message: u16) {
        let now = self.now;
        let payload = Bytes::from(vec![0x08, (message >> 8) as u8, message as u8]);
        self.side(side)
            .handle_command(now, Command::DataRequest(payload));
    }

    fn received(&self, side: Side) -> Vec<u16> {
        let events = match side {
            Side::User => &self.user_events,
            Side::Network => &self.network_events,
        };
        events
            .iter()
            .filter_map(|e| match e {
                Event::DataIndication(m) => Some(u16::from_be_bytes([m[1], m[2]])),
                _ => None,
            })
            .collect()
    }

    fn sent_by(&self, sender: Side, frame_type: FrameType) -> Vec<&Frame> {
        self.wire
            .iter()
            .filter(|(_, side, frame)| *side == sender && frame.frame_type() == frame_type)
            .map(|(_, _, frame)| frame)
            .collect()
    }

    fn assert_both_established_with_zero_variables(&self) {
        for lapd in [&self.user, &self.network] {
            assert_eq!(lapd.state(), State::MultipleFrameEstablished);
            let v = lapd.variables().expect("established");
            assert_eq!(
                (v.vs, v.va, v.vr),
                (
                    SequenceNumber::ZERO,
                    SequenceNumber::ZERO,
                    SequenceNumber::ZERO
                )
            );
        }
    }
}

fn mdl(error: MdlError) -> Event {
    Event::MdlErrorIndication(error)
}

fn is_poll(frame: &Frame, sender: Side) -> bool {
    matches!(
        frame,
        Frame::Rr {
            poll_final: true,
            ..
        }
    ) && frame.is_command_from(sender)
}

// ---- establishment ----

#[test]
fn establishment_initiated_by_user() {
    let mut pair = Pair::new(true, false);
    pair.settle();
    pair.assert_both_established_with_zero_variables();
    assert_eq!(pair.user_events, [Event::EstablishConfirm]);
    assert_eq!(pair.network_events, [Event::EstablishIndication]);
}

#[test]
fn establishment_initiated_by_network() {
    let mut pair = Pair::new(false, true);
    pair.settle();
    pair.assert_both_established_with_zero_variables();
    assert_eq!(pair.user_events, [Event::EstablishIndication]);
    assert_eq!(pair.network_events, [Event::EstablishConfirm]);
}

#[test]
fn establishment_by_both_at_once_sabme_collision() {
    let mut pair = Pair::new(true, true);
    pair.settle();
    pair.assert_both_established_with_zero_variables();
    assert_eq!(pair.user_events, [Event::EstablishConfirm]);
    assert_eq!(pair.network_events, [Event::EstablishConfirm]);
    assert_eq!(pair.sent_by(Side::User, FrameType::Sabme).len(), 1);
    assert_eq!(pair.sent_by(Side::User, FrameType::Ua).len(), 1);
    assert_eq!(pair.sent_by(Side::Network, FrameType::Ua).len(), 1);
}

#[test]
fn establishment_with_no_answer_sends_four_sabmes_then_indicates_release_and_retries() {
    let mut pair = Pair::new(true, false);
    pair.impairment = Some(Box::new(|_, _| None));
    pair.run_for(Duration::from_millis(4_500));
    let sabmes: Vec<Duration> = pair
        .wire
        .iter()
        .filter(|(_, side, f)| *side == Side::User && f.frame_type() == FrameType::Sabme)
        .map(|(at, _, _)| *at)
        .collect();
    assert_eq!(sabmes, [Duration::ZERO, T200, T200 * 2, T200 * 3]);
    assert_eq!(
        pair.user_events,
        [
            mdl(MdlError::EstablishRetriesExhausted),
            Event::ReleaseIndication
        ]
    );
    assert_eq!(pair.user.state(), State::TeiAssigned);
    // One T200 later the user starts over; once the wire heals the link comes up.
    pair.impairment = None;
    pair.run_for(Duration::from_secs(1));
    assert_eq!(pair.user.state(), State::MultipleFrameEstablished);
    assert_eq!(pair.user_events.last(), Some(&Event::EstablishConfirm));
}

#[test]
fn establishment_between_two_user_sides_never_succeeds() {
    let now = epoch();
    let mut a = Lapd::new(Config::new(Side::User), now);
    let mut b = Lapd::new(Config::new(Side::User), now);
    let mut at = now;
    for _ in 0..20 {
        while let Some(frame) = a.poll_transmit() {
            b.handle_frame(at, &frame);
        }
        while let Some(frame) = b.poll_transmit() {
            a.handle_frame(at, &frame);
        }
        at += T200;
        a.handle_timeout(at);
        b.handle_timeout(at);
    }
    assert_ne!(a.state(), State::MultipleFrameEstablished);
    assert_ne!(b.state(), State::MultipleFrameEstablished);
    assert!(a.counters().invalid.wrong_command_response > 0);
}

#[test]
fn line_watch_renders_establishment_and_one_message() {
    let mut pair = Pair::new(true, false);
    pair.send(Side::User, 0);
    pair.settle();
    let watch: Vec<String> = pair
        .wire
        .iter()
        .map(|(_, sender, frame)| format!("{sender:?} {}", frame.display(*sender)))
        .collect();
    assert_eq!(
        watch,
        [
            "User SABMEp sapi=0 tei=0",
            "Network UAf sapi=0 tei=0",
            "User INFOc sapi=0 tei=0 ns=0 nr=0 i=0x080000",
            "Network RRr sapi=0 tei=0 nr=1",
        ]
    );
}

// ---- data transfer ----

#[test]
fn data_both_ways_beyond_the_window_arrives_once_in_order() {
    let mut pair = Pair::established();
    for m in 0..40 {
        pair.send(Side::User, m);
        pair.send(Side::Network, 1000 + m);
    }
    pair.run_for(Duration::from_secs(2));
    assert_eq!(pair.received(Side::Network), (0..40).collect::<Vec<_>>());
    assert_eq!(pair.received(Side::User), (1000..1040).collect::<Vec<_>>());
    assert_eq!(pair.user.counters().retransmissions, 0);
    assert_eq!(pair.network.counters().retransmissions, 0);
    assert_eq!(pair.user.i_queue_len(), 0);
    assert_eq!(pair.network.i_queue_len(), 0);
    assert!(
        pair.user_events
            .iter()
            .all(|e| matches!(e, Event::DataIndication(_)))
    );
}

#[test]
fn data_with_peer_not_acknowledging_stops_at_k_frames() {
    let mut pair = Pair::established();
    // Acknowledgements from the network are lost.
    pair.impairment = Some(Box::new(|sender, frame| {
        (sender == Side::User).then(|| frame.encode().to_vec())
    }));
    for m in 0..10 {
        pair.send(Side::User, m);
    }
    pair.settle();
    assert_eq!(pair.sent_by(Side::User, FrameType::I).len(), 7);
    assert_eq!(pair.received(Side::Network), (0..7).collect::<Vec<_>>());
    assert_eq!(pair.user.i_queue_len(), 10);
    // With the acknowledgements back, timer recovery resumes and the rest follow.
    pair.impairment = None;
    pair.run_for(Duration::from_secs(2));
    assert_eq!(pair.received(Side::Network), (0..10).collect::<Vec<_>>());
    assert_eq!(pair.user.state(), State::MultipleFrameEstablished);
    assert_eq!(pair.user.i_queue_len(), 0);
}

#[test]
fn data_across_sequence_number_wrap() {
    let mut pair = Pair::established();
    for m in 0..300 {
        pair.send(Side::User, m);
        if m % 5 == 0 {
            pair.settle();
        }
    }
    pair.run_for(Duration::from_secs(1));
    assert_eq!(pair.received(Side::Network), (0..300).collect::<Vec<_>>());
    let v = pair.user.variables().unwrap();
    assert_eq!(v.vs, SequenceNumber::new((300 % 128) as u8));
    assert_eq!(v.va, v.vs);
}

#[test]
fn data_queued_before_the_link_is_up_is_sent_once_established() {
    let mut pair = Pair::new(false, false);
    pair.send(Side::User, 7);
    pair.send(Side::User, 8);
    pair.settle();
    assert_eq!(pair.received(Side::Network), [7, 8]);
    assert_eq!(pair.user_events, [Event::EstablishConfirm]);
}

// ---- release ----

#[test]
fn release_by_disc_and_ua() {
    let mut pair = Pair::established();
    let now = pair.now;
    pair.user.handle_command(now, Command::ReleaseRequest);
    pair.run_for(Duration::from_secs(30));
    assert_eq!(pair.user_events, [Event::ReleaseConfirm]);
    assert_eq!(pair.network_events, [Event::ReleaseIndication]);
    assert_eq!(pair.user.state(), State::TeiAssigned);
    assert_eq!(pair.network.state(), State::TeiAssigned);
    // The user asked for the release and the network is passive: the link stays down.
    assert_eq!(pair.sent_by(Side::User, FrameType::Sabme).len(), 0);
}

#[test]
fn release_by_the_passive_side_is_followed_by_re_establishment_from_the_initiator() {
    let mut pair = Pair::established();
    let now = pair.now;
    pair.network.handle_command(now, Command::ReleaseRequest);
    pair.run_for(Duration::from_millis(1_500));
    assert_eq!(
        pair.network_events,
        [Event::ReleaseConfirm, Event::EstablishIndication]
    );
    assert_eq!(
        pair.user_events,
        [Event::ReleaseIndication, Event::EstablishConfirm]
    );
    assert_eq!(pair.user.state(), State::MultipleFrameEstablished);
}

// ---- recovery ----

#[test]
fn dropped_i_frame_is_recovered_by_t200_poll_and_retransmission() {
    let mut pair = Pair::established();
    let mut dropped = false;
    pair.impairment = Some(Box::new(move |_, frame| {
        if !dropped && frame.frame_type() == FrameType::I {
            dropped = true;
            return None;
        }
        Some(frame.encode().to_vec())
    }));
    pair.send(Side::User, 1);
    pair.run_for(Duration::from_millis(1_500));
    assert_eq!(pair.received(Side::Network), [1]);
    let polls: Vec<_> = pair
        .sent_by(Side::User, FrameType::Rr)
        .into_iter()
        .filter(|f| is_poll(f, Side::User))
        .collect();
    assert_eq!(polls.len(), 1);
    assert_eq!(pair.user.counters().retransmissions, 1);
    assert_eq!(pair.user.state(), State::MultipleFrameEstablished);
}

#[test]
fn lost_acknowledgement_retransmits_nothing_already_received() {
    let mut pair = Pair::established();
    let mut dropped = false;
    pair.impairment = Some(Box::new(move |sender, frame| {
        if !dropped && sender == Side::Network && frame.frame_type() == FrameType::Rr {
            dropped = true;
            return None;
        }
        Some(frame.encode().to_vec())
    }));
    pair.send(Side::User, 1);
    pair.send(Side::User, 2);
    pair.run_for(Duration::from_millis(1_500));
    assert_eq!(pair.received(Side::Network), [1, 2]);
    assert_eq!(pair.user.counters().retransmissions, 0);
    assert_eq!(pair.user.counters().t200_expiries, 1);
    assert_eq!(pair.user.i_queue_len(), 0);
}

#[test]
fn out_of_sequence_i_frame_is_recovered_by_rej() {
    let mut pair = Pair::established();
    let mut dropped = false;
    pair.impairment = Some(Box::new(move |_, frame| {
        if !dropped && frame.frame_type() == FrameType::I {
            dropped = true;
            return None;
        }
        Some(frame.encode().to_vec())
    }));
    for m in 0..4 {
        pair.send(Side::User, m);
    }
    pair.settle();
    assert_eq!(pair.received(Side::Network), [0, 1, 2, 3]);
    assert_eq!(pair.sent_by(Side::Network, FrameType::Rej).len(), 1);
    assert_eq!(pair.user.counters().retransmissions, 4);
    assert_eq!(pair.network.counters().out_of_sequence, 3);
    // Recovery needed no timer.
    assert_eq!(pair.user.counters().t200_expiries, 0);
}

#[test]
fn corrupted_i_frame_sequence_number_is_recovered_by_rej() {
    let mut pair = Pair::established();
    let mut corrupted = false;
    pair.impairment = Some(Box::new(move |_, frame| {
        let mut bytes = frame.encode().to_vec();
        if !corrupted && frame.frame_type() == FrameType::I {
            corrupted = true;
            bytes[2] ^= 0x0A; // N(S) 0 becomes 5
        }
        Some(bytes)
    }));
    pair.send(Side::User, 1);
    pair.send(Side::User, 2);
    pair.settle();
    assert_eq!(pair.received(Side::Network), [1, 2]);
    assert_eq!(pair.sent_by(Side::Network, FrameType::Rej).len(), 1);
}

#[test]
fn peer_busy_with_rnr_holds_frames_and_keeps_the_link_up() {
    let mut pair = Pair::established();
    let now = pair.now;
    pair.network
        .handle_command(now, Command::SetOwnReceiverBusy);
    pair.settle();
    for m in 0..3 {
        pair.send(Side::User, m);
    }
    pair.run_for(Duration::from_secs(6));
    assert!(pair.received(Side::Network).is_empty());
    assert_eq!(pair.sent_by(Side::User, FrameType::I).len(), 0);
    // The busy peer is polled every T200 and answers RNR F=1 each time.
    assert!(pair.sent_by(Side::Network, FrameType::Rnr).len() >= 5);
    assert_eq!(pair.user.counters().mdl.total(), 0);
    assert!(pair.user.variables().unwrap().peer_busy);
    let now = pair.now;
    pair.network
        .handle_command(now, Command::ClearOwnReceiverBusy);
    pair.settle();
    assert_eq!(pair.received(Side::Network), [0, 1, 2]);
    assert!(!pair.user.variables().unwrap().peer_busy);
}

#[test]
fn idle_link_is_polled_about_every_t203() {
    let mut pair = Pair::established();
    pair.run_for(Duration::from_secs(35));
    let polls: Vec<Duration> = pair
        .wire
        .iter()
        .filter(|(_, side, f)| is_poll(f, *side))
        .map(|(at, _, _)| *at)
        .collect();
    // Both ends' T203 started at the same instant, so both poll at each 10 s mark.
    assert_eq!(polls, [T203, T203, T203 * 2, T203 * 2, T203 * 3, T203 * 3]);
    // Every poll is answered at once with RR F=1.
    let answers = pair
        .wire
        .iter()
        .filter(|(_, side, f)| {
            matches!(
                f,
                Frame::Rr {
                    poll_final: true,
                    ..
                }
            ) && !f.is_command_from(*side)
        })
        .count();
    assert_eq!(answers, polls.len());
    assert_eq!(pair.user.state(), State::MultipleFrameEstablished);
    assert_eq!(pair.network.state(), State::MultipleFrameEstablished);
    assert!(pair.user_events.is_empty() && pair.network_events.is_empty());
}

#[test]
fn silent_peer_gets_n200_polls_then_reestablishment_then_release() {
    let mut pair = Pair::established();
    pair.impairment = Some(Box::new(|_, _| None));
    pair.run_for(T203 + T200 * 4 - Duration::from_millis(1));
    // T203 poll plus N200 = 3 repeats, one T200 apart.
    let polls: Vec<Duration> = pair
        .wire
        .iter()
        .filter(|(_, side, f)| *side == Side::User && is_poll(f, Side::User))
        .map(|(at, _, _)| *at)
        .collect();
    assert_eq!(polls, [T203, T203 + T200, T203 + T200 * 2, T203 + T200 * 3]);
    assert!(
        pair.user_events.is_empty(),
        "no indication while polling: {:?}",
        pair.user_events
    );
    pair.run_for(Duration::from_millis(1));
    assert_eq!(
        pair.user_events,
        [mdl(MdlError::StatusEnquiryRetriesExhausted)]
    );
    assert_eq!(pair.user.state(), State::AwaitingEstablishment);
    // Four SABMEs go unanswered too: now Q.931 hears the link is down.
    pair.run_for(T200 * 4);
    assert_eq!(
        pair.user_events,
        [
            mdl(MdlError::StatusEnquiryRetriesExhausted),
            mdl(MdlError::EstablishRetriesExhausted),
            Event::ReleaseIndication
        ]
    );
    assert_eq!(pair.user.state(), State::TeiAssigned);
    // When the peer comes back the initiating user side brings the link up again.
    pair.impairment = None;
    pair.run_for(T200 * 2);
    assert_eq!(pair.user.state(), State::MultipleFrameEstablished);
    assert_eq!(pair.user_events.last(), Some(&Event::EstablishConfirm));
}

#[test]
fn poll_exhaustion_after_a_lost_frame_reestablishes_and_indicates_the_reset() {
    let mut pair = Pair::established();
    pair.impairment = Some(Box::new(|_, _| None));
    pair.send(Side::User, 1);
    // T200 runs out for the unacknowledged frame, then N200 = 3 polls.
    pair.run_for(T200 * 4 - Duration::from_millis(1));
    assert_eq!(pair.user.state(), State::TimerRecovery);
    assert_eq!(pair.sent_by(Side::User, FrameType::Rr).len(), 3);
    pair.impairment = None;
    pair.run_for(Duration::from_millis(1));
    assert_eq!(
        pair.user_events,
        [
            mdl(MdlError::StatusEnquiryRetriesExhausted),
            Event::EstablishIndication
        ]
    );
    assert_eq!(pair.network_events, [mdl(MdlError::PeerReestablished)]);
    pair.assert_both_established_with_zero_variables();
    // Its delivery was unknown, so the frame is gone; Q.931 resynchronises on the
    // indication.
    assert_eq!(pair.user.counters().discarded_i_frames, 1);
    assert!(pair.received(Side::Network).is_empty());
}

#[test]
fn frmr_from_peer_triggers_reestablishment() {
    let mut pair = Pair::established();
    let now = pair.now;
    let frmr = Frame::Frmr {
        address: Address::new(
            Sapi::CALL_CONTROL,
            Tei::POINT_TO_POINT,
            Side::Network,
            false,
        ),
        poll_final: false,
        information: FrmrInformation([0x00, 0x00, 0x00, 0x00, FrmrInformation::W]),
    };
    pair.user.handle_frame(now, &frmr.encode());
    pair.settle();
    assert_eq!(
        pair.user_events,
        [
            mdl(MdlError::FrameRejectReceived),
            Event::EstablishIndication
        ]
    );
    assert_eq!(pair.network_events, [mdl(MdlError::PeerReestablished)]);
    pair.assert_both_established_with_zero_variables();
}

#[test]
fn nr_error_triggers_reestablishment_and_the_link_carries_data_after() {
    let mut pair = Pair::established();
    let now = pair.now;
    let bad = Frame::Rr {
        address: Address::new(
            Sapi::CALL_CONTROL,
            Tei::POINT_TO_POINT,
            Side::Network,
            false,
        ),
        nr: SequenceNumber::new(9),
        poll_final: false,
    };
    pair.user.handle_frame(now, &bad.encode());
    pair.settle();
    assert_eq!(
        pair.user_events,
        [mdl(MdlError::NrSequenceError), Event::EstablishIndication]
    );
    pair.assert_both_established_with_zero_variables();
    pair.send(Side::User, 5);
    pair.send(Side::Network, 6);
    pair.settle();
    assert_eq!(pair.received(Side::Network), [5]);
    assert_eq!(pair.received(Side::User), [6]);
}

#[test]
fn peer_restart_with_frames_outstanding_indicates_reset_to_both() {
    let mut pair = Pair::established();
    // The network's frames are lost, so they stay unacknowledged...
    pair.impairment = Some(Box::new(|sender, frame| {
        (sender == Side::User).then(|| frame.encode().to_vec())
    }));
    pair.send(Side::Network, 1);
    pair.settle();
    // ...and then the user restarts the link.
    pair.impairment = None;
    let now = pair.now;
    pair.user.handle_command(now, Command::EstablishRequest);
    pair.settle();
    assert_eq!(pair.user_events, [Event::EstablishConfirm]);
    assert_eq!(
        pair.network_events,
        [mdl(MdlError::PeerReestablished), Event::EstablishIndication]
    );
    assert_eq!(pair.network.counters().discarded_i_frames, 1);
}

// ---- lossy wire ----

mod lossy {
    use proptest::prelude::*;

    use super::*;

    // Strictly increasing: no message twice, none out of order.
    fn in_order_once(received: &[u16]) -> bool {
        received.windows(2).all(|w| w[0] < w[1])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn lossy_wire_never_duplicates_or_reorders_and_loses_only_what_it_reports(
            drops in prop::collection::vec(prop::bool::weighted(0.2), 1..64),
            bursts in prop::collection::vec((0u16..40, 0u16..4_000), 1..8),
        ) {
            let mut pair = Pair::new(true, true);
            let mut index = 0usize;
            let mask = drops.clone();
            pair.impairment = Some(Box::new(move |_, frame| {
                index += 1;
                (!mask[index % mask.len()]).then(|| frame.encode().to_vec())
            }));
            let mut next = 0u16;
            for (count, pause) in &bursts {
                for _ in 0..*count % 12 {
                    pair.send(Side::User, next);
                    pair.send(Side::Network, next);
                    next += 1;
                }
                pair.run_for(Duration::from_millis(u64::from(*pause)));
            }
            // Heal the wire and let every timer play out.
            pair.impairment = None;
            pair.run_for(Duration::from_secs(60));
            prop_assert_eq!(pair.user.state(), State::MultipleFrameEstablished);
            prop_assert_eq!(pair.network.state(), State::MultipleFrameEstablished);
            for (receiver, sender) in [(Side::Network, &pair.user), (Side::User, &pair.network)] {
                let received = pair.received(receiver);
                prop_assert!(in_order_once(&received), "{:?} got {:?}", receiver, received);
                let lost = usize::from(next) - received.len();
                let reported = sender.counters().discarded_i_frames
                    + sender.counters().discarded_requests;
                prop_assert!(lost as u64 <= reported, "{} lost, {} reported", lost, reported);
                prop_assert_eq!(sender.i_queue_len(), 0);
            }
        }
    }
}
