//! The call-flow examples of `reference/q931-call-control.md` section 13 (and
//! the layer-2 call of `reference/q921-lapd.md` section 11), replayed through a
//! `DChannel`: the peer is a bare LAPD link that injects the reference's octets,
//! and every message our call control builds is compared byte for byte.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use dialgate::isdn::lapd::{self, Lapd, Side};
use dialgate::isdn::q931::ie::{
    NumberingPlan, PartyNumber, Presentation, ProgressDescription, Screening, TypeOfNumber,
};
use dialgate::isdn::q931::{Cause, Location, MessageType, Variant};
use dialgate::isdn::{CallId, ClearOrigin, Command, Config, DChannel, Event, SetupRequest};

#[expect(clippy::disallowed_methods, reason = "test epoch")]
fn epoch() -> Instant {
    Instant::now()
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// Our `DChannel` against a bare LAPD peer.
struct Wire {
    ours: DChannel,
    peer: Lapd,
    now: Instant,
    /// Q.931 messages our side sent, as the peer received them.
    sent: Vec<Vec<u8>>,
    /// LAPD frames our side sent.
    frames: Vec<Vec<u8>>,
    events: Vec<Event>,
}

impl Wire {
    fn new(config: Config) -> Self {
        let now = epoch();
        let peer_side = config.side.peer();
        let mut wire = Self {
            ours: DChannel::new(config),
            // A passive peer, as in the reference's layer-2 transcript: only we
            // send SABME.
            peer: Lapd::new(
                lapd::Config {
                    initiate_establishment: false,
                    ..lapd::Config::new(peer_side)
                },
                now,
            ),
            now,
            sent: Vec::new(),
            frames: Vec::new(),
            events: Vec::new(),
        };
        wire.ours.handle_link_up(now);
        wire.shuttle();
        wire
    }

    fn user(variant: Variant) -> Self {
        Self::new(Config::t1(Side::User, variant))
    }

    fn network(variant: Variant) -> Self {
        Self::new(Config::t1(Side::Network, variant))
    }

    fn shuttle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(frame) = self.ours.poll_transmit() {
                moved = true;
                self.frames.push(frame.to_vec());
                self.peer.handle_frame(self.now, &frame);
            }
            while let Some(frame) = self.peer.poll_transmit() {
                moved = true;
                self.ours.handle_frame(self.now, &frame);
            }
            while let Some(event) = self.peer.poll_event() {
                if let lapd::Event::DataIndication(message) = event {
                    self.sent.push(message.to_vec());
                }
            }
            while let Some(event) = self.ours.poll_event() {
                self.events.push(event);
            }
            if !moved {
                return;
            }
        }
    }

    /// The peer sends the reference octets.
    fn receive(&mut self, octets: &str) {
        self.peer.handle_command(
            self.now,
            lapd::Command::DataRequest(Bytes::from(hex(octets))),
        );
        self.shuttle();
    }

    fn command(&mut self, command: Command) {
        self.ours.handle_command(self.now, command);
        self.shuttle();
    }

    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(at) = [self.ours.poll_timeout(), self.peer.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .filter(|at| *at <= end)
        {
            self.now = self.now.max(at);
            self.ours.handle_timeout(self.now);
            self.peer.handle_timeout(self.now);
            self.shuttle();
        }
        self.now = end;
    }

    /// Asserts the messages sent since the last call, in order.
    fn expect_sent(&mut self, expected: &[&str]) {
        let sent = std::mem::take(&mut self.sent);
        let expected: Vec<Vec<u8>> = expected.iter().map(|s| hex(s)).collect();
        assert_eq!(sent, expected);
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Places the reference call: CRV 1, speech mu-law, channel 5 exclusive,
    /// calling 5551000 (allowed, not screened), called 5552000.
    fn place_reference_call(&mut self) -> CallId {
        let call = self.ours.new_call_id();
        let request = SetupRequest {
            calling: Some(
                PartyNumber::new(TypeOfNumber::SUBSCRIBER, NumberingPlan::ISDN, "5551000")
                    .with_presentation(Presentation::ALLOWED, Screening::USER_NOT_SCREENED),
            ),
            channel: Some(5),
            exclusive: Some(true),
            ..SetupRequest::new(PartyNumber::new(
                TypeOfNumber::SUBSCRIBER,
                NumberingPlan::ISDN,
                "5552000",
            ))
        };
        self.command(Command::Setup {
            call,
            request: Box::new(request),
        });
        call
    }

    /// The peer's SETUP (the reference one, as the user side sends it) arrives.
    fn offered_reference_call(&mut self) -> CallId {
        self.receive(SETUP);
        self.take_events()
            .iter()
            .find_map(|e| match e {
                Event::Setup(s) => Some(s.call),
                _ => None,
            })
            .expect("SETUP offered")
    }
}

const SETUP: &str = "08 02 00 01 05 04 03 80 90 A2 18 03 A9 83 85 6C 09 41 80 35 35 35 31 30 30 30 \
                     70 08 C1 35 35 35 32 30 30 30";

#[test]
fn user_places_the_reference_call_and_clears_it() {
    let mut wire = Wire::user(Variant::National);
    assert_eq!(wire.take_events(), [Event::LinkUp]);
    let call = wire.place_reference_call();
    wire.expect_sent(&[SETUP]);
    // q921-lapd.md section 11: the I frame carrying it (FCS is the line's job).
    let setup_frame = wire
        .frames
        .iter()
        .find(|f| f.len() > 4 && f[4] == 0x08)
        .unwrap();
    assert_eq!(setup_frame[..], hex(&format!("00 01 00 00 {SETUP}"))[..]);

    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    assert_eq!(wire.take_events(), [Event::Proceeding { call, channel: 5 }]);
    wire.receive("08 02 80 01 01 1E 02 82 88");
    let events = wire.take_events();
    assert!(
        matches!(&events[..], [Event::Alerting { channel: 5, progress, .. }]
            if progress[0].description == ProgressDescription::IN_BAND_AVAILABLE
                && progress[0].location == Location::PUBLIC_LOCAL),
        "{events:?}"
    );
    wire.receive("08 02 80 01 03 1E 02 82 88");
    assert!(matches!(&wire.take_events()[..], [Event::Progress { .. }]));
    wire.receive("08 02 80 01 07");
    wire.expect_sent(&["08 02 00 01 0F"]);
    assert_eq!(wire.ours.call_state(call), Some(10));

    wire.command(Command::StatusEnquiry { call });
    wire.expect_sent(&["08 02 00 01 75"]);

    wire.command(Command::Release {
        call,
        cause: Cause::NORMAL_CLEARING,
        progress: None,
    });
    wire.expect_sent(&["08 02 00 01 45 08 02 80 90"]);
    wire.receive("08 02 80 01 4D");
    wire.expect_sent(&["08 02 00 01 5A"]);
    assert_eq!(wire.ours.call_count(), 0);
}

#[test]
fn user_answers_status_in_u4_and_stays() {
    let mut wire = Wire::user(Variant::National);
    let call = wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.receive("08 02 80 01 01");
    assert_eq!(wire.ours.call_state(call), Some(4));
    wire.sent.clear();
    // STATUS, cause 30, state N4: compatible with our U4, nothing to do.
    wire.receive("08 02 80 01 7D 08 02 82 9E 14 01 04");
    wire.expect_sent(&[]);
    assert_eq!(wire.ours.call_state(call), Some(4));
}

#[test]
fn call_proceeding_without_channel_id_in_u1_is_answered_with_status_96() {
    let mut wire = Wire::user(Variant::National);
    let call = wire.place_reference_call();
    wire.sent.clear();
    wire.receive("08 02 80 01 02");
    wire.expect_sent(&["08 02 00 01 7D 08 03 80 E0 18 14 01 01"]);
    assert_eq!(wire.ours.call_state(call), Some(1));
}

#[test]
fn message_for_unknown_crv_chosen_by_peer_gets_release_complete_81() {
    let mut wire = Wire::user(Variant::National);
    wire.receive("08 02 12 34 01");
    wire.expect_sent(&["08 02 92 34 5A 08 02 80 D1"]);
}

#[test]
fn disconnect_busy_with_pi_8_is_released_and_reported_as_17() {
    let mut wire = Wire::user(Variant::National);
    let call = wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.sent.clear();
    wire.take_events();
    wire.receive("08 02 80 01 45 08 02 82 91 1E 02 82 88");
    assert_eq!(
        wire.take_events(),
        [Event::Cleared {
            call,
            cause: Cause::USER_BUSY,
            location: Some(Location::PUBLIC_LOCAL),
            origin: ClearOrigin::Peer
        }]
    );
    wire.expect_sent(&["08 02 00 01 4D"]);
    wire.receive("08 02 80 01 5A");
    assert_eq!(wire.ours.call_count(), 0);
}

#[test]
fn network_answers_the_reference_call_with_the_reference_messages() {
    let mut wire = Wire::network(Variant::National);
    let call = wire.offered_reference_call();
    wire.command(Command::Proceeding { call });
    wire.expect_sent(&["08 02 80 01 02 18 03 A9 83 85"]);
    wire.command(Command::Progress {
        call,
        progress: ProgressDescription::IN_BAND_AVAILABLE,
    });
    wire.expect_sent(&["08 02 80 01 03 1E 02 82 88"]);
    wire.command(Command::Alerting {
        call,
        progress: Some(ProgressDescription::IN_BAND_AVAILABLE),
    });
    wire.expect_sent(&["08 02 80 01 01 1E 02 82 88"]);
    wire.command(Command::Connect {
        call,
        connected: None,
    });
    wire.expect_sent(&["08 02 80 01 07"]);
    wire.receive("08 02 00 01 0F");
    wire.receive("08 02 00 01 45 08 02 80 90");
    wire.expect_sent(&["08 02 80 01 4D"]);
    wire.receive("08 02 00 01 5A");
    assert_eq!(wire.ours.call_count(), 0);
}

#[test]
fn network_plain_alerting_after_proceeding() {
    let mut wire = Wire::network(Variant::National);
    let call = wire.offered_reference_call();
    wire.command(Command::Proceeding { call });
    wire.command(Command::Alerting {
        call,
        progress: None,
    });
    wire.expect_sent(&["08 02 80 01 02 18 03 A9 83 85", "08 02 80 01 01"]);
}

#[test]
fn network_release_after_t305_carries_the_disconnect_cause() {
    let mut wire = Wire::network(Variant::National);
    let call = wire.offered_reference_call();
    wire.command(Command::Connect {
        call,
        connected: None,
    });
    wire.sent.clear();
    wire.command(Command::Release {
        call,
        cause: Cause::NORMAL_CLEARING,
        progress: None,
    });
    wire.expect_sent(&["08 02 80 01 45 08 02 82 90"]);
    // The peer never answers the DISCONNECT: after T305 the RELEASE repeats
    // our cause ("RELEASE with cause 16, public network local user").
    wire.advance(Duration::from_secs(30));
    wire.expect_sent(&["08 02 80 01 4D 08 02 82 90"]);
}

#[test]
fn user_restarts_channel_5_on_link_up() {
    let config = Config {
        channels: vec![5],
        restart_on_link_up: true,
        ..Config::t1(Side::User, Variant::National)
    };
    let mut wire = Wire::new(config);
    wire.expect_sent(&["08 02 00 00 46 18 03 A9 83 85 79 01 80"]);
    assert_eq!(wire.take_events(), []);
    wire.receive("08 02 80 00 4E 18 03 A9 83 85 79 01 80");
    assert_eq!(wire.take_events(), [Event::LinkUp]);
    assert_eq!(wire.ours.idle_channels(), [5]);
}

#[test]
fn network_acknowledges_restart_of_channel_5() {
    let mut wire = Wire::network(Variant::National);
    wire.receive("08 02 00 00 46 18 03 A9 83 85 79 01 80");
    wire.expect_sent(&["08 02 80 00 4E 18 03 A9 83 85 79 01 80"]);
    assert_eq!(wire.ours.counters().restarts_received, 1);
}

#[test]
fn euroisdn_restart_all_interfaces_and_acknowledge() {
    let config = Config {
        restart_on_link_up: true,
        ..Config::e1(Side::User, Variant::EuroIsdn)
    };
    let mut wire = Wire::new(config);
    wire.expect_sent(&["08 02 00 00 46 79 01 87"]);
    wire.receive("08 02 80 00 4E 79 01 87");
    assert_eq!(wire.take_events(), [Event::LinkUp]);
    // And the other way: a peer's "all interfaces" is acknowledged in kind.
    let mut wire = Wire::network(Variant::EuroIsdn);
    wire.receive("08 02 00 00 46 79 01 87");
    wire.expect_sent(&["08 02 80 00 4E 79 01 87"]);
}

#[test]
fn restart_of_indicated_channels_without_channel_id_gets_status_96() {
    let mut wire = Wire::network(Variant::National);
    wire.receive("08 02 00 00 46 79 01 80");
    wire.expect_sent(&["08 02 80 00 7D 08 03 82 E0 18 14 01 00"]);
}

#[test]
fn restart_of_a_channel_we_lack_gets_status_82() {
    let config = Config {
        channels: vec![1, 2],
        ..Config::t1(Side::Network, Variant::National)
    };
    let mut wire = Wire::new(config);
    wire.receive("08 02 00 00 46 18 03 A9 83 85 79 01 80");
    wire.expect_sent(&["08 02 80 00 7D 08 02 82 D2 14 01 00"]);
}

#[test]
fn message_on_the_global_crv_gets_status_81_state_0() {
    let mut wire = Wire::user(Variant::National);
    wire.receive("08 02 00 00 75");
    wire.expect_sent(&["08 02 80 00 7D 08 02 80 D1 14 01 00"]);
}

#[test]
fn service_is_echoed_as_service_acknowledge_and_takes_the_channel_out() {
    let mut wire = Wire::user(Variant::Ess5);
    wire.receive("03 02 00 00 0F 01 01 C2 18 03 A9 83 85");
    wire.expect_sent(&["03 02 80 00 07 01 01 C2 18 03 A9 83 85"]);
    assert!(!wire.ours.idle_channels().contains(&5));
    assert_eq!(wire.ours.counters().received.maintenance(), 1);
}

#[test]
fn peer_call_is_answered_with_flag_1() {
    let mut wire = Wire::user(Variant::National);
    wire.receive("08 02 00 42 05 04 03 80 90 A2 18 03 A9 83 85 70 08 C1 35 35 35 32 30 30 30");
    let call = wire
        .take_events()
        .iter()
        .find_map(|e| match e {
            Event::Setup(s) => Some(s.call),
            _ => None,
        })
        .unwrap();
    wire.command(Command::Proceeding { call });
    wire.expect_sent(&["08 02 80 42 02 18 03 A9 83 85"]);
}

#[test]
fn setup_without_bearer_capability_is_refused_with_cause_96() {
    let mut wire = Wire::user(Variant::National);
    wire.receive("08 02 00 09 05 18 03 A9 83 85");
    // Cause 96 from the user, BC missing: `08 03 80 E0 04`.
    wire.expect_sent(&["08 02 80 09 5A 08 03 80 E0 04"]);
    assert_eq!(wire.ours.counters().errors.mandatory_ie_missing, 1);
}

#[test]
fn setup_with_broken_channel_id_is_refused_with_cause_100() {
    let mut wire = Wire::user(Variant::National);
    wire.receive("08 02 00 09 05 04 03 80 90 A2 18 02 A9 03");
    wire.expect_sent(&["08 02 80 09 5A 08 03 80 E4 18"]);
    assert_eq!(wire.ours.counters().errors.invalid_ie_contents, 1);
}

#[test]
fn digital_setup_is_refused_with_cause_65() {
    let mut wire = Wire::user(Variant::National);
    wire.receive("08 02 00 09 05 04 02 88 90 18 03 A9 83 85");
    wire.expect_sent(&["08 02 80 09 5A 08 02 80 C1"]);
}

#[test]
fn unknown_message_type_in_a_call_gets_status_97() {
    let mut wire = Wire::user(Variant::National);
    let call = wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.sent.clear();
    wire.receive("08 02 80 01 13");
    wire.expect_sent(&["08 02 00 01 7D 08 03 80 E1 13 14 01 03"]);
    assert_eq!(wire.ours.call_state(call), Some(3));
}

#[test]
fn unexpected_message_in_a_state_gets_status_101() {
    let mut wire = Wire::user(Variant::National);
    let call = wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.receive("08 02 80 01 07");
    wire.sent.clear();
    // CALL PROCEEDING after CONNECT: not compatible with U10.
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.expect_sent(&["08 02 00 01 7D 08 03 80 E5 02 14 01 0A"]);
    assert_eq!(wire.ours.call_state(call), Some(10));
}

#[test]
fn disconnect_without_cause_is_released_with_cause_96() {
    let mut wire = Wire::user(Variant::National);
    let call = wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.receive("08 02 80 01 07");
    wire.sent.clear();
    wire.take_events();
    wire.receive("08 02 80 01 45");
    wire.expect_sent(&["08 02 00 01 4D 08 03 80 E0 08"]);
    assert_eq!(
        wire.take_events(),
        [Event::Cleared {
            call,
            cause: Cause::NORMAL_UNSPECIFIED,
            location: None,
            origin: ClearOrigin::Peer
        }]
    );
}

#[test]
fn first_release_without_cause_is_completed_with_cause_96() {
    let mut wire = Wire::user(Variant::National);
    wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.receive("08 02 80 01 07");
    wire.sent.clear();
    wire.receive("08 02 80 01 4D");
    wire.expect_sent(&["08 02 00 01 5A 08 03 80 E0 08"]);
}

#[test]
fn release_for_unknown_crv_gets_81_and_release_complete_nothing() {
    let mut wire = Wire::user(Variant::National);
    wire.receive("08 02 00 33 4D 08 02 82 90");
    wire.expect_sent(&["08 02 80 33 5A 08 02 80 D1"]);
    wire.receive("08 02 00 33 5A");
    wire.expect_sent(&[]);
}

#[test]
fn status_enquiry_and_status_for_unknown_crv() {
    let mut wire = Wire::user(Variant::National);
    wire.receive("08 02 00 33 75");
    wire.expect_sent(&["08 02 80 33 7D 08 02 80 9E 14 01 00"]);
    // STATUS saying null: nothing. STATUS saying active: RELEASE COMPLETE 101.
    wire.receive("08 02 00 33 7D 08 02 82 9E 14 01 00");
    wire.expect_sent(&[]);
    wire.receive("08 02 00 33 7D 08 02 82 9E 14 01 0A");
    wire.expect_sent(&["08 02 80 33 5A 08 02 80 E5"]);
}

#[test]
fn status_null_for_a_live_call_releases_it_locally() {
    let mut wire = Wire::user(Variant::National);
    let call = wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.receive("08 02 80 01 07");
    wire.sent.clear();
    wire.take_events();
    wire.receive("08 02 80 01 7D 08 02 82 9E 14 01 00");
    wire.expect_sent(&[]);
    assert_eq!(wire.ours.call_count(), 0);
    assert!(matches!(
        &wire.take_events()[..],
        [Event::Cleared {
            cause: Cause::TEMPORARY_FAILURE,
            ..
        }]
    ));
    let _ = call;
}

#[test]
fn dropped_and_foreign_messages_are_ignored() {
    let mut wire = Wire::user(Variant::National);
    for octets in ["08 02 00", "09 02 00 01 05", "08 12 00 01 05", "08 00 62"] {
        wire.receive(octets);
    }
    wire.expect_sent(&[]);
    assert_eq!(wire.ours.counters().errors.dropped, 3);
}

#[test]
fn setup_with_flag_1_is_ignored() {
    let mut wire = Wire::user(Variant::National);
    wire.receive(&SETUP.replacen("08 02 00 01", "08 02 80 01", 1));
    wire.expect_sent(&[]);
    assert_eq!(wire.ours.call_count(), 0);
}

#[test]
fn connect_naming_another_channel_than_our_exclusive_one_is_cleared_with_cause_6() {
    let mut wire = Wire::user(Variant::National);
    let call = wire.place_reference_call();
    wire.sent.clear();
    wire.take_events();
    wire.receive("08 02 80 01 07 18 03 A9 83 86");
    wire.expect_sent(&["08 02 00 01 4D 08 02 80 86"]);
    assert!(matches!(
        &wire.take_events()[..],
        [Event::Cleared {
            cause: Cause::CHANNEL_UNACCEPTABLE,
            origin: ClearOrigin::Protocol,
            ..
        }]
    ));
    let _ = call;
}

#[test]
fn t303_second_expiry_sends_release_complete_102_naming_the_timer() {
    let mut wire = Wire::user(Variant::National);
    wire.place_reference_call();
    wire.advance(Duration::from_secs(4));
    wire.expect_sent(&[SETUP, SETUP]);
    wire.advance(Duration::from_secs(4));
    wire.expect_sent(&["08 02 00 01 5A 08 05 80 E6 33 30 33"]);
    assert_eq!(
        wire.ours.counters().sent.get(MessageType::RELEASE_COMPLETE),
        1
    );
}

#[test]
fn euroisdn_setup_has_a_law_and_sending_complete() {
    let mut wire = Wire::new(Config::e1(Side::User, Variant::EuroIsdn));
    let call = wire.ours.new_call_id();
    wire.command(Command::Setup {
        call,
        request: Box::new(SetupRequest {
            channel: Some(17),
            ..SetupRequest::new(PartyNumber::new(
                TypeOfNumber::UNKNOWN,
                NumberingPlan::ISDN,
                "5552000",
            ))
        }),
    });
    // E1 timeslot 17, exclusive; called number unknown/E.164; A1 last.
    wire.expect_sent(&[
        "08 02 00 01 05 04 03 80 90 A3 18 03 A9 83 91 70 08 81 35 35 35 32 30 30 30 A1",
    ]);
}

#[test]
fn dms100_forces_network_provided_screening_and_prefixes_display() {
    let mut wire = Wire::network(Variant::Dms100);
    let call = wire.ours.new_call_id();
    wire.command(Command::Setup {
        call,
        request: Box::new(SetupRequest {
            calling: Some(PartyNumber::new(
                TypeOfNumber::SUBSCRIBER,
                NumberingPlan::ISDN,
                "5551000",
            )),
            display: Some("John Doe".to_owned()),
            ..SetupRequest::new(PartyNumber::new(
                TypeOfNumber::SUBSCRIBER,
                NumberingPlan::ISDN,
                "5552000",
            ))
        }),
    });
    // Channel 1 (the network hunts from the bottom), display with B1, calling
    // number forced to "network provided".
    wire.expect_sent(&["08 02 00 01 05 04 03 80 90 A2 18 03 A9 83 81 \
         28 09 B1 4A 6F 68 6E 20 44 6F 65 6C 09 41 83 35 35 35 31 30 30 30 \
         70 08 C1 35 35 35 32 30 30 30"]);
}

#[test]
fn layer2_whole_call_matches_q921_section_11() {
    let mut wire = Wire::user(Variant::National);
    let call = wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    // ALERTING and CONNECT arrive back to back, before we transmit again.
    for octets in ["08 02 80 01 01", "08 02 80 01 07"] {
        wire.peer.handle_command(
            wire.now,
            lapd::Command::DataRequest(Bytes::from(hex(octets))),
        );
    }
    wire.shuttle();
    wire.command(Command::Release {
        call,
        cause: Cause::NORMAL_CLEARING,
        progress: None,
    });
    wire.receive("08 02 80 01 4D");
    let frames: Vec<String> = wire
        .frames
        .iter()
        .map(|f| {
            f.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let expected = [
        "00 01 7F".to_owned(),
        format!("00 01 00 00 {SETUP}"),
        "02 01 01 02".to_owned(),
        "00 01 02 06 08 02 00 01 0F".to_owned(),
        "00 01 04 06 08 02 00 01 45 08 02 80 90".to_owned(),
        "00 01 06 08 08 02 00 01 5A".to_owned(),
    ];
    assert_eq!(frames, expected);
}

#[test]
fn network_disconnects_busy_with_in_band_tone() {
    let mut wire = Wire::network(Variant::National);
    let call = wire.offered_reference_call();
    wire.command(Command::Proceeding { call });
    wire.command(Command::Release {
        call,
        cause: Cause::USER_BUSY,
        progress: Some(ProgressDescription::IN_BAND_AVAILABLE),
    });
    wire.expect_sent(&[
        "08 02 80 01 02 18 03 A9 83 85",
        "08 02 80 01 45 08 02 82 91 1E 02 82 88",
    ]);
    // The tone plays on the B-channel: the call stays usable (no Cleared) until the
    // PBX releases; then it is reported with our cause, as our clearing.
    assert_eq!(wire.take_events(), []);
    wire.receive("08 02 00 01 4D");
    wire.expect_sent(&["08 02 80 01 5A"]);
    assert_eq!(
        wire.take_events(),
        [Event::Cleared {
            call,
            cause: Cause::USER_BUSY,
            location: Some(Location::PUBLIC_LOCAL),
            origin: ClearOrigin::Local,
        }]
    );
}

#[test]
fn setup_acknowledge_is_answered_with_sending_complete_as_we_dial_en_bloc() {
    let mut wire = Wire::user(Variant::EuroIsdn);
    let call = wire.place_reference_call();
    wire.sent.clear();
    wire.take_events();
    // Overlap receiving at the network: we have no more digits to give.
    wire.receive("08 02 80 01 0D 18 03 A9 83 85");
    wire.expect_sent(&["08 02 00 01 7B A1"]);
    assert_eq!(wire.take_events(), [Event::Proceeding { call, channel: 5 }]);
    assert_eq!(wire.ours.call_state(call), Some(3));
}

#[test]
fn both_sides_restarting_the_same_channel_proceed_independently() {
    let config = Config {
        channels: vec![5],
        restart_on_link_up: true,
        ..Config::t1(Side::User, Variant::National)
    };
    let mut wire = Wire::new(config);
    wire.expect_sent(&["08 02 00 00 46 18 03 A9 83 85 79 01 80"]);
    // The peer's own RESTART crosses ours: we acknowledge it, and our channel
    // stays reserved until our RESTART is acknowledged in turn.
    wire.receive("08 02 00 00 46 18 03 A9 83 85 79 01 80");
    wire.expect_sent(&["08 02 80 00 4E 18 03 A9 83 85 79 01 80"]);
    assert_eq!(wire.ours.idle_channels(), Vec::<u8>::new());
    wire.receive("08 02 80 00 4E 18 03 A9 83 85 79 01 80");
    assert_eq!(wire.ours.idle_channels(), [5]);
    assert_eq!(wire.take_events(), [Event::LinkUp]);
}

#[test]
fn qsig_setup_drops_the_interface_identifier_and_uses_a_law() {
    let mut wire = Wire::new(Config::e1(Side::Network, Variant::Qsig));
    let call = wire.ours.new_call_id();
    wire.command(Command::Setup {
        call,
        request: Box::new(SetupRequest {
            channel: Some(1),
            ..SetupRequest::new(PartyNumber::new(
                TypeOfNumber::UNKNOWN,
                NumberingPlan::UNKNOWN,
                "200",
            ))
        }),
    });
    wire.expect_sent(&["08 02 00 01 05 04 03 80 90 A3 18 03 A9 83 81 70 04 80 32 30 30"]);
}

#[test]
fn held_in_band_disconnect_waits_for_the_upper_layer_then_releases() {
    let config = Config {
        hold_inband_disconnect: true,
        ..Config::t1(Side::User, Variant::National)
    };
    let mut wire = Wire::new(config);
    let call = wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.sent.clear();
    wire.take_events();
    wire.receive("08 02 80 01 45 08 02 82 91 1E 02 82 88");
    // U12: the busy tone plays in band; nothing is sent yet.
    wire.expect_sent(&[]);
    let events = wire.take_events();
    assert!(
        matches!(&events[..], [Event::Disconnect { cause: Cause::USER_BUSY, progress, .. }]
            if progress[0].in_band()),
        "{events:?}"
    );
    assert_eq!(wire.ours.call_state(call), Some(12));
    assert_eq!(wire.ours.channel(call), Some(5));
    wire.command(Command::Release {
        call,
        cause: Cause::NORMAL_CLEARING,
        progress: None,
    });
    wire.expect_sent(&["08 02 00 01 4D"]);
    assert_eq!(
        wire.take_events(),
        [Event::Cleared {
            call,
            cause: Cause::USER_BUSY,
            location: Some(Location::PUBLIC_LOCAL),
            origin: ClearOrigin::Peer
        }]
    );
    wire.receive("08 02 80 01 5A");
    assert_eq!(wire.ours.call_count(), 0);
}

#[test]
fn held_in_band_disconnect_ends_when_the_peer_releases() {
    let config = Config {
        hold_inband_disconnect: true,
        ..Config::t1(Side::User, Variant::National)
    };
    let mut wire = Wire::new(config);
    let call = wire.place_reference_call();
    wire.receive("08 02 80 01 02 18 03 A9 83 85");
    wire.receive("08 02 80 01 45 08 02 82 91 1E 02 82 88");
    wire.sent.clear();
    wire.take_events();
    // The network's T306 ran out: it releases with the same cause.
    wire.receive("08 02 80 01 4D 08 02 82 91");
    wire.expect_sent(&["08 02 00 01 5A"]);
    assert!(matches!(
        &wire.take_events()[..],
        [Event::Cleared {
            cause: Cause::USER_BUSY,
            origin: ClearOrigin::Peer,
            ..
        }]
    ));
    assert_eq!(wire.ours.call_state(call), None);
}
