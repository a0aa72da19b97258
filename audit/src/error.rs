//! The audit crate's error type. Messages carry sequence numbers, sizes and
//! ids, never personal data or secrets.

use crate::checkpoint::CheckpointError;
use crate::crypto::KeyError;
use crate::event::EventError;
use crate::note::NoteError;
use crate::proof::ProofError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// From the direct SQLite reads of `verify`.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("event: {0}")]
    Event(#[from] EventError),
    #[error("keys: {0}")]
    Key(#[from] KeyError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("signing key: {0}")]
    Note(#[from] NoteError),
    #[error("proof: {0}")]
    Proof(#[from] ProofError),
    #[error("stored audit state is inconsistent: {0}")]
    Corrupt(String),
    #[error("sequence number {seq} is not in the log (size {size})")]
    NoSuchEvent { seq: u64, size: u64 },
    #[error("no checkpoint covers sequence number {0} yet; create one with `hrobot audit checkpoint --new`")]
    NotCheckpointed(u64),
    #[error("no checkpoint at tree size {0}")]
    NoCheckpointAt(u64),
    #[error("the log has no checkpoint yet")]
    NoCheckpoint,
    #[error("events of kind erased are appended only by erase")]
    ReservedKind,
    #[error("the origin {origin:?} must be the signing key's name {key_name:?}")]
    OriginMismatch { origin: String, key_name: String },
    #[error("unsupported database URL: use sqlite:… or postgres://…")]
    UnsupportedUrl,
    #[error("invalid erasure reason: {0}")]
    Reason(&'static str),
    #[error("{0}")]
    Witness(#[from] crate::witness::WitnessError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("internal: {0}")]
    Internal(String),
}
