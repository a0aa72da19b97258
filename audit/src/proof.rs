//! Verification of RFC 6962 inclusion and consistency proofs.
//!
//! A faithful port of transparency-dev/merkle `proof/verify.go` (commit
//! 417fb0c, the one the shared vectors come from), including its corner
//! cases: a consistency proof from size 0 is an error even when both sizes
//! are 0; a proof must have exactly the expected number of hashes; the leaf
//! hash must be 32 bytes, but proof hashes and roots are compared as the byte
//! strings they are.

use crate::hash::children_bytes;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("index is beyond size: {index} >= {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    #[error("leaf hash has unexpected size {0}, want 32")]
    LeafHashSize(usize),
    #[error("wrong proof size {got}, want {want}")]
    WrongProofSize { got: usize, want: usize },
    #[error("size2 ({size2}) < size1 ({size1})")]
    Size2BeforeSize1 { size1: u64, size2: u64 },
    #[error("consistency proof from empty tree is meaningless")]
    FromEmptyTree,
    #[error("size1=size2, but proof is not empty")]
    NonEmptyProofForEqualSizes,
    #[error("empty proof")]
    EmptyProof,
    #[error("calculated root does not match expected root")]
    RootMismatch,
}

/// Verifies that `leaf_hash` is the leaf at `index` of the tree of `size`
/// leaves with root `root`.
pub fn verify_inclusion<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    let calculated = root_from_inclusion_proof(index, size, leaf_hash, proof)?;
    verify_match(&calculated, root)
}

/// The root that an inclusion proof leads to. Requires `index < size`.
pub fn root_from_inclusion_proof<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
) -> Result<Vec<u8>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size });
    }
    if leaf_hash.len() != 32 {
        return Err(ProofError::LeafHashSize(leaf_hash.len()));
    }
    let (inner, border) = decomp_incl_proof(index, size);
    if proof.len() != inner + border {
        return Err(ProofError::WrongProofSize {
            got: proof.len(),
            want: inner + border,
        });
    }
    let res = chain_inner(leaf_hash.to_vec(), &proof[..inner], index);
    Ok(chain_border_right(res, &proof[inner..]))
}

/// Verifies that the tree of `size2` leaves with root `root2` extends the
/// tree of `size1` leaves with root `root1`. Requires `0 < size1 <= size2`.
pub fn verify_consistency<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ProofError> {
    let hash2 = root_from_consistency_proof(size1, size2, proof, root1)?;
    verify_match(&hash2, root2)
}

/// The root of the larger tree that a consistency proof leads to, after
/// checking that the proof agrees with `root1`.
pub fn root_from_consistency_proof<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
) -> Result<Vec<u8>, ProofError> {
    if size2 < size1 {
        return Err(ProofError::Size2BeforeSize1 { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::FromEmptyTree);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::NonEmptyProofForEqualSizes);
        }
        return Ok(root1.to_vec());
    }
    if proof.is_empty() {
        return Err(ProofError::EmptyProof);
    }
    root_from_subtree_consistency_proof(0, size1, size2, proof, root1)
}

/// `rootFromSubtreeConsistencyProof` with `end < size` or `end == size`;
/// here always called with `start == 0`, `0 < end < size` and a non-empty
/// proof.
fn root_from_subtree_consistency_proof<P: AsRef<[u8]>>(
    start: u64,
    end: u64,
    size: u64,
    proof: &[P],
    sub_root: &[u8],
) -> Result<Vec<u8>, ProofError> {
    if end == size {
        let level = bit_len((end - 1) ^ start);
        let index = shr(start, level);
        let want = index.count_ones() as usize;
        if proof.len() != want {
            return Err(ProofError::WrongProofSize { got: proof.len(), want });
        }
        return Ok(chain_border_right(sub_root.to_vec(), proof));
    }

    let (fork_level, border) = decomp_incl_proof(end - 1, size);
    let shift = (end - start).trailing_zeros() as usize;
    // shift < fork_level whenever end < size.
    let inner = fork_level.saturating_sub(shift);

    let (seed, p_start) = if end - start == 1u64 << shift {
        (sub_root.to_vec(), 0)
    } else {
        match proof.first() {
            Some(first) => (first.as_ref().to_vec(), 1),
            None => return Err(ProofError::EmptyProof),
        }
    };
    let want = p_start + inner + border;
    if proof.len() != want {
        return Err(ProofError::WrongProofSize { got: proof.len(), want });
    }
    let proof = &proof[p_start..];
    let mask = shr(end - 1, shift);

    if p_start == 1 {
        let (sub_inner, sub_border) = decomp_subtree_proof(start, end, size, border, proof);
        let hash1 = chain_inner_right(seed.clone(), sub_inner, mask);
        let hash1 = chain_border_right(hash1, sub_border);
        verify_match(&hash1, sub_root)?;
    }

    let hash2 = chain_inner(seed, &proof[..inner], mask);
    Ok(chain_border_right(hash2, &proof[inner..]))
}

fn verify_match(calculated: &[u8], expected: &[u8]) -> Result<(), ProofError> {
    if calculated == expected {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Lengths of the inner and border parts of the inclusion proof for `index`
/// in a tree of `size` leaves.
fn decomp_incl_proof(index: u64, size: u64) -> (usize, usize) {
    let inner = inner_proof_size(index, size);
    let border = shr(index, inner).count_ones() as usize;
    (inner, border)
}

fn decomp_subtree_proof<P: AsRef<[u8]>>(start: u64, end: u64, size: u64, border: usize, proof: &[P]) -> (&[P], &[P]) {
    let h = bit_len((end - 1) ^ start);
    let fork_level = bit_len((end - 1) ^ (size - 1));
    let shift = (end - start).trailing_zeros() as usize;
    let sub_inner = h.min(fork_level).saturating_sub(shift);
    let inner = fork_level.saturating_sub(shift);
    let sub_border = border.saturating_sub(shr(end - 1, h).count_ones() as usize);
    let lo = proof.get(..sub_inner).unwrap_or(&[]);
    let hi = proof.get(inner..inner + sub_border).unwrap_or(&[]);
    (lo, hi)
}

fn inner_proof_size(index: u64, size: u64) -> usize {
    bit_len(index ^ (size - 1))
}

fn chain_inner<P: AsRef<[u8]>>(mut seed: Vec<u8>, proof: &[P], index: u64) -> Vec<u8> {
    for (i, h) in proof.iter().enumerate() {
        seed = if shr(index, i) & 1 == 0 {
            children_bytes(&seed, h.as_ref()).to_vec()
        } else {
            children_bytes(h.as_ref(), &seed).to_vec()
        };
    }
    seed
}

fn chain_inner_right<P: AsRef<[u8]>>(mut seed: Vec<u8>, proof: &[P], index: u64) -> Vec<u8> {
    for (i, h) in proof.iter().enumerate() {
        if shr(index, i) & 1 == 1 {
            seed = children_bytes(h.as_ref(), &seed).to_vec();
        }
    }
    seed
}

fn chain_border_right<P: AsRef<[u8]>>(mut seed: Vec<u8>, proof: &[P]) -> Vec<u8> {
    for h in proof {
        seed = children_bytes(h.as_ref(), &seed).to_vec();
    }
    seed
}

/// Go's `bits.Len64`.
fn bit_len(x: u64) -> usize {
    (64 - x.leading_zeros()) as usize
}

/// Go's `x >> n`, which is 0 for `n >= 64`.
fn shr(x: u64, n: usize) -> u64 {
    if n >= 64 { 0 } else { x >> n }
}
