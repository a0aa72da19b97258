//! The log in the case database: appends inside the caller's transaction,
//! checkpoints, proofs, erasure, key rotation and export.
//!
//! Every function takes a connection (`&mut sqlx::SqliteConnection` or
//! `&mut sqlx::PgConnection`, which a `sqlx::Transaction` derefs to), never
//! a pool: the case store appends its audit events in the same transaction
//! as the change they record, so both commit or neither does.
//!
//! On SQLite, begin that transaction with `BEGIN IMMEDIATE`
//! (`conn.begin_with("BEGIN IMMEDIATE")`) if it reads before it writes;
//! otherwise a concurrent writer can make its first write fail with
//! `SQLITE_BUSY`. The append itself starts with a write, so the sequencer
//! state it reads cannot go stale.

pub(crate) mod backend;
mod db;
mod engine;
mod postgres;
mod sqlite;
mod sqlite_verify;

pub use backend::{EventFilter, ListFrom};
pub use db::{Db, WITNESS_BATCH, postgres_migrator, run_checkpointer, sqlite_migrator};

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::clock::Clock;
use crate::crypto::{
    KEYRING_SUBJECT_ID, KeyId, MasterKey, MasterKeyId, MasterKeys, SubjectId, SubjectIdKey, SubjectKey,
};
use crate::error::AuditError;
use crate::event::{Actor, Event, EventId, EventKind, LeafEvent, SealedPart, canonical_json, micros_to_time};
use crate::hash::{Hash, leaf_hash};
use crate::note::{NoteSigner, NoteVerifier};
use crate::proof::verify_inclusion;
use crate::tlog_proof::TlogProof;
use crate::tree::{Frontier, NodeId, assemble, consistency_plan, inclusion_plan, plan_nodes};
use backend::{EventRow, Head, KeyringRow, StoredCheckpoint, SubjectKeyRow, to_i64};
use domain::Personnummer;
use serde_json::json;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

/// A connection the log can be stored through: `sqlx::SqliteConnection` or
/// `sqlx::PgConnection`. Sealed; pass `&mut *tx` for a transaction `tx`.
pub trait AuditConnection: backend::Backend {}
impl AuditConnection for sqlx::SqliteConnection {}
impl AuditConnection for sqlx::PgConnection {}

/// When to sign a checkpoint on its own: after this many new events, or
/// this long after the last checkpoint (checked on append and by
/// [`run_checkpointer`]), and always at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    pub every_events: u64,
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> CheckpointPolicy {
        CheckpointPolicy {
            every_events: 1000,
            every: Duration::from_secs(60),
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub event_id: EventId,
    pub leaf_hash: Hash,
    /// A checkpoint signed as part of this append, if one was due.
    pub checkpoint: Option<SignedCheckpoint>,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub subject: SubjectId,
    pub keys_deleted: u64,
    /// The sequence number of the tombstone event.
    pub seq: u64,
}

/// The writer's view of the log: origin, signing key, master keys, policy
/// and clock. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct AuditLog {
    origin: String,
    signer: NoteSigner,
    keys: Option<MasterKeys>,
    policy: CheckpointPolicy,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.origin)
            .field("signer", &self.signer)
            .field("keys", &self.keys)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn corrupt(what: impl Into<String>) -> AuditError {
    AuditError::Corrupt(what.into())
}

fn key_id_of(bytes: &[u8]) -> Result<KeyId, AuditError> {
    bytes
        .try_into()
        .map(KeyId)
        .map_err(|_| corrupt("a subject key id is not 16 bytes"))
}

fn master_id_of(bytes: &[u8]) -> Result<MasterKeyId, AuditError> {
    bytes
        .try_into()
        .map(MasterKeyId)
        .map_err(|_| corrupt("a master key id is not 8 bytes"))
}

fn frontier_of(head: &Head) -> Result<Frontier, AuditError> {
    Frontier::from_bytes(head.size, &head.frontier).ok_or_else(|| corrupt("the head's frontier does not fit its size"))
}

async fn locked_head<C: AuditConnection>(conn: &mut C) -> Result<Head, AuditError> {
    conn.lock_head()
        .await?
        .ok_or_else(|| corrupt("the audit_head row is missing; run the audit migrations"))
}

async fn read_head<C: AuditConnection>(conn: &mut C) -> Result<Head, AuditError> {
    conn.read_head()
        .await?
        .ok_or_else(|| corrupt("the audit_head row is missing; run the audit migrations"))
}

impl AuditLog {
    /// The signing key's name must be the origin (C2SP: the log's key name
    /// SHOULD match the origin line; we make it so).
    pub fn new(
        origin: &str,
        signer: NoteSigner,
        keys: MasterKeys,
        policy: CheckpointPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<AuditLog, AuditError> {
        AuditLog::build(origin, signer, Some(keys), policy, clock)
    }

    /// A log handle without master keys: it can sign checkpoints and append
    /// events without personal data, and refuses anything that needs a
    /// subject key (erasure, rotation, personal data).
    pub fn without_master_keys(
        origin: &str,
        signer: NoteSigner,
        policy: CheckpointPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<AuditLog, AuditError> {
        AuditLog::build(origin, signer, None, policy, clock)
    }

    fn build(
        origin: &str,
        signer: NoteSigner,
        keys: Option<MasterKeys>,
        policy: CheckpointPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<AuditLog, AuditError> {
        if signer.name() != origin {
            return Err(AuditError::OriginMismatch {
                origin: origin.to_string(),
                key_name: signer.name().to_string(),
            });
        }
        Ok(AuditLog {
            origin: origin.to_string(),
            signer,
            keys,
            policy,
            clock,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    pub fn keys(&self) -> Option<&MasterKeys> {
        self.keys.as_ref()
    }

    fn master_keys(&self) -> Result<&MasterKeys, AuditError> {
        self.keys
            .as_ref()
            .ok_or(AuditError::Key(crate::crypto::KeyError::NoMasterKey))
    }

    pub fn policy(&self) -> CheckpointPolicy {
        self.policy
    }

    /// Appends one event in the caller's transaction.
    pub async fn append<C: AuditConnection>(&self, conn: &mut C, event: &Event) -> Result<Appended, AuditError> {
        let mut out = self.append_batch(conn, std::slice::from_ref(event)).await?;
        out.pop().ok_or_else(|| corrupt("append produced nothing"))
    }

    /// Appends events in order in the caller's transaction: one sequencer
    /// lock, one head update, multi-row inserts.
    pub async fn append_batch<C: AuditConnection>(
        &self,
        conn: &mut C,
        events: &[Event],
    ) -> Result<Vec<Appended>, AuditError> {
        if events.iter().any(|e| e.kind == EventKind::Erased) {
            return Err(AuditError::ReservedKind);
        }
        let mut head = locked_head(conn).await?;
        self.append_locked(conn, &mut head, events).await
    }

    async fn append_locked<C: AuditConnection>(
        &self,
        conn: &mut C,
        head: &mut Head,
        events: &[Event],
    ) -> Result<Vec<Appended>, AuditError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut frontier = frontier_of(head)?;
        if head.size == 0 && head.checkpoint_size == 0 {
            // The first event starts the checkpoint clock.
            head.checkpoint_us = self.clock.now().timestamp_micros();
        }
        let id_key = if events.iter().any(|e| !e.personal.is_empty()) {
            Some(self.subject_id_key(conn).await?)
        } else {
            None
        };
        let mut subject_keys: HashMap<SubjectId, SubjectKey> = HashMap::new();
        let mut rows = Vec::with_capacity(events.len());
        let mut nodes = Vec::with_capacity(events.len() + 8);
        let mut appended = Vec::with_capacity(events.len());
        for event in events {
            let seq = frontier.size();
            let id = EventId::for_seq(seq);
            let mut sealed = Vec::with_capacity(event.personal.len());
            if let Some(id_key) = &id_key {
                for (pnr, data) in &event.personal {
                    let subject = id_key.subject_id(pnr)?;
                    let key = match subject_keys.entry(subject) {
                        Entry::Occupied(e) => e.into_mut(),
                        Entry::Vacant(v) => v.insert(self.subject_key(conn, &subject, seq).await?),
                    };
                    let plaintext = zeroize::Zeroizing::new(canonical_json(data)?);
                    let (nonce, ciphertext) = key.seal(&id.0, seq, &subject, &plaintext)?;
                    sealed.push(SealedPart {
                        subject,
                        key_id: key.id,
                        nonce,
                        ciphertext,
                    });
                }
            }
            let leaf = LeafEvent {
                seq,
                id,
                kind: event.kind,
                case_ref: event.case_ref.clone(),
                actor: event.actor.clone(),
                time_us: event.time_us,
                ruleset: event.ruleset,
                payload: event.payload.clone(),
                sealed,
            }
            .encode()?;
            let hash = leaf_hash(&leaf);
            nodes.extend(frontier.push(hash));
            rows.push(EventRow {
                seq,
                event_id: id.0,
                kind: event.kind.as_str(),
                case_ref: event.case_ref.as_ref().map(|c| c.as_str().to_string()),
                actor: event.actor.as_str().to_string(),
                time_us: event.time_us,
                leaf,
                leaf_hash: hash,
            });
            appended.push(Appended {
                seq,
                event_id: id,
                leaf_hash: hash,
                checkpoint: None,
            });
        }
        conn.insert_events(&rows).await?;
        conn.insert_nodes(&nodes).await?;
        head.size = frontier.size();
        head.frontier = frontier.to_bytes();
        let checkpoint = if self.is_due(head) {
            Some(self.sign_checkpoint(conn, head, &frontier).await?)
        } else {
            None
        };
        conn.update_head(head).await?;
        if let Some(last) = appended.last_mut() {
            last.checkpoint = checkpoint;
        }
        tracing::debug!(events = events.len(), size = head.size, "audit events appended");
        Ok(appended)
    }

    fn is_due(&self, head: &Head) -> bool {
        if head.size <= head.checkpoint_size {
            return false;
        }
        if head.size - head.checkpoint_size >= self.policy.every_events {
            return true;
        }
        let elapsed_us = self.clock.now().timestamp_micros().saturating_sub(head.checkpoint_us);
        elapsed_us >= i64::try_from(self.policy.every.as_micros()).unwrap_or(i64::MAX)
    }

    async fn sign_checkpoint<C: AuditConnection>(
        &self,
        conn: &mut C,
        head: &mut Head,
        frontier: &Frontier,
    ) -> Result<SignedCheckpoint, AuditError> {
        let now = self.clock.now().timestamp_micros();
        let signed = Checkpoint::new(&self.origin, frontier.size(), frontier.root()).sign(&self.signer)?;
        conn.insert_checkpoint(&StoredCheckpoint {
            size: to_i64(frontier.size())?,
            root: signed.checkpoint.root.0.to_vec(),
            note: signed.note.as_bytes().to_vec(),
            created_us: now,
        })
        .await?;
        head.checkpoint_size = frontier.size();
        head.checkpoint_us = now;
        tracing::info!(size = frontier.size(), "audit checkpoint signed");
        Ok(signed)
    }

    /// Signs a checkpoint now if there are events since the last one (at
    /// shutdown, or on request). `None` if there is nothing new.
    pub async fn checkpoint<C: AuditConnection>(&self, conn: &mut C) -> Result<Option<SignedCheckpoint>, AuditError> {
        let mut head = locked_head(conn).await?;
        if head.size <= head.checkpoint_size {
            return Ok(None);
        }
        let frontier = frontier_of(&head)?;
        let signed = self.sign_checkpoint(conn, &mut head, &frontier).await?;
        conn.update_head(&head).await?;
        Ok(Some(signed))
    }

    /// Signs a checkpoint if the policy says one is due.
    pub async fn checkpoint_if_due<C: AuditConnection>(
        &self,
        conn: &mut C,
    ) -> Result<Option<SignedCheckpoint>, AuditError> {
        let mut head = locked_head(conn).await?;
        if !self.is_due(&head) {
            return Ok(None);
        }
        let frontier = frontier_of(&head)?;
        let signed = self.sign_checkpoint(conn, &mut head, &frontier).await?;
        conn.update_head(&head).await?;
        Ok(Some(signed))
    }

    /// The keyed hash of a personnummer that the log uses as the subject's
    /// id (stable across master-key rotations). The case store indexes
    /// households by it, so it never stores an unkeyed hash.
    pub async fn subject_id<C: AuditConnection>(
        &self,
        conn: &mut C,
        pnr: &Personnummer,
    ) -> Result<SubjectId, AuditError> {
        Ok(self.subject_id_key(conn).await?.subject_id(pnr)?)
    }

    /// The subject-id HMAC key; created on first use.
    async fn subject_id_key<C: AuditConnection>(&self, conn: &mut C) -> Result<SubjectIdKey, AuditError> {
        match conn.keyring_get(KEYRING_SUBJECT_ID).await? {
            Some(row) => {
                let master = self.master_keys()?.get(&master_id_of(&row.master_key_id)?)?;
                Ok(SubjectIdKey::unwrap(master, &row.wrapped)?)
            }
            None => {
                let key = SubjectIdKey::generate();
                let master = self.master_keys()?.current();
                conn.keyring_insert(&KeyringRow {
                    purpose: KEYRING_SUBJECT_ID.to_string(),
                    master_key_id: master.id().0.to_vec(),
                    wrapped: key.wrap(master)?,
                })
                .await?;
                Ok(key)
            }
        }
    }

    /// The subject's key; created on first use (and again after an erasure).
    async fn subject_key<C: AuditConnection>(
        &self,
        conn: &mut C,
        subject: &SubjectId,
        seq: u64,
    ) -> Result<SubjectKey, AuditError> {
        if let Some(row) = conn.subject_key_for(&subject.0).await? {
            let master = self.master_keys()?.get(&master_id_of(&row.master_key_id)?)?;
            return Ok(SubjectKey::unwrap(
                master,
                subject,
                key_id_of(&row.key_id)?,
                &row.wrapped,
            )?);
        }
        let key = SubjectKey::generate();
        let master = self.master_keys()?.current();
        conn.subject_key_insert(
            &SubjectKeyRow {
                key_id: key.id.0.to_vec(),
                subject_id: subject.0.to_vec(),
                master_key_id: master.id().0.to_vec(),
                wrapped: key.wrap(master, subject)?,
            },
            seq,
        )
        .await?;
        Ok(key)
    }

    /// Erasure (gallring) of one data subject: deletes their keys and
    /// appends a tombstone event, in the caller's transaction. The log keeps
    /// verifying; their sealed data can no longer be opened.
    ///
    /// `reason` is public: it must not contain personal data (a string that
    /// parses as a personnummer is refused).
    pub async fn erase<C: AuditConnection>(
        &self,
        conn: &mut C,
        subject: &Personnummer,
        reason: &str,
        actor: &Actor,
    ) -> Result<Erasure, AuditError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(AuditError::Reason("it is empty"));
        }
        if reason.chars().count() > 500 {
            return Err(AuditError::Reason("it is longer than 500 characters"));
        }
        let mut head = locked_head(conn).await?;
        let id_key = self.subject_id_key(conn).await?;
        let subject_id = id_key.subject_id(subject)?;
        let keys_deleted = conn.subject_keys_delete(&subject_id.0).await?;
        let tombstone = Event::new(EventKind::Erased, actor.clone(), self.clock.now()).with_payload(json!({
            "subject": subject_id.to_string(),
            "reason": reason,
            "keys_deleted": keys_deleted,
        }))?;
        let appended = self.append_locked(conn, &mut head, &[tombstone]).await?;
        let seq = appended
            .first()
            .map(|a| a.seq)
            .ok_or_else(|| corrupt("tombstone not appended"))?;
        tracing::info!(seq, keys_deleted, "audit subject erased");
        Ok(Erasure {
            subject: subject_id,
            keys_deleted,
            seq,
        })
    }

    /// Rewraps every stored key under `new`, in the caller's transaction.
    /// This log's keyring must hold the master keys that wrapped them.
    /// Returns how many keys were rewrapped.
    pub async fn rotate_master_key<C: AuditConnection>(
        &self,
        conn: &mut C,
        new: &MasterKey,
    ) -> Result<u64, AuditError> {
        // Hold the sequencer so no append wraps a key under the old master
        // key while we rewrap.
        let _head = locked_head(conn).await?;
        let mut count = 0u64;
        for mut row in conn.keyring_all().await? {
            let old = self.master_keys()?.get(&master_id_of(&row.master_key_id)?)?;
            if row.purpose != KEYRING_SUBJECT_ID {
                return Err(corrupt("unknown keyring entry"));
            }
            let key = SubjectIdKey::unwrap(old, &row.wrapped)?;
            row.master_key_id = new.id().0.to_vec();
            row.wrapped = key.wrap(new)?;
            conn.keyring_update(&row).await?;
            count += 1;
        }
        for mut row in conn.subject_keys_all().await? {
            let old = self.master_keys()?.get(&master_id_of(&row.master_key_id)?)?;
            let subject = SubjectId(
                row.subject_id
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("a subject id is not 32 bytes"))?,
            );
            let key = SubjectKey::unwrap(old, &subject, key_id_of(&row.key_id)?, &row.wrapped)?;
            row.master_key_id = new.id().0.to_vec();
            row.wrapped = key.wrap(new, &subject)?;
            conn.subject_key_update(&row).await?;
            count += 1;
        }
        tracing::info!(rewrapped = count, "audit master key rotated");
        Ok(count)
    }
}

fn checkpoint_from_row(row: StoredCheckpoint) -> Result<SignedCheckpoint, AuditError> {
    let note = String::from_utf8(row.note).map_err(|_| corrupt("a stored checkpoint is not UTF-8"))?;
    let (text, _) = note
        .rsplit_once("\n\n")
        .ok_or_else(|| corrupt("a stored checkpoint is not a signed note"))?;
    let checkpoint = Checkpoint::parse(&format!("{text}\n"))?;
    Ok(SignedCheckpoint { checkpoint, note })
}

/// The latest signed checkpoint, as stored (not verified: see
/// [`crate::verify::verify_log`] or [`SignedCheckpoint::open`]).
pub async fn latest_checkpoint<C: AuditConnection>(conn: &mut C) -> Result<Option<SignedCheckpoint>, AuditError> {
    conn.checkpoint_latest().await?.map(checkpoint_from_row).transpose()
}

/// The checkpoints a witness has yet to receive: those after tree size
/// `after` (at most `limit`, oldest first), or only the latest when the
/// witness has none.
pub async fn checkpoints_after<C: AuditConnection>(
    conn: &mut C,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<SignedCheckpoint>, AuditError> {
    match after {
        Some(size) => conn
            .checkpoints_after(size, limit)
            .await?
            .into_iter()
            .map(checkpoint_from_row)
            .collect(),
        None => Ok(latest_checkpoint(conn).await?.into_iter().collect()),
    }
}

/// The signed checkpoint at a tree size.
pub async fn checkpoint_at<C: AuditConnection>(conn: &mut C, size: u64) -> Result<SignedCheckpoint, AuditError> {
    conn.checkpoint_at(size)
        .await?
        .map(checkpoint_from_row)
        .transpose()?
        .ok_or(AuditError::NoCheckpointAt(size))
}

/// The number of events in the log.
pub async fn size<C: AuditConnection>(conn: &mut C) -> Result<u64, AuditError> {
    Ok(read_head(conn).await?.size)
}

async fn run_plan<C: AuditConnection>(conn: &mut C, plan: &[Vec<NodeId>]) -> Result<Vec<Hash>, AuditError> {
    let ids = plan_nodes(plan);
    let found: HashMap<NodeId, Hash> = conn
        .get_nodes(&ids)
        .await?
        .into_iter()
        .filter_map(|(id, h)| Hash::from_slice(&h).map(|h| (id, h)))
        .collect();
    assemble(plan, &found).ok_or_else(|| corrupt("a tree node a proof needs is missing"))
}

/// The inclusion proof for `seq` in the tree of `size` events, from the
/// stored nodes (O(log n) reads).
pub async fn inclusion_proof<C: AuditConnection>(conn: &mut C, seq: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
    let log_size = read_head(conn).await?.size;
    if size > log_size {
        return Err(AuditError::NoSuchEvent {
            seq: size.saturating_sub(1),
            size: log_size,
        });
    }
    let plan = inclusion_plan(seq, size).ok_or(AuditError::NoSuchEvent { seq, size })?;
    run_plan(conn, &plan).await
}

/// The consistency proof from `size1` to `size2` events.
pub async fn consistency_proof<C: AuditConnection>(
    conn: &mut C,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, AuditError> {
    let log_size = read_head(conn).await?.size;
    if size2 > log_size {
        return Err(AuditError::NoSuchEvent {
            seq: size2.saturating_sub(1),
            size: log_size,
        });
    }
    let plan = consistency_plan(size1, size2).ok_or(AuditError::Proof(crate::proof::ProofError::FromEmptyTree))?;
    run_plan(conn, &plan).await
}

/// The leaf of one event, as stored.
pub async fn leaf<C: AuditConnection>(conn: &mut C, seq: u64) -> Result<(Vec<u8>, Hash), AuditError> {
    let page = conn.events_page(seq, 1).await?;
    let row = page
        .into_iter()
        .next()
        .filter(|r| r.seq == seq as i64)
        .ok_or(AuditError::NoSuchEvent {
            seq,
            size: read_head(conn).await?.size,
        })?;
    let hash = Hash::from_slice(&row.leaf_hash).ok_or_else(|| corrupt("a leaf hash is not 32 bytes"))?;
    Ok((row.leaf, hash))
}

/// A C2SP tlog-proof that event `seq` is in the log, against the checkpoint
/// at `checkpoint_size` (or the latest). The proof is checked before it is
/// handed out.
pub async fn prove<C: AuditConnection>(
    conn: &mut C,
    seq: u64,
    checkpoint_size: Option<u64>,
) -> Result<TlogProof, AuditError> {
    let cp = match checkpoint_size {
        Some(size) => checkpoint_at(conn, size).await?,
        None => latest_checkpoint(conn).await?.ok_or(AuditError::NoCheckpoint)?,
    };
    let size = cp.checkpoint.size;
    if seq >= size {
        return Err(AuditError::NotCheckpointed(seq));
    }
    let (leaf, stored_hash) = leaf(conn, seq).await?;
    if leaf_hash(&leaf) != stored_hash {
        return Err(corrupt(format!("the leaf of event {seq} does not match its hash")));
    }
    let proof = inclusion_proof(conn, seq, size).await?;
    verify_inclusion(seq, size, &stored_hash.0, &proof, &cp.checkpoint.root.0)?;
    Ok(TlogProof {
        extra: Some(leaf),
        index: seq,
        proof,
        checkpoint: cp.note,
    })
}

/// One page of a filtered listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<LeafEvent>,
    /// Whether newer events pass the filter (a page before this one).
    pub newer: bool,
    /// Whether older events pass the filter (a page after this one).
    pub older: bool,
}

async fn listed<C: AuditConnection>(
    conn: &mut C,
    filter: &EventFilter,
    from: ListFrom,
    limit: u32,
) -> Result<Vec<LeafEvent>, AuditError> {
    conn.events_listed(filter, from, limit)
        .await?
        .into_iter()
        .map(|(seq, leaf)| {
            let e = LeafEvent::decode(&leaf).map_err(|e| corrupt(format!("event {seq}: {e}")))?;
            // The columns the filter used must be the leaf's: a row whose
            // columns were changed is not shown as something it is not.
            let agrees = i64::try_from(e.seq).is_ok_and(|s| s == seq)
                && filter
                    .case_ref
                    .as_deref()
                    .is_none_or(|c| e.case_ref.as_ref().is_some_and(|r| r.as_str() == c))
                && filter.actor.as_deref().is_none_or(|a| e.actor.as_str() == a)
                && filter.kind.is_none_or(|k| e.kind == k)
                && filter.from_us.is_none_or(|t| e.time_us >= t)
                && filter.until_us.is_none_or(|t| e.time_us < t);
            if agrees {
                Ok(e)
            } else {
                Err(corrupt(format!(
                    "the stored columns of event {seq} do not match its leaf (hrobot audit verify)"
                )))
            }
        })
        .collect()
}

/// A page of at most `per_page` events that pass `filter`, newest first,
/// starting at `from` (keyset paging by sequence number: no count, no
/// offset; one extra row tells whether there is more, and one probe the
/// other way whether there is a page before).
pub async fn list_events<C: AuditConnection>(
    conn: &mut C,
    filter: &EventFilter,
    from: ListFrom,
    per_page: u32,
) -> Result<EventPage, AuditError> {
    let n = per_page.max(1);
    let wanted = usize::try_from(n).unwrap_or(usize::MAX);
    let mut events = listed(conn, filter, from, n.saturating_add(1)).await?;
    let more = events.len() > wanted;
    events.truncate(wanted);
    match from {
        ListFrom::Newest | ListFrom::Before(_) => {
            let newer = match (from, events.first()) {
                (ListFrom::Newest, _) => false,
                (_, Some(e)) => !listed(conn, filter, ListFrom::After(e.seq), 1).await?.is_empty(),
                (ListFrom::Before(s), None) => !listed(conn, filter, ListFrom::After(s.saturating_sub(1)), 1)
                    .await?
                    .is_empty(),
                (ListFrom::After(_), None) => false,
            };
            Ok(EventPage {
                events,
                newer,
                older: more,
            })
        }
        ListFrom::After(s) => {
            events.reverse();
            let edge = events.last().map_or(s.saturating_add(1), |e| e.seq);
            let older = !listed(conn, filter, ListFrom::Before(edge), 1).await?.is_empty();
            Ok(EventPage {
                events,
                newer: more,
                older,
            })
        }
    }
}

/// One event as stored, decoded (its personal data still sealed).
pub async fn event<C: AuditConnection>(conn: &mut C, seq: u64) -> Result<LeafEvent, AuditError> {
    let (bytes, _) = leaf(conn, seq).await?;
    LeafEvent::decode(&bytes).map_err(|e| corrupt(format!("event {seq}: {e}")))
}

/// One subject's personal data in an exported event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ExportedPart {
    Decrypted {
        subject: String,
        data: serde_json::Value,
    },
    /// The subject's key was deleted.
    Erased {
        subject: String,
    },
    /// No master key was given.
    Locked {
        subject: String,
    },
    /// The key is there but the data does not open: wrong master key, or
    /// tampering (`hrobot audit verify` tells which).
    Unreadable {
        subject: String,
    },
}

/// One event as `hrobot audit export` writes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExportedEvent {
    pub seq: u64,
    pub event_id: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    pub actor: String,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ruleset: Option<String>,
    pub payload: serde_json::Value,
    pub personal: Vec<ExportedPart>,
    pub leaf_hash: String,
}

/// Events `from..=to` (clamped to the log), decrypting what can still be
/// decrypted with `keys`. Each event is passed to `sink`; returns how many.
pub async fn export<C: AuditConnection>(
    conn: &mut C,
    keys: Option<&MasterKeys>,
    from: u64,
    to: Option<u64>,
    mut sink: impl FnMut(ExportedEvent) -> Result<(), AuditError> + Send,
) -> Result<u64, AuditError> {
    let size = read_head(conn).await?.size;
    let end = to.map_or(size, |t| t.saturating_add(1).min(size));
    let mut at = from;
    let mut count = 0;
    enum KeyState {
        Key(SubjectKey),
        Erased,
        Unreadable,
    }
    let mut cache: HashMap<KeyId, KeyState> = HashMap::new();
    while at < end {
        let limit = u32::try_from((end - at).min(1000)).unwrap_or(1000);
        let page = conn.events_page(at, limit).await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            let seq = u64::try_from(row.seq).map_err(|_| corrupt("negative sequence number"))?;
            if seq != at {
                return Err(corrupt(format!("sequence number {at} is missing")));
            }
            let event = LeafEvent::decode(&row.leaf).map_err(|e| corrupt(format!("event {seq}: {e}")))?;
            let mut personal = Vec::with_capacity(event.sealed.len());
            for part in &event.sealed {
                let subject = part.subject.to_string();
                let Some(keys) = keys else {
                    personal.push(ExportedPart::Locked { subject });
                    continue;
                };
                if let Entry::Vacant(slot) = cache.entry(part.key_id) {
                    let state = match conn.subject_key_by_id(&part.key_id.0).await? {
                        None => KeyState::Erased,
                        Some(row) if row.subject_id != part.subject.0 => KeyState::Unreadable,
                        Some(row) => keys
                            .get(&master_id_of(&row.master_key_id)?)
                            .and_then(|m| SubjectKey::unwrap(m, &part.subject, part.key_id, &row.wrapped))
                            .map_or(KeyState::Unreadable, KeyState::Key),
                    };
                    slot.insert(state);
                }
                personal.push(match cache.get(&part.key_id) {
                    Some(KeyState::Key(key)) => {
                        match key
                            .open(&event.id.0, event.seq, &part.subject, &part.nonce, &part.ciphertext)
                            .ok()
                            .and_then(|plain| serde_json::from_slice(&plain).ok())
                        {
                            Some(data) => ExportedPart::Decrypted { subject, data },
                            None => ExportedPart::Unreadable { subject },
                        }
                    }
                    Some(KeyState::Erased) => ExportedPart::Erased { subject },
                    _ => ExportedPart::Unreadable { subject },
                });
            }
            sink(ExportedEvent {
                seq,
                event_id: event.id.to_string(),
                kind: event.kind.to_string(),
                case: event.case_ref.as_ref().map(|c| c.to_string()),
                actor: event.actor.to_string(),
                time: micros_to_time(event.time_us).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                ruleset: event.ruleset.map(|r| r.to_string()),
                payload: event.payload,
                personal,
                leaf_hash: leaf_hash(&row.leaf).to_base64(),
            })?;
            count += 1;
            at += 1;
        }
    }
    Ok(count)
}
