//! The simulator against itself in-process: every shipped scenario's PBX against its
//! `peer:` on the virtual-clock harness (seeded, reproducible), and the harness driving
//! a PBX against the gateway's own `isdn::Pri`.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "a test epoch; a failed step fails the test"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use dialgate::sim::pbx::{Event, Pbx, PbxConfig};
use dialgate::sim::{Harness, Scenario};

fn pbx(scenario: &Scenario, t0: Instant, seed: u64) -> Pbx {
    let span = scenario.span.resolve().unwrap();
    let mut config = PbxConfig::new(&span);
    config.seed = seed;
    Pbx::new(config, scenario, t0)
}

/// Both sides' lines and whether both reported success.
struct Run {
    pbx: Vec<String>,
    peer: Vec<String>,
    ok: bool,
}

fn drain(p: &mut Pbx, into: &mut Vec<String>) {
    while let Some(e) = p.poll_event() {
        if !matches!(e, Event::Finished) {
            into.push(e.line());
        }
    }
}

/// Run a scenario against its `peer:` on the harness.
fn run(file: &str, seed: u64) -> Run {
    let scenario = Scenario::load(&Path::new("tests/scenarios").join(file)).unwrap();
    let peer = scenario.peer_scenario();
    let t0 = Instant::now();
    let mut h = Harness::new(seed, t0, pbx(&scenario, t0, seed), pbx(&peer, t0, seed + 1));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let limit = scenario.timeout + scenario.link_within;
    h.step_until(limit, |h| {
        drain(&mut h.a, &mut a);
        drain(&mut h.b, &mut b);
        h.a.is_finished() && h.b.is_finished()
    });
    // Whatever is unfinished at the limit fails.
    h.a.finish("harness limit");
    h.b.finish("harness limit");
    drain(&mut h.a, &mut a);
    drain(&mut h.b, &mut b);
    let ok = h.a.report().success() && h.b.report().success();
    Run {
        pbx: a,
        peer: b,
        ok,
    }
}

fn green(file: &str) -> Run {
    let r = run(file, 7);
    println!(
        "PBX:\n  {}\nPEER:\n  {}",
        r.pbx.join("\n  "),
        r.peer.join("\n  ")
    );
    assert!(r.ok, "{file} is not green sim against sim");
    r
}

fn oks(lines: &[String]) -> usize {
    lines.iter().filter(|l| l.starts_with("ok:")).count()
}

const SHIPPED: &[&str] = &[
    "basic-call.yaml",
    "incoming-call.yaml",
    "busy-and-causes.yaml",
    "alerting-no-answer.yaml",
    "presentation-bearer.yaml",
    "load.yaml",
    "media-tone-dtmf.yaml",
    "faults-los-ais.yaml",
    "faults-rai-ber-slip.yaml",
];

#[test]
fn every_shipped_scenario_is_listed_here() {
    let mut files: Vec<String> = std::fs::read_dir("tests/scenarios")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = SHIPPED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn basic_call_connects_and_clears() {
    let r = green("basic-call.yaml");
    assert!(
        r.pbx
            .iter()
            .any(|l| l.starts_with("ok: call 1 to 2001: connected"))
    );
    assert!(r.peer.iter().any(|l| l.contains("far end hung up")));
}

#[test]
fn incoming_call_on_e1_is_answered_after_ringing() {
    let r = green("incoming-call.yaml");
    assert!(r.peer.iter().any(|l| l.contains("connected on B")));
}

#[test]
fn busy_cause_and_reject_are_reported_with_their_causes() {
    let r = green("busy-and-causes.yaml");
    assert!(
        r.pbx
            .iter()
            .any(|l| l.contains("busy (cleared by the far end with cause 17"))
    );
    assert!(r.peer.iter().any(|l| l.contains("cause 21")));
}

#[test]
fn alerting_and_no_answer_calls_are_abandoned() {
    let r = green("alerting-no-answer.yaml");
    assert!(r.pbx.iter().any(|l| l.contains("no answer within 2000 ms")));
    assert!(
        r.pbx
            .iter()
            .any(|l| l.contains("caller gave up while ringing"))
    );
}

#[test]
fn presentation_and_bearer_arrive_as_placed() {
    let r = green("presentation-bearer.yaml");
    assert!(
        r.peer
            .iter()
            .any(|l| l.contains("presentation Restricted as expected"))
    );
}

#[test]
fn load_connects_every_call() {
    let r = green("load.yaml");
    assert!(r.pbx.iter().any(|l| l.contains("20 of 20 calls connected")));
    assert!(r.pbx.iter().any(|l| l.contains("10 of 10 calls connected")));
}

#[test]
fn tone_and_dtmf_are_heard_both_ways() {
    let r = green("media-tone-dtmf.yaml");
    for side in [&r.pbx, &r.peer] {
        assert!(side.iter().any(|l| l.contains(" Hz at ")), "{side:?}");
        assert!(side.iter().any(|l| l.contains("heard DTMF")), "{side:?}");
    }
}

#[test]
fn los_and_ais_take_the_far_span_down_and_it_recovers() {
    let r = green("faults-los-ais.yaml");
    // D-channel up, five span checks, the call arriving and clearing.
    assert_eq!(oks(&r.peer), 8, "{:?}", r.peer);
    assert!(
        r.pbx
            .iter()
            .any(|l| l.contains("LOS 300 ms: D-channel re-established"))
    );
    assert!(
        r.pbx
            .iter()
            .any(|l| l.contains("AIS 1000 ms: far end noticed"))
    );
}

#[test]
fn rai_bit_errors_slip_and_dropped_frames_keep_the_link() {
    let r = green("faults-rai-ber-slip.yaml");
    assert!(
        r.pbx
            .iter()
            .any(|l| l.contains("RAI 1000 ms: D-channel stayed up"))
    );
    assert!(r.pbx.iter().any(|l| l.contains("3 frames dropped")));
}

#[test]
fn same_seed_same_run() {
    let a = run("faults-rai-ber-slip.yaml", 11);
    let b = run("faults-rai-ber-slip.yaml", 11);
    assert_eq!(a.pbx, b.pbx);
    assert_eq!(a.peer, b.peer);
}

#[test]
fn a_wrong_expectation_fails_with_a_reason() {
    // The peer answers; a PBX expecting busy must say so.
    let text = "span: { alarms: { recovery_after_ms: 200 } }\nsteps:\n  - place: { called: \"1\", expect: busy, within_ms: 2000 }\npeer:\n  - answer: { called: \"1\" }\n";
    let scenario = Scenario::parse(Path::new("wrong.yaml"), text).unwrap();
    let peer = scenario.peer_scenario();
    let t0 = Instant::now();
    let mut h = Harness::new(3, t0, pbx(&scenario, t0, 3), pbx(&peer, t0, 4));
    let mut lines = Vec::new();
    h.step_until(Duration::from_secs(30), |h| {
        drain(&mut h.a, &mut lines);
        h.a.is_finished()
    });
    assert!(!h.a.report().success());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("FAIL: call 1 to 1: connected on B")
                && l.contains("expected busy")),
        "{lines:?}"
    );
}
