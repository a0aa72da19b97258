//! Sessions of the web UI and bearer tokens of the API, in the database (so
//! they survive a restart and are shared by every `hrobot serve` on the
//! same PostgreSQL), and single sign-on logins under way.
//!
//! Only the SHA-256 of a token is stored: whoever reads the database cannot
//! use what it finds there. Expiry is checked on every lookup; expired rows
//! are deleted now and then.

use super::users::UserId;
use super::{Backend, Store, StoreError, from_us, us};
use chrono::{DateTime, Utc};
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A browser: cookie, CSRF token, idle timeout.
    Browser,
    /// An integration: `Authorization: Bearer`.
    Api,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Browser => "browser",
            SessionKind::Api => "api",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
    Oidc,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::Oidc => "oidc",
        }
    }
}

/// A session row. The CSRF token is a secret of the session: no `Debug`.
#[derive(Clone)]
pub struct SessionRecord {
    pub user_id: UserId,
    pub kind: SessionKind,
    pub csrf_token: String,
    pub created: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A new session: the hash of its token and when it ends at the latest.
pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub user_id: UserId,
    pub kind: SessionKind,
    pub method: AuthMethod,
    pub csrf_token: &'a str,
    pub expires: DateTime<Utc>,
}

/// A session just ended by logging out.
pub struct EndedSession {
    pub method: AuthMethod,
    /// The single sign-on ID token, sealed (see `web::oidc`).
    pub sealed_id_token: Option<String>,
}

/// A single sign-on login under way.
pub struct LoginFlow {
    pub nonce: String,
    pub pkce_verifier: String,
    pub created: DateTime<Utc>,
}

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty) => {
        pub(super) mod $module {
            use super::*;

            pub async fn create_session(pool: &$pool, s: &NewSession<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO web_sessions (id_hash, user_id, kind, method, csrf_token, created_us, last_seen_us, expires_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
                )
                .bind(s.id_hash)
                .bind(s.user_id)
                .bind(s.kind.as_str())
                .bind(s.method.as_str())
                .bind(s.csrf_token)
                .bind(us(now))
                .bind(us(s.expires))
                .execute(pool)
                .await?;
                Ok(())
            }

            pub async fn session(pool: &$pool, id_hash: &str, now: DateTime<Utc>) -> Result<Option<SessionRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT user_id, kind, csrf_token, created_us, last_seen_us, expires_us FROM web_sessions \
                     WHERE id_hash = $1 AND expires_us > $2",
                )
                .bind(id_hash)
                .bind(us(now))
                .fetch_optional(pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                let kind: String = r.try_get("kind")?;
                Ok(Some(SessionRecord {
                    user_id: r.try_get("user_id")?,
                    kind: match kind.as_str() {
                        "browser" => SessionKind::Browser,
                        "api" => SessionKind::Api,
                        other => return Err(StoreError::Corrupt(format!("unknown session kind {other:?}"))),
                    },
                    csrf_token: r.try_get("csrf_token")?,
                    created: from_us(r.try_get("created_us")?),
                    last_seen: from_us(r.try_get("last_seen_us")?),
                    expires: from_us(r.try_get("expires_us")?),
                }))
            }

            pub async fn touch_session(pool: &$pool, id_hash: &str, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("UPDATE web_sessions SET last_seen_us = $1, expires_us = $2 WHERE id_hash = $3")
                    .bind(us(now))
                    .bind(us(expires))
                    .bind(id_hash)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub async fn delete_session(pool: &$pool, id_hash: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub async fn set_session_logout(pool: &$pool, id_hash: &str, sealed: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE web_sessions SET oidc_logout = $1 WHERE id_hash = $2")
                    .bind(sealed)
                    .bind(id_hash)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            /// Deletes a session; gives how it was signed in and its sealed ID token.
            pub async fn end_session(pool: &$pool, id_hash: &str) -> Result<Option<EndedSession>, StoreError> {
                let row = sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1 RETURNING method, oidc_logout")
                    .bind(id_hash)
                    .fetch_optional(pool)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let method: String = r.try_get("method")?;
                Ok(Some(EndedSession {
                    method: if method == "oidc" { AuthMethod::Oidc } else { AuthMethod::Password },
                    sealed_id_token: r.try_get("oidc_logout")?,
                }))
            }

            pub async fn purge_sessions(pool: &$pool, now: DateTime<Utc>, flows_before: DateTime<Utc>) -> Result<u64, StoreError> {
                let n = sqlx::query("DELETE FROM web_sessions WHERE expires_us <= $1")
                    .bind(us(now))
                    .execute(pool)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM web_login_flows WHERE created_us < $1")
                    .bind(us(flows_before))
                    .execute(pool)
                    .await?;
                Ok(n)
            }

            pub async fn start_login_flow(pool: &$pool, state_hash: &str, nonce: &str, verifier: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO web_login_flows (state_hash, nonce, pkce_verifier, created_us) VALUES ($1, $2, $3, $4)")
                    .bind(state_hash)
                    .bind(nonce)
                    .bind(verifier)
                    .bind(us(now))
                    .execute(pool)
                    .await?;
                Ok(())
            }

            /// Takes (reads and deletes) a login flow: a state works once.
            pub async fn take_login_flow(pool: &$pool, state_hash: &str) -> Result<Option<LoginFlow>, StoreError> {
                let row = sqlx::query("DELETE FROM web_login_flows WHERE state_hash = $1 RETURNING nonce, pkce_verifier, created_us")
                    .bind(state_hash)
                    .fetch_optional(pool)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(LoginFlow {
                    nonce: r.try_get("nonce")?,
                    pkce_verifier: r.try_get("pkce_verifier")?,
                    created: from_us(r.try_get("created_us")?),
                }))
            }
        }
    };
}

engine!(sqlite, sqlx::Sqlite, sqlx::SqlitePool);
engine!(postgres, sqlx::Postgres, sqlx::PgPool);

impl Store {
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, create_session(s, now))
    }

    /// The session with this token hash, unless it has expired.
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, session(id_hash, now))
    }

    /// Records activity: the session now ends at `expires` (idle timeout).
    pub async fn touch_session(&self, id_hash: &str, expires: DateTime<Utc>) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, touch_session(id_hash, now, expires))
    }

    /// Keeps a single sign-on session's sealed ID token for logging out.
    pub async fn set_session_logout(&self, id_hash: &str, sealed: &str) -> Result<(), StoreError> {
        dispatch!(self, set_session_logout(id_hash, sealed))
    }

    /// Ends a session (logging out): gone from the database at once.
    pub async fn end_session(&self, id_hash: &str) -> Result<Option<EndedSession>, StoreError> {
        dispatch!(self, end_session(id_hash))
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        dispatch!(self, delete_session(id_hash))
    }

    /// Deletes expired sessions and login flows older than `flow_ttl`.
    pub async fn purge_sessions(&self, flow_ttl: chrono::Duration) -> Result<u64, StoreError> {
        let now = self.clock.now();
        dispatch!(self, purge_sessions(now, now - flow_ttl))
    }

    pub async fn start_login_flow(&self, state_hash: &str, nonce: &str, verifier: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, start_login_flow(state_hash, nonce, verifier, now))
    }

    pub async fn take_login_flow(&self, state_hash: &str) -> Result<Option<LoginFlow>, StoreError> {
        dispatch!(self, take_login_flow(state_hash))
    }
}
