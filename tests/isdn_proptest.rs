//! Property tests: whatever the peer sends and whatever the upper layer asks, a
//! `DChannel` never panics, and once the dust settles every call it reported is
//! either still in its table or was reported cleared exactly once.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dialgate::isdn::lapd::{self, Lapd, Side};
use dialgate::isdn::q931::ie::{NumberingPlan, PartyNumber, ProgressDescription, TypeOfNumber};
use dialgate::isdn::q931::{Cause, Variant};
use dialgate::isdn::{CallId, Command, Config, DChannel, Event, SetupRequest};
use proptest::prelude::*;

#[expect(clippy::disallowed_methods, reason = "test epoch")]
fn epoch() -> Instant {
    Instant::now()
}

/// Messages a peer might send for CRVs 1-3 and the global one, from which
/// mutations are drawn.
const SEEDS: &[&[u8]] = &[
    &[
        0x08, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03, 0x80, 0x90, 0xA2, 0x18, 0x03, 0xA9, 0x83, 0x85,
    ],
    &[
        0x08, 0x02, 0x00, 0x02, 0x05, 0x04, 0x03, 0x80, 0x90, 0xA2, 0x18, 0x01, 0xA3,
    ],
    &[0x08, 0x02, 0x80, 0x01, 0x02, 0x18, 0x03, 0xA9, 0x83, 0x97],
    &[0x08, 0x02, 0x80, 0x01, 0x01, 0x1E, 0x02, 0x82, 0x88],
    &[0x08, 0x02, 0x80, 0x01, 0x07],
    &[0x08, 0x02, 0x00, 0x01, 0x0F],
    &[0x08, 0x02, 0x80, 0x01, 0x45, 0x08, 0x02, 0x82, 0x91],
    &[0x08, 0x02, 0x00, 0x01, 0x4D],
    &[0x08, 0x02, 0x80, 0x02, 0x5A, 0x08, 0x02, 0x80, 0x90],
    &[
        0x08, 0x02, 0x80, 0x01, 0x7D, 0x08, 0x02, 0x82, 0x9E, 0x14, 0x01, 0x04,
    ],
    &[0x08, 0x02, 0x00, 0x03, 0x75],
    &[
        0x08, 0x02, 0x00, 0x00, 0x46, 0x18, 0x03, 0xA9, 0x83, 0x85, 0x79, 0x01, 0x80,
    ],
    &[0x08, 0x02, 0x00, 0x00, 0x46, 0x79, 0x01, 0x87],
    &[0x08, 0x02, 0x80, 0x00, 0x4E, 0x79, 0x01, 0x87],
    &[
        0x03, 0x02, 0x00, 0x00, 0x0F, 0x01, 0x01, 0xC2, 0x18, 0x03, 0xA9, 0x83, 0x85,
    ],
];

#[derive(Clone, Debug)]
enum Action {
    Peer(Vec<u8>),
    Place(Option<u8>, bool),
    Command(u8, u32),
    Advance(u16),
    LinkDown,
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0..SEEDS.len()).prop_map(|i| SEEDS[i].to_vec()),
        (0..SEEDS.len(), any::<usize>(), any::<u8>()).prop_map(|(i, at, b)| {
            let mut m = SEEDS[i].to_vec();
            let at = at % m.len();
            m[at] = b;
            m
        }),
        (0..SEEDS.len(), any::<usize>()).prop_map(|(i, cut)| {
            let m = SEEDS[i];
            m[..cut % (m.len() + 1)].to_vec()
        }),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => message().prop_map(Action::Peer),
        1 => (proptest::option::of(0u8..30), any::<bool>()).prop_map(|(c, e)| Action::Place(c, e)),
        2 => (0u8..7, 1u32..6).prop_map(|(k, id)| Action::Command(k, id)),
        1 => (0u16..300).prop_map(Action::Advance),
        1 => Just(Action::LinkDown),
    ]
}

fn command(kind: u8, call: CallId) -> Command {
    match kind {
        0 => Command::Proceeding { call },
        1 => Command::Alerting {
            call,
            progress: Some(ProgressDescription::IN_BAND_AVAILABLE),
        },
        2 => Command::Progress {
            call,
            progress: ProgressDescription::IN_BAND_AVAILABLE,
        },
        3 => Command::Connect {
            call,
            connected: None,
        },
        4 => Command::Release {
            call,
            cause: Cause::NORMAL_CLEARING,
            progress: None,
        },
        5 => Command::StatusEnquiry { call },
        _ => Command::Restart { channels: vec![5] },
    }
}

fn run(side: Side, variant: Variant, actions: Vec<Action>) {
    let mut now = epoch();
    let config = Config {
        restart_on_link_up: true,
        hold_inband_disconnect: side == Side::User,
        ..Config::t1(side, variant)
    };
    let mut ours = DChannel::new(config);
    let mut peer = Lapd::new(lapd::Config::new(side.peer()), now);
    ours.handle_link_up(now);
    // Calls reported to the upper layer -> times reported cleared.
    let mut calls: HashMap<CallId, u32> = HashMap::new();
    let shuttle =
        |ours: &mut DChannel, peer: &mut Lapd, now: Instant, calls: &mut HashMap<CallId, u32>| {
            for _ in 0..1000 {
                let mut moved = false;
                while let Some(f) = ours.poll_transmit() {
                    moved = true;
                    peer.handle_frame(now, &f);
                }
                while let Some(f) = peer.poll_transmit() {
                    moved = true;
                    ours.handle_frame(now, &f);
                }
                while peer.poll_event().is_some() {}
                while let Some(e) = ours.poll_event() {
                    match e {
                        Event::Setup(s) => {
                            calls.insert(s.call, 0);
                        }
                        Event::Cleared { call, .. } => *calls.entry(call).or_insert(0) += 1,
                        _ => {}
                    }
                }
                if !moved {
                    return;
                }
            }
        };
    shuttle(&mut ours, &mut peer, now, &mut calls);
    for action in actions {
        match action {
            Action::Peer(m) => peer.handle_command(now, lapd::Command::DataRequest(Bytes::from(m))),
            Action::Place(channel, exclusive) => {
                let call = ours.new_call_id();
                calls.insert(call, 0);
                let request = SetupRequest {
                    channel,
                    exclusive: Some(exclusive),
                    ..SetupRequest::new(PartyNumber::new(
                        TypeOfNumber::SUBSCRIBER,
                        NumberingPlan::ISDN,
                        "5552000",
                    ))
                };
                ours.handle_command(
                    now,
                    Command::Setup {
                        call,
                        request: Box::new(request),
                    },
                );
            }
            Action::Command(kind, id) => ours.handle_command(now, command(kind, CallId(id))),
            Action::Advance(seconds) => {
                let end = now + Duration::from_secs(u64::from(seconds));
                while let Some(at) = [ours.poll_timeout(), peer.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min()
                    .filter(|at| *at <= end)
                {
                    now = now.max(at);
                    ours.handle_timeout(now);
                    peer.handle_timeout(now);
                    shuttle(&mut ours, &mut peer, now, &mut calls);
                }
                now = end;
            }
            Action::LinkDown => {
                ours.handle_link_down(now);
                ours.handle_link_up(now);
            }
        }
        shuttle(&mut ours, &mut peer, now, &mut calls);
    }
    for (call, times) in &calls {
        let alive = ours.call_state(*call).is_some();
        assert!(*times <= 1, "{call:?} cleared {times} times");
        assert!(alive || *times == 1, "{call:?} vanished without Cleared");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn user_side_survives_any_peer_and_any_upper_layer(
        actions in proptest::collection::vec(action(), 1..40),
        variant in prop_oneof![Just(Variant::National), Just(Variant::Ess5), Just(Variant::EuroIsdn)],
    ) {
        run(Side::User, variant, actions);
    }

    #[test]
    fn network_side_survives_any_peer_and_any_upper_layer(
        actions in proptest::collection::vec(action(), 1..40),
        variant in prop_oneof![Just(Variant::National), Just(Variant::Dms100), Just(Variant::EuroIsdn)],
    ) {
        run(Side::Network, variant, actions);
    }
}
