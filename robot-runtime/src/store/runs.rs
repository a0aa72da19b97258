//! The store's SQL for robot runs, robot locks and pauses, and the progress
//! of a run's work: written once, instantiated for SQLite and PostgreSQL by
//! `engine!`; `Store`'s methods pick the engine with the store's one
//! `dispatch!`.

use super::sql::*;
use super::*;
use domain::CaseState;
use sqlx::Row;

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty) => {
        pub(super) mod $module {
            use super::super::sql::$module::*;
            use super::*;

            pub async fn start_run(pool: &$pool, robot: &str, fire: DateTime<Utc>, trigger: Trigger, owner: &str, now: DateTime<Utc>) -> Result<Option<RunId>, StoreError> {
                let mut tx = begin(pool).await?;
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO robot_runs (robot, fire_us, trigger, status, owner, started_us) VALUES ($1, $2, $3, 'running', $4, $5) \
                     ON CONFLICT (robot, fire_us) DO NOTHING RETURNING id",
                )
                .bind(robot)
                .bind(us(fire))
                .bind(trigger.as_str())
                .bind(owner)
                .bind(us(now))
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            pub async fn finish_run(pool: &$pool, run: RunId, ok: bool, counts: RunCounts, error: Option<&str>, now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = begin(pool).await?;
                sqlx::query("UPDATE robot_runs SET status = $1, finished_us = $2, fetched = $3, duplicates = $4, rejected = $5, error = $6 WHERE id = $7")
                    .bind(if ok { RunStatus::Succeeded } else { RunStatus::Failed }.as_str())
                    .bind(us(now))
                    .bind(counts.fetched)
                    .bind(counts.duplicates)
                    .bind(counts.rejected)
                    .bind(error)
                    .bind(run)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            pub async fn last_fire(pool: &$pool, robot: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
                let v: Option<i64> = sqlx::query_scalar("SELECT MAX(fire_us) FROM robot_runs WHERE robot = $1 AND trigger <> 'manual'")
                    .bind(robot)
                    .fetch_one(pool)
                    .await?;
                Ok(v.map(from_us))
            }

            pub async fn list_runs(pool: &$pool, robot: Option<&str>, limit: i64) -> Result<Vec<RunSummary>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, robot, fire_us, trigger, status, fetched, duplicates, rejected, error FROM robot_runs \
                     WHERE ($1 IS NULL OR robot = $1) ORDER BY fire_us DESC, id DESC LIMIT $2",
                )
                .bind(robot)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(RunSummary {
                            id: r.try_get("id")?,
                            robot: r.try_get("robot")?,
                            fire: from_us(r.try_get("fire_us")?),
                            trigger: r.try_get::<String, _>("trigger")?.parse()?,
                            status: r.try_get::<String, _>("status")?.parse()?,
                            counts: RunCounts {
                                fetched: r.try_get("fetched")?,
                                duplicates: r.try_get("duplicates")?,
                                rejected: r.try_get("rejected")?,
                            },
                            error: r.try_get("error")?,
                        })
                    })
                    .collect()
            }

            pub async fn try_lock_robot(pool: &$pool, robot: &str, owner: &str, now: DateTime<Utc>, ttl: Duration) -> Result<bool, StoreError> {
                let t = us(now);
                let expires = t + i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2);
                let mut tx = begin(pool).await?;
                let done = sqlx::query(
                    "INSERT INTO robot_locks (robot, owner, expires_us) VALUES ($1, $2, $3) \
                     ON CONFLICT (robot) DO UPDATE SET owner = excluded.owner, expires_us = excluded.expires_us \
                     WHERE robot_locks.expires_us < $4 OR robot_locks.owner = excluded.owner",
                )
                .bind(robot)
                .bind(owner)
                .bind(expires)
                .bind(t)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn unlock_robot(pool: &$pool, robot: &str, owner: &str) -> Result<(), StoreError> {
                let mut tx = begin(pool).await?;
                sqlx::query("DELETE FROM robot_locks WHERE robot = $1 AND owner = $2")
                    .bind(robot)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            /// Who holds robot locks and leases now (for taking over
            /// those of an instance that is gone).
            pub async fn holders(pool: &$pool) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT owner FROM robot_locks UNION SELECT lease_owner FROM work_items WHERE status = 'leased' AND lease_owner IS NOT NULL \
                     UNION SELECT lease_owner FROM outbox WHERE status = 'leased' AND lease_owner IS NOT NULL",
                )
                .fetch_all(pool)
                .await?)
            }

            /// Ends what `owner` holds: its robot locks go, its leases of
            /// work and outbox items expire now (so the next claim takes
            /// them, counting the attempt as usual). Returns how many.
            pub async fn release_holder(pool: &$pool, owner: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let t = us(now);
                let mut tx = begin(pool).await?;
                let mut n = sqlx::query("DELETE FROM robot_locks WHERE owner = $1")
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                n += sqlx::query("UPDATE work_items SET lease_expires_us = $2 WHERE status = 'leased' AND lease_owner = $1 AND lease_expires_us >= $2")
                    .bind(owner)
                    .bind(t - 1)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                n += sqlx::query("UPDATE outbox SET lease_expires_us = $2 WHERE status = 'leased' AND lease_owner = $1 AND lease_expires_us >= $2")
                    .bind(owner)
                    .bind(t - 1)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            pub async fn set_paused(pool: &$pool, robot: &str, paused: bool, reason: Option<&str>, now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = begin(pool).await?;
                sqlx::query(
                    "INSERT INTO robots (name, paused, paused_reason, updated_us) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, paused_reason = excluded.paused_reason, updated_us = excluded.updated_us",
                )
                .bind(robot)
                .bind(paused)
                .bind(reason)
                .bind(us(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            pub async fn paused(pool: &$pool, robot: &str) -> Result<Option<String>, StoreError> {
                let row = sqlx::query("SELECT paused, paused_reason FROM robots WHERE name = $1")
                    .bind(robot)
                    .fetch_optional(pool)
                    .await?;
                match row {
                    Some(r) if r.try_get::<bool, _>("paused")? => {
                        Ok(Some(r.try_get::<Option<String>, _>("paused_reason")?.unwrap_or_default()))
                    }
                    _ => Ok(None),
                }
            }

            /// (due or leased now, waiting for a later retry)
            pub async fn open_work_for_run(pool: &$pool, run: RunId, now: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
                let row = sqlx::query(
                    "SELECT COALESCE(SUM(CASE WHEN w.status = 'leased' OR w.next_attempt_us <= $2 THEN 1 ELSE 0 END), 0) AS due, \
                            COALESCE(SUM(CASE WHEN w.status = 'pending' AND w.next_attempt_us > $2 THEN 1 ELSE 0 END), 0) AS later \
                     FROM work_items w JOIN cases c ON c.id = w.case_id WHERE c.run_id = $1 AND w.status IN ('pending', 'leased')",
                )
                .bind(run)
                .bind(us(now))
                .fetch_one(pool)
                .await?;
                Ok((row.try_get("due")?, row.try_get("later")?))
            }

            pub async fn run_states(pool: &$pool, run: RunId) -> Result<Vec<(CaseState, i64)>, StoreError> {
                let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM cases WHERE run_id = $1 GROUP BY state")
                    .bind(run)
                    .fetch_all(pool)
                    .await?;
                let mut out = Vec::new();
                for r in rows {
                    let s: String = r.try_get("state")?;
                    let state = s.parse().map_err(|_| StoreError::Corrupt(format!("unknown state {s:?}")))?;
                    out.push((state, r.try_get("n")?));
                }
                Ok(out)
            }
        }
    };
}

engine!(sqlite, sqlx::Sqlite, SqlitePool);
engine!(postgres, sqlx::Postgres, PgPool);

impl Store {
    /// Records the start of a run for a fire time. `None`: that fire time
    /// already ran (or is running) — on this or another worker.
    pub async fn start_run(
        &self,
        robot: &str,
        fire: DateTime<Utc>,
        trigger: Trigger,
        owner: &str,
    ) -> Result<Option<RunId>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, start_run(robot, fire, trigger, owner, now))
    }

    pub async fn finish_run(
        &self,
        run: RunId,
        ok: bool,
        counts: RunCounts,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, finish_run(run, ok, counts, error, now))
    }

    /// The latest scheduled fire time recorded for a robot.
    pub async fn last_fire(&self, robot: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        dispatch!(self, last_fire(robot))
    }

    pub async fn list_runs(&self, robot: Option<&str>, limit: i64) -> Result<Vec<RunSummary>, StoreError> {
        dispatch!(self, list_runs(robot, limit))
    }

    /// Takes the robot's run lock (runs of one robot never overlap), or
    /// renews it if we hold it.
    pub async fn try_lock_robot(&self, robot: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = self.clock.now();
        dispatch!(self, try_lock_robot(robot, owner, now, ttl))
    }

    pub async fn unlock_robot(&self, robot: &str, owner: &str) -> Result<(), StoreError> {
        dispatch!(self, unlock_robot(robot, owner))
    }

    /// Everyone holding a robot lock or a work or outbox lease.
    pub async fn holders(&self) -> Result<Vec<String>, StoreError> {
        dispatch!(self, holders())
    }

    /// Releases what an instance that is gone held (see `sql::release_holder`).
    pub async fn release_holder(&self, owner: &str) -> Result<u64, StoreError> {
        let now = self.clock.now();
        dispatch!(self, release_holder(owner, now))
    }

    pub async fn set_paused(&self, robot: &str, paused: bool, reason: Option<&str>) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, set_paused(robot, paused, reason, now))
    }

    /// `Some(reason)` when the robot is paused.
    pub async fn paused(&self, robot: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self, paused(robot))
    }

    /// Work items of a run still open: (due or leased now, waiting for a later retry).
    pub async fn open_work_for_run(&self, run: RunId) -> Result<(i64, i64), StoreError> {
        let now = self.clock.now();
        dispatch!(self, open_work_for_run(run, now))
    }

    pub async fn run_states(&self, run: RunId) -> Result<Vec<(CaseState, i64)>, StoreError> {
        dispatch!(self, run_states(run))
    }
}
