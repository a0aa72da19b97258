//! C2SP transparency log proofs (<https://c2sp.org/tlog-proof>): an index,
//! an inclusion proof and a signed checkpoint, verifiable offline.
//!
//! Our proofs carry the leaf itself (its canonical bytes) base64-encoded on
//! the `extra` line, so that the leaf hash can be recomputed from the file
//! alone: `SHA-256(0x00 ‖ extra)`. The leaf contains no personal data in
//! the clear (see [`crate::event`]).

use crate::checkpoint::{CheckpointError, SignedCheckpoint, parse_decimal};
use crate::hash::{Hash, b64_decode_canonical, b64_encode, leaf_hash};
use crate::note::NoteVerifier;
use crate::proof::{ProofError, verify_inclusion};

pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    #[error("not a tlog-proof: {0}")]
    Malformed(&'static str),
    #[error("the proof has no extra line carrying the leaf")]
    NoLeaf,
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("inclusion proof: {0}")]
    Proof(#[from] ProofError),
}

impl TlogProofError {
    /// Whether the input could not be read at all (as opposed to being read
    /// and found invalid).
    pub fn is_unreadable(&self) -> bool {
        match self {
            TlogProofError::Malformed(_) | TlogProofError::NoLeaf => true,
            TlogProofError::Checkpoint(CheckpointError::Malformed(_)) => true,
            TlogProofError::Checkpoint(_) | TlogProofError::Proof(_) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    pub fn to_text(&self) -> String {
        let mut s = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            s.push_str("extra ");
            s.push_str(&b64_encode(extra));
            s.push('\n');
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    pub fn parse(text: &str) -> Result<TlogProof, TlogProofError> {
        let rest = text
            .strip_prefix(HEADER)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or(TlogProofError::Malformed("first line"))?;
        let (mut line, mut rest) = next_line(rest)?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(b64_decode_canonical(b64).ok_or(TlogProofError::Malformed("extra data"))?);
            (line, rest) = next_line(rest)?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(TlogProofError::Malformed("index line"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = next_line(rest)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            let h = b64_decode_canonical(line)
                .and_then(|b| Hash::from_slice(&b))
                .ok_or(TlogProofError::Malformed("proof hash"))?;
            proof.push(h);
            if proof.len() > 64 {
                return Err(TlogProofError::Malformed("too many proof hashes"));
            }
        }
        if rest.is_empty() {
            return Err(TlogProofError::Malformed("no checkpoint"));
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: rest.to_string(),
        })
    }

    /// Verifies the proof offline: the checkpoint is signed by one of
    /// `known` for its origin, and the leaf carried in `extra` is at
    /// `index` in the checkpointed tree.
    pub fn verify(&self, known: &[NoteVerifier]) -> Result<VerifiedTlogProof, TlogProofError> {
        let leaf = self.extra.as_ref().ok_or(TlogProofError::NoLeaf)?;
        let checkpoint = SignedCheckpoint::open(self.checkpoint.as_bytes(), known)?;
        let leaf_hash = leaf_hash(leaf);
        let c = &checkpoint.checkpoint;
        verify_inclusion(self.index, c.size, &leaf_hash.0, &self.proof, &c.root.0)?;
        Ok(VerifiedTlogProof { checkpoint, leaf_hash })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTlogProof {
    pub checkpoint: SignedCheckpoint,
    pub leaf_hash: Hash,
}

fn next_line(s: &str) -> Result<(&str, &str), TlogProofError> {
    s.split_once('\n').ok_or(TlogProofError::Malformed("unexpected end"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::note::NoteSigner;
    use crate::tree::MemTree;

    fn sample() -> (TlogProof, NoteSigner) {
        let leaves: Vec<Vec<u8>> = (0..11u8).map(|i| vec![i; 3]).collect();
        let tree = MemTree::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l)));
        let signer = NoteSigner::generate("example.com/log").unwrap();
        let cp = Checkpoint::new("example.com/log", 11, tree.root())
            .sign(&signer)
            .unwrap();
        let p = TlogProof {
            extra: Some(leaves[6].clone()),
            index: 6,
            proof: tree.inclusion_proof(6, 11).unwrap(),
            checkpoint: cp.note,
        };
        (p, signer)
    }

    #[test]
    fn round_trips_and_verifies() {
        let (p, signer) = sample();
        let text = p.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra BgYG\nindex 6\n"));
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed, p);
        parsed.verify(&[signer.verifier()]).unwrap();
    }

    #[test]
    fn a_wrong_index_or_leaf_is_invalid_not_unreadable() {
        let (mut p, signer) = sample();
        p.index = 7;
        let e = p.verify(&[signer.verifier()]).unwrap_err();
        assert!(!e.is_unreadable(), "{e}");
        let (mut p, _) = sample();
        p.extra = Some(vec![9]);
        assert!(p.verify(&[signer.verifier()]).is_err());
    }

    #[test]
    fn garbage_is_unreadable() {
        for bad in [
            "",
            "c2sp.org/tlog-proof@v1\n",
            "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
        ] {
            assert!(TlogProof::parse(bad).unwrap_err().is_unreadable(), "{bad:?}");
        }
    }
}
