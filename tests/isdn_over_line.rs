//! A whole call between a user-side and a network-side PRI over the real line layer: T1
//! and E1 bitstreams through the TCP driver threads, with the network side's D-channel
//! captured as pcapng and checked with tshark.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "these tests drive real sockets and threads in real time; a failed step fails the test"
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, select};
use dialgate::isdn::lapd::Side;
use dialgate::isdn::q931::ie::{NumberingPlan, PartyNumber, TypeOfNumber};
use dialgate::isdn::q931::{Cause, Variant};
use dialgate::isdn::{self, Direction, Pri, pri};
use dialgate::line::pcap::{self, PcapWriter};
use dialgate::line::transport::{self, LineSpec, PortEvent, PortOptions};
use dialgate::line::{Clock, Framing, SpanConfig, T1Framing};

/// One span's stack thread, as the gateway runs it: `select!` over the port, commands
/// and the stack's deadline; D-channel events out; frames into a capture.
fn stack_thread(
    mut pri: Pri,
    port: transport::LinePort,
    commands: Receiver<isdn::Command>,
    events: Sender<isdn::Event>,
    mut capture: Option<PcapWriter<std::fs::File>>,
    stop_at: Instant,
) {
    pri.set_frame_events(capture.is_some());
    loop {
        let deadline = pri
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(100))
            .min(stop_at);
        select! {
            recv(port.events) -> ev => match ev {
                Ok(PortEvent::Data(c)) => pri.handle_rx(c.read_at, &c.bytes),
                Ok(PortEvent::Up { at, .. }) => pri.handle_transport_up(at),
                Ok(PortEvent::Down { at, .. }) => pri.handle_transport_down(at),
                Err(_) => break,
            },
            recv(commands) -> cmd => match cmd {
                Ok(cmd) => pri.handle_command(Instant::now(), cmd),
                Err(_) => break,
            },
            recv(crossbeam_channel::at(deadline)) -> _ => pri.handle_timeout(Instant::now()),
        }
        if Instant::now() >= stop_at {
            break;
        }
        while let Some(b) = pri.poll_transmit() {
            let _ = port.tx.send(b);
        }
        while let Some(ev) = pri.poll_event() {
            match ev {
                pri::Event::Isdn(e) => {
                    let _ = events.send(e);
                }
                pri::Event::Frame { direction, frame } => {
                    if let Some(w) = capture.as_mut() {
                        let d = match direction {
                            Direction::Transmit => pcap::Direction::Sent,
                            Direction::Receive => pcap::Direction::Received,
                        };
                        w.write_frame(SystemTime::now(), d, &frame).unwrap();
                    }
                }
                pri::Event::Line(_) => {}
            }
        }
    }
    if let Some(mut w) = capture {
        w.flush().unwrap();
    }
    port.close();
}

fn next_matching(
    events: &Receiver<isdn::Event>,
    what: &str,
    f: impl Fn(&isdn::Event) -> bool,
) -> isdn::Event {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) if f(&e) => return e,
            Ok(_) => {}
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

/// The network side listens and is the clock master (internal clock); the user side
/// connects and follows (line clock). The user places a call; the network rings,
/// answers; the user hangs up.
fn full_call(framing: Framing, capture: &Path) {
    let (d_net, d_user) = match framing {
        Framing::T1(_) => (
            isdn::Config::t1(Side::Network, Variant::National),
            isdn::Config::t1(Side::User, Variant::National),
        ),
        Framing::E1 { .. } => (
            isdn::Config::e1(Side::Network, Variant::EuroIsdn),
            isdn::Config::e1(Side::User, Variant::EuroIsdn),
        ),
    };
    let mut line = SpanConfig::new(framing);
    line.recovery_after = Duration::from_millis(200);
    let mut master = line.clone();
    master.clock = Clock::Internal;

    let listen = transport::spawn(
        &LineSpec::parse("tcp-listen://127.0.0.1:0").unwrap(),
        PortOptions::default(),
    )
    .unwrap();
    let addr = listen.listen_addr.unwrap();
    let connect = transport::spawn(
        &LineSpec::parse(&format!("tcp://{addr}")).unwrap(),
        PortOptions::default(),
    )
    .unwrap();

    let now = Instant::now();
    let stop_at = now + Duration::from_secs(20);
    let writer =
        PcapWriter::new(std::fs::File::create(capture).unwrap(), pcap::Side::Network).unwrap();
    let (net_cmd, net_cmd_rx) = crossbeam_channel::unbounded();
    let (net_ev_tx, net_ev) = crossbeam_channel::unbounded();
    let (user_cmd, user_cmd_rx) = crossbeam_channel::unbounded();
    let (user_ev_tx, user_ev) = crossbeam_channel::unbounded();
    let mut user_pri = Pri::new(line, d_user, now);
    let call = user_pri.new_call_id();
    let net = std::thread::spawn({
        let pri = Pri::new(master, d_net, now);
        move || stack_thread(pri, listen, net_cmd_rx, net_ev_tx, Some(writer), stop_at)
    });
    let user = std::thread::spawn(move || {
        stack_thread(user_pri, connect, user_cmd_rx, user_ev_tx, None, stop_at)
    });

    next_matching(&user_ev, "user link up", |e| {
        matches!(e, isdn::Event::LinkUp)
    });
    let mut request = isdn::SetupRequest::new(PartyNumber::new(
        TypeOfNumber::UNKNOWN,
        NumberingPlan::ISDN,
        "2001",
    ));
    request.calling = Some(PartyNumber::new(
        TypeOfNumber::NATIONAL,
        NumberingPlan::ISDN,
        "5551000",
    ));
    user_cmd
        .send(isdn::Command::Setup {
            call,
            request: Box::new(request),
        })
        .unwrap();

    let isdn::Event::Setup(setup) = next_matching(&net_ev, "SETUP at the network", |e| {
        matches!(e, isdn::Event::Setup(_))
    }) else {
        unreachable!()
    };
    assert_eq!(setup.called.as_ref().unwrap().digits, "2001");
    assert_eq!(setup.calling.as_ref().unwrap().digits, "5551000");
    net_cmd
        .send(isdn::Command::Proceeding { call: setup.call })
        .unwrap();
    net_cmd
        .send(isdn::Command::Alerting {
            call: setup.call,
            progress: None,
        })
        .unwrap();
    next_matching(&user_ev, "ALERTING", |e| {
        matches!(e, isdn::Event::Alerting { .. })
    });
    net_cmd
        .send(isdn::Command::Connect {
            call: setup.call,
            connected: None,
        })
        .unwrap();
    next_matching(&user_ev, "CONNECT", |e| {
        matches!(e, isdn::Event::Connect { .. })
    });
    user_cmd
        .send(isdn::Command::Release {
            call,
            cause: Cause::NORMAL_CLEARING,
            progress: None,
        })
        .unwrap();
    let isdn::Event::Cleared { cause, .. } =
        next_matching(&net_ev, "clearing at the network", |e| {
            matches!(e, isdn::Event::Cleared { .. })
        })
    else {
        unreachable!()
    };
    assert_eq!(cause, Cause::NORMAL_CLEARING);
    next_matching(&user_ev, "clearing at the user", |e| {
        matches!(e, isdn::Event::Cleared { .. })
    });
    // Let RELEASE COMPLETE reach the capture, then stop both threads.
    std::thread::sleep(Duration::from_millis(300));
    drop((net_cmd, user_cmd));
    net.join().unwrap();
    user.join().unwrap();
}

fn check_capture(path: &Path) {
    if !common::tool_installed("tshark", "--version") {
        return;
    }
    let path = path.to_str().unwrap();
    let types = common::tshark(&[
        "-r",
        path,
        "-Y",
        "q931",
        "-T",
        "fields",
        "-e",
        "lapd.control.n_s",
        "-e",
        "q931.message_type",
    ]);
    // A loaded machine can make T200 expire and an I-frame go out twice (Q.921 5.6.7):
    // both copies are on the wire and in the capture, with the same N(S). The call is
    // checked once per distinct I-frame.
    let mut seen = std::collections::HashSet::new();
    let types: Vec<&str> = types
        .lines()
        .filter(|line| seen.insert(*line))
        .filter_map(|line| line.split('\t').nth(1))
        .collect();
    // SETUP, CALL PROCEEDING, ALERTING, CONNECT, CONNECT ACK, DISCONNECT, RELEASE,
    // RELEASE COMPLETE, in this order.
    let expected = [
        "0x05", "0x02", "0x01", "0x07", "0x0f", "0x45", "0x4d", "0x5a",
    ];
    assert_eq!(types, expected, "Q.931 messages in the capture");
    let malformed = common::tshark(&[
        "-r",
        path,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
    ]);
    assert!(
        malformed.trim().is_empty(),
        "tshark flags the capture:\n{malformed}"
    );
}

#[test]
fn t1_esf_call_over_tcp_is_captured_and_decoded_by_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t1.pcapng");
    full_call(Framing::T1(T1Framing::Esf), &path);
    check_capture(&path);
}

#[test]
fn e1_crc4_call_over_tcp_is_captured_and_decoded_by_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e1.pcapng");
    full_call(Framing::E1 { crc4: true }, &path);
    check_capture(&path);
}
