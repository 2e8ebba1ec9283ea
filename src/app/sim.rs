//! `dialgate sim`: a simulated PBX at the far end of a span (`docs/simulator.md`).
//!
//! Span keys are layered: command-line flags over the scenario's `span:` block over the
//! mirrored `--hardware` span over the defaults (T1 ESF, user side, internal clock).
//! Every check prints `ok: ...` or `FAIL: ...`; the run ends with `N passed, N failed`
//! and exits 1 if anything failed (2 for a usage or configuration error).

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::SimArgs;
use crate::config::{Hardware, SwitchType};
use crate::isdn::lapd::Side;
use crate::line::transport::LineSpec;
use crate::line::{Clock, Law, T1Framing};
use crate::sim::pbx::PbxConfig;
use crate::sim::port::{self, SimLine, SimOptions};
use crate::sim::scenario::{Scenario, SpanKeys, SpanType};

pub(super) fn run(args: &SimArgs) -> ExitCode {
    match sim(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("dialgate sim: {message}");
            ExitCode::from(2)
        }
    }
}

fn sim(args: &SimArgs) -> Result<bool, String> {
    let cli = cli_keys(args)?;
    let (hardware_keys, hardware_line) = match &args.hardware {
        None => (SpanKeys::default(), None),
        Some(path) => {
            let hardware = Hardware::load(path).map_err(|e| e.to_string())?;
            let def = match &args.span {
                Some(name) => hardware
                    .span(name)
                    .ok_or_else(|| format!("no span named `{name}` in {}", path.display()))?,
                None => hardware
                    .spans
                    .first()
                    .ok_or_else(|| format!("{} defines no spans", path.display()))?,
            };
            (SpanKeys::mirror(def), Some(def.line.clone()))
        }
    };
    let mut scenarios = Vec::new();
    for path in &args.scenario {
        let s = Scenario::load(path).map_err(|e| e.to_string())?;
        scenarios.push(if args.play_peer { s.peer_scenario() } else { s });
    }
    if scenarios.is_empty() {
        if args.play_peer {
            return Err("--play-peer needs a --scenario".into());
        }
        scenarios.push(Scenario::passive());
    }
    let duration = match args.duration {
        None => None,
        Some(d) if d.is_finite() && d >= 0.0 => Some(Duration::from_secs_f64(d)),
        Some(d) => return Err(format!("--duration {d} is not a number of seconds")),
    };
    if !(args.speed.is_finite() && (0.01..=1000.0).contains(&args.speed)) {
        return Err(format!("--speed {}: allowed 0.01 to 1000", args.speed));
    }
    let mut passed = 0;
    let mut failed = 0;
    let many = scenarios.len() > 1;
    let stop = stop_signal()?;
    for scenario in &scenarios {
        if stop.try_recv() == Err(crossbeam_channel::TryRecvError::Disconnected) {
            break;
        }
        let keys = cli.or(&scenario.span).or(&hardware_keys);
        let span = keys
            .resolve()
            .map_err(|(key, problem)| format!("span key `{key}`: {problem}"))?;
        let line = line_for(args, hardware_line.as_ref(), &span.config.framing)?;
        let mut pbx = PbxConfig::new(&span);
        pbx.seed = args.seed;
        pbx.trace = args.trace;
        let mut options = SimOptions::new(line, pbx);
        options.speed = args.speed;
        options.duration = duration;
        options.stop = Some(stop.clone());
        let report =
            port::run(options, scenario).map_err(|e| format!("cannot open the line: {e}"))?;
        passed += report.passed;
        failed += report.failed;
    }
    if many {
        println!("all scenarios: {passed} passed, {failed} failed");
    }
    Ok(failed == 0)
}

/// The line: a flag, else the mirror of the hardware span's line, else the default
/// listening address for the framing.
fn line_for(
    args: &SimArgs,
    hardware: Option<&LineSpec>,
    framing: &crate::line::Framing,
) -> Result<SimLine, String> {
    let strip = |s: &str, scheme: &str| s.strip_prefix(scheme).unwrap_or(s).to_string();
    if args.pty {
        return Ok(SimLine::Pty);
    }
    if let Some(path) = &args.serial {
        return Ok(SimLine::Serial(path.clone()));
    }
    if let Some(l) = &args.listen {
        return Ok(SimLine::Listen(strip(l, "tcp-listen://")));
    }
    if let Some(c) = &args.connect {
        return Ok(SimLine::Connect(strip(c, "tcp://")));
    }
    match hardware {
        Some(LineSpec::Tcp(addr)) => Ok(SimLine::Listen(addr.clone())),
        Some(LineSpec::TcpListen(addr)) => Ok(SimLine::Connect(addr.clone())),
        Some(LineSpec::Serial(path)) => Err(format!(
            "the span's line is the serial device {}: run the simulator with --pty and point the span at the path it prints",
            path.display()
        )),
        None => Ok(SimLine::Listen(match framing {
            crate::line::Framing::T1(_) => "127.0.0.1:7001".into(),
            crate::line::Framing::E1 { .. } => "127.0.0.1:7002".into(),
        })),
    }
}

fn cli_keys(args: &SimArgs) -> Result<SpanKeys, String> {
    fn pick<T: Copy>(
        flag: &str,
        value: &Option<String>,
        allowed: &[(&str, T)],
    ) -> Result<Option<T>, String> {
        let Some(v) = value else { return Ok(None) };
        allowed
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(v.trim()))
            .map(|(_, t)| Some(*t))
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                format!("--{flag} {v:?}: allowed {}", names.join(" | "))
            })
    }
    Ok(SpanKeys {
        kind: pick(
            "type",
            &args.kind,
            &[("t1", SpanType::T1), ("e1", SpanType::E1)],
        )?,
        t1_framing: pick(
            "framing",
            &args.framing,
            &[("esf", T1Framing::Esf), ("sf", T1Framing::Sf)],
        )?,
        crc4: pick("crc4", &args.crc4, &[("on", true), ("off", false)])?,
        clock: pick(
            "clock",
            &args.clock,
            &[("internal", Clock::Internal), ("line", Clock::Line)],
        )?,
        side: pick(
            "side",
            &args.side,
            &[("user", Side::User), ("network", Side::Network)],
        )?,
        switch: pick(
            "switch",
            &args.switch,
            &[
                ("national", SwitchType::National),
                ("5ess", SwitchType::Ess5),
                ("dms100", SwitchType::Dms100),
                ("euroisdn", SwitchType::EuroIsdn),
            ],
        )?,
        b_channels: args.b_channels.clone(),
        law: pick(
            "law",
            &args.law,
            &[("mulaw", Law::MuLaw), ("alaw", Law::ALaw)],
        )?,
        red_after_ms: args.red_after_ms,
        recovery_after_ms: args.recovery_after_ms,
        los_after_ms: args.los_after_ms,
    })
}

/// SIGINT and SIGTERM close the returned channel, so every pacer `select!`ing on it
/// wakes, and the next scenario sees it closed too.
fn stop_signal() -> Result<crossbeam_channel::Receiver<()>, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                drop(tx);
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(rx)
}
