//! State-table tests of the user agent on a virtual clock: two agents wired back to back
//! (`Pair`), or one agent fed scripted bytes (`Scripted`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::sip::endpoint::{Keepalive, Peer, RateLimit, Registrar, Registration};
use crate::sip::sdp::Codec;

const A: &str = "127.0.0.1:5060";
const B: &str = "127.0.0.1:5070";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[expect(
    clippy::disallowed_methods,
    reason = "the virtual clock needs an origin"
)]
fn start() -> Instant {
    Instant::now()
}

fn fast_timers() -> crate::sip::Timers {
    crate::sip::Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        t4: Duration::from_millis(500),
    }
}

fn config(peer: &str) -> Config {
    Config {
        peers: vec![Peer::new("far", addr(peer))],
        timers: fast_timers(),
        trying_delay: Duration::ZERO,
        ..Config::default()
    }
}

fn agent(now: Instant, local: &str, config: Config) -> UserAgent {
    UserAgent::new(
        now,
        config,
        vec![(Transport::Udp, addr(local))],
        CallIds::default(),
        Arc::new(Stats::default()),
        7,
    )
}

fn media(port: u16) -> LocalMedia {
    LocalMedia {
        rtp: SocketAddr::from(([127, 0, 0, 1], port)),
        codecs: Vec::new(),
    }
}

fn outgoing(call: u64) -> Command {
    Command::Place(Box::new(Outgoing {
        call: CallId(call),
        peer: 0,
        called: "4085552000".into(),
        calling: Party {
            user: Some("2125551000".into()),
            display: None,
        },
        asserted_identity: Some("<sip:+12125551000@127.0.0.1;user=phone>".into()),
        privacy: Some("id".into()),
        media: media(16384),
    }))
}

/// Two agents, A (the gateway placing calls) and B (the far end), on a virtual clock.
struct Pair {
    now: Instant,
    a: UserAgent,
    b: UserAgent,
    a_events: Vec<Event>,
    /// `Event::Placed` of A's calls, kept apart from the call events.
    a_placed: Vec<(CallId, String)>,
    b_events: Vec<Event>,
    /// Drop the next n messages from A to B / B to A.
    drop_a_to_b: usize,
    drop_b_to_a: usize,
    log: Vec<(char, String)>,
}

impl Pair {
    fn new() -> Self {
        Self::with(config(B), config(A))
    }

    fn with(a: Config, b: Config) -> Self {
        let now = start();
        Self {
            now,
            a: agent(now, A, a),
            b: agent(now, B, b),
            a_events: Vec::new(),
            a_placed: Vec::new(),
            b_events: Vec::new(),
            drop_a_to_b: 0,
            drop_b_to_a: 0,
            log: Vec::new(),
        }
    }

    /// Moves messages until both sides are quiet (no time passes).
    fn step(&mut self) {
        for _ in 0..100 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                moved = true;
                self.log
                    .push(('>', String::from_utf8_lossy(&t.bytes).into_owned()));
                if self.drop_a_to_b > 0 {
                    self.drop_a_to_b -= 1;
                    continue;
                }
                if t.dest.addr == addr(B) {
                    let input = Input {
                        transport: Transport::Udp,
                        source: addr(A),
                        conn: None,
                        data: &t.bytes,
                    };
                    self.b.handle_input(self.now, input);
                }
            }
            while let Some(t) = self.b.poll_transmit() {
                moved = true;
                self.log
                    .push(('<', String::from_utf8_lossy(&t.bytes).into_owned()));
                if self.drop_b_to_a > 0 {
                    self.drop_b_to_a -= 1;
                    continue;
                }
                if t.dest.addr == addr(A) {
                    let input = Input {
                        transport: Transport::Udp,
                        source: addr(B),
                        conn: None,
                        data: &t.bytes,
                    };
                    self.a.handle_input(self.now, input);
                }
            }
            while let Some(e) = self.a.poll_event() {
                match e {
                    Event::Placed { call, sip_call_id } => self.a_placed.push((call, sip_call_id)),
                    e => self.a_events.push(e),
                }
            }
            while let Some(e) = self.b.poll_event() {
                self.b_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    /// Advances the clock timer by timer up to `d`, stepping after each.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.step();
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
        self.step();
    }

    fn incoming(&self) -> CallId {
        self.b_events
            .iter()
            .find_map(|e| match e {
                Event::Incoming(i) => Some(i.call),
                _ => None,
            })
            .expect("B saw no Incoming")
    }

    fn sent(&self, dir: char, start: &str) -> usize {
        self.log
            .iter()
            .filter(|(d, m)| *d == dir && m.starts_with(start))
            .count()
    }

    fn last(&self, dir: char, start: &str) -> &str {
        self.log
            .iter()
            .rev()
            .find(|(d, m)| *d == dir && m.starts_with(start))
            .map(|(_, m)| m.as_str())
            .unwrap_or_else(|| panic!("no {start} sent {dir}"))
    }
}

fn released(events: &[Event]) -> Vec<(Option<u16>, Option<u16>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Released { status, reason, .. } => {
                Some((*status, reason.as_ref().map(|r| r.cause)))
            }
            _ => None,
        })
        .collect()
}

fn answered_pair() -> (Pair, CallId) {
    let mut p = Pair::new();
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    let call = p.incoming();
    p.b.handle_command(
        p.now,
        Command::Provisional {
            call,
            response: Provisional::Ringing,
        },
    );
    p.step();
    p.b.handle_command(
        p.now,
        Command::Answer {
            call,
            media: media(20000),
        },
    );
    p.step();
    (p, call)
}

#[test]
fn idle_place_answered_call_reports_trying_ringing_answered_both_ways() {
    let (p, _) = answered_pair();
    // The caller reports the Call-ID it chose, the callee the one it received.
    let received = p.b_events.iter().find_map(|e| match e {
        Event::Incoming(i) => Some(i.sip_call_id.clone()),
        _ => None,
    });
    assert_eq!(p.a_placed.len(), 1);
    assert_eq!(Some(&p.a_placed[0].1), received.as_ref());
    assert_eq!(p.a_placed[0].0, CallId(1));
    assert!(matches!(p.a_events[0], Event::Trying { call: CallId(1) }));
    assert!(matches!(
        p.a_events[1],
        Event::Ringing {
            call: CallId(1),
            media: None
        }
    ));
    let Event::Answered { media: Some(m), .. } = &p.a_events[2] else {
        panic!("{:?}", p.a_events)
    };
    assert_eq!(m.rtp, addr("127.0.0.1:20000"));
    assert_eq!(m.codecs, vec![Codec::Pcmu, Codec::Pcma]);
    assert!(
        p.b_events
            .iter()
            .any(|e| matches!(e, Event::Answered { .. }))
    );
    let Event::Incoming(inc) = &p.b_events[0] else {
        panic!()
    };
    assert_eq!(inc.called.as_deref(), Some("4085552000"));
    assert_eq!(inc.calling.user.as_deref(), Some("2125551000"));
    assert_eq!(
        inc.asserted_identity.as_deref(),
        Some("<sip:+12125551000@127.0.0.1;user=phone>")
    );
    assert_eq!(inc.privacy.as_deref(), Some("id"));
    // The ACK has a new branch, the 100 carries no To tag.
    assert_eq!(p.sent('>', "ACK"), 1);
    assert!(
        p.last('<', "SIP/2.0 100")
            .contains("\r\nTo: <sip:4085552000@127.0.0.1>\r\n")
    );
}

#[test]
fn confirmed_local_release_sends_bye_with_reason_and_both_sides_release() {
    let (mut p, _) = answered_pair();
    p.a.handle_command(
        p.now,
        Command::Release {
            call: CallId(1),
            cause: 16,
            status: None,
        },
    );
    p.step();
    assert!(
        p.last('>', "BYE")
            .contains("Reason: Q.850;cause=16;text=\"Normal call clearing\"")
    );
    assert_eq!(released(&p.a_events), vec![(None, None)]);
    assert_eq!(released(&p.b_events), vec![(None, Some(16))]);
    p.advance(Duration::from_secs(10));
    assert_eq!((p.a.call_count(), p.b.call_count()), (0, 0));
    assert_eq!(
        (p.a.transaction_count(), p.b.transaction_count()),
        (0, 0),
        "no transaction leaks"
    );
}

#[test]
fn confirmed_remote_bye_from_callee_releases_caller() {
    let (mut p, call) = answered_pair();
    p.b.handle_command(
        p.now,
        Command::Release {
            call,
            cause: 16,
            status: None,
        },
    );
    p.step();
    assert_eq!(released(&p.a_events), vec![(None, Some(16))]);
    assert_eq!(released(&p.b_events), vec![(None, None)]);
}

#[test]
fn ringing_caller_release_cancels_with_reason_and_gets_487() {
    let mut p = Pair::new();
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    let call = p.incoming();
    p.b.handle_command(
        p.now,
        Command::Provisional {
            call,
            response: Provisional::Ringing,
        },
    );
    p.step();
    p.a.handle_command(
        p.now,
        Command::Release {
            call: CallId(1),
            cause: 16,
            status: None,
        },
    );
    p.step();
    assert!(p.last('>', "CANCEL").contains("Reason: Q.850;cause=16"));
    assert_eq!(released(&p.b_events), vec![(Some(487), Some(16))]);
    assert_eq!(released(&p.a_events), vec![(Some(487), Some(16))]);
    assert_eq!(p.sent('>', "ACK"), 1, "the 487 is ACKed");
    p.advance(Duration::from_secs(10));
    assert_eq!((p.a.call_count(), p.b.call_count()), (0, 0));
    assert_eq!((p.a.transaction_count(), p.b.transaction_count()), (0, 0));
}

#[test]
fn calling_release_before_any_provisional_waits_then_cancels() {
    let mut p = Pair::new();
    p.drop_b_to_a = 1; // lose the 100 Trying
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    p.a.handle_command(
        p.now,
        Command::Release {
            call: CallId(1),
            cause: 16,
            status: None,
        },
    );
    p.step();
    assert_eq!(
        p.sent('>', "CANCEL"),
        0,
        "no CANCEL before a provisional (§9.1)"
    );
    let call = p.incoming();
    p.b.handle_command(
        p.now,
        Command::Provisional {
            call,
            response: Provisional::Ringing,
        },
    );
    p.step();
    assert_eq!(p.sent('>', "CANCEL"), 1);
    assert_eq!(released(&p.a_events), vec![(Some(487), Some(16))]);
}

#[test]
fn proceeding_busy_gives_486_with_q850_reason() {
    let mut p = Pair::new();
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    let call = p.incoming();
    p.b.handle_command(
        p.now,
        Command::Release {
            call,
            cause: 17,
            status: Some(486),
        },
    );
    p.step();
    assert_eq!(released(&p.a_events), vec![(Some(486), Some(17))]);
    assert_eq!(released(&p.b_events), vec![(Some(486), None)]);
    p.advance(Duration::from_secs(10));
    assert_eq!((p.a.call_count(), p.b.call_count()), (0, 0));
}

#[test]
fn early_media_183_answer_is_repeated_unchanged_in_200() {
    let mut p = Pair::new();
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    let call = p.incoming();
    p.b.handle_command(
        p.now,
        Command::Provisional {
            call,
            response: Provisional::Progress(media(20000)),
        },
    );
    p.step();
    let Event::Progress { media: Some(m), .. } = &p.a_events[1] else {
        panic!("{:?}", p.a_events)
    };
    assert_eq!(m.rtp.port(), 20000);
    p.b.handle_command(
        p.now,
        Command::Answer {
            call,
            media: media(20000),
        },
    );
    p.step();
    let sdp183 = p
        .last('<', "SIP/2.0 183")
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .to_owned();
    let sdp200 = p
        .last('<', "SIP/2.0 200")
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(sdp183, sdp200);
}

#[test]
fn calling_no_common_codec_gets_488() {
    let mut b = config(A);
    b.media.codecs = vec![Codec::Pcma];
    let mut a = config(B);
    a.media.codecs = vec![Codec::Pcmu];
    let mut p = Pair::with(a, b);
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    assert_eq!(released(&p.a_events), vec![(Some(488), None)]);
    assert!(p.b_events.is_empty());
    assert!(p.last('<', "SIP/2.0 488").contains("Warning: 305"));
}

#[test]
fn answer_follows_the_offer_codec_order() {
    let mut a = config(B);
    a.media.codecs = vec![Codec::Pcma, Codec::Pcmu];
    let mut p = Pair::with(a, config(A));
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    let call = p.incoming();
    p.b.handle_command(
        p.now,
        Command::Answer {
            call,
            media: media(20000),
        },
    );
    p.step();
    assert!(
        p.last('<', "SIP/2.0 200")
            .contains("m=audio 20000 RTP/AVP 8 0 101")
    );
}

#[test]
fn idle_invite_from_untrusted_source_gets_403_and_is_counted() {
    let mut b = config("127.0.0.9:5060");
    b.trusted = Vec::new();
    let mut p = Pair::with(config(B), b);
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    assert_eq!(released(&p.a_events), vec![(Some(403), None)]);
    assert_eq!(Stats::get(&p.b.stats.untrusted), 1);
    assert_eq!(p.b.call_count(), 0);
}

#[test]
fn idle_invite_from_untrusted_source_is_dropped_when_configured() {
    let mut b = config("127.0.0.9:5060");
    b.untrusted = Untrusted::Drop;
    let mut p = Pair::with(config(B), b);
    p.a.handle_command(p.now, outgoing(1));
    p.advance(Duration::from_secs(4));
    assert_eq!(p.sent('<', "SIP/2.0"), 0);
    // Timer B (64*T1 = 3.2 s here) ends the attempt as a 408; seven transmissions.
    assert_eq!(released(&p.a_events), vec![(Some(408), None)]);
    assert_eq!(p.sent('>', "INVITE"), 7);
    assert_eq!(p.a.transaction_count(), 0);
}

#[test]
fn calling_lost_invite_is_retransmitted_after_t1() {
    let mut p = Pair::new();
    p.drop_a_to_b = 1;
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    assert!(p.b_events.is_empty());
    p.advance(Duration::from_millis(60));
    assert_eq!(p.sent('>', "INVITE"), 2);
    p.incoming();
}

#[test]
fn accepted_lost_ack_makes_the_callee_resend_200_and_the_caller_ack_again() {
    let mut p = Pair::new();
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    let call = p.incoming();
    p.drop_a_to_b = 1; // the ACK
    p.b.handle_command(
        p.now,
        Command::Answer {
            call,
            media: media(20000),
        },
    );
    p.step();
    assert!(
        !p.b_events
            .iter()
            .any(|e| matches!(e, Event::Answered { .. }))
    );
    p.advance(Duration::from_millis(60));
    assert_eq!(p.sent('<', "SIP/2.0 200"), 2);
    assert_eq!(p.sent('>', "ACK"), 2);
    assert!(
        p.b_events
            .iter()
            .any(|e| matches!(e, Event::Answered { .. }))
    );
}

#[test]
fn accepted_never_acked_200_ends_with_bye_cause_102() {
    let mut p = Pair::new();
    p.a.handle_command(p.now, outgoing(1));
    p.step();
    let call = p.incoming();
    p.drop_a_to_b = 1_000;
    p.b.handle_command(
        p.now,
        Command::Answer {
            call,
            media: media(20000),
        },
    );
    p.advance(Duration::from_secs(4));
    assert!(p.last('<', "BYE").contains("cause=102"));
    p.advance(Duration::from_secs(4));
    assert_eq!(released(&p.b_events), vec![(None, None)]);
    assert_eq!(p.b.call_count(), 0);
}

#[test]
fn confirmed_bye_retransmission_gets_the_same_200() {
    let (mut p, _) = answered_pair();
    p.drop_b_to_a = 1; // the 200 to the BYE
    p.a.handle_command(
        p.now,
        Command::Release {
            call: CallId(1),
            cause: 16,
            status: None,
        },
    );
    p.step();
    p.advance(Duration::from_millis(60));
    assert_eq!(p.sent('>', "BYE"), 2);
    assert_eq!(released(&p.a_events), vec![(None, None)]);
    assert_eq!(released(&p.b_events).len(), 1, "one Released per call");
}

/// One agent fed scripted bytes; outputs captured as text.
struct Scripted {
    now: Instant,
    ua: UserAgent,
    out: Vec<(SocketAddr, String)>,
    events: Vec<Event>,
}

impl Scripted {
    fn new(config: Config) -> Self {
        let now = start();
        Self {
            now,
            ua: agent(now, A, config),
            out: Vec::new(),
            events: Vec::new(),
        }
    }

    fn feed(&mut self, from: &str, text: &str) {
        let input = Input {
            transport: Transport::Udp,
            source: addr(from),
            conn: None,
            data: text.as_bytes(),
        };
        self.ua.handle_input(self.now, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(t) = self.ua.poll_transmit() {
            self.out
                .push((t.dest.addr, String::from_utf8_lossy(&t.bytes).into_owned()));
        }
        while let Some(e) = self.ua.poll_event() {
            self.events.push(e);
        }
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.ua.poll_timeout().filter(|t| *t <= end) {
            self.now = self.now.max(t);
            self.ua.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    fn take(&mut self) -> Vec<String> {
        self.out.drain(..).map(|(_, m)| m).collect()
    }
}

fn request(method: &str, extra: &str, body: &str) -> String {
    format!(
        "{method} sip:100@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKt{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:200@127.0.0.1>;tag=far1\r\nTo: <sip:100@127.0.0.1>\r\n\
         Call-ID: script-1@127.0.0.1\r\nCSeq: 1 {method}\r\nContact: <sip:200@127.0.0.1:5070>\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        method.len(),
        body.len()
    )
}

const OFFER: &str = "v=0\r\no=far 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

#[test]
fn idle_options_is_answered_200_with_allow_and_accept() {
    let mut s = Scripted::new(config(B));
    s.feed(B, &request("OPTIONS", "", ""));
    let out = s.take();
    assert!(out[0].starts_with("SIP/2.0 200 OK"));
    assert!(out[0].contains("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS"));
    assert!(out[0].contains("Accept: application/sdp"));
}

#[test]
fn idle_register_to_the_gateway_is_refused_with_405() {
    let mut s = Scripted::new(config(B));
    s.feed(B, &request("REGISTER", "", ""));
    assert!(s.take()[0].starts_with("SIP/2.0 405"));
}

#[test]
fn malformed_requests_get_400_or_501_and_are_counted_without_state() {
    let good = request("INVITE", "Content-Type: application/sdp\r\n", OFFER);
    let cases: Vec<(String, &str)> = vec![
        (
            good.replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia"),
            "SIP/2.0 400",
        ),
        (
            good.replace("Call-ID: script-1@127.0.0.1\r\n", ""),
            "SIP/2.0 400",
        ),
        (
            good.replace("From: <sip:200@127.0.0.1>;tag=far1\r\n", ""),
            "SIP/2.0 400",
        ),
        (
            good.replace("CSeq: 1 INVITE", "CSeq: one INVITE"),
            "SIP/2.0 400",
        ),
        (good.replace("CSeq: 1 INVITE", "CSeq: 1 BYE"), "SIP/2.0 400"),
        (
            good.replace(
                &format!("Content-Length: {}", OFFER.len()),
                "Content-Length: 9999",
            ),
            "SIP/2.0 400",
        ),
        (
            good.replace(
                &format!("Content-Length: {}", OFFER.len()),
                "Content-Length: -5",
            ),
            "SIP/2.0 400",
        ),
        (
            good.replace("Contact: <sip:200@127.0.0.1:5070>\r\n", ""),
            "SIP/2.0 400",
        ),
        (
            good.replace("m=audio 30000", "m=audio banana"),
            "SIP/2.0 400",
        ),
        (request("FOOBAR", "", ""), "SIP/2.0 501"),
    ];
    for (raw, expect) in &cases {
        let mut s = Scripted::new(config(B));
        s.feed(B, raw);
        let out = s.take();
        assert_eq!(out.len(), 1, "{raw}");
        assert!(out[0].starts_with(expect), "{raw}\n=> {}", out[0]);
        assert!(out[0].contains("Call-ID: script-1@127.0.0.1") || !raw.contains("Call-ID"));
        assert_eq!(s.ua.call_count(), 0);
        assert!(s.events.is_empty());
    }
    let mut s = Scripted::new(config(B));
    for (raw, _) in &cases[..5] {
        s.feed(B, raw);
    }
    assert_eq!(Stats::get(&s.ua.stats.malformed), 5);
}

#[test]
fn garbage_without_a_via_is_counted_and_dropped() {
    let mut s = Scripted::new(config(B));
    for junk in [
        "",
        "\r\n\r\n",
        "hello",
        "SIP/2.0 200 OK\r\n\r\n",
        "\u{0}\u{1}\u{2}",
        "INVITE\r\n\r\n",
    ] {
        s.feed(B, junk);
    }
    assert!(s.take().is_empty());
    assert_eq!(
        Stats::get(&s.ua.stats.malformed),
        4,
        "empty and bare CRLFCRLF are keepalives"
    );
}

#[test]
fn idle_oversize_message_gets_513() {
    let mut c = config(B);
    c.max_message_size = 600;
    let mut s = Scripted::new(c);
    let big = request("OPTIONS", &format!("Subject: {}\r\n", "x".repeat(700)), "");
    s.feed(B, &big);
    assert!(s.take()[0].starts_with("SIP/2.0 513"));
    assert_eq!(Stats::get(&s.ua.stats.too_large), 1);
}

#[test]
fn idle_flood_over_the_rate_limit_gets_503_with_retry_after() {
    let mut c = config(B);
    c.rate_limit = Some(RateLimit {
        per_second: 1.0,
        burst: 2,
        retry_after: 7,
    });
    let mut s = Scripted::new(c);
    for i in 0..3 {
        s.feed(
            B,
            &request("OPTIONS", "", "").replace("branch=z9hG4bKt7", &format!("branch=z9hG4bKr{i}")),
        );
    }
    let out = s.take();
    assert!(out[0].starts_with("SIP/2.0 200") && out[1].starts_with("SIP/2.0 200"));
    assert!(out[2].starts_with("SIP/2.0 503") && out[2].contains("Retry-After: 7"));
    assert_eq!(Stats::get(&s.ua.stats.rate_limited), 1);
}

#[test]
fn idle_require_of_an_unknown_extension_gets_420() {
    let mut s = Scripted::new(config(B));
    s.feed(
        B,
        &request(
            "INVITE",
            "Require: 100rel\r\nContent-Type: application/sdp\r\n",
            OFFER,
        ),
    );
    let out = s.take();
    assert!(out[0].starts_with("SIP/2.0 420") && out[0].contains("Unsupported: 100rel"));
}

fn scripted_confirmed() -> (Scripted, CallId, String) {
    let mut s = Scripted::new(config(B));
    s.feed(
        B,
        &request("INVITE", "Content-Type: application/sdp\r\n", OFFER),
    );
    let Some(Event::Incoming(inc)) = s.events.first().cloned() else {
        panic!()
    };
    s.ua.handle_command(
        s.now,
        Command::Answer {
            call: inc.call,
            media: media(16384),
        },
    );
    s.drain();
    let ok = s.take().pop().unwrap();
    let tag = message::header_param(
        ok.split("\r\nTo: ")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap(),
        "tag",
    )
    .unwrap()
    .to_owned();
    s.feed(
        B,
        &request("ACK", "", "").replace(
            "To: <sip:100@127.0.0.1>",
            &format!("To: <sip:100@127.0.0.1>;tag={tag}"),
        ),
    );
    (s, inc.call, tag)
}

fn in_dialog(method: &str, tag: &str, cseq: u32, body: &str) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    request(method, ct, body)
        .replace(
            "To: <sip:100@127.0.0.1>",
            &format!("To: <sip:100@127.0.0.1>;tag={tag}"),
        )
        .replace(
            &format!("CSeq: 1 {method}"),
            &format!("CSeq: {cseq} {method}"),
        )
        .replace("branch=z9hG4bKt", &format!("branch=z9hG4bKd{cseq}"))
}

#[test]
fn confirmed_reinvite_hold_is_answered_recvonly_and_resume_sendrecv() {
    let (mut s, call, tag) = scripted_confirmed();
    assert!(s.events.iter().any(|e| matches!(e, Event::Answered { .. })));
    let hold = OFFER
        .replace("a=sendrecv", "a=sendonly")
        .replace("1 1 IN", "1 2 IN");
    s.feed(B, &in_dialog("INVITE", &tag, 2, &hold));
    let out = s.take();
    assert!(out[0].starts_with("SIP/2.0 200"), "{}", out[0]);
    assert!(out[0].contains("a=recvonly"));
    assert!(
        matches!(s.events.last(), Some(Event::MediaChanged { media, .. }) if media.direction == sdp::Direction::SendOnly)
    );
    s.feed(B, &in_dialog("ACK", &tag, 2, ""));
    s.feed(
        B,
        &in_dialog("INVITE", &tag, 3, &OFFER.replace("1 1 IN", "1 3 IN")),
    );
    let out = s.take();
    assert!(out[0].contains("a=sendrecv"));
    s.feed(B, &in_dialog("ACK", &tag, 3, ""));
    // A session refresh without SDP keeps the call and re-offers the same version.
    s.feed(B, &in_dialog("INVITE", &tag, 4, ""));
    let out = s.take();
    assert!(out[0].starts_with("SIP/2.0 200") && out[0].contains("m=audio 16384"));
    s.feed(B, &in_dialog("ACK", &tag, 4, ""));
    assert!(!s.events.iter().any(|e| matches!(e, Event::Released { .. })));
    // A lower CSeq is refused with 500, the call stays.
    s.feed(B, &in_dialog("INVITE", &tag, 2, OFFER));
    assert!(s.take()[0].starts_with("SIP/2.0 500"));
    s.ua.handle_command(
        s.now,
        Command::Release {
            call,
            cause: 16,
            status: None,
        },
    );
    s.drain();
    assert!(s.take()[0].starts_with("BYE sip:200@127.0.0.1:5070"));
}

#[test]
fn confirmed_reinvite_without_common_codec_gets_488_and_keeps_the_call() {
    let (mut s, _, tag) = scripted_confirmed();
    let g729 = OFFER
        .replace("RTP/AVP 0 101", "RTP/AVP 18")
        .replace("1 1 IN", "1 2 IN");
    s.feed(B, &in_dialog("INVITE", &tag, 2, &g729));
    assert!(s.take()[0].starts_with("SIP/2.0 488"));
    assert_eq!(s.ua.call_count(), 1);
    assert!(!s.events.iter().any(|e| matches!(e, Event::Released { .. })));
}

#[test]
fn idle_bye_for_an_unknown_dialog_gets_481() {
    let mut s = Scripted::new(config(B));
    s.feed(B, &in_dialog("BYE", "nope", 2, ""));
    assert!(s.take()[0].starts_with("SIP/2.0 481"));
    assert_eq!(s.ua.transaction_count(), 1, "kept for Timer J");
    s.advance(Duration::from_secs(5));
    assert_eq!(s.ua.transaction_count(), 0);
}

/// A response to the request in `sent`, with the given status line and extra headers.
fn respond_to(sent: &str, status: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in sent.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let name = line.split(':').next().unwrap();
        if ["Via", "From", "Call-ID", "CSeq"].contains(&name) {
            out.push_str(line);
            out.push_str("\r\n");
        } else if name == "To" {
            out.push_str(line);
            out.push_str(";tag=srv1\r\n");
        }
    }
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

#[test]
fn calling_proxy_challenge_is_answered_once_with_cseq_plus_one() {
    let mut c = config(B);
    c.peers[0].credentials = Some(crate::sip::Credentials {
        username: "gw".into(),
        password: "pw".into(),
    });
    let mut s = Scripted::new(c);
    s.ua.handle_command(s.now, outgoing(1));
    s.drain();
    let invite = s.take().pop().unwrap();
    let cseq: u32 = invite
        .split("CSeq: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    s.feed(
        B,
        &respond_to(
            &invite,
            "407 Proxy Authentication Required",
            "Proxy-Authenticate: Digest realm=\"pbx\", nonce=\"n1\", qop=\"auth\"\r\n",
        ),
    );
    let out = s.take();
    assert!(out[0].starts_with("ACK "), "{}", out[0]);
    assert!(out[1].starts_with("INVITE "));
    assert!(
        out[1].contains("Proxy-Authorization: Digest username=\"gw\", realm=\"pbx\", nonce=\"n1\"")
    );
    assert!(out[1].contains(&format!("CSeq: {} INVITE", cseq + 1)));
    // A second and third challenge: answered once more, then the call fails with 407.
    s.feed(
        B,
        &respond_to(
            &out[1],
            "407 Proxy Authentication Required",
            "Proxy-Authenticate: Digest realm=\"pbx\", nonce=\"n2\"\r\n",
        ),
    );
    let out = s.take();
    s.feed(
        B,
        &respond_to(
            &out[1],
            "407 Proxy Authentication Required",
            "Proxy-Authenticate: Digest realm=\"pbx\", nonce=\"n3\"\r\n",
        ),
    );
    assert_eq!(released(&s.events), vec![(Some(407), None)]);
}

#[test]
fn calling_without_credentials_a_401_fails_the_call() {
    let mut s = Scripted::new(config(B));
    s.ua.handle_command(s.now, outgoing(1));
    s.drain();
    let invite = s.take().pop().unwrap();
    s.feed(
        B,
        &respond_to(
            &invite,
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"pbx\", nonce=\"n1\"\r\n",
        ),
    );
    assert_eq!(released(&s.events), vec![(Some(401), None)]);
}

#[test]
fn outbound_invite_carries_pai_only_to_trust_domain_peers() {
    let mut s = Scripted::new(config(B));
    s.ua.handle_command(s.now, outgoing(1));
    s.drain();
    let invite = s.take().pop().unwrap();
    assert!(invite.contains("P-Asserted-Identity: <sip:+12125551000@127.0.0.1;user=phone>"));
    assert!(invite.contains("Privacy: id"));
    let mut c = config(B);
    c.peers[0].trust_domain = false;
    let mut s = Scripted::new(c);
    s.ua.handle_command(s.now, outgoing(1));
    s.drain();
    let invite = s.take().pop().unwrap();
    assert!(!invite.contains("P-Asserted-Identity"));
    assert!(invite.contains("Privacy: id"));
}

#[test]
fn proceeding_no_answer_timer_cancels_with_cause_19_after_ringing() {
    let mut c = config(B);
    c.no_answer = Duration::from_secs(2);
    let mut s = Scripted::new(c);
    s.ua.handle_command(s.now, outgoing(1));
    s.drain();
    let invite = s.take().pop().unwrap();
    s.feed(B, &respond_to(&invite, "180 Ringing", ""));
    s.advance(Duration::from_millis(2100));
    let out = s.take();
    let cancel = out
        .iter()
        .find(|m| m.starts_with("CANCEL"))
        .expect("CANCEL");
    assert!(cancel.contains("Reason: Q.850;cause=19"));
    s.feed(B, &respond_to(&invite, "487 Request Terminated", ""));
    assert_eq!(released(&s.events), vec![(Some(487), Some(19))]);
}

#[test]
fn keepalive_peer_goes_down_after_n_timeouts_and_up_on_answer() {
    let mut c = config(B);
    c.keepalive = Some(Keepalive {
        interval: Duration::from_secs(1),
        down_after: 2,
        down_statuses: vec![503],
    });
    let mut s = Scripted::new(c);
    s.advance(Duration::ZERO);
    assert_eq!(
        s.take().iter().filter(|m| m.starts_with("OPTIONS")).count(),
        1
    );
    s.advance(Duration::from_secs(8));
    let downs: Vec<_> = s
        .events
        .iter()
        .filter(|e| matches!(e, Event::PeerStatus { up: false, .. }))
        .collect();
    assert_eq!(downs.len(), 1);
    // A call to a down peer is refused at once so hunting moves on.
    s.ua.handle_command(s.now, outgoing(9));
    s.drain();
    assert_eq!(released(&s.events), vec![(Some(503), None)]);
    // The peer answers the next probe.
    s.take();
    s.advance(Duration::from_secs(1));
    let probe = s
        .take()
        .into_iter()
        .rev()
        .find(|m| m.starts_with("OPTIONS"))
        .expect("probe");
    s.feed(B, &respond_to(&probe, "200 OK", ""));
    assert!(matches!(
        s.events.last(),
        Some(Event::PeerStatus { peer: 0, up: true })
    ));
}

#[test]
fn keepalive_503_counts_as_failure() {
    let mut c = config(B);
    c.keepalive = Some(Keepalive {
        interval: Duration::from_secs(1),
        down_after: 1,
        down_statuses: vec![503],
    });
    let mut s = Scripted::new(c);
    s.advance(Duration::ZERO);
    let probe = s.take().pop().unwrap();
    s.feed(B, &respond_to(&probe, "503 Service Unavailable", ""));
    assert!(matches!(
        s.events.last(),
        Some(Event::PeerStatus { peer: 0, up: false })
    ));
}

fn registrar_config() -> Config {
    let mut c = config(B);
    c.registrars = vec![Registrar {
        addr: addr(B),
        transport: Transport::Udp,
        domain: "example.com".into(),
        aors: vec!["2125551000".into()],
        expires: Duration::from_secs(60),
        credentials: Some(crate::sip::Credentials {
            username: "gw".into(),
            password: "pw".into(),
        }),
        retry_base: Duration::from_secs(1),
        retry_max: Duration::from_secs(8),
    }];
    c
}

#[test]
fn register_challenge_then_200_registers_and_refreshes_before_expiry() {
    let mut s = Scripted::new(registrar_config());
    s.advance(Duration::ZERO);
    let reg = s.take().pop().unwrap();
    assert!(reg.starts_with("REGISTER sip:example.com SIP/2.0"));
    assert!(reg.contains("Expires: 60"));
    s.feed(
        B,
        &respond_to(
            &reg,
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"r1\"\r\n",
        ),
    );
    let reg2 = s.take().pop().unwrap();
    assert!(reg2.contains("Authorization: Digest username=\"gw\""));
    let call_id = |m: &str| {
        m.split("Call-ID: ")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        call_id(&reg),
        call_id(&reg2),
        "same Call-ID for the binding"
    );
    s.feed(
        B,
        &respond_to(
            &reg2,
            "200 OK",
            "Contact: <sip:2125551000@127.0.0.1:5060>;expires=40\r\n",
        ),
    );
    assert!(matches!(
        s.events.last(),
        Some(Event::Registration { state: Registration::Registered { expires }, .. }) if expires.as_secs() == 40
    ));
    s.advance(Duration::from_secs(19));
    assert!(s.take().is_empty());
    s.advance(Duration::from_secs(2));
    let refresh = s.take().pop().expect("refresh at half of 40 s");
    assert!(refresh.starts_with("REGISTER"));
    assert_eq!(call_id(&refresh), call_id(&reg));
}

#[test]
fn register_failures_back_off_exponentially() {
    let mut s = Scripted::new(registrar_config());
    s.advance(Duration::ZERO);
    let reg = s.take().pop().unwrap();
    s.feed(B, &respond_to(&reg, "403 Forbidden", ""));
    s.advance(Duration::from_millis(1100));
    let reg = s.take().pop().expect("retry after 1 s");
    s.feed(B, &respond_to(&reg, "503 Service Unavailable", ""));
    let retries: Vec<Duration> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Registration {
                state: Registration::Failed { retry_in, .. },
                ..
            } => Some(*retry_in),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        vec![Duration::from_secs(1), Duration::from_secs(2)]
    );
}

#[test]
fn inbound_cancel_gets_200_and_the_invite_487() {
    let mut s = Scripted::new(config(B));
    let invite = request("INVITE", "Content-Type: application/sdp\r\n", OFFER);
    s.feed(B, &invite);
    s.take();
    // CANCEL carries the INVITE's branch ("CANCEL" and "INVITE" have the same length, so
    // the scripted branches already agree).
    let cancel = request("CANCEL", "Reason: Q.850;cause=16\r\n", "");
    s.feed(B, &cancel);
    let out = s.take();
    assert!(
        out.iter()
            .any(|m| m.starts_with("SIP/2.0 200") && m.contains("CSeq: 1 CANCEL"))
    );
    assert!(
        out.iter()
            .any(|m| m.starts_with("SIP/2.0 487") && m.contains("CSeq: 1 INVITE"))
    );
    assert_eq!(released(&s.events), vec![(Some(487), Some(16))]);
    // The 487 is retransmitted until the ACK.
    s.advance(Duration::from_millis(60));
    assert!(s.take().iter().any(|m| m.starts_with("SIP/2.0 487")));
    // The ACK of a non-2xx final reuses the INVITE's branch.
    s.feed(B, &request("ACK", "", "").replace("z9hG4bKt3", "z9hG4bKt6"));
    s.advance(Duration::from_secs(1));
    assert!(s.take().is_empty());
    assert_eq!(s.ua.call_count(), 0);
}

#[test]
fn proceeding_inbound_call_the_mapper_never_answers_gets_480_after_no_answer() {
    let mut c = config(B);
    c.no_answer = Duration::from_secs(3);
    let mut s = Scripted::new(c);
    s.feed(
        B,
        &request("INVITE", "Content-Type: application/sdp\r\n", OFFER),
    );
    s.take();
    s.advance(Duration::from_millis(3100));
    let out = s.take();
    assert!(out[0].starts_with("SIP/2.0 480") && out[0].contains("Reason: Q.850;cause=19"));
    assert_eq!(released(&s.events), vec![(Some(480), None)]);
    s.feed(B, &request("ACK", "", "").replace("z9hG4bKt3", "z9hG4bKt6"));
    s.advance(Duration::from_secs(1));
    assert_eq!(s.ua.call_count(), 0);
}

#[test]
fn proceeding_deferred_trying_is_sent_only_when_the_mapper_is_slow() {
    let mut c = config(B);
    c.trying_delay = Duration::from_millis(100);
    let mut s = Scripted::new(c.clone());
    s.feed(
        B,
        &request("INVITE", "Content-Type: application/sdp\r\n", OFFER),
    );
    assert!(s.take().is_empty(), "no 100 yet");
    s.advance(Duration::from_millis(110));
    assert!(s.take()[0].starts_with("SIP/2.0 100"));
    // A mapper that rings within the delay: no 100 at all.
    let mut s = Scripted::new(c);
    s.feed(
        B,
        &request("INVITE", "Content-Type: application/sdp\r\n", OFFER),
    );
    let Some(Event::Incoming(inc)) = s.events.first().cloned() else {
        panic!()
    };
    s.ua.handle_command(
        s.now,
        Command::Provisional {
            call: inc.call,
            response: Provisional::Ringing,
        },
    );
    s.drain();
    s.advance(Duration::from_millis(300));
    let out = s.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with("SIP/2.0 180"));
}

#[test]
fn idle_invite_retransmission_gets_the_last_response_not_a_new_call() {
    let mut s = Scripted::new(config(B));
    let invite = request("INVITE", "Content-Type: application/sdp\r\n", OFFER);
    s.feed(B, &invite);
    s.feed(B, &invite);
    let out = s.take();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|m| m.starts_with("SIP/2.0 100")));
    assert_eq!(s.events.len(), 1);
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn valid() -> String {
        request("INVITE", "Content-Type: application/sdp\r\n", OFFER)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Random bytes never panic the agent, and never leave a call or transaction behind
        /// once the timers have run.
        #[test]
        fn random_bytes_never_panic_or_leak(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut s = Scripted::new(config(B));
            let input = Input { transport: Transport::Udp, source: addr(B), conn: None, data: &data };
            s.ua.handle_input(s.now, input);
            s.drain();
            s.advance(Duration::from_secs(10));
            prop_assert_eq!(s.ua.call_count(), 0);
            prop_assert_eq!(s.ua.transaction_count(), 0);
        }

        /// A valid INVITE with one byte changed, cut short or with a line dropped is either
        /// a call or answered; nothing panics, and a refused one leaves nothing behind.
        #[test]
        fn mutated_invite_never_panics(pos in 0usize..700, byte in any::<u8>(), cut in 0usize..700, line in 0usize..12) {
            let mut raw = valid().into_bytes();
            let len = raw.len();
            raw[pos % len] = byte;
            let mut variants = vec![raw.clone(), raw[..cut.min(len)].to_vec()];
            let text = valid();
            let dropped: Vec<&str> = text.split("\r\n").enumerate().filter(|(i, _)| *i != line).map(|(_, l)| l).collect();
            variants.push(dropped.join("\r\n").into_bytes());
            for v in variants {
                let mut s = Scripted::new(config(B));
                let input = Input { transport: Transport::Udp, source: addr(B), conn: None, data: &v };
                s.ua.handle_input(s.now, input);
                s.drain();
                let calls: Vec<CallId> = s.events.iter().filter_map(|e| match e {
                    Event::Incoming(i) => Some(i.call),
                    _ => None,
                }).collect();
                for call in calls {
                    s.ua.handle_command(s.now, Command::Release { call, cause: 16, status: Some(480) });
                }
                s.drain();
                s.advance(Duration::from_secs(10));
                prop_assert_eq!(s.ua.call_count(), 0);
                prop_assert_eq!(s.ua.transaction_count(), 0);
            }
        }
    }
}
