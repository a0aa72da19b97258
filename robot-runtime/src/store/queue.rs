//! The officials' work queue: filtered, sorted, paged listings of cases
//! that stay fast at 100,000 cases. Every filter and sort order has an
//! index (`migrations/*/0003_users_sessions.sql`); paging is LIMIT/OFFSET
//! with one row more than the page, so no count of the filtered set is
//! ever needed.
//!
//! The SQL is assembled from fixed fragments only; every value is a bound
//! parameter.

use super::users::UserId;
use super::{Backend, CaseId, Store, StoreError, from_us, us};
use chrono::{DateTime, Utc};
use domain::{CaseState, Outcome};
use sqlx::Row;

/// How the queue is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueSort {
    /// Oldest received first: the order officials work in.
    #[default]
    Oldest,
    Newest,
    AmountHigh,
    AmountLow,
}

impl QueueSort {
    pub const ALL: &'static [QueueSort] = &[
        QueueSort::Oldest,
        QueueSort::Newest,
        QueueSort::AmountHigh,
        QueueSort::AmountLow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueSort::Oldest => "aldst",
            QueueSort::Newest => "nyast",
            QueueSort::AmountHigh => "belopp_hogst",
            QueueSort::AmountLow => "belopp_lagst",
        }
    }

    pub fn parse(s: &str) -> Option<QueueSort> {
        QueueSort::ALL.iter().copied().find(|q| q.as_str() == s)
    }

    fn order_by(self) -> &'static str {
        match self {
            QueueSort::Oldest => "c.received_us ASC, c.id ASC",
            QueueSort::Newest => "c.received_us DESC, c.id DESC",
            QueueSort::AmountHigh => "c.amount_ore DESC, c.id DESC",
            QueueSort::AmountLow => "c.amount_ore ASC, c.id ASC",
        }
    }
}

/// What the queue shows. `None` is "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    pub state: Option<CaseState>,
    pub robot: Option<String>,
    /// Only these robots (a casework type's); empty matches nothing.
    pub robots: Option<Vec<String>>,
    pub outcome: Option<Outcome>,
    pub assigned_to: Option<UserId>,
    /// Received before this time (at least this old).
    pub received_before: Option<DateTime<Utc>>,
    /// Received at or after this time (at most this old).
    pub received_after: Option<DateTime<Utc>>,
}

/// One line of the queue.
#[derive(Debug, Clone)]
pub struct QueueRow {
    pub id: CaseId,
    pub external_id: String,
    pub robot: String,
    pub state: CaseState,
    pub period: Option<String>,
    pub outcome: Option<Outcome>,
    pub amount_ore: Option<i64>,
    pub received: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub assigned_to: Option<UserId>,
    pub assigned_name: Option<String>,
}

/// A page of the queue, and whether there is a next one.
#[derive(Debug, Clone)]
pub struct QueuePage {
    pub rows: Vec<QueueRow>,
    pub has_more: bool,
}

/// A delivery that keeps failing, for administrators.
#[derive(Debug, Clone)]
pub struct OutboxProblem {
    pub id: i64,
    pub case_id: CaseId,
    pub status: super::DeliveryStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt: DateTime<Utc>,
}

/// Binds in the order the fragments were added.
enum Bind {
    Text(String),
    Int(i64),
}

fn where_clause(f: &QueueFilter) -> (String, Vec<Bind>) {
    let mut parts = Vec::new();
    let mut binds = Vec::new();
    let mut add = |sql: &str, b: Bind| {
        binds.push(b);
        parts.push(sql.replace('?', &format!("${}", binds.len())));
    };
    if let Some(s) = f.state {
        add("c.state = ?", Bind::Text(s.as_str().into()));
    }
    if let Some(r) = &f.robot {
        add("c.robot = ?", Bind::Text(r.clone()));
    }
    if let Some(o) = f.outcome {
        add("c.outcome = ?", Bind::Text(o.as_str().into()));
    }
    if let Some(u) = f.assigned_to {
        add("c.assigned_to = ?", Bind::Int(u));
    }
    if let Some(t) = f.received_before {
        add("c.received_us < ?", Bind::Int(us(t)));
    }
    if let Some(t) = f.received_after {
        add("c.received_us >= ?", Bind::Int(us(t)));
    }
    if let Some(rs) = &f.robots {
        if rs.is_empty() {
            parts.push("1 = 0".into());
        } else {
            let mut marks = Vec::new();
            for r in rs {
                binds.push(Bind::Text(r.clone()));
                marks.push(format!("${}", binds.len()));
            }
            parts.push(format!("c.robot IN ({})", marks.join(", ")));
        }
    }
    let sql = if parts.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", parts.join(" AND "))
    };
    (sql, binds)
}

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty) => {
        pub(super) mod $module {
            use super::*;

            pub async fn queue(pool: &$pool, f: &QueueFilter, sort: QueueSort, limit: i64, offset: i64) -> Result<QueuePage, StoreError> {
                let (filter, binds) = where_clause(f);
                let n = binds.len();
                let sql = format!(
                    "SELECT c.id, c.external_id, c.robot, c.state, c.period, c.outcome, c.amount_ore, c.received_us, c.updated_us, \
                     c.assigned_to, u.display_name AS assigned_name \
                     FROM cases c LEFT JOIN users u ON u.id = c.assigned_to {filter} ORDER BY {} LIMIT ${} OFFSET ${}",
                    sort.order_by(),
                    n + 1,
                    n + 2
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    q = match b {
                        Bind::Text(t) => q.bind(t),
                        Bind::Int(i) => q.bind(i),
                    };
                }
                let rows = q.bind(limit + 1).bind(offset).fetch_all(pool).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let state: String = r.try_get("state")?;
                    let outcome: Option<String> = r.try_get("outcome")?;
                    out.push(QueueRow {
                        id: r.try_get("id")?,
                        external_id: r.try_get("external_id")?,
                        robot: r.try_get("robot")?,
                        state: state
                            .parse()
                            .map_err(|_| StoreError::Corrupt(format!("unknown state {state:?}")))?,
                        period: r.try_get("period")?,
                        outcome: match outcome {
                            None => None,
                            Some(o) => Some(o.parse().map_err(|_| StoreError::Corrupt(format!("unknown outcome {o:?}")))?),
                        },
                        amount_ore: r.try_get("amount_ore")?,
                        received: from_us(r.try_get("received_us")?),
                        updated: from_us(r.try_get("updated_us")?),
                        assigned_to: r.try_get("assigned_to")?,
                        assigned_name: r.try_get("assigned_name")?,
                    });
                }
                let limit = usize::try_from(limit).unwrap_or(0);
                let has_more = out.len() > limit;
                out.truncate(limit);
                Ok(QueuePage { rows: out, has_more })
            }

            pub async fn outbox_problems(pool: &$pool, limit: i64) -> Result<Vec<OutboxProblem>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, case_id, status, attempts, last_error, next_attempt_us FROM outbox \
                     WHERE status = 'failing' OR (status <> 'delivered' AND attempts >= 3) ORDER BY updated_us DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(OutboxProblem {
                            id: r.try_get("id")?,
                            case_id: r.try_get("case_id")?,
                            status: r.try_get::<String, _>("status")?.parse()?,
                            attempts: r.try_get::<i64, _>("attempts").or_else(|_| r.try_get::<i32, _>("attempts").map(i64::from))?,
                            last_error: r.try_get("last_error")?,
                            next_attempt: from_us(r.try_get("next_attempt_us")?),
                        })
                    })
                    .collect()
            }

            pub async fn assigned_count(pool: &$pool, user: UserId) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE assigned_to = $1 AND state IN ('awaiting_approval', 'awaiting_second_approval')")
                    .bind(user)
                    .fetch_one(pool)
                    .await?)
            }
        }
    };
}

engine!(sqlite, sqlx::Sqlite, sqlx::SqlitePool);
engine!(postgres, sqlx::Postgres, sqlx::PgPool);

impl Store {
    /// A page of the work queue: `limit` rows from `offset`.
    pub async fn queue(
        &self,
        filter: &QueueFilter,
        sort: QueueSort,
        limit: i64,
        offset: i64,
    ) -> Result<QueuePage, StoreError> {
        dispatch!(self, queue(filter, sort, limit.clamp(1, 500), offset.max(0)))
    }

    /// Cases assigned to a user that wait for a decision.
    pub async fn assigned_count(&self, user: UserId) -> Result<i64, StoreError> {
        dispatch!(self, assigned_count(user))
    }

    /// Deliveries that fail or have failed several times.
    pub async fn outbox_problems(&self, limit: i64) -> Result<Vec<OutboxProblem>, StoreError> {
        dispatch!(self, outbox_problems(limit))
    }
}
