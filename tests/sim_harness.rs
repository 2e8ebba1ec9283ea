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

/// The gateway's side of the span as the mapper will run it: an `isdn::Pri`, network
/// side, line clocked, driven by hand between harness steps.
fn gateway(scenario: &Scenario, t0: Instant) -> dialgate::isdn::Pri {
    use dialgate::isdn::lapd::Side;
    use dialgate::isdn::q931::Variant;
    let mut span = scenario.span.resolve().unwrap().config;
    span.clock = dialgate::line::Clock::Line;
    dialgate::isdn::Pri::new(
        span,
        dialgate::isdn::Config::t1(Side::Network, Variant::National),
        t0,
    )
}

#[test]
fn pbx_against_the_gateway_pri_places_a_call_the_test_answers() {
    use dialgate::isdn::{Command, Event as IsdnEvent, pri};
    let scenario = Scenario::load(Path::new("tests/scenarios/basic-call.yaml")).unwrap();
    let t0 = Instant::now();
    let mut h = Harness::new(5, t0, pbx(&scenario, t0, 5), gateway(&scenario, t0));
    let mut lines = Vec::new();
    let mut answered = 0;
    let done = h.step_until(Duration::from_secs(30), |h| {
        drain(&mut h.a, &mut lines);
        while let Some(e) = h.b.poll_event() {
            if let pri::Event::Isdn(IsdnEvent::Setup(s)) = e {
                answered += 1;
                assert_eq!(s.called.as_ref().map(|n| n.digits.as_str()), Some("2001"));
                let now = h.now();
                h.b.handle_command(
                    now,
                    Command::Connect {
                        call: s.call,
                        connected: None,
                    },
                );
            }
        }
        h.a.is_finished()
    });
    assert!(done && h.a.report().success(), "{lines:?}");
    assert_eq!(answered, 1);
    // The whole call ran on the virtual clock: under 3 s of line time.
    assert!(h.now() < t0 + Duration::from_secs(3), "{:?}", h.now() - t0);
}

#[test]
fn rai_fault_puts_the_gateway_span_in_remote_alarm_but_not_down() {
    let text = "span: { alarms: { recovery_after_ms: 200 } }\nsettle_ms: 0\nsteps:\n  - fault: { at_ms: 100, rai_ms: 500 }\n";
    let scenario = Scenario::parse(Path::new("rai.yaml"), text).unwrap();
    let t0 = Instant::now();
    let mut h = Harness::new(9, t0, pbx(&scenario, t0, 9), gateway(&scenario, t0));
    let mut lines = Vec::new();
    let mut rai_seen = false;
    let mut went_down = false;
    let mut up_before = false;
    h.step_until(Duration::from_secs(30), |h| {
        drain(&mut h.a, &mut lines);
        while h.b.poll_event().is_some() {}
        let st = h.b.span().status();
        up_before |= st.up;
        if up_before {
            went_down |= !st.up;
        }
        rai_seen |= st.alarms.rai && !st.accepts_new_calls();
        h.a.is_finished()
    });
    assert!(h.a.report().success(), "{lines:?}");
    assert!(rai_seen, "the gateway never saw RAI: {lines:?}");
    assert!(!went_down, "RAI took the gateway's span down");
    assert!(h.b.span().status().accepts_new_calls());
}

/// Strict mode, case by case: what the peer does wrong becomes a FAIL line.
fn strict_run(
    seed: u64,
    prepare: impl FnOnce(&mut Harness<Pbx, dialgate::isdn::Pri>),
    mut each: impl FnMut(&mut Harness<Pbx, dialgate::isdn::Pri>),
) -> Vec<String> {
    let text = "span: { alarms: { recovery_after_ms: 200 } }\nsteps:\n  - place: { called: \"2001\", expect: cause 21, within_ms: 3000 }\n";
    let scenario = Scenario::parse(Path::new("strict.yaml"), text).unwrap();
    let t0 = Instant::now();
    let mut h = Harness::new(seed, t0, pbx(&scenario, t0, seed), gateway(&scenario, t0));
    prepare(&mut h);
    let mut lines = Vec::new();
    h.step_until(Duration::from_secs(20), |h| {
        drain(&mut h.a, &mut lines);
        each(h);
        // The gateway refuses the call so the run has a normal ending.
        while let Some(e) = h.b.poll_event() {
            if let dialgate::isdn::pri::Event::Isdn(dialgate::isdn::Event::Setup(s)) = e {
                let now = h.now();
                h.b.handle_command(
                    now,
                    dialgate::isdn::Command::Release {
                        call: s.call,
                        cause: dialgate::isdn::q931::Cause::CALL_REJECTED,
                        progress: None,
                    },
                );
            }
        }
        h.a.is_finished()
    });
    lines
}

#[test]
fn strict_clean_peer_gives_no_failure() {
    let lines = strict_run(21, |_| {}, |_| {});
    assert!(lines.iter().all(|l| !l.starts_with("FAIL")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cause 21 (Call rejected) as expected")),
        "{lines:?}"
    );
}

#[test]
fn strict_bit_errors_we_did_not_inject_fail_on_bad_fcs() {
    let lines = strict_run(22, |h| h.b_to_a.set_bit_error_rate(1e-3), |_| {});
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("FAIL:") && l.contains("damaged D-channel frame")),
        "{lines:?}"
    );
}

#[test]
fn strict_undefined_lapd_frame_from_the_peer_fails() {
    let mut sent = false;
    let lines = strict_run(
        23,
        |_| {},
        |h| {
            let up =
                h.b.d_channel()
                    .lapd()
                    .is_some_and(|l| l.state().number() == 7);
            if up && !sent {
                sent = true;
                // SAPI 0 command from the network side, TEI 0, control 0x23: no such
                // U frame in Q.921.
                h.b.span_mut().send_d_frame(&[0x02, 0x01, 0x23]);
            }
        },
    );
    assert!(sent);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("FAIL:") && l.contains("LAPD")),
        "{lines:?}"
    );
}
