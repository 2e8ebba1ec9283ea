//! Captures from `line::pcap` decoded by tshark (`t1-e1-hdlc-notes.md` sections 9.1 and
//! 9.4): a link set-up, a call set-up and a link release, captured from either side. The
//! decode must show the right LAPD commands and responses and the Q.931 messages, and the
//! malformed/expert filter must print nothing.
//!
//! Needs `tshark`. Without it the test prints `skipped: tshark not installed` and passes,
//! unless `DIALGATE_REQUIRE_TOOLS=1` (CI sets it), when it fails.

mod common;

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use dialgate::line::pcap::{Direction, PcapWriter, Side};

/// Q.931 SETUP from the user: CRV 1, speech mu-law, B-channel 1 exclusive, called "1234"
/// (`q931-call-control.md` sections 2 and 5).
const SETUP: &[u8] = &[
    0x08, 0x02, 0x00, 0x01, 0x05, // PD, call reference (flag 0, CRV 1), SETUP
    0x04, 0x03, 0x80, 0x90, 0xA2, // bearer capability: speech, 64 kbit/s, mu-law
    0x18, 0x03, 0xA9, 0x83, 0x81, // channel identification: PRI, exclusive, B1
    0x70, 0x05, 0x80, 0x31, 0x32, 0x33, 0x34, // called party number "1234"
];
/// CALL PROCEEDING from the network: CRV 1 with flag 1, B-channel 1.
const CALL_PROCEEDING: &[u8] = &[0x08, 0x02, 0x80, 0x01, 0x02, 0x18, 0x03, 0xA9, 0x83, 0x81];

/// The exchange as (sent by the user?, LAPD frame). Address octet 1 is SAPI << 2 | C/R << 1:
/// a user sends commands with C/R 0 and responses with C/R 1, the network the other way.
fn exchange() -> Vec<(bool, Vec<u8>)> {
    let i_frame = |address: u8, ns: u8, nr: u8, q931: &[u8]| {
        let mut f = vec![address, 0x01, ns << 1, nr << 1];
        f.extend_from_slice(q931);
        f
    };
    vec![
        (true, vec![0x00, 0x01, 0x7F]),                // SABME, P=1
        (false, vec![0x00, 0x01, 0x73]),               // UA, F=1
        (true, i_frame(0x00, 0, 0, SETUP)),            // I N(S)=0 N(R)=0: SETUP
        (false, vec![0x00, 0x01, 0x01, 0x02]),         // RR response N(R)=1
        (false, i_frame(0x02, 0, 1, CALL_PROCEEDING)), // I N(S)=0 N(R)=1
        (true, vec![0x02, 0x01, 0x01, 0x02]),          // RR response N(R)=1
        (true, vec![0x00, 0x01, 0x53]),                // DISC, P=1
        (false, vec![0x00, 0x01, 0x73]),               // UA, F=1
    ]
}

fn write_capture(path: &Path, side: Side) {
    let file = std::fs::File::create(path).expect("create the capture file");
    let mut writer =
        PcapWriter::new(std::io::BufWriter::new(file), side).expect("write the capture header");
    let start = UNIX_EPOCH + Duration::from_secs(1_796_112_000);
    for (n, (by_user, frame)) in exchange().into_iter().enumerate() {
        let sent = by_user == (side == Side::User);
        let direction = if sent {
            Direction::Sent
        } else {
            Direction::Received
        };
        let at = start + Duration::from_millis(20 * n as u64);
        writer
            .write_frame(at, direction, &frame)
            .expect("write a frame");
    }
    writer.flush().expect("flush the capture");
}

#[test]
fn user_and_network_captures_decode_as_lapd_and_q931() {
    if !common::tool_installed("tshark", "--version") {
        return;
    }
    // Fields: direction (0 User->Network, 1 Network->User), U-frame command modifier
    // (0x1b SABME, 0x10 DISC), U-frame response modifier (0x18 UA), S-frame type (0 RR),
    // N(S), Q.931 call reference flag, Q.931 message type (0x05 SETUP, 0x02 CALL PROC).
    let expected = [
        "0\t0x1b\t\t\t\t\t",
        "1\t\t0x18\t\t\t\t",
        "0\t\t\t\t0\t0\t0x05",
        "1\t\t\t0x0000\t\t\t",
        "1\t\t\t\t0\t1\t0x02",
        "0\t\t\t0x0000\t\t\t",
        "0\t0x10\t\t\t\t\t",
        "1\t\t0x18\t\t\t\t",
    ];
    let dir = tempfile::tempdir().unwrap();
    for side in [Side::User, Side::Network] {
        let path = dir.path().join(format!("{side:?}.pcapng"));
        write_capture(&path, side);
        let file = path.to_str().unwrap();
        let fields = common::tshark(&[
            "-r",
            file,
            "-T",
            "fields",
            "-e",
            "lapd.direction",
            "-e",
            "lapd.control.u_modifier_cmd",
            "-e",
            "lapd.control.u_modifier_resp",
            "-e",
            "lapd.control.s_ftype",
            "-e",
            "lapd.control.n_s",
            "-e",
            "q931.call_ref_flag",
            "-e",
            "q931.message_type",
        ]);
        let lines: Vec<&str> = fields.lines().collect();
        assert_eq!(lines, expected, "{side:?} side capture:\n{fields}");
        let complaints = common::tshark(&[
            "-r",
            file,
            "-Y",
            "_ws.malformed || _ws.expert.severity >= warning",
        ]);
        assert_eq!(
            complaints, "",
            "{side:?} side capture has malformed or warned packets"
        );
    }
}
