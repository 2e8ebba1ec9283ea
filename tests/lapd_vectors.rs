//! Every worked hex example of `reference/q921-lapd.md` section 11, decoded and encoded
//! again byte for byte, and the example call replayed through a user-side data link.
//!
//! The vectors include the FCS as the reference prints them; Q.921 never sees it (the
//! HDLC layer strips it), so each test checks the FCS to prove the vector is intact and
//! then works on the octets before it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use dialgate::isdn::lapd::{
    Address, Command, Config, Event, Frame, Lapd, Sapi, SequenceNumber, Side, State, Tei,
};

const X25: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_SDLC);

#[expect(clippy::disallowed_methods, reason = "test epoch")]
fn epoch() -> Instant {
    Instant::now()
}

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|octet| u8::from_str_radix(octet, 16).expect("hex octet"))
        .collect()
}

// The octets between the flags minus the FCS, after checking the FCS (low octet first).
fn without_fcs(text: &str) -> Vec<u8> {
    let mut bytes = hex(text);
    let high = bytes.pop().expect("FCS high octet");
    let low = bytes.pop().expect("FCS low octet");
    assert_eq!(
        X25.checksum(&bytes),
        u16::from_le_bytes([low, high]),
        "FCS of {text}"
    );
    bytes
}

fn seq(n: u8) -> SequenceNumber {
    SequenceNumber::new(n)
}

fn address(sender: Side, command: bool) -> Address {
    Address::new(Sapi::CALL_CONTROL, Tei::POINT_TO_POINT, sender, command)
}

const SETUP: &str = "08 02 00 01 05 04 03 80 90 A2 18 03 A9 83 85 \
                     6C 09 41 80 35 35 35 31 30 30 30 70 08 C1 35 35 35 32 30 30 30";

// (vector with FCS, the sender, the frame it must decode to)
fn vectors() -> Vec<(String, Side, Frame)> {
    use Side::{Network, User};
    let rr = |sender, command, nr, poll_final| Frame::Rr {
        address: address(sender, command),
        nr: seq(nr),
        poll_final,
    };
    vec![
        (
            "00 01 7F 64 54".into(),
            User,
            Frame::Sabme {
                address: address(User, true),
                poll_final: true,
            },
        ),
        (
            "02 01 7F DC E1".into(),
            Network,
            Frame::Sabme {
                address: address(Network, true),
                poll_final: true,
            },
        ),
        (
            "00 01 73 08 9E".into(),
            Network,
            Frame::Ua {
                address: address(Network, false),
                poll_final: true,
            },
        ),
        (
            "02 01 73 B0 2B".into(),
            User,
            Frame::Ua {
                address: address(User, false),
                poll_final: true,
            },
        ),
        (
            format!("00 01 00 00 {SETUP} A0 19"),
            User,
            Frame::I {
                address: address(User, true),
                ns: seq(0),
                nr: seq(0),
                poll_final: false,
                information: Bytes::from(hex(SETUP)),
            },
        ),
        (
            "00 01 01 02 C8 9C".into(),
            Network,
            rr(Network, false, 1, false),
        ),
        ("02 01 01 02 BE A5".into(), User, rr(User, false, 1, false)),
        (
            "02 01 01 01 25 97".into(),
            Network,
            rr(Network, true, 0, true),
        ),
        ("02 01 01 01 25 97".into(), User, rr(User, false, 0, true)),
        ("00 01 01 01 53 AE".into(), User, rr(User, true, 0, true)),
        (
            "02 01 09 0A 36 E7".into(),
            User,
            Frame::Rej {
                address: address(User, false),
                nr: seq(5),
                poll_final: false,
            },
        ),
        (
            "02 01 05 0A 96 4E".into(),
            User,
            Frame::Rnr {
                address: address(User, false),
                nr: seq(5),
                poll_final: false,
            },
        ),
        (
            "00 01 53 0A BF".into(),
            User,
            Frame::Disc {
                address: address(User, true),
                poll_final: true,
            },
        ),
        (
            "02 01 53 B2 0A".into(),
            Network,
            Frame::Disc {
                address: address(Network, true),
                poll_final: true,
            },
        ),
        (
            "02 01 1F DA 82".into(),
            User,
            Frame::Dm {
                address: address(User, false),
                poll_final: true,
            },
        ),
        (
            "00 01 1F 62 37".into(),
            Network,
            Frame::Dm {
                address: address(Network, false),
                poll_final: true,
            },
        ),
        (
            "02 01 0F 5B 92".into(),
            User,
            Frame::Dm {
                address: address(User, false),
                poll_final: false,
            },
        ),
    ]
}

#[test]
fn every_reference_vector_decodes_to_its_annotation_and_encodes_back() {
    for (text, sender, expected) in vectors() {
        let bytes = without_fcs(&text);
        let frame = Frame::decode(&bytes).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(frame, expected, "{text}");
        assert!(
            frame.frame_type().allows(frame.is_command_from(sender)),
            "{text}"
        );
        assert_eq!(&frame.encode()[..], &bytes[..], "{text}");
    }
}

#[test]
fn reference_vectors_render_for_the_line_watch() {
    let rendered: Vec<String> = vectors()
        .iter()
        .map(|(text, sender, _)| {
            Frame::decode(&without_fcs(text))
                .unwrap()
                .display(*sender)
                .to_string()
        })
        .collect();
    assert_eq!(rendered[0], "SABMEp sapi=0 tei=0");
    assert_eq!(rendered[2], "UAf sapi=0 tei=0");
    assert!(
        rendered[4].starts_with("INFOc sapi=0 tei=0 ns=0 nr=0 i=0x0802000105"),
        "{}",
        rendered[4]
    );
    assert_eq!(rendered[5], "RRr sapi=0 tei=0 nr=1");
    assert_eq!(rendered[7], "RRp sapi=0 tei=0 nr=0");
    assert_eq!(rendered[8], "RRf sapi=0 tei=0 nr=0");
    assert_eq!(rendered[10], "REJr sapi=0 tei=0 nr=5");
    assert_eq!(rendered[16], "DMr sapi=0 tei=0");
}

// Section 11's whole call, with the Q.931 payloads of `q931-call-control.md` section 13.
const CALL_PROCEEDING: &str = "08 02 80 01 02 18 03 A9 83 85";
const ALERTING: &str = "08 02 80 01 01";
const CONNECT: &str = "08 02 80 01 07";
const CONNECT_ACKNOWLEDGE: &str = "08 02 00 01 0F";
const DISCONNECT: &str = "08 02 00 01 45 08 02 80 90";
const RELEASE: &str = "08 02 80 01 4D";
const RELEASE_COMPLETE: &str = "08 02 00 01 5A";

enum Step {
    // The user side must send exactly this frame (FCS included in the text).
    Sends(String),
    // The network's frame arrives.
    Receives(String),
    // Q.931 hands down a message.
    Requests(&'static str),
    // Time passes.
    Waits(Duration),
}

#[test]
fn reference_call_replays_byte_for_byte_on_the_user_side() {
    use Step::{Receives, Requests, Sends, Waits};
    let steps = [
        Sends("00 01 7F 64 54".into()),
        Receives("00 01 73 08 9E".into()),
        Requests(SETUP),
        Sends(format!("00 01 00 00 {SETUP} A0 19")),
        Receives("00 01 01 02 C8 9C".into()),
        Receives(format!("02 01 00 02 {CALL_PROCEEDING} E6 79")),
        Sends("02 01 01 02 BE A5".into()),
        Receives(format!("02 01 02 02 {ALERTING} A4 F3")),
        Receives(format!("02 01 04 02 {CONNECT} 5F CE")),
        // No RR for ALERTING and CONNECT: the CONNECT ACK carries N(R)=3.
        Requests(CONNECT_ACKNOWLEDGE),
        Sends(format!("00 01 02 06 {CONNECT_ACKNOWLEDGE} 60 9D")),
        Receives("00 01 01 04 FE F9".into()),
        Requests(DISCONNECT),
        Sends(format!("00 01 04 06 {DISCONNECT} E4 23")),
        Receives(format!("02 01 06 06 {RELEASE} 16 04")),
        Requests(RELEASE_COMPLETE),
        Sends(format!("00 01 06 08 {RELEASE_COMPLETE} 9C CE")),
        Receives("00 01 01 08 92 33".into()),
        // The network's T203 poll arrives just before ours would.
        Waits(Duration::from_millis(9_900)),
        Receives("02 01 01 09 6D 1B".into()),
        Sends("02 01 01 09 6D 1B".into()),
    ];
    let mut now = epoch();
    let mut user = Lapd::new(Config::new(Side::User), now);
    let mut delivered = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        match step {
            Sends(text) => {
                let sent = user.poll_transmit().map(|b| b.to_vec());
                assert_eq!(sent, Some(without_fcs(text)), "step {index}");
            }
            Receives(text) => user.handle_frame(now, &without_fcs(text)),
            Requests(message) => {
                user.handle_command(now, Command::DataRequest(Bytes::from(hex(message))))
            }
            Waits(duration) => {
                now += *duration;
                user.handle_timeout(now);
            }
        }
        delivered.extend(std::iter::from_fn(|| user.poll_event()));
    }
    assert_eq!(user.poll_transmit(), None);
    assert_eq!(user.state(), State::MultipleFrameEstablished);
    let expected: Vec<Event> = [CALL_PROCEEDING, ALERTING, CONNECT, RELEASE]
        .iter()
        .map(|m| Event::DataIndication(Bytes::from(hex(m))))
        .collect();
    assert_eq!(delivered[0], Event::EstablishConfirm);
    assert_eq!(&delivered[1..], &expected[..]);
}
