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
