//! Officials: local users (argon2id password hashes), their roles, an
//! optional personnummer (sealed, for the conflict-of-interest rule) and an
//! optional single sign-on identity.
//!
//! The store keeps what it is given: hashing passwords and sealing the
//! personnummer happen in `crate::web::identity`, so neither a password nor
//! a personnummer in the clear ever reaches this module.

use super::{Backend, Store, StoreError, from_us, us};
use crate::roles::Role;
use chrono::{DateTime, Utc};
use sqlx::Row;

pub type UserId = i64;

/// A user as stored. The password hash and the sealed personnummer never
/// print (see the `Debug` impl).
#[derive(Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub disabled: bool,
    pub oidc_subject: Option<String>,
    pub password_hash: Option<String>,
    pub personnummer_sealed: Option<Vec<u8>>,
    pub created: DateTime<Utc>,
    /// The title letters give, e.g. "Socialsekreterare".
    pub title: Option<String>,
    /// The delegation the official decides under, e.g. "punkt 4.2 i socialnämndens delegationsordning".
    pub delegation: Option<String>,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .field("has_password", &self.password_hash.is_some())
            .field("has_personnummer", &self.personnummer_sealed.is_some())
            .finish_non_exhaustive()
    }
}

/// What `add_user` stores.
#[derive(Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub password_hash: Option<String>,
    pub personnummer_sealed: Option<Vec<u8>>,
    pub oidc_subject: Option<String>,
}

/// A role asked for, waiting for (or decided by) a second administrator.
#[derive(Debug, Clone)]
pub struct RoleRequest {
    pub id: i64,
    pub user_id: UserId,
    pub role: Role,
    /// The audit actor who asked (`user:NAME`, `cli:NAME`).
    pub requested_by: String,
    pub requested_by_user: Option<UserId>,
    pub requested: DateTime<Utc>,
    /// `pending`, `granted` or `refused`.
    pub state: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("the username {0:?} is taken")]
    Taken(String),
    #[error("no user named {0:?}")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for UserError {
    fn from(e: sqlx::Error) -> UserError {
        UserError::Store(StoreError::Db(e))
    }
}

const USER_COLUMNS: &str = "id, username, display_name, password_hash, personnummer_sealed, oidc_subject, disabled, created_us, title, delegation";

fn parse_roles(text: Option<String>) -> Result<Vec<Role>, StoreError> {
    let mut roles = Vec::new();
    for r in text.unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
        roles.push(role_from_str(r).ok_or_else(|| StoreError::Corrupt(format!("unknown role {r:?}")))?);
    }
    roles.sort_by_key(|r: &Role| r.as_str());
    Ok(roles)
}

/// A role by its stored name (the database's CHECK lists the same names).
pub fn role_from_str(s: &str) -> Option<Role> {
    ALL_ROLES.iter().copied().find(|r| r.as_str() == s)
}

/// Every role, in the order they are shown.
pub const ALL_ROLES: [Role; 4] = [
    Role::Handlaggare,
    Role::Regelforfattare,
    Role::Administrator,
    Role::Revisor,
];

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| matches!(c.as_ref(), "2067" | "1555" | "23505"))
}

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty, $begin:expr, $roles_agg:literal) => {
        pub(super) mod $module {
            use super::*;

            fn user_from(r: &<$db as sqlx::Database>::Row) -> Result<UserRecord, StoreError> {
                Ok(UserRecord {
                    id: r.try_get("id")?,
                    username: r.try_get("username")?,
                    display_name: r.try_get("display_name")?,
                    roles: parse_roles(r.try_get("roles")?)?,
                    disabled: r.try_get("disabled")?,
                    oidc_subject: r.try_get("oidc_subject")?,
                    password_hash: r.try_get("password_hash")?,
                    personnummer_sealed: r.try_get("personnummer_sealed")?,
                    created: from_us(r.try_get("created_us")?),
                    title: r.try_get("title")?,
                    delegation: r.try_get("delegation")?,
                })
            }

            fn select(filter: &str) -> String {
                format!(
                    "SELECT {USER_COLUMNS}, (SELECT {} FROM user_roles ur WHERE ur.user_id = users.id) AS roles FROM users {filter}",
                    $roles_agg
                )
            }

            pub async fn add_user(pool: &$pool, u: &NewUser, now: DateTime<Utc>) -> Result<UserId, UserError> {
                let mut tx = $begin(pool).await?;
                let id: Result<i64, sqlx::Error> = sqlx::query_scalar(
                    "INSERT INTO users (username, display_name, password_hash, personnummer_sealed, oidc_subject, disabled, created_us, updated_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                )
                .bind(&u.username)
                .bind(&u.display_name)
                .bind(&u.password_hash)
                .bind(&u.personnummer_sealed)
                .bind(&u.oidc_subject)
                .bind(false)
                .bind(us(now))
                .fetch_one(&mut *tx)
                .await;
                let id = match id {
                    Ok(id) => id,
                    Err(e) if is_unique_violation(&e) => return Err(UserError::Taken(u.username.clone())),
                    Err(e) => return Err(e.into()),
                };
                for r in &u.roles {
                    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                        .bind(id)
                        .bind(r.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(id)
            }

            pub async fn user_by_name(pool: &$pool, username: &str) -> Result<Option<UserRecord>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(select("WHERE username = $1")))
                    .bind(username)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(user_from).transpose()
            }

            pub async fn user_by_id(pool: &$pool, id: UserId) -> Result<Option<UserRecord>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(select("WHERE id = $1")))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(user_from).transpose()
            }

            pub async fn user_by_oidc(pool: &$pool, subject: &str) -> Result<Option<UserRecord>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(select("WHERE oidc_subject = $1")))
                    .bind(subject)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(user_from).transpose()
            }

            /// Links a user to a single sign-on identity, or unlinks
            /// (`None`). An identity linked to another user is `Taken`.
            pub async fn set_oidc_subject(pool: &$pool, user_id: UserId, subject: Option<&str>, now: DateTime<Utc>) -> Result<(), UserError> {
                let done = sqlx::query("UPDATE users SET oidc_subject = $1, updated_us = $2 WHERE id = $3")
                    .bind(subject)
                    .bind(us(now))
                    .bind(user_id)
                    .execute(pool)
                    .await;
                match done {
                    Ok(d) if d.rows_affected() == 1 => Ok(()),
                    Ok(_) => Err(UserError::Unknown(user_id.to_string())),
                    Err(e) if is_unique_violation(&e) => Err(UserError::Taken(String::new())),
                    Err(e) => Err(e.into()),
                }
            }

            pub async fn list_users(pool: &$pool) -> Result<Vec<UserRecord>, StoreError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(select("ORDER BY username")))
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(user_from).collect()
            }

            pub async fn set_password(pool: &$pool, username: &str, hash: &str, now: DateTime<Utc>) -> Result<(), UserError> {
                let mut tx = $begin(pool).await?;
                let done = sqlx::query("UPDATE users SET password_hash = $1, updated_us = $2 WHERE username = $3")
                    .bind(hash)
                    .bind(us(now))
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(UserError::Unknown(username.to_string()));
                }
                // A new password ends every session of the old one.
                sqlx::query("DELETE FROM web_sessions WHERE user_id = (SELECT id FROM users WHERE username = $1)")
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            pub async fn set_disabled(pool: &$pool, username: &str, disabled: bool, now: DateTime<Utc>) -> Result<(), UserError> {
                let mut tx = $begin(pool).await?;
                let done = sqlx::query("UPDATE users SET disabled = $1, updated_us = $2 WHERE username = $3")
                    .bind(disabled)
                    .bind(us(now))
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(UserError::Unknown(username.to_string()));
                }
                if disabled {
                    sqlx::query("DELETE FROM web_sessions WHERE user_id = (SELECT id FROM users WHERE username = $1)")
                        .bind(username)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub async fn set_roles(pool: &$pool, id: UserId, roles: &[Role], now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = $begin(pool).await?;
                sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for r in roles {
                    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                        .bind(id)
                        .bind(r.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE users SET updated_us = $1 WHERE id = $2")
                    .bind(us(now))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            pub async fn set_signature(pool: &$pool, username: &str, title: Option<&str>, delegation: Option<&str>, now: DateTime<Utc>) -> Result<(), UserError> {
                let mut tx = $begin(pool).await?;
                let done = sqlx::query("UPDATE users SET title = $1, delegation = $2, updated_us = $3 WHERE username = $4")
                    .bind(title)
                    .bind(delegation)
                    .bind(us(now))
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(UserError::Unknown(username.to_string()));
                }
                tx.commit().await?;
                Ok(())
            }

            pub async fn set_personnummer(pool: &$pool, username: &str, sealed: Option<&[u8]>, now: DateTime<Utc>) -> Result<(), UserError> {
                let mut tx = $begin(pool).await?;
                let done = sqlx::query("UPDATE users SET personnummer_sealed = $1, updated_us = $2 WHERE username = $3")
                    .bind(sealed)
                    .bind(us(now))
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(UserError::Unknown(username.to_string()));
                }
                tx.commit().await?;
                Ok(())
            }

            pub async fn add_role_request(pool: &$pool, user: UserId, role: Role, by: &str, by_user: Option<UserId>, now: DateTime<Utc>) -> Result<i64, StoreError> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO role_requests (user_id, role, requested_by, requested_by_user, requested_us) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(user)
                .bind(role.as_str())
                .bind(by)
                .bind(by_user)
                .bind(us(now))
                .fetch_one(pool)
                .await?;
                Ok(id)
            }

            pub async fn role_requests(pool: &$pool, pending_only: bool) -> Result<Vec<RoleRequest>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, user_id, role, requested_by, requested_by_user, requested_us, state FROM role_requests \
                     WHERE ($1 = 0 OR state = 'pending') ORDER BY id",
                )
                .bind(i64::from(pending_only))
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let role: String = r.try_get("role")?;
                        Ok(RoleRequest {
                            id: r.try_get("id")?,
                            user_id: r.try_get("user_id")?,
                            role: role_from_str(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
                            requested_by: r.try_get("requested_by")?,
                            requested_by_user: r.try_get("requested_by_user")?,
                            requested: from_us(r.try_get("requested_us")?),
                            state: r.try_get("state")?,
                        })
                    })
                    .collect()
            }

            /// Closes a pending request; on `granted` the role is given in
            /// the same transaction. False when it was not pending.
            pub async fn decide_role_request(pool: &$pool, id: i64, granted: bool, by_user: UserId, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let mut tx = $begin(pool).await?;
                let row: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE role_requests SET state = $1, decided_by_user = $2, decided_us = $3 \
                     WHERE id = $4 AND state = 'pending' RETURNING user_id, role",
                )
                .bind(if granted { "granted" } else { "refused" })
                .bind(by_user)
                .bind(us(now))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user, role)) = row else {
                    return Ok(false);
                };
                if granted {
                    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(user)
                        .bind(&role)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE users SET updated_us = $1 WHERE id = $2")
                        .bind(us(now))
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            pub async fn set_display_name(pool: &$pool, id: UserId, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("UPDATE users SET display_name = $1, updated_us = $2 WHERE id = $3")
                    .bind(name)
                    .bind(us(now))
                    .bind(id)
                    .execute(pool)
                    .await?;
                Ok(())
            }
        }
    };
}

async fn begin_sqlite(pool: &sqlx::SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

async fn begin_pg(pool: &sqlx::PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin().await
}

engine!(
    sqlite,
    sqlx::Sqlite,
    sqlx::SqlitePool,
    begin_sqlite,
    "group_concat(ur.role, ',')"
);
engine!(
    postgres,
    sqlx::Postgres,
    sqlx::PgPool,
    begin_pg,
    "string_agg(ur.role, ',')"
);

impl Store {
    pub async fn add_user(&self, user: &NewUser) -> Result<UserId, UserError> {
        let now = self.clock.now();
        dispatch!(self, add_user(user, now))
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        dispatch!(self, user_by_name(username))
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        dispatch!(self, user_by_id(id))
    }

    /// The user linked to a single sign-on identity (`issuer|subject`).
    pub async fn user_by_oidc(&self, subject: &str) -> Result<Option<UserRecord>, StoreError> {
        dispatch!(self, user_by_oidc(subject))
    }

    /// Links a user to a single sign-on identity (`issuer|subject`), or unlinks.
    pub async fn set_oidc_subject(&self, user_id: UserId, subject: Option<&str>) -> Result<(), UserError> {
        let now = self.clock.now();
        dispatch!(self, set_oidc_subject(user_id, subject, now))
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        dispatch!(self, list_users())
    }

    /// Sets a new password hash and ends the user's sessions.
    pub async fn set_password(&self, username: &str, hash: &str) -> Result<(), UserError> {
        let now = self.clock.now();
        dispatch!(self, set_password(username, hash, now))
    }

    /// Disables (ending every session) or enables a user.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), UserError> {
        let now = self.clock.now();
        dispatch!(self, set_disabled(username, disabled, now))
    }

    pub async fn set_roles(&self, id: UserId, roles: &[Role]) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, set_roles(id, roles, now))
    }

    /// The title and delegation letters give for the official.
    pub async fn set_signature(
        &self,
        username: &str,
        title: Option<&str>,
        delegation: Option<&str>,
    ) -> Result<(), UserError> {
        let now = self.clock.now();
        dispatch!(self, set_signature(username, title, delegation, now))
    }

    pub async fn set_personnummer(&self, username: &str, sealed: Option<&[u8]>) -> Result<(), UserError> {
        let now = self.clock.now();
        dispatch!(self, set_personnummer(username, sealed, now))
    }

    /// Records that `by` asked for `role` to be given to `user`.
    pub async fn add_role_request(
        &self,
        user: UserId,
        role: Role,
        by: &str,
        by_user: Option<UserId>,
    ) -> Result<i64, StoreError> {
        let now = self.clock.now();
        dispatch!(self, add_role_request(user, role, by, by_user, now))
    }

    /// Role requests, oldest first (only the pending ones, or all).
    pub async fn role_requests(&self, pending_only: bool) -> Result<Vec<RoleRequest>, StoreError> {
        dispatch!(self, role_requests(pending_only))
    }

    /// Grants or refuses a pending request (false when it was not pending).
    pub async fn decide_role_request(&self, id: i64, granted: bool, by_user: UserId) -> Result<bool, StoreError> {
        let now = self.clock.now();
        dispatch!(self, decide_role_request(id, granted, by_user, now))
    }

    pub async fn set_display_name(&self, id: UserId, name: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, set_display_name(id, name, now))
    }
}
