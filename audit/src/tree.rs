//! The shape of an RFC 6962 tree, independent of where its hashes live.
//!
//! Hashes are addressed by [`NodeId`]: the node at `level` and `index`
//! covers leaves `[index·2^level, (index+1)·2^level)`; level 0 is the leaf
//! hashes. Only *perfect* subtrees are ever stored; the hash of any range
//! that proofs need is a right fold over at most 64 perfect subtrees, so
//! appends and proofs touch O(log n) stored hashes and never rehash the log.

use crate::hash::{Hash, empty_root, node_hash};
use std::collections::HashMap;

/// A perfect subtree: leaves `[index << level, (index + 1) << level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub const fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    /// The first leaf this node covers.
    pub fn first_leaf(&self) -> u64 {
        self.index << self.level
    }
}

/// The perfect subtrees that make up `[start, end)`, left to right, largest
/// first. `start` must be aligned for the range, as every range in an
/// RFC 6962 tree of size `>= end` is.
pub fn perfect_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let room = end - at;
        let align = if at == 0 { 63 } else { at.trailing_zeros() };
        let fits = 63 - room.leading_zeros();
        let level = align.min(fits);
        out.push(NodeId::new(level as u8, at >> level));
        at += 1u64 << level;
    }
    out
}

/// The RFC 6962 hash of a range from the hashes of its perfect subtrees
/// (left to right): a right fold.
pub fn fold(hashes: &[Hash]) -> Hash {
    let mut iter = hashes.iter().rev();
    let Some(last) = iter.next() else {
        return empty_root();
    };
    iter.fold(*last, |acc, left| node_hash(left, &acc))
}

/// Largest power of two strictly less than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Which ranges the inclusion proof for leaf `index` in a tree of `size`
/// leaves consists of, from the leaf's sibling up to the root's child, each
/// given as its perfect subtrees. `None` if `index >= size`.
pub fn inclusion_plan(index: u64, size: u64) -> Option<Vec<Vec<NodeId>>> {
    if index >= size {
        return None;
    }
    let (mut lo, mut hi) = (0u64, size);
    let mut path = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            path.push(perfect_nodes(lo + k, hi));
            hi = lo + k;
        } else {
            path.push(perfect_nodes(lo, lo + k));
            lo += k;
        }
    }
    path.reverse();
    Some(path)
}

/// Which ranges the consistency proof from `size1` to `size2` consists of
/// (RFC 6962 §2.1.2). `None` unless `0 < size1 <= size2`.
pub fn consistency_plan(size1: u64, size2: u64) -> Option<Vec<Vec<NodeId>>> {
    if size1 == 0 || size1 > size2 {
        return None;
    }
    let (mut lo, mut hi, mut m) = (0u64, size2, size1);
    let mut whole = true;
    let mut base = None;
    let mut path = Vec::new();
    loop {
        let n = hi - lo;
        if m == n {
            if !whole {
                base = Some(perfect_nodes(lo, hi));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            path.push(perfect_nodes(lo + k, hi));
            hi = lo + k;
        } else {
            path.push(perfect_nodes(lo, lo + k));
            lo += k;
            m -= k;
            whole = false;
        }
    }
    path.reverse();
    Some(base.into_iter().chain(path).collect())
}

/// Every node a plan needs, once each.
pub fn plan_nodes(plan: &[Vec<NodeId>]) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = plan.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Turns a plan into proof hashes, given the hashes of its nodes. `None` if
/// a node is missing.
pub fn assemble(plan: &[Vec<NodeId>], nodes: &HashMap<NodeId, Hash>) -> Option<Vec<Hash>> {
    plan.iter()
        .map(|range| {
            let hashes: Option<Vec<Hash>> = range.iter().map(|id| nodes.get(id).copied()).collect();
            hashes.map(|h| fold(&h))
        })
        .collect()
}

/// The right border of a tree: the roots of the perfect subtrees that make
/// up `[0, size)`, largest first. With it, an append computes the new nodes
/// and the new root without reading anything else.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from its stored form; `None` if the number of
    /// hashes does not fit the size.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Frontier> {
        (size.count_ones() as usize == hashes.len()).then_some(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The node ids of the frontier's hashes.
    pub fn ids(&self) -> Vec<NodeId> {
        perfect_nodes(0, self.size)
    }

    pub fn root(&self) -> Hash {
        fold(&self.hashes)
    }

    /// Appends a leaf; returns the interior nodes (level >= 1) it completes,
    /// lowest first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let mut created = Vec::new();
        let mut cur = leaf;
        let mut index = self.size;
        let mut level = 0u8;
        while index & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            cur = node_hash(&left, &cur);
            index >>= 1;
            level += 1;
            created.push((NodeId::new(level, index), cur));
        }
        self.hashes.push(cur);
        self.size += 1;
        created
    }

    /// Serialised: the hashes concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.iter().flat_map(|h| h.0).collect()
    }

    pub fn from_bytes(size: u64, bytes: &[u8]) -> Option<Frontier> {
        if !bytes.len().is_multiple_of(32) {
            return None;
        }
        let hashes = bytes.chunks_exact(32).filter_map(Hash::from_slice).collect();
        Frontier::from_parts(size, hashes)
    }
}

/// A whole tree in memory, level by level: for tests, benchmarks and the
/// verifier's recomputation.
#[derive(Debug, Clone, Default)]
pub struct MemTree {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemTree {
    pub fn new() -> MemTree {
        MemTree::default()
    }

    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> MemTree {
        let mut t = MemTree::new();
        for l in leaves {
            t.push(l);
        }
        t
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        for (id, h) in self.frontier.push(leaf) {
            let level = id.level as usize;
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(h);
        }
    }

    pub fn get(&self, id: NodeId) -> Option<Hash> {
        self.levels
            .get(id.level as usize)?
            .get(usize::try_from(id.index).ok()?)
            .copied()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    pub fn root_at(&self, size: u64) -> Option<Hash> {
        if size > self.size() {
            return None;
        }
        let h: Option<Vec<Hash>> = perfect_nodes(0, size).into_iter().map(|id| self.get(id)).collect();
        h.map(|h| fold(&h))
    }

    fn run(&self, plan: &[Vec<NodeId>]) -> Option<Vec<Hash>> {
        plan.iter()
            .map(|range| {
                let h: Option<Vec<Hash>> = range.iter().map(|id| self.get(*id)).collect();
                h.map(|h| fold(&h))
            })
            .collect()
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if size > self.size() {
            return None;
        }
        self.run(&inclusion_plan(index, size)?)
    }

    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Option<Vec<Hash>> {
        if size2 > self.size() {
            return None;
        }
        self.run(&consistency_plan(size1, size2)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::proof::{verify_consistency, verify_inclusion};

    /// RFC 6962 MTH, straight from the definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn perfect_nodes_cover_ranges_exactly() {
        assert_eq!(perfect_nodes(0, 0), vec![]);
        assert_eq!(
            perfect_nodes(0, 7),
            vec![NodeId::new(2, 0), NodeId::new(1, 2), NodeId::new(0, 6)]
        );
        assert_eq!(perfect_nodes(4, 7), vec![NodeId::new(1, 2), NodeId::new(0, 6)]);
        assert_eq!(perfect_nodes(8, 16), vec![NodeId::new(3, 1)]);
    }

    #[test]
    fn roots_match_the_definition() {
        let all = leaves(70);
        let tree = MemTree::from_leaf_hashes(all.iter().copied());
        for n in 0..=70u64 {
            assert_eq!(tree.root_at(n), Some(mth(&all[..n as usize])), "size {n}");
        }
        assert_eq!(tree.root(), mth(&all));
    }

    #[test]
    fn the_shared_eight_leaf_root() {
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
            ],
        ];
        let tree = MemTree::from_leaf_hashes(data.iter().map(|d| leaf_hash(d)));
        assert_eq!(
            tree.root().to_hex(),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
    }

    #[test]
    fn generated_proofs_verify_and_have_rfc_lengths() {
        let all = leaves(40);
        let tree = MemTree::from_leaf_hashes(all.iter().copied());
        for size in 1..=40u64 {
            let root = tree.root_at(size).unwrap();
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size).unwrap();
                verify_inclusion(index, size, &all[index as usize].0, &proof, &root.0)
                    .unwrap_or_else(|e| panic!("inclusion {index}/{size}: {e}"));
            }
            for size1 in 1..=size {
                let proof = tree.consistency_proof(size1, size).unwrap();
                let root1 = tree.root_at(size1).unwrap();
                verify_consistency(size1, size, &proof, &root1.0, &root.0)
                    .unwrap_or_else(|e| panic!("consistency {size1}->{size}: {e}"));
            }
        }
    }

    #[test]
    fn frontier_round_trips_through_bytes() {
        let mut f = Frontier::new();
        for l in leaves(13) {
            f.push(l);
        }
        assert_eq!(f.hashes().len(), 3);
        assert_eq!(Frontier::from_bytes(13, &f.to_bytes()), Some(f.clone()));
        assert_eq!(Frontier::from_bytes(12, &f.to_bytes()), None);
        assert_eq!(f.ids(), vec![NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]);
    }

    #[test]
    fn plans_refuse_impossible_requests() {
        assert!(inclusion_plan(3, 3).is_none());
        assert!(consistency_plan(0, 3).is_none());
        assert!(consistency_plan(4, 3).is_none());
        assert_eq!(consistency_plan(3, 3), Some(vec![]));
    }
}
