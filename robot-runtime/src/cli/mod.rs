#![allow(clippy::print_stdout, reason = "the command line writes its results to stdout")]

//! The command line. Each verb lives in its own module.

use crate::config::Settings;
use crate::telemetry::LogFormat;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// `println!` for the command line: a closed stdout (`hrobot audit verify
/// | head -1`) ends the process quietly with 141, the shell's code for
/// SIGPIPE, instead of std's panic (exit 101). Defined before the verbs'
/// modules so that theirs is this one.
macro_rules! println {
    () => {
        $crate::cli::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}

/// `print!` with the same ending on a closed stdout.
#[allow(unused_macros, reason = "kept beside println! so no verb falls back to std's")]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::out::text(format_args!($($arg)*))
    };
}

mod out;

mod audit;
mod backup;
mod cases;
mod config_cmd;
mod demo;
mod evaluate;
mod robots;
mod rules;
mod run;
mod serve;
mod users;

#[derive(Debug, Parser)]
#[command(
    name = "hrobot",
    version,
    about = "Handläggarrobot: drafts decisions on ekonomiskt bistånd for officials to approve"
)]
pub struct Cli {
    /// Log format on stderr (default: the configuration's, else human).
    #[arg(long, global = true, value_enum, env = "HROBOT_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The configuration file (TOML).
    #[arg(long, global = true, env = "HROBOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// The data directory (overrides the configuration and HROBOT_DATA_DIR).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
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
    /// Run the service: scheduler, workers, HTTP (/healthz, /readyz, /metrics).
    Serve(serve::Args),
    /// Run one robot now, with progress and a summary.
    Run(run::Args),
    /// The embedded default: SQLite, the demo inbox, the web UI on localhost.
    Demo(demo::Args),
    /// Look at cases (for IT).
    #[command(subcommand)]
    Cases(cases::CasesCommand),
    /// Pause, resume and list robots and their runs.
    #[command(subcommand)]
    Robots(robots::RobotsCommand),
    /// Check the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// The audit log: keys, verify, prove, checkpoint, verify-proof, export, erase.
    Audit(audit::Args),
    /// Users of the web UI and API: add, passwd, disable, enable, list.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Back up the database and data directory (not the keys) while the service runs.
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty data directory and database, verified first.
    Restore(backup::RestoreArgs),
}

pub fn run(cli: Cli) -> ExitCode {
    let Cli {
        log_format,
        verbose,
        config,
        data_dir,
        command,
    } = cli;
    // Before anything is written: files of ours are for us alone (the
    // database, letters, keys, exports all hold personal data).
    crate::private::restrict_umask();
    let quiet = || crate::telemetry::init(log_format.unwrap_or_default(), verbose, None);
    match command {
        Command::Evaluate(args) => {
            quiet();
            evaluate::run(args)
        }
        Command::Rules(cmd) => {
            quiet();
            let settings = if cmd.needs_store() {
                match load(config.as_deref(), data_dir) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                None
            };
            rules::run(cmd, settings)
        }
        Command::Demo(args) => demo::run(args, data_dir, log_format, verbose),
        Command::Audit(args) => {
            quiet();
            // The service's configuration says where the log and its keys are,
            // when one is given; flags and HROBOT_… variables override it.
            let base = if config.is_some() || data_dir.is_some() {
                match load(config.as_deref(), data_dir) {
                    Ok(s) => Some(crate::keys::audit_settings(&s)),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                None
            };
            audit::run(args, base)
        }
        other => {
            let settings = match load(config.as_deref(), data_dir) {
                Ok(s) => s,
                Err(e) => {
                    quiet();
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            let format = log_format.unwrap_or(match settings.log.format {
                crate::config::LogFormatSetting::Human => LogFormat::Human,
                crate::config::LogFormatSetting::Json => LogFormat::Json,
            });
            let level = (verbose == 0 && matches!(other, Command::Serve(_))).then(|| settings.log.level.clone());
            crate::telemetry::init(format, verbose, level.as_deref());
            let code = match other {
                Command::Serve(args) => serve::run(settings, args),
                Command::Run(args) => run::run(settings, args),
                Command::Cases(cmd) => cases::run(settings, cmd),
                Command::Robots(cmd) => robots::run(settings, cmd),
                Command::Config(cmd) => config_cmd::run(settings, cmd),
                Command::User(cmd) => users::run(settings, cmd),
                Command::Backup(args) => backup::backup(settings, args),
                Command::Restore(args) => backup::restore(settings, args),
                Command::Evaluate(_) | Command::Rules(_) | Command::Demo(_) | Command::Audit(_) => 1,
            };
            ExitCode::from(code)
        }
    }
}

fn load(file: Option<&std::path::Path>, data_dir: Option<PathBuf>) -> Result<Settings, crate::config::ConfigError> {
    let mut s = Settings::load(file)?;
    if let Some(d) = data_dir {
        s.data_dir = d;
    }
    Ok(s)
}

/// A multi-threaded async runtime whose threads (workers and the blocking
/// pool that evaluates rules) have the stack the sandbox's limits assume.
pub(crate) fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(EVAL_STACK_BYTES)
        .thread_name("hrobot")
        .build()
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

pub(crate) const EVAL_STACK_BYTES: usize = crate::rulebook::EVAL_STACK_BYTES;

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
