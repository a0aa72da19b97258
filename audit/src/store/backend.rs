//! The SQL each engine runs, behind one sealed trait. Everything above this
//! module is engine-independent.

use crate::hash::Hash;
use crate::tree::NodeId;
use std::future::Future;

/// The sequencer row.
#[derive(Debug, Clone)]
pub struct Head {
    pub size: u64,
    pub frontier: Vec<u8>,
    pub checkpoint_size: u64,
    pub checkpoint_us: i64,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: u64,
    pub event_id: [u8; 16],
    pub kind: &'static str,
    pub case_ref: Option<String>,
    pub actor: String,
    pub time_us: i64,
    pub leaf: Vec<u8>,
    pub leaf_hash: Hash,
}

/// An event row as read back, unvalidated.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    pub event_id: Vec<u8>,
    pub kind: String,
    pub case_ref: Option<String>,
    /// `None` only if the column was emptied behind the log's back.
    pub actor: Option<String>,
    pub time_us: i64,
    pub leaf: Vec<u8>,
    pub leaf_hash: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct StoredNode {
    pub level: i64,
    pub idx: i64,
    pub hash: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub size: i64,
    pub root: Vec<u8>,
    pub note: Vec<u8>,
    pub created_us: i64,
}

#[derive(Debug, Clone)]
pub struct SubjectKeyRow {
    pub key_id: Vec<u8>,
    pub subject_id: Vec<u8>,
    pub master_key_id: Vec<u8>,
    pub wrapped: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct KeyringRow {
    pub purpose: String,
    pub master_key_id: Vec<u8>,
    pub wrapped: Vec<u8>,
}

/// Which events a listing shows: each condition that is set must hold.
/// Every one is answered by an index (`audit_events_by_case`, `_by_actor`,
/// `_by_kind`, `_by_time`; migration 10004).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// The case reference, e.g. `case:17`.
    pub case_ref: Option<String>,
    /// Who did it, e.g. `user:anna` or `robot:demo`.
    pub actor: Option<String>,
    pub kind: Option<crate::EventKind>,
    /// From this time on (microseconds since the epoch, inclusive).
    pub from_us: Option<i64>,
    /// Before this time (exclusive).
    pub until_us: Option<i64>,
}

/// Where a listing starts, by sequence number (keyset paging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFrom {
    /// The newest events, going back.
    Newest,
    /// Events older than this one, going back.
    Before(u64),
    /// Events newer than this one, going forward.
    After(u64),
}

type R<T> = Result<T, sqlx::Error>;

fn bad_meta() -> sqlx::Error {
    sqlx::Error::Protocol("unexpected event metadata".into())
}

fn unhex(s: &str) -> R<Vec<u8>> {
    hex::decode(s).map_err(|_| bad_meta())
}

fn unhex_text(s: &str) -> R<String> {
    String::from_utf8(unhex(s)?).map_err(|_| bad_meta())
}

/// An event row from its columns, the small ones packed by the query as
/// `hex(event_id),hex(kind),hex(case_ref) or -,time_us,hex(actor) or -`.
pub(crate) fn stored_event(seq: i64, leaf: Vec<u8>, leaf_hash: Vec<u8>, meta: String) -> R<StoredEvent> {
    let mut f = meta.split(',');
    let mut next = || f.next().ok_or_else(bad_meta);
    Ok(StoredEvent {
        seq,
        event_id: unhex(next()?)?,
        kind: unhex_text(next()?)?,
        case_ref: match next()? {
            "-" => None,
            h => Some(unhex_text(h)?),
        },
        time_us: next()?.parse().map_err(|_| bad_meta())?,
        actor: match next()? {
            "-" => None,
            h => Some(unhex_text(h)?),
        },
        leaf,
        leaf_hash,
    })
}

pub(crate) fn to_i64(v: u64) -> R<i64> {
    i64::try_from(v).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// What the log needs from a connection. Implemented for
/// `sqlx::SqliteConnection` and `sqlx::PgConnection`; all writes assume the
/// caller's transaction.
pub trait Backend: Send {
    /// Takes the sequencer lock for the rest of the transaction and reads
    /// the head row.
    fn lock_head(&mut self) -> impl Future<Output = R<Option<Head>>> + Send;
    /// Reads the head row without locking.
    fn read_head(&mut self) -> impl Future<Output = R<Option<Head>>> + Send;
    fn update_head(&mut self, head: &Head) -> impl Future<Output = R<()>> + Send;
    fn insert_events(&mut self, rows: &[EventRow]) -> impl Future<Output = R<()>> + Send;
    fn insert_nodes(&mut self, nodes: &[(NodeId, Hash)]) -> impl Future<Output = R<()>> + Send;
    /// Hashes of the given nodes; level 0 comes from the events' leaf hashes.
    fn get_nodes(&mut self, ids: &[NodeId]) -> impl Future<Output = R<Vec<(NodeId, Vec<u8>)>>> + Send;
    fn events_page(&mut self, from_seq: u64, limit: u32) -> impl Future<Output = R<Vec<StoredEvent>>> + Send;
    /// The sequence numbers and leaves of the events that pass `filter`,
    /// from `from` on in its direction, at most `limit`.
    fn events_listed(
        &mut self,
        filter: &EventFilter,
        from: ListFrom,
        limit: u32,
    ) -> impl Future<Output = R<Vec<(i64, Vec<u8>)>>> + Send;
    /// Nodes in (level, idx) order after the given one.
    fn nodes_page(&mut self, after: (i64, i64), limit: u32) -> impl Future<Output = R<Vec<StoredNode>>> + Send;
    /// Count, lowest and highest index of the stored nodes at one level.
    fn level_shape(&mut self, level: i64) -> impl Future<Output = R<(i64, Option<i64>, Option<i64>)>> + Send;
    fn node_count(&mut self) -> impl Future<Output = R<i64>> + Send;
    /// The hashes at one level from an index on, in index order.
    fn level_hashes(&mut self, level: i64, from_idx: i64, limit: u32) -> impl Future<Output = R<Vec<Vec<u8>>>> + Send;
    fn checkpoints(&mut self) -> impl Future<Output = R<Vec<StoredCheckpoint>>> + Send;
    fn checkpoint_latest(&mut self) -> impl Future<Output = R<Option<StoredCheckpoint>>> + Send;
    /// Checkpoints with a larger tree size, smallest first.
    fn checkpoints_after(&mut self, size: u64, limit: u32) -> impl Future<Output = R<Vec<StoredCheckpoint>>> + Send;
    fn checkpoint_at(&mut self, size: u64) -> impl Future<Output = R<Option<StoredCheckpoint>>> + Send;
    fn insert_checkpoint(&mut self, cp: &StoredCheckpoint) -> impl Future<Output = R<()>> + Send;
    fn keyring_get(&mut self, purpose: &str) -> impl Future<Output = R<Option<KeyringRow>>> + Send;
    fn keyring_all(&mut self) -> impl Future<Output = R<Vec<KeyringRow>>> + Send;
    fn keyring_insert(&mut self, row: &KeyringRow) -> impl Future<Output = R<()>> + Send;
    fn keyring_update(&mut self, row: &KeyringRow) -> impl Future<Output = R<()>> + Send;
    fn subject_key_for(&mut self, subject_id: &[u8]) -> impl Future<Output = R<Option<SubjectKeyRow>>> + Send;
    fn subject_key_by_id(&mut self, key_id: &[u8]) -> impl Future<Output = R<Option<SubjectKeyRow>>> + Send;
    fn subject_key_insert(&mut self, row: &SubjectKeyRow, created_seq: u64) -> impl Future<Output = R<()>> + Send;
    fn subject_keys_delete(&mut self, subject_id: &[u8]) -> impl Future<Output = R<u64>> + Send;
    fn subject_keys_all(&mut self) -> impl Future<Output = R<Vec<SubjectKeyRow>>> + Send;
    fn subject_key_update(&mut self, row: &SubjectKeyRow) -> impl Future<Output = R<()>> + Send;
}
