//! `hrobot config check`.

use crate::config::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration: syntax, robots, schedules, rulesets, folders, keys.
    Check,
}

pub fn run(settings: Settings, cmd: ConfigCommand) -> u8 {
    match cmd {
        ConfigCommand::Check => {
            let mut problems = settings.check();
            if let Err(e) = settings.approval.check() {
                problems.push(e);
            }
            let audit = crate::keys::audit_settings(&settings);
            if let Err(e) = audit.signer() {
                problems.push(format!(
                    "audit signing key {}: {e}",
                    settings.signing_key_file().display()
                ));
            }
            if let Err(e) = audit.require_master_keys() {
                problems.push(format!("master key: {e}"));
            }
            if problems.is_empty() {
                println!("ok: {} robot(s), database {}", settings.robots.len(), engine(&settings));
                for r in &settings.robots {
                    println!(
                        "  {}: {} ({}), {}",
                        r.name,
                        r.schedule,
                        r.time_zone,
                        if r.enabled { "enabled" } else { "disabled" }
                    );
                }
                0
            } else {
                for p in &problems {
                    eprintln!("{p}");
                }
                1
            }
        }
    }
}

fn engine(s: &Settings) -> &'static str {
    if s.database_url().expose().starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    }
}
