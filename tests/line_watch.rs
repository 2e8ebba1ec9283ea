//! `dialgate line watch` run the way an engineer runs it: the binary, a hardware file,
//! and a far end on a real TCP socket sending a framed line with D-channel frames.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "these tests drive real sockets and processes in real time; a failed step fails the test"
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dialgate::isdn::lapd::Side;
use dialgate::isdn::q931::Variant;
use dialgate::isdn::q931::ie::{NumberingPlan, PartyNumber, TypeOfNumber};
use dialgate::isdn::{self, Pri, pri};
use dialgate::line::{Clock, Framing, SpanConfig, T1Framing};

/// Run `line watch` against a far end (a PBX on the user side) that speaks `framing`,
/// brings its D-channel up and places one call, which the watch refuses. Returns the
/// watch's stdout, the capture's folder and the cause the far end's call was cleared with.
fn watch_against_far_end(
    framing: Framing,
    yaml_type: &str,
) -> (String, tempfile::TempDir, Option<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hw = dir.path().join("hw.yaml");
    std::fs::write(
        &hw,
        format!(
            "spans:\n  - name: t\n    type: {yaml_type}\n    line: tcp://{addr}\n    side: network\n    alarms: {{ recovery_after_ms: 200 }}\n"
        ),
    )
    .unwrap();
    let pcap = dir.path().join("d.pcapng");

    let child = Command::new(env!("CARGO_BIN_EXE_dialgate"))
        .args(["line", "watch", "--hardware"])
        .arg(&hw)
        .args(["--duration", "2", "--pcap"])
        .arg(&pcap)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    // The far end is the clock master: it paces 8000 frames/s of its own virtual time
    // and sends a little faster than real time; the gateway follows (clock: line).
    let mut config = SpanConfig::new(framing);
    config.clock = Clock::Internal;
    config.recovery_after = Duration::from_millis(200);
    let d = match framing {
        Framing::T1(_) => isdn::Config::t1(Side::User, Variant::National),
        Framing::E1 { .. } => isdn::Config::e1(Side::User, Variant::EuroIsdn),
    };
    let t0 = Instant::now();
    let mut far = Pri::new(config, d, t0);
    let mut link_up = false;
    let mut placed = false;
    let mut cleared_with = None;
    let mut sink = [0u8; 4096];
    let mut virtual_ms = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1800) {
        virtual_ms += 10;
        if link_up && !placed {
            placed = true;
            let call = far.new_call_id();
            let mut request = isdn::SetupRequest::new(PartyNumber::new(
                TypeOfNumber::UNKNOWN,
                NumberingPlan::ISDN,
                "2001",
            ));
            request.calling = Some(PartyNumber::new(
                TypeOfNumber::UNKNOWN,
                NumberingPlan::ISDN,
                "5551000",
            ));
            far.handle_command(
                t0 + Duration::from_millis(virtual_ms),
                isdn::Command::Setup {
                    call,
                    request: Box::new(request),
                },
            );
        }
        far.handle_timeout(t0 + Duration::from_millis(virtual_ms));
        while let Some(bytes) = far.poll_transmit() {
            if conn.write_all(&bytes).is_err() {
                break;
            }
        }
        // Receive what the gateway sends: its framed line keeps our side out of
        // alarm, so we never send it RAI.
        while let Ok(n) = conn.read(&mut sink) {
            if n == 0 {
                break;
            }
            far.handle_rx(t0 + Duration::from_millis(virtual_ms), &sink[..n]);
        }
        while let Some(event) = far.poll_event() {
            match event {
                pri::Event::Isdn(isdn::Event::LinkUp) => link_up = true,
                pri::Event::Isdn(isdn::Event::Cleared { cause, .. }) => {
                    cleared_with = Some(cause.0)
                }
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout, dir, cleared_with)
}

fn assert_watch_saw_the_line(stdout: &str) {
    for needle in [
        "transport up",
        "frame alignment found",
        "span up",
        "RX <- D 00 01 7F  SABMEp sapi=0 tei=0",
        "TX -> D 00 01 73  UAf sapi=0 tei=0",
        "D-channel up",
        "Q931: RX <- SETUP",
        "Called Party Number",
        "'2001'",
        "incoming call to 2001 from 5551000",
        "Q931: TX -> RELEASE_COMP",
        "Cause 21",
        "counters:",
        "CRC errors 0",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    // The far end receives the gateway's line-clocked frames and aligns to them, so it
    // never reports a remote alarm.
    assert!(
        !stdout.contains("RAI (yellow, far end lost our signal) raised"),
        "{stdout}"
    );
}

#[test]
fn watch_shows_alignment_and_d_channel_frames_on_t1_esf() {
    let (stdout, dir, cleared_with) = watch_against_far_end(Framing::T1(T1Framing::Esf), "t1");
    assert_watch_saw_the_line(&stdout);
    assert_eq!(
        cleared_with,
        Some(21),
        "the far end's call must be refused with cause 21"
    );
    let path = dir.path().join("d.pcapng");
    let capture = std::fs::read(&path).unwrap();
    // Section header, interface description and at least the two frames.
    assert_eq!(&capture[..4], &[0x0A, 0x0D, 0x0D, 0x0A]);
    assert!(
        capture.len() > 28 + 20 + 2 * 44,
        "capture too short: {}",
        capture.len()
    );
    if !common::tool_installed("tshark", "--version") {
        return;
    }
    let path = path.to_str().unwrap();
    let fields = common::tshark(&[
        "-r",
        path,
        "-T",
        "fields",
        "-e",
        "lapd.direction",
        "-e",
        "q931.message_type",
    ]);
    // The user side's SETUP arrives (User->Network, 0x05) and the watch, on the network
    // side, refuses it with RELEASE COMPLETE (Network->User, 0x5a).
    let find = |t: &str| {
        fields
            .lines()
            .find(|l| l.ends_with(t))
            .unwrap_or_else(|| panic!("no message {t}:\n{fields}"))
            .to_string()
    };
    let (setup, release) = (find("0x05"), find("0x5a"));
    assert_ne!(
        setup.split('\t').next(),
        release.split('\t').next(),
        "directions:\n{fields}"
    );
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
fn watch_shows_alignment_and_d_channel_frames_on_e1_crc4() {
    let (stdout, _dir, cleared_with) = watch_against_far_end(Framing::E1 { crc4: true }, "e1");
    assert_watch_saw_the_line(&stdout);
    assert_eq!(cleared_with, Some(21));
}

#[test]
fn watch_reports_a_bad_hardware_file_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let hw = dir.path().join("hw.yaml");
    std::fs::write(
        &hw,
        "spans:\n  - name: t\n    type: t1\n    line: tcp://h:1\n    side: sideways\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dialgate"))
        .args(["line", "watch", "--hardware"])
        .arg(&hw)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hw.yaml:5:11"), "{stderr}");
    assert!(
        stderr.contains("user") && stderr.contains("network"),
        "{stderr}"
    );
}

#[test]
fn watch_names_the_spans_when_asked_for_a_missing_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_dialgate"))
        .args(["line", "watch", "--span", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("span1") && stderr.contains("span2"),
        "{stderr}"
    );
}
