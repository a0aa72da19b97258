//! Offline verification of a proof file, as `hrobot audit verify-proof`
//! does it: no database, only the file and (for tlog-proof files) a
//! verifier key.
//!
//! Two formats are accepted:
//! - a C2SP `tlog-proof` file (as `hrobot audit prove` writes them);
//! - a JSON test vector in the transparency-dev/merkle format: inclusion
//!   (`leafIdx`, `treeSize`, `root`, `leafHash`, `proof`) or consistency
//!   (`size1`, `size2`, `root1`, `root2`, `proof`), hashes in standard
//!   base64, `proof` possibly `null`. Other fields (`desc`, `wantErr`) are
//!   ignored; as in Go's `encoding/json`, an absent field is zero/empty.

use crate::event::LeafEvent;
use crate::hash::b64_decode;
use crate::note::NoteVerifier;
use crate::proof::{verify_consistency, verify_inclusion};
use crate::tlog_proof::{HEADER, TlogProof};
use serde::Deserialize;

/// The verdict on a readable proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid(String),
    Invalid(String),
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid(_))
    }
}

/// The input could not be read as a proof (or there is nothing to verify
/// it against).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("{0}")]
    Format(String),
    #[error("a tlog-proof needs a verifier key (--key or HROBOT_AUDIT_VERIFIER_KEY)")]
    NoKey,
}

/// Reads and verifies one proof file.
pub fn verify_file(bytes: &[u8], known: &[NoteVerifier]) -> Result<Verdict, Unreadable> {
    if bytes.starts_with(HEADER.as_bytes()) {
        let text = std::str::from_utf8(bytes).map_err(|_| Unreadable::Format("tlog-proof is not UTF-8".into()))?;
        return verify_tlog_proof(text, known);
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Unreadable::Format(format!("neither a tlog-proof nor JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| Unreadable::Format("JSON proof must be an object".into()))?;
    let has = |k: &str| obj.contains_key(k);
    let inclusion = ["leafIdx", "treeSize", "root", "leafHash"].iter().any(|k| has(k));
    let consistency = ["size1", "size2", "root1", "root2"].iter().any(|k| has(k));
    match (inclusion, consistency) {
        (true, false) => {
            let v: InclusionVector =
                serde_json::from_value(value).map_err(|e| Unreadable::Format(format!("inclusion proof: {e}")))?;
            v.verify()
        }
        (false, true) => {
            let v: ConsistencyVector =
                serde_json::from_value(value).map_err(|e| Unreadable::Format(format!("consistency proof: {e}")))?;
            v.verify()
        }
        _ => Err(Unreadable::Format(
            "JSON is neither an inclusion nor a consistency proof".into(),
        )),
    }
}

fn verify_tlog_proof(text: &str, known: &[NoteVerifier]) -> Result<Verdict, Unreadable> {
    let proof = TlogProof::parse(text).map_err(|e| Unreadable::Format(e.to_string()))?;
    if known.is_empty() {
        return Err(Unreadable::NoKey);
    }
    let verified = match proof.verify(known) {
        Ok(v) => v,
        Err(e) if e.is_unreadable() => return Err(Unreadable::Format(e.to_string())),
        Err(e) => return Ok(Verdict::Invalid(e.to_string())),
    };
    let cp = &verified.checkpoint.checkpoint;
    // When the leaf is one of our events, its own sequence number must be
    // the index the proof claims.
    let mut about = String::new();
    if let Some(leaf) = &proof.extra
        && let Ok(event) = LeafEvent::decode(leaf)
    {
        if event.seq != proof.index {
            return Ok(Verdict::Invalid(format!(
                "the event carries sequence number {}, the proof claims index {}",
                event.seq, proof.index
            )));
        }
        about = format!(
            " ({} at {})",
            event.kind,
            event.time().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        );
    }
    Ok(Verdict::Valid(format!(
        "event {}{about} is included in {} at tree size {} (root {})",
        proof.index, cp.origin, cp.size, cp.root
    )))
}

#[derive(Deserialize)]
struct InclusionVector {
    #[serde(rename = "leafIdx", default)]
    leaf_idx: u64,
    #[serde(rename = "treeSize", default)]
    tree_size: u64,
    #[serde(default)]
    root: Option<String>,
    #[serde(rename = "leafHash", default)]
    leaf_hash: Option<String>,
    #[serde(default)]
    proof: Option<Vec<Option<String>>>,
}

#[derive(Deserialize)]
struct ConsistencyVector {
    #[serde(default)]
    size1: u64,
    #[serde(default)]
    size2: u64,
    #[serde(default)]
    root1: Option<String>,
    #[serde(default)]
    root2: Option<String>,
    #[serde(default)]
    proof: Option<Vec<Option<String>>>,
}

/// Go decodes a JSON string into `[]byte` with `base64.StdEncoding`; `null`
/// is an empty slice.
fn bytes(field: &str, v: &Option<String>) -> Result<Vec<u8>, Unreadable> {
    match v {
        None => Ok(Vec::new()),
        Some(s) => b64_decode(s).ok_or_else(|| Unreadable::Format(format!("{field}: not standard base64"))),
    }
}

fn proof_bytes(v: &Option<Vec<Option<String>>>) -> Result<Vec<Vec<u8>>, Unreadable> {
    v.iter().flatten().map(|h| bytes("proof", h)).collect()
}

impl InclusionVector {
    fn verify(&self) -> Result<Verdict, Unreadable> {
        let root = bytes("root", &self.root)?;
        let leaf = bytes("leafHash", &self.leaf_hash)?;
        let proof = proof_bytes(&self.proof)?;
        Ok(
            match verify_inclusion(self.leaf_idx, self.tree_size, &leaf, &proof, &root) {
                Ok(()) => Verdict::Valid(format!(
                    "leaf {} is included in the tree of size {}",
                    self.leaf_idx, self.tree_size
                )),
                Err(e) => Verdict::Invalid(e.to_string()),
            },
        )
    }
}

impl ConsistencyVector {
    fn verify(&self) -> Result<Verdict, Unreadable> {
        let root1 = bytes("root1", &self.root1)?;
        let root2 = bytes("root2", &self.root2)?;
        let proof = proof_bytes(&self.proof)?;
        Ok(
            match verify_consistency(self.size1, self.size2, &proof, &root1, &root2) {
                Ok(()) => Verdict::Valid(format!(
                    "the tree of size {} extends the tree of size {}",
                    self.size2, self.size1
                )),
                Err(e) => Verdict::Invalid(e.to_string()),
            },
        )
    }
}
