//! The audit log's keys: the checkpoint signing key and the master key
//! that wraps the per-subject keys. Both live outside the database.

use crate::config::Settings;
use anyhow::Context;
use audit::{AuditLog, AuditSettings, CheckpointPolicy, MasterKey, MasterKeys, NoteSigner};
use std::path::Path;
use std::sync::Arc;

/// The audit settings the audit crate understands, from ours.
pub fn audit_settings(s: &Settings) -> AuditSettings {
    let mut a = AuditSettings {
        database_url: s.database_url().expose().clone(),
        origin: s.audit.origin.clone(),
        signing_key_file: Some(s.signing_key_file()),
        master_key_file: Some(s.master_key_file()),
        checkpoint_every_events: s.audit.checkpoint_every_events,
        checkpoint_every_secs: s.audit.checkpoint_every_secs,
        // Unset: the data directory's `audit-witness/` when there is one
        // (the demo keeps its witness there), so `hrobot audit --data-dir D
        // verify` checks against it without being told.
        witness_dir: s.audit.witness_dir.clone().or_else(|| {
            let d = s.data_dir.join("audit-witness");
            d.is_dir().then_some(d)
        }),
        ..AuditSettings::default()
    };
    if let Ok(k) = std::env::var("HROBOT_MASTER_KEY") {
        a.master_key = Some(audit::secret::Secret::new(k));
    }
    a
}

pub fn audit_log(s: &Settings, clock: Arc<dyn crate::clock::Clock>) -> anyhow::Result<AuditLog> {
    let a = audit_settings(s);
    let signer = a.signer().context("the audit signing key")?;
    let keys = a.require_master_keys().context("the master key")?;
    let origin = a.origin()?;
    let policy: CheckpointPolicy = a.policy();
    Ok(AuditLog::new(
        &origin,
        signer,
        keys,
        policy,
        Arc::new(crate::clock::AuditClock(clock)),
    )?)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        #[cfg(not(unix))]
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Creates the signing key and the master key when they do not exist (for
/// the demo and first-time set-up). Never overwrites a key.
pub fn ensure_keys(s: &Settings, origin: &str) -> anyhow::Result<()> {
    let skey = s.signing_key_file();
    if !skey.exists() {
        let signer = NoteSigner::generate(origin).context("generating the signing key")?;
        write_private(&skey, &format!("{}\n", signer.to_skey().expose()))?;
    }
    let mkey = s.master_key_file();
    if !mkey.exists() && std::env::var_os("HROBOT_MASTER_KEY").is_none() {
        let key = MasterKey::generate();
        write_private(&mkey, &format!("{}\n", key.to_text().expose()))?;
    }
    // Fail early if what is there is unreadable.
    let a = audit_settings(s);
    a.signer()?;
    let _: MasterKeys = a.require_master_keys()?;
    Ok(())
}
