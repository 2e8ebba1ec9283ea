//! End to end as separate processes over real sockets: `dialgate sim` (the PBX, or the
//! switch when the gateway is the user side) ⇄ `dialgate run` ⇄ SIPp.
//!
//! Each test writes its own hardware, dial-peer and scenario files into a temporary
//! directory (short span recovery, loopback ports picked at random), starts the
//! simulator first (it listens where the span connects), then SIPp where the SIP side
//! is scripted, then the gateway; it passes when the simulator's scenario and SIPp's
//! both pass, and the gateway exits 0 on SIGTERM. Without `sipp` on the PATH the tests
//! print `skipped: sipp not installed`, unless `DIALGATE_REQUIRE_TOOLS=1`.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "integration test over real processes: wall clock and waits"
)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dialgate");

fn sipp_installed() -> bool {
    // `sipp -v` exits non-zero on some builds: look for it on the PATH instead.
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("sipp").is_file()));
    if !found {
        common::tool_missing("sipp");
    }
    found
}

/// The gateway's log without colour codes.
fn run_log(files: &Files) -> String {
    let text = std::fs::read_to_string(files.path("run.log")).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Clone, Copy)]
enum Span {
    T1,
    E1,
}

#[derive(Clone, Copy, PartialEq)]
enum GwSide {
    Network,
    User,
}

struct Files {
    dir: tempfile::TempDir,
    sip_port: u16,
}

impl Files {
    fn new(span: Span, side: GwSide) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let line_port = free_tcp_port();
        let (kind, extra, switch) = match span {
            Span::T1 => ("t1", "framing: esf", "national"),
            Span::E1 => ("e1", "crc4: true", "euroisdn"),
        };
        let side = match side {
            GwSide::Network => "network",
            GwSide::User => "user",
        };
        std::fs::write(
            dir.path().join("hw.yaml"),
            format!(
                "spans:\n  - name: span1\n    type: {kind}\n    {extra}\n    line: tcp://127.0.0.1:{line_port}\n    side: {side}\n    switch: {switch}\n    alarms: {{ recovery_after_ms: 300 }}\n"
            ),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("peers")).unwrap();
        Files {
            dir,
            sip_port: free_udp_port(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The dial plan: 2XXX to the span; 5551XXX to SIP `targets` in order of preference.
    fn dial_peers(&self, targets: &[u16], extra: &str) {
        let mut text = String::from(extra);
        text.push_str(
            "dial_peers:\n  - tag: 1\n    type: pots\n    port: span1\n    destination_pattern: \"2...$\"\n    digit_strip: false\n    incoming_called_number: \"555....$\"\n",
        );
        for (i, port) in targets.iter().enumerate() {
            text.push_str(&format!(
                "  - tag: {}\n    type: voip\n    session_target: \"ipv4:127.0.0.1:{port}\"\n    preference: {i}\n    destination_pattern: \"5551...$\"\n    incoming_called_number: \"2...$\"\n",
                100 + i
            ));
        }
        let tmp = self.path("peers/plan.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        // Renamed into place: a reload never sees half a file.
        std::fs::rename(&tmp, self.path("peers/plan.yaml")).unwrap();
    }

    fn scenario(&self, steps: &str) -> PathBuf {
        let p = self.path("scenario.yaml");
        std::fs::write(&p, format!("description: e2e\nsteps:\n{steps}")).unwrap();
        p
    }
}

/// A child process killed when dropped.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait_for(Duration::from_secs(10))
    }
}

/// `dialgate sim` mirroring the span; returns once it listens.
fn sim(files: &Files, scenario: &Path) -> Proc {
    let mut child = Command::new(BIN)
        .args(["sim", "--hardware"])
        .arg(files.path("hw.yaml"))
        .arg("--scenario")
        .arg(scenario)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("LISTEN"), "sim said {first:?}");
    // Keep reading so the simulator never blocks on a full pipe; keep the text.
    let log = files.path("sim.out");
    std::thread::spawn(move || {
        let mut all = String::new();
        for line in out.lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = std::fs::write(&log, &all);
        }
    });
    Proc { name: "sim", child }
}

fn gateway(files: &Files, extra: &[&str]) -> Proc {
    let child = Command::new(BIN)
        .arg("run")
        .arg("--hardware")
        .arg(files.path("hw.yaml"))
        .arg("--dial-peers")
        .arg(files.path("peers"))
        .args([
            "--sip-listen",
            &format!("127.0.0.1:{}", files.sip_port),
            "--keepalive",
            "0",
            "--invite-timeout",
            "1",
            "--drain-grace",
            "1",
        ])
        .args(extra)
        .env("RUST_LOG", "dialgate=info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(files.path("run.log")).unwrap())
        .spawn()
        .unwrap();
    Proc {
        name: "gateway",
        child,
    }
}

/// SIPp with one of `tests/sipp/*.xml`; `uac` places one call to `number` at the gateway.
fn sipp(files: &Files, xml: &str, port: u16, uac: Option<&str>) -> Proc {
    sipp_with(files, xml, port, uac, &[])
}

fn sipp_with(files: &Files, xml: &str, port: u16, uac: Option<&str>, extra: &[&str]) -> Proc {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(xml);
    let mut cmd = Command::new("sipp");
    if let Some(number) = uac {
        cmd.arg(format!("127.0.0.1:{}", files.sip_port))
            .args(["-s", number]);
    }
    cmd.arg("-sf")
        .arg(scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &common::sipp_media_port().to_string()])
        .args(["-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin"])
        .args(["-trace_err"])
        .args(extra)
        .current_dir(files.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc {
        name: "sipp",
        child: cmd.spawn().unwrap(),
    }
}

fn logs(files: &Files) -> String {
    let mut all = String::new();
    for name in ["sim.out", "run.log"] {
        let text = if name == "run.log" {
            run_log(files)
        } else {
            std::fs::read_to_string(files.path(name)).unwrap_or_default()
        };
        all.push_str(&format!("---- {name}\n{text}\n"));
    }
    if let Ok(dir) = std::fs::read_dir(files.dir.path()) {
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().ends_with("errors.log") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                all.push_str(&format!("---- sipp errors\n{text}\n"));
            }
        }
    }
    all
}

fn expect_success(p: &mut Proc, limit: Duration, files: &Files) {
    let status = p.wait_for(limit);
    assert!(
        status.is_some_and(|s| s.success()),
        "{} ended {status:?}\n{}",
        p.name,
        logs(files)
    );
}

/// Wait until the gateway logged that its D-channel is up.
fn wait_span_up(files: &Files) {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if run_log(files).contains("D-channel up") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("span never came up\n{}", logs(files));
}

/// The PBX places 5551234 and expects `expect` (the rest of the `place:` step may follow
/// it); returns the run's files for further checks, or `None` without SIPp.
fn pbx_to_sip(span: Span, side: GwSide, xml: &str, expect: &str) -> Option<Files> {
    if !sipp_installed() {
        return None;
    }
    let files = Files::new(span, side);
    let sipp_port = free_udp_port();
    files.dial_peers(&[sipp_port], "");
    let scenario = files.scenario(&format!(
        "  - place: {{ called: \"5551234\", calling: \"2001\", expect: {expect}, within_ms: 5000, hold_ms: 500, hangup: us }}\n"
    ));
    let mut sim = sim(&files, &scenario);
    let mut sipp = sipp(&files, xml, sipp_port, None);
    let mut gw = gateway(&files, &[]);
    expect_success(&mut sim, Duration::from_secs(20), &files);
    expect_success(&mut sipp, Duration::from_secs(10), &files);
    let status = gw.terminate();
    assert!(
        status.is_some_and(|s| s.success()),
        "gateway {status:?}\n{}",
        logs(&files)
    );
    Some(files)
}

fn sip_to_pbx(span: Span, side: GwSide, xml: &str, number: &str, answer: &str) {
    if !sipp_installed() {
        return;
    }
    let files = Files::new(span, side);
    let sipp_port = free_udp_port();
    files.dial_peers(&[sipp_port], "");
    let scenario = files.scenario(&format!("  - answer: {{ {answer} }}\n"));
    let mut sim = sim(&files, &scenario);
    let mut gw = gateway(&files, &[]);
    wait_span_up(&files);
    let mut sipp = sipp(&files, xml, sipp_port, Some(number));
    expect_success(&mut sipp, Duration::from_secs(15), &files);
    expect_success(&mut sim, Duration::from_secs(15), &files);
    let status = gw.terminate();
    assert!(
        status.is_some_and(|s| s.success()),
        "gateway {status:?}\n{}",
        logs(&files)
    );
}

#[test]
fn t1_network_side_pbx_call_answered_by_sipp_pbx_hangs_up() {
    pbx_to_sip(Span::T1, GwSide::Network, "uas_answered.xml", "connect");
}

#[test]
fn e1_user_side_pbx_call_answered_by_sipp_pbx_hangs_up() {
    pbx_to_sip(Span::E1, GwSide::User, "uas_answered.xml", "connect");
}

#[test]
fn t1_network_side_sipp_busy_is_cause_17_on_the_span() {
    pbx_to_sip(Span::T1, GwSide::Network, "uas_busy.xml", "busy");
}

#[test]
fn e1_network_side_sipp_busy_is_cause_17_on_the_span() {
    pbx_to_sip(Span::E1, GwSide::Network, "uas_busy.xml", "busy");
}

/// On the network side the PBX expects the network to say why a call failed: SIPp's 486
/// comes back as DISCONNECT cause 17 with PI 8, and the PBX hears the busy tone (the
/// span's `us` plan: 480 + 620 Hz) on the B-channel before it clears.
#[test]
fn t1_network_side_sipp_busy_is_cause_17_and_busy_tone_in_band() {
    let Some(files) = pbx_to_sip(
        Span::T1,
        GwSide::Network,
        "uas_busy.xml",
        "busy, hear: [ { tone: { freq_hz: 620, min_level_dbm0: -30 } } ]",
    ) else {
        return;
    };
    let out = std::fs::read_to_string(files.path("sim.out")).unwrap_or_default();
    assert!(
        out.contains("with in-band information") && out.contains("heard 620 Hz"),
        "{out}"
    );
}

#[test]
fn t1_network_side_sipp_call_answered_by_the_pbx_sipp_hangs_up() {
    sip_to_pbx(
        Span::T1,
        GwSide::Network,
        "uac_answered.xml",
        "2001",
        "called: \"2001\", count: 1, ring_ms: 100, hold_ms: 5000, hangup: them",
    );
}

#[test]
fn e1_user_side_sipp_call_answered_by_the_network_sipp_hangs_up() {
    sip_to_pbx(
        Span::E1,
        GwSide::User,
        "uac_answered.xml",
        "2001",
        "called: \"2001\", count: 1, ring_ms: 100, hold_ms: 5000, hangup: them",
    );
}

#[test]
fn t1_user_side_pbx_busy_is_486_to_sipp() {
    sip_to_pbx(
        Span::T1,
        GwSide::User,
        "e2e_uac_busy.xml",
        "2002",
        "called: \"2002\", count: 1, reject: 17",
    );
}

#[test]
fn failover_from_a_dead_sip_target_to_sipp() {
    if !sipp_installed() {
        return;
    }
    let files = Files::new(Span::T1, GwSide::Network);
    // Bound and never read: an INVITE there gets no answer at all.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    let sipp_port = free_udp_port();
    files.dial_peers(&[dead_port, sipp_port], "");
    let scenario = files.scenario(
        "  - place: { called: \"5551234\", calling: \"2001\", expect: connect, within_ms: 8000, hold_ms: 500, hangup: us }\n",
    );
    let mut sim = sim(&files, &scenario);
    let mut sipp = sipp(&files, "uas_answered.xml", sipp_port, None);
    let mut gw = gateway(&files, &[]);
    expect_success(&mut sim, Duration::from_secs(25), &files);
    expect_success(&mut sipp, Duration::from_secs(10), &files);
    let log = run_log(&files);
    assert!(log.contains("giving up the attempt as 408"), "{log}");
    assert!(gw.terminate().is_some_and(|s| s.success()));
    drop(dead);
}

#[test]
fn span_cut_mid_call_sends_bye_with_cause_38() {
    if !sipp_installed() {
        return;
    }
    let files = Files::new(Span::T1, GwSide::Network);
    let sipp_port = free_udp_port();
    files.dial_peers(&[sipp_port], "");
    // The PBX's line goes silent (LOS) while the call is up.
    let scenario = files.scenario(
        "  - place: { called: \"5551234\", calling: \"2001\", expect: connect, within_ms: 5000, hold_ms: 4000, hangup: us }\n  - fault: { at_ms: 1500, los_ms: 1000 }\n",
    );
    let mut sim = sim(&files, &scenario);
    let mut sipp = sipp(&files, "e2e_uas_span_cut.xml", sipp_port, None);
    let mut gw = gateway(&files, &[]);
    expect_success(&mut sipp, Duration::from_secs(15), &files);
    // The simulator's call did not survive either; its verdict is not the point here.
    let _ = sim.wait_for(Duration::from_secs(10));
    let log = run_log(&files);
    assert!(log.contains("cause=38"), "{log}");
    assert!(gw.terminate().is_some_and(|s| s.success()));
}

#[test]
fn untrusted_invite_is_rejected_with_403() {
    if !sipp_installed() {
        return;
    }
    let files = Files::new(Span::T1, GwSide::Network);
    let sipp_port = free_udp_port();
    // Only a documentation address may place calls: SIPp on loopback may not.
    files.dial_peers(&[sipp_port], "trusted_sources: [\"192.0.2.1\"]\n");
    let scenario = files.scenario(
        "  - answer: { called: \"2001\", count: 1, ring_ms: 100, hold_ms: 500, hangup: us }\n",
    );
    let _sim = sim(&files, &scenario);
    let mut gw = gateway(&files, &[]);
    wait_span_up(&files);
    let mut sipp = sipp(&files, "e2e_uac_forbidden.xml", sipp_port, Some("2001"));
    expect_success(&mut sipp, Duration::from_secs(15), &files);
    let log = run_log(&files);
    assert!(!log.contains("SETUP to the PBX"), "{log}");
    assert!(gw.terminate().is_some_and(|s| s.success()));
}

#[test]
fn reload_during_a_call_routes_the_next_call_by_the_new_plan() {
    if !sipp_installed() {
        return;
    }
    let files = Files::new(Span::T1, GwSide::Network);
    let (first_port, second_port) = (free_udp_port(), free_udp_port());
    // The second target is new in the reloaded plan: the endpoint must learn it.
    files.dial_peers(&[first_port], "");
    // Call 1 at once, held 3 s; call 2 at 2 s, after the reload.
    let scenario = files.scenario(
        "  - place: { called: \"5551234\", calling: \"2001\", expect: connect, within_ms: 5000, hold_ms: 3000, hangup: us }\n  - place: { at_ms: 2000, called: \"5551235\", calling: \"2001\", expect: connect, within_ms: 5000, hold_ms: 300, hangup: us }\n",
    );
    let mut sim = sim(&files, &scenario);
    let mut first = sipp(&files, "uas_answered.xml", first_port, None);
    let mut second = sipp(&files, "uas_answered.xml", second_port, None);
    let mut gw = gateway(&files, &[]);
    wait_span_up(&files);
    // Once call 1 is up, point 5551XXX at the second SIPp and signal a reload.
    let until = Instant::now() + Duration::from_secs(10);
    while !run_log(&files).contains("answered by SIP") {
        assert!(
            Instant::now() < until,
            "call 1 never answered\n{}",
            logs(&files)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    files.dial_peers(&[second_port], "");
    let _ = Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status();
    expect_success(&mut first, Duration::from_secs(15), &files);
    expect_success(&mut second, Duration::from_secs(15), &files);
    expect_success(&mut sim, Duration::from_secs(15), &files);
    let log = run_log(&files);
    assert!(log.contains("dial peers reloaded"), "{log}");
    assert!(log.contains("SIP peer retired by the reload"), "{log}");
    assert!(gw.terminate().is_some_and(|s| s.success()));
}

/// The Call-ID of the first message in SIPp's `-trace_msg` log.
fn sipp_call_id(files: &Files) -> String {
    for e in std::fs::read_dir(files.dir.path()).unwrap().flatten() {
        if !e.file_name().to_string_lossy().ends_with("_messages.log") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for line in text.lines() {
            if let Some((name, value)) = line.split_once(':')
                && (name.eq_ignore_ascii_case("Call-ID") || name == "i")
            {
                return value.trim().to_owned();
            }
        }
    }
    panic!("no Call-ID in SIPp's message log\n{}", logs(files));
}

/// The call's log lines are inside its span, which names the SIP Call-ID SIPp saw
/// (ours on a PBX call, SIPp's own on a SIP call) and the Q.931 call reference.
#[test]
fn call_log_lines_carry_the_sip_call_id_and_the_call_reference_both_ways() {
    if !sipp_installed() {
        return;
    }
    // (gateway side, direction, SIPp scenario, the call's first log line, cref flag)
    let table = [
        (
            "pbx",
            "uas_answered.xml",
            "answered by SIP: CONNECT",
            "cref=0x8",
        ),
        (
            "sip",
            "uac_answered.xml",
            "answered by the PBX: 200",
            "cref=0x0",
        ),
    ];
    for (from, xml, message, cref) in table {
        let files = Files::new(Span::T1, GwSide::Network);
        let sipp_port = free_udp_port();
        files.dial_peers(&[sipp_port], "");
        let (mut sim, mut sipp, mut gw);
        if from == "pbx" {
            let scenario = files.scenario(
                "  - place: { called: \"5551234\", calling: \"2001\", expect: connect, within_ms: 5000, hold_ms: 500, hangup: us }\n",
            );
            sim = self::sim(&files, &scenario);
            sipp = sipp_with(&files, xml, sipp_port, None, &["-trace_msg"]);
            gw = gateway(&files, &[]);
        } else {
            let scenario = files.scenario(
                "  - answer: { called: \"2001\", count: 1, ring_ms: 100, hold_ms: 5000, hangup: them }\n",
            );
            sim = self::sim(&files, &scenario);
            gw = gateway(&files, &[]);
            wait_span_up(&files);
            sipp = sipp_with(&files, xml, sipp_port, Some("2001"), &["-trace_msg"]);
        }
        expect_success(&mut sipp, Duration::from_secs(15), &files);
        expect_success(&mut sim, Duration::from_secs(15), &files);
        assert!(gw.terminate().is_some_and(|s| s.success()));
        let call_id = sipp_call_id(&files);
        let log = run_log(&files);
        let line = log
            .lines()
            .find(|l| l.contains(message))
            .unwrap_or_else(|| panic!("{from}: no {message:?}\n{log}"));
        for want in [
            format!("sip_call_id={call_id}"),
            "span=span1".to_owned(),
            cref.to_owned(),
            "call{".to_owned(),
            "call=call-1 ".to_owned(),
        ] {
            assert!(line.contains(&want), "{from}: {want:?} not in {line:?}");
        }
    }
}

/// The shipped `hardware/` and `dial-peers/` load and start as they are (the gateway
/// keeps retrying the simulator's address until stopped).
#[test]
fn shipped_configuration_starts_and_stops_on_sigterm() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = free_udp_port();
    let child = Command::new(BIN)
        .current_dir(root)
        .args([
            "run",
            "--sip-listen",
            &format!("127.0.0.1:{port}"),
            "--keepalive",
            "0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut gw = Proc {
        name: "gateway",
        child,
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        gw.child.try_wait().unwrap().is_none(),
        "gateway exited early"
    );
    let status = gw.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let _ = SocketAddr::from(([127, 0, 0, 1], port));
}

/// Audio both ways: the PBX sends 1004 Hz on its B-channel, the gateway carries it as
/// RTP to SIPp, which echoes it back, and the PBX must hear it at the level it sent.
#[test]
fn pbx_tone_goes_out_as_rtp_and_comes_back_through_the_b_channel() {
    if !sipp_installed() {
        return;
    }
    let files = Files::new(Span::T1, GwSide::Network);
    let sipp_port = free_udp_port();
    files.dial_peers(&[sipp_port], "");
    let scenario = files.scenario(
        "  - place: { called: \"5551234\", calling: \"2001\", expect: connect, within_ms: 5000, hold_ms: 1500, hangup: us, send: [ { tone: { freq_hz: 1004, level_dbm0: -10, ms: 1200 } } ], hear: [ { tone: { freq_hz: 1004, min_level_dbm0: -16 } } ] }\n",
    );
    let mut sim = sim(&files, &scenario);
    let mut sipp = sipp_with(&files, "uas_answered.xml", sipp_port, None, &["-rtp_echo"]);
    let mut gw = gateway(&files, &[]);
    expect_success(&mut sim, Duration::from_secs(20), &files);
    expect_success(&mut sipp, Duration::from_secs(10), &files);
    let out = std::fs::read_to_string(files.path("sim.out")).unwrap_or_default();
    assert!(out.contains("heard 1004 Hz"), "{out}");
    assert!(gw.terminate().is_some_and(|s| s.success()));
}

/// A CA and one leaf certificate it signed, as PEM files in `dir`.
fn pki(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let leaf = CertificateParams::new(names)
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let (ca, chain, key) = (
        dir.join("ca.pem"),
        dir.join("chain.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&chain, format!("{}{}", leaf.pem(), ca_cert.pem())).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    (ca, chain, key)
}

/// A SIP endpoint in this process standing in for a phone: `config` listening on a
/// loopback port of `transport`, trusting loopback, answering without delay.
fn phone_on_loopback(
    runtime: &tokio::runtime::Runtime,
    config: dialgate::sip::Config,
    transport: dialgate::sip::Transport,
) -> dialgate::sip::Endpoint {
    runtime
        .block_on(dialgate::sip::Endpoint::start(dialgate::sip::Config {
            listen: vec![dialgate::sip::Listen {
                transport,
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            }],
            trusted: vec!["127.0.0.1/32".parse().unwrap()],
            trying_delay: Duration::ZERO,
            ..config
        }))
        .unwrap()
}

async fn next_event(ep: &mut dialgate::sip::Endpoint) -> dialgate::sip::Event {
    tokio::time::timeout(Duration::from_secs(15), ep.next_event())
        .await
        .expect("a SIP event in time")
        .expect("endpoint alive")
}

/// SIP over TLS both ways with a `dns:localhost` session target: the PBX's call goes
/// to a TLS endpoint in this process (name resolved, certificate checked against
/// `--tls-ca`), and that endpoint's call comes in on `--sip-tls-listen`.
#[test]
fn tls_peer_by_dns_name_and_tls_listener_carry_calls_both_ways() {
    use dialgate::sip::{self, Command, Event, LocalMedia, Outgoing, Party, Peer, Transport};
    let files = Files::new(Span::T1, GwSide::Network);
    // One CA signs both ends' certificates; each side trusts it.
    let (ca, chain, key) = pki(files.dir.path(), &["localhost", "127.0.0.1"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let gw_tls_port = free_tcp_port();
    let tls = sip::Tls {
        certificate_chain: Some(chain.clone()),
        private_key: Some(key.clone()),
        ca_roots: Some(ca.clone()),
    };
    let mut gw_peer = Peer::new("gateway", SocketAddr::from(([127, 0, 0, 1], gw_tls_port)));
    gw_peer.transport = Transport::Tls;
    gw_peer.host = Some("localhost".into());
    let mut phone = phone_on_loopback(
        &runtime,
        sip::Config {
            tls: Some(tls),
            peers: vec![gw_peer],
            ..sip::Config::default()
        },
        Transport::Tls,
    );
    let phone_port = phone.local_addr(Transport::Tls).unwrap().port();
    std::fs::write(
        files.path("peers/plan.yaml"),
        format!(
            // The router trusts `ipv4:` targets by itself; a `dns:` one is listed.
            "trusted_sources: [\"127.0.0.1/32\"]\ndial_peers:\n  - tag: 1\n    type: pots\n    port: span1\n    destination_pattern: \"2...$\"\n    digit_strip: false\n    incoming_called_number: \"555....$\"\n  - tag: 100\n    type: voip\n    session_target: \"dns:localhost:{phone_port}\"\n    transport: tls\n    destination_pattern: \"5551...$\"\n    incoming_called_number: \"2...$\"\n"
        ),
    )
    .unwrap();
    let scenario = files.scenario(
        "  - place: { called: \"5551234\", calling: \"2001\", expect: connect, within_ms: 5000, hold_ms: 500, hangup: us }\n  - answer: { called: \"2001\", count: 1, ring_ms: 100, hold_ms: 5000, hangup: them }\n",
    );
    let mut sim = sim(&files, &scenario);
    let tls_listen = format!("127.0.0.1:{gw_tls_port}");
    let args = [
        "--sip-tls-listen",
        tls_listen.as_str(),
        "--tls-certificate",
        chain.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-ca",
        ca.to_str().unwrap(),
    ];
    let mut gw = gateway(&files, &args);
    let media = |port| LocalMedia {
        rtp: SocketAddr::from(([127, 0, 0, 1], port)),
        codecs: Vec::new(),
    };
    runtime.block_on(async {
        // 1. The PBX calls 5551234: an INVITE over TLS to the name's address.
        let incoming = match next_event(&mut phone).await {
            Event::Incoming(i) => i,
            other => panic!("expected the INVITE, got {other:?}\n{}", logs(&files)),
        };
        assert_eq!(incoming.transport, Transport::Tls);
        assert!(
            incoming.request_uri.contains("@localhost:"),
            "{}",
            incoming.request_uri
        );
        phone.command(Command::Answer {
            call: incoming.call,
            media: media(20000),
        });
        loop {
            match next_event(&mut phone).await {
                Event::Released { call, .. } if call == incoming.call => break,
                _ => {}
            }
        }
        // 2. The phone calls 2001 on the gateway's TLS listener.
        let call = phone.call_ids().next();
        phone.command(Command::Place(Box::new(Outgoing {
            call,
            peer: 0,
            called: "2001".into(),
            calling: Party {
                user: Some("5551000".into()),
                display: None,
            },
            asserted_identity: None,
            privacy: None,
            media: media(20002),
        })));
        loop {
            match next_event(&mut phone).await {
                Event::Answered { call: c, .. } if c == call => break,
                Event::Released {
                    call: c, status, ..
                } if c == call => {
                    panic!("refused with {status:?}\n{}", logs(&files))
                }
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        phone.command(Command::Release {
            call,
            cause: 16,
            status: None,
        });
        loop {
            if let Event::Released { call: c, .. } = next_event(&mut phone).await
                && c == call
            {
                break;
            }
        }
    });
    expect_success(&mut sim, Duration::from_secs(15), &files);
    let log = run_log(&files);
    assert!(log.contains("session target resolved"), "{log}");
    assert!(gw.terminate().is_some_and(|s| s.success()));
}

/// RTP datagrams from `from` that `socket` takes before `until` (it reads with a short
/// timeout, so the count ends on time).
fn rtp_from(socket: &UdpSocket, from: std::net::IpAddr, until: Instant) -> usize {
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let mut got = 0;
    while Instant::now() < until {
        if let Ok((n, source)) = socket.recv_from(&mut buf)
            && source.ip() == from
            && n >= 12
            && buf[0] >> 6 == 2
        {
            got += 1;
        }
    }
    got
}

/// Symmetric RTP as the VoIP dial peer says: a phone behind NAT answers with one port in
/// its SDP and sends its RTP from another. With `symmetric_rtp: true` the gateway's RTP
/// follows the packets to the port they come from; without it, it keeps to the SDP.
#[test]
fn a_peers_symmetric_rtp_sends_the_gateways_rtp_where_the_peers_comes_from() {
    use dialgate::sip::{self, Command, Event, LocalMedia, Transport};
    // (symmetric_rtp, gateway RTP expected at the SDP's port, at the NAT's port)
    let rows = [(false, true, false), (true, false, true)];
    for (symmetric, at_sdp, at_nat) in rows {
        let files = Files::new(Span::T1, GwSide::Network);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut phone = phone_on_loopback(&runtime, sip::Config::default(), Transport::Udp);
        let phone_port = phone.local_addr(Transport::Udp).unwrap().port();
        std::fs::write(
            files.path("peers/plan.yaml"),
            format!(
                "dial_peers:\n  - tag: 100\n    type: voip\n    session_target: \"ipv4:127.0.0.1:{phone_port}\"\n    destination_pattern: \"5551...$\"\n    symmetric_rtp: {symmetric}\n"
            ),
        )
        .unwrap();
        let scenario = files.scenario(
            "  - place: { called: \"5551234\", calling: \"2001\", expect: connect, within_ms: 5000, hold_ms: 2500, hangup: us }\n",
        );
        let mut sim = sim(&files, &scenario);
        let mut gw = gateway(&files, &[]);
        // The port the phone's SDP names, and the one its packets leave from (the NAT's).
        let sdp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let nat = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (got_sdp, got_nat) = runtime.block_on(async {
            let incoming = match next_event(&mut phone).await {
                Event::Incoming(i) => i,
                other => panic!("expected the INVITE, got {other:?}\n{}", logs(&files)),
            };
            let gw_rtp = incoming.offer.as_ref().expect("the gateway offers").rtp;
            phone.command(Command::Answer {
                call: incoming.call,
                media: LocalMedia {
                    rtp: sdp.local_addr().unwrap(),
                    codecs: Vec::new(),
                },
            });
            let (sdp, nat) = (sdp.try_clone().unwrap(), nat.try_clone().unwrap());
            // 1.5 s of PCMU from the NAT's port while both ports listen.
            let counted = std::thread::spawn(move || {
                let until = Instant::now() + Duration::from_millis(1500);
                let sender = nat.try_clone().unwrap();
                let send = std::thread::spawn(move || {
                    for seq in 0..70u16 {
                        let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
                        packet[2..4].copy_from_slice(&seq.to_be_bytes());
                        packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                        packet.extend_from_slice(&[0xFF; 160]);
                        let _ = sender.send_to(&packet, gw_rtp);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                });
                let ip = gw_rtp.ip();
                let at_sdp = std::thread::spawn(move || rtp_from(&sdp, ip, until));
                let at_nat = rtp_from(&nat, ip, until);
                send.join().unwrap();
                (at_sdp.join().unwrap(), at_nat)
            });
            while !counted.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            counted.join().unwrap()
        });
        expect_success(&mut sim, Duration::from_secs(15), &files);
        // 1.5 s is 75 packet-times: well over half of them at the port the row expects,
        // and (once the first NAT'd packet has been heard) none at the other.
        let expect = |yes: bool, got: usize| if yes { got >= 40 } else { got <= 2 };
        assert!(
            expect(at_sdp, got_sdp) && expect(at_nat, got_nat),
            "symmetric_rtp {symmetric}: {got_sdp} at the SDP's port, {got_nat} at the NAT's\n{}",
            logs(&files)
        );
        assert!(gw.terminate().is_some_and(|s| s.success()));
    }
}
