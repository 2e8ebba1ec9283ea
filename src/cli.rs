//! Command-line arguments.

use clap::{Parser, Subcommand};

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
    /// Line tools.
    #[command(subcommand)]
    Line(LineCommand),
}

/// `dialgate line ...`
#[derive(Debug, Subcommand)]
pub enum LineCommand {
    /// Open a span and print alignment, alarms, counters and D-channel frames.
    Watch,
}
