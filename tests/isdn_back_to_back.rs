//! A user-side `DChannel` against a network-side one, in process, on a virtual
//! clock: calls both ways, busy, no answer (T303, T310), clearing from either
//! side and colliding, glare, RESTART, link loss, and lost or corrupted frames.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::time::{Duration, Instant};

use dialgate::isdn::lapd::{Side, State as LinkState};
use dialgate::isdn::q931::ie::{NumberingPlan, PartyNumber, ProgressDescription, TypeOfNumber};
use dialgate::isdn::q931::{Cause, Location, MessageType, Timer, Variant};
use dialgate::isdn::{
    CallId, ClearOrigin, Command, Config, DChannel, Direction, Event, SetupRequest,
};

#[expect(clippy::disallowed_methods, reason = "test epoch")]
fn epoch() -> Instant {
    Instant::now()
}

/// What happens to a frame on its way across.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    Deliver,
    Drop,
    /// Flip the address extension bit: the receiver's LAPD must discard it.
    Corrupt,
}

type Filter = Box<dyn FnMut(Side, &[u8]) -> Fate>;

/// The two ends and a virtual clock (quinn's `Pair`).
struct Pair {
    user: DChannel,
    network: DChannel,
    now: Instant,
    user_events: Vec<Event>,
    network_events: Vec<Event>,
    filter: Option<Filter>,
    delivered: usize,
}

impl Pair {
    fn with(user: Config, network: Config) -> Self {
        Self::filtered(user, network, None)
    }

    fn filtered(user: Config, network: Config, filter: Option<Filter>) -> Self {
        let now = epoch();
        let mut pair = Self {
            user: DChannel::new(user),
            network: DChannel::new(network),
            now,
            user_events: Vec::new(),
            network_events: Vec::new(),
            filter,
            delivered: 0,
        };
        pair.user.handle_link_up(now);
        pair.network.handle_link_up(now);
        pair.run();
        pair
    }

    fn new(variant: Variant) -> Self {
        Self::with(
            Config::t1(Side::User, variant),
            Config::t1(Side::Network, variant),
        )
    }

    /// Moves frames both ways until the wire is quiet; collects events.
    fn run(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(frame) = self.user.poll_transmit() {
                moved = true;
                if let Some(frame) = self.impair(Side::User, &frame) {
                    self.network.handle_frame(self.now, &frame);
                }
            }
            while let Some(frame) = self.network.poll_transmit() {
                moved = true;
                if let Some(frame) = self.impair(Side::Network, &frame) {
                    self.user.handle_frame(self.now, &frame);
                }
            }
            while let Some(e) = self.user.poll_event() {
                self.user_events.push(e);
            }
            while let Some(e) = self.network.poll_event() {
                self.network_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("the two sides never went quiet");
    }

    fn impair(&mut self, from: Side, frame: &[u8]) -> Option<Vec<u8>> {
        let fate = match &mut self.filter {
            Some(f) => f(from, frame),
            None => Fate::Deliver,
        };
        match fate {
            Fate::Deliver => {
                self.delivered += 1;
                Some(frame.to_vec())
            }
            Fate::Drop => None,
            Fate::Corrupt => {
                let mut bad = frame.to_vec();
                if let Some(first) = bad.first_mut() {
                    *first |= 0x01;
                }
                Some(bad)
            }
        }
    }

    /// Advances the clock by `by`, firing every deadline on the way.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let next = [self.user.poll_timeout(), self.network.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.user.handle_timeout(self.now);
                    self.network.handle_timeout(self.now);
                    self.run();
                }
                _ => break,
            }
        }
        self.now = end;
        self.run();
    }

    fn user_command(&mut self, command: Command) {
        self.user.handle_command(self.now, command);
        self.run();
    }

    fn network_command(&mut self, command: Command) {
        self.network.handle_command(self.now, command);
        self.run();
    }

    fn user_takes(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.user_events)
    }

    fn network_takes(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.network_events)
    }

    /// Places a call from `side` and returns both ends' ids.
    fn call_from(&mut self, side: Side, request: SetupRequest) -> (CallId, Option<CallId>) {
        let (from, to) = match side {
            Side::User => (&mut self.user, Side::Network),
            Side::Network => (&mut self.network, Side::User),
        };
        let id = from.new_call_id();
        from.handle_command(
            self.now,
            Command::Setup {
                call: id,
                request: Box::new(request),
            },
        );
        self.run();
        let events = match to {
            Side::User => &self.user_events,
            Side::Network => &self.network_events,
        };
        let offered = events.iter().rev().find_map(|e| match e {
            Event::Setup(s) => Some(s.call),
            _ => None,
        });
        (id, offered)
    }

    fn both_idle(&self, channels: usize) {
        assert_eq!(self.user.call_count(), 0, "user calls left");
        assert_eq!(self.network.call_count(), 0, "network calls left");
        assert_eq!(self.user.idle_channels().len(), channels);
        assert_eq!(self.network.idle_channels().len(), channels);
    }
}

fn number(digits: &str) -> PartyNumber {
    PartyNumber::new(TypeOfNumber::SUBSCRIBER, NumberingPlan::ISDN, digits)
}

fn request() -> SetupRequest {
    SetupRequest {
        calling: Some(number("5551000")),
        ..SetupRequest::new(number("5552000"))
    }
}

fn cleared(events: &[Event]) -> Vec<(CallId, Cause, ClearOrigin)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Cleared {
                call,
                cause,
                origin,
                ..
            } => Some((*call, *cause, *origin)),
            _ => None,
        })
        .collect()
}

#[test]
fn link_comes_up_on_both_sides() {
    let mut pair = Pair::new(Variant::National);
    assert_eq!(pair.user_takes(), [Event::LinkUp]);
    assert_eq!(pair.network_takes(), [Event::LinkUp]);
    assert_eq!(
        pair.user.lapd().unwrap().state(),
        LinkState::MultipleFrameEstablished
    );
}

#[test]
fn user_call_answered_then_cleared_by_user() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    pair.network_takes();
    let (call, offered) = pair.call_from(Side::User, request());
    let offered = offered.expect("network offered the call");
    let events = pair.network_takes();
    let Some(Event::Setup(setup)) = events.first() else {
        panic!("{events:?}");
    };
    assert_eq!(setup.called.as_ref().unwrap().digits, "5552000");
    assert_eq!(setup.calling.as_ref().unwrap().digits, "5551000");
    // The user hunts from the top of the span.
    assert_eq!(setup.channel, 23);
    assert_eq!(pair.user.call_state(call), Some(1));
    assert_eq!(pair.network.call_state(offered), Some(1));

    pair.network_command(Command::Proceeding { call: offered });
    assert_eq!(pair.user_takes(), [Event::Proceeding { call, channel: 23 }]);
    assert_eq!(pair.user.call_state(call), Some(3));
    pair.network_command(Command::Alerting {
        call: offered,
        progress: Some(ProgressDescription::IN_BAND_AVAILABLE),
    });
    let events = pair.user_takes();
    assert!(
        matches!(&events[..], [Event::Alerting { call: c, channel: 23, progress }] if *c == call && progress[0].in_band()),
        "{events:?}"
    );
    pair.network_command(Command::Connect {
        call: offered,
        connected: None,
    });
    assert_eq!(
        pair.user_takes(),
        [Event::Connect {
            call,
            channel: 23,
            connected: None
        }]
    );
    assert_eq!(pair.user.call_state(call), Some(10));
    assert_eq!(pair.network.call_state(offered), Some(10));

    pair.user_command(Command::Release {
        call,
        cause: Cause::NORMAL_CLEARING,
        progress: None,
    });
    assert_eq!(
        cleared(&pair.user_takes()),
        [(call, Cause::NORMAL_CLEARING, ClearOrigin::Local)]
    );
    assert_eq!(
        pair.network_takes(),
        [Event::Cleared {
            call: offered,
            cause: Cause::NORMAL_CLEARING,
            location: Some(Location::USER),
            origin: ClearOrigin::Peer
        }]
    );
    pair.both_idle(23);
    let sent = pair.user.counters().sent;
    assert_eq!(sent.get(MessageType::SETUP), 1);
    assert_eq!(sent.get(MessageType::CONNECT_ACKNOWLEDGE), 1);
    assert_eq!(sent.get(MessageType::DISCONNECT), 1);
    assert_eq!(sent.get(MessageType::RELEASE_COMPLETE), 1);
    assert_eq!(pair.network.counters().sent.get(MessageType::RELEASE), 1);
}

#[test]
fn network_call_answered_then_cleared_by_network() {
    let mut pair = Pair::new(Variant::Dms100);
    pair.user_takes();
    pair.network_takes();
    let (call, offered) = pair.call_from(Side::Network, request());
    let offered = offered.unwrap();
    let events = pair.user_takes();
    let Some(Event::Setup(setup)) = events.first() else {
        panic!("{events:?}");
    };
    // The network hunts from the bottom and offers exclusively.
    assert_eq!((setup.channel, setup.exclusive), (1, true));
    assert_eq!(pair.user.call_state(offered), Some(6));
    assert_eq!(pair.network.call_state(call), Some(6));
    pair.user_command(Command::Alerting {
        call: offered,
        progress: None,
    });
    assert_eq!(pair.network.call_state(call), Some(7));
    pair.user_command(Command::Connect {
        call: offered,
        connected: Some(number("5552000")),
    });
    let events = pair.network_takes();
    assert!(
        matches!(&events[..], [Event::Alerting { .. }, Event::Connect { connected: Some(n), .. }] if n.digits == "5552000"),
        "{events:?}"
    );
    // The user waits for CONNECT ACKNOWLEDGE in U8; it came, so U10.
    assert_eq!(pair.user.call_state(offered), Some(10));
    pair.network_command(Command::Release {
        call,
        cause: Cause::NORMAL_CLEARING,
        progress: None,
    });
    assert_eq!(
        cleared(&pair.user_takes()),
        [(offered, Cause::NORMAL_CLEARING, ClearOrigin::Peer)]
    );
    pair.both_idle(23);
}

#[test]
fn network_rejects_user_call_busy_with_cause_17() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    let (call, offered) = pair.call_from(Side::User, request());
    pair.network_command(Command::Release {
        call: offered.unwrap(),
        cause: Cause::USER_BUSY,
        progress: None,
    });
    assert_eq!(
        cleared(&pair.user_takes()),
        [(call, Cause::USER_BUSY, ClearOrigin::Peer)]
    );
    assert_eq!(
        pair.network
            .counters()
            .sent
            .get(MessageType::RELEASE_COMPLETE),
        1
    );
    pair.both_idle(23);
}

#[test]
fn busy_after_proceeding_clears_with_disconnect_cause_17() {
    let mut pair = Pair::new(Variant::Ess5);
    pair.user_takes();
    let (call, offered) = pair.call_from(Side::User, request());
    let offered = offered.unwrap();
    pair.network_command(Command::Proceeding { call: offered });
    pair.network_command(Command::Release {
        call: offered,
        cause: Cause::USER_BUSY,
        progress: None,
    });
    let events = pair.user_takes();
    assert_eq!(
        cleared(&events),
        [(call, Cause::USER_BUSY, ClearOrigin::Peer)]
    );
    assert_eq!(pair.network.counters().sent.get(MessageType::DISCONNECT), 1);
    pair.both_idle(23);
}

#[test]
fn call_initiated_second_t303_expiry_clears_with_cause_18() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    let (call, offered) = pair.call_from(Side::User, request());
    let offered = offered.unwrap();
    // The network's upper layer never answers: T303 runs out twice.
    pair.advance(Duration::from_secs(4));
    assert_eq!(pair.user.counters().sent.get(MessageType::SETUP), 2);
    assert_eq!(pair.user.call_state(call), Some(1));
    pair.advance(Duration::from_secs(4));
    assert_eq!(
        cleared(&pair.user_takes()),
        [(call, Cause::NO_USER_RESPONDING, ClearOrigin::Timer)]
    );
    assert_eq!(
        cleared(&pair.network_takes()),
        [(offered, Cause::RECOVERY_ON_TIMER_EXPIRY, ClearOrigin::Peer)]
    );
    assert_eq!(pair.user.counters().timer_expiries.get(Timer::T303), 2);
    pair.both_idle(23);
}

#[test]
fn outgoing_proceeding_t310_expiry_disconnects_with_cause_102() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    let (call, offered) = pair.call_from(Side::User, request());
    let offered = offered.unwrap();
    pair.network_command(Command::Proceeding { call: offered });
    pair.user_takes();
    pair.advance(Duration::from_secs(29));
    assert_eq!(pair.user.call_state(call), Some(3));
    pair.advance(Duration::from_secs(1));
    assert_eq!(
        cleared(&pair.user_takes()),
        [(call, Cause::NO_USER_RESPONDING, ClearOrigin::Timer)]
    );
    assert_eq!(
        cleared(&pair.network_takes()),
        [(offered, Cause::RECOVERY_ON_TIMER_EXPIRY, ClearOrigin::Peer)]
    );
    pair.both_idle(23);
}

#[test]
fn network_side_t310_is_ten_seconds() {
    let mut pair = Pair::new(Variant::National);
    pair.network_takes();
    let (call, offered) = pair.call_from(Side::Network, request());
    pair.user_command(Command::Proceeding {
        call: offered.unwrap(),
    });
    pair.advance(Duration::from_secs(10));
    assert_eq!(
        cleared(&pair.network_takes()),
        [(call, Cause::NO_USER_RESPONDING, ClearOrigin::Timer)]
    );
    pair.both_idle(23);
}

#[test]
fn alerting_t301_expiry_clears_with_cause_19() {
    let mut pair = Pair::new(Variant::National);
    pair.network_takes();
    let (call, offered) = pair.call_from(Side::Network, request());
    pair.user_command(Command::Alerting {
        call: offered.unwrap(),
        progress: None,
    });
    pair.advance(Duration::from_secs(180));
    assert_eq!(
        cleared(&pair.network_takes()),
        [(call, Cause::NO_ANSWER, ClearOrigin::Timer)]
    );
    pair.both_idle(23);
}

fn active_call(pair: &mut Pair) -> (CallId, CallId) {
    pair.user_takes();
    pair.network_takes();
    let (call, offered) = pair.call_from(Side::User, request());
    let offered = offered.unwrap();
    pair.network_command(Command::Connect {
        call: offered,
        connected: None,
    });
    pair.user_takes();
    pair.network_takes();
    assert_eq!(pair.user.call_state(call), Some(10));
    (call, offered)
}

#[test]
fn active_both_disconnect_at_once_clear_collision_completes() {
    let mut pair = Pair::new(Variant::National);
    let (call, offered) = active_call(&mut pair);
    // Both DISCONNECTs are on the wire before either arrives.
    pair.user.handle_command(
        pair.now,
        Command::Release {
            call,
            cause: Cause::NORMAL_CLEARING,
            progress: None,
        },
    );
    pair.network.handle_command(
        pair.now,
        Command::Release {
            call: offered,
            cause: Cause::NORMAL_CLEARING,
            progress: None,
        },
    );
    pair.run();
    assert_eq!(
        cleared(&pair.user_takes()),
        [(call, Cause::NORMAL_CLEARING, ClearOrigin::Local)]
    );
    assert_eq!(
        cleared(&pair.network_takes()),
        [(offered, Cause::NORMAL_CLEARING, ClearOrigin::Local)]
    );
    // Each side answered the other's DISCONNECT with RELEASE; the RELEASEs
    // crossed, so nobody sends RELEASE COMPLETE.
    for side in [&pair.user, &pair.network] {
        assert_eq!(side.counters().sent.get(MessageType::RELEASE), 1);
        assert_eq!(side.counters().sent.get(MessageType::RELEASE_COMPLETE), 0);
    }
    pair.both_idle(23);
}

#[test]
fn disconnect_request_t305_then_t308_expiries_restart_the_channel() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    let (call, offered) = pair.call_from(Side::User, request());
    pair.network_command(Command::Proceeding {
        call: offered.unwrap(),
    });
    // From now on the network hears no Q.931 from the user: every user I frame
    // is lost (LAPD retries in vain and may reset, which loses them for good).
    pair.filter = Some(Box::new(|from: Side, frame: &[u8]| {
        if from == Side::User && frame.len() > 4 && frame[2] & 0x01 == 0 {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    pair.user_command(Command::Release {
        call,
        cause: Cause::NORMAL_CLEARING,
        progress: None,
    });
    assert_eq!(pair.user.call_state(call), Some(11));
    pair.advance(Duration::from_secs(30));
    assert_eq!(pair.user.call_state(call), Some(19));
    pair.advance(Duration::from_secs(4));
    assert_eq!(pair.user.call_state(call), Some(19));
    pair.advance(Duration::from_secs(4));
    assert_eq!(pair.user.call_state(call), None);
    let counters = pair.user.counters();
    assert_eq!(counters.timer_expiries.get(Timer::T305), 1);
    assert_eq!(counters.timer_expiries.get(Timer::T308), 2);
    assert_eq!(counters.sent.get(MessageType::RELEASE), 2);
    // The channel went to maintenance: a RESTART for it is outstanding.
    assert_eq!(counters.sent.get(MessageType::RESTART), 1);
    assert_eq!(pair.user.idle_channels().len(), 22);
}

#[test]
fn restart_on_link_up_delays_link_up_until_acknowledged() {
    let user = Config {
        restart_on_link_up: true,
        ..Config::t1(Side::User, Variant::National)
    };
    let mut pair = Pair::with(user, Config::t1(Side::Network, Variant::National));
    // One RESTART per B-channel towards a North American switch.
    assert_eq!(pair.user.counters().sent.get(MessageType::RESTART), 23);
    assert_eq!(
        pair.network
            .counters()
            .sent
            .get(MessageType::RESTART_ACKNOWLEDGE),
        23
    );
    assert_eq!(pair.user_takes(), [Event::LinkUp]);
    assert_eq!(pair.user.idle_channels().len(), 23);
}

#[test]
fn euroisdn_restart_on_link_up_uses_all_interfaces() {
    let network = Config {
        restart_on_link_up: true,
        ..Config::e1(Side::Network, Variant::EuroIsdn)
    };
    let mut pair = Pair::with(Config::e1(Side::User, Variant::EuroIsdn), network);
    assert_eq!(pair.network.counters().sent.get(MessageType::RESTART), 1);
    assert_eq!(pair.network_takes(), [Event::LinkUp]);
    assert_eq!(pair.network.idle_channels().len(), 30);
}

#[test]
fn active_restart_command_clears_the_call_on_both_sides() {
    let mut pair = Pair::new(Variant::National);
    let (call, offered) = active_call(&mut pair);
    let channel = pair.user.channel(call).unwrap();
    pair.network_command(Command::Restart {
        channels: vec![channel],
    });
    assert_eq!(
        cleared(&pair.network_takes()),
        [(offered, Cause::TEMPORARY_FAILURE, ClearOrigin::Restart)]
    );
    assert_eq!(
        cleared(&pair.user_takes()),
        [(call, Cause::TEMPORARY_FAILURE, ClearOrigin::Restart)]
    );
    assert_eq!(pair.user.counters().restarts_received, 1);
    pair.both_idle(23);
}

#[test]
fn unanswered_restart_puts_channels_out_of_service() {
    let user = Config {
        restart_on_link_up: true,
        channels: vec![1, 2],
        ..Config::t1(Side::User, Variant::EuroIsdn)
    };
    let network = Config {
        channels: vec![1, 2],
        ..Config::t1(Side::Network, Variant::EuroIsdn)
    };
    // Every RESTART ACKNOWLEDGE is lost.
    let drop_acks: Filter = Box::new(|from, frame: &[u8]| {
        if from == Side::Network && frame.len() > 8 && frame[8] == 0x4E {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let mut pair = Pair::filtered(user, network, Some(drop_acks));
    assert_eq!(pair.user_takes(), []);
    pair.user_takes();
    pair.advance(Duration::from_secs(240));
    assert_eq!(pair.user.counters().sent.get(MessageType::RESTART), 2);
    let events = pair.user_takes();
    assert!(
        events.contains(&Event::ChannelsOutOfService {
            channels: vec![1, 2]
        }),
        "{events:?}"
    );
    assert!(events.contains(&Event::LinkUp));
    assert_eq!(pair.user.out_of_service_channels(), [1, 2]);
    // With no channel left, a new call is refused at once with cause 34.
    let id = pair.user.new_call_id();
    pair.user_command(Command::Setup {
        call: id,
        request: Box::new(request()),
    });
    assert_eq!(
        cleared(&pair.user_takes()),
        [(id, Cause::NO_CIRCUIT_AVAILABLE, ClearOrigin::Protocol)]
    );
}

#[test]
fn active_layer1_down_clears_every_call_with_cause_38_and_frees_channels() {
    let mut pair = Pair::new(Variant::National);
    let (call, offered) = active_call(&mut pair);
    let (second, _) = pair.call_from(Side::Network, request());
    pair.user_takes();
    pair.user.handle_link_down(pair.now);
    pair.network.handle_link_down(pair.now);
    pair.run();
    let user = pair.user_takes();
    let user_cleared = cleared(&user);
    assert_eq!(user_cleared.len(), 2);
    assert!(
        user_cleared
            .iter()
            .all(|(_, c, o)| *c == Cause::NETWORK_OUT_OF_ORDER && *o == ClearOrigin::Link)
    );
    assert!(user.contains(&Event::LinkDown));
    let network = pair.network_takes();
    let network_cleared = cleared(&network);
    assert!(network_cleared.contains(&(offered, Cause::NETWORK_OUT_OF_ORDER, ClearOrigin::Link)));
    assert!(network_cleared.contains(&(second, Cause::NETWORK_OUT_OF_ORDER, ClearOrigin::Link)));
    pair.both_idle(23);
    let _ = call;
    // The span returns and calls work again.
    pair.user.handle_link_up(pair.now);
    pair.network.handle_link_up(pair.now);
    pair.run();
    assert_eq!(pair.user_takes(), [Event::LinkUp]);
    let (call, offered) = pair.call_from(Side::User, request());
    pair.network_command(Command::Connect {
        call: offered.unwrap(),
        connected: None,
    });
    assert_eq!(pair.user.call_state(call), Some(10));
}

#[test]
fn command_while_layer1_down_is_refused_with_cause_38() {
    let mut pair = Pair::new(Variant::National);
    pair.user.handle_link_down(pair.now);
    pair.run();
    pair.user_takes();
    let (call, _) = pair.call_from(Side::User, request());
    assert_eq!(
        cleared(&pair.user_takes()),
        [(call, Cause::NETWORK_OUT_OF_ORDER, ClearOrigin::Link)]
    );
}

#[test]
fn layer2_failure_keeps_active_calls_for_t309_and_resynchronises() {
    let mut pair = Pair::new(Variant::National);
    let (call, offered) = active_call(&mut pair);
    // A call still being set up is lost with the link; the active one survives.
    let (ringing, ringing_offered) = pair.call_from(Side::User, request());
    pair.network_command(Command::Proceeding {
        call: ringing_offered.unwrap(),
    });
    pair.user_takes();
    pair.filter = Some(Box::new(|_, _| Fate::Drop));
    // T203 polls go unanswered, N200 retries, then layer 2 gives up.
    pair.advance(Duration::from_secs(20));
    let events = pair.user_takes();
    assert!(events.contains(&Event::LinkDown), "{events:?}");
    assert_eq!(
        cleared(&events),
        [(ringing, Cause::TEMPORARY_FAILURE, ClearOrigin::Link)]
    );
    assert_eq!(pair.user.call_state(call), Some(10));
    pair.filter = None;
    pair.advance(Duration::from_secs(5));
    assert!(pair.user_takes().contains(&Event::LinkUp));
    assert_eq!(pair.user.call_state(call), Some(10));
    assert_eq!(pair.network.call_state(offered), Some(10));
    // Both asked where the call stands and got STATUS back.
    assert!(pair.user.counters().sent.get(MessageType::STATUS_ENQUIRY) >= 1);
    assert!(pair.user.counters().received.get(MessageType::STATUS) >= 1);
    assert_eq!(pair.user.counters().timer_expiries.get(Timer::T309), 0);
}

#[test]
fn layer2_failure_longer_than_t309_clears_active_calls_with_cause_27() {
    let mut pair = Pair::new(Variant::National);
    let (call, _) = active_call(&mut pair);
    pair.filter = Some(Box::new(|_, _| Fate::Drop));
    pair.advance(Duration::from_secs(120));
    let events = pair.user_takes();
    assert!(
        cleared(&events).contains(&(call, Cause::DESTINATION_OUT_OF_ORDER, ClearOrigin::Timer)),
        "{events:?}"
    );
    assert_eq!(pair.user.counters().timer_expiries.get(Timer::T309), 1);
}

#[test]
fn dropped_setup_frame_is_recovered_by_t200() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    let mut dropped = false;
    pair.filter = Some(Box::new(move |from, frame: &[u8]| {
        if !dropped && from == Side::User && frame.len() > 8 && frame[8] == 0x05 {
            dropped = true;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    let (call, offered) = pair.call_from(Side::User, request());
    assert_eq!(offered, None);
    pair.advance(Duration::from_secs(2));
    let offered = pair
        .network_takes()
        .iter()
        .find_map(|e| match e {
            Event::Setup(s) => Some(s.call),
            _ => None,
        })
        .expect("SETUP arrived after LAPD recovery");
    pair.network_command(Command::Connect {
        call: offered,
        connected: None,
    });
    assert_eq!(pair.user.call_state(call), Some(10));
    // Layer 2 recovered it: Q.931 never retransmitted.
    assert_eq!(pair.user.counters().sent.get(MessageType::SETUP), 1);
}

#[test]
fn dropped_frame_in_a_burst_is_recovered_by_rej() {
    let mut pair = Pair::new(Variant::National);
    let (_call, offered) = active_call(&mut pair);
    // Network sends two I frames back to back; the first is lost, the second is
    // out of sequence: the user REJects and the network retransmits at once.
    let mut seen = 0;
    pair.filter = Some(Box::new(move |from, frame: &[u8]| {
        if from == Side::Network && frame.len() > 4 && frame[2] & 0x01 == 0 {
            seen += 1;
            if seen == 1 {
                return Fate::Drop;
            }
        }
        Fate::Deliver
    }));
    pair.network
        .handle_command(pair.now, Command::StatusEnquiry { call: offered });
    pair.network
        .handle_command(pair.now, Command::StatusEnquiry { call: offered });
    pair.run();
    assert_eq!(pair.user.counters().sent.get(MessageType::STATUS), 2);
    let rej = pair
        .user
        .lapd()
        .unwrap()
        .counters()
        .tx
        .get(dialgate::isdn::lapd::FrameType::Rej);
    assert_eq!(rej, 1);
}

#[test]
fn corrupted_connect_frame_is_recovered_by_t200() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    let (call, offered) = pair.call_from(Side::User, request());
    let mut corrupted = false;
    pair.filter = Some(Box::new(move |from, frame: &[u8]| {
        if !corrupted && from == Side::Network && frame.len() > 8 && frame[8] == 0x07 {
            corrupted = true;
            Fate::Corrupt
        } else {
            Fate::Deliver
        }
    }));
    pair.network_command(Command::Connect {
        call: offered.unwrap(),
        connected: None,
    });
    assert_eq!(pair.user.call_state(call), Some(1));
    pair.advance(Duration::from_secs(2));
    assert_eq!(pair.user.call_state(call), Some(10));
    assert_eq!(pair.network.counters().sent.get(MessageType::CONNECT), 1);
}

#[test]
fn glare_network_wins_and_user_retries_on_another_channel() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    pair.network_takes();
    let user_call = pair.user.new_call_id();
    let network_call = pair.network.new_call_id();
    let on_channel_5 = |exclusive| SetupRequest {
        channel: Some(5),
        exclusive: Some(exclusive),
        ..request()
    };
    // Both SETUPs are on the wire before either arrives.
    pair.user.handle_command(
        pair.now,
        Command::Setup {
            call: user_call,
            request: Box::new(on_channel_5(true)),
        },
    );
    pair.network.handle_command(
        pair.now,
        Command::Setup {
            call: network_call,
            request: Box::new(on_channel_5(true)),
        },
    );
    pair.run();
    let user_events = pair.user_takes();
    let network_events = pair.network_takes();
    // The user accepted the network's call on channel 5...
    let offered_to_user = user_events
        .iter()
        .find_map(|e| match e {
            Event::Setup(s) => Some((s.call, s.channel)),
            _ => None,
        })
        .unwrap();
    assert_eq!(offered_to_user.1, 5);
    // ...and its own call came back on another channel after cause 44.
    let offered_to_network = network_events
        .iter()
        .find_map(|e| match e {
            Event::Setup(s) => Some((s.call, s.channel)),
            _ => None,
        })
        .unwrap();
    assert_ne!(offered_to_network.1, 5);
    assert!(cleared(&user_events).is_empty(), "{user_events:?}");
    assert_eq!(pair.user.counters().glare, 1);
    assert_eq!(pair.user.counters().sent.get(MessageType::SETUP), 2);
    assert_eq!(pair.network.counters().errors.channel_refused, 1);
    pair.network_command(Command::Connect {
        call: offered_to_network.0,
        connected: None,
    });
    pair.user_command(Command::Connect {
        call: offered_to_user.0,
        connected: None,
    });
    assert_eq!(pair.user.call_state(user_call), Some(10));
    assert_eq!(pair.network.call_state(network_call), Some(10));
}

#[test]
fn user_preferred_channel_busy_network_picks_another() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    let (_, first) = pair.call_from(
        Side::Network,
        SetupRequest {
            channel: Some(7),
            ..request()
        },
    );
    assert!(first.is_some());
    let (call, offered) = pair.call_from(
        Side::User,
        SetupRequest {
            channel: Some(7),
            exclusive: Some(false),
            ..request()
        },
    );
    pair.network_command(Command::Proceeding {
        call: offered.unwrap(),
    });
    let channel = pair.user.channel(call).unwrap();
    assert_ne!(channel, 7);
    assert!(
        pair.user_takes()
            .contains(&Event::Proceeding { call, channel })
    );
}

#[test]
fn exclusive_channel_busy_is_refused_with_44_and_full_span_with_34() {
    let config = |side| Config {
        channels: vec![1, 2],
        ..Config::t1(side, Variant::National)
    };
    let mut pair = Pair::with(config(Side::User), config(Side::Network));
    pair.user_takes();
    let (_, a) = pair.call_from(
        Side::User,
        SetupRequest {
            channel: Some(1),
            ..request()
        },
    );
    assert!(a.is_some());
    // The user's own table says channel 1 is busy: refused locally with 44.
    let (b, _) = pair.call_from(
        Side::User,
        SetupRequest {
            channel: Some(1),
            ..request()
        },
    );
    assert_eq!(
        cleared(&pair.user_takes()),
        [(
            b,
            Cause::REQUESTED_CHANNEL_NOT_AVAILABLE,
            ClearOrigin::Protocol
        )]
    );
    let (_, c) = pair.call_from(Side::Network, request());
    assert!(c.is_some());
    let (d, _) = pair.call_from(Side::User, request());
    assert_eq!(
        cleared(&pair.user_takes()),
        [(d, Cause::NO_CIRCUIT_AVAILABLE, ClearOrigin::Protocol)]
    );
}

#[test]
fn trace_reports_both_directions_with_decoded_messages() {
    let config = |side| Config {
        trace: true,
        ..Config::e1(side, Variant::EuroIsdn)
    };
    let mut pair = Pair::with(config(Side::User), config(Side::Network));
    pair.user_takes();
    pair.network_takes();
    pair.call_from(Side::User, request());
    let events = pair.user_takes();
    let Some(Event::Trace { direction, message }) = events.first() else {
        panic!("{events:?}");
    };
    assert_eq!(*direction, Direction::Transmit);
    assert_eq!(message.message_type, MessageType::SETUP);
    // EuroISDN: A-law and sending complete in an en-bloc SETUP.
    let text = message.to_string();
    assert!(text.starts_with("SETUP pd = 8  callref = 0x0001"), "{text}");
    assert!(message.sending_complete());
    assert_eq!(
        message.bearer_capability().unwrap().layer1,
        Some(dialgate::isdn::q931::ie::Layer1Protocol::G711_A_LAW)
    );
    let network = pair.network_takes();
    assert!(matches!(
        network.first(),
        Some(Event::Trace {
            direction: Direction::Receive,
            ..
        })
    ));
    let Some(Event::Setup(setup)) = network.get(1) else {
        panic!("{network:?}");
    };
    assert_eq!(
        setup.law,
        dialgate::isdn::q931::ie::Layer1Protocol::G711_A_LAW
    );
    // The user hunts E1 timeslots from the top.
    assert_eq!(setup.channel, 31);
}

#[test]
fn many_calls_both_ways_leave_both_sides_idle() {
    let mut pair = Pair::new(Variant::National);
    pair.user_takes();
    pair.network_takes();
    for round in 0..50 {
        let side = if round % 2 == 0 {
            Side::User
        } else {
            Side::Network
        };
        let (call, offered) = pair.call_from(side, request());
        let offered = offered.unwrap();
        let (caller_clears, answer) = (
            round % 3 == 0,
            Command::Connect {
                call: offered,
                connected: None,
            },
        );
        match side {
            Side::User => pair.network_command(answer),
            Side::Network => pair.user_command(answer),
        }
        let (clearing, id) = if caller_clears {
            (side, call)
        } else {
            (other(side), offered)
        };
        let release = Command::Release {
            call: id,
            cause: Cause::NORMAL_CLEARING,
            progress: None,
        };
        match clearing {
            Side::User => pair.user_command(release),
            Side::Network => pair.network_command(release),
        }
        pair.both_idle(23);
    }
    assert_eq!(cleared(&pair.user_takes()).len(), 50);
    assert_eq!(cleared(&pair.network_takes()).len(), 50);
}

fn other(side: Side) -> Side {
    side.peer()
}
