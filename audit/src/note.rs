//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519, in the
//! key formats of Go's `golang.org/x/mod/sumdb/note`:
//!
//! - verifier key: `<name>+<hex key id>+<base64(0x01 ‖ public key)>`
//! - signer key:   `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`
//!
//! Parsing and verification follow `note.Open`: valid UTF-8 without control
//! characters other than newline; the text ends at the last blank line;
//! unknown signatures are ignored; a known key whose signature fails rejects
//! the whole note; at least one known key must have signed.

use crate::hash::{b64_decode, b64_encode};
use crate::secret::Secret;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;

const ALG_ED25519: u8 = 0x01;
const SIG_PREFIX: &str = "\u{2014} ";
const MAX_SIGNATURES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed verifier key")]
    MalformedVerifierKey,
    #[error("verifier key id does not match the key")]
    VerifierKeyId,
    #[error("unknown signature algorithm")]
    UnknownAlgorithm,
    #[error("malformed signer key")]
    MalformedSignerKey,
    #[error("signer key id does not match the key")]
    SignerKeyId,
    #[error("invalid key name: it must be non-empty, without spaces or '+'")]
    InvalidName,
    #[error("malformed note")]
    Malformed,
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature { name: String, key_id: u32 },
    #[error("ambiguous key {name}+{key_id:08x}")]
    Ambiguous { name: String, key_id: u32 },
    #[error("note has no verifiable signatures")]
    Unverified,
}

/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`, big-endian.
fn key_id(name: &str, alg_and_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(alg_and_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Go's `isValidName`: non-empty, no Unicode space, no `+`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Go's `strconv.ParseUint(s, 16, 32)` on exactly eight characters.
fn parse_key_id(hex8: &str) -> Option<u32> {
    (hex8.len() == 8 && hex8.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(hex8, 16).ok())
        .flatten()
}

/// A public key that verifies note signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({})", self.to_vkey())
    }
}

impl NoteVerifier {
    /// Parses `<name>+<hex id>+<base64(0x01 ‖ key)>`.
    pub fn from_vkey(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let (name, rest) = vkey.split_once('+').unwrap_or((vkey, ""));
        let (hex8, b64) = rest.split_once('+').unwrap_or((rest, ""));
        let id = parse_key_id(hex8).ok_or(NoteError::MalformedVerifierKey)?;
        let raw = b64_decode(b64).ok_or(NoteError::MalformedVerifierKey)?;
        if !is_valid_name(name) || raw.is_empty() {
            return Err(NoteError::MalformedVerifierKey);
        }
        if id != key_id(name, &raw) {
            return Err(NoteError::VerifierKeyId);
        }
        if raw[0] != ALG_ED25519 {
            return Err(NoteError::UnknownAlgorithm);
        }
        let bytes: [u8; 32] = raw[1..].try_into().map_err(|_| NoteError::MalformedVerifierKey)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| NoteError::MalformedVerifierKey)?;
        Ok(NoteVerifier {
            name: name.to_string(),
            key_id: id,
            key,
        })
    }

    pub fn to_vkey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, b64_encode(&raw))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

/// A private key that signs notes. `Debug` is redacted.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}+{:08x}, <redacted>)", self.name, self.key_id)
    }
}

impl NoteSigner {
    /// A new random key named `name`.
    pub fn generate(name: &str) -> Result<NoteSigner, NoteError> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rand::Rng::fill_bytes(&mut rand::rng(), seed.as_mut());
        NoteSigner::from_seed(name, &seed)
    }

    /// A key from an Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName);
        }
        let key = SigningKey::from_bytes(seed);
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(key.verifying_key().as_bytes());
        Ok(NoteSigner {
            name: name.to_string(),
            key_id: key_id(name, &raw),
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>`.
    pub fn from_skey(skey: &str) -> Result<NoteSigner, NoteError> {
        let skey = skey.trim_end_matches(['\n', '\r']);
        let mut parts = skey.splitn(5, '+');
        let (p1, p2, name, hex8, b64) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let id = parse_key_id(hex8).ok_or(NoteError::MalformedSignerKey)?;
        let raw = zeroize::Zeroizing::new(b64_decode(b64).ok_or(NoteError::MalformedSignerKey)?);
        if p1 != "PRIVATE" || p2 != "KEY" || !is_valid_name(name) || raw.is_empty() {
            return Err(NoteError::MalformedSignerKey);
        }
        if raw[0] != ALG_ED25519 {
            return Err(NoteError::UnknownAlgorithm);
        }
        let seed: zeroize::Zeroizing<[u8; 32]> =
            zeroize::Zeroizing::new(raw[1..].try_into().map_err(|_| NoteError::MalformedSignerKey)?);
        let signer = NoteSigner::from_seed(name, &seed)?;
        if signer.key_id != id {
            return Err(NoteError::SignerKeyId);
        }
        Ok(signer)
    }

    /// The signer key in Go's format. It is the secret: write it to a file
    /// only readable by the service.
    pub fn to_skey(&self) -> Secret<String> {
        let mut raw = zeroize::Zeroizing::new(vec![ALG_ED25519]);
        raw.extend_from_slice(self.key.as_bytes());
        Secret::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            b64_encode(&raw)
        ))
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature line for `text`: `— <name> base64(key id ‖ signature)\n`.
    pub fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        format!("{SIG_PREFIX}{} {}\n", self.name, b64_encode(&raw))
    }

    /// Signs a note text (which must end in a newline, as `note.Sign`
    /// requires) and returns the whole signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::Malformed);
        }
        Ok(format!("{text}\n{}", self.signature_line(text)))
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    pub base64: String,
}

/// An opened note: its text (with the final newline) and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub sigs: Vec<NoteSignature>,
    pub unverified: Vec<NoteSignature>,
}

/// Opens a signed note, verifying signatures from `known` keys.
pub fn open(msg: &[u8], known: &[NoteVerifier]) -> Result<Note, NoteError> {
    let msg = std::str::from_utf8(msg).map_err(|_| NoteError::Malformed)?;
    if msg.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed);
    }
    let split = msg.rfind("\n\n").ok_or(NoteError::Malformed)?;
    let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed);
    }
    let mut note = Note {
        text: text.to_string(),
        sigs: Vec::new(),
        unverified: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut seen_unverified = HashSet::new();
    for (count, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
        let line = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed)?;
        let (name, b64) = line.split_once(' ').unwrap_or((line, ""));
        let raw = b64_decode(b64).ok_or(NoteError::Malformed)?;
        if !is_valid_name(name) || b64.is_empty() || raw.len() < 5 {
            return Err(NoteError::Malformed);
        }
        if count + 1 > MAX_SIGNATURES {
            return Err(NoteError::Malformed);
        }
        let id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let sig = NoteSignature {
            name: name.to_string(),
            key_id: id,
            base64: b64.to_string(),
        };
        let mut matching = known.iter().filter(|v| v.name == name && v.key_id == id);
        let Some(verifier) = matching.next() else {
            if seen_unverified.insert(line.to_string()) {
                note.unverified.push(sig);
            }
            continue;
        };
        if matching.next().is_some() {
            return Err(NoteError::Ambiguous {
                name: name.to_string(),
                key_id: id,
            });
        }
        if !seen.insert((name.to_string(), id)) {
            continue;
        }
        if !verifier.verify(text.as_bytes(), &raw[4..]) {
            return Err(NoteError::InvalidSignature {
                name: name.to_string(),
                key_id: id,
            });
        }
        note.sigs.push(sig);
    }
    if note.sigs.is_empty() {
        return Err(NoteError::Unverified);
    }
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_follow_go() {
        assert!(is_valid_name("example.com/log"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("a+b"));
        assert!(!is_valid_name("a\u{a0}b"));
    }

    #[test]
    fn key_ids_must_be_eight_hex_digits() {
        assert_eq!(parse_key_id("c74f20a3"), Some(0xc74f20a3));
        assert_eq!(parse_key_id("C74F20A3"), Some(0xc74f20a3));
        assert_eq!(parse_key_id("+74f20a3"), None);
        assert_eq!(parse_key_id("c74f20a"), None);
    }

    #[test]
    fn generated_keys_round_trip() {
        let s = NoteSigner::generate("example.com/log").unwrap();
        let again = NoteSigner::from_skey(s.to_skey().expose()).unwrap();
        assert_eq!(again.verifier(), s.verifier());
        let v = NoteVerifier::from_vkey(&s.verifier().to_vkey()).unwrap();
        assert_eq!(v, s.verifier());
        assert!(format!("{s:?}").contains("<redacted>"));
        assert!(!format!("{s:?}").contains(s.to_skey().expose().as_str()));
    }
}
