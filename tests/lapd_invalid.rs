//! Frames that break Q.921's rules, and random octets, in every state.
//!
//! Invalid frames are counted by reason and never fatal: frames Q.921 says to discard
//! change nothing; frame-rejection conditions re-establish the link in states 7 and 8
//! only. The property tests throw random octets, random well-formed frames, commands and
//! timer jumps at a machine in each state and check that it never panics, that what it
//! sends is well formed, and that its window bookkeeping stays consistent.

use std::time::{Duration, Instant};

use bytes::Bytes;
use dialgate::isdn::lapd::{
    Address, Command, Config, Event, Frame, FrameType, FrmrInformation, InvalidCounts, Lapd,
    MdlError, Sapi, SequenceNumber, Side, State, Tei,
};
use proptest::prelude::*;

#[expect(clippy::disallowed_methods, reason = "test epoch")]
fn epoch() -> Instant {
    Instant::now()
}

const STATES: [State; 5] = [
    State::TeiAssigned,
    State::AwaitingEstablishment,
    State::AwaitingRelease,
    State::MultipleFrameEstablished,
    State::TimerRecovery,
];

fn peer_address(side: Side, command: bool) -> Address {
    Address::new(
        Sapi::CALL_CONTROL,
        Tei::POINT_TO_POINT,
        side.peer(),
        command,
    )
}

fn drain(lapd: &mut Lapd) -> (Vec<Frame>, Vec<Event>) {
    let side = lapd.config().side;
    let frames: Vec<Frame> = std::iter::from_fn(|| lapd.poll_transmit())
        .map(|bytes| {
            let frame = Frame::decode(&bytes).expect("sent frames decode");
            let address = frame.address();
            assert_eq!(
                (address.sapi, address.tei),
                (Sapi::CALL_CONTROL, Tei::POINT_TO_POINT)
            );
            assert!(
                frame.frame_type().allows(frame.is_command_from(side)),
                "{side:?} sent {frame:?} with the wrong C/R"
            );
            frame
        })
        .collect();
    (frames, std::iter::from_fn(|| lapd.poll_event()).collect())
}

// A machine of `side` put into `state` through its public API, output drained. In
// states 7 and 8 it has three I frames outstanding.
fn in_state(state: State, side: Side) -> (Lapd, Instant) {
    let t0 = epoch();
    let initiating = state == State::AwaitingEstablishment;
    let config = Config {
        initiate_establishment: initiating,
        ..Config::new(side)
    };
    let mut lapd = Lapd::new(config, t0);
    if matches!(
        state,
        State::MultipleFrameEstablished | State::TimerRecovery | State::AwaitingRelease
    ) {
        let sabme = Frame::Sabme {
            address: peer_address(side, true),
            poll_final: true,
        };
        lapd.handle_frame(t0, &sabme.encode());
        for n in 0..3 {
            lapd.handle_command(t0, Command::DataRequest(Bytes::from(vec![0x08, n])));
        }
    }
    match state {
        State::TimerRecovery => lapd.handle_timeout(t0 + Config::T200),
        State::AwaitingRelease => lapd.handle_command(t0, Command::ReleaseRequest),
        _ => {}
    }
    drain(&mut lapd);
    assert_eq!(lapd.state(), state);
    (lapd, t0)
}

fn check_invariants(lapd: &Lapd) {
    if let Some(v) = lapd.variables() {
        let outstanding = usize::from(v.vs.distance_from(v.va));
        assert!(outstanding <= usize::from(lapd.config().k), "{v:?}");
        assert!(
            lapd.i_queue_len() >= outstanding,
            "{v:?} with {} queued",
            lapd.i_queue_len()
        );
    }
    assert!(lapd.i_queue_len() <= lapd.config().i_queue_limit);
}

struct Case {
    name: &'static str,
    // Octets as a network-side peer would send them to our user side.
    bytes: Vec<u8>,
    counter: fn(&InvalidCounts) -> u64,
    // The MDL-ERROR of a frame-rejection condition; None for "discard silently".
    rejection: Option<MdlError>,
}

fn cases() -> Vec<Case> {
    let mut too_long_i = vec![0x02, 0x01, 0x00, 0x00];
    too_long_i.extend(std::iter::repeat_n(0x55, Config::N201 + 1));
    vec![
        Case {
            name: "empty",
            bytes: vec![],
            counter: |c| c.too_short,
            rejection: None,
        },
        Case {
            name: "one octet",
            bytes: vec![0x02],
            counter: |c| c.too_short,
            rejection: None,
        },
        Case {
            name: "address only",
            bytes: vec![0x02, 0x01],
            counter: |c| c.too_short,
            rejection: None,
        },
        Case {
            name: "3-octet RR",
            bytes: vec![0x02, 0x01, 0x01],
            counter: |c| c.too_short,
            rejection: None,
        },
        Case {
            name: "3-octet I",
            bytes: vec![0x02, 0x01, 0x00],
            counter: |c| c.too_short,
            rejection: None,
        },
        Case {
            name: "EA0 set",
            bytes: vec![0x03, 0x01, 0x7F],
            counter: |c| c.address_extension,
            rejection: None,
        },
        Case {
            name: "EA1 clear",
            bytes: vec![0x02, 0x00, 0x7F],
            counter: |c| c.address_extension,
            rejection: None,
        },
        Case {
            name: "SAPI 63",
            bytes: vec![0xFE, 0x01, 0x7F],
            counter: |c| c.wrong_sapi,
            rejection: None,
        },
        Case {
            name: "SAPI 16",
            bytes: vec![0x42, 0x01, 0x7F],
            counter: |c| c.wrong_sapi,
            rejection: None,
        },
        Case {
            name: "TEI 5",
            bytes: vec![0x02, 0x0B, 0x7F],
            counter: |c| c.wrong_tei,
            rejection: None,
        },
        Case {
            name: "TEI 127 SABME",
            bytes: vec![0x02, 0xFF, 0x7F],
            counter: |c| c.wrong_tei,
            rejection: None,
        },
        Case {
            name: "UA as a command",
            bytes: vec![0x02, 0x01, 0x73],
            counter: |c| c.wrong_command_response,
            rejection: None,
        },
        Case {
            name: "I as a response",
            bytes: vec![0x00, 0x01, 0x00, 0x00, 0x08],
            counter: |c| c.wrong_command_response,
            rejection: None,
        },
        Case {
            name: "undefined S frame",
            bytes: vec![0x00, 0x01, 0x0D, 0x00],
            counter: |c| c.undefined_control,
            rejection: Some(MdlError::UndefinedControlField),
        },
        Case {
            name: "undefined U frame",
            bytes: vec![0x02, 0x01, 0xE3],
            counter: |c| c.undefined_control,
            rejection: Some(MdlError::UndefinedControlField),
        },
        Case {
            name: "SABME with information",
            bytes: vec![0x02, 0x01, 0x7F, 0x00],
            counter: |c| c.information_not_permitted,
            rejection: Some(MdlError::InformationFieldNotPermitted),
        },
        Case {
            name: "DISC with information",
            bytes: vec![0x02, 0x01, 0x53, 0x00],
            counter: |c| c.information_not_permitted,
            rejection: Some(MdlError::InformationFieldNotPermitted),
        },
        Case {
            name: "RR with information",
            bytes: vec![0x00, 0x01, 0x01, 0x00, 0x00],
            counter: |c| c.wrong_length,
            rejection: Some(MdlError::WrongFrameSize),
        },
        Case {
            name: "FRMR with 3 octets",
            bytes: vec![0x00, 0x01, 0x87, 0x01, 0x00, 0x00],
            counter: |c| c.wrong_length,
            rejection: Some(MdlError::WrongFrameSize),
        },
        Case {
            name: "I longer than N201",
            bytes: too_long_i,
            counter: |c| c.information_too_long,
            rejection: Some(MdlError::InformationFieldTooLong),
        },
    ]
}

#[test]
fn invalid_frames_are_counted_and_handled_as_q921_says_in_every_state() {
    for state in STATES {
        for case in cases() {
            let (mut lapd, t0) = in_state(state, Side::User);
            let before = lapd.variables();
            let received = lapd.counters().rx;
            lapd.handle_frame(t0, &case.bytes);
            let (sent, events) = drain(&mut lapd);
            let what = format!("{} in {state:?}", case.name);
            assert_eq!((case.counter)(&lapd.counters().invalid), 1, "{what}");
            assert_eq!(lapd.counters().invalid.total(), 1, "{what}");
            assert_eq!(lapd.counters().rx, received, "{what}");
            let established = matches!(
                state,
                State::MultipleFrameEstablished | State::TimerRecovery
            );
            match case.rejection {
                Some(error) if established => {
                    assert_eq!(events, [Event::MdlErrorIndication(error)], "{what}");
                    assert_eq!(lapd.state(), State::AwaitingEstablishment, "{what}");
                    assert!(
                        matches!(sent[..], [Frame::Sabme { .. }]),
                        "{what}: {sent:?}"
                    );
                }
                _ => {
                    assert!(events.is_empty(), "{what}: {events:?}");
                    assert!(sent.is_empty(), "{what}: {sent:?}");
                    assert_eq!(lapd.state(), state, "{what}");
                    assert_eq!(lapd.variables(), before, "{what}");
                }
            }
        }
    }
}

#[test]
fn broken_broadcast_frames_never_reset_the_link() {
    let (mut lapd, t0) = in_state(State::MultipleFrameEstablished, Side::User);
    // UI on the group TEI with an information field longer than N201.
    let mut bytes = vec![0x02, 0xFF, 0x03];
    bytes.extend(std::iter::repeat_n(0, Config::N201 + 1));
    lapd.handle_frame(t0, &bytes);
    assert_eq!(lapd.state(), State::MultipleFrameEstablished);
    assert_eq!(lapd.counters().invalid.information_too_long, 1);
}

#[test]
fn xid_is_ignored_in_every_state() {
    for state in STATES {
        let (mut lapd, t0) = in_state(state, Side::User);
        lapd.handle_frame(t0, &[0x02, 0x01, 0xBF, 0x82, 0x80, 0x00]);
        let (sent, events) = drain(&mut lapd);
        assert!(sent.is_empty() && events.is_empty(), "{state:?}");
        assert_eq!(lapd.state(), state);
        assert_eq!(lapd.counters().rx.get(FrameType::Xid), 1);
    }
}

// ---- property tests ----

#[derive(Clone, Debug)]
enum Action {
    Octets(Vec<u8>),
    Frame {
        kind: u8,
        command: bool,
        poll_final: bool,
        ns: u8,
        nr: u8,
        information: Vec<u8>,
    },
    Wait(u16),
    Establish,
    Release,
    Data(Vec<u8>),
    UnitData(Vec<u8>),
    Busy(bool),
}

// Well-formed frames from the peer, mostly with sequence numbers near the window.
fn frame_octets(side: Side, action: &Action) -> Vec<u8> {
    let Action::Frame {
        kind,
        command,
        poll_final,
        ns,
        nr,
        information,
    } = action
    else {
        return Vec::new();
    };
    let address = peer_address(side, *command);
    let ns = SequenceNumber::new(*ns);
    let nr = SequenceNumber::new(*nr);
    let poll_final = *poll_final;
    let information = Bytes::from(information.clone());
    let frame = match kind % 11 {
        0 => Frame::I {
            address,
            ns,
            nr,
            poll_final,
            information,
        },
        1 => Frame::Rr {
            address,
            nr,
            poll_final,
        },
        2 => Frame::Rnr {
            address,
            nr,
            poll_final,
        },
        3 => Frame::Rej {
            address,
            nr,
            poll_final,
        },
        4 => Frame::Sabme {
            address,
            poll_final,
        },
        5 => Frame::Ua {
            address,
            poll_final,
        },
        6 => Frame::Disc {
            address,
            poll_final,
        },
        7 => Frame::Dm {
            address,
            poll_final,
        },
        8 => Frame::Frmr {
            address,
            poll_final,
            information: FrmrInformation([0, 0, 0, 0, 1]),
        },
        9 => Frame::Ui {
            address,
            poll_final,
            information,
        },
        _ => Frame::Xid {
            address,
            poll_final,
            information,
        },
    };
    frame.encode().to_vec()
}

fn action() -> impl Strategy<Value = Action> {
    let sequence = prop_oneof![3 => 0u8..10, 1 => any::<u8>()];
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..12).prop_map(Action::Octets),
        6 => (any::<u8>(), any::<bool>(), any::<bool>(), sequence.clone(), sequence,
              prop::collection::vec(any::<u8>(), 0..4))
            .prop_map(|(kind, command, poll_final, ns, nr, information)| Action::Frame {
                kind, command, poll_final, ns, nr, information,
            }),
        2 => (0u16..12_000).prop_map(Action::Wait),
        1 => Just(Action::Establish),
        1 => Just(Action::Release),
        3 => prop::collection::vec(any::<u8>(), 0..6).prop_map(Action::Data),
        1 => prop::collection::vec(any::<u8>(), 0..3).prop_map(Action::UnitData),
        1 => any::<bool>().prop_map(Action::Busy),
    ]
}

fn apply(lapd: &mut Lapd, now: &mut Instant, action: &Action) {
    let side = lapd.config().side;
    match action {
        Action::Octets(octets) => lapd.handle_frame(*now, octets),
        Action::Frame { .. } => lapd.handle_frame(*now, &frame_octets(side, action)),
        Action::Wait(ms) => {
            *now += Duration::from_millis(u64::from(*ms));
            lapd.handle_timeout(*now);
        }
        Action::Establish => lapd.handle_command(*now, Command::EstablishRequest),
        Action::Release => lapd.handle_command(*now, Command::ReleaseRequest),
        Action::Data(m) => lapd.handle_command(*now, Command::DataRequest(Bytes::from(m.clone()))),
        Action::UnitData(m) => {
            lapd.handle_command(*now, Command::UnitDataRequest(Bytes::from(m.clone())));
        }
        Action::Busy(true) => lapd.handle_command(*now, Command::SetOwnReceiverBusy),
        Action::Busy(false) => lapd.handle_command(*now, Command::ClearOwnReceiverBusy),
    }
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::User), Just(Side::Network)]
}

proptest! {
    #[test]
    fn random_octets_never_panic_in_any_state(
        state in prop::sample::select(STATES.to_vec()),
        side in side(),
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..20),
    ) {
        let (mut lapd, t0) = in_state(state, side);
        for frame in &frames {
            lapd.handle_frame(t0, frame);
            drain(&mut lapd);
            check_invariants(&lapd);
        }
    }

    #[test]
    fn random_frames_commands_and_timers_never_break_the_machine(
        state in prop::sample::select(STATES.to_vec()),
        side in side(),
        actions in prop::collection::vec(action(), 1..60),
    ) {
        let (mut lapd, mut now) = in_state(state, side);
        for action in &actions {
            apply(&mut lapd, &mut now, action);
            drain(&mut lapd);
            check_invariants(&lapd);
            // Every expired timer was handled: the next deadline lies in the future.
            if let Some(deadline) = lapd.poll_timeout() {
                prop_assert!(deadline > now);
            }
        }
    }

    #[test]
    fn decode_never_panics_and_valid_frames_encode_back_exactly(
        octets in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        if let Ok(frame) = Frame::decode(&octets) {
            prop_assert_eq!(&frame.encode()[..], &octets[..]);
            let _ = frame.display(Side::User).to_string();
        }
    }

    #[test]
    fn every_frame_round_trips(
        side in side(),
        action in (any::<u8>(), any::<bool>(), any::<bool>(), 0u8..128, 0u8..128,
                   prop::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(kind, command, poll_final, ns, nr, information)| Action::Frame {
                kind, command, poll_final, ns, nr, information,
            }),
    ) {
        let octets = frame_octets(side, &action);
        let frame = Frame::decode(&octets).expect("encoded frames decode");
        prop_assert_eq!(&frame.encode()[..], &octets[..]);
    }
}
