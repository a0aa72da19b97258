//! `hrobot backup DEST` and `hrobot restore SRC` (see `crate::backup`).
//!
//! Exit codes: `backup` 0 written, 1 failed. `restore` 0 restored and
//! verified, 1 refused (the target is not empty, or the backup did not
//! verify: nothing was put in place) or failed.

use crate::backup::{self, RestoreError};
use crate::clock::SystemClock;
use crate::config::Settings;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// A new (or empty) folder for the backup.
    dest: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A folder written by `hrobot backup`.
    src: PathBuf,
    /// Replace what the data directory and database hold (the keys are kept).
    #[arg(long)]
    force: bool,
}

pub fn backup(settings: Settings, args: BackupArgs) -> u8 {
    let rt = match super::tokio_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    match rt.block_on(backup::backup(&settings, &args.dest, &SystemClock)) {
        Ok(m) => {
            let cases = m.tables.get("cases").copied().unwrap_or(0);
            println!(
                "backup written to {} ({}, {} cases, {} files)",
                args.dest.display(),
                m.engine,
                cases,
                m.files.len()
            );
            println!(
                "audit log: {} events, root {}{}",
                m.audit_log.size,
                m.audit_log.root,
                m.audit_log
                    .latest_checkpoint
                    .map(|s| format!(", latest checkpoint at {s}"))
                    .unwrap_or_default()
            );
            println!("manifest: {}", args.dest.join(backup::MANIFEST).display());
            println!();
            println!("THE KEYS ARE NOT IN THIS BACKUP. Back them up separately, to a place kept apart from");
            println!("the database backups (without them the log cannot be verified or appended to, and");
            println!("the personal data in it cannot be read):");
            for k in &m.keys_not_included {
                println!("  {k}");
            }
            if std::env::var_os("HROBOT_MASTER_KEY").is_some() {
                println!("  and the master key held in HROBOT_MASTER_KEY");
            }
            println!(
                "for example: install -m 0600 KEYFILE /media/keys/ on encrypted media; see ops/runbooks/audit-keys.md"
            );
            0
        }
        Err(e) => {
            eprintln!("error: backup failed: {e:#}");
            1
        }
    }
}

pub fn restore(settings: Settings, args: RestoreArgs) -> u8 {
    let rt = match super::tokio_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    match rt.block_on(backup::restore(&settings, &args.src, args.force)) {
        Ok(r) => {
            println!(
                "restored from {} (made {} by hrobot {})",
                args.src.display(),
                r.manifest.created.to_rfc3339(),
                r.manifest.hrobot_version
            );
            println!(
                "ok: the audit log verifies ({} events, root {}){}",
                r.events,
                r.manifest.audit_log.root,
                r.witness
                    .map(|s| format!(" and extends the backup's witness checkpoint at {s}"))
                    .unwrap_or_default()
            );
            println!(
                "ok: {} cases agree with the audit log; {} files restored",
                r.cases, r.files
            );
            println!(
                "note: events after the backup are not in the restored log; a witness kept elsewhere will report \
                 the log as rolled back (see ops/runbooks/operations.md \"Backup and restore\")"
            );
            0
        }
        Err(RestoreError::Refused(problems)) => {
            println!("REFUSED: the backup did not verify; nothing was restored.");
            for p in problems {
                println!("  {p}");
            }
            1
        }
        Err(RestoreError::NotEmpty(why)) => {
            eprintln!("error: {why}");
            1
        }
        Err(RestoreError::Other(e)) => {
            eprintln!("error: restore failed, nothing was restored: {e:#}");
            1
        }
    }
}
