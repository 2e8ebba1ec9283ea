//! SIP leg benchmark, in process over loopback UDP.
//!
//! 1. Memory: a raw UDP socket establishes N dialogs on a fresh gateway (INVITE, 200, ACK,
//!    no BYE) and the resident-set growth of the process is divided by N. It runs first,
//!    while the allocator holds no pages freed by an earlier run that it would reuse.
//! 2. Throughput: a load generator endpoint (its own thread and runtime) places calls to
//!    the gateway endpoint (another thread and runtime) with a window of calls in flight;
//!    each call is INVITE, 100, 200, ACK, BYE, 200. Reports complete calls per second and
//!    the gateway thread's CPU time per call (from `/proc/thread-self/stat`).
//!
//! `cargo bench --bench sip`; `DIALGATE_SIP_BENCH_CALLS` sets the call count (default 20000).

#![expect(
    clippy::disallowed_methods,
    reason = "a benchmark is an I/O shell: it reads the clock and waits"
)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dialgate::sip::{
    Command, Config, Endpoint, Event, Listen, LocalMedia, Outgoing, Party, Peer, Transport,
};

fn media() -> LocalMedia {
    LocalMedia {
        rtp: SocketAddr::from(([127, 0, 0, 1], 16384)),
        codecs: Vec::new(),
    }
}

fn gateway_config() -> Config {
    Config {
        listen: vec![Listen {
            transport: Transport::Udp,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }],
        trusted: vec![ipnet::IpNet::from(std::net::IpAddr::from([127, 0, 0, 1]))],
        max_message_size: 64 * 1024,
        ..Config::default()
    }
}

/// CPU time of the calling thread so far: (user, system).
fn thread_cpu() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Field 14 is index 11 after the state field (field 3 is index 0). CLK_TCK is 100 on Linux.
    (
        Duration::from_millis(ticks(11) * 10),
        Duration::from_millis(ticks(12) * 10),
    )
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Runs a gateway endpoint that answers every call, on its own thread; returns its address
/// and a handle yielding its thread CPU time when told to stop.
fn spawn_gateway() -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<(Duration, Duration)>,
) {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut gw = Endpoint::start(gateway_config()).await.expect("gateway starts");
            addr_tx.send(gw.local_addr(Transport::Udp).expect("udp")).expect("send addr");
            let start = thread_cpu();
            loop {
                tokio::select! {
                    e = gw.next_event() => match e {
                        Some(Event::Incoming(inc)) => gw.command(Command::Answer { call: inc.call, media: media() }),
                        Some(_) => {}
                        None => break,
                    },
                    _ = &mut stop_rx => break,
                }
            }
            let end = thread_cpu();
            (end.0.saturating_sub(start.0), end.1.saturating_sub(start.1))
        })
    });
    (addr_rx.recv().expect("gateway address"), stop_tx, handle)
}

fn throughput(calls: u64, window: u64) {
    let (gw_addr, stop, gateway) = spawn_gateway();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (wall, done) = rt.block_on(async move {
        let config = Config {
            listen: vec![Listen {
                transport: Transport::Udp,
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            }],
            peers: vec![Peer::new("gw", gw_addr)],
            ..Config::default()
        };
        let mut load = Endpoint::start(config).await.expect("load starts");
        let place = |load: &Endpoint| {
            let call = load.call_ids().next();
            load.command(Command::Place(Box::new(Outgoing {
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
            })));
        };
        let t0 = Instant::now();
        let mut placed = 0;
        while placed < window.min(calls) {
            place(&load);
            placed += 1;
        }
        let mut done = 0u64;
        let mut failed = 0u64;
        while done < calls {
            let Ok(Some(e)) =
                tokio::time::timeout(Duration::from_secs(40), load.next_event()).await
            else {
                eprintln!("stalled after {done} calls");
                break;
            };
            match e {
                Event::Answered { call, .. } => load.command(Command::Release {
                    call,
                    cause: 16,
                    status: None,
                }),
                Event::Released { status, .. } => {
                    done += 1;
                    if status.is_some() {
                        failed += 1;
                    }
                    if placed < calls {
                        place(&load);
                        placed += 1;
                    }
                }
                _ => {}
            }
        }
        if failed > 0 {
            eprintln!("{failed} calls failed");
        }
        (t0.elapsed(), done)
    });
    let _ = stop.send(());
    let (user, system) = gateway.join().expect("gateway thread");
    let cpu = user + system;
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / done.max(1) as f64;
    // The kernel share (system time) is what batching the socket calls can cut.
    println!(
        "sip/throughput: {done} calls in {:.2} s = {:.0} calls/s (window {window}); gateway CPU {:.2} s = {:.1} us/call (user {:.1}, system {:.1})",
        wall.as_secs_f64(),
        done as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        per_call(cpu),
        per_call(user),
        per_call(system)
    );
}

fn invite(i: u64, port: u16) -> String {
    let sdp = "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    format!(
        "INVITE sip:4085552000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKm{i}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:2000@127.0.0.1>;tag=f{i}\r\nTo: <sip:4085552000@127.0.0.1>\r\n\
         Call-ID: mem-{i}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:2000@127.0.0.1:{port}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn memory(dialogs: u64) {
    let (gw_addr, stop, gateway) = spawn_gateway();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    let mut buf = vec![0u8; 65_536];
    let mut establish = |from: u64, to: u64| {
        for batch in (from..to).collect::<Vec<_>>().chunks(50) {
            for &i in batch {
                sock.send_to(invite(i, port).as_bytes(), gw_addr)
                    .expect("send");
            }
            let mut acked = 0;
            while acked < batch.len() {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    return;
                };
                let text = String::from_utf8_lossy(&buf[..n]);
                if !text.starts_with("SIP/2.0 200") {
                    continue;
                }
                let header = |name: &str| {
                    text.split("\r\n")
                        .find(|l| l.starts_with(name))
                        .map(str::to_owned)
                        .unwrap_or_default()
                };
                let (to, call_id) = (header("To:"), header("Call-ID:"));
                let i = call_id
                    .trim_start_matches("Call-ID: mem-")
                    .split('@')
                    .next()
                    .unwrap_or("0")
                    .to_owned();
                let ack = format!(
                    "ACK sip:4085552000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKa{i}\r\n\
                     Max-Forwards: 70\r\nFrom: <sip:2000@127.0.0.1>;tag=f{i}\r\n{to}\r\n{call_id}\r\nCSeq: 1 ACK\r\n\
                     Content-Length: 0\r\n\r\n"
                );
                sock.send_to(ack.as_bytes(), gw_addr).expect("send");
                acked += 1;
            }
        }
    };
    // Warm up allocator arenas and hash tables with a first batch, then measure.
    establish(0, 1000);
    std::thread::sleep(Duration::from_millis(300));
    let before = resident_bytes();
    establish(1000, 1000 + dialogs);
    std::thread::sleep(Duration::from_millis(300));
    let after = resident_bytes();
    let _ = stop.send(());
    let _ = gateway.join();
    println!(
        "sip/memory: {dialogs} established dialogs grew RSS by {:.1} MiB = {:.0} bytes/dialog",
        (after.saturating_sub(before)) as f64 / (1 << 20) as f64,
        after.saturating_sub(before) as f64 / dialogs as f64
    );
}

fn main() {
    // `cargo test --benches` runs bench binaries with no `--bench` flag: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let calls = std::env::var("DIALGATE_SIP_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 200 } else { 20_000 });
    // Memory first: the allocator keeps pages freed by a finished run for reuse, so after
    // the throughput run the dialogs would grow the resident set by less than they hold.
    memory(if quick { 200 } else { 20_000 });
    throughput(calls, 256);
}
