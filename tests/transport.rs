//! The driver seam over real sockets and a pseudo-terminal: bytes in, events out,
//! reconnect with backoff, and overflow counted instead of blocking the reader.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    reason = "these tests drive real sockets and processes in real time; a failed step fails the test"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use dialgate::line::transport::{self, LineSpec, PortEvent, PortOptions, PortStats};
use serialport::SerialPort;

const WAIT: Duration = Duration::from_secs(5);

fn options() -> PortOptions {
    PortOptions {
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        ..PortOptions::default()
    }
}

fn next(port: &transport::LinePort) -> PortEvent {
    port.events
        .recv_timeout(WAIT)
        .expect("no event from the driver thread")
}

/// Collect at least `n` data bytes, skipping other events.
fn read_data(port: &transport::LinePort, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        if let PortEvent::Data(c) = next(port) {
            got.extend_from_slice(&c.bytes);
        }
    }
    got
}

#[test]
fn tcp_listen_serves_a_peer_both_ways_and_reports_its_departure() {
    let spec = LineSpec::parse("tcp-listen://127.0.0.1:0").unwrap();
    let port = transport::spawn(&spec, options()).unwrap();
    let addr = port.listen_addr.unwrap();

    let mut peer = TcpStream::connect(addr).unwrap();
    assert!(matches!(next(&port), PortEvent::Up { .. }));
    peer.write_all(b"\x7e\x7e\x01\x02").unwrap();
    assert_eq!(read_data(&port, 4), b"\x7e\x7e\x01\x02");

    port.tx.send(Bytes::from_static(b"hello")).unwrap();
    let mut buf = [0u8; 5];
    peer.set_read_timeout(Some(WAIT)).unwrap();
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");

    drop(peer);
    assert!(matches!(next(&port), PortEvent::Down { .. }));

    // The next peer is served on the same listener.
    let mut peer = TcpStream::connect(addr).unwrap();
    assert!(matches!(next(&port), PortEvent::Up { .. }));
    peer.write_all(b"x").unwrap();
    assert_eq!(read_data(&port, 1), b"x");
    port.close();
}

#[test]
fn tcp_connect_retries_until_the_peer_listens_and_reconnects_after_a_drop() {
    // Reserve a port, then close it so the first attempts are refused.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let spec = LineSpec::parse(&format!("tcp://{addr}")).unwrap();
    let port = transport::spawn(&spec, options()).unwrap();
    assert!(
        matches!(next(&port), PortEvent::Down { .. }),
        "refused connect is LOS"
    );

    let listener = TcpListener::bind(addr).unwrap();
    let (conn, _) = listener.accept().unwrap();
    assert!(matches!(next(&port), PortEvent::Up { .. }));
    drop(conn);
    assert!(matches!(next(&port), PortEvent::Down { .. }));
    let (mut conn, _) = listener.accept().unwrap();
    assert!(matches!(next(&port), PortEvent::Up { .. }));
    conn.write_all(b"abc").unwrap();
    assert_eq!(read_data(&port, 3), b"abc");
    assert_eq!(PortStats::get(&port.stats.connects), 2);
    port.close();
}

#[test]
fn full_receive_channel_drops_and_counts_instead_of_blocking() {
    let spec = LineSpec::parse("tcp-listen://127.0.0.1:0").unwrap();
    let opts = PortOptions {
        rx_capacity: 2,
        read_size: 16,
        ..options()
    };
    let port = transport::spawn(&spec, opts).unwrap();
    let mut peer = TcpStream::connect(port.listen_addr.unwrap()).unwrap();
    // Nobody drains the channel while 4 KiB arrive: the reader must keep reading.
    let block = vec![0x55u8; 4096];
    peer.write_all(&block).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while PortStats::get(&port.stats.rx_bytes) < 4096 {
        assert!(std::time::Instant::now() < deadline, "reader stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    let dropped = PortStats::get(&port.stats.rx_dropped_bytes);
    assert!(dropped > 0);
    // The loss is reported on the next chunk that gets through.
    let mut delivered = 0u64;
    let mut reported = 0u64;
    // Drain what is queued, then send one more chunk that must carry the loss.
    while let Ok(ev) = port.events.try_recv() {
        if let PortEvent::Data(c) = ev {
            delivered += c.bytes.len() as u64;
            reported += c.lost_before;
        }
    }
    peer.write_all(b"z").unwrap();
    loop {
        if let PortEvent::Data(c) = next(&port) {
            delivered += c.bytes.len() as u64;
            reported += c.lost_before;
            if c.bytes.ends_with(b"z") {
                break;
            }
        }
    }
    assert_eq!(reported, dropped);
    assert_eq!(delivered + dropped, 4097);
    port.close();
}

#[test]
fn serial_pty_carries_bytes_both_ways_through_the_real_serial_code() {
    let (mut master, slave) = match serialport::TTYPort::pair() {
        Ok(p) => p,
        Err(e) => {
            println!("skipped: no pseudo-terminals on this machine ({e})");
            return;
        }
    };
    let path = slave.name().expect("pty slave has a name");
    let spec = LineSpec::parse(&path).unwrap();
    let port = transport::spawn(&spec, options()).unwrap();
    assert!(matches!(next(&port), PortEvent::Up { .. }));

    // Every byte value survives: the line is raw, with no CR/LF or XON/XOFF handling.
    let all: Vec<u8> = (0..=255u8).collect();
    master.write_all(&all).unwrap();
    assert_eq!(read_data(&port, 256), all);

    port.tx.send(Bytes::from(all.clone())).unwrap();
    let mut back = vec![0u8; 256];
    master.set_timeout(WAIT).unwrap();
    master.read_exact(&mut back).unwrap();
    assert_eq!(back, all);
    port.close();
    drop(slave);
}

#[test]
fn missing_serial_device_is_an_immediate_error() {
    let spec = LineSpec::parse("/dev/dialgate-no-such-device").unwrap();
    let err = transport::spawn(&spec, options())
        .err()
        .expect("opened a missing device");
    assert!(err.to_string().contains("dialgate-no-such-device"), "{err}");
}
