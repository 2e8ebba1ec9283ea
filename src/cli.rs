//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// dialgate: an ISDN PRI (T1/E1) to SIP gateway.
#[derive(Debug, Parser)]
#[command(name = "dialgate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Line tools: turn up and watch a span.
    #[command(subcommand)]
    Line(LineCommand),
    /// Explain how a number is routed: inbound peer, translations, hunt list.
    Dialplan(DialplanArgs),
    /// Validate and lint the dial-peer files.
    Check(CheckArgs),
    /// Print the JSON Schema of the dial-peer YAML (for editors).
    Schema(SchemaArgs),
    /// Run the gateway: every span, the SIP side and the call mapper.
    Run(RunArgs),
    /// A self-contained demonstration: gateway, simulated PBX and SIP endpoint in one
    /// process, calls both ways, a ladder per call.
    Demo(DemoArgs),
    /// A simulated PBX at the far end of a span: scenarios, checks, clock master.
    Sim(Box<SimArgs>),
}

/// `dialgate line ...`
#[derive(Debug, Subcommand)]
pub enum LineCommand {
    /// Open a span and print alignment and alarm changes, counters once a second and
    /// every D-channel frame; Ctrl-C stops.
    Watch(WatchArgs),
}

/// `dialgate line watch [--hardware PATH] [--span NAME] [--pcap FILE]`
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Hardware YAML: a file, or a directory whose *.yaml files are all loaded.
    #[arg(long, default_value = "hardware")]
    pub hardware: PathBuf,
    /// The span to watch (default: the first span defined).
    #[arg(long)]
    pub span: Option<String>,
    /// Also write every D-channel frame to this pcapng file (Wireshark: LAPD, Q.931).
    /// Overrides the span's `pcap:` key.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Seconds between counter lines; 0 turns them off.
    #[arg(long, default_value_t = 1)]
    pub counters_every: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
}

/// `dialgate dialplan NUMBER ...`
#[derive(Debug, clap::Args)]
pub struct DialplanArgs {
    /// The called number (DNIS or Request-URI user part).
    pub number: String,
    /// The calling number (ANI).
    #[arg(long)]
    pub calling: Option<String>,
    /// The call arrives from the PRI on this span (default: the first span the
    /// dial peers name).
    #[arg(long, conflicts_with = "from_ip")]
    pub from: Option<String>,
    /// The call arrives by SIP from this address.
    #[arg(long)]
    pub from_ip: Option<std::net::IpAddr>,
    /// Dial-peer directory (every *.yaml directly in it) or one file.
    #[arg(long, default_value = "dial-peers")]
    pub dial_peers: std::path::PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `dialgate check ...`
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Dial-peer directory (every *.yaml directly in it) or one file.
    #[arg(long, default_value = "dial-peers")]
    pub dial_peers: std::path::PathBuf,
    /// Hardware file or directory, loaded as the gateway loads it: also check that
    /// every span the dial peers name exists.
    #[arg(long)]
    pub hardware: Option<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `dialgate schema`
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

/// `dialgate run [--hardware PATH] [--dial-peers PATH] ...`
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Hardware YAML: a file, or a directory whose *.yaml files are all loaded.
    #[arg(long, default_value = "hardware")]
    pub hardware: PathBuf,
    /// Dial-peer directory (every *.yaml directly in it) or one file.
    #[arg(long, default_value = "dial-peers")]
    pub dial_peers: PathBuf,
    /// SIP listening address (UDP).
    #[arg(long, default_value = "0.0.0.0:5060")]
    pub sip_listen: std::net::SocketAddr,
    /// Address of our RTP sockets and of our SDP (default: the SIP address, or
    /// 127.0.0.1 when that is unspecified).
    #[arg(long)]
    pub rtp_address: Option<std::net::IpAddr>,
    /// RTP port range, `FIRST-LAST`.
    #[arg(long, default_value = "16384-32767")]
    pub rtp_ports: String,
    /// Seconds an INVITE may go without any response before the next dial peer is tried.
    #[arg(long, default_value_t = 8.0)]
    pub invite_timeout: f64,
    /// Seconds active calls may continue after SIGTERM before they are cleared.
    #[arg(long, default_value_t = 30.0)]
    pub drain_grace: f64,
    /// Seconds between SIP OPTIONS keepalives to each peer (0: none).
    #[arg(long, default_value_t = 30.0)]
    pub keepalive: f64,
    /// Stop (as on SIGTERM) after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Also listen for SIP over TLS here (needs --tls-certificate and --tls-key).
    #[arg(long, requires_all = ["tls_certificate", "tls_key"])]
    pub sip_tls_listen: Option<std::net::SocketAddr>,
    /// Our TLS certificate chain, PEM, leaf first.
    #[arg(long)]
    pub tls_certificate: Option<PathBuf>,
    /// The private key of the TLS certificate, PEM.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that verify `transport: tls` peers (default: the webpki roots).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
}

/// `dialgate demo`
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// E1 (A-law, CRC-4, EuroISDN) instead of T1.
    #[arg(long)]
    pub e1: bool,
    /// Print the ladders only for calls that did not do what they should.
    #[arg(long)]
    pub quiet: bool,
}
/// `dialgate sim [--listen URL | --connect URL | --pty] [span keys] [--speed N] [--scenario FILE]...`
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Listen for the gateway: tcp-listen://HOST:PORT (or HOST:PORT). The default, on
    /// 127.0.0.1:7001 for T1 and 127.0.0.1:7002 for E1, unless --hardware names a line.
    #[arg(long, conflicts_with_all = ["connect", "pty"])]
    pub listen: Option<String>,
    /// Connect to a gateway listening at tcp://HOST:PORT.
    #[arg(long, conflicts_with = "pty")]
    pub connect: Option<String>,
    /// Create a pseudo-terminal; its slave path is printed first (`PTY /dev/pts/N`).
    #[arg(long, conflicts_with = "serial")]
    pub pty: bool,
    /// Open a serial device, e.g. another simulator's pty (sim against sim).
    #[arg(long, conflicts_with_all = ["listen", "connect"])]
    pub serial: Option<PathBuf>,
    /// Hardware YAML whose span the simulator mirrors (the other side, same framing,
    /// switch, channels and alarm timers; it listens where the span connects).
    #[arg(long)]
    pub hardware: Option<PathBuf>,
    /// The span of --hardware (default: the first).
    #[arg(long, requires = "hardware")]
    pub span: Option<String>,
    /// t1 | e1
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Short for --type e1.
    #[arg(long, conflicts_with = "kind")]
    pub e1: bool,
    /// T1 framing: esf | sf
    #[arg(long)]
    pub framing: Option<String>,
    /// E1 CRC-4: on | off
    #[arg(long)]
    pub crc4: Option<String>,
    /// The side the simulator plays: user | network (default user: a PBX).
    #[arg(long)]
    pub side: Option<String>,
    /// national | 5ess | dms100 | euroisdn
    #[arg(long)]
    pub switch: Option<String>,
    /// internal (default: the simulator is the clock master) | line
    #[arg(long)]
    pub clock: Option<String>,
    /// mulaw | alaw
    #[arg(long)]
    pub law: Option<String>,
    /// B-channels in service, e.g. "1-23" or "1-15,17-31".
    #[arg(long)]
    pub b_channels: Option<String>,
    /// Red alarm after this much OOF (ms).
    #[arg(long)]
    pub red_after_ms: Option<u64>,
    /// Alignment must hold this long before the span is up (ms).
    #[arg(long)]
    pub recovery_after_ms: Option<u64>,
    /// No bytes this long is loss of signal (ms).
    #[arg(long)]
    pub los_after_ms: Option<u64>,
    /// Run the line and every timer N times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Scenario files, run one after another; without one, a passive PBX that answers
    /// every call.
    #[arg(long)]
    pub scenario: Vec<PathBuf>,
    /// Play the scenario's `peer:` steps on the mirrored span (sim against sim).
    #[arg(long)]
    pub play_peer: bool,
    /// Seed of the line impairments.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print every Q.931 message sent and received.
    #[arg(long)]
    pub trace: bool,
    /// Stop after this many seconds of real time.
    #[arg(long)]
    pub duration: Option<f64>,
}
