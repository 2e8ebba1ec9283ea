//! Interop with SIPp (Debian package `sip-tester`) in both roles, on UDP and TCP.
//!
//! Each test starts the gateway's SIP endpoint on loopback with ephemeral ports, runs one
//! short bounded SIPp scenario from `tests/sipp/` against it (`-m 1`, a global timeout)
//! and plays the call mapper's part on the events. Without `sipp` on the PATH a test
//! prints `skipped: sipp not installed` and passes, unless `DIALGATE_REQUIRE_TOOLS=1`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup should fail the test"
)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::time::Duration;

use dialgate::sip::{
    CallId, Command, Config, Credentials, Endpoint, Event, Keepalive, Listen, LocalMedia, Outgoing,
    Party, Peer, Provisional, Registrar, Registration, Stats, Timers, Transport,
};
use tokio::time::{Instant, timeout};

fn sipp() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("sipp"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        common::tool_missing("sipp");
    }
    found
}

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// A loopback port free for both UDP and TCP right now.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn transport_flag(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "u1",
        _ => "t1",
    }
}

struct Sipp {
    child: Child,
    dir: tempfile::TempDir,
}

impl Sipp {
    /// Starts SIPp; `remote` is the gateway for a UAC scenario, `None` for a UAS one.
    fn start(
        bin: &PathBuf,
        xml: &str,
        transport: Transport,
        port: u16,
        remote: Option<SocketAddr>,
        calls: u32,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Process::new(bin);
        if let Some(remote) = remote {
            cmd.arg(remote.to_string()).args(["-s", "4085552000"]);
        }
        cmd.arg("-sf")
            .arg(scenario(xml))
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-mp",
                &common::sipp_media_port().to_string(),
            ])
            .args(["-t", transport_flag(transport), "-m", &calls.to_string()])
            .args([
                "-timeout",
                "15s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
                "-trace_msg",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("sipp starts");
        Self { child, dir }
    }

    fn try_done(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn traces(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            out.push_str(&format!("== {}\n", entry.path().display()));
            out.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        out
    }

    /// Waits for SIPp to end, driving the mapper closure on gateway events meanwhile.
    async fn finish(
        mut self,
        gw: &mut Endpoint,
        mut on_event: impl FnMut(&Endpoint, Event),
    ) -> Vec<Event> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            if let Some(status) = self.try_done() {
                // Let the last events in.
                while let Ok(Some(e)) = timeout(Duration::from_millis(100), gw.next_event()).await {
                    // `Placed` (our INVITE's Call-ID) is not a call event.
                    if !matches!(e, Event::Placed { .. }) {
                        seen.push(e.clone());
                    }
                    on_event(gw, e);
                }
                assert!(
                    status.success(),
                    "sipp failed ({status}):\n{}",
                    self.traces()
                );
                return seen;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("sipp did not finish:\n{}", self.traces());
            }
            if let Ok(Some(e)) = timeout(Duration::from_millis(20), gw.next_event()).await {
                if !matches!(e, Event::Placed { .. }) {
                    seen.push(e.clone());
                }
                on_event(gw, e);
            }
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn timers() -> Timers {
    Timers {
        t1: Duration::from_millis(100),
        t2: Duration::from_millis(800),
        t4: Duration::from_secs(1),
    }
}

async fn gateway(transport: Transport, tweak: impl FnOnce(&mut Config)) -> Endpoint {
    let mut config = Config {
        listen: vec![Listen {
            transport,
            addr: "127.0.0.1:0".parse().unwrap(),
        }],
        trusted: vec!["127.0.0.1/32".parse().unwrap()],
        timers: timers(),
        ..Config::default()
    };
    tweak(&mut config);
    Endpoint::start(config).await.unwrap()
}

fn media() -> LocalMedia {
    LocalMedia {
        rtp: "127.0.0.1:16384".parse().unwrap(),
        codecs: Vec::new(),
    }
}

fn sipp_peer(transport: Transport, port: u16) -> Peer {
    let mut peer = Peer::new("sipp", SocketAddr::from(([127, 0, 0, 1], port)));
    peer.transport = transport;
    peer
}

fn place(call: CallId) -> Command {
    Command::Place(Box::new(Outgoing {
        call,
        peer: 0,
        called: "4085552000".into(),
        calling: Party {
            user: Some("2125551000".into()),
            display: None,
        },
        asserted_identity: None,
        privacy: None,
        media: media(),
    }))
}

/// The mapper's part for an inbound call: ring, then answer.
fn ring_and_answer(gw: &Endpoint, e: Event) {
    if let Event::Incoming(inc) = e {
        gw.command(Command::Provisional {
            call: inc.call,
            response: Provisional::Ringing,
        });
        gw.command(Command::Answer {
            call: inc.call,
            media: media(),
        });
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

async fn sipp_calls_answered_and_hangs_up(transport: Transport) {
    let Some(bin) = sipp() else { return };
    let mut gw = gateway(transport, |_| {}).await;
    let target = gw.local_addr(transport).unwrap();
    let run = Sipp::start(
        &bin,
        "uac_answered.xml",
        transport,
        free_port(),
        Some(target),
        1,
    );
    let events = run.finish(&mut gw, ring_and_answer).await;
    assert!(events.iter().any(|e| matches!(e, Event::Answered { .. })));
    assert_eq!(released(&events), vec![(None, Some(16))]);
}

#[tokio::test]
async fn sipp_uac_udp_answered_caller_hangs_up() {
    sipp_calls_answered_and_hangs_up(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uac_tcp_answered_caller_hangs_up() {
    sipp_calls_answered_and_hangs_up(Transport::Tcp).await;
}

async fn sipp_calls_gateway_hangs_up(transport: Transport) {
    let Some(bin) = sipp() else { return };
    let mut gw = gateway(transport, |_| {}).await;
    let target = gw.local_addr(transport).unwrap();
    let run = Sipp::start(
        &bin,
        "uac_gateway_hangs_up.xml",
        transport,
        free_port(),
        Some(target),
        1,
    );
    let events = run
        .finish(&mut gw, |gw, e| match e {
            Event::Incoming(inc) => gw.command(Command::Answer {
                call: inc.call,
                media: media(),
            }),
            Event::Answered { call, .. } => gw.command(Command::Release {
                call,
                cause: 16,
                status: None,
            }),
            _ => {}
        })
        .await;
    assert_eq!(released(&events), vec![(None, None)]);
}

#[tokio::test]
async fn sipp_uac_udp_gateway_hangs_up() {
    sipp_calls_gateway_hangs_up(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uac_tcp_gateway_hangs_up() {
    sipp_calls_gateway_hangs_up(Transport::Tcp).await;
}

async fn sipp_cancels(transport: Transport) {
    let Some(bin) = sipp() else { return };
    let mut gw = gateway(transport, |_| {}).await;
    let target = gw.local_addr(transport).unwrap();
    let run = Sipp::start(
        &bin,
        "uac_cancel.xml",
        transport,
        free_port(),
        Some(target),
        1,
    );
    let events = run
        .finish(&mut gw, |gw, e| {
            if let Event::Incoming(inc) = e {
                gw.command(Command::Provisional {
                    call: inc.call,
                    response: Provisional::Ringing,
                });
            }
        })
        .await;
    assert_eq!(released(&events), vec![(Some(487), Some(16))]);
}

#[tokio::test]
async fn sipp_uac_udp_caller_cancels() {
    sipp_cancels(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uac_tcp_caller_cancels() {
    sipp_cancels(Transport::Tcp).await;
}

async fn sipp_gets_busy(transport: Transport) {
    let Some(bin) = sipp() else { return };
    let mut gw = gateway(transport, |_| {}).await;
    let target = gw.local_addr(transport).unwrap();
    let run = Sipp::start(
        &bin,
        "uac_rejected.xml",
        transport,
        free_port(),
        Some(target),
        1,
    );
    let events = run
        .finish(&mut gw, |gw, e| {
            if let Event::Incoming(inc) = e {
                gw.command(Command::Release {
                    call: inc.call,
                    cause: 17,
                    status: Some(486),
                });
            }
        })
        .await;
    assert_eq!(released(&events), vec![(Some(486), None)]);
}

#[tokio::test]
async fn sipp_uac_udp_busy() {
    sipp_gets_busy(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uac_tcp_busy() {
    sipp_gets_busy(Transport::Tcp).await;
}

async fn sipp_untrusted(transport: Transport) {
    let Some(bin) = sipp() else { return };
    let mut gw = gateway(transport, |c| {
        c.trusted = vec!["192.0.2.1/32".parse().unwrap()]
    })
    .await;
    let target = gw.local_addr(transport).unwrap();
    let run = Sipp::start(
        &bin,
        "uac_rejected.xml",
        transport,
        free_port(),
        Some(target),
        1,
    );
    let events = run.finish(&mut gw, |_, _| {}).await;
    assert!(
        events.is_empty(),
        "an untrusted INVITE reaches no mapper: {events:?}"
    );
    assert_eq!(Stats::get(&gw.stats().untrusted), 1);
}

#[tokio::test]
async fn sipp_uac_udp_untrusted_source_rejected() {
    sipp_untrusted(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uac_tcp_untrusted_source_rejected() {
    sipp_untrusted(Transport::Tcp).await;
}

async fn sipp_pings(transport: Transport) {
    let Some(bin) = sipp() else { return };
    let mut gw = gateway(transport, |_| {}).await;
    let target = gw.local_addr(transport).unwrap();
    let run = Sipp::start(
        &bin,
        "uac_options.xml",
        transport,
        free_port(),
        Some(target),
        1,
    );
    run.finish(&mut gw, |_, _| {}).await;
}

#[tokio::test]
async fn sipp_uac_udp_options_ping_answered() {
    sipp_pings(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uac_tcp_options_ping_answered() {
    sipp_pings(Transport::Tcp).await;
}

async fn gateway_calls(
    transport: Transport,
    xml: &str,
    hang_up: bool,
    tweak: impl FnOnce(&mut Peer),
) -> Vec<Event> {
    let Some(bin) = sipp() else { return Vec::new() };
    let port = free_port();
    let mut peer = sipp_peer(transport, port);
    tweak(&mut peer);
    let mut gw = gateway(transport, |c| c.peers = vec![peer]).await;
    let run = Sipp::start(&bin, xml, transport, port, None, 1);
    // Let SIPp bind before the INVITE goes out (UDP would retransmit anyway; TCP would not).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let call = gw.call_ids().next();
    gw.command(place(call));
    run.finish(&mut gw, |gw, e| {
        if let (true, Event::Answered { call, .. }) = (hang_up, &e) {
            gw.command(Command::Release {
                call: *call,
                cause: 16,
                status: None,
            });
        }
    })
    .await
}

#[tokio::test]
async fn sipp_uas_udp_answered_gateway_hangs_up() {
    let events = gateway_calls(Transport::Udp, "uas_answered.xml", true, |_| {}).await;
    if !events.is_empty() {
        assert!(matches!(events[0], Event::Ringing { .. }));
        assert_eq!(released(&events), vec![(None, None)]);
    }
}

#[tokio::test]
async fn sipp_uas_tcp_answered_gateway_hangs_up() {
    let events = gateway_calls(Transport::Tcp, "uas_answered.xml", true, |_| {}).await;
    if !events.is_empty() {
        assert_eq!(released(&events), vec![(None, None)]);
    }
}

async fn early_media(transport: Transport) {
    let events = gateway_calls(transport, "uas_early_media.xml", false, |_| {}).await;
    if events.is_empty() {
        return;
    }
    let progress = events.iter().find_map(|e| match e {
        Event::Progress { media: Some(m), .. } => Some(m.clone()),
        _ => None,
    });
    let answered = events.iter().find_map(|e| match e {
        Event::Answered { media: Some(m), .. } => Some(m.clone()),
        _ => None,
    });
    assert_eq!(progress, answered, "183 then 200 with the same SDP");
    assert_eq!(
        released(&events),
        vec![(None, Some(16))],
        "BYE from SIPp with its Reason"
    );
}

#[tokio::test]
async fn sipp_uas_udp_183_then_200_far_end_hangs_up() {
    early_media(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uas_tcp_183_then_200_far_end_hangs_up() {
    early_media(Transport::Tcp).await;
}

async fn busy(transport: Transport) {
    let events = gateway_calls(transport, "uas_busy.xml", false, |_| {}).await;
    if !events.is_empty() {
        assert_eq!(released(&events), vec![(Some(486), Some(17))]);
    }
}

#[tokio::test]
async fn sipp_uas_udp_busy() {
    busy(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uas_tcp_busy() {
    busy(Transport::Tcp).await;
}

async fn digest(transport: Transport) {
    let creds = Credentials {
        username: "gw".into(),
        password: "secret".into(),
    };
    let events = gateway_calls(transport, "uas_digest.xml", true, |p| {
        p.credentials = Some(creds)
    })
    .await;
    if !events.is_empty() {
        assert!(
            events.iter().any(|e| matches!(e, Event::Answered { .. })),
            "{events:?}"
        );
        assert_eq!(released(&events), vec![(None, None)]);
    }
}

#[tokio::test]
async fn sipp_uas_udp_digest_challenge_on_invite_answered() {
    digest(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uas_tcp_digest_challenge_on_invite_answered() {
    digest(Transport::Tcp).await;
}

async fn keepalive_down_and_up(transport: Transport) {
    let Some(bin) = sipp() else { return };
    let port = free_port();
    let peer = sipp_peer(transport, port);
    let mut gw = gateway(transport, |c| {
        c.peers = vec![peer];
        c.keepalive = Some(Keepalive {
            interval: Duration::from_millis(300),
            down_after: 1,
            down_statuses: vec![503],
        });
        // Timer F = 64 * T1 = 1.28 s: a silent peer is noticed quickly.
        c.timers.t1 = Duration::from_millis(20);
    })
    .await;
    // Nobody listens: the first probe times out (UDP) or is refused (TCP): peer down.
    let down = timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Event::PeerStatus { peer: 0, up: false }) = gw.next_event().await {
                return;
            }
        }
    })
    .await;
    assert!(down.is_ok(), "peer never marked down");
    // The peer comes up and answers a few probes: up again.
    let run = Sipp::start(&bin, "uas_options.xml", transport, port, None, 3);
    let events = run.finish(&mut gw, |_, _| {}).await;
    assert!(
        events.contains(&Event::PeerStatus { peer: 0, up: true }),
        "{events:?}"
    );
}

#[tokio::test]
async fn sipp_uas_udp_options_keepalive_peer_down_then_up() {
    keepalive_down_and_up(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uas_tcp_options_keepalive_peer_down_then_up() {
    keepalive_down_and_up(Transport::Tcp).await;
}

async fn registration(transport: Transport) {
    let Some(bin) = sipp() else { return };
    let port = free_port();
    let run = Sipp::start(&bin, "uas_registrar.xml", transport, port, None, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut gw = gateway(transport, |c| {
        c.registrars = vec![Registrar {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            transport,
            domain: "sipp.example".into(),
            aors: vec!["2125551000".into()],
            expires: Duration::from_secs(60),
            credentials: Some(Credentials {
                username: "gw".into(),
                password: "secret".into(),
            }),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(4),
        }];
    })
    .await;
    let events = run.finish(&mut gw, |_, _| {}).await;
    let registered = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Registration {
                    state: Registration::Registered { .. },
                    ..
                }
            )
        })
        .count();
    assert!(registered >= 2, "registered and renewed: {events:?}");
}

#[tokio::test]
async fn sipp_uas_udp_registration_with_digest_and_renewal() {
    registration(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uas_tcp_registration_with_digest_and_renewal() {
    registration(Transport::Tcp).await;
}
