//! The audit settings, in one small struct so that the runtime can fold it
//! into its TOML configuration. The command line fills it from flags and
//! environment variables:
//!
//! | setting | flag | environment | default |
//! |---|---|---|---|
//! | database URL | `--db` | `HROBOT_DATABASE_URL` | `sqlite://hrobot.sqlite` |
//! | origin | `--origin` | `HROBOT_AUDIT_ORIGIN` | the signing key's name |
//! | signing key file | `--signing-key` | `HROBOT_AUDIT_SIGNING_KEY` | none |
//! | verifier key | `--key` | `HROBOT_AUDIT_VERIFIER_KEY` | derived from the signing key |
//! | master key(s) | — | `HROBOT_MASTER_KEY` | none |
//! | master key file | `--master-key-file` | `HROBOT_MASTER_KEY_FILE` | none |
//! | checkpoint every N events | `--checkpoint-every-events` | `HROBOT_AUDIT_CHECKPOINT_EVENTS` | 1000 |
//! | checkpoint every T seconds | `--checkpoint-every-secs` | `HROBOT_AUDIT_CHECKPOINT_SECS` | 60 |
//! | witness directory | `--witness-dir` | `HROBOT_AUDIT_WITNESS_DIR` | none |
//!
//! The witness directory receives a copy of every signed checkpoint (see
//! [`crate::witness`]); `verify` checks the log against the newest one.
//! In production it is on another machine or mount than the database.

use crate::crypto::MasterKeys;
use crate::error::AuditError;
use crate::note::{NoteSigner, NoteVerifier};
use crate::secret::Secret;
use crate::store::CheckpointPolicy;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://hrobot.sqlite";

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    pub database_url: String,
    pub origin: Option<String>,
    pub signing_key_file: Option<PathBuf>,
    pub verifier_key: Option<String>,
    /// The master keyring itself (current key first). Prefer the file.
    #[serde(skip)]
    pub master_key: Option<Secret<String>>,
    pub master_key_file: Option<PathBuf>,
    pub checkpoint_every_events: u64,
    pub checkpoint_every_secs: u64,
    /// Where signed checkpoints are also written, outside the database.
    pub witness_dir: Option<PathBuf>,
}

impl Default for AuditSettings {
    fn default() -> AuditSettings {
        let policy = CheckpointPolicy::default();
        AuditSettings {
            database_url: DEFAULT_DATABASE_URL.to_string(),
            origin: None,
            signing_key_file: None,
            verifier_key: None,
            master_key: None,
            master_key_file: None,
            checkpoint_every_events: policy.every_events,
            checkpoint_every_secs: policy.every.as_secs(),
            witness_dir: None,
        }
    }
}

fn read_secret_file(path: &Path, what: &str) -> Result<Secret<String>, AuditError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "{what} file is readable by group or others; chmod 600 it");
        }
    }
    std::fs::read_to_string(path)
        .map(Secret::new)
        .map_err(|e| AuditError::Config(format!("cannot read the {what} file {}: {e}", path.display())))
}

impl AuditSettings {
    pub fn policy(&self) -> CheckpointPolicy {
        CheckpointPolicy {
            every_events: self.checkpoint_every_events.max(1),
            every: Duration::from_secs(self.checkpoint_every_secs.max(1)),
        }
    }

    /// The witness, if one is configured.
    pub fn witness(&self) -> Option<crate::witness::Witness> {
        self.witness_dir
            .as_ref()
            .map(|d| crate::witness::Witness::new(crate::witness::WitnessDir::new(d)))
    }

    /// The signing key, from its file. Its name must be the origin, if one
    /// is configured.
    pub fn signer(&self) -> Result<NoteSigner, AuditError> {
        let path = self
            .signing_key_file
            .as_ref()
            .ok_or_else(|| AuditError::Config("no signing key (--signing-key or HROBOT_AUDIT_SIGNING_KEY)".into()))?;
        let text = read_secret_file(path, "signing key")?;
        let signer = NoteSigner::from_skey(text.expose().trim())?;
        if let Some(origin) = &self.origin
            && origin != signer.name()
        {
            return Err(AuditError::OriginMismatch {
                origin: origin.clone(),
                key_name: signer.name().to_string(),
            });
        }
        Ok(signer)
    }

    /// The origin: configured, or the signing key's name.
    pub fn origin(&self) -> Result<String, AuditError> {
        match &self.origin {
            Some(o) => Ok(o.clone()),
            None => Ok(self.signer()?.name().to_string()),
        }
    }

    /// The trusted verifier keys: the configured one, else the signing
    /// key's own.
    pub fn verifiers(&self) -> Result<Vec<NoteVerifier>, AuditError> {
        match &self.verifier_key {
            Some(v) => Ok(vec![NoteVerifier::from_vkey(v.trim())?]),
            None if self.signing_key_file.is_some() => Ok(vec![self.signer()?.verifier()]),
            None => Err(AuditError::Config(
                "no verifier key (--key or HROBOT_AUDIT_VERIFIER_KEY, or a signing key)".into(),
            )),
        }
    }

    /// The master keyring, if configured (the environment variable wins
    /// over the file).
    pub fn master_keys(&self) -> Result<Option<MasterKeys>, AuditError> {
        if let Some(text) = &self.master_key {
            return Ok(Some(MasterKeys::parse(text.expose())?));
        }
        match &self.master_key_file {
            Some(path) => Ok(Some(MasterKeys::parse(read_secret_file(path, "master key")?.expose())?)),
            None => Ok(None),
        }
    }

    pub fn require_master_keys(&self) -> Result<MasterKeys, AuditError> {
        self.master_keys()?.ok_or_else(|| {
            AuditError::Config("no master key (HROBOT_MASTER_KEY or --master-key-file / HROBOT_MASTER_KEY_FILE)".into())
        })
    }
}
