//! `hrobot`: thin entry point. Parse the command line, set up logging, run.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = robot_runtime::cli::Cli::parse();
    robot_runtime::telemetry::init(cli.log_format, cli.verbose);
    robot_runtime::cli::run(cli)
}
