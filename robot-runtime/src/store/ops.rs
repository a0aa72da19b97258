//! What IT's metrics read from the store at scrape time: work items and
//! outbox rows by state with the age of the oldest, cases waiting for an
//! official by age, kommuniceringar past their deadline, the audit log's
//! size and last checkpoint, and each robot's last successful run. Counts
//! and ages only: nothing about a case or a person leaves here.
//!
//! Written once, instantiated for both engines by `engine!`.

use super::{Backend, Store, StoreError, us};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Counts and ages (seconds) at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpsSnapshot {
    /// `work_items.status` → (count, age of the oldest in seconds, from
    /// its case's receipt).
    pub work_items: Vec<(String, i64, i64)>,
    /// `outbox.status` → (count, age of the oldest in seconds, from its
    /// creation).
    pub outbox: Vec<(String, i64, i64)>,
    /// Cases awaiting an official's decision (first or second approval).
    pub awaiting: i64,
    /// Of those, how many are at least `days` old, for each of the days asked.
    pub awaiting_older: Vec<(i64, i64)>,
    pub awaiting_oldest_age: i64,
    pub kommunicering_open: i64,
    pub kommunicering_overdue: i64,
    pub audit_size: i64,
    pub audit_checkpoint_size: i64,
    /// Microseconds since the epoch; 0 when no checkpoint is signed.
    pub audit_checkpoint_us: i64,
    /// The first entry's time (microseconds), when there is one.
    pub audit_first_us: Option<i64>,
    /// Robot → when its last successful run finished (microseconds).
    pub last_success: Vec<(String, i64)>,
}

fn age(now: i64, then: Option<i64>) -> i64 {
    then.map_or(0, |t| (now - t).max(0) / 1_000_000)
}

/// (status, count, age of the oldest) from a count per status and the
/// oldest time of the statuses that have one.
fn with_ages(now: i64, counts: &[(String, i64)], ages: &[(String, Option<i64>)]) -> Vec<(String, i64, i64)> {
    counts
        .iter()
        .map(|(status, n)| {
            let t = ages.iter().find(|(s, _)| s == status).and_then(|(_, t)| *t);
            (status.clone(), *n, age(now, t))
        })
        .collect()
}

macro_rules! engine {
    ($module:ident, $pool:ty) => {
        pub(super) mod $module {
            use super::*;

            pub async fn ops_snapshot(
                pool: &$pool,
                now: DateTime<Utc>,
                days: &[i64],
            ) -> Result<OpsSnapshot, StoreError> {
                let t = us(now);
                let mut s = OpsSnapshot::default();
                // Counts from the status indexes alone; the ages only over
                // the open rows (done and delivered rows are most of them).
                let counts: Vec<(String, i64)> =
                    sqlx::query_as("SELECT status, COUNT(*) FROM work_items GROUP BY status ORDER BY status")
                        .fetch_all(pool)
                        .await?;
                let ages: Vec<(String, Option<i64>)> = sqlx::query_as(concat!(
                    "SELECT w.status, MIN(c.received_us) FROM work_items w JOIN cases c ON c.id = w.case_id ",
                    "WHERE w.status IN ('pending', 'leased') GROUP BY w.status"
                ))
                .fetch_all(pool)
                .await?;
                s.work_items = with_ages(t, &counts, &ages);
                let counts: Vec<(String, i64)> =
                    sqlx::query_as("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")
                        .fetch_all(pool)
                        .await?;
                let ages: Vec<(String, Option<i64>)> = sqlx::query_as(
                    "SELECT status, MIN(created_us) FROM outbox WHERE status <> 'delivered' GROUP BY status",
                )
                .fetch_all(pool)
                .await?;
                s.outbox = with_ages(t, &counts, &ages);
                let waiting = sqlx::query(concat!(
                    "SELECT COUNT(*) AS n, MIN(COALESCE(applied_us, received_us)) AS oldest FROM cases ",
                    "WHERE state IN ('awaiting_approval', 'awaiting_second_approval')"
                ))
                .fetch_one(pool)
                .await?;
                s.awaiting = waiting.try_get("n")?;
                s.awaiting_oldest_age = age(t, waiting.try_get("oldest")?);
                for d in days {
                    let n: i64 = sqlx::query_scalar(concat!(
                        "SELECT COUNT(*) FROM cases WHERE state IN ('awaiting_approval', 'awaiting_second_approval') ",
                        "AND COALESCE(applied_us, received_us) <= $1"
                    ))
                    .bind(t - d * 86_400_000_000)
                    .fetch_one(pool)
                    .await?;
                    s.awaiting_older.push((*d, n));
                }
                let k = sqlx::query(concat!(
                    "SELECT COUNT(*) AS n, COUNT(CASE WHEN deadline_us < $1 THEN 1 END) AS overdue ",
                    "FROM kommuniceringar WHERE closed IS NULL"
                ))
                .bind(t)
                .fetch_one(pool)
                .await?;
                s.kommunicering_open = k.try_get("n")?;
                s.kommunicering_overdue = k.try_get("overdue")?;
                let head = sqlx::query("SELECT size, checkpoint_size, checkpoint_us FROM audit_head WHERE id = 1")
                    .fetch_optional(pool)
                    .await?;
                if let Some(h) = head {
                    s.audit_size = h.try_get("size")?;
                    s.audit_checkpoint_size = h.try_get("checkpoint_size")?;
                    s.audit_checkpoint_us = h.try_get("checkpoint_us")?;
                }
                s.audit_first_us = sqlx::query_scalar("SELECT time_us FROM audit_events ORDER BY seq LIMIT 1")
                    .fetch_optional(pool)
                    .await?;
                let rows = sqlx::query(concat!(
                    "SELECT robot, MAX(finished_us) AS last FROM robot_runs ",
                    "WHERE status = 'succeeded' GROUP BY robot ORDER BY robot"
                ))
                .fetch_all(pool)
                .await?;
                for r in rows {
                    let last: Option<i64> = r.try_get("last")?;
                    s.last_success.push((r.try_get("robot")?, last.unwrap_or(0)));
                }
                Ok(s)
            }
        }
    };
}

engine!(sqlite, sqlx::SqlitePool);
engine!(postgres, sqlx::PgPool);

impl Store {
    /// The counts and ages IT's metrics show (see [`OpsSnapshot`]); `days`
    /// are the age buckets of cases awaiting a decision.
    pub async fn ops_snapshot(&self, days: &[i64]) -> Result<OpsSnapshot, StoreError> {
        let now = self.clock.now();
        dispatch!(self, ops_snapshot(now, days))
    }
}
