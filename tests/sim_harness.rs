//! The simulator against itself in-process: a PBX and its peer on the virtual-clock
//! harness, every shipped scenario, seeded and reproducible.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "test epoch; a failed step fails the test"
)]

use std::path::Path;
use std::time::Instant;

use dialgate::sim::pbx::{Event, Pbx, PbxConfig};
use dialgate::sim::{Harness, Scenario};

fn pbx(scenario: &Scenario, t0: Instant) -> Pbx {
    let span = scenario.span.resolve().unwrap();
    Pbx::new(PbxConfig::new(&span), scenario, t0)
}

/// Run a scenario against its `peer:` on the harness; return both sides' lines.
fn run(path: &Path, seed: u64) -> (Vec<String>, Vec<String>, bool) {
    let scenario = Scenario::load(path).unwrap();
    let peer = scenario.peer_scenario();
    let t0 = Instant::now();
    let mut h = Harness::new(seed, t0, pbx(&scenario, t0), pbx(&peer, t0));
    let mut lines = (Vec::new(), Vec::new());
    let limit = scenario.timeout + scenario.link_within;
    h.step_until(limit, |h| {
        while let Some(e) = h.a.poll_event() {
            if !matches!(e, Event::Finished) {
                lines.0.push(e.line());
            }
        }
        while let Some(e) = h.b.poll_event() {
            if !matches!(e, Event::Finished) {
                lines.1.push(e.line());
            }
        }
        h.a.is_finished() && h.b.is_finished()
    });
    let ok = h.a.report().success() && h.b.report().success();
    (lines.0, lines.1, ok)
}

#[test]
fn basic_call_runs_green_against_its_peer() {
    let (a, b, ok) = run(Path::new("tests/scenarios/basic-call.yaml"), 1);
    println!("PBX:\n{}\nPEER:\n{}", a.join("\n"), b.join("\n"));
    assert!(ok);
}
