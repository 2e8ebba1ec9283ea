//! The e2e flows in-process on a virtual clock: `sim::Pbx` (the PBX's scenario) on
//! one end of a harness line, the gateway's own `isdn::Pri` on the other, the
//! `mapper::Mapper` above it, and a scripted SIP side answering the mapper's SIP
//! commands with SIP events (no sockets). Every run is reproducible from its seed.
//!
//! ```text
//!   sim::Pbx ═══ harness line (virtual clock) ═══ isdn::Pri ─ Mapper ─ scripted SIP
//! ```

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "test epoch; a failed step fails the test"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialgate::isdn::lapd::Side;
use dialgate::isdn::q931::Variant;
use dialgate::isdn::{self, Pri, pri};
use dialgate::line::{Framing, Law, SpanConfig, T1Framing};
use dialgate::mapper::{self, Action, Mapper, Media, SpanInfo};
use dialgate::routing::RoutingTable;
use dialgate::sim::pbx::{Event as PbxEvent, Pbx, PbxConfig};
use dialgate::sim::{Harness, Scenario};
use dialgate::sip;

const PLAN: &str = r#"
dial_peers:
  - tag: 1
    type: pots
    port: span1
    destination_pattern: "2...$"
    digit_strip: false
    incoming_called_number: "555....$"
  - tag: 100
    type: voip
    session_target: "ipv4:127.0.0.1:5070"
    destination_pattern: "5551...$"
    incoming_called_number: "2...$"
  - tag: 101
    type: voip
    description: dead
    session_target: "ipv4:127.0.0.1:5071"
    destination_pattern: "5559...$"
  - tag: 102
    type: voip
    session_target: "ipv4:127.0.0.1:5070"
    preference: 1
    destination_pattern: "5559...$"
"#;

const LIVE: sip::PeerId = 0;
const DEAD: sip::PeerId = 1;
const RTP: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

#[derive(Clone, Copy)]
enum Kind {
    T1,
    E1,
}

/// The scripted SIP side: what a phone behind peer 100 does, by called number.
#[derive(Default)]
struct SipSide {
    due: Vec<(Instant, sip::Event)>,
    answered: HashMap<sip::CallId, bool>,
    /// Every command the mapper sent, in order.
    commands: Vec<sip::Command>,
    /// Inbound calls (ours to the gateway) to hang up this long after the 200.
    hang_up_after: Option<Duration>,
}

fn media() -> sip::Media {
    sip::Media {
        rtcp: None,
        rtp: SocketAddr::from(([127, 0, 0, 1], 50000)),
        codecs: vec![sip::Codec::Pcmu],
        telephone_event: Some(101),
        ptime: Some(20),
        direction: sip::Direction::SendRecv,
    }
}

impl SipSide {
    fn command(&mut self, now: Instant, c: sip::Command) {
        self.commands.push(c.clone());
        let ms = |n| now + Duration::from_millis(n);
        match c {
            sip::Command::Place(o) => {
                let call = o.call;
                // As the endpoint does: the INVITE's Call-ID before any response.
                self.due.push((
                    now,
                    sip::Event::Placed {
                        call,
                        sip_call_id: format!("out-{}@harness", call.0),
                    },
                ));
                if o.peer == DEAD {
                    return; // the dead target never answers
                }
                self.answered.insert(call, false);
                match o.called.as_str() {
                    "5551002" => self.due.push((
                        ms(5),
                        sip::Event::Released {
                            call,
                            status: Some(486),
                            reason: Some(sip::Reason {
                                protocol: sip::ReasonProtocol::Q850,
                                cause: 17,
                                text: None,
                            }),
                        },
                    )),
                    "5551003" => {
                        self.due.push((ms(2), sip::Event::Trying { call }));
                        self.due
                            .push((ms(5), sip::Event::Ringing { call, media: None }));
                    }
                    _ => {
                        self.due.push((ms(2), sip::Event::Trying { call }));
                        self.due
                            .push((ms(5), sip::Event::Ringing { call, media: None }));
                        self.due.push((
                            ms(100),
                            sip::Event::Answered {
                                call,
                                media: Some(media()),
                            },
                        ));
                    }
                }
            }
            sip::Command::Answer { call, .. } => {
                self.answered.insert(call, true);
                self.due
                    .push((ms(2), sip::Event::Answered { call, media: None }));
                if let Some(after) = self.hang_up_after {
                    self.due.push((
                        now + after,
                        sip::Event::Released {
                            call,
                            status: None,
                            reason: None,
                        },
                    ));
                }
            }
            sip::Command::Release { call, status, .. } => {
                let answered = self.answered.get(&call).copied().unwrap_or(false);
                // Our CANCEL's 487, our BYE's 200, or our own final response.
                let status = match status {
                    Some(s) => Some(s),
                    None if answered => None,
                    None => Some(487),
                };
                self.due.retain(|(_, e)| !event_of(e, call));
                self.due.push((
                    ms(2),
                    sip::Event::Released {
                        call,
                        status,
                        reason: None,
                    },
                ));
            }
            sip::Command::Provisional { .. } | sip::Command::SetPeers { .. } => {}
        }
    }

    fn poll(&mut self, now: Instant) -> Vec<sip::Event> {
        let (ready, later): (Vec<_>, Vec<_>) = self.due.drain(..).partition(|(at, _)| *at <= now);
        self.due = later;
        for (_, e) in &ready {
            if let sip::Event::Answered { call, .. } = e {
                self.answered.insert(*call, true);
            }
        }
        ready.into_iter().map(|(_, e)| e).collect()
    }
}

fn event_of(e: &sip::Event, call: sip::CallId) -> bool {
    matches!(e,
        sip::Event::Trying { call: c } | sip::Event::Ringing { call: c, .. }
        | sip::Event::Answered { call: c, .. } | sip::Event::Released { call: c, .. } if *c == call)
}

struct Rig {
    h: Harness<Pbx, Pri>,
    mapper: Mapper,
    sip: SipSide,
    ended: Vec<mapper::Event>,
    pbx_lines: Vec<String>,
    ids: sip::CallIds,
    t0: Instant,
}

fn rig(kind: Kind, steps: &str, seed: u64) -> Rig {
    let (span_yaml, framing, variant, law) = match kind {
        Kind::T1 => (
            "{ type: t1, side: user, switch: national, alarms: { recovery_after_ms: 50 } }",
            Framing::T1(T1Framing::Esf),
            Variant::National,
            Law::MuLaw,
        ),
        Kind::E1 => (
            "{ type: e1, side: user, switch: euroisdn, alarms: { recovery_after_ms: 50 } }",
            Framing::E1 { crc4: true },
            Variant::EuroIsdn,
            Law::ALaw,
        ),
    };
    // Every test logs into the capture (kept only for the thread that asks for it).
    capture::install();
    let text = format!("description: harness\nspan: {span_yaml}\nsteps:\n{steps}");
    let scenario = Scenario::parse(Path::new("harness.yaml"), &text).unwrap();
    let t0 = Instant::now();
    let span = scenario.span.resolve().unwrap();
    let pbx = Pbx::new(PbxConfig::new(&span), &scenario, t0);
    let mut line = SpanConfig::new(framing);
    line.recovery_after = Duration::from_millis(50);
    let d = match kind {
        Kind::T1 => isdn::Config::t1(Side::Network, variant),
        Kind::E1 => isdn::Config::e1(Side::Network, variant),
    };
    let channels = d.channels.len();
    let gw = Pri::new(line, d, t0);
    let table = Arc::new(RoutingTable::from_sources(&[(Path::new("plan.yaml"), PLAN)]).unwrap());
    let mut config = mapper::Config::new(
        vec![SpanInfo {
            name: "span1".into(),
            side: Side::Network,
            law,
            channels,
        }],
        vec![
            SocketAddr::from(([127, 0, 0, 1], 5070)),
            SocketAddr::from(([127, 0, 0, 1], 5071)),
        ],
    );
    config.invite_timeout = Duration::from_secs(1);
    let ids = sip::CallIds::default();
    let mapper = Mapper::new(config, table, ids.clone());
    Rig {
        h: Harness::new(seed, t0, pbx, gw),
        mapper,
        sip: SipSide::default(),
        ended: Vec::new(),
        pbx_lines: Vec::new(),
        ids,
        t0,
    }
}

impl Rig {
    /// One harness step, then everything above the gateway's Pri at that instant.
    fn step(&mut self) {
        self.h.step();
        let now = self.h.now();
        while let Some(e) = self.h.b.poll_event() {
            if let pri::Event::Isdn(e) = e {
                self.mapper.handle_isdn(now, 0, e);
            }
        }
        for e in self.sip.poll(now) {
            self.mapper.handle_sip(now, e);
        }
        self.mapper.handle_timeout(now);
        while let Some(a) = self.mapper.poll_action() {
            match a {
                Action::Isdn { command, .. } => {
                    let setup = match &command {
                        isdn::Command::Setup { call, .. } => Some(*call),
                        _ => None,
                    };
                    self.h.b.handle_command(now, command);
                    // As the gateway's stack thread does: the call reference it chose.
                    if let Some(call) = setup
                        && let Some(cref) = self.h.b.d_channel().call_ref(call)
                    {
                        self.mapper.handle_call_ref(0, call, cref);
                    }
                }
                Action::Sip(c) => self.sip.command(now, c),
                Action::Media(Media::Open { call, .. }) => {
                    self.mapper.handle_media_opened(now, call, Some(RTP));
                }
                Action::Media(_) => {}
            }
        }
        self.h.carry();
        while let Some(e) = self.mapper.poll_event() {
            if matches!(e, mapper::Event::Ended { .. }) {
                self.ended.push(e);
            }
        }
        while let Some(e) = self.h.a.poll_event() {
            if !matches!(e, PbxEvent::Finished) {
                self.pbx_lines.push(e.line());
            }
        }
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Rig) -> bool) -> bool {
        let end = self.h.now() + limit;
        while self.h.now() < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// Run the PBX's scenario to its end and the mapper until no call is left.
    fn finish(&mut self) {
        let ok = self.run_until(Duration::from_secs(30), |r| {
            r.h.a.is_finished() && r.mapper.call_count() == 0
        });
        assert!(ok, "did not finish:\n{}", self.pbx_lines.join("\n"));
        assert!(
            self.h.a.report().success(),
            "PBX checks failed:\n{}",
            self.pbx_lines.join("\n")
        );
    }

    fn ended(&self) -> Vec<(u8, Option<u16>, bool, u32)> {
        self.ended
            .iter()
            .filter_map(|e| match e {
                mapper::Event::Ended {
                    cause,
                    status,
                    answered,
                    attempts,
                    ..
                } => Some((cause.0, *status, *answered, *attempts)),
                _ => None,
            })
            .collect()
    }

    /// Place a SIP call to the gateway (as if an INVITE had arrived).
    fn invite(&mut self, called: &str) -> sip::CallId {
        let call = self.ids.next();
        let now = self.h.now();
        self.mapper.handle_sip(
            now,
            sip::Event::Incoming(Box::new(sip::Incoming {
                call,
                peer: Some(LIVE),
                source: SocketAddr::from(([127, 0, 0, 1], 5070)),
                transport: sip::Transport::Udp,
                sip_call_id: format!("{}-cid@test", call.0),
                request_uri: format!("sip:{called}@gw"),
                called: Some(called.into()),
                calling: sip::Party {
                    user: Some("5551000".into()),
                    display: None,
                },
                asserted_identity: None,
                privacy: None,
                offer: Some(media()),
            })),
        );
        self.sip.answered.insert(call, false);
        call
    }

    fn wait_link(&mut self) {
        let ok = self.run_until(Duration::from_secs(5), |r| r.mapper.span_up(0));
        assert!(ok, "the D-channel never came up");
    }
}

fn pbx_calls_sip(kind: Kind) {
    let mut r = rig(
        kind,
        "  - place: { called: \"5551001\", calling: \"2001\", expect: connect, hold_ms: 300, hangup: us }\n",
        7,
    );
    r.finish();
    assert_eq!(r.ended(), vec![(16, None, true, 1)]);
    assert!(r.sip.commands.iter().any(|c| matches!(
        c,
        sip::Command::Release {
            cause: 16,
            status: None,
            ..
        }
    )));
}

#[test]
fn t1_pbx_call_answered_by_sip_pbx_hangs_up_bye_cause_16() {
    pbx_calls_sip(Kind::T1);
}

#[test]
fn e1_pbx_call_answered_by_sip_pbx_hangs_up_bye_cause_16() {
    pbx_calls_sip(Kind::E1);
}

#[test]
fn sip_busy_reaches_the_pbx_as_cause_17() {
    let mut r = rig(
        Kind::T1,
        "  - place: { called: \"5551002\", calling: \"2001\", expect: busy }\n",
        3,
    );
    r.finish();
    assert_eq!(r.ended(), vec![(17, Some(486), false, 1)]);
}

#[test]
fn pbx_gives_up_while_sip_rings_cancels_with_cause_16() {
    let mut r = rig(
        Kind::T1,
        "  - place: { called: \"5551003\", calling: \"2001\", expect: alerting, hold_ms: 300, hangup: us }\n",
        4,
    );
    r.finish();
    assert_eq!(r.ended(), vec![(16, Some(487), false, 1)]);
}

#[test]
fn dead_sip_target_fails_over_to_the_live_one() {
    let mut r = rig(
        Kind::E1,
        "  - place: { called: \"5559001\", calling: \"2001\", expect: connect, within_ms: 4000, hold_ms: 300, hangup: us }\n",
        5,
    );
    r.finish();
    assert_eq!(r.ended(), vec![(16, None, true, 2)]);
    let places: Vec<sip::PeerId> = r
        .sip
        .commands
        .iter()
        .filter_map(|c| match c {
            sip::Command::Place(o) => Some(o.peer),
            _ => None,
        })
        .collect();
    assert_eq!(places, vec![1, LIVE]);
}

fn sip_calls_pbx(kind: Kind) {
    let mut r = rig(
        kind,
        "  - answer: { called: \"2001\", count: 1, ring_ms: 100, hold_ms: 2000, hangup: them }\n",
        9,
    );
    r.sip.hang_up_after = Some(Duration::from_millis(300));
    r.wait_link();
    r.run_until(Duration::from_millis(300), |_| false);
    let call = r.invite("2001");
    r.finish();
    assert_eq!(r.ended(), vec![(16, None, true, 1)]);
    let answered = r
        .sip
        .commands
        .iter()
        .any(|c| matches!(c, sip::Command::Answer { call: c, .. } if *c == call));
    assert!(answered);
    assert!(r.sip.commands.iter().any(|c| matches!(
        c,
        sip::Command::Provisional {
            response: sip::Provisional::Ringing,
            ..
        }
    )));
}

#[test]
fn t1_sip_call_answered_by_the_pbx_caller_hangs_up() {
    sip_calls_pbx(Kind::T1);
}

#[test]
fn e1_sip_call_answered_by_the_pbx_caller_hangs_up() {
    sip_calls_pbx(Kind::E1);
}

#[test]
fn pbx_busy_reaches_sip_as_486() {
    let mut r = rig(
        Kind::T1,
        "  - answer: { called: \"2002\", count: 1, reject: 17 }\n",
        11,
    );
    r.wait_link();
    r.run_until(Duration::from_millis(300), |_| false);
    r.invite("2002");
    r.finish();
    assert_eq!(r.ended(), vec![(17, Some(486), false, 1)]);
    assert!(r.sip.commands.iter().any(|c| matches!(
        c,
        sip::Command::Release {
            cause: 17,
            status: Some(486),
            ..
        }
    )));
}

#[test]
fn span_cut_mid_call_clears_sip_with_cause_38_and_new_calls_get_503() {
    let mut r = rig(
        Kind::T1,
        "  - place: { called: \"5551001\", calling: \"2001\", expect: connect, hold_ms: 3000, hangup: us }\n  - fault: { at_ms: 1000, los_ms: 2000 }\n",
        13,
    );
    r.wait_link();
    let cut = r.run_until(Duration::from_secs(5), |r| !r.ended().is_empty());
    assert!(cut, "the call was not cleared:\n{}", r.pbx_lines.join("\n"));
    assert_eq!(r.ended(), vec![(38, None, true, 1)]);
    assert!(r.sip.commands.iter().any(|c| matches!(
        c,
        sip::Command::Release {
            cause: 38,
            status: None,
            ..
        }
    )));
    // While the span is down an INVITE for it is refused with 503.
    assert!(!r.mapper.span_up(0));
    let call = r.invite("2001");
    r.step();
    assert!(r.sip.commands.iter().any(|c| matches!(
        c,
        sip::Command::Release { call: c, status: Some(503), .. } if *c == call
    )));
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut r = rig(
            Kind::T1,
            "  - place: { called: \"5551001\", calling: \"2001\", expect: connect, hold_ms: 300, hangup: us }\n",
            seed,
        );
        r.finish();
        (r.h.now() - r.t0, r.sip.commands.len(), r.pbx_lines)
    };
    assert_eq!(run(21), run(21));
}

/// Every event logged inside a `call` span, with that span's fields at the time.
mod capture {
    use std::collections::{BTreeMap, HashMap};
    use std::fmt;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Subscriber};
    use tracing_subscriber::layer::{Context, Layer};
    use tracing_subscriber::registry::LookupSpan;

    pub(super) type Fields = BTreeMap<String, String>;

    #[derive(Clone, Default)]
    pub(super) struct Capture(Arc<Mutex<Inner>>);

    #[derive(Default)]
    struct Inner {
        spans: HashMap<u64, Fields>,
        /// Per test thread that asked: (message, fields of the call span it was in).
        events: HashMap<std::thread::ThreadId, Vec<(String, Fields)>>,
    }

    thread_local! {
        static ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    static GLOBAL: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();

    /// Installs the capture as the global subscriber, before the test's first log
    /// line. Global rather than `with_default`: a scoped subscriber races with tests on
    /// other threads registering the same callsites (their interest could be cached
    /// as "never").
    pub(super) fn install() -> Capture {
        GLOBAL
            .get_or_init(|| {
                use tracing_subscriber::layer::SubscriberExt;
                let cap = Capture::default();
                let subscriber = tracing_subscriber::registry().with(cap.clone());
                tracing::subscriber::set_global_default(subscriber)
                    .expect("no other global subscriber in this test binary");
                cap
            })
            .clone()
    }

    struct Visitor<'a>(&'a mut Fields);

    impl Visit for Visitor<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl Capture {
        /// Runs `f`, returning the messages this thread logged inside a call span
        /// meanwhile, with the span's fields.
        pub(super) fn during(&self, f: impl FnOnce()) -> Vec<(String, Fields)> {
            let me = std::thread::current().id();
            self.0.lock().unwrap().events.remove(&me);
            ON.with(|on| on.set(true));
            f();
            ON.with(|on| on.set(false));
            self.0
                .lock()
                .unwrap()
                .events
                .remove(&me)
                .unwrap_or_default()
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
            let mut fields = Fields::new();
            attrs.record(&mut Visitor(&mut fields));
            self.0.lock().unwrap().spans.insert(id.into_u64(), fields);
        }

        fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
            let mut inner = self.0.lock().unwrap();
            if let Some(fields) = inner.spans.get_mut(&id.into_u64()) {
                values.record(&mut Visitor(fields));
            }
        }

        fn on_close(&self, id: Id, _: Context<'_, S>) {
            self.0.lock().unwrap().spans.remove(&id.into_u64());
        }

        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            let Some(span) = ctx.event_span(event) else {
                return;
            };
            if span.name() != "call" || !ON.with(std::cell::Cell::get) {
                return;
            }
            let mut message = Fields::new();
            event.record(&mut Visitor(&mut message));
            let mut inner = self.0.lock().unwrap();
            let fields = inner
                .spans
                .get(&span.id().into_u64())
                .cloned()
                .unwrap_or_default();
            let text = message.remove("message").unwrap_or_default();
            inner
                .events
                .entry(std::thread::current().id())
                .or_default()
                .push((text, fields));
        }
    }
}

/// Runs `f` with a capture of the call spans.
fn captured(f: impl FnOnce()) -> Vec<(String, capture::Fields)> {
    capture::install().during(f)
}

fn field<'a>(fields: &'a capture::Fields, name: &str) -> &'a str {
    fields.get(name).map_or("", String::as_str)
}

#[test]
fn pbx_to_sip_logs_carry_the_call_span_with_cref_channel_and_call_id() {
    let events = captured(|| pbx_calls_sip(Kind::T1));
    let (_, ended) = events
        .iter()
        .find(|(m, _)| m == "call ended")
        .expect("the end of the call is logged in its span");
    // The PBX chose the call reference: our messages carry it with the flag set.
    let table = [
        ("call", "call-1"),
        ("direction", "pstn-to-sip"),
        ("span", "span1"),
        ("cref", "0x8001"),
        ("sip_call_id", "out-1@harness"),
        ("peer", "100"),
    ];
    for (name, want) in table {
        assert_eq!(field(ended, name), want, "{name} in {ended:?}");
    }
    assert!(field(ended, "channel").parse::<u8>().is_ok(), "{ended:?}");
    // Every log line of the call is inside it: the INVITE and the answer too.
    for message in ["SETUP from the PBX", "INVITE", "answered by SIP: CONNECT"] {
        assert!(
            events
                .iter()
                .any(|(m, f)| m == message && field(f, "call") == "call-1"),
            "{message} not in the call span: {events:?}"
        );
    }
}

#[test]
fn sip_to_pbx_logs_carry_the_call_span_with_our_cref_and_the_received_call_id() {
    let events = captured(|| sip_calls_pbx(Kind::T1));
    let (_, ended) = events
        .iter()
        .find(|(m, _)| m == "call ended")
        .expect("the end of the call is logged in its span");
    let table = [
        ("call", "call-1"),
        ("direction", "sip-to-pstn"),
        ("span", "span1"),
        ("sip_call_id", "1-cid@test"),
        ("peer", "1"),
    ];
    for (name, want) in table {
        assert_eq!(field(ended, name), want, "{name} in {ended:?}");
    }
    // We chose the call reference: our messages carry it with the flag clear.
    let cref = field(ended, "cref");
    assert!(cref.starts_with("0x0"), "{ended:?}");
    assert!(field(ended, "channel").parse::<u8>().is_ok(), "{ended:?}");
    assert!(
        events
            .iter()
            .any(|(m, f)| m == "SETUP to the PBX" && field(f, "call") == "call-1"),
        "{events:?}"
    );
}

const RELOADED_PLAN: &str = r#"
dial_peers:
  - tag: 1
    type: pots
    port: span1
    destination_pattern: "2...$"
    digit_strip: false
    incoming_called_number: "555....$"
  - tag: 200
    type: voip
    session_target: "ipv4:127.0.0.1:5072"
    destination_pattern: "5551...$"
    incoming_called_number: "2...$"
"#;

#[test]
fn reload_with_a_new_target_routes_the_next_call_to_it_and_keeps_the_call_in_progress() {
    let mut r = rig(
        Kind::T1,
        "  - place: { called: \"5551001\", calling: \"2001\", expect: connect, hold_ms: 1500, hangup: us }\n  - place: { at_ms: 800, called: \"5551004\", calling: \"2001\", expect: connect, hold_ms: 300, hangup: us }\n",
        17,
    );
    r.wait_link();
    let up = r.run_until(Duration::from_secs(3), |r| {
        r.mapper.counters().answered == 1
    });
    assert!(up, "call 1 never answered:\n{}", r.pbx_lines.join("\n"));
    // The reload as the gateway applies it: the table and the endpoint's targets
    // together; peer 2 is appended (0 and 1 stay for the calls that use them).
    let table =
        Arc::new(RoutingTable::from_sources(&[(Path::new("plan.yaml"), RELOADED_PLAN)]).unwrap());
    r.mapper.set_table(table);
    r.mapper.set_sip_peers(vec![mapper::SipTarget::udp(
        "127.0.0.1:5072".parse().unwrap(),
        2,
    )]);
    r.finish();
    assert_eq!(r.ended(), vec![(16, None, true, 1), (16, None, true, 1)]);
    // (peer of each INVITE, and whether the first call's BYE went to its own leg)
    let places: Vec<(sip::CallId, sip::PeerId)> = r
        .sip
        .commands
        .iter()
        .filter_map(|c| match c {
            sip::Command::Place(o) => Some((o.call, o.peer)),
            _ => None,
        })
        .collect();
    assert_eq!(
        places.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![LIVE, 2]
    );
    let first = places[0].0;
    assert!(r.sip.commands.iter().any(|c| matches!(
        c,
        sip::Command::Release { call, status: None, .. } if *call == first
    )));
}
