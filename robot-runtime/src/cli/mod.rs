#![allow(clippy::print_stdout, reason = "the command line writes its results to stdout")]

//! The command line. Each verb lives in its own module.

use crate::telemetry::LogFormat;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod evaluate;
mod rules;

#[derive(Debug, Parser)]
#[command(
    name = "hrobot",
    version,
    about = "Handläggarrobot: drafts decisions on ekonomiskt bistånd for officials to approve"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "HROBOT_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate applications with a ruleset and print the draft decisions.
    Evaluate(evaluate::Args),
    /// Work with rulesets: run their test cases, check them.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Evaluate(args) => evaluate::run(args),
        Command::Rules(cmd) => rules::run(cmd),
    }
}

/// Runs `f` on a thread with a large stack: rule evaluation is recursive,
/// and the sandbox's depth limits are sized for this stack.
pub(crate) fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::Builder::new()
        .name("hrobot-eval".into())
        .stack_size(EVAL_STACK_BYTES)
        .spawn(f)
        .ok()?
        .join()
        .ok()
}

pub(crate) const EVAL_STACK_BYTES: usize = 32 * 1024 * 1024;
