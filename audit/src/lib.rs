//! The append-only audit log of Handläggarrobot.
//!
//! Every step of every case is an [`Event`], appended in the same database
//! transaction as the change it records ([`AuditLog::append`]). The events
//! are the leaves of an RFC 6962 Merkle tree; signed checkpoints (C2SP
//! `tlog-checkpoint`, Ed25519 signed notes) commit to the tree, and
//! inclusion and consistency proofs can be checked offline by anyone with
//! the verifier key ([`offline::verify_file`]). Personal data is sealed per
//! data subject, so that erasure deletes a key, not a log entry.
//!
//! Map:
//! - [`hash`], [`tree`], [`proof`]: RFC 6962 hashing, tree shape, proof
//!   verification (a port of transparency-dev/merkle `proof/verify.go`).
//! - [`note`], [`checkpoint`], [`tlog_proof`]: the C2SP text formats.
//! - [`event`]: events and their canonical leaf encoding.
//! - [`crypto`]: master key, subject ids and keys, sealing.
//! - [`store`]: the log in SQLite or PostgreSQL, through the caller's
//!   connection; [`verify`]: full verification of a stored log.
//! - [`offline`]: what `hrobot audit verify-proof` runs.
//! - [`witness`]: checkpoints kept outside the database (a directory), so
//!   that a rollback of the whole database is caught.

pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod crypto;
mod error;
pub mod event;
pub mod hash;
pub mod note;
pub mod offline;
pub mod proof;
pub mod secret;
pub mod store;
pub mod tlog_proof;
pub mod tree;
pub mod verify;
pub mod witness;

pub use checkpoint::{Checkpoint, SignedCheckpoint};
pub use clock::{Clock, FixedClock, SystemClock};
pub use config::AuditSettings;
pub use crypto::{MasterKey, MasterKeys, SubjectId};
pub use error::AuditError;
pub use event::{Actor, CaseRef, Event, EventKind, LeafEvent, RulesetHash};
pub use hash::Hash;
pub use note::{NoteSigner, NoteVerifier};
pub use store::{AuditConnection, AuditLog, CheckpointPolicy, Db, postgres_migrator, sqlite_migrator};
pub use tlog_proof::TlogProof;
pub use verify::VerifyReport;
