//! Who an official is: the [`Official`] acting on a case, password hashing
//! (argon2id), the personnummer on a user (sealed under a key derived from
//! the master key), and turning a stored user into an [`Official`]. The
//! web, the approval core, accounts and the command line all use it; it
//! needs only the store's user record and the master keys.

use crate::roles::Role;
use crate::store::users::UserRecord;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use audit::{MasterKey, MasterKeys};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use domain::{Personnummer, Signatory, SignatoryRole};
use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// The signed-in official acting on a case.
#[derive(Clone)]
pub struct Official {
    pub user_id: i64,
    /// The login name (`[A-Za-z0-9._-]`); it is the audit log's actor.
    pub username: String,
    /// The name shown on decisions and letters.
    pub display_name: String,
    pub roles: Vec<Role>,
    /// For the conflict-of-interest rule: nobody decides on their own household.
    pub personnummer: Option<Personnummer>,
    /// The title letters give, e.g. "Socialsekreterare".
    pub title: Option<String>,
    /// The delegation the official decides under.
    pub delegation: Option<String>,
}

impl fmt::Debug for Official {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Official")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl Official {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub(crate) fn actor(&self) -> String {
        format!("user:{}", self.username)
    }

    /// How letters name the official.
    pub fn signatory(&self, role: SignatoryRole) -> Signatory {
        Signatory {
            username: self.username.clone(),
            name: self.display_name.clone(),
            title: self
                .title
                .clone()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| "Handläggare".into()),
            delegation: self.delegation.clone().filter(|d| !d.trim().is_empty()),
            role,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the password could not be hashed")]
    Hash,
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("no master key: the personnummer cannot be sealed or opened")]
    NoMasterKey,
    #[error("a sealed personnummer does not open (wrong master key, or tampered)")]
    Open,
}

pub const MIN_PASSWORD_CHARS: usize = 12;

/// argon2id (v19, m = 19 MiB, t = 2, p = 1: the OWASP baseline) with a
/// random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, IdentityError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(IdentityError::TooShort);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| IdentityError::Hash)
}

/// Checks a password against a stored hash. Without a hash (unknown user,
/// or a user who signs in only through SSO) a dummy hash is checked, so
/// the answer takes as long either way.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7z5GzJpX8Yx1lq6d7k8R2Xl6m7pQwqkq0m7J1o0bX3k";
    match hash {
        Some(h) => Argon2::default().verify_password(password.as_bytes(), h).is_ok(),
        None => {
            let _ = Argon2::default().verify_password(password.as_bytes(), DUMMY);
            false
        }
    }
}

const SEAL_VERSION: u8 = 1;
const SEAL_INFO: &[u8] = b"hrobot/users/personnummer/v1";

fn seal_key(master: &MasterKey) -> Zeroizing<[u8; 32]> {
    let ikm = master.to_text();
    let hk = Hkdf::<Sha256>::new(Some(b"hrobot/users"), ikm.expose().as_bytes());
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit.
    let _ = hk.expand(SEAL_INFO, okm.as_mut());
    okm
}

/// `[version][master key id, 8][nonce, 24][ciphertext]`, the username bound
/// as associated data (a sealed value cannot be moved to another user).
pub fn seal_personnummer(
    keys: Option<&MasterKeys>,
    username: &str,
    pnr: &domain::Personnummer,
) -> Result<Vec<u8>, IdentityError> {
    let master = keys.ok_or(IdentityError::NoMasterKey)?.current();
    let key = seal_key(master);
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| IdentityError::Open)?;
    let mut nonce = [0u8; 24];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: pnr.as_str().as_bytes(),
                aad: username.as_bytes(),
            },
        )
        .map_err(|_| IdentityError::Open)?;
    let mut out = Vec::with_capacity(1 + 8 + 24 + ct.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&master.id().0);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub fn open_personnummer(
    keys: Option<&MasterKeys>,
    username: &str,
    sealed: &[u8],
) -> Result<domain::Personnummer, IdentityError> {
    let keys = keys.ok_or(IdentityError::NoMasterKey)?;
    if sealed.len() < 1 + 8 + 24 + 16 || sealed[0] != SEAL_VERSION {
        return Err(IdentityError::Open);
    }
    let id = keys
        .ids()
        .into_iter()
        .find(|k| k.0[..] == sealed[1..9])
        .ok_or(IdentityError::Open)?;
    let master = keys.get(&id).map_err(|_| IdentityError::Open)?;
    let key = seal_key(master);
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| IdentityError::Open)?;
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&sealed[9..33]);
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[33..],
                    aad: username.as_bytes(),
                },
            )
            .map_err(|_| IdentityError::Open)?,
    );
    let text = std::str::from_utf8(&plain).map_err(|_| IdentityError::Open)?;
    domain::Personnummer::parse(text, chrono::NaiveDate::MIN).map_err(|_| IdentityError::Open)
}

/// The approval core's view of a stored user.
pub fn official(user: &UserRecord, keys: Option<&MasterKeys>) -> Result<Official, IdentityError> {
    let personnummer = match &user.personnummer_sealed {
        Some(s) => Some(open_personnummer(keys, &user.username, s)?),
        None => None,
    };
    Ok(Official {
        user_id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        roles: user.roles.clone(),
        personnummer,
        title: user.title.clone(),
        delegation: user.delegation.clone(),
    })
}

/// Roles by name, as written on the command line and in the OIDC role map.
pub fn parse_roles(names: &[String]) -> Result<Vec<Role>, String> {
    let mut out = Vec::new();
    for n in names {
        let r = crate::store::users::role_from_str(n.trim())
            .ok_or_else(|| format!("unknown role {n:?} (handlaggare, regelforfattare, administrator, revisor)"))?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// A username: 1–64 of a–z, 0–9, `.`, `-`, `_`, `@` (lowercase, so that
/// rate limiting and lookups agree).
pub fn valid_username(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("korrekt häst batteri").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("korrekt häst batteri", Some(&h)));
        assert!(!verify_password("fel lösenord här", Some(&h)));
        assert!(!verify_password("vad som helst", None));
        assert!(matches!(hash_password("kort"), Err(IdentityError::TooShort)));
    }

    #[test]
    fn a_sealed_personnummer_opens_only_for_its_user_and_key() {
        let keys = MasterKeys::new(MasterKey::generate(), vec![]);
        let pnr = domain::Personnummer::parse("198504039820", chrono::NaiveDate::MIN).unwrap();
        let sealed = seal_personnummer(Some(&keys), "anna", &pnr).unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"198504039820"));
        assert_eq!(open_personnummer(Some(&keys), "anna", &sealed).unwrap(), pnr);
        assert!(open_personnummer(Some(&keys), "bo", &sealed).is_err());
        let other = MasterKeys::new(MasterKey::generate(), vec![]);
        assert!(open_personnummer(Some(&other), "anna", &sealed).is_err());
        // After a rotation the old key still opens it.
        let rotated = MasterKeys::new(MasterKey::generate(), vec![keys.current().clone()]);
        assert_eq!(open_personnummer(Some(&rotated), "anna", &sealed).unwrap(), pnr);
    }
}
