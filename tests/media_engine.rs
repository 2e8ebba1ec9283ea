//! The media engine over real loopback sockets: port pairs are taken and given back, and
//! two engines carry a call to each other with a pacer thread standing in for each span.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "real sockets and real time"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dialgate::line::Law;
use dialgate::media::detect::tone_level_dbm0;
use dialgate::media::tone::{ToneGenerator, ToneSpec};
use dialgate::media::{Config, DtmfRelay, Engine, LineEnd, MediaError, Remote, g711, rtp};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn config(ports: std::ops::RangeInclusive<u16>) -> Config {
    Config {
        bind: LOOPBACK,
        rtp_ports: ports,
        ..Config::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn remote(addr: SocketAddr) -> Remote {
    Remote {
        addr,
        law: Law::MuLaw,
        payload_type: rtp::PT_PCMU,
        ptime_ms: 20,
        telephone_event: Some(101),
        dtmf_relay: DtmfRelay::RtpNte,
        symmetric: false,
        rtcp: None,
    }
}

async fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

#[test]
fn ports_are_even_odd_pairs_exhaust_cleanly_and_come_back_when_legs_drop() {
    runtime().block_on(async {
        let engine = Engine::start(config(41_001..=41_008)).unwrap();
        // 41001 is odd: the pairs are 41002/3, 41004/5, 41006/7 (41008 has no partner).
        assert_eq!(engine.free_pairs(), 3);
        let legs: Vec<_> = (0..3).map(|_| engine.open(Law::MuLaw).unwrap()).collect();
        let mut ports: Vec<u16> = legs.iter().map(|l| l.local_addr().port()).collect();
        ports.sort_unstable();
        assert_eq!(ports, [41_002, 41_004, 41_006]);
        // RTCP is bound on the port above.
        assert!(UdpSocket::bind((LOOPBACK, 41_003)).is_err());
        assert!(matches!(
            engine.open(Law::MuLaw),
            Err(MediaError::NoFreePort)
        ));
        drop(legs);
        assert!(
            wait_until(|| engine.free_pairs() == 3).await,
            "pairs back in the pool"
        );
        assert_eq!(engine.legs(), 0);
        for p in 41_002..=41_007 {
            assert!(UdpSocket::bind((LOOPBACK, p)).is_ok(), "port {p} released");
        }
        // And they can be opened again.
        let again: Vec<_> = (0..3).map(|_| engine.open(Law::ALaw).unwrap()).collect();
        assert_eq!(again.len(), 3);
    });
}

#[test]
fn a_port_held_by_someone_else_is_skipped() {
    runtime().block_on(async {
        let _squatter = UdpSocket::bind((LOOPBACK, 41_021)).unwrap();
        let engine = Engine::start(config(41_020..=41_023)).unwrap();
        let leg = engine.open(Law::MuLaw).unwrap();
        assert_eq!(leg.local_addr().port(), 41_022);
    });
}

/// A span's stack thread for one B-channel: every 1 ms, 8 octets in, 8 octets out.
fn pacer(
    end: LineEnd,
    law: Law,
    tone: Option<ToneSpec>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut generator = tone.map(ToneGenerator::new);
        let mut heard = Vec::new();
        let start = Instant::now();
        let mut frames = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut lin = [0i16; 8];
            if let Some(g) = &mut generator {
                g.fill(&mut lin);
            }
            let mut octets = [0u8; 8];
            g711::encode_into(law, &lin, &mut octets);
            end.push_from_line(&octets);
            let mut out = [end.idle_code(); 8];
            end.pull_to_line(&mut out);
            heard.extend_from_slice(&out);
            frames += 8;
            let due = start + Duration::from_micros(frames * 125);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        heard
    })
}

#[test]
fn two_engines_on_loopback_carry_a_tone_each_way_and_transcode() {
    runtime().block_on(async {
        let a = Engine::start(config(41_100..=41_199)).unwrap();
        let b = Engine::start(config(41_200..=41_299)).unwrap();
        let leg_a = a.open(Law::MuLaw).unwrap();
        let leg_b = b.open(Law::ALaw).unwrap();
        // SIP side negotiated PCMA: A's mu-law span is transcoded on the wire.
        let pcma = |addr| Remote {
            law: Law::ALaw,
            payload_type: rtp::PT_PCMA,
            ..remote(addr)
        };
        leg_a.set_remote(pcma(leg_b.local_addr()));
        leg_b.set_remote(pcma(leg_a.local_addr()));
        let stop = Arc::new(AtomicBool::new(false));
        let ta = pacer(
            leg_a.line_end(),
            Law::MuLaw,
            Some(ToneSpec::single(1000.0, -10.0)),
            stop.clone(),
        );
        let tb = pacer(
            leg_b.line_end(),
            Law::ALaw,
            Some(ToneSpec::single(600.0, -16.0)),
            stop.clone(),
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.store(true, Ordering::Relaxed);
        let heard_a = ta.join().unwrap();
        let heard_b = tb.join().unwrap();
        let sa = leg_a.stats();
        let sb = leg_b.stats();
        assert!(
            sa.packets_sent >= 50 && sb.packets_received >= 50,
            "{sa:?} {sb:?}"
        );
        // B's line hears A's 1 kHz; A's line hears B's 600 Hz, levels kept.
        let lin = |law, o: &[u8]| {
            let mut v = vec![0i16; o.len()];
            g711::decode_into(law, o, &mut v);
            v
        };
        let hb = lin(
            Law::ALaw,
            &heard_b[heard_b.len() - 4800..heard_b.len() - 800],
        );
        let ha = lin(
            Law::MuLaw,
            &heard_a[heard_a.len() - 4800..heard_a.len() - 800],
        );
        let blocks_at = |v: &[i16], f: f32, level: f32| {
            v.chunks(400)
                .filter(|c| (tone_level_dbm0(c, f) - level).abs() < 2.0)
                .count()
        };
        assert!(blocks_at(&hb, 1000.0, -10.0) >= 8, "B hears 1 kHz: {sb:?}");
        assert!(blocks_at(&ha, 600.0, -16.0) >= 8, "A hears 600 Hz: {sa:?}");
    });
}

#[test]
fn dropping_a_leg_sends_an_rtcp_bye_to_the_peer_then_frees_its_ports() {
    runtime().block_on(async {
        let engine = Engine::start(config(41_300..=41_303)).unwrap();
        let phone_rtp = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let rtp_addr = phone_rtp.local_addr().unwrap();
        // The peer's RTCP is on the port above its RTP (no a=rtcp).
        let phone_rtcp = UdpSocket::bind((LOOPBACK, rtp_addr.port() + 1)).unwrap();
        phone_rtcp
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let leg = engine.open(Law::MuLaw).unwrap();
        leg.set_remote(Remote {
            dtmf_relay: DtmfRelay::Inband,
            ..remote(rtp_addr)
        });
        let end = leg.line_end();
        end.push_from_line(&[0xFF; 160]);
        assert!(
            wait_until(|| leg.stats().packets_sent >= 1).await,
            "one packet-time of line audio goes out"
        );
        drop(leg);
        let got = tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 1500];
            let (n, from) = phone_rtcp.recv_from(&mut buf).unwrap();
            (buf[..n].to_vec(), from)
        })
        .await
        .unwrap();
        let (datagram, from) = got;
        assert_eq!(from.port(), 41_301, "from the leg's RTCP port");
        let compound = rtcp_types::Compound::parse(&datagram).unwrap();
        let last = compound.flatten().last().unwrap();
        assert!(matches!(last, rtcp_types::Packet::Bye(_)), "{datagram:?}");
        // Both pairs free: the pool takes a pair back only once its sockets are closed.
        assert!(wait_until(|| engine.free_pairs() == 2).await);
        assert!(
            UdpSocket::bind((LOOPBACK, 41_300)).is_ok(),
            "RTP port closed"
        );
    });
}

#[test]
fn legs_are_spread_evenly_over_the_shards_and_every_shard_ticks() {
    runtime().block_on(async {
        // (shards configured, legs opened, legs per shard)
        let cases: [(usize, usize, &[usize]); 3] =
            [(2, 4, &[2, 2]), (3, 4, &[2, 1, 1]), (1, 3, &[3])];
        for (i, (shards, open, expected)) in cases.into_iter().enumerate() {
            let base = 41_400 + 20 * i as u16;
            let engine = Engine::start(Config {
                shards,
                ..config(base..=base + 19)
            })
            .unwrap();
            let legs: Vec<_> = (0..open)
                .map(|_| engine.open(Law::MuLaw).unwrap())
                .collect();
            let per_shard: Vec<usize> = engine.shard_stats().iter().map(|s| s.legs).collect();
            assert_eq!(per_shard, expected, "{shards} shards");
            assert!(
                wait_until(|| engine.shard_stats().iter().all(|s| s.ticks > 5)).await,
                "{shards} shards tick"
            );
            drop(legs);
            assert_eq!(engine.legs(), 0);
        }
    });
}

#[test]
fn a_10_ms_ptime_leg_sends_each_packet_once_80_octets_wait() {
    runtime().block_on(async {
        let engine = Engine::start(config(41_500..=41_503)).unwrap();
        let phone = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let leg = engine.open(Law::MuLaw).unwrap();
        leg.set_remote(Remote {
            ptime_ms: 10,
            dtmf_relay: DtmfRelay::Inband,
            ..remote(phone.local_addr().unwrap())
        });
        leg.line_end().push_from_line(&[0xFF; 80]);
        assert!(
            wait_until(|| leg.stats().packets_sent == 1).await,
            "{:?}",
            leg.stats()
        );
        assert_eq!(leg.stats().octets_sent, 80);
    });
}

/// Visits (legs taken off the ready queue) over all shards.
fn visits(engine: &Engine) -> u64 {
    engine.shard_stats().iter().map(|s| s.visits).sum()
}

fn ticks(engine: &Engine) -> u64 {
    engine.shard_stats().iter().map(|s| s.ticks).sum()
}

fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut buf = [0u8; 200];
    let h = rtp::Header {
        marker: seq == 0,
        payload_type: rtp::PT_PCMU,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc: 7,
    };
    let n = rtp::encode(h, &[0xFF; 160], &mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn a_leg_with_nothing_to_do_is_not_visited_and_only_line_audio_and_close_visit_it() {
    runtime().block_on(async {
        // One shard, so its counters are the legs'; the first RTCP reports are due 1.25 s
        // after open at the earliest, after the rows below, and the idle read is out of
        // the way: each leg's sockets are read when its line audio runs it.
        let engine = Engine::start(Config {
            shards: 1,
            idle_read: Duration::from_secs(60),
            ..config(41_600..=41_619)
        })
        .unwrap();
        let phone = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let mut legs: Vec<_> = (0..6).map(|_| engine.open(Law::MuLaw).unwrap()).collect();
        for leg in &legs {
            leg.set_remote(Remote {
                dtmf_relay: DtmfRelay::Inband,
                ..remote(phone.local_addr().unwrap())
            });
        }
        assert!(wait_until(|| ticks(&engine) > 10).await);
        // Idle legs: the shard ticks and visits none of them.
        let (v0, t0) = (visits(&engine), ticks(&engine));
        assert!(wait_until(|| ticks(&engine) > t0 + 100).await);
        assert_eq!(visits(&engine), v0, "idle legs visited");

        // (work, leg it is for, visits it takes)
        let rows: [(&str, usize, u64); 6] = [
            ("a packet-time of line audio", 0, 1),
            ("half a packet-time of line audio", 1, 0),
            ("the other half", 1, 1),
            // A datagram does not run the leg: the next packet-time of line audio does,
            // and reads it first.
            ("an RTP datagram", 2, 0),
            ("line audio after it", 2, 1),
            ("close", 4, 1),
        ];
        for (work, i, expected) in rows {
            let before = visits(&engine);
            let free = engine.free_pairs();
            match work {
                "a packet-time of line audio" | "line audio after it" => {
                    legs[i].line_end().push_from_line(&[0xFF; 160])
                }
                "half a packet-time of line audio" | "the other half" => {
                    legs[i].line_end().push_from_line(&[0xFF; 80])
                }
                "an RTP datagram" => {
                    phone.send_to(&rtp_packet(0), legs[i].local_addr()).unwrap();
                }
                _ => {
                    let leg = legs.remove(i);
                    drop(leg);
                }
            }
            let served = || match work {
                "a packet-time of line audio" | "the other half" => {
                    legs[i].stats().packets_sent == 1
                }
                "half a packet-time of line audio" | "an RTP datagram" => false,
                "line audio after it" => {
                    let s = legs[i].stats();
                    s.packets_received == 1 && s.packets_sent == 1
                }
                _ => engine.free_pairs() == free + 1,
            };
            if expected > 0 {
                assert!(
                    wait_until(&served).await,
                    "{work}: {:?}",
                    legs.get(i).map(|l| l.stats())
                );
            }
            // A few more ticks: nothing visits the leg again (or at all, for half a
            // packet-time).
            let t = ticks(&engine);
            assert!(wait_until(|| ticks(&engine) > t + 20).await);
            assert_eq!(served(), expected > 0, "{work}");
            assert_eq!(visits(&engine) - before, expected, "{work}");
        }
    });
}

#[test]
fn a_packet_leaves_when_its_last_octet_is_in_even_after_a_run_took_part_of_it() {
    runtime().block_on(async {
        let engine = Engine::start(Config {
            shards: 1,
            idle_read: Duration::from_secs(60),
            ..config(41_680..=41_683)
        })
        .unwrap();
        let phone = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let leg = engine.open(Law::MuLaw).unwrap();
        let peer = Remote {
            dtmf_relay: DtmfRelay::Inband,
            ..remote(phone.local_addr().unwrap())
        };
        leg.set_remote(peer);
        let line = leg.line_end();
        // (octets pushed, then a run for something else, packets sent after)
        let rows = [
            (80, true, 0),
            (80, false, 1),
            (120, true, 1),
            (40, false, 2),
        ];
        for (octets, other_run, sent) in rows {
            line.push_from_line(&vec![0xFF; octets]);
            if other_run {
                // A new SDP runs the leg, which takes the half packet-time in.
                let v = visits(&engine);
                leg.set_remote(peer);
                assert!(wait_until(|| visits(&engine) > v).await);
            }
            assert!(
                wait_until(|| leg.stats().packets_sent == sent).await,
                "{octets} then {other_run}: {:?}",
                leg.stats()
            );
        }
    });
}

#[test]
fn a_silent_lines_sockets_are_read_every_idle_read() {
    runtime().block_on(async {
        let engine = Engine::start(Config {
            shards: 1,
            idle_read: Duration::from_millis(50),
            ..config(41_660..=41_663)
        })
        .unwrap();
        let phone = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let leg = engine.open(Law::MuLaw).unwrap();
        leg.set_remote(remote(phone.local_addr().unwrap()));
        let mut rtcp = leg.local_addr();
        rtcp.set_port(rtcp.port() + 1);
        // (datagram, to the RTCP port, served when)
        type Served = fn(&dialgate::media::LegStats) -> bool;
        let rows: [(Vec<u8>, bool, Served); 3] = [
            (rtp_packet(0), false, |s| s.packets_received == 1),
            (rtp_packet(1), false, |s| s.packets_received == 2),
            // An empty receiver report: counted as received (or dropped, as the parser
            // sees it).
            (vec![0x80, 201, 0, 0], true, |s| {
                s.dropped + s.rtcp_received == 1
            }),
        ];
        for (datagram, to_rtcp, served) in rows {
            let sent_at = Instant::now();
            let to = if to_rtcp { rtcp } else { leg.local_addr() };
            phone.send_to(&datagram, to).unwrap();
            assert!(
                wait_until(|| served(&leg.stats())).await,
                "{:?}",
                leg.stats()
            );
            // Within an idle read (and a tick or two), not at once and not lost.
            let took = sent_at.elapsed();
            assert!(took < Duration::from_millis(500), "{took:?}");
        }
        // About one visit per idle read: neither every tick nor never.
        let (v0, t0) = (visits(&engine), ticks(&engine));
        let started = Instant::now();
        assert!(wait_until(|| ticks(&engine) > t0 + 400).await);
        let expected = started.elapsed().as_millis() as u64 / 50;
        let got = visits(&engine) - v0;
        assert!(
            got + 2 >= expected / 2 && got <= expected + 2,
            "{got} visits, {expected} idle reads"
        );
    });
}

#[test]
fn timers_are_served_without_other_work_the_rtp_timeout_then_the_first_rtcp_report() {
    runtime().block_on(async {
        let engine = Engine::start(Config {
            shards: 1,
            // Out of the way: the timers alone run the leg.
            idle_read: Duration::from_secs(60),
            rtp_timeout: Duration::from_millis(200),
            ..config(41_640..=41_643)
        })
        .unwrap();
        let phone = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let rtp_addr = phone.local_addr().unwrap();
        let phone_rtcp = UdpSocket::bind((LOOPBACK, rtp_addr.port() + 1)).unwrap();
        phone_rtcp
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut leg = engine.open(Law::MuLaw).unwrap();
        let set_at = Instant::now();
        leg.set_remote(remote(rtp_addr));
        let event = tokio::time::timeout(Duration::from_secs(2), leg.next_event())
            .await
            .unwrap();
        let waited = set_at.elapsed();
        assert_eq!(event, Some(dialgate::media::Event::RtpTimeout));
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_millis(1000),
            "{waited:?}"
        );
        // The first report is due 1.25 to 3.75 s after open (RFC 3550's randomised
        // interval): the heap entry left by the timeout's visit brings it.
        let got = tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 1500];
            let (n, _) = phone_rtcp.recv_from(&mut buf).unwrap();
            buf[..n].to_vec()
        })
        .await
        .unwrap();
        let at = set_at.elapsed();
        let compound = rtcp_types::Compound::parse(&got).unwrap();
        assert!(
            matches!(
                compound.flatten().next(),
                Some(rtcp_types::Packet::Rr(_) | rtcp_types::Packet::Sr(_))
            ),
            "{got:?}"
        );
        assert!(at >= Duration::from_millis(1200), "{at:?}");
        // Open, set_remote, the timeout and the report: a handful of visits over more
        // than a thousand ticks.
        let s = engine.shard_stats()[0];
        assert!(s.ticks > 1000 && s.visits <= 5, "{s:?}");
    });
}
