//! SIP over TLS between two in-process endpoints on loopback, with certificates made by
//! rcgen for each test: a call that verifies, and handshakes that must not (unknown CA,
//! wrong name), plus configurations refused at start.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup should fail the test"
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::next_call_event as next;
use dialgate::sip::{
    CallId, Command, Config, Endpoint, Event, Listen, LocalMedia, Outgoing, Party, Peer,
    StartError, Timers, Tls, TlsError, Transport,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::time::timeout;

/// A CA and the PEM files of one server certificate it signed.
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    chain: PathBuf,
    key: PathBuf,
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// A fresh CA with a leaf for `names` (DNS names or IP literals).
fn pki(names: &[&str]) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let leaf = CertificateParams::new(names)
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let chain = format!("{}{}", leaf.pem(), ca_cert.pem());
    Pki {
        ca: write(dir.path(), "ca.pem", &ca_cert.pem()),
        chain: write(dir.path(), "chain.pem", &chain),
        key: write(dir.path(), "key.pem", &leaf_key.serialize_pem()),
        dir,
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn base(listen: Transport) -> Config {
    Config {
        listen: vec![Listen {
            transport: listen,
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

/// `b` serves TLS with `server`'s certificate; `a` calls it, trusting `client_ca`, with
/// `host` as the name to verify.
async fn pair(server: &Pki, client_ca: &Path, host: &str) -> (Endpoint, Endpoint) {
    let b = Endpoint::start(Config {
        tls: Some(Tls {
            certificate_chain: Some(server.chain.clone()),
            private_key: Some(server.key.clone()),
            ca_roots: None,
        }),
        ..base(Transport::Tls)
    })
    .await
    .unwrap();
    let mut peer = Peer::new("b", b.local_addr(Transport::Tls).unwrap());
    peer.transport = Transport::Tls;
    peer.host = Some(host.to_owned());
    let a = Endpoint::start(Config {
        peers: vec![peer],
        tls: Some(Tls {
            ca_roots: Some(client_ca.to_owned()),
            ..Tls::default()
        }),
        ..base(Transport::Udp)
    })
    .await
    .unwrap();
    (a, b)
}

fn media(port: u16) -> LocalMedia {
    LocalMedia {
        rtp: SocketAddr::from(([127, 0, 0, 1], port)),
        codecs: Vec::new(),
    }
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
        media: media(16384),
    }))
}

#[tokio::test]
async fn tls_call_answered_and_cleared_by_the_callee() {
    let server = pki(&["localhost", "127.0.0.1"]);
    let (mut a, mut b) = pair(&server, &server.ca, "localhost").await;
    let call = a.call_ids().next();
    a.command(place(call));
    let Event::Incoming(inc) = next(&mut b).await else {
        panic!("expected Incoming")
    };
    assert_eq!(inc.transport, Transport::Tls);
    assert_eq!(inc.called.as_deref(), Some("4085552000"));
    b.command(Command::Answer {
        call: inc.call,
        media: media(20000),
    });
    let answered = loop {
        match next(&mut a).await {
            Event::Trying { .. } => {}
            other => break other,
        }
    };
    let Event::Answered { media: Some(m), .. } = answered else {
        panic!("expected Answered, got {answered:?}")
    };
    assert_eq!(m.rtp.port(), 20000);
    assert!(matches!(next(&mut b).await, Event::Answered { .. }));
    // The callee's BYE travels back over the connection the caller opened.
    b.command(Command::Release {
        call: inc.call,
        cause: 16,
        status: None,
    });
    let Event::Released { status, reason, .. } = next(&mut a).await else {
        panic!("expected Released")
    };
    assert_eq!((status, reason.map(|r| r.cause)), (None, Some(16)));
    assert!(matches!(
        next(&mut b).await,
        Event::Released { status: None, .. }
    ));
}

#[tokio::test]
async fn tls_peer_signed_by_an_unknown_ca_is_unreachable() {
    let server = pki(&["localhost"]);
    let other = pki(&["localhost"]);
    let (mut a, mut b) = pair(&server, &other.ca, "localhost").await;
    a.command(place(a.call_ids().next()));
    assert!(matches!(
        next(&mut a).await,
        Event::Released {
            status: Some(503),
            ..
        }
    ));
    // The handshake failed, so the callee never saw a request.
    assert!(
        timeout(Duration::from_millis(200), b.next_event())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn tls_peer_certificate_for_another_name_is_refused() {
    let server = pki(&["sbc.example.net"]);
    let (mut a, _b) = pair(&server, &server.ca, "localhost").await;
    a.command(place(a.call_ids().next()));
    assert!(matches!(
        next(&mut a).await,
        Event::Released {
            status: Some(503),
            ..
        }
    ));
}

#[tokio::test]
async fn tls_listener_without_identity_or_with_a_foreign_key_is_refused_at_start() {
    let err = Endpoint::start(base(Transport::Tls)).await.err().unwrap();
    assert!(
        matches!(err, StartError::Tls(TlsError::MissingIdentity)),
        "{err}"
    );
    let one = pki(&["localhost"]);
    let two = pki(&["localhost"]);
    let err = Endpoint::start(Config {
        tls: Some(Tls {
            certificate_chain: Some(one.chain.clone()),
            private_key: Some(two.key.clone()),
            ca_roots: None,
        }),
        ..base(Transport::Tls)
    })
    .await
    .err()
    .unwrap();
    assert!(
        matches!(err, StartError::Tls(TlsError::Identity(_))),
        "{err}"
    );
    let missing = one.dir.path().join("absent.pem");
    let err = Endpoint::start(Config {
        tls: Some(Tls {
            certificate_chain: Some(missing.clone()),
            private_key: Some(one.key.clone()),
            ca_roots: None,
        }),
        ..base(Transport::Tls)
    })
    .await
    .err()
    .unwrap();
    assert!(
        matches!(&err, StartError::Tls(TlsError::Read { path, .. }) if *path == missing),
        "{err}"
    );
}
