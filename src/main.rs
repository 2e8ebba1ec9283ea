//! The `dialgate` binary: parse arguments and hand over to [`dialgate::app`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = dialgate::cli::Cli::parse();
    dialgate::app::run(cli)
}
