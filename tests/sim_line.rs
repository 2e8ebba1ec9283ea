//! `dialgate sim` against `dialgate sim --play-peer` as separate processes over real
//! lines: TCP and a pseudo-terminal, T1 and E1, the shipped scenarios. One process
//! listens (or creates the pty) and is the clock master; the other connects (or opens
//! the pty slave) and follows the line clock. Both run `--speed 2`.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "real processes in real time; a failed step fails the test"
)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dialgate");

/// A running simulator whose stdout is collected line by line.
struct Sim {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Sim {
    fn spawn(args: &[&str]) -> Sim {
        let mut child = Command::new(BIN)
            .arg("sim")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Sim {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first output line: where the line is (`LISTEN addr`, `PTY path`).
    fn first_line(&mut self) -> String {
        let line = self.lines.recv_timeout(Duration::from_secs(10)).unwrap();
        self.seen.push(line.clone());
        line
    }

    /// Wait for exit (killing it after `limit`); the exit success and every line.
    fn finish(mut self, limit: Duration) -> (bool, Vec<String>) {
        let end = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut String::new());
        }
        (status.is_some_and(|s| s.success()), self.seen)
    }
}

/// Run `scenario` with the PBX on `master` args and its peer on the line the master
/// printed; both must exit 0 with `N passed, 0 failed`, N > 0.
fn pair(
    scenario: &str,
    master: &[&str],
    follower: impl FnOnce(&str) -> Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let path = format!("tests/scenarios/{scenario}");
    let mut args: Vec<&str> = master.to_vec();
    args.extend(["--speed", "2", "--scenario", &path]);
    let mut a = Sim::spawn(&args);
    let first = a.first_line();
    let where_ = first.split_once(' ').map(|(_, w)| w.to_string()).unwrap();
    let mut b_args = follower(&where_);
    b_args.extend(["--speed", "2", "--play-peer", "--scenario", &path].map(String::from));
    let b_args: Vec<&str> = b_args.iter().map(String::as_str).collect();
    let b = Sim::spawn(&b_args);
    let (b_ok, b_lines) = b.finish(Duration::from_secs(40));
    let (a_ok, a_lines) = a.finish(Duration::from_secs(10));
    let show = || {
        format!(
            "PBX:\n  {}\nPEER:\n  {}",
            a_lines.join("\n  "),
            b_lines.join("\n  ")
        )
    };
    assert!(a_ok && b_ok, "{scenario}: not green\n{}", show());
    for lines in [&a_lines, &b_lines] {
        let last = lines.last().unwrap();
        assert!(
            last.ends_with(" passed, 0 failed") && !last.starts_with("0 "),
            "{}",
            show()
        );
    }
    (a_lines, b_lines)
}

fn over_tcp(scenario: &str) -> (Vec<String>, Vec<String>) {
    pair(
        scenario,
        &["--listen", "tcp-listen://127.0.0.1:0"],
        |addr| vec!["--connect".into(), format!("tcp://{addr}")],
    )
}

fn over_pty(scenario: &str) -> (Vec<String>, Vec<String>) {
    pair(scenario, &["--pty"], |path| {
        assert!(path.starts_with("/dev/"), "{path}");
        vec!["--serial".into(), path.to_string()]
    })
}

#[test]
fn tcp_t1_esf_call_placed_answered_and_cleared() {
    let (a, _) = over_tcp("basic-call.yaml");
    assert!(a[0].starts_with("LISTEN 127.0.0.1:"));
    assert!(
        a.iter()
            .any(|l| l.starts_with("ok: call 1 to 2001: connected"))
    );
}

#[test]
fn tcp_e1_crc4_incoming_call_answered() {
    let (_, b) = over_tcp("incoming-call.yaml");
    assert!(b[0].starts_with("CONNECT 127.0.0.1:"), "{}", b[0]);
}

#[test]
fn tcp_t1_sf_busy_causes_and_reject() {
    over_tcp("busy-and-causes.yaml");
}

#[test]
fn tcp_t1_alerting_and_no_answer() {
    over_tcp("alerting-no-answer.yaml");
}

#[test]
fn tcp_t1_load() {
    let (a, _) = over_tcp("load.yaml");
    assert!(a.iter().any(|l| l.contains("20 of 20 calls connected")));
}

#[test]
fn tcp_e1_tone_and_dtmf_in_real_time() {
    let (a, b) = over_tcp("media-tone-dtmf.yaml");
    assert!(a.iter().any(|l| l.contains("heard DTMF \"9*\"")));
    assert!(b.iter().any(|l| l.contains("heard 1000 Hz")));
}

#[test]
fn tcp_t1_los_and_ais_recover() {
    over_tcp("faults-los-ais.yaml");
}

#[test]
fn tcp_e1_rai_bit_errors_slip_and_dropped_frames() {
    over_tcp("faults-rai-ber-slip.yaml");
}

#[test]
fn pty_t1_call_placed_answered_and_cleared() {
    let (a, b) = over_pty("basic-call.yaml");
    assert!(a[0].starts_with("PTY /dev/"));
    assert!(b[0].starts_with("SERIAL /dev/"));
}

#[test]
fn pty_e1_presentation_and_bearer() {
    over_pty("presentation-bearer.yaml");
}

#[test]
fn bad_scenario_is_a_usage_error_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "steps:\n  - place: { called: \"1\", expect: sometimes }\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["sim", "--scenario"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:2:") && err.contains("`expect`"),
        "{err}"
    );
}

/// The thread API the demo uses: two `sim::run`s in threads of this process, one
/// listening on an ephemeral port, one connecting to the address the first printed.
#[test]
fn run_in_threads_over_tcp_with_output_on_channels() {
    use dialgate::sim::pbx::PbxConfig;
    use dialgate::sim::port::Output;
    use dialgate::sim::{Scenario, SimLine, SimOptions, run};

    let scenario =
        Scenario::load(std::path::Path::new("tests/scenarios/incoming-call.yaml")).unwrap();
    let peer = scenario.peer_scenario();
    let options = |line, s: &Scenario, out| {
        let mut o = SimOptions::new(line, PbxConfig::new(&s.span.resolve().unwrap()));
        o.speed = 2.0;
        o.output = Output::Channel(out);
        o
    };
    let (tx_a, rx_a) = crossbeam_channel::unbounded();
    let a_options = options(SimLine::Listen("127.0.0.1:0".into()), &scenario, tx_a);
    let s = scenario.clone();
    let a = std::thread::spawn(move || run(a_options, &s).unwrap());
    let first = rx_a.recv_timeout(Duration::from_secs(10)).unwrap();
    let addr = first.strip_prefix("LISTEN ").unwrap().to_string();
    let (tx_b, rx_b) = crossbeam_channel::unbounded();
    let b_options = options(SimLine::Connect(addr), &peer, tx_b);
    let b = std::thread::spawn(move || run(b_options, &peer).unwrap());
    let (ra, rb) = (a.join().unwrap(), b.join().unwrap());
    let lines: Vec<String> = rx_a.try_iter().chain(rx_b.try_iter()).collect();
    assert!(ra.success() && rb.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l == &ra.summary()));
}
