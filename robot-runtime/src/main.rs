//! `hrobot`: thin entry point. Parse the command line and run it.

use clap::Parser;
use std::process::ExitCode;

/// Counts heap bytes so that the rule sandbox can stop a script whose
/// memory grows past its limit (see `sandbox::set_heap_probe`).
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn main() -> ExitCode {
    sandbox::set_heap_probe(|| ALLOCATOR.allocated());
    robot_runtime::cli::run(robot_runtime::cli::Cli::parse())
}
