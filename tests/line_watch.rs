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

use dialgate::line::span::Span;
use dialgate::line::{Clock, Framing, SpanConfig, T1Framing};

const SABME: &[u8] = &[0x00, 0x01, 0x7F];
const UA: &[u8] = &[0x00, 0x01, 0x73];

/// Run `line watch` for `seconds` against a far end that speaks `framing` and sends
/// SABME then UA on its D-channel. Returns the watch's stdout and the capture path.
fn watch_against_far_end(framing: Framing, yaml_type: &str) -> (String, tempfile::TempDir) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hw = dir.path().join("hw.yaml");
    std::fs::write(
        &hw,
        format!(
            "spans:\n  - name: t\n    type: {yaml_type}\n    line: tcp://{addr}\n    side: network\n"
        ),
    )
    .unwrap();
    let pcap = dir.path().join("d.pcapng");

    let child = Command::new(env!("CARGO_BIN_EXE_dialgate"))
        .args(["line", "watch", "--hardware"])
        .arg(&hw)
        .args(["--duration", "2.5", "--pcap"])
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
    let t0 = Instant::now();
    let mut far = Span::new(config, t0);
    let mut sink = [0u8; 4096];
    let mut virtual_ms = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        virtual_ms += 10;
        // Half a second in, once the watcher has long found alignment.
        if virtual_ms == 500 {
            far.send_d_frame(SABME);
            far.send_d_frame(UA);
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
        while far.poll_event().is_some() {}
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
    (stdout, dir)
}

fn assert_watch_saw_the_line(stdout: &str) {
    for needle in [
        "transport up",
        "frame alignment found",
        "RX D 00 01 7F",
        "RX D 00 01 73",
        "counters:",
        "CRC errors 0",
        "HDLC good 2",
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
    let (stdout, dir) = watch_against_far_end(Framing::T1(T1Framing::Esf), "t1");
    assert_watch_saw_the_line(&stdout);
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
        "lapd.sapi",
        "-e",
        "lapd.tei",
        "-e",
        "lapd.control.u_modifier_cmd",
        "-e",
        "lapd.control.u_modifier_resp",
    ]);
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), 2, "{fields}");
    // SABME (0x7F: modifier 0x0F with P) and UA (0x73: modifier 0x0C with F).
    assert!(lines[0].starts_with("0\t0\t"), "{fields}");
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
    let (stdout, _dir) = watch_against_far_end(Framing::E1 { crc4: true }, "e1");
    assert_watch_saw_the_line(&stdout);
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
