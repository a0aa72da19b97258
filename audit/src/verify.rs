//! `hrobot audit verify`: recompute the whole log from its leaves and
//! compare everything stored against it.
//!
//! Checks, in one pass over the events and one over the nodes:
//! - sequence numbers are 0, 1, 2, … without gaps;
//! - every leaf carries its own sequence number and agrees with the
//!   columns stored beside it (event id, kind, case, actor, time);
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
use crate::event::{LeafEvent, LeafHeader};
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
    /// One of the events `first..=last` (the database does not say which).
    Events {
        first: u64,
        last: u64,
    },
    Node {
        level: u8,
        index: u64,
    },
    Checkpoint(u64),
    Head,
    /// The checkpoint kept outside the database (`verify --against`, or the
    /// witness directory), at this tree size.
    Witness(u64),
}

impl Location {
    /// The first event sequence number this place concerns.
    fn first_seq(&self) -> Option<u64> {
        match *self {
            Location::Event(seq) | Location::Events { first: seq, .. } => Some(seq),
            Location::Node { level, index } => Some(NodeId::new(level, index).first_leaf()),
            Location::Checkpoint(_) | Location::Head | Location::Witness(_) => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Location::Event(seq) => write!(f, "event {seq}"),
            Location::Events { first, last } => write!(f, "events {first}–{last}"),
            Location::Node { level, index } => {
                let first = NodeId::new(level, index).first_leaf();
                let last = first + (1u64 << level) - 1;
                write!(f, "tree node (level {level}, index {index}) over events {first}–{last}")
            }
            Location::Checkpoint(size) => write!(f, "checkpoint at tree size {size}"),
            Location::Head => write!(f, "head row"),
            Location::Witness(size) => write!(f, "the checkpoint kept outside the database (tree size {size})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    pub what: String,
    /// Set when this problem is a consequence of another one: a node or a
    /// checkpoint root over a changed event. Such problems do not move the
    /// first bad sequence number.
    pub follows_from: Option<Location>,
}

impl Problem {
    /// The first event sequence number the problem concerns (`None` for a
    /// consequence of another problem, a checkpoint or the head row).
    pub fn first_seq(&self) -> Option<u64> {
        if self.follows_from.is_some() {
            return None;
        }
        self.location.first_seq()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::Witness(_) => write!(f, "{}", self.what),
            location => write!(f, "{location}: {}", self.what),
        }?;
        if let Some(cause) = self.follows_from {
            write!(f, " (follows from the problem at {cause})")?;
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

/// At most this many leaves are read again by [`refine`].
const MAX_SUSPECTS: usize = 4096;

impl VerifyReport {
    /// The events of a problem that could not be narrowed to one event:
    /// their leaves go to [`refine`].
    pub(crate) fn suspects(&self) -> Vec<u64> {
        self.problems
            .iter()
            .filter(|p| p.follows_from.is_none())
            .filter_map(|p| match p.location {
                Location::Events { first, last } => Some(first..=last),
                _ => None,
            })
            .flatten()
            .take(MAX_SUSPECTS)
            .collect()
    }
}

/// Narrows a problem over several events with their leaves: an event
/// whose leaf no longer decodes (strictly, in its one canonical encoding,
/// which every leaf the log wrote has) is a changed one.
pub(crate) fn refine(report: &mut VerifyReport, leaves: &std::collections::BTreeMap<u64, Vec<u8>>) {
    let mut moved = Vec::new();
    for p in report.problems.iter_mut() {
        let Location::Events { first, last } = p.location else {
            continue;
        };
        if p.follows_from.is_some() {
            continue;
        }
        let bad = (first..=last).find_map(|seq| {
            leaves
                .get(&seq)
                .and_then(|leaf| LeafEvent::decode(leaf).err())
                .map(|e| (seq, e))
        });
        if let Some((seq, e)) = bad {
            moved.push((p.location, Location::Event(seq)));
            p.location = Location::Event(seq);
            p.what = format!("{RECOMPUTED}: the leaf does not decode ({e})");
        }
    }
    if moved.is_empty() {
        return;
    }
    for p in report.problems.iter_mut() {
        if let Some((_, to)) = moved.iter().find(|(from, _)| p.follows_from == Some(*from)) {
            p.follows_from = Some(*to);
        }
    }
    report
        .problems
        .sort_by_key(|p| (p.first_seq().unwrap_or(u64::MAX), p.follows_from.is_some(), p.location));
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
    verify_log_against(conn, known, None).await
}

/// [`verify_log`], and also that the log is a consistent extension of
/// `external`, a checkpoint kept outside the database (its signature must
/// already have been checked).
pub async fn verify_log_against<C: AuditConnection>(
    conn: &mut C,
    known: &[NoteVerifier],
    external: Option<&Checkpoint>,
) -> Result<VerifyReport, AuditError> {
    if known.is_empty() {
        return Err(AuditError::Config("verifying checkpoints needs a verifier key".into()));
    }
    let events = scan_events(conn, 0, None).await?;
    let nodes = load_nodes(conn).await?;
    finish(conn, events, nodes, known, external).await
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
                    actor: row.actor.as_deref().map(str::as_bytes),
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
    pub(crate) actor: Option<&'a [u8]>,
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
            if row.actor != Some(h.actor.as_bytes()) {
                wrong.push("actor");
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

impl StoredNodes {
    /// The stored hash of one node.
    fn get(&self, level: u8, index: u64) -> Option<&[u8]> {
        match self.levels.get(usize::from(level).checked_sub(1)?)? {
            StoredLevel::Contiguous(hashes) => hashes.get(usize::try_from(index).ok()?).map(Vec::as_slice),
            StoredLevel::Irregular(map) => map.get(&i64::try_from(index).ok()?).map(Vec::as_slice),
        }
    }
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
    external: Option<&Checkpoint>,
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
    let mut report = conclude(events, nodes, grew, head, checkpoints, known, external);
    let mut leaves = std::collections::BTreeMap::new();
    for seq in report.suspects() {
        if let Some(row) = conn
            .events_page(seq, 1)
            .await?
            .into_iter()
            .find(|r| r.seq == seq as i64)
        {
            leaves.insert(seq, row.leaf);
        }
    }
    refine(&mut report, &leaves);
    Ok(report)
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
    external: Option<&Checkpoint>,
) -> VerifyReport {
    let mut problems = Problems(events.problems);
    let tree = MemTree::from_leaf_hashes(events.hashes);
    check_nodes(&tree, &nodes, &mut problems);
    let head_frontier = head.as_ref().map(|h| (h.size, h.frontier.clone()));
    check_head(head, &tree, grew, &mut problems);
    let (checkpoints, latest_checkpoint, mut verdicts) =
        check_checkpoints(checkpoints, &tree, known, grew, &mut problems);
    let mut external_verdict = None;
    if let Some(cp) = external
        && let Some(matches) = check_external(cp, &tree, grew, &mut problems)
    {
        external_verdict = Some((cp.size, matches));
    }
    let verdicts_len = verdicts.len();
    let mut problems = problems.0;
    locate(
        &mut problems,
        &Evidence {
            tree: &tree,
            nodes: &nodes,
            verdicts: {
                verdicts.extend(external_verdict);
                verdicts
            },
            stored_verdicts: verdicts_len,
            head_frontier,
        },
    );
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

/// The log must be a consistent extension of a checkpoint kept outside
/// the database: at least as long, and with the same root at its size.
/// Returns whether the roots match (`None` if the log is shorter).
fn check_external(cp: &Checkpoint, tree: &MemTree, grew: bool, problems: &mut Problems) -> Option<bool> {
    let loc = Location::Witness(cp.size);
    if cp.size > tree.size() {
        if !grew {
            problems.add(
                loc,
                format!(
                    "rollback: the log has {} events, the checkpoint kept outside it covers {}",
                    tree.size(),
                    cp.size
                ),
            );
        }
        return None;
    }
    let matches = tree.root_at(cp.size) == Some(cp.root);
    if !matches {
        problems.add(
            loc,
            format!(
                "{EXTERNAL_DIFFERS}: the root of its first {} events is not the one signed",
                cp.size
            ),
        );
    }
    Some(matches)
}

/// What [`locate`] weighs besides the problems themselves.
struct Evidence<'a> {
    tree: &'a MemTree,
    nodes: &'a StoredNodes,
    /// Signed checkpoints within the log (stored or kept outside): tree
    /// size, and whether the signed root is the one recomputed from the
    /// events.
    verdicts: Vec<(u64, bool)>,
    /// How many of `verdicts` are the stored checkpoints (the rest is the
    /// one kept outside, which narrows but never starts a search: a root
    /// that differs from it alone is reported as itself).
    stored_verdicts: usize,
    /// The head row's size and stored right border.
    head_frontier: Option<(u64, Vec<u8>)>,
}

impl Evidence<'_> {
    /// Whether a stored node is the hash of its stored children (level 1:
    /// of the leaf hashes recomputed from the events). A node that is, but
    /// differs from the recomputed tree, only passes on a change below it.
    fn agrees_with_children(&self, level: u8, index: u64) -> bool {
        let child = |i: u64| -> Option<Hash> {
            if level == 1 {
                self.tree.get(NodeId::new(0, i))
            } else {
                self.nodes.get(level - 1, i).and_then(Hash::from_slice)
            }
        };
        match (self.nodes.get(level, index), child(2 * index), child(2 * index + 1)) {
            (Some(stored), Some(l), Some(r)) => crate::hash::node_hash(&l, &r).0.as_slice() == stored,
            _ => false,
        }
    }

    /// Narrows `lo..=hi`, known to hold a changed event, with the signed
    /// checkpoints: one whose root matches at size `s` vouches for events
    /// below `s`; one that differs at size `s` puts the change below `s`.
    fn narrow(&self, lo: u64, hi: u64) -> (u64, u64) {
        let mut lo = lo;
        let mut hi = hi;
        for &(size, matches) in &self.verdicts {
            if matches && size > lo && size <= hi {
                lo = size;
            } else if !matches && size > lo && size <= hi {
                hi = size - 1;
            }
        }
        (lo, hi)
    }

    /// The lowest signed checkpoint (size) whose root differs and that
    /// covers event `seq`.
    fn differing_over(&self, seq: u64) -> Option<u64> {
        self.verdicts
            .iter()
            .filter(|&&(size, matches)| !matches && size > seq)
            .map(|&(size, _)| size)
            .min()
    }

    /// The last event, when no stored node covers it (an odd-sized log):
    /// whether the head row's right border holds a different hash for it.
    fn uncovered_last_differs(&self) -> Option<u64> {
        let n = self.tree.size();
        let (size, frontier) = self.head_frontier.as_ref()?;
        if n.is_multiple_of(2) || *size != n || frontier.len() < 32 {
            return None;
        }
        let stored = Hash::from_slice(&frontier[frontier.len() - 32..])?;
        (self.tree.get(NodeId::new(0, n - 1)) != Some(stored)).then_some(n - 1)
    }
}

fn events_location(first: u64, last: u64) -> Location {
    if first == last {
        Location::Event(first)
    } else {
        Location::Events { first, last }
    }
}

const RECOMPUTED: &str = "changed, and its stored leaf hash recomputed to match";

/// Finds where the log was changed, so that the first bad sequence number
/// is the changed event's and not that of a node or checkpoint above it.
///
/// A changed leaf whose stored hash was left alone is found by its hash. If
/// the hash was recomputed too, the lowest tree node over it no longer
/// matches its children; that node alone cannot tell a changed event from
/// a changed node, but a signed checkpoint over it can (its root differs
/// only if an event did), and checkpoints at sizes inside the node's range
/// narrow it further. What is left can be one of two events or more: then
/// the report says so (`Location::Events`) rather than guess, and
/// [`refine`] checks those leaves' encoding.
fn locate(problems: &mut Vec<Problem>, ev: &Evidence<'_>) {
    let mut causes: Vec<(u64, u64, Location)> = problems
        .iter()
        .filter_map(|p| match p.location {
            Location::Event(seq) => Some((seq, seq, p.location)),
            _ => None,
        })
        .collect();
    // Nodes that differ from the recomputed tree and not because of a
    // changed event below them or their own children.
    let mut added = Vec::new();
    for p in problems.iter() {
        let Location::Node { level, index } = p.location else {
            continue;
        };
        if !p.what.starts_with(NODE_DIFFERS) {
            continue;
        }
        let lo = NodeId::new(level, index).first_leaf();
        let hi = lo + (1u64 << level) - 1;
        if causes.iter().any(|&(a, b, _)| a <= hi && b >= lo) || ev.agrees_with_children(level, index) {
            continue;
        }
        match ev.differing_over(lo) {
            // An event changed, with the hashes above it up to this node.
            Some(_) => {
                let (first, last) = ev.narrow(lo, hi);
                let loc = events_location(first, last);
                let what = if first == last {
                    format!(
                        "{RECOMPUTED} (the tree node over events {lo}–{hi} and the signed checkpoints still hold the original)"
                    )
                } else {
                    format!(
                        "one of these events was {RECOMPUTED}; the tree node over events {lo}–{hi} and the signed checkpoints still hold the original, the database does not say which event it was"
                    )
                };
                causes.push((first, last, loc));
                added.push(Problem {
                    location: loc,
                    what,
                    follows_from: None,
                });
            }
            // No signed root says the events changed: the node did.
            None => causes.push((lo, hi, p.location)),
        }
    }
    problems.extend(added);
    // A signed root that differs with no cause below it: the events were
    // changed with every stored hash above them (or the last one, which no
    // stored node covers).
    causes.sort_unstable();
    let unexplained = ev.verdicts[..ev.stored_verdicts]
        .iter()
        .filter(|&&(size, matches)| !matches && !causes.iter().any(|&(a, _, _)| a < size))
        .map(|&(size, _)| size)
        .min();
    if let Some(size) = unexplained {
        let (first, last) = ev.narrow(0, size - 1);
        let (loc, what) = match ev.uncovered_last_differs().filter(|&s| s >= first && s <= last) {
            Some(seq) => (
                Location::Event(seq),
                format!(
                    "{RECOMPUTED} (no tree node covers it; the head row and the signed checkpoints still hold the original)"
                ),
            ),
            None if first == last => (
                Location::Event(first),
                format!("{RECOMPUTED}, with every tree node above it (the signed checkpoints still hold the original)"),
            ),
            None => (
                Location::Events { first, last },
                format!(
                    "one of these events was {RECOMPUTED}, with every tree node above it; the signed checkpoints still hold the original, the database does not say which event it was"
                ),
            ),
        };
        let seq = loc.first_seq().unwrap_or(first);
        causes.push((seq, last, loc));
        problems.push(Problem {
            location: loc,
            what,
            follows_from: None,
        });
        causes.sort_unstable();
    }
    // Everything above a cause follows from it.
    let cause_in = |lo: u64, hi: u64, own: Location| {
        causes
            .iter()
            .find(|&&(a, b, loc)| a <= hi && b >= lo && loc != own)
            .map(|&(_, _, loc)| loc)
    };
    for p in problems.iter_mut() {
        p.follows_from = match p.location {
            Location::Node { level, index } => {
                let lo = NodeId::new(level, index).first_leaf();
                cause_in(lo, lo + (1u64 << level) - 1, p.location)
            }
            Location::Checkpoint(size) | Location::Witness(size) if is_root_mismatch(&p.what) && size > 0 => {
                cause_in(0, size - 1, p.location)
            }
            // The right border covers every event.
            Location::Head if p.what == HEAD_BORDER => causes.first().map(|&(_, _, loc)| loc),
            _ => None,
        };
    }
}

const HEAD_BORDER: &str = "the stored right border of the tree is wrong";
const NODE_DIFFERS: &str = "stored hash does not match the hash of its children";
const ROOT_DIFFERS: &str = "the signed root differs from the root recomputed";
const EXTERNAL_DIFFERS: &str = "the log is not an extension of the checkpoint kept outside it";

fn is_root_mismatch(what: &str) -> bool {
    what.starts_with(ROOT_DIFFERS) || what.starts_with(EXTERNAL_DIFFERS)
}

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
                        problems.add(loc, NODE_DIFFERS);
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
                problems.add(Location::Head, HEAD_BORDER);
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

/// What [`check_checkpoints`] found besides problems: how many there are,
/// the latest that verified, and for each signed one within the log its
/// tree size and whether its root is the recomputed one.
type CheckpointFindings = (u64, Option<(u64, Hash)>, Vec<(u64, bool)>);

fn check_checkpoints(
    rows: Vec<StoredCheckpoint>,
    tree: &MemTree,
    known: &[NoteVerifier],
    grew: bool,
    problems: &mut Problems,
) -> CheckpointFindings {
    let count = rows.len() as u64;
    let mut previous: Option<(u64, Hash)> = None;
    let mut verdicts = Vec::new();
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
        let matches = tree.root_at(size) == Some(cp.root);
        verdicts.push((size, matches));
        if !matches {
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
    (count, previous, verdicts)
}
