//! Wiring: the only module that knows every layer. It loads configuration, opens
//! lines, spawns the driver threads and runs the commands the CLI names.

use std::process::ExitCode;

use crate::cli::{Cli, Command, LineCommand};

mod sim;
mod watch;

mod demo;
mod gateway;
mod media;
mod peers;
mod run;

pub use gateway::{Gateway, GatewayConfig, StartError, Trace, TraceKind};

/// Run the command the user asked for.
pub fn run(cli: Cli) -> ExitCode {
    init_logging(if matches!(cli.command, Command::Run(_)) {
        "info"
    } else {
        "warn"
    });
    match cli.command {
        Command::Line(LineCommand::Watch(args)) => watch::run(&args),
        Command::Dialplan(args) => crate::routing::command::dialplan(&args),
        Command::Check(args) => crate::routing::command::check(&args),
        Command::Schema(args) => crate::routing::command::schema(&args),
        Command::Run(args) => run::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Sim(args) => sim::run(&args),
    }
}

/// Logs go to stderr so that command output on stdout stays clean for scripts.
/// `RUST_LOG` (e.g. `RUST_LOG=dialgate=debug`) chooses the level; the default is
/// warnings, as a turn-up tool prints its own findings (INFO for `dialgate run`, whose
/// logs are its output). rsipstack would print whole SIP
/// messages at INFO, so it is held at WARN whatever the default; whole messages are
/// logged by us under `dialgate::sip::messages=debug`, like `debug ccsip messages`.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        .add_directive("rsipstack=warn".parse().expect("a valid directive"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
