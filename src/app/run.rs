//! `dialgate run`: the gateway daemon.
//!
//! Loads `hardware/` and `dial-peers/`, starts every span, the SIP endpoint and the
//! mapper ([`super::Gateway`]), and lives until SIGTERM or SIGINT:
//!
//! ```text
//!   SIGHUP / file change ─▶ reload::watch ─▶ LiveTable swapped (next calls only)
//!   SIGTERM ─▶ drain: no new calls (41 / 503) ─▶ wait ≤ grace for calls to end
//!           ─▶ clear the rest (cause 16 / BYE) ─▶ wait ≤ 2 s ─▶ exit 0
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::gateway::{Gateway, GatewayConfig, now};
use crate::cli::RunArgs;
use crate::config::Hardware;
use crate::routing::reload::{self, LiveTable};
use crate::sip;

/// How long cleared calls get to finish their signalling before we exit anyway.
const CLEAR_WAIT: Duration = Duration::from_secs(2);
/// How long the spans and SIP keep running after the last call ended.
const LINGER: Duration = Duration::from_millis(300);

pub(super) fn run(args: &RunArgs) -> ExitCode {
    match daemon(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dialgate run: {message}");
            ExitCode::from(2)
        }
    }
}

/// `FIRST-LAST` with FIRST <= LAST, both above 1023.
pub(super) fn parse_ports(text: &str) -> Result<RangeInclusive<u16>, String> {
    let bad = || format!("--rtp-ports {text:?}: expected FIRST-LAST, e.g. 16384-32767");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if a < 1024 || a >= b {
        return Err(bad());
    }
    Ok(a..=b)
}

pub(super) fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("--{name} {value}: not a number of seconds"))
}

fn daemon(args: &RunArgs) -> Result<(), String> {
    let hardware = Hardware::load(&args.hardware).map_err(|e| e.to_string())?;
    if hardware.spans.is_empty() {
        return Err("the hardware files define no spans".into());
    }
    let live = Arc::new(LiveTable::load(&args.dial_peers).map_err(|e| e.to_string())?);
    let rtp_ports = parse_ports(&args.rtp_ports)?;
    let invite_timeout = seconds("invite-timeout", args.invite_timeout)?;
    let grace = seconds("drain-grace", args.drain_grace)?;
    let keepalive = seconds("keepalive", args.keepalive)?;
    let duration = args.duration.map(|d| seconds("duration", d)).transpose()?;
    let rtp_bind = args.rtp_address.unwrap_or(match args.sip_listen.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    });
    // SIGHUP and file changes reload the dial peers; the watcher logs each result.
    let watcher = reload::watch(live.clone()).map_err(|e| format!("dial-peer watcher: {e}"))?;
    let stop = stop_signal()?;

    let config = GatewayConfig {
        spans: hardware.spans,
        dial_peers: live,
        sip_listen: args.sip_listen,
        sip_tls_listen: args.sip_tls_listen,
        tls: (args.tls_certificate.is_some() || args.tls_key.is_some() || args.tls_ca.is_some())
            .then(|| sip::Tls {
                certificate_chain: args.tls_certificate.clone(),
                private_key: args.tls_key.clone(),
                ca_roots: args.tls_ca.clone(),
            }),
        rtp_bind,
        rtp_ports,
        invite_timeout,
        sip_timers: sip::Timers::default(),
        keepalive: (!keepalive.is_zero()).then(|| sip::Keepalive {
            interval: keepalive,
            ..sip::Keepalive::default()
        }),
        trace: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let result = runtime.block_on(async move {
        let gateway = Gateway::start(config).await.map_err(|e| e.to_string())?;
        eprintln!(
            "dialgate run: SIP on {}; Ctrl-C or SIGTERM drains and stops",
            gateway.sip_addr()
        );
        let until = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.recv_async() => {}
            () = until => {}
        }
        drain(&gateway, grace).await;
        gateway.stop().await;
        Ok::<(), String>(())
    });
    watcher.stop();
    result
}

/// SIGTERM: no new calls, let the active ones end within `grace`, then clear them.
async fn drain(gateway: &Gateway, grace: Duration) {
    let started = now();
    tracing::info!(
        calls = gateway.calls(),
        grace_s = grace.as_secs_f64(),
        "draining"
    );
    gateway.drain();
    while gateway.calls() > 0 && now().duration_since(started) < grace {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if gateway.calls() > 0 {
        tracing::info!(
            calls = gateway.calls(),
            "grace over: clearing the calls left"
        );
        gateway.clear_all();
        let cleared = now();
        while gateway.calls() > 0 && now().duration_since(cleared) < CLEAR_WAIT {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Let the last DISCONNECT/RELEASE and BYE exchanges cross before the lines close.
    tokio::time::sleep(LINGER).await;
    tracing::info!(calls = gateway.calls(), "stopped");
}

/// SIGTERM or SIGINT, delivered once to the runtime.
struct Stop(tokio::sync::mpsc::UnboundedReceiver<()>);

impl Stop {
    async fn recv_async(mut self) {
        let _ = self.0.recv().await;
    }
}

fn stop_signal() -> Result<Stop, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if tx.send(()).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(Stop(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_port_ranges_parse_or_explain() {
        assert_eq!(parse_ports("16384-32767"), Ok(16384..=32767));
        assert!(parse_ports("80-90").is_err());
        assert!(parse_ports("2000-1000").is_err());
        assert!(parse_ports("x").is_err());
    }
}
