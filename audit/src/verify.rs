//! `hrobot audit verify`: recompute the whole log from its leaves and
//! compare everything stored against it.
//!
//! Checks, in one pass over the events and one over the nodes:
//! - sequence numbers are 0, 1, 2, … without gaps;
//! - every leaf carries its own sequence number and agrees with the
//!   columns stored beside it (event id, kind, case, time);
//! - every stored leaf hash is `SHA-256(0x00 ‖ leaf)`;
//! - every stored node is the hash of its children, no node is missing and
//!   none is extra;
//! - the head row (size and frontier) matches;
//! - every checkpoint is a canonical signed note with a valid signature by a
//!   trusted key for its origin, its size and root match its columns and the
//!   recomputed tree, and consecutive checkpoints are consistent (a
//!   consistency proof between them verifies).
//!
//! Each problem is located: an event's sequence number, a node (and the
//! first event it covers), a checkpoint's tree size, or the head row.
//!
//! Reading is separate from checking: [`verify_log`] reads through any
//! [`AuditConnection`] (sqlx); on an SQLite file [`crate::Db::verify`] reads
//! directly with rusqlite instead (`store/sqlite_verify.rs`). Both pass each
//! event row to the same `check_event` and finish with the same `conclude`.

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::event::LeafHeader;
use crate::hash::{Hash, b64_decode_canonical, leaf_hash};
use crate::note::NoteVerifier;
use crate::proof::verify_consistency;
use crate::store::AuditConnection;
use crate::store::backend::{Head, StoredCheckpoint};
use crate::tree::MemTree;
use crate::{AuditError, tree::NodeId};
use std::fmt;

/// Where a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    Event(u64),
    Node { level: u8, index: u64 },
    Checkpoint(u64),
    Head,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    pub what: String,
    /// Set when this problem is a consequence of a bad event: a node or a
    /// checkpoint root over it. Such problems do not move the first bad
    /// sequence number.
    pub follows_from: Option<u64>,
}

impl Problem {
    /// The first event sequence number the problem concerns (`None` for a
    /// consequence of another problem, a checkpoint or the head row).
    pub fn first_seq(&self) -> Option<u64> {
        if self.follows_from.is_some() {
            return None;
        }
        match self.location {
            Location::Event(seq) => Some(seq),
            Location::Node { level, index } => Some(NodeId::new(level, index).first_leaf()),
            Location::Checkpoint(_) | Location::Head => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::Event(seq) => write!(f, "event {seq}: {}", self.what),
            Location::Node { level, index } => {
                let first = NodeId::new(level, index).first_leaf();
                let last = first + (1u64 << level) - 1;
                write!(
                    f,
                    "tree node (level {level}, index {index}) over events {first}–{last}: {}",
                    self.what
                )
            }
            Location::Checkpoint(size) => write!(f, "checkpoint at tree size {size}: {}", self.what),
            Location::Head => write!(f, "head row: {}", self.what),
        }?;
        if let Some(seq) = self.follows_from {
            write!(f, " (follows from the problem at event {seq})")?;
        }
        Ok(())
    }
}

/// The outcome of verifying a stored log.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub events: u64,
    pub nodes: u64,
    pub checkpoints: u64,
    pub root: Hash,
    /// Size and root of the latest checkpoint that verified.
    pub latest_checkpoint: Option<(u64, Hash)>,
    /// Sorted: problems with a sequence number first, lowest first.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The lowest sequence number any problem concerns.
    pub fn first_bad_seq(&self) -> Option<u64> {
        self.problems.iter().filter_map(Problem::first_seq).min()
    }
}

/// At most this many problems are collected; the first is what matters.
const MAX_PROBLEMS: usize = 1000;
const PAGE: u32 = 5000;

pub(crate) struct Problems(pub(crate) Vec<Problem>);

impl Problems {
    pub(crate) fn add(&mut self, location: Location, what: impl Into<String>) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(Problem {
                location,
                what: what.into(),
                follows_from: None,
            });
        }
    }
}

/// Verifies the whole stored log over one connection. `known` are the
/// trusted verifier keys; at least one is needed. ([`crate::Db::verify`]
/// reads with several connections at once.)
pub async fn verify_log<C: AuditConnection>(conn: &mut C, known: &[NoteVerifier]) -> Result<VerifyReport, AuditError> {
    if known.is_empty() {
        return Err(AuditError::Config("verifying checkpoints needs a verifier key".into()));
    }
    let events = scan_events(conn, 0, None).await?;
    let nodes = load_nodes(conn).await?;
    finish(conn, events, nodes, known).await
}

/// What a scan of a range of events found.
pub struct EventScan {
    pub(crate) from: u64,
    pub(crate) hashes: Vec<Hash>,
    pub(crate) problems: Vec<Problem>,
    /// Whether the scan reached its end without a gap.
    pub(crate) complete: bool,
}

impl EventScan {
    /// Where the scanned range ends.
    pub fn end(&self) -> u64 {
        self.from + self.hashes.len() as u64
    }

    /// Appends the scan of the range that follows.
    pub fn join(mut self, next: EventScan) -> EventScan {
        if self.complete && next.from == self.from + self.hashes.len() as u64 {
            self.hashes.extend(next.hashes);
            self.problems.extend(next.problems);
            self.complete = next.complete;
        }
        self
    }
}

/// Reads events `from..to` (to the end if `to` is `None`): recomputes each
/// leaf hash and checks each row against its leaf. Stops at a gap.
pub async fn scan_events<C: AuditConnection>(
    conn: &mut C,
    from: u64,
    to: Option<u64>,
) -> Result<EventScan, AuditError> {
    let mut scan = EventScan {
        from,
        hashes: Vec::new(),
        problems: Vec::new(),
        complete: true,
    };
    let mut problems = Problems(Vec::new());
    'pages: loop {
        let at = from + scan.hashes.len() as u64;
        let limit = match to {
            Some(t) if t <= at => break,
            Some(t) => u32::try_from((t - at).min(u64::from(PAGE))).unwrap_or(PAGE),
            None => PAGE,
        };
        let page = conn.events_page(at, limit).await?;
        if page.is_empty() {
            if to.is_some() {
                problems.add(Location::Event(at), "missing");
                scan.complete = false;
            }
            break;
        }
        for row in page {
            let seq = from + scan.hashes.len() as u64;
            if row.seq != seq as i64 {
                // A gap: nothing after it can be placed in the tree.
                problems.add(
                    Location::Event(seq),
                    format!("missing (the next stored sequence number is {})", row.seq),
                );
                scan.complete = false;
                break 'pages;
            }
            let computed = check_event(
                seq,
                &EventFields {
                    leaf: &row.leaf,
                    leaf_hash: &row.leaf_hash,
                    event_id: &row.event_id,
                    kind: row.kind.as_bytes(),
                    case_ref: row.case_ref.as_deref().map(str::as_bytes),
                    time_us: row.time_us,
                },
                &mut problems,
            );
            scan.hashes.push(computed);
        }
    }
    scan.problems = problems.0;
    Ok(scan)
}

/// The stored columns of one event row, borrowed from wherever they were
/// read.
pub(crate) struct EventFields<'a> {
    pub(crate) leaf: &'a [u8],
    pub(crate) leaf_hash: &'a [u8],
    pub(crate) event_id: &'a [u8],
    pub(crate) kind: &'a [u8],
    pub(crate) case_ref: Option<&'a [u8]>,
    pub(crate) time_us: i64,
}

/// Checks one event row (the one at `seq`) against its leaf: the stored
/// leaf hash, and the columns stored beside the leaf. Returns the leaf hash
/// recomputed from the leaf bytes.
pub(crate) fn check_event(seq: u64, row: &EventFields<'_>, problems: &mut Problems) -> Hash {
    let computed = leaf_hash(row.leaf);
    if row.leaf_hash != computed.0 {
        problems.add(Location::Event(seq), "stored leaf hash does not match the leaf bytes");
    }
    match LeafHeader::read(row.leaf) {
        Err(e) => problems.add(Location::Event(seq), format!("leaf does not decode: {e}")),
        Ok(h) => {
            let mut wrong = Vec::new();
            if h.seq != seq {
                wrong.push("sequence number");
            }
            if h.id.as_slice() != row.event_id {
                wrong.push("event_id");
            }
            if h.kind.as_bytes() != row.kind {
                wrong.push("kind");
            }
            if h.case_ref.as_bytes() != row.case_ref.unwrap_or(b"") || row.case_ref.is_some_and(<[u8]>::is_empty) {
                wrong.push("case_ref");
            }
            if h.time_us != row.time_us {
                wrong.push("time_us");
            }
            if !wrong.is_empty() {
                problems.add(
                    Location::Event(seq),
                    format!("stored {} does not match the leaf", wrong.join(", ")),
                );
            }
        }
    }
    computed
}

/// One level of stored nodes.
enum StoredLevel {
    /// Indices 0..n, in order.
    Contiguous(Vec<Vec<u8>>),
    /// Anything else (a changed index): by index.
    Irregular(std::collections::BTreeMap<i64, Vec<u8>>),
}

/// The stored interior nodes, level by level (index 0 is level 1).
pub struct StoredNodes {
    levels: Vec<StoredLevel>,
    impossible: u64,
    count: u64,
}

/// Builds [`StoredNodes`] from nodes read in (level, idx) order, all levels
/// in one pass (the same result as [`load_nodes`]).
pub(crate) struct NodesBuilder {
    levels: Vec<StoredLevel>,
    impossible: u64,
    count: u64,
}

impl NodesBuilder {
    pub(crate) fn new() -> NodesBuilder {
        NodesBuilder {
            levels: (1..=63).map(|_| StoredLevel::Contiguous(Vec::new())).collect(),
            impossible: 0,
            count: 0,
        }
    }

    /// Adds one stored node. Nodes at a level outside 1..=63 are only
    /// counted.
    pub(crate) fn push(&mut self, level: i64, idx: i64, hash: &[u8]) {
        self.count += 1;
        let Some(slot) = usize::try_from(level)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|i| self.levels.get_mut(i))
        else {
            self.impossible += 1;
            return;
        };
        if let StoredLevel::Contiguous(hashes) = slot {
            if idx == hashes.len() as i64 {
                hashes.push(hash.to_vec());
                return;
            }
            let map = std::mem::take(hashes)
                .into_iter()
                .enumerate()
                .map(|(i, h)| (i as i64, h))
                .collect();
            *slot = StoredLevel::Irregular(map);
        }
        if let StoredLevel::Irregular(map) = slot {
            map.insert(idx, hash.to_vec());
        }
    }

    pub(crate) fn finish(self) -> StoredNodes {
        StoredNodes {
            levels: self.levels,
            impossible: self.impossible,
            count: self.count,
        }
    }
}

/// Reads every stored node. Levels whose indices are exactly 0..n are read
/// as bare hashes, the rest with their indices.
pub async fn load_nodes<C: AuditConnection>(conn: &mut C) -> Result<StoredNodes, AuditError> {
    let mut levels = Vec::new();
    let mut count = 0u64;
    for level in 1..=63i64 {
        let (n, lo, hi) = conn.level_shape(level).await?;
        count += n as u64;
        if n > 0 && lo == Some(0) && hi == Some(n - 1) {
            let mut hashes = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
            while (hashes.len() as i64) < n {
                let page = conn.level_hashes(level, hashes.len() as i64, PAGE * 4).await?;
                if page.is_empty() {
                    break;
                }
                hashes.extend(page);
            }
            levels.push(StoredLevel::Contiguous(hashes));
        } else {
            let mut map = std::collections::BTreeMap::new();
            if n > 0 {
                let mut after = (level, i64::MIN);
                'pages: loop {
                    let page = conn.nodes_page(after, PAGE).await?;
                    if page.is_empty() {
                        break;
                    }
                    for node in page {
                        if node.level != level {
                            break 'pages;
                        }
                        after = (node.level, node.idx);
                        map.insert(node.idx, node.hash);
                    }
                }
            }
            levels.push(StoredLevel::Irregular(map));
        }
    }
    let total = u64::try_from(conn.node_count().await?).unwrap_or(0);
    Ok(StoredNodes {
        levels,
        impossible: total.saturating_sub(count),
        count: total,
    })
}

/// Compares everything read with the recomputed tree; checks the head and
/// the checkpoints.
pub async fn finish<C: AuditConnection>(
    conn: &mut C,
    events: EventScan,
    nodes: StoredNodes,
    known: &[NoteVerifier],
) -> Result<VerifyReport, AuditError> {
    // Events appended while we read are not a problem: they are simply not
    // covered by this verification.
    let end = events.hashes.len() as u64;
    let grew = events.complete && {
        let next = conn.events_page(end, 1).await?;
        next.first().is_some_and(|r| r.seq == end as i64)
    };
    let head = conn.read_head().await?;
    let checkpoints = conn.checkpoints().await?;
    Ok(conclude(events, nodes, grew, head, checkpoints, known))
}

/// The rest of verification, once everything is read: builds the tree from
/// the recomputed leaf hashes, compares every stored node, the head row and
/// every checkpoint. `grew` says that events were appended after the scan
/// (then later heads and checkpoints are not problems).
pub(crate) fn conclude(
    events: EventScan,
    nodes: StoredNodes,
    grew: bool,
    head: Option<Head>,
    checkpoints: Vec<StoredCheckpoint>,
    known: &[NoteVerifier],
) -> VerifyReport {
    let mut problems = Problems(events.problems);
    let tree = MemTree::from_leaf_hashes(events.hashes);
    check_nodes(&tree, &nodes, &mut problems);
    check_head(head, &tree, grew, &mut problems);
    let (checkpoints, latest_checkpoint) = check_checkpoints(checkpoints, &tree, known, grew, &mut problems);
    let mut problems = problems.0;
    mark_consequences(&mut problems);
    problems.sort_by_key(|p| (p.first_seq().unwrap_or(u64::MAX), p.follows_from.is_some(), p.location));
    VerifyReport {
        events: tree.size(),
        nodes: nodes.count,
        checkpoints,
        root: tree.root(),
        latest_checkpoint,
        problems,
    }
}

/// A bad leaf makes every node above it and every later checkpoint root
/// differ too: mark those as consequences, so that the first bad sequence
/// number is the leaf's.
fn mark_consequences(problems: &mut [Problem]) {
    let mut bad: Vec<u64> = problems
        .iter()
        .filter_map(|p| match p.location {
            Location::Event(seq) => Some(seq),
            _ => None,
        })
        .collect();
    bad.sort_unstable();
    bad.dedup();
    let first_in = |lo: u64, hi: u64| bad.iter().copied().find(|s| (lo..=hi).contains(s));
    for p in problems.iter_mut() {
        p.follows_from = match p.location {
            Location::Node { level, index } => {
                let first = NodeId::new(level, index).first_leaf();
                first_in(first, first + (1u64 << level) - 1)
            }
            Location::Checkpoint(size) if p.what.starts_with(ROOT_DIFFERS) && size > 0 => first_in(0, size - 1),
            _ => None,
        };
    }
}

const ROOT_DIFFERS: &str = "the signed root differs from the root recomputed";

fn check_nodes(tree: &MemTree, stored: &StoredNodes, problems: &mut Problems) {
    let size = tree.size();
    if stored.impossible > 0 {
        problems.add(
            Location::Head,
            format!("{} tree nodes stored at impossible levels", stored.impossible),
        );
    }
    for (i, level_nodes) in stored.levels.iter().enumerate() {
        let level = (i + 1) as u8;
        let expected = size >> level;
        let check = |index: u64, hash: Option<&Vec<u8>>, problems: &mut Problems| {
            let loc = Location::Node { level, index };
            match (index < expected, hash) {
                (true, None) => problems.add(loc, "missing"),
                (false, Some(_)) => problems.add(loc, "stored, but no such node exists in a log of this size"),
                (true, Some(h)) => {
                    if tree
                        .get(NodeId::new(level, index))
                        .map(|t| t.0.as_slice() == h.as_slice())
                        != Some(true)
                    {
                        problems.add(loc, "stored hash does not match the hash of its children");
                    }
                }
                (false, None) => {}
            }
        };
        match level_nodes {
            StoredLevel::Contiguous(hashes) => {
                let upto = expected.max(hashes.len() as u64);
                for index in 0..upto {
                    check(index, hashes.get(index as usize), problems);
                }
            }
            StoredLevel::Irregular(map) => {
                for index in 0..expected {
                    check(index, map.get(&(index as i64)), problems);
                }
                for (&idx, h) in map
                    .range(..0)
                    .chain(map.range(i64::try_from(expected).unwrap_or(i64::MAX)..))
                {
                    match u64::try_from(idx) {
                        Ok(index) => check(index, Some(h), problems),
                        Err(_) => problems.add(Location::Head, format!("a node at level {level} has index {idx}")),
                    }
                }
            }
        }
    }
}

fn check_head(head: Option<Head>, tree: &MemTree, grew: bool, problems: &mut Problems) {
    match head {
        None => problems.add(Location::Head, "missing"),
        Some(head) => {
            if head.size > tree.size() && grew {
                // Appends since we read the events.
            } else if head.size != tree.size() {
                problems.add(
                    Location::Head,
                    format!("says {} events, the log has {}", head.size, tree.size()),
                );
            } else if head.frontier != tree.frontier().to_bytes() {
                problems.add(Location::Head, "the stored right border of the tree is wrong");
            }
        }
    }
}

/// A stored note must be exactly the canonical rendering of what it says:
/// this is what makes a flipped bit in a signature's padding visible.
fn canonical_note(note: &str, checkpoint: &Checkpoint) -> bool {
    let Some(sigs) = note
        .strip_prefix(&checkpoint.to_text())
        .and_then(|s| s.strip_prefix('\n'))
    else {
        return false;
    };
    sigs.strip_suffix('\n').is_some_and(|sigs| {
        sigs.split('\n').all(|line| {
            line.strip_prefix("\u{2014} ")
                .and_then(|l| l.split_once(' '))
                .is_some_and(|(_, b64)| b64_decode_canonical(b64).is_some())
        })
    })
}

fn check_checkpoints(
    rows: Vec<StoredCheckpoint>,
    tree: &MemTree,
    known: &[NoteVerifier],
    grew: bool,
    problems: &mut Problems,
) -> (u64, Option<(u64, Hash)>) {
    let count = rows.len() as u64;
    let mut previous: Option<(u64, Hash)> = None;
    for row in rows {
        let Ok(size) = u64::try_from(row.size) else {
            problems.add(Location::Checkpoint(0), format!("impossible tree size {}", row.size));
            continue;
        };
        let loc = Location::Checkpoint(size);
        let cp = match SignedCheckpoint::open(&row.note, known) {
            Ok(cp) => cp.checkpoint,
            Err(e) => {
                problems.add(loc, format!("{e}"));
                continue;
            }
        };
        let mut ok = true;
        let note = String::from_utf8_lossy(&row.note);
        if !canonical_note(&note, &cp) {
            problems.add(loc, "the stored note is not in canonical form");
            ok = false;
        }
        if cp.size != size {
            problems.add(loc, format!("the signed note says tree size {}", cp.size));
            ok = false;
        }
        if cp.root.0.as_slice() != row.root.as_slice() {
            problems.add(loc, "the stored root column differs from the signed root");
            ok = false;
        }
        if size > tree.size() && grew {
            // Signed after we read the events: not covered by this run.
            continue;
        }
        if size > tree.size() {
            problems.add(loc, format!("covers {size} events but the log has {}", tree.size()));
            problems.add(
                Location::Event(tree.size()),
                format!("missing, though a signed checkpoint covers {size} events"),
            );
            continue;
        }
        if tree.root_at(size) != Some(cp.root) {
            problems.add(loc, format!("{ROOT_DIFFERS} from the events"));
            ok = false;
        }
        // (Only for a checkpoint that matched the events: otherwise the
        // mismatch above already says it all.)
        if let (true, Some((prev_size, prev_root))) = (ok, previous) {
            let consistent = tree
                .consistency_proof(prev_size, size)
                .is_some_and(|p| verify_consistency(prev_size, size, &p, &prev_root.0, &cp.root.0).is_ok());
            if !consistent {
                problems.add(
                    loc,
                    format!("not consistent with the checkpoint at tree size {prev_size}"),
                );
                ok = false;
            }
        }
        if ok {
            previous = Some((size, cp.root));
        }
    }
    (count, previous)
}
