//! The SIP leg end to end over loopback sockets: two endpoints calling each other on UDP
//! and TCP, and raw sockets sending malformed messages.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup should fail the test"
)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::next_call_event as next;
use dialgate::sip::{
    CallId, Command, Config, Endpoint, Event, Listen, LocalMedia, Outgoing, Party, Peer,
    Provisional, Stats, Timers, Transport,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn base(transport: Transport) -> Config {
    Config {
        listen: vec![Listen {
            transport,
            addr: loopback(),
        }],
        trusted: vec!["127.0.0.1/32".parse().unwrap()],
        timers: Timers {
            t1: Duration::from_millis(50),
            t2: Duration::from_millis(400),
            t4: Duration::from_millis(500),
        },
        seed: Some(1),
        trying_delay: Duration::ZERO,
        ..Config::default()
    }
}

async fn pair(transport: Transport) -> (Endpoint, Endpoint) {
    let b = Endpoint::start(base(transport)).await.unwrap();
    let b_addr = b.local_addr(transport).unwrap();
    let mut peer = Peer::new("b", b_addr);
    peer.transport = transport;
    let a = Endpoint::start(Config {
        peers: vec![peer],
        ..base(transport)
    })
    .await
    .unwrap();
    (a, b)
}

fn place(call: CallId) -> Command {
    Command::Place(Box::new(Outgoing {
        call,
        peer: 0,
        called: "4085552000".into(),
        calling: Party {
            user: Some("2125551000".into()),
            display: Some("PRI caller".into()),
        },
        asserted_identity: None,
        privacy: None,
        media: LocalMedia {
            rtp: "127.0.0.1:16384".parse().unwrap(),
            codecs: Vec::new(),
        },
    }))
}

async fn call_and_hang_up(transport: Transport) {
    let (mut a, mut b) = pair(transport).await;
    let call = a.call_ids().next();
    a.command(place(call));
    let Event::Incoming(inc) = next(&mut b).await else {
        panic!("expected Incoming")
    };
    assert_eq!(inc.called.as_deref(), Some("4085552000"));
    assert_eq!(inc.calling.display.as_deref(), Some("PRI caller"));
    assert_eq!(inc.transport, transport);
    assert!(matches!(next(&mut a).await, Event::Trying { .. }));
    b.command(Command::Provisional {
        call: inc.call,
        response: Provisional::Ringing,
    });
    assert!(matches!(next(&mut a).await, Event::Ringing { call: c, .. } if c == call));
    b.command(Command::Answer {
        call: inc.call,
        media: LocalMedia {
            rtp: "127.0.0.1:20000".parse().unwrap(),
            codecs: Vec::new(),
        },
    });
    let Event::Answered { media: Some(m), .. } = next(&mut a).await else {
        panic!("expected Answered")
    };
    assert_eq!(m.rtp.port(), 20000);
    assert!(matches!(next(&mut b).await, Event::Answered { .. }));
    a.command(Command::Release {
        call,
        cause: 16,
        status: None,
    });
    let Event::Released { reason, status, .. } = next(&mut b).await else {
        panic!("expected Released")
    };
    assert_eq!((status, reason.map(|r| r.cause)), (None, Some(16)));
    assert!(matches!(
        next(&mut a).await,
        Event::Released { status: None, .. }
    ));
}

#[tokio::test]
async fn udp_call_answered_and_cleared() {
    call_and_hang_up(Transport::Udp).await;
}

#[tokio::test]
async fn tcp_call_answered_and_cleared() {
    call_and_hang_up(Transport::Tcp).await;
}

#[tokio::test]
async fn udp_busy_callee_gives_486_with_reason() {
    let (mut a, mut b) = pair(Transport::Udp).await;
    let call = a.call_ids().next();
    a.command(place(call));
    let Event::Incoming(inc) = next(&mut b).await else {
        panic!()
    };
    b.command(Command::Release {
        call: inc.call,
        cause: 17,
        status: Some(486),
    });
    loop {
        match next(&mut a).await {
            Event::Released { status, reason, .. } => {
                assert_eq!((status, reason.map(|r| r.cause)), (Some(486), Some(17)));
                break;
            }
            Event::Trying { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn udp_untrusted_invite_gets_403() {
    let b = Endpoint::start(Config {
        trusted: vec!["192.0.2.1/32".parse().unwrap()],
        ..base(Transport::Udp)
    })
    .await
    .unwrap();
    let mut a = Endpoint::start(Config {
        peers: vec![Peer::new("b", b.local_addr(Transport::Udp).unwrap())],
        ..base(Transport::Udp)
    })
    .await
    .unwrap();
    let call = a.call_ids().next();
    a.command(place(call));
    assert!(matches!(
        next(&mut a).await,
        Event::Released {
            status: Some(403),
            ..
        }
    ));
    assert_eq!(Stats::get(&b.stats().untrusted), 1);
}

fn raw_request(via_port: u16, extra: &str) -> String {
    format!(
        "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bKraw1;rport\r\n\
         From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: raw-1\r\nCSeq: 1 OPTIONS\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn udp_malformed_datagrams_get_400_and_are_counted() {
    let gw = Endpoint::start(base(Transport::Udp)).await.unwrap();
    let target = gw.local_addr(Transport::Udp).unwrap();
    let sock = UdpSocket::bind(loopback()).await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let cases = [
        raw_request(port, "Content-Length: 12\r\n"), // promises a body
        raw_request(port, "").replace("CSeq: 1 OPTIONS", "CSeq: x"), // bad CSeq
        raw_request(port, "").replace("Call-ID: raw-1\r\n", ""), // no Call-ID
        raw_request(port, "").replace(" SIP/2.0\r\nVia", " SIP/1.0\r\nVia"),
    ];
    let mut buf = vec![0u8; 4096];
    for case in &cases {
        sock.send_to(case.as_bytes(), target).await.unwrap();
        let (n, _) = timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let reply = String::from_utf8_lossy(&buf[..n]);
        assert!(reply.starts_with("SIP/2.0 400"), "{case}\n=> {reply}");
    }
    sock.send_to(b"\x16\x03\x01garbage", target).await.unwrap();
    sock.send_to(
        raw_request(port, "Content-Length: 0\r\n").as_bytes(),
        target,
    )
    .await
    .unwrap();
    let (n, _) = timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"),
        "still serving after garbage"
    );
    assert_eq!(Stats::get(&gw.stats().malformed), 5);
}

#[tokio::test]
async fn tcp_message_without_content_length_gets_400_and_the_connection_closes() {
    let gw = Endpoint::start(base(Transport::Tcp)).await.unwrap();
    let mut tcp = TcpStream::connect(gw.local_addr(Transport::Tcp).unwrap())
        .await
        .unwrap();
    let port = tcp.local_addr().unwrap().port();
    let msg = raw_request(port, "").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    tcp.write_all(msg.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    timeout(Duration::from_secs(2), tcp.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("SIP/2.0 400"), "{reply}");
}

#[tokio::test]
async fn tcp_pipelined_requests_are_framed_by_content_length() {
    let gw = Endpoint::start(base(Transport::Tcp)).await.unwrap();
    let mut tcp = TcpStream::connect(gw.local_addr(Transport::Tcp).unwrap())
        .await
        .unwrap();
    let port = tcp.local_addr().unwrap().port();
    let one = raw_request(port, "Content-Length: 0\r\n").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let two = one.replace("z9hG4bKraw1", "z9hG4bKraw2");
    tcp.write_all(format!("\r\n\r\n{one}{two}").as_bytes())
        .await
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while got.matches("SIP/2.0 200").count() < 2 {
        let n = timeout(Duration::from_secs(2), tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.contains("z9hG4bKraw1") && got.contains("z9hG4bKraw2"));
}
