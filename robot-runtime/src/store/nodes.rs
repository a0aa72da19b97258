//! The store's SQL for the node registry and for closing the runs of dead
//! nodes: written once, instantiated for SQLite and PostgreSQL by
//! `engine!`; `Store`'s methods pick the engine with the store's one
//! `dispatch!`.
//!
//! Every process that holds robot locks or leases (`hrobot serve`, `hrobot
//! run`) is a row in `nodes` and updates `last_seen_us` every few seconds.
//! Who is dead is decided by the runtime (`runtime.rs`,
//! `Runtime::take_over_dead`); here are the facts it reads and the
//! changes it makes.

use super::sql::*;
use super::*;
use sqlx::Row;

/// A process sharing the database, as it last said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Its owner name in locks and leases (`host-pid-nonce`).
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty) => {
        pub(super) mod $module {
            use super::super::sql::$module::*;
            use super::*;

            // One statement, so no transaction is held open across awaits
            // (on SQLite that would hold the write lock between them).
            pub async fn heartbeat(pool: &$pool, id: &str, host: &str, pid: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO nodes (id, host, pid, started_us, last_seen_us) VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (id) DO UPDATE SET last_seen_us = excluded.last_seen_us",
                )
                .bind(id)
                .bind(host)
                .bind(pid)
                .bind(us(now))
                .execute(pool)
                .await?;
                Ok(())
            }

            pub async fn remove_node(pool: &$pool, id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM nodes WHERE id = $1").bind(id).execute(pool).await?;
                Ok(())
            }

            pub async fn nodes(pool: &$pool) -> Result<Vec<NodeRow>, StoreError> {
                let rows = sqlx::query("SELECT id, host, pid, started_us, last_seen_us FROM nodes ORDER BY id")
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(NodeRow {
                            id: r.try_get("id")?,
                            host: r.try_get("host")?,
                            pid: r.try_get("pid")?,
                            started: from_us(r.try_get("started_us")?),
                            last_seen: from_us(r.try_get("last_seen_us")?),
                        })
                    })
                    .collect()
            }

            /// Owners of runs still marked running.
            pub async fn running_run_owners(pool: &$pool) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT DISTINCT owner FROM robot_runs WHERE status = 'running'")
                    .fetch_all(pool)
                    .await?)
            }

            /// Closes `owner`'s running runs as aborted, each with what it
            /// stored: its cases (fetched) and those of them refused or
            /// invalid (rejected). Duplicates stored nothing and are not
            /// known. Returns the runs closed.
            pub async fn abort_runs_of(pool: &$pool, owner: &str, error: &str, now: DateTime<Utc>) -> Result<Vec<(RunId, RunCounts)>, StoreError> {
                let mut tx = begin(pool).await?;
                let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM robot_runs WHERE owner = $1 AND status = 'running' ORDER BY id")
                    .bind(owner)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS fetched, COALESCE(SUM(CASE WHEN state = 'invalid' THEN 1 ELSE 0 END), 0) AS rejected \
                         FROM cases WHERE run_id = $1",
                    )
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let counts = RunCounts {
                        fetched: row.try_get("fetched")?,
                        duplicates: 0,
                        rejected: row.try_get("rejected")?,
                    };
                    sqlx::query(
                        "UPDATE robot_runs SET status = 'aborted', finished_us = $2, fetched = $3, duplicates = 0, rejected = $4, error = $5 \
                         WHERE id = $1 AND status = 'running'",
                    )
                    .bind(id)
                    .bind(us(now))
                    .bind(counts.fetched)
                    .bind(counts.rejected)
                    .bind(error)
                    .execute(&mut *tx)
                    .await?;
                    out.push((id, counts));
                }
                tx.commit().await?;
                Ok(out)
            }

            /// The correlation id of a case (made at intake; `None` for
            /// cases stored before migration 0010).
            pub async fn correlation_id(pool: &$pool, case: CaseId) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT correlation_id FROM cases WHERE id = $1")
                    .bind(case)
                    .fetch_optional(pool)
                    .await?
                    .flatten())
            }
        }
    };
}

engine!(sqlite, sqlx::Sqlite, SqlitePool);
engine!(postgres, sqlx::Postgres, PgPool);

impl Store {
    /// Registers this node or says it is alive (`nodes.last_seen_us`).
    pub async fn heartbeat(&self, id: &str, host: &str, pid: u32) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, heartbeat(id, host, i64::from(pid), now))
    }

    /// Forgets a node: at a clean shutdown, or once what a dead one held
    /// has been taken over.
    pub async fn remove_node(&self, id: &str) -> Result<(), StoreError> {
        dispatch!(self, remove_node(id))
    }

    /// Every registered node.
    pub async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        dispatch!(self, nodes())
    }

    /// The owners of runs still marked running.
    pub async fn running_run_owners(&self) -> Result<Vec<String>, StoreError> {
        dispatch!(self, running_run_owners())
    }

    /// Closes a dead owner's running runs as `aborted` with what each
    /// stored (see `abort_runs_of` in the SQL).
    pub async fn abort_runs_of(&self, owner: &str, error: &str) -> Result<Vec<(RunId, RunCounts)>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, abort_runs_of(owner, error, now))
    }

    /// The correlation id of a case, for the spans of its later stages.
    pub async fn correlation_id(&self, case: CaseId) -> Result<Option<String>, StoreError> {
        dispatch!(self, correlation_id(case))
    }
}
