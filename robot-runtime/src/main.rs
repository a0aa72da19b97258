//! `hrobot`: thin entry point. Parse the command line and run it.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc, counted so that the rule sandbox can stop a script whose
/// memory grows past its limit (see `sandbox::set_heap_probe`). mimalloc
/// rather than the system allocator: allocation is ≈ 15 % of the
/// instructions of a draft (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: cap::Cap<mimalloc::MiMalloc> = cap::Cap::new(mimalloc::MiMalloc, usize::MAX);

fn main() -> ExitCode {
    sandbox::set_heap_probe(|| ALLOCATOR.allocated());
    robot_runtime::cli::run(robot_runtime::cli::Cli::parse())
}
