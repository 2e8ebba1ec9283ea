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
