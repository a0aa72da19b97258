//! `hrobot audit verify`: recompute the whole log from its leaves and
//! compare everything stored against it.
//!
//! Checks, in one pass over the events and one over the nodes:
//! - sequence numbers are 0, 1, 2, … without gaps;
//! - every leaf decodes canonically, carries its own sequence number, and
//!   agrees with the columns stored beside it;
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

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::event::LeafEvent;
use crate::hash::{Hash, b64_decode_canonical, leaf_hash};
use crate::note::NoteVerifier;
use crate::proof::verify_consistency;
use crate::store::AuditConnection;
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

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, location: Location, what: impl Into<String>) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(Problem {
                location,
                what: what.into(),
                follows_from: None,
            });
        }
    }
}

/// Verifies the whole stored log. `known` are the trusted verifier keys;
/// at least one is needed.
pub async fn verify_log<C: AuditConnection>(conn: &mut C, known: &[NoteVerifier]) -> Result<VerifyReport, AuditError> {
    if known.is_empty() {
        return Err(AuditError::Config("verifying checkpoints needs a verifier key".into()));
    }
    let mut problems = Problems(Vec::new());
    let tree = check_events(conn, &mut problems).await?;
    let nodes = check_nodes(conn, &tree, &mut problems).await?;
    check_head(conn, &tree, &mut problems).await?;
    let (checkpoints, latest_checkpoint) = check_checkpoints(conn, &tree, known, &mut problems).await?;
    let mut problems = problems.0;
    mark_consequences(&mut problems);
    problems.sort_by_key(|p| (p.first_seq().unwrap_or(u64::MAX), p.follows_from.is_some(), p.location));
    Ok(VerifyReport {
        events: tree.size(),
        nodes,
        checkpoints,
        root: tree.root(),
        latest_checkpoint,
        problems,
    })
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

async fn check_events<C: AuditConnection>(conn: &mut C, problems: &mut Problems) -> Result<MemTree, AuditError> {
    let mut tree = MemTree::new();
    'pages: loop {
        let at = tree.size();
        let page = conn.events_page(at, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            let seq = tree.size();
            if row.seq != seq as i64 {
                // A gap: nothing after it can be placed in the tree.
                problems.add(
                    Location::Event(seq),
                    format!("missing (the next stored sequence number is {})", row.seq),
                );
                break 'pages;
            }
            let computed = leaf_hash(&row.leaf);
            if row.leaf_hash != computed.0 {
                problems.add(Location::Event(seq), "stored leaf hash does not match the leaf bytes");
            }
            match LeafEvent::decode(&row.leaf) {
                Err(e) => problems.add(Location::Event(seq), format!("leaf does not decode: {e}")),
                Ok(ev) => {
                    let mut wrong = Vec::new();
                    if ev.seq != seq {
                        wrong.push("sequence number");
                    }
                    if ev.id.0.as_slice() != row.event_id.as_slice() {
                        wrong.push("event_id");
                    }
                    if ev.kind.as_str() != row.kind {
                        wrong.push("kind");
                    }
                    if ev.case_ref.as_ref().map(|c| c.as_str()) != row.case_ref.as_deref() {
                        wrong.push("case_ref");
                    }
                    if ev.time_us != row.time_us {
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
            tree.push(computed);
        }
    }
    Ok(tree)
}

async fn check_nodes<C: AuditConnection>(
    conn: &mut C,
    tree: &MemTree,
    problems: &mut Problems,
) -> Result<u64, AuditError> {
    let size = tree.size();
    let top = if size < 2 { 0 } else { 63 - size.leading_zeros() as u8 };
    let expected_at = |level: u8| if level == 0 || level > 63 { 0 } else { size >> level };
    // Merge the stored nodes (sorted by level, index) against the expected
    // ones: levels 1..=top, indices 0..size>>level.
    let mut cursor: (u8, u64) = (1, 0);
    let advance_to = |target: Option<(u8, u64)>, problems: &mut Problems, cursor: &mut (u8, u64)| {
        while cursor.0 <= top && target.is_none_or(|t| *cursor < t) {
            if cursor.1 < expected_at(cursor.0) {
                problems.add(
                    Location::Node {
                        level: cursor.0,
                        index: cursor.1,
                    },
                    "missing",
                );
                cursor.1 += 1;
            } else {
                *cursor = (cursor.0 + 1, 0);
            }
        }
    };
    let mut count = 0u64;
    let mut after = (0i64, -1i64);
    loop {
        let page = conn.nodes_page(after, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for node in page {
            after = (node.level, node.idx);
            count += 1;
            let (Ok(level), Ok(index)) = (u8::try_from(node.level), u64::try_from(node.idx)) else {
                problems.add(
                    Location::Head,
                    format!("a node has an impossible position ({}, {})", node.level, node.idx),
                );
                continue;
            };
            advance_to(Some((level, index)), problems, &mut cursor);
            let loc = Location::Node { level, index };
            if level == 0 || index >= expected_at(level) {
                problems.add(loc, "stored, but no such node exists in a log of this size");
                continue;
            }
            cursor = (level, index + 1);
            if tree.get(NodeId::new(level, index)).map(|h| h.0.to_vec()) != Some(node.hash) {
                problems.add(loc, "stored hash does not match the hash of its children");
            }
        }
    }
    advance_to(None, problems, &mut cursor);
    Ok(count)
}

async fn check_head<C: AuditConnection>(
    conn: &mut C,
    tree: &MemTree,
    problems: &mut Problems,
) -> Result<(), AuditError> {
    match conn.read_head().await? {
        None => problems.add(Location::Head, "missing"),
        Some(head) => {
            if head.size != tree.size() {
                problems.add(
                    Location::Head,
                    format!("says {} events, the log has {}", head.size, tree.size()),
                );
            } else if head.frontier != tree.frontier().to_bytes() {
                problems.add(Location::Head, "the stored right border of the tree is wrong");
            }
        }
    }
    Ok(())
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

async fn check_checkpoints<C: AuditConnection>(
    conn: &mut C,
    tree: &MemTree,
    known: &[NoteVerifier],
    problems: &mut Problems,
) -> Result<(u64, Option<(u64, Hash)>), AuditError> {
    let rows = conn.checkpoints().await?;
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
    Ok((count, previous))
}
