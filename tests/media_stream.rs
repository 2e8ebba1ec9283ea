//! Two sans-IO media streams wired back to back on a virtual clock: `gw` is the gateway's
//! leg (its line is the B-channel), `far` stands in for the SIP phone (its "line" is the
//! phone's audio). Datagrams cross through a seeded impairment (loss, jitter).
#![allow(clippy::unwrap_used, reason = "test fixtures")]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dialgate::line::Law;
use dialgate::media::detect::{DtmfDetector, tone_level_dbm0};
use dialgate::media::tone::{DigitSender, ToneGenerator, TonePlan, ToneSpec};
use dialgate::media::{DtmfRelay, Event, Remote, Stream, StreamConfig};
use dialgate::media::{g711, rtp};

const GW: &str = "192.0.2.1:20000";
const FAR: &str = "198.51.100.7:30000";
const STEP: usize = 160; // 20 ms of line octets per step

/// The virtual clock's origin: read once, then only ever advanced by the tests.
#[expect(clippy::disallowed_methods, reason = "origin of the virtual clock")]
fn t0() -> Instant {
    Instant::now()
}

/// (deliver at, order, to the gateway?, RTCP?, bytes)
type InFlight = Reverse<(Instant, u64, bool, bool, Vec<u8>)>;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config(law: Law, ssrc: u32) -> StreamConfig {
    StreamConfig {
        line_law: law,
        jitter_max_ms: 200,
        ssrc,
        initial_sequence: 65_000,
        initial_timestamp: 4_000_000_000,
        ntp_at_start: 0xE000_0000_0000_0000,
        seed: u64::from(ssrc),
        rtp_timeout: Duration::from_secs(30),
    }
}

fn remote(to: &str, law: Law, relay: DtmfRelay) -> Remote {
    Remote {
        addr: addr(to),
        law,
        payload_type: if law == Law::MuLaw {
            rtp::PT_PCMU
        } else {
            rtp::PT_PCMA
        },
        ptime_ms: 20,
        telephone_event: Some(101),
        dtmf_relay: relay,
        symmetric: false,
        rtcp: None,
    }
}

/// Each datagram is delayed by a random 0..`jitter` and dropped with probability `loss`.
struct Net {
    rng: fastrand::Rng,
    loss: f64,
    jitter: Duration,
    queue: BinaryHeap<InFlight>,
    order: u64,
    sent: Vec<(bool, Vec<u8>)>,
}

impl Net {
    fn new(seed: u64, loss: f64, jitter_ms: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            loss,
            jitter: Duration::from_millis(jitter_ms),
            queue: BinaryHeap::new(),
            order: 0,
            sent: Vec::new(),
        }
    }
}

struct Pair {
    now: Instant,
    gw: Stream,
    far: Stream,
    net: Net,
    gw_law: Law,
    far_law: Law,
    /// What each side's line heard.
    gw_heard: Vec<u8>,
    far_heard: Vec<u8>,
    gw_events: Vec<Event>,
    far_events: Vec<Event>,
}

impl Pair {
    fn new(gw_law: Law, far_law: Law, wire_law: Law, relay: DtmfRelay, net: Net) -> Self {
        let now = t0();
        let mut gw = Stream::new(now, config(gw_law, 0x1111_1111));
        let mut far = Stream::new(now, config(far_law, 0x2222_2222));
        gw.set_remote(now, remote(FAR, wire_law, relay));
        far.set_remote(now, remote(GW, wire_law, relay));
        Self {
            now,
            gw,
            far,
            net,
            gw_law,
            far_law,
            gw_heard: Vec::new(),
            far_heard: Vec::new(),
            gw_events: Vec::new(),
            far_events: Vec::new(),
        }
    }

    /// One 20 ms step: each side's line gives `STEP` octets and takes `STEP` octets.
    fn step(&mut self, gw_line: &[i16], far_line: &[i16]) {
        let mut a = [0u8; STEP];
        let mut b = [0u8; STEP];
        g711::encode_into(self.gw_law, gw_line, &mut a);
        g711::encode_into(self.far_law, far_line, &mut b);
        self.gw.handle_line(self.now, &a);
        self.far.handle_line(self.now, &b);
        self.gw.handle_timeout(self.now);
        self.far.handle_timeout(self.now);
        self.collect();
        self.now += Duration::from_millis(20);
        self.deliver();
        let mut out = [0u8; STEP];
        self.gw.fill_line(self.now, &mut out);
        self.gw_heard.extend_from_slice(&out);
        self.far.fill_line(self.now, &mut out);
        self.far_heard.extend_from_slice(&out);
    }

    fn collect(&mut self) {
        for (to_gw, stream) in [(false, &mut self.gw), (true, &mut self.far)] {
            while let Some(t) = stream.poll_transmit() {
                self.net.sent.push((to_gw, t.payload().to_vec()));
                if self.net.rng.f64() < self.net.loss {
                    continue;
                }
                let delay = self.net.jitter.mul_f64(self.net.rng.f64());
                self.net.order += 1;
                let item = (
                    self.now + delay,
                    self.net.order,
                    to_gw,
                    t.rtcp,
                    t.payload().to_vec(),
                );
                self.net.queue.push(Reverse(item));
            }
        }
        while let Some(e) = self.gw.poll_event() {
            self.gw_events.push(e);
        }
        while let Some(e) = self.far.poll_event() {
            self.far_events.push(e);
        }
    }

    fn deliver(&mut self) {
        while self
            .net
            .queue
            .peek()
            .is_some_and(|Reverse(i)| i.0 <= self.now)
        {
            let Some(Reverse((at, _, to_gw, rtcp, bytes))) = self.net.queue.pop() else {
                break;
            };
            let (stream, from) = if to_gw {
                (&mut self.gw, addr(FAR))
            } else {
                (&mut self.far, addr(GW))
            };
            if rtcp {
                stream.handle_rtcp(at, from, &bytes);
            } else {
                stream.handle_rtp(at, from, &bytes);
            }
        }
        self.collect();
    }

    /// Run `steps` with generators on each line.
    fn run(
        &mut self,
        steps: usize,
        gw_src: &mut dyn FnMut(&mut [i16]),
        far_src: &mut dyn FnMut(&mut [i16]),
    ) {
        let mut a = [0i16; STEP];
        let mut b = [0i16; STEP];
        for _ in 0..steps {
            gw_src(&mut a);
            far_src(&mut b);
            self.step(&a, &b);
        }
    }
}

fn silence(out: &mut [i16]) {
    out.fill(0);
}

fn decode(law: Law, octets: &[u8]) -> Vec<i16> {
    let mut v = vec![0i16; octets.len()];
    g711::decode_into(law, octets, &mut v);
    v
}

fn audio_payloads(sent: &[(bool, Vec<u8>)], to_gw: bool, pt: u8) -> Vec<u8> {
    sent.iter()
        .filter(|(t, _)| *t == to_gw)
        .filter_map(|(_, b)| rtp::decode(b))
        .filter(|p| p.payload_type == pt)
        .flat_map(|p| p.payload.to_vec())
        .collect()
}

#[test]
fn tone_1_khz_line_to_rtp_and_rtp_to_line_keeps_frequency_and_level() {
    let net = Net::new(1, 0.0, 0);
    let mut p = Pair::new(Law::MuLaw, Law::MuLaw, Law::MuLaw, DtmfRelay::Inband, net);
    let mut gw_tone = ToneGenerator::new(ToneSpec::single(1000.0, -10.0));
    let mut far_tone = ToneGenerator::new(ToneSpec::single(1000.0, -10.0));
    p.run(100, &mut |o| gw_tone.fill(o), &mut |o| far_tone.fill(o));
    // Line → RTP: what the gateway put on the wire.
    let wire = decode(
        Law::MuLaw,
        &audio_payloads(&p.net.sent, false, rtp::PT_PCMU),
    );
    assert!(wire.len() >= 99 * STEP);
    let tail = &wire[wire.len() - 8000..];
    assert!(
        (tone_level_dbm0(tail, 1000.0) - -10.0).abs() < 0.5,
        "{}",
        tone_level_dbm0(tail, 1000.0)
    );
    assert!(tone_level_dbm0(tail, 1100.0) < -30.0);
    // RTP → line: what the B-channel was given.
    let heard = decode(Law::MuLaw, &p.gw_heard);
    let tail = &heard[heard.len() - 8000..];
    assert!(
        (tone_level_dbm0(tail, 1000.0) - -10.0).abs() < 0.5,
        "{}",
        tone_level_dbm0(tail, 1000.0)
    );
    assert_eq!(p.gw.stats().playout.concealed, 0);
}

#[test]
fn first_packet_has_the_marker_and_sequence_and_timestamp_follow_the_line() {
    let net = Net::new(1, 0.0, 0);
    let mut p = Pair::new(Law::MuLaw, Law::MuLaw, Law::MuLaw, DtmfRelay::Inband, net);
    p.run(5, &mut silence, &mut silence);
    let pkts: Vec<_> = p
        .net
        .sent
        .iter()
        .filter(|(t, _)| !t)
        .filter_map(|(_, b)| rtp::decode(b))
        .collect();
    assert_eq!(pkts.len(), 5);
    assert!(pkts[0].marker && pkts[1..].iter().all(|p| !p.marker));
    for (i, k) in pkts.iter().enumerate() {
        assert_eq!(k.sequence, 65_000u16.wrapping_add(i as u16));
        assert_eq!(k.timestamp, 4_000_000_000u32.wrapping_add(160 * i as u32));
        assert_eq!(k.ssrc, 0x1111_1111);
        assert_eq!(k.payload.len(), 160);
    }
}

#[test]
fn law_conversion_mu_law_span_to_pcma_peer_keeps_the_tone() {
    let net = Net::new(2, 0.0, 0);
    // Gateway on a T1 (mu-law), SIP side negotiated PCMA, the phone is A-law.
    let mut p = Pair::new(Law::MuLaw, Law::ALaw, Law::ALaw, DtmfRelay::Inband, net);
    let mut gw_tone = ToneGenerator::new(ToneSpec::single(1000.0, -10.0));
    let mut far_tone = ToneGenerator::new(ToneSpec::single(1000.0, -13.0));
    p.run(60, &mut |o| gw_tone.fill(o), &mut |o| far_tone.fill(o));
    let wire = audio_payloads(&p.net.sent, false, rtp::PT_PCMA);
    assert!(wire.len() >= 59 * STEP, "PCMA on the wire");
    assert_eq!(audio_payloads(&p.net.sent, false, rtp::PT_PCMU).len(), 0);
    let wire = decode(Law::ALaw, &wire);
    assert!((tone_level_dbm0(&wire[wire.len() - 4000..], 1000.0) - -10.0).abs() < 0.5);
    let heard = decode(Law::MuLaw, &p.gw_heard);
    assert!((tone_level_dbm0(&heard[heard.len() - 4000..], 1000.0) - -13.0).abs() < 0.5);
}

const ALL_DIGITS: &str = "0123456789*#ABCD";

fn detect_digits(law: Law, octets: &[u8]) -> String {
    let mut d = DtmfDetector::new();
    d.push(&decode(law, octets));
    d.push(&[0; 1000]);
    std::iter::from_fn(|| d.poll_event())
        .map(|e| e.digit)
        .collect()
}

#[test]
fn dtmf_all_16_digits_in_band_on_the_line_become_rfc_4733_and_tones_at_the_far_line() {
    let net = Net::new(3, 0.0, 0);
    let mut p = Pair::new(Law::MuLaw, Law::MuLaw, Law::MuLaw, DtmfRelay::RtpNte, net);
    let mut dial = DigitSender::new(ALL_DIGITS, 80, 80, -8.0).unwrap();
    p.run(
        150,
        &mut |o| {
            dial.fill(o);
        },
        &mut silence,
    );
    // The gateway detected each digit on the B-channel...
    let from_line: String = p
        .gw_events
        .iter()
        .filter_map(|e| match e {
            Event::DtmfFromLine { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(from_line, ALL_DIGITS);
    // ...sent each as telephone-events: marker on the first, three end packets...
    let events: Vec<_> = p
        .net
        .sent
        .iter()
        .filter(|(t, _)| !t)
        .filter_map(|(_, b)| rtp::decode(b))
        .filter(|k| k.payload_type == 101)
        .map(|k| {
            (
                k.marker,
                k.timestamp,
                rtp::TelephoneEvent::decode(k.payload).unwrap(),
            )
        })
        .collect();
    let starts: Vec<_> = events.iter().filter(|e| e.0).collect();
    assert_eq!(starts.len(), 16);
    for (i, s) in starts.iter().enumerate() {
        let same: Vec<_> = events.iter().filter(|e| e.1 == s.1).collect();
        assert!(
            same.iter().all(
                |e| e.2.event == rtp::event_of_digit(ALL_DIGITS.as_bytes()[i] as char).unwrap()
            )
        );
        assert_eq!(
            same.iter().filter(|e| e.2.end).count(),
            3,
            "digit {i}: three end packets"
        );
        let end = same.iter().rev().find(|e| e.2.end).unwrap();
        assert!(
            (480..=1120).contains(&end.2.duration),
            "80 ms ± detector: {}",
            end.2.duration
        );
    }
    // ...and muted them in the audio, so the phone side hears no in-band digit.
    let audio = audio_payloads(&p.net.sent, false, rtp::PT_PCMU);
    assert_eq!(detect_digits(Law::MuLaw, &audio), "");
    // The far stream played the events as tones on its line.
    assert_eq!(detect_digits(Law::MuLaw, &p.far_heard), ALL_DIGITS);
    assert_eq!(p.far.stats().dtmf_received, 16);
}

#[test]
fn dtmf_all_16_digits_as_rfc_4733_from_the_phone_play_into_the_b_channel() {
    let net = Net::new(4, 0.0, 0);
    let mut p = Pair::new(Law::ALaw, Law::ALaw, Law::ALaw, DtmfRelay::RtpNte, net);
    let mut dial = DigitSender::new(ALL_DIGITS, 60, 60, -8.0).unwrap();
    p.run(120, &mut silence, &mut |o| {
        dial.fill(o);
    });
    let from_rtp: String = p
        .gw_events
        .iter()
        .filter_map(|e| match e {
            Event::DtmfFromRtp { digit } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(from_rtp, ALL_DIGITS);
    assert_eq!(detect_digits(Law::ALaw, &p.gw_heard), ALL_DIGITS);
}

#[test]
fn dtmf_inband_relay_passes_the_tones_in_the_audio_and_sends_no_events() {
    let net = Net::new(5, 0.0, 0);
    let mut p = Pair::new(Law::MuLaw, Law::MuLaw, Law::MuLaw, DtmfRelay::Inband, net);
    let mut dial = DigitSender::new("159#", 80, 80, -8.0).unwrap();
    p.run(
        60,
        &mut |o| {
            dial.fill(o);
        },
        &mut silence,
    );
    let audio = audio_payloads(&p.net.sent, false, rtp::PT_PCMU);
    assert_eq!(detect_digits(Law::MuLaw, &audio), "159#");
    assert_eq!(audio_payloads(&p.net.sent, false, 101).len(), 0);
    assert_eq!(detect_digits(Law::MuLaw, &p.far_heard), "159#");
}

#[test]
fn loss_5_percent_and_30_ms_jitter_keep_the_tone_and_conceal_the_gaps() {
    let net = Net::new(6, 0.05, 30);
    let mut p = Pair::new(Law::MuLaw, Law::MuLaw, Law::MuLaw, DtmfRelay::Inband, net);
    let mut far_tone = ToneGenerator::new(ToneSpec::single(1000.0, -10.0));
    p.run(500, &mut silence, &mut |o| far_tone.fill(o));
    let stats = p.gw.stats();
    assert!(
        (15..=40).contains(&stats.packets_lost),
        "lost {}",
        stats.packets_lost
    );
    assert!(stats.jitter_ms > 0);
    let heard = decode(Law::MuLaw, &p.gw_heard);
    // Over the last 8 s, 90 % of the 50 ms blocks carry the tone within 3 dB of its
    // level (measured per block: concealment and drift steering break the phase).
    let tail = &heard[heard.len() - 64_000..];
    let good = tail
        .chunks(400)
        .filter(|b| (tone_level_dbm0(b, 1000.0) - -10.0).abs() < 3.0)
        .count();
    assert!(good >= 144, "{good} of 160 blocks at level");
    // No 20 ms block went silent after start-up.
    for (i, block) in heard[4000..].chunks(160).enumerate() {
        assert!(block.iter().any(|&s| s.abs() > 500), "block {i} silent");
    }
    let o = stats.playout;
    assert!(o.concealed > 0 && o.concealed < 64_000 / 5, "{o:?}");
}

#[test]
fn local_ringback_replaces_rtp_until_cleared() {
    let net = Net::new(7, 0.0, 0);
    let mut p = Pair::new(Law::MuLaw, Law::MuLaw, Law::MuLaw, DtmfRelay::Inband, net);
    p.gw.play(Some(ToneSpec::ringback(TonePlan::Us)));
    let mut far_tone = ToneGenerator::new(ToneSpec::single(1000.0, -10.0));
    p.run(50, &mut silence, &mut |o| far_tone.fill(o));
    let heard = decode(Law::MuLaw, &p.gw_heard);
    assert!((tone_level_dbm0(&heard[..8000], 440.0) - -19.0).abs() < 0.5);
    assert!(tone_level_dbm0(&heard[..8000], 1000.0) < -40.0);
    p.gw.play(None);
    p.run(50, &mut silence, &mut |o| far_tone.fill(o));
    let heard = decode(Law::MuLaw, &p.gw_heard);
    assert!((tone_level_dbm0(&heard[heard.len() - 4000..], 1000.0) - -10.0).abs() < 0.5);
}

#[test]
fn rtcp_sender_reports_flow_and_the_receiver_reports_loss() {
    let net = Net::new(8, 0.05, 0);
    let mut p = Pair::new(Law::MuLaw, Law::MuLaw, Law::MuLaw, DtmfRelay::Inband, net);
    p.run(1000, &mut silence, &mut silence); // 20 s
    let g = p.gw.stats();
    assert!((3..=8).contains(&g.rtcp_sent), "{g:?}");
    assert!(g.rtcp_received >= 2, "{g:?}");
    let reports: Vec<_> = p
        .net
        .sent
        .iter()
        .filter(|(to_gw, b)| *to_gw && b.get(1) == Some(&200))
        .collect();
    assert!(!reports.is_empty(), "far sends SRs (PT 200)");
}

#[test]
fn unknown_payload_type_and_garbage_are_counted_not_played() {
    let net = Net::new(9, 0.0, 0);
    let mut p = Pair::new(Law::MuLaw, Law::MuLaw, Law::MuLaw, DtmfRelay::Inband, net);
    let now = p.now;
    p.gw.handle_rtp(now, addr(FAR), &[0xde, 0xad]);
    let mut buf = [0u8; 200];
    let h = rtp::Header {
        marker: false,
        payload_type: 18,
        sequence: 1,
        timestamp: 0,
        ssrc: 5,
    };
    let n = rtp::encode(h, &[0; 20], &mut buf).unwrap();
    p.gw.handle_rtp(now, addr(FAR), &buf[..n]);
    p.gw.handle_rtcp(now, addr(FAR), &[1, 2, 3]);
    assert_eq!(p.gw.stats().dropped, 3);
    assert_eq!(p.gw.stats().packets_received, 0);
}

#[test]
fn symmetric_rtp_latches_onto_the_source_address() {
    let now = t0();
    let mut gw = Stream::new(now, config(Law::MuLaw, 1));
    gw.set_remote(
        now,
        Remote {
            symmetric: true,
            rtcp: None,
            ..remote(FAR, Law::MuLaw, DtmfRelay::Inband)
        },
    );
    let nat = addr("203.0.113.9:40000");
    let mut buf = [0u8; 200];
    let h = rtp::Header {
        marker: true,
        payload_type: 0,
        sequence: 1,
        timestamp: 0,
        ssrc: 5,
    };
    let n = rtp::encode(h, &[0xFF; 160], &mut buf).unwrap();
    gw.handle_rtp(now, nat, &buf[..n]);
    assert_eq!(gw.poll_event(), Some(Event::Latched(nat)));
    gw.handle_line(now, &[0xFF; 160]);
    assert_eq!(gw.poll_transmit().unwrap().to, nat);
}

#[test]
fn silence_from_the_peer_raises_rtp_timeout_once() {
    let now = t0();
    let mut gw = Stream::new(now, config(Law::MuLaw, 1));
    gw.set_remote(now, remote(FAR, Law::MuLaw, DtmfRelay::Inband));
    let deadline = gw.poll_timeout().unwrap();
    assert!(deadline <= now + Duration::from_secs(30));
    gw.handle_timeout(now + Duration::from_secs(29));
    assert!(std::iter::from_fn(|| gw.poll_event()).all(|e| e != Event::RtpTimeout));
    gw.handle_timeout(now + Duration::from_secs(30));
    gw.handle_timeout(now + Duration::from_secs(31));
    let timeouts = std::iter::from_fn(|| gw.poll_event())
        .filter(|e| *e == Event::RtpTimeout)
        .count();
    assert_eq!(timeouts, 1);
}

/// The RTCP packet types of a compound datagram, in order.
fn rtcp_types_of(datagram: &[u8]) -> Vec<u8> {
    let compound = rtcp_types::Compound::parse(datagram).unwrap();
    compound
        .map(|p| match p.unwrap() {
            rtcp_types::Packet::Sr(_) => 200,
            rtcp_types::Packet::Rr(_) => 201,
            rtcp_types::Packet::Sdes(_) => 202,
            rtcp_types::Packet::Bye(_) => 203,
            _ => 0,
        })
        .collect()
}

#[test]
fn rtcp_goes_where_the_sdp_says_else_to_the_port_above_rtp() {
    // (a=rtcp address from the SDP, where the reports go)
    let rows = [
        (None, "198.51.100.7:30001"),
        (Some("198.51.100.7:40123"), "198.51.100.7:40123"),
        (Some("203.0.113.9:5005"), "203.0.113.9:5005"),
    ];
    for (rtcp, to) in rows {
        let now = t0();
        let mut gw = Stream::new(now, config(Law::MuLaw, 0x1234_5678));
        gw.set_remote(
            now,
            Remote {
                rtcp: rtcp.map(addr),
                ..remote(FAR, Law::MuLaw, DtmfRelay::Inband)
            },
        );
        gw.handle_line(now, &[0xFF; 160]);
        while gw.poll_transmit().is_some() {}
        gw.close(now);
        let reports: Vec<_> = std::iter::from_fn(|| gw.poll_transmit()).collect();
        assert!(!reports.is_empty(), "{rtcp:?}");
        for t in reports {
            assert!(t.rtcp);
            assert_eq!(t.to, addr(to), "{rtcp:?}");
        }
    }
}

#[test]
fn close_sends_one_bye_after_a_report_then_nothing_more() {
    // (sent RTP before closing?, RTCP packet types queued by close)
    let cases: [(bool, &[u8]); 2] = [(true, &[200, 202, 203]), (false, &[])];
    for (sent_rtp, expected) in cases {
        let now = t0();
        let mut gw = Stream::new(now, config(Law::MuLaw, 0x1234_5678));
        gw.set_remote(now, remote(FAR, Law::MuLaw, DtmfRelay::Inband));
        if sent_rtp {
            gw.handle_line(now, &[0xFF; 160]);
            while gw.poll_transmit().is_some() {}
        }
        gw.close(now);
        let queued: Vec<_> = std::iter::from_fn(|| gw.poll_transmit()).collect();
        let types: Vec<u8> = queued
            .iter()
            .flat_map(|t| rtcp_types_of(t.payload()))
            .collect();
        assert_eq!(types, expected, "sent RTP: {sent_rtp}");
        for t in &queued {
            assert!(t.rtcp);
            assert_eq!(
                t.to,
                addr("198.51.100.7:30001"),
                "RTCP on the port above RTP"
            );
            let compound = rtcp_types::Compound::parse(t.payload()).unwrap();
            for p in compound.flatten() {
                if let rtcp_types::Packet::Bye(bye) = p {
                    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), [0x1234_5678]);
                }
            }
        }
        // Closed: a second close, more line audio and the RTCP timer send nothing.
        gw.close(now);
        gw.handle_line(now, &[0xFF; 320]);
        gw.handle_timeout(now + Duration::from_secs(60));
        assert!(gw.poll_transmit().is_none(), "sent RTP: {sent_rtp}");
    }
}
