//! Crypto-shredding: personal data sealed per data subject, subject keys
//! wrapped by a master key that is kept outside the database.
//!
//! - **Master key**: 32 random bytes in a file or an environment variable
//!   (`HROBOT-MASTER-KEY-V1+<base64>`). From it HKDF-SHA256 derives the key
//!   that wraps the keys below, and an 8-byte id stored beside every wrapped
//!   key so that rotation knows which master key wrapped what. A keyring is
//!   the current master key followed by older ones still needed to unwrap.
//! - **Subject-id key**: a random 32-byte HMAC key, created once per log and
//!   stored wrapped by the master key (table `audit_keyring`). Because it is
//!   wrapped rather than recomputed from the master key, rotating the
//!   master key does not change the subject ids already in the log.
//! - **Subject id**: `HMAC-SHA256(subject-id key, "hrobot/audit/subject-id/v1" ‖ 0x00 ‖
//!   personnummer)`. Keyed: whoever has the database but not the master key
//!   cannot test candidate personnummer against it. No unkeyed hash of a
//!   personnummer is computed anywhere.
//! - **Subject key**: a random 32-byte XChaCha20-Poly1305 key per subject
//!   (table `audit_subject_keys`), wrapped by the master key. Erasure deletes
//!   this row; the ciphertexts in the log stay, unreadable.
//! - **Sealing**: XChaCha20-Poly1305 with a random 24-byte nonce; associated
//!   data binds the ciphertext to the event id, the sequence number, the
//!   subject id and the key id.

use crate::secret::Secret;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use domain::Personnummer;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

const MASTER_PREFIX: &str = "HROBOT-MASTER-KEY-V1+";
const HKDF_SALT: &[u8] = b"hrobot/audit";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("malformed master key: expected {MASTER_PREFIX}<base64 of 32 bytes>")]
    MalformedMasterKey,
    #[error("no master key given")]
    NoMasterKey,
    #[error("the master key {0} that wrapped a stored key is not in the keyring")]
    UnknownMasterKey(String),
    #[error("a wrapped key does not open with its master key (wrong key, or tampered)")]
    Unwrap,
    #[error("sealed personal data does not open (wrong key, or tampered)")]
    Open,
    #[error("encryption failed")]
    Seal,
}

/// A data subject's id in the log: a keyed hash of the personnummer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectId(pub [u8; 32]);

impl fmt::Display for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubjectId({self})")
    }
}

/// Identifies one subject key (a subject gets a new key if personal data
/// about them is logged again after an erasure).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Identifies a master key without revealing it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MasterKeyId(pub [u8; 8]);

impl fmt::Display for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKeyId({self})")
    }
}

pub(crate) fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut b = Zeroizing::new([0u8; N]);
    rand::Rng::fill_bytes(&mut rand::rng(), b.as_mut());
    b
}

fn hkdf32(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 8160, so expand succeeds.
    let _ = Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm).expand(info, okm.as_mut());
    okm
}

fn aead(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key).into())
}

/// Seals `plaintext` under `key`: returns nonce and ciphertext.
fn seal_with(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<([u8; 24], Vec<u8>), KeyError> {
    let nonce = *random_bytes::<24>();
    let ct = aead(key)
        .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad })
        .map_err(|_| KeyError::Seal)?;
    Ok((nonce, ct))
}

fn open_with(key: &[u8; 32], aad: &[u8], nonce: &[u8; 24], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    aead(key)
        .decrypt(&XNonce::from(*nonce), Payload { msg: ciphertext, aad })
        .ok()
        .map(Zeroizing::new)
}

/// The key that wraps all other keys. Kept outside the database.
#[derive(Clone)]
pub struct MasterKey {
    id: MasterKeyId,
    kek: Zeroizing<[u8; 32]>,
    raw: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({}, <redacted>)", self.id)
    }
}

impl MasterKey {
    pub fn generate() -> MasterKey {
        MasterKey::from_bytes(&random_bytes::<32>())
    }

    pub fn from_bytes(raw: &[u8; 32]) -> MasterKey {
        let id_bytes = hkdf32(raw, b"hrobot/audit/master-key-id/v1");
        let mut id = [0u8; 8];
        id.copy_from_slice(&id_bytes[..8]);
        MasterKey {
            id: MasterKeyId(id),
            kek: hkdf32(raw, b"hrobot/audit/kek/v1"),
            raw: Zeroizing::new(*raw),
        }
    }

    /// Parses `HROBOT-MASTER-KEY-V1+<base64>`.
    pub fn parse(text: &str) -> Result<MasterKey, KeyError> {
        let b64 = text
            .trim()
            .strip_prefix(MASTER_PREFIX)
            .ok_or(KeyError::MalformedMasterKey)?;
        let raw = Zeroizing::new(crate::hash::b64_decode_canonical(b64).ok_or(KeyError::MalformedMasterKey)?);
        let raw: Zeroizing<[u8; 32]> =
            Zeroizing::new(raw.as_slice().try_into().map_err(|_| KeyError::MalformedMasterKey)?);
        Ok(MasterKey::from_bytes(&raw))
    }

    /// The key as text, for a key file. It is the secret.
    pub fn to_text(&self) -> Secret<String> {
        Secret::new(format!("{MASTER_PREFIX}{}", crate::hash::b64_encode(self.raw.as_ref())))
    }

    pub fn id(&self) -> MasterKeyId {
        self.id
    }

    /// Wraps a 32-byte key; `purpose` is bound as associated data.
    pub(crate) fn wrap(&self, purpose: &[u8], key: &[u8; 32]) -> Result<Vec<u8>, KeyError> {
        let aad = [purpose, &self.id.0].concat();
        let (nonce, ct) = seal_with(&self.kek, &aad, key)?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    pub(crate) fn unwrap(&self, purpose: &[u8], wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        if wrapped.len() < 24 {
            return Err(KeyError::Unwrap);
        }
        let (nonce, ct) = wrapped.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| KeyError::Unwrap)?;
        let aad = [purpose, &self.id.0].concat();
        let plain = open_with(&self.kek, &aad, &nonce, ct).ok_or(KeyError::Unwrap)?;
        let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| KeyError::Unwrap)?;
        Ok(Zeroizing::new(key))
    }
}

/// The current master key and older ones still needed to unwrap keys
/// stored before a rotation.
#[derive(Clone, Debug)]
pub struct MasterKeys {
    keys: Vec<MasterKey>,
}

impl MasterKeys {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> MasterKeys {
        let mut keys = vec![current];
        keys.extend(previous);
        MasterKeys { keys }
    }

    /// One key per line (or separated by commas or spaces), the current one
    /// first. Lines starting with `#` are comments.
    pub fn parse(text: &str) -> Result<MasterKeys, KeyError> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .flat_map(|l| l.split([',', ' ', '\t']))
            .filter(|t| !t.is_empty())
            .map(MasterKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::NoMasterKey);
        }
        Ok(MasterKeys { keys })
    }

    pub fn current(&self) -> &MasterKey {
        &self.keys[0]
    }

    pub fn get(&self, id: &MasterKeyId) -> Result<&MasterKey, KeyError> {
        self.keys
            .iter()
            .find(|k| k.id == *id)
            .ok_or_else(|| KeyError::UnknownMasterKey(id.to_string()))
    }

    pub fn ids(&self) -> Vec<MasterKeyId> {
        self.keys.iter().map(|k| k.id).collect()
    }
}

pub(crate) const KEYRING_SUBJECT_ID: &str = "subject-id";
const WRAP_SUBJECT_ID_KEY: &[u8] = b"hrobot/audit/keyring/subject-id/v1";
const WRAP_SUBJECT_KEY: &[u8] = b"hrobot/audit/subject-key/v1";
const SEAL_PERSONAL: &[u8] = b"hrobot/audit/personal/v1";

/// The HMAC key behind subject ids.
pub struct SubjectIdKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for SubjectIdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectIdKey(<redacted>)")
    }
}

impl SubjectIdKey {
    pub(crate) fn generate() -> SubjectIdKey {
        SubjectIdKey(random_bytes::<32>())
    }

    pub(crate) fn wrap(&self, master: &MasterKey) -> Result<Vec<u8>, KeyError> {
        master.wrap(WRAP_SUBJECT_ID_KEY, &self.0)
    }

    pub(crate) fn unwrap(master: &MasterKey, wrapped: &[u8]) -> Result<SubjectIdKey, KeyError> {
        Ok(SubjectIdKey(master.unwrap(WRAP_SUBJECT_ID_KEY, wrapped)?))
    }

    /// The keyed hash of a personnummer.
    pub fn subject_id(&self, pnr: &Personnummer) -> Result<SubjectId, KeyError> {
        // HMAC takes keys of any length; this cannot fail for 32 bytes.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_ref()).map_err(|_| KeyError::Seal)?;
        mac.update(b"hrobot/audit/subject-id/v1\0");
        mac.update(pnr.as_str().as_bytes());
        Ok(SubjectId(mac.finalize().into_bytes().into()))
    }
}

/// One data subject's key.
pub(crate) struct SubjectKey {
    pub(crate) id: KeyId,
    key: Zeroizing<[u8; 32]>,
}

impl SubjectKey {
    pub(crate) fn generate() -> SubjectKey {
        SubjectKey {
            id: KeyId(*random_bytes::<16>()),
            key: random_bytes::<32>(),
        }
    }

    fn wrap_aad(subject: &SubjectId, key_id: &KeyId) -> Vec<u8> {
        [WRAP_SUBJECT_KEY, &subject.0, &key_id.0].concat()
    }

    pub(crate) fn wrap(&self, master: &MasterKey, subject: &SubjectId) -> Result<Vec<u8>, KeyError> {
        master.wrap(&Self::wrap_aad(subject, &self.id), &self.key)
    }

    pub(crate) fn unwrap(
        master: &MasterKey,
        subject: &SubjectId,
        id: KeyId,
        wrapped: &[u8],
    ) -> Result<SubjectKey, KeyError> {
        let key = master.unwrap(&Self::wrap_aad(subject, &id), wrapped)?;
        Ok(SubjectKey { id, key })
    }

    fn seal_aad(event_id: &[u8; 16], seq: u64, subject: &SubjectId, key_id: &KeyId) -> Vec<u8> {
        [SEAL_PERSONAL, event_id, &seq.to_be_bytes(), &subject.0, &key_id.0].concat()
    }

    pub(crate) fn seal(
        &self,
        event_id: &[u8; 16],
        seq: u64,
        subject: &SubjectId,
        plaintext: &[u8],
    ) -> Result<([u8; 24], Vec<u8>), KeyError> {
        seal_with(&self.key, &Self::seal_aad(event_id, seq, subject, &self.id), plaintext)
    }

    pub(crate) fn open(
        &self,
        event_id: &[u8; 16],
        seq: u64,
        subject: &SubjectId,
        nonce: &[u8; 24],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        open_with(
            &self.key,
            &Self::seal_aad(event_id, seq, subject, &self.id),
            nonce,
            ciphertext,
        )
        .ok_or(KeyError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pnr(s: &str) -> Personnummer {
        Personnummer::parse(s, chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).unwrap()
    }

    #[test]
    fn master_keys_round_trip_and_never_print() {
        let k = MasterKey::generate();
        let text = k.to_text();
        let again = MasterKey::parse(text.expose()).unwrap();
        assert_eq!(again.id(), k.id());
        assert!(!format!("{k:?}").contains(&text.expose()[MASTER_PREFIX.len()..]));
        assert!(MasterKey::parse("HROBOT-MASTER-KEY-V1+AAAA").is_err());
    }

    #[test]
    fn keyrings_list_the_current_key_first() {
        let (a, b) = (MasterKey::generate(), MasterKey::generate());
        let text = format!("# current\n{}\n{}\n", a.to_text().expose(), b.to_text().expose());
        let ring = MasterKeys::parse(&text).unwrap();
        assert_eq!(ring.current().id(), a.id());
        assert_eq!(ring.get(&b.id()).unwrap().id(), b.id());
        assert!(MasterKeys::parse("# nothing\n").is_err());
    }

    #[test]
    fn subject_ids_are_keyed() {
        let (k1, k2) = (SubjectIdKey::generate(), SubjectIdKey::generate());
        let p = pnr("19121212-1212");
        let id = |k: &SubjectIdKey, p: &Personnummer| k.subject_id(p).unwrap();
        assert_eq!(id(&k1, &p), id(&k1, &p));
        assert_ne!(id(&k1, &p), id(&k2, &p));
        assert_ne!(id(&k1, &p), id(&k1, &pnr("19800101-0019")));
    }

    #[test]
    fn wrapped_keys_open_only_with_their_master_key_and_binding() {
        let (m1, m2) = (MasterKey::generate(), MasterKey::generate());
        let subject = SubjectId([5; 32]);
        let key = SubjectKey::generate();
        let wrapped = key.wrap(&m1, &subject).unwrap();
        assert!(SubjectKey::unwrap(&m1, &subject, key.id, &wrapped).is_ok());
        assert!(SubjectKey::unwrap(&m2, &subject, key.id, &wrapped).is_err());
        assert!(SubjectKey::unwrap(&m1, &SubjectId([6; 32]), key.id, &wrapped).is_err());
        assert!(SubjectKey::unwrap(&m1, &subject, KeyId([0; 16]), &wrapped).is_err());
    }

    #[test]
    fn sealed_data_is_bound_to_event_and_sequence() {
        let subject = SubjectId([5; 32]);
        let key = SubjectKey::generate();
        let (nonce, ct) = key.seal(&[1; 16], 7, &subject, b"{\"namn\":\"x\"}").unwrap();
        assert_eq!(
            key.open(&[1; 16], 7, &subject, &nonce, &ct).unwrap().as_slice(),
            b"{\"namn\":\"x\"}"
        );
        assert!(key.open(&[1; 16], 8, &subject, &nonce, &ct).is_err());
        assert!(key.open(&[2; 16], 7, &subject, &nonce, &ct).is_err());
        assert!(SubjectKey::generate().open(&[1; 16], 7, &subject, &nonce, &ct).is_err());
    }
}
