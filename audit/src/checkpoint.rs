//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>): origin, tree
//! size and root hash as the text of a signed note.

use crate::hash::{Hash, b64_decode_canonical};
use crate::note::{self, NoteError, NoteSigner, NoteVerifier};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    #[error("checkpoint signature: {0}")]
    Note(#[from] NoteError),
    #[error("checkpoint origin is not the one expected")]
    WrongOrigin,
}

/// The body of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: &str, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text, with its final newline.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a note text. Strict: the size has no leading zeros, the root
    /// is the canonical base64 of 32 bytes, no line is empty.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or("");
        let size = lines.next().unwrap_or("");
        let root = lines.next().unwrap_or("");
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if origin.is_empty() {
            return Err(CheckpointError::Malformed("empty origin"));
        }
        let size = parse_decimal(size).ok_or(CheckpointError::Malformed("tree size"))?;
        let root = b64_decode_canonical(root)
            .and_then(|b| Hash::from_slice(&b))
            .ok_or(CheckpointError::Malformed("root hash"))?;
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::Malformed("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint; the signer's name should be the origin.
    pub fn sign(&self, signer: &NoteSigner) -> Result<SignedCheckpoint, CheckpointError> {
        let note = signer.sign(&self.to_text())?;
        Ok(SignedCheckpoint {
            checkpoint: self.clone(),
            note,
        })
    }
}

/// ASCII decimal without leading zeros (unless it is `0`).
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// A checkpoint together with its signed note, exactly as stored and
/// handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: String,
}

impl SignedCheckpoint {
    /// Opens a signed checkpoint: the note must carry a valid signature by
    /// one of `known`, and the origin must be the name of a key in `known`
    /// that signed it (the C2SP recommendation, which `hrobot audit keygen`
    /// follows: the key name is the origin).
    pub fn open(note_bytes: &[u8], known: &[NoteVerifier]) -> Result<SignedCheckpoint, CheckpointError> {
        let note = note::open(note_bytes, known)?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        if !note.sigs.iter().any(|s| s.name == checkpoint.origin) {
            return Err(CheckpointError::WrongOrigin);
        }
        let note = String::from_utf8(note_bytes.to_vec()).map_err(|_| CheckpointError::Note(NoteError::Malformed))?;
        Ok(SignedCheckpoint { checkpoint, note })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_c2sp_example_body() {
        let text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = Checkpoint::parse(text).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20852163);
        assert_eq!(c.to_text(), text);
    }

    #[test]
    fn refuses_sloppy_bodies() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            format!("o\n012\n{root}\n"),
            format!("o\n12\n{root}"),
            format!("\n12\n{root}\n"),
            format!("o\n12\n{root}\n\n"),
            format!("o\n-1\n{root}\n"),
            "o\n12\nAAAA\n".to_string(),
            "o\n12\n".to_string(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signed_checkpoints_open_with_the_right_key_only() {
        let signer = NoteSigner::generate("example.com/log").unwrap();
        let other = NoteSigner::generate("example.com/log").unwrap();
        let cp = Checkpoint::new("example.com/log", 3, crate::hash::leaf_hash(b"x"));
        let signed = cp.sign(&signer).unwrap();
        let opened = SignedCheckpoint::open(signed.note.as_bytes(), &[signer.verifier()]).unwrap();
        assert_eq!(opened, signed);
        assert!(SignedCheckpoint::open(signed.note.as_bytes(), &[other.verifier()]).is_err());
        let elsewhere = NoteSigner::generate("example.com/other").unwrap();
        let foreign = cp.sign(&elsewhere).unwrap();
        assert_eq!(
            SignedCheckpoint::open(foreign.note.as_bytes(), &[elsewhere.verifier()]),
            Err(CheckpointError::WrongOrigin)
        );
    }
}
