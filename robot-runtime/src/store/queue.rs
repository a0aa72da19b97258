//! The officials' work queue: filtered, sorted, paged listings of cases
//! that stay fast at 100,000 cases. Every filter and sort order has an
//! index (`migrations/*/0003_users_sessions.sql`, `0008`); the search goes
//! through `case_terms` (`search.rs`); paging is LIMIT/OFFSET with one row
//! more than the page. The counts per state (`queue_counts`) use the same
//! filter.
//!
//! The SQL is assembled from fixed fragments only; every value is a bound
//! parameter.

use super::users::UserId;
use super::{Backend, CaseId, Store, StoreError, from_us, us};
use chrono::{DateTime, Utc};
use domain::{CaseState, Outcome};
use sqlx::Row;

/// How the queue is sorted: a column and a direction. The names are the
/// query string's (`sortering=`), the first four kept from before the
/// columns could be sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueSort {
    /// Oldest application first (most days waiting): the order officials
    /// work in.
    #[default]
    Oldest,
    Newest,
    AmountHigh,
    AmountLow,
    CaseAsc,
    CaseDesc,
    PeriodAsc,
    PeriodDesc,
    OutcomeAsc,
    OutcomeDesc,
}

/// The queue's sortable columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Case,
    Period,
    Outcome,
    Amount,
    Days,
}

impl QueueSort {
    pub const ALL: &'static [QueueSort] = &[
        QueueSort::Oldest,
        QueueSort::Newest,
        QueueSort::AmountHigh,
        QueueSort::AmountLow,
        QueueSort::CaseAsc,
        QueueSort::CaseDesc,
        QueueSort::PeriodAsc,
        QueueSort::PeriodDesc,
        QueueSort::OutcomeAsc,
        QueueSort::OutcomeDesc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueSort::Oldest => "aldst",
            QueueSort::Newest => "nyast",
            QueueSort::AmountHigh => "belopp_hogst",
            QueueSort::AmountLow => "belopp_lagst",
            QueueSort::CaseAsc => "arende",
            QueueSort::CaseDesc => "arende_fallande",
            QueueSort::PeriodAsc => "period",
            QueueSort::PeriodDesc => "period_fallande",
            QueueSort::OutcomeAsc => "forslag",
            QueueSort::OutcomeDesc => "forslag_fallande",
        }
    }

    pub fn parse(s: &str) -> Option<QueueSort> {
        QueueSort::ALL.iter().copied().find(|q| q.as_str() == s)
    }

    /// The column and whether its values ascend down the page (days
    /// ascend when the newest application comes first).
    pub fn column(self) -> (SortColumn, bool) {
        match self {
            QueueSort::Oldest => (SortColumn::Days, false),
            QueueSort::Newest => (SortColumn::Days, true),
            QueueSort::AmountHigh => (SortColumn::Amount, false),
            QueueSort::AmountLow => (SortColumn::Amount, true),
            QueueSort::CaseAsc => (SortColumn::Case, true),
            QueueSort::CaseDesc => (SortColumn::Case, false),
            QueueSort::PeriodAsc => (SortColumn::Period, true),
            QueueSort::PeriodDesc => (SortColumn::Period, false),
            QueueSort::OutcomeAsc => (SortColumn::Outcome, true),
            QueueSort::OutcomeDesc => (SortColumn::Outcome, false),
        }
    }

    /// The sort of a column in a direction.
    pub fn of(column: SortColumn, ascending: bool) -> QueueSort {
        QueueSort::ALL
            .iter()
            .copied()
            .find(|s| s.column() == (column, ascending))
            .unwrap_or_default()
    }

    /// Each has an index with the state first (`0003`, `0008`).
    fn order_by(self) -> &'static str {
        match self {
            QueueSort::Oldest => "c.applied_us ASC, c.id ASC",
            QueueSort::Newest => "c.applied_us DESC, c.id DESC",
            QueueSort::AmountHigh => "c.amount_ore DESC, c.id DESC",
            QueueSort::AmountLow => "c.amount_ore ASC, c.id ASC",
            QueueSort::CaseAsc => "c.id ASC",
            QueueSort::CaseDesc => "c.id DESC",
            QueueSort::PeriodAsc => "c.period ASC, c.id ASC",
            QueueSort::PeriodDesc => "c.period DESC, c.id DESC",
            QueueSort::OutcomeAsc => "c.outcome ASC, c.applied_us ASC, c.id ASC",
            QueueSort::OutcomeDesc => "c.outcome DESC, c.applied_us DESC, c.id DESC",
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
    /// The application received before this time (at least this old).
    pub received_before: Option<DateTime<Utc>>,
    /// The application received at or after this time (at most this old).
    pub received_after: Option<DateTime<Utc>>,
    /// Words that must each match a name, personnummer, diarienummer or
    /// external id (`search.rs`); too short words are ignored.
    pub search: Option<String>,
    /// Waiting for a second official who is not the first approver: this
    /// user may give the second approval.
    pub second_for: Option<UserId>,
}

impl QueueFilter {
    /// The same filter for every state (what the counts per state count).
    pub fn any_state(&self) -> QueueFilter {
        QueueFilter {
            state: None,
            ..self.clone()
        }
    }

    /// The search's words, when there is at least one long enough.
    pub fn search_ranges(&self) -> Vec<(String, String)> {
        self.search
            .as_deref()
            .map(super::search::query_ranges)
            .unwrap_or_default()
    }

    /// Nothing but (at most) a state: the cached counts will do.
    pub fn only_state(&self) -> bool {
        self.any_state() == QueueFilter::default()
    }
}

/// One line of the queue.
#[derive(Debug, Clone)]
pub struct QueueRow {
    pub id: CaseId,
    pub external_id: String,
    pub diarienummer: Option<String>,
    pub robot: String,
    pub state: CaseState,
    pub period: Option<String>,
    pub outcome: Option<Outcome>,
    /// The pending decision's amount when one waits for a second
    /// official, else the draft's.
    pub amount_ore: Option<i64>,
    /// The robot's intake.
    pub received: DateTime<Utc>,
    /// The application's own received time (the intake's when unknown).
    pub applied: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub assigned_to: Option<UserId>,
    pub assigned_name: Option<String>,
    /// Who approved first, while the decision waits for a second official.
    pub first_by: Option<UserId>,
    pub first_by_name: Option<String>,
    /// The waiting decision departs from the proposal.
    pub amended: bool,
    /// The open kommunicering's last day for a reply.
    pub kommunicering_deadline: Option<DateTime<Utc>>,
    /// Assessments the draft asks the official to confirm.
    pub assessments: i64,
    /// Who the case is about, the applicant first.
    pub people: Vec<super::CasePerson>,
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

/// The reference date for reading back a stored 12-digit personnummer
/// (the century is in the number; the date only rules out births after it).
const FAR_FUTURE: chrono::NaiveDate = chrono::NaiveDate::MAX;

/// A search whose rarest word matches this many terms or more is broad:
/// its counts stop at this many cases.
pub const BROAD: i64 = 2000;

/// A one-word search matching this many terms or more (a third of 100,000
/// cases or so: "berg") walks the sort order; below it, starting from the
/// word's cases and sorting them is cheaper than testing case after case
/// along the order (a personnummer's last four digits: 2.7 % of the cases).
const WALK: i64 = 20_000;

/// The counts of one state (see `queue_tally`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTally {
    pub state: CaseState,
    pub all: i64,
    /// Assigned to the user asked for.
    pub mine: i64,
    /// Waiting for a second approval the user may give.
    pub second: i64,
}

/// Binds in the order the fragments were added.
enum Bind {
    Text(String),
    Int(i64),
}

/// A query (rows or a scalar) with a filter's binds, in order.
macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        q
    }};
}

/// How a search takes part in a query. Every word but the one the query
/// starts from is tested per case through `case_terms (case_id, term)`, as
/// a scalar subquery with LIMIT 1 that neither engine turns into a join
/// over all the word's cases.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SearchPlan {
    /// The query starts from this word's cases (the rarest word).
    From(usize),
    /// One broad word: walk the sort order's index and test each case, so a
    /// page of a search matching 30,000 cases reads about a page's worth.
    Walk,
}

/// A word's test for one case.
const PROBE: &str =
    "(SELECT 1 FROM case_terms t WHERE t.case_id = c.id AND t.term >= ? AND t.term < ? LIMIT 1) IS NOT NULL";

/// The WHERE clause of a filter.
fn where_clause(f: &QueueFilter, plan: SearchPlan) -> (String, Vec<Bind>) {
    let mut parts = Vec::new();
    let mut binds = Vec::new();
    let mut add = |sql: &str, bs: Vec<Bind>| {
        let mut sql = sql.to_string();
        for b in bs {
            binds.push(b);
            sql = sql.replacen('?', &format!("${}", binds.len()), 1);
        }
        parts.push(sql);
    };
    if let Some(s) = f.state {
        add("c.state = ?", vec![Bind::Text(s.as_str().into())]);
    }
    if let Some(me) = f.second_for {
        add(
            "c.state = 'awaiting_second_approval' AND (c.first_by IS NULL OR c.first_by <> ?)",
            vec![Bind::Int(me)],
        );
    }
    if let Some(r) = &f.robot {
        add("c.robot = ?", vec![Bind::Text(r.clone())]);
    }
    if let Some(o) = f.outcome {
        add("c.outcome = ?", vec![Bind::Text(o.as_str().into())]);
    }
    if let Some(u) = f.assigned_to {
        add("c.assigned_to = ?", vec![Bind::Int(u)]);
    }
    if let Some(t) = f.received_before {
        add("c.applied_us < ?", vec![Bind::Int(us(t))]);
    }
    if let Some(t) = f.received_after {
        add("c.applied_us >= ?", vec![Bind::Int(us(t))]);
    }
    for (i, (from, to)) in f.search_ranges().into_iter().enumerate() {
        let sql = if plan == SearchPlan::From(i) {
            "c.id IN (SELECT t.case_id FROM case_terms t WHERE t.term >= ? AND t.term < ?)"
        } else {
            PROBE
        };
        add(sql, vec![Bind::Text(from), Bind::Text(to)]);
    }
    if let Some(rs) = &f.robots {
        if rs.is_empty() {
            parts.push("1 = 0".into());
        } else {
            let marks = vec!["?"; rs.len()].join(", ");
            add(
                &format!("c.robot IN ({marks})"),
                rs.iter().map(|r| Bind::Text(r.clone())).collect(),
            );
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

            /// How to run the search: from its rarest word (each word's
            /// matching terms counted up to `BROAD`), or, when it is one
            /// word matching `BROAD` terms or more, along the sort order.
            async fn plan(pool: &$pool, f: &QueueFilter) -> Result<(SearchPlan, bool), StoreError> {
                let ranges = f.search_ranges();
                let mut rarest = (0usize, i64::MAX);
                for (i, (from, to)) in ranges.iter().enumerate() {
                    let cap = if ranges.len() == 1 { WALK } else { BROAD };
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM case_terms WHERE term >= $1 AND term < $2 LIMIT $3) x")
                        .bind(from)
                        .bind(to)
                        .bind(cap)
                        .fetch_one(pool)
                        .await?;
                    if n < rarest.1 {
                        rarest = (i, n);
                    }
                }
                let broad = !ranges.is_empty() && rarest.1 >= BROAD;
                Ok(if ranges.len() == 1 && rarest.1 >= WALK {
                    (SearchPlan::Walk, true)
                } else {
                    (SearchPlan::From(rarest.0), broad)
                })
            }

            pub async fn queue(pool: &$pool, f: &QueueFilter, sort: QueueSort, limit: i64, offset: i64) -> Result<QueuePage, StoreError> {
                let (plan, _) = plan(pool, f).await?;
                let (filter, binds) = where_clause(f, plan);
                let n = binds.len();
                let sql = format!(
                    "SELECT c.id, c.external_id, c.diarienummer, c.robot, c.state, c.period, c.outcome, c.amount_ore, c.received_us, c.applied_us, \
                     c.updated_us, c.assigned_to, c.first_by, c.assessments, u.display_name AS assigned_name, fb.display_name AS first_by_name, \
                     (SELECT d.amended FROM decisions d WHERE d.case_id = c.id AND c.state = 'awaiting_second_approval' AND d.final = false \
                        ORDER BY d.id DESC LIMIT 1) AS amended, \
                     (SELECT k.deadline_us FROM kommuniceringar k WHERE k.case_id = c.id AND k.closed IS NULL) AS deadline_us \
                     FROM cases c LEFT JOIN users u ON u.id = c.assigned_to \
                     LEFT JOIN users fb ON fb.id = c.first_by AND c.state = 'awaiting_second_approval' \
                     {filter} ORDER BY {} LIMIT ${} OFFSET ${}",
                    sort.order_by(),
                    n + 1,
                    n + 2
                );
                let q = bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql)), binds);
                let rows = q.bind(limit + 1).bind(offset).fetch_all(pool).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let state: String = r.try_get("state")?;
                    let outcome: Option<String> = r.try_get("outcome")?;
                    let received = from_us(r.try_get("received_us")?);
                    let state: CaseState = state
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("unknown state {state:?}")))?;
                    out.push(QueueRow {
                        id: r.try_get("id")?,
                        external_id: r.try_get("external_id")?,
                        diarienummer: r.try_get("diarienummer")?,
                        robot: r.try_get("robot")?,
                        state,
                        period: r.try_get("period")?,
                        outcome: match outcome {
                            None => None,
                            Some(o) => Some(o.parse().map_err(|_| StoreError::Corrupt(format!("unknown outcome {o:?}")))?),
                        },
                        amount_ore: r.try_get("amount_ore")?,
                        received,
                        applied: r.try_get::<Option<i64>, _>("applied_us")?.map_or(received, from_us),
                        updated: from_us(r.try_get("updated_us")?),
                        assigned_to: r.try_get("assigned_to")?,
                        assigned_name: r.try_get("assigned_name")?,
                        first_by: if state == CaseState::AwaitingSecondApproval { r.try_get("first_by")? } else { None },
                        first_by_name: r.try_get("first_by_name")?,
                        amended: r.try_get::<Option<bool>, _>("amended")?.unwrap_or(false),
                        kommunicering_deadline: r.try_get::<Option<i64>, _>("deadline_us")?.map(from_us),
                        assessments: super::super::sql::int(r, "assessments")?,
                        people: Vec::new(),
                    });
                }
                let limit = usize::try_from(limit).unwrap_or(0);
                let has_more = out.len() > limit;
                out.truncate(limit);
                if !out.is_empty() {
                    let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT case_id, role, name, personnummer FROM case_people WHERE case_id IN (");
                    let mut sep = qb.separated(", ");
                    for row in &out {
                        sep.push_bind(row.id);
                    }
                    qb.push(") ORDER BY case_id, pos");
                    let people = qb.build().fetch_all(pool).await?;
                    for p in &people {
                        let case: CaseId = p.try_get("case_id")?;
                        let pnr: String = p.try_get("personnummer")?;
                        let personnummer = domain::Personnummer::parse(&pnr, FAR_FUTURE)
                            .map_err(|_| StoreError::Corrupt(format!("a stored personnummer of case {case} does not parse")))?;
                        if let Some(row) = out.iter_mut().find(|x| x.id == case) {
                            row.people.push(super::super::CasePerson {
                                role: p.try_get("role")?,
                                name: p.try_get("name")?,
                                personnummer,
                            });
                        }
                    }
                }
                Ok(QueuePage { rows: out, has_more })
            }

            /// How many cases of each state match a filter (its state aside).
            pub async fn queue_counts(pool: &$pool, f: &QueueFilter) -> Result<Vec<(CaseState, i64)>, StoreError> {
                let (plan, _) = plan(pool, f).await?;
                let (filter, binds) = where_clause(&f.any_state(), plan);
                let sql = format!("SELECT c.state, COUNT(*) AS n FROM cases c {filter} GROUP BY c.state");
                let q = bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql)), binds);
                let mut out = Vec::new();
                for r in q.fetch_all(pool).await? {
                    let s: String = r.try_get("state")?;
                    let state = s.parse().map_err(|_| StoreError::Corrupt(format!("unknown state {s:?}")))?;
                    out.push((state, r.try_get("n")?));
                }
                Ok(out)
            }

            /// How many cases match a filter.
            /// Per state: the cases matching a filter (its state, mine and
            /// second-approver parts aside), those assigned to `me`, and
            /// those waiting for `me` as second approver. One pass.
            pub async fn queue_tally(pool: &$pool, f: &QueueFilter, me: UserId) -> Result<(Vec<StateTally>, bool), StoreError> {
                let base = QueueFilter { state: None, assigned_to: None, second_for: None, ..f.clone() };
                // A broad search is counted up to `BROAD` cases only.
                let (plan, broad) = plan(pool, &base).await?;
                // Counting stops at `BROAD` + 1: from the word's cases, not
                // along an order (which would test every case of a sparse word).
                let plan = match plan {
                    SearchPlan::Walk => SearchPlan::From(0),
                    p => p,
                };
                let (filter, binds) = where_clause(&base, plan);
                let m = binds.len() + 1;
                let from = if broad {
                    format!("(SELECT c.state, c.assigned_to, c.first_by FROM cases c {filter} LIMIT {}) c", BROAD + 1)
                } else {
                    format!("cases c {filter}")
                };
                let sql = format!(
                    "SELECT c.state, COUNT(*) AS n, SUM(CASE WHEN c.assigned_to = ${m} THEN 1 ELSE 0 END) AS mine, \
                     SUM(CASE WHEN c.state = 'awaiting_second_approval' AND (c.first_by IS NULL OR c.first_by <> ${m}) THEN 1 ELSE 0 END) AS second \
                     FROM {from} GROUP BY c.state"
                );
                let q = bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql)), binds);
                let mut out = Vec::new();
                for r in q.bind(me).fetch_all(pool).await? {
                    let s: String = r.try_get("state")?;
                    out.push(StateTally {
                        state: s.parse().map_err(|_| StoreError::Corrupt(format!("unknown state {s:?}")))?,
                        all: r.try_get("n")?,
                        mine: r.try_get::<Option<i64>, _>("mine")?.unwrap_or(0),
                        second: r.try_get::<Option<i64>, _>("second")?.unwrap_or(0),
                    });
                }
                let capped = broad && out.iter().map(|t| t.all).sum::<i64>() > BROAD;
                Ok((out, capped))
            }

            pub async fn queue_count(pool: &$pool, f: &QueueFilter) -> Result<i64, StoreError> {
                let (plan, _) = plan(pool, f).await?;
                let (filter, binds) = where_clause(f, plan);
                let sql = format!("SELECT COUNT(*) FROM cases c {filter}");
                let q = bind_all!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), binds);
                Ok(q.fetch_one(pool).await?)
            }

            /// Up to `limit` cases stored before the queue knew their
            /// people (`applied_us IS NULL`), with their documents and
            /// latest drafts.
            pub async fn unfilled(pool: &$pool, limit: i64) -> Result<Vec<Unfilled>, StoreError> {
                let rows = sqlx::query(
                    "SELECT c.id, c.robot, c.external_id, c.diarienummer, c.received_us, a.document, \
                     (SELECT d.draft FROM drafts d WHERE d.case_id = c.id ORDER BY d.id DESC LIMIT 1) AS draft \
                     FROM cases c LEFT JOIN applications a ON a.case_id = c.id WHERE c.applied_us IS NULL ORDER BY c.id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Unfilled {
                            id: r.try_get("id")?,
                            robot: r.try_get("robot")?,
                            external_id: r.try_get("external_id")?,
                            diarienummer: r.try_get("diarienummer")?,
                            received: from_us(r.try_get("received_us")?),
                            document: r.try_get::<Option<Vec<u8>>, _>("document")?.unwrap_or_default(),
                            draft: r.try_get("draft")?,
                        })
                    })
                    .collect()
            }

            /// Writes what the backfill found for some cases, in one transaction.
            pub async fn fill(pool: &$pool, filled: &[Filled]) -> Result<(), StoreError> {
                let mut tx = super::super::sql::$module::begin(pool).await?;
                for f in filled {
                    super::super::sql::$module::write_people(&mut tx, f.id, &f.people, &f.diarienummer, &f.external_id).await?;
                    sqlx::query("UPDATE cases SET applied_us = $1, assessments = $2 WHERE id = $3 AND applied_us IS NULL")
                        .bind(us(f.applied))
                        .bind(i32::try_from(f.assessments).unwrap_or(i32::MAX))
                        .bind(f.id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
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

            pub async fn queue_tally_mine(pool: &$pool, user: UserId) -> Result<Vec<(CaseState, i64)>, StoreError> {
                let mut out = Vec::new();
                for r in sqlx::query("SELECT state, COUNT(*) AS n FROM cases WHERE assigned_to = $1 GROUP BY state").bind(user).fetch_all(pool).await? {
                    let s: String = r.try_get("state")?;
                    out.push((s.parse().map_err(|_| StoreError::Corrupt(format!("unknown state {s:?}")))?, r.try_get("n")?));
                }
                Ok(out)
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

// Neither planner sees how many cases a prefix range holds before it
// runs; the store counts each word (capped) and plans the query
// (`SearchPlan`): from the rarest word, or along the sort order.
engine!(sqlite, sqlx::Sqlite, sqlx::SqlitePool);
engine!(postgres, sqlx::Postgres, sqlx::PgPool);

/// A case stored before the queue knew its people (see `Store::backfill_queue`).
pub struct Unfilled {
    pub id: CaseId,
    pub robot: String,
    pub external_id: String,
    pub diarienummer: Option<String>,
    pub received: DateTime<Utc>,
    pub document: Vec<u8>,
    pub draft: Option<String>,
}

/// What the backfill writes for one case.
pub struct Filled {
    id: CaseId,
    external_id: String,
    diarienummer: String,
    people: Vec<super::CasePerson>,
    applied: DateTime<Utc>,
    assessments: usize,
}

/// What a stored document says, read by the robot's casework type.
pub struct ReadBack {
    pub people: Vec<super::CasePerson>,
    pub applied: Option<DateTime<Utc>>,
}

/// The number of assessments in a stored draft.
fn assessments_in(draft: &str) -> usize {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        assessments: Vec<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Head>(draft).map_or(0, |h| h.assessments.len())
}

impl Store {
    /// Fills in, for cases stored before migration 0008, who each case is
    /// about, its search terms, the application's received date and the
    /// draft's assessments, in batches, until none is left. `read` reads a
    /// stored document as the case's robot does (`None`: unreadable; the
    /// case is then found by diarienummer and external id only).
    /// Idempotent; returns how many cases it filled.
    pub async fn backfill_queue(
        &self,
        read: &(dyn Fn(&str, &[u8]) -> Option<ReadBack> + Sync),
    ) -> Result<usize, StoreError> {
        let mut done = 0;
        loop {
            let batch = dispatch!(self, unfilled(200))?;
            if batch.is_empty() {
                return Ok(done);
            }
            let filled: Vec<Filled> = batch
                .into_iter()
                .map(|u| {
                    let back = read(&u.robot, &u.document);
                    let (people, applied) = match back {
                        Some(b) => (b.people, b.applied),
                        None => (Vec::new(), None),
                    };
                    Filled {
                        id: u.id,
                        diarienummer: u.diarienummer.unwrap_or_default(),
                        external_id: u.external_id,
                        people,
                        applied: applied.unwrap_or(u.received),
                        assessments: u.draft.as_deref().map_or(0, assessments_in),
                    }
                })
                .collect();
            dispatch!(self, fill(&filled))?;
            done += filled.len();
            tracing::info!(cases = done, "queue backfill: cases filled in");
        }
    }

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

    /// How many cases of each state match a filter (its state aside).
    pub async fn queue_counts(&self, filter: &QueueFilter) -> Result<Vec<(CaseState, i64)>, StoreError> {
        dispatch!(self, queue_counts(filter))
    }

    /// Per state, under a filter's other parts: all, mine, waiting for me
    /// as second approver (one pass over the matching cases). A broad
    /// search is counted up to 2,000 cases: `true` when there are more
    /// (the counts are then of the first 2,001 found).
    pub async fn queue_tally(&self, filter: &QueueFilter, me: UserId) -> Result<(Vec<StateTally>, bool), StoreError> {
        dispatch!(self, queue_tally(filter, me))
    }

    /// How many cases match a filter.
    pub async fn queue_count(&self, filter: &QueueFilter) -> Result<i64, StoreError> {
        dispatch!(self, queue_count(filter))
    }

    /// Cases assigned to a user, per state (an index only).
    pub async fn queue_tally_mine(&self, user: UserId) -> Result<Vec<(CaseState, i64)>, StoreError> {
        dispatch!(self, queue_tally_mine(user))
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
