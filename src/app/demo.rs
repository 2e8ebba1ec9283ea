//! `dialgate demo`: the whole gateway in one process, with a PBX on its span and SIP
//! phones on loopback, placing the calls an engineer would try first.
//!
//! ```text
//!   PBX thread (our Pri, user side,  ──tcp loopback──▶  Gateway (network side)
//!   clock master, scripted per number)                   │ sip 127.0.0.1:ephemeral
//!                                                        ▼
//!   SIP far end (our sip::Endpoint, scripted per number) ◀── dial peers 100/101/102
//!   a silent UDP socket (the dead SIP target of dial peer 101)
//! ```
//!
//! Calls, one after the other: PBX → SIP answered, busy (486 → cause 17), caller
//! cancels (CANCEL / 487), failover from the dead target to the live one; SIP → PBX
//! answered, busy (cause 17 → 486), caller cancels (CANCEL → cause 16). Each prints a
//! ladder of the Q.931 and SIP exchanges as the mapper saw them, with times, then a
//! summary; exit status 0 when every call ended as it should.
//!
//! The spans' recovery time is 50 ms and the INVITE timeout 1 s, so the run takes a
//! few seconds.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::select;
use tokio::sync::mpsc;

use super::gateway::{Gateway, GatewayConfig, Trace, TraceKind, now};
use crate::cli::DemoArgs;
use crate::config::{Side, SpanDef, SwitchType};
use crate::isdn::lapd;
use crate::isdn::q931::ie::{NumberingPlan, PartyNumber, Presentation, Screening, TypeOfNumber};
use crate::isdn::q931::{Cause, Variant};
use crate::isdn::{self, Pri, SetupRequest, pri};
use crate::line::transport::{self, LineSpec, PortEvent, PortOptions};
use crate::line::{Clock, Framing, SpanConfig, T1Framing};
use crate::mapper;
use crate::routing::reload::LiveTable;
use crate::sip;

/// Longest any one call may take before the demo calls it failed.
const CALL_LIMIT: Duration = Duration::from_secs(6);
/// How long the scripted parties talk, ring or wait before they act.
const HOLD: Duration = Duration::from_millis(250);

pub(super) fn run(args: &DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dialgate demo: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(demo(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("dialgate demo: {e}");
            ExitCode::from(2)
        }
    }
}

/// One scripted call and what it must end with.
struct Case {
    title: &'static str,
    start: Start,
    expect: Expect,
}

enum Start {
    /// The PBX dials this number.
    Pbx(&'static str),
    /// The SIP phone dials this number.
    Sip(&'static str),
}

struct Expect {
    answered: bool,
    cause: u8,
    /// At least this many attempts (failover).
    attempts: u32,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            title: "PBX -> SIP, answered, PBX hangs up",
            start: Start::Pbx("5551001"),
            expect: Expect {
                answered: true,
                cause: 16,
                attempts: 1,
            },
        },
        Case {
            title: "PBX -> SIP, busy (486 -> cause 17, no hunting)",
            start: Start::Pbx("5551002"),
            expect: Expect {
                answered: false,
                cause: 17,
                attempts: 1,
            },
        },
        Case {
            title: "PBX -> SIP, caller gives up while it rings (CANCEL)",
            start: Start::Pbx("5551003"),
            expect: Expect {
                answered: false,
                cause: 16,
                attempts: 1,
            },
        },
        Case {
            title: "PBX -> SIP, failover: dead target, then the live one",
            start: Start::Pbx("5559001"),
            expect: Expect {
                answered: true,
                cause: 16,
                attempts: 2,
            },
        },
        Case {
            title: "SIP -> PBX, answered, SIP side hangs up (BYE)",
            start: Start::Sip("2001"),
            expect: Expect {
                answered: true,
                cause: 16,
                attempts: 1,
            },
        },
        Case {
            title: "SIP -> PBX, busy (cause 17 -> 486)",
            start: Start::Sip("2002"),
            expect: Expect {
                answered: false,
                cause: 17,
                attempts: 1,
            },
        },
        Case {
            title: "SIP -> PBX, caller gives up while it rings (CANCEL -> cause 16)",
            start: Start::Sip("2003"),
            expect: Expect {
                answered: false,
                cause: 16,
                attempts: 1,
            },
        },
    ]
}

/// The demo's dial plan: the PBX's extensions on span1, the SIP phones behind peer
/// 100, and 5559XXX on a dead target (101) first, the live one (102) second.
fn dial_plan(live: SocketAddr, dead: SocketAddr) -> String {
    format!(
        r#"# dialgate demo: written and removed by `dialgate demo`
dial_peers:
  - tag: 1
    type: pots
    port: span1
    destination_pattern: "2...$"
    digit_strip: false
    incoming_called_number: "555....$"
  - tag: 100
    type: voip
    session_target: "ipv4:{live}"
    destination_pattern: "5551...$"
    incoming_called_number: "2...$"
  - tag: 101
    type: voip
    description: nobody answers here
    session_target: "ipv4:{dead}"
    destination_pattern: "5559...$"
  - tag: 102
    type: voip
    session_target: "ipv4:{live}"
    preference: 1
    destination_pattern: "5559...$"
"#
    )
}

async fn demo(args: &DemoArgs) -> Result<bool, String> {
    let started = now();
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // The dead SIP target: bound, so nothing else gets the port, and never read.
    let dead = UdpSocket::bind((localhost, 0)).map_err(|e| e.to_string())?;
    let dead_addr = dead.local_addr().map_err(|e| e.to_string())?;
    // The live far end's port, chosen now so the dial plan can name it.
    let live_addr = {
        let probe = UdpSocket::bind((localhost, 0)).map_err(|e| e.to_string())?;
        probe.local_addr().map_err(|e| e.to_string())?
    };
    let dir = std::env::temp_dir().join(format!("dialgate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let plan = dir.join("demo.yaml");
    std::fs::write(&plan, dial_plan(live_addr, dead_addr))
        .map_err(|e| format!("{}: {e}", plan.display()))?;
    let result = run_cases(args, &plan, live_addr, started).await;
    let _ = std::fs::remove_dir_all(&dir);
    drop(dead);
    result
}

async fn run_cases(
    args: &DemoArgs,
    plan: &std::path::Path,
    live_addr: SocketAddr,
    started: Instant,
) -> Result<bool, String> {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let live = Arc::new(LiveTable::load(plan).map_err(|e| e.to_string())?);

    let (framing, switch, channels) = if args.e1 {
        (
            Framing::E1 { crc4: true },
            SwitchType::EuroIsdn,
            (1..=15).chain(17..=31).collect::<Vec<u8>>(),
        )
    } else {
        (
            Framing::T1(T1Framing::Esf),
            SwitchType::National,
            isdn::Config::T1_CHANNELS.to_vec(),
        )
    };
    let mut line = SpanConfig::new(framing);
    line.recovery_after = Duration::from_millis(50);

    // The PBX listens; the gateway connects, follows its clock and plays the network.
    let (pbx_events_tx, mut pbx_events) = mpsc::unbounded_channel();
    let pbx = Pbx::start(line.clone(), switch, channels.clone(), pbx_events_tx)?;
    let span = SpanDef {
        name: "span1".into(),
        line: LineSpec::Tcp(pbx.addr.to_string()),
        config: line,
        side: Side::Network,
        switch,
        b_channels: channels,
        pcap: None,
        baud: 2_000_000,
        tone_plan: crate::media::tone::TonePlan::Us,
        description: Some("demo PBX".into()),
        source: PathBuf::from("demo"),
    };
    let (trace_tx, mut traces) = mpsc::unbounded_channel();
    let gateway = Gateway::start(GatewayConfig {
        spans: vec![span],
        dial_peers: live,
        sip_listen: SocketAddr::new(localhost, 0),
        sip_tls_listen: None,
        tls: None,
        rtp_bind: localhost,
        rtp_ports: 40000..=40999,
        invite_timeout: Duration::from_secs(1),
        sip_timers: sip::Timers::default(),
        keepalive: None,
        trace: Some(trace_tx),
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut phone = Phone::start(live_addr, gateway.sip_addr()).await?;

    println!(
        "dialgate demo: gateway SIP {} ({}), PBX on {}, SIP phones on {}",
        gateway.sip_addr(),
        if args.e1 {
            "E1 CRC-4, EuroISDN, A-law"
        } else {
            "T1 ESF, NI-2, mu-law"
        },
        pbx.addr,
        live_addr
    );
    // Both ends of the D-channel up.
    let up_by = now() + Duration::from_secs(5);
    let (mut pbx_up, mut gw_up) = (false, false);
    while !(pbx_up && gw_up) {
        tokio::select! {
            e = pbx_events.recv() => { if matches!(e, Some(PbxEvent::LinkUp)) { pbx_up = true } }
            t = traces.recv() => {
                if let Some(Trace { kind: TraceKind::IsdnIn(_, isdn::Event::LinkUp), .. }) = t { gw_up = true }
            }
            () = tokio::time::sleep_until(up_by.into()) => return Err("the span did not come up within 5 s".into()),
        }
    }
    println!("span1 up after {} ms\n", started.elapsed().as_millis());

    let mut results = Vec::new();
    let mut done = std::collections::HashSet::new();
    for (n, case) in cases().into_iter().enumerate() {
        let t0 = now();
        match case.start {
            Start::Pbx(number) => pbx.place(number),
            Start::Sip(number) => phone.place(number),
        }
        let mut ladder: Vec<Trace> = Vec::new();
        let mut call: Option<mapper::CallId> = None;
        let mut end = None;
        let deadline = t0 + CALL_LIMIT;
        while end.is_none() {
            tokio::select! {
                t = traces.recv() => {
                    let Some(t) = t else { break };
                    if t.call.is_some_and(|c| done.contains(&c)) {
                        continue;
                    }
                    if call.is_none() && t.call.is_some() {
                        call = t.call;
                    }
                    if t.call.is_some() && t.call == call {
                        if let TraceKind::Call(mapper::Event::Ended { cause, answered, attempts, status, .. }) = &t.kind {
                            end = Some((*cause, *answered, *attempts, *status));
                        }
                        ladder.push(t);
                    }
                }
                () = phone.next() => {}
                e = pbx_events.recv() => { let _ = e; }
                () = tokio::time::sleep_until(deadline.into()) => break,
            }
        }
        let ok = end.is_some_and(|(cause, answered, attempts, _)| {
            cause.0 == case.expect.cause
                && answered == case.expect.answered
                && attempts >= case.expect.attempts
        });
        let outcome = match end {
            Some((cause, answered, attempts, status)) => format!(
                "{} cause {}{}{}",
                if answered {
                    "answered,"
                } else {
                    "not answered,"
                },
                cause.0,
                status.map(|s| format!(", SIP {s}")).unwrap_or_default(),
                if attempts > 1 {
                    format!(", {attempts} attempts")
                } else {
                    String::new()
                }
            ),
            None => format!("did not end within {} s", CALL_LIMIT.as_secs()),
        };
        println!(
            "{} call {}: {}  [{}] {} ms",
            if ok { "ok  " } else { "FAIL" },
            n + 1,
            case.title,
            outcome,
            t0.elapsed().as_millis()
        );
        if !args.quiet || !ok {
            print!("{}", render(&ladder, t0));
        }
        done.extend(call);
        results.push(ok);
        // Let the last messages of the call (RELEASE COMPLETE, ACK) cross.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let passed = results.iter().filter(|ok| **ok).count();
    println!(
        "\nsummary: {passed}/{} calls did what they should, in {:.1} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    gateway.stop().await;
    pbx.stop();
    Ok(passed == results.len())
}

/// The ladder of one call: `  +12.3 ms  PBX -> GW   SETUP 5551001`.
fn render(ladder: &[Trace], t0: Instant) -> String {
    let mut out = String::new();
    let mut ladder_state = Ladder::default();
    for t in ladder {
        let Some((from, to, what)) = ladder_state.describe(&t.kind) else {
            continue;
        };
        let ms = t.at.saturating_duration_since(t0).as_secs_f64() * 1000.0;
        if from.is_empty() {
            let _ = writeln!(out, "      {ms:>8.1} ms             {what}");
        } else {
            let _ = writeln!(out, "      {ms:>8.1} ms  {from:>3} -> {to:<3}  {what}");
        }
    }
    out.push('\n');
    out
}

/// What the ladder needs to remember to name messages (CANCEL or BYE, 200 or ACK).
#[derive(Default)]
struct Ladder {
    inbound_sip: bool,
    answered: bool,
}

impl Ladder {
    fn describe(&mut self, kind: &TraceKind) -> Option<(&'static str, &'static str, String)> {
        let pi = |p: &[crate::isdn::q931::ie::ProgressIndicator]| {
            p.iter()
                .map(|p| format!(" PI {}", p.description.0))
                .collect::<String>()
        };
        Some(match kind {
            TraceKind::IsdnIn(_, e) => (
                "PBX",
                "GW",
                match e {
                    isdn::Event::Setup(s) => format!(
                        "SETUP {} B{}",
                        s.called.as_ref().map(|c| c.digits.as_str()).unwrap_or("?"),
                        s.channel
                    ),
                    isdn::Event::Proceeding { channel, .. } => {
                        format!("CALL PROCEEDING B{channel}")
                    }
                    isdn::Event::Alerting { progress, .. } => format!("ALERTING{}", pi(progress)),
                    isdn::Event::Progress { progress, .. } => format!("PROGRESS{}", pi(progress)),
                    isdn::Event::Connect { .. } => "CONNECT".into(),
                    isdn::Event::Disconnect { cause, .. } => {
                        format!("DISCONNECT cause {}", cause.0)
                    }
                    isdn::Event::Cleared { cause, origin, .. } => match origin {
                        isdn::ClearOrigin::Local => format!("RELEASE (cause {})", cause.0),
                        _ => format!("DISCONNECT cause {}", cause.0),
                    },
                    _ => return None,
                },
            ),
            TraceKind::IsdnOut(_, c) => (
                "GW",
                "PBX",
                match c {
                    isdn::Command::Setup { request, .. } => {
                        format!("SETUP {}", request.called.digits)
                    }
                    isdn::Command::Proceeding { .. } => "CALL PROCEEDING".into(),
                    isdn::Command::Alerting { progress, .. } => format!(
                        "ALERTING{}",
                        progress.map(|p| format!(" PI {}", p.0)).unwrap_or_default()
                    ),
                    isdn::Command::Progress { progress, .. } => {
                        format!("PROGRESS PI {}", progress.0)
                    }
                    isdn::Command::Connect { .. } => "CONNECT".into(),
                    isdn::Command::Release { cause, .. } => format!("DISCONNECT cause {}", cause.0),
                    _ => return None,
                },
            ),
            TraceKind::SipIn(e) => (
                "SIP",
                "GW",
                match e {
                    sip::Event::Incoming(i) => {
                        self.inbound_sip = true;
                        format!("INVITE {} (SDP)", i.called.as_deref().unwrap_or("?"))
                    }
                    sip::Event::Trying { .. } => "100 Trying".into(),
                    sip::Event::Ringing { media, .. } => {
                        format!("180 Ringing{}", if media.is_some() { " (SDP)" } else { "" })
                    }
                    sip::Event::Progress { media, .. } => format!(
                        "183 Session Progress{}",
                        if media.is_some() { " (SDP)" } else { "" }
                    ),
                    sip::Event::Answered { .. } if self.inbound_sip => "ACK".into(),
                    sip::Event::Answered { .. } => {
                        self.answered = true;
                        "200 OK (SDP)".into()
                    }
                    sip::Event::Released { status, reason, .. } => {
                        let reason = reason
                            .as_ref()
                            .map(|r| format!(" Reason: Q.850;cause={}", r.cause))
                            .unwrap_or_default();
                        match status {
                            Some(487) if self.inbound_sip => format!("CANCEL{reason}"),
                            Some(s) => format!("{s}{reason}"),
                            None => format!("BYE{reason}"),
                        }
                    }
                    _ => return None,
                },
            ),
            TraceKind::SipOut(c) => (
                "GW",
                "SIP",
                match c {
                    sip::Command::Place(o) => format!("INVITE {} (SDP)", o.called),
                    sip::Command::Provisional { response, .. } => match response {
                        sip::Provisional::Ringing => "180 Ringing".into(),
                        sip::Provisional::RingingWithMedia(_) => "180 Ringing (SDP)".into(),
                        sip::Provisional::Progress(_) => "183 Session Progress (SDP)".into(),
                    },
                    sip::Command::Answer { .. } => {
                        self.answered = true;
                        "200 OK (SDP)".into()
                    }
                    sip::Command::Release { cause, status, .. } => match status {
                        Some(s) => format!("{s} Reason: Q.850;cause={cause}"),
                        None if self.answered => format!("BYE Reason: Q.850;cause={cause}"),
                        None if *cause == Cause::RECOVERY_ON_TIMER_EXPIRY.0 => {
                            "no response: attempt given up (as 408)".into()
                        }
                        None => format!("CANCEL Reason: Q.850;cause={cause}"),
                    },
                    sip::Command::SetPeers { .. } => return None,
                },
            ),
            TraceKind::Call(mapper::Event::Attempt { peer, .. }) => {
                ("", "", format!("routed to dial peer {peer}"))
            }
            TraceKind::Call(_) => return None,
        })
    }
}

// ---- the PBX -----------------------------------------------------------------------

enum PbxEvent {
    LinkUp,
}

enum PbxCommand {
    Place(String),
}

/// A PBX on the user side of the span: our own [`Pri`] behind a `tcp-listen` line,
/// the clock master, scripted by called number.
struct Pbx {
    addr: SocketAddr,
    commands: crossbeam_channel::Sender<PbxCommand>,
    thread: std::thread::JoinHandle<()>,
}

impl Pbx {
    fn start(
        line: SpanConfig,
        switch: SwitchType,
        channels: Vec<u8>,
        events: mpsc::UnboundedSender<PbxEvent>,
    ) -> Result<Pbx, String> {
        let port = transport::spawn(
            &LineSpec::TcpListen("127.0.0.1:0".into()),
            PortOptions::default(),
        )
        .map_err(|e| format!("PBX line: {e}"))?;
        let addr = port.listen_addr.ok_or("PBX line has no address")?;
        let mut line = line;
        line.clock = Clock::Internal;
        let variant = match switch {
            SwitchType::EuroIsdn => Variant::EuroIsdn,
            _ => Variant::National,
        };
        let d = isdn::Config::new(lapd::Side::User, variant, channels);
        let (commands, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("demo-pbx".into())
            .spawn(move || {
                let mut script = PbxScript {
                    pri: Pri::new(line, d, now()),
                    due: Vec::new(),
                    events,
                };
                loop {
                    let deadline = script
                        .pri
                        .poll_timeout()
                        .unwrap_or_else(|| now() + Duration::from_millis(10));
                    let deadline = script
                        .due
                        .iter()
                        .map(|(at, _)| *at)
                        .fold(deadline, Instant::min);
                    select! {
                        recv(port.events) -> e => match e {
                            Ok(PortEvent::Data(c)) => script.pri.handle_rx(c.read_at, &c.bytes),
                            Ok(PortEvent::Up { at, .. }) => script.pri.handle_transport_up(at),
                            Ok(PortEvent::Down { at, .. }) => script.pri.handle_transport_down(at),
                            Err(_) => break,
                        },
                        recv(rx) -> c => match c {
                            Ok(PbxCommand::Place(number)) => script.place(&number),
                            Err(_) => break,
                        },
                        recv(crossbeam_channel::at(deadline)) -> _ => {}
                    }
                    script.tick();
                    while let Some(b) = script.pri.poll_transmit() {
                        let _ = port.tx.send(b);
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Pbx {
            addr,
            commands,
            thread,
        })
    }

    fn place(&self, number: &str) {
        let _ = self.commands.send(PbxCommand::Place(number.to_owned()));
    }

    fn stop(self) {
        drop(self.commands);
        let _ = self.thread.join();
    }
}

struct PbxScript {
    pri: Pri,
    /// Commands due at a time (answer after ringing, hang up after talking).
    due: Vec<(Instant, isdn::Command)>,
    events: mpsc::UnboundedSender<PbxEvent>,
}

impl PbxScript {
    fn place(&mut self, number: &str) {
        let call = self.pri.new_call_id();
        let mut request = SetupRequest::new(PartyNumber::new(
            TypeOfNumber::UNKNOWN,
            NumberingPlan::ISDN,
            number,
        ));
        request.calling = Some(
            PartyNumber::new(TypeOfNumber::UNKNOWN, NumberingPlan::ISDN, "2100")
                .with_presentation(Presentation::ALLOWED, Screening::USER_PASSED),
        );
        self.pri.handle_command(
            now(),
            isdn::Command::Setup {
                call,
                request: Box::new(request),
            },
        );
    }

    fn tick(&mut self) {
        let t = now();
        self.pri.handle_timeout(t);
        let (ready, later): (Vec<_>, Vec<_>) = self.due.drain(..).partition(|(at, _)| *at <= t);
        self.due = later;
        for (_, command) in ready {
            self.pri.handle_command(t, command);
        }
        while let Some(event) = self.pri.poll_event() {
            let pri::Event::Isdn(event) = event else {
                continue;
            };
            let hang_up = |call| isdn::Command::Release {
                call,
                cause: Cause::NORMAL_CLEARING,
                progress: None,
            };
            match event {
                isdn::Event::LinkUp => {
                    let _ = self.events.send(PbxEvent::LinkUp);
                }
                // Our calls: talk a while after the answer; give up on one that rings.
                isdn::Event::Connect { call, .. } => self.due.push((t + HOLD, hang_up(call))),
                isdn::Event::Alerting { call, .. } => {
                    self.due.push((t + HOLD * 2, hang_up(call)));
                }
                // Calls to our extensions: 2001 answers, 2002 is busy, 2003 rings.
                isdn::Event::Setup(s) => {
                    let call = s.call;
                    let number = s.called.map(|c| c.digits).unwrap_or_default();
                    self.pri
                        .handle_command(t, isdn::Command::Proceeding { call });
                    match number.as_str() {
                        "2002" => self.pri.handle_command(
                            t,
                            isdn::Command::Release {
                                call,
                                cause: Cause::USER_BUSY,
                                progress: None,
                            },
                        ),
                        "2001" => {
                            self.pri.handle_command(
                                t,
                                isdn::Command::Alerting {
                                    call,
                                    progress: None,
                                },
                            );
                            self.due.push((
                                t + HOLD / 2,
                                isdn::Command::Connect {
                                    call,
                                    connected: None,
                                },
                            ));
                        }
                        _ => self.pri.handle_command(
                            t,
                            isdn::Command::Alerting {
                                call,
                                progress: None,
                            },
                        ),
                    }
                }
                isdn::Event::Cleared { call, .. } => {
                    self.due.retain(|(_, c)| command_call(c) != Some(call))
                }
                _ => {}
            }
        }
    }
}

fn command_call(c: &isdn::Command) -> Option<isdn::CallId> {
    match c {
        isdn::Command::Connect { call, .. } | isdn::Command::Release { call, .. } => Some(*call),
        _ => None,
    }
}

// ---- the SIP phones ------------------------------------------------------------------

/// SIP phones behind one endpoint: 5551001 and 5559001 answer, 5551002 is busy,
/// 5551003 rings; calls they place hang up after a while (or cancel while ringing).
struct Phone {
    endpoint: sip::Endpoint,
    _rtp: UdpSocket,
    rtp: SocketAddr,
    due: Vec<(Instant, sip::Command)>,
    /// Calls answered by us, and when to hang them up.
    answered_at: HashMap<sip::CallId, Instant>,
}

impl Phone {
    async fn start(addr: SocketAddr, gateway: SocketAddr) -> Result<Phone, String> {
        let config = sip::Config {
            listen: vec![sip::Listen {
                transport: sip::Transport::Udp,
                addr,
            }],
            peers: vec![sip::Peer::new("gateway", gateway)],
            trying_delay: Duration::ZERO,
            ..sip::Config::default()
        };
        let endpoint = sip::Endpoint::start(config)
            .await
            .map_err(|e| format!("SIP phone: {e}"))?;
        let rtp_socket =
            UdpSocket::bind((IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).map_err(|e| e.to_string())?;
        let rtp = rtp_socket.local_addr().map_err(|e| e.to_string())?;
        Ok(Phone {
            endpoint,
            _rtp: rtp_socket,
            rtp,
            due: Vec::new(),
            answered_at: HashMap::new(),
        })
    }

    fn media(&self) -> sip::LocalMedia {
        sip::LocalMedia {
            rtp: self.rtp,
            codecs: Vec::new(),
        }
    }

    fn place(&mut self, number: &str) {
        let call = self.endpoint.call_ids().next();
        self.endpoint
            .command(sip::Command::Place(Box::new(sip::Outgoing {
                call,
                peer: 0,
                called: number.to_owned(),
                calling: sip::Party {
                    user: Some("5551000".into()),
                    display: Some("Demo Phone".into()),
                },
                asserted_identity: None,
                privacy: None,
                media: self.media(),
            })));
    }

    /// Wait for the next SIP event or due command, and act on it.
    async fn next(&mut self) {
        let deadline = self.due.iter().map(|(at, _)| *at).min();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            e = self.endpoint.next_event() => {
                if let Some(e) = e { self.event(e) }
            }
            () = sleep => {
                let t = now();
                let (ready, later): (Vec<_>, Vec<_>) = self.due.drain(..).partition(|(at, _)| *at <= t);
                self.due = later;
                for (_, c) in ready {
                    self.endpoint.command(c);
                }
            }
        }
    }

    fn event(&mut self, event: sip::Event) {
        let t = now();
        let hang_up = |call| sip::Command::Release {
            call,
            cause: 16,
            status: None,
        };
        match event {
            sip::Event::Incoming(i) => {
                let call = i.call;
                match i.called.as_deref() {
                    Some("5551002") => self.endpoint.command(sip::Command::Release {
                        call,
                        cause: 17,
                        status: Some(486),
                    }),
                    Some("5551001") | Some("5559001") => {
                        self.endpoint.command(sip::Command::Provisional {
                            call,
                            response: sip::Provisional::Ringing,
                        });
                        let answer = sip::Command::Answer {
                            call,
                            media: self.media(),
                        };
                        self.due.push((t + HOLD / 2, answer));
                        if i.called.as_deref() == Some("5559001") {
                            // This one the phone ends, after talking.
                            self.due.push((t + HOLD * 2, hang_up(call)));
                        }
                    }
                    _ => self.endpoint.command(sip::Command::Provisional {
                        call,
                        response: sip::Provisional::Ringing,
                    }),
                }
            }
            // Our own calls: hang up after talking; cancel one that only rings.
            sip::Event::Answered { call, .. } if self.answered_at.insert(call, t).is_none() => {
                self.due.push((t + HOLD, hang_up(call)));
            }
            sip::Event::Ringing { call, .. } => {
                self.due.push((t + HOLD * 2, hang_up(call)));
            }
            sip::Event::Released { call, .. } => {
                self.answered_at.remove(&call);
                self.due.retain(|(_, c)| {
                    !matches!(c, sip::Command::Release { call: x, .. } | sip::Command::Answer { call: x, .. } if *x == call)
                });
            }
            _ => {}
        }
    }
}
