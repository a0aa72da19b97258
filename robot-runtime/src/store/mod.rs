//! The case store: cases, applications as received, drafts, robot runs and
//! work items, on SQLite (the default: one file, WAL, `BEGIN IMMEDIATE` for
//! writes) or PostgreSQL (several workers sharing the work through row
//! leases, `FOR UPDATE SKIP LOCKED`).
//!
//! Every change of a case's state and the audit event that records it are
//! written in the same transaction: both commit or neither does.
//!
//! The SQL is split by table family, one file each: `sql.rs` (what the
//! families share, and cases with their documents), `work.rs` (work
//! items), `runs.rs` (runs, locks, pauses), `decisions.rs` (decisions,
//! kommuniceringar, comments, assignment), `outbox.rs` (delivery),
//! `queue.rs` (the officials' queue), `users.rs`, `sessions.rs` and
//! `access.rs`. Each file writes its SQL once in an `engine!` macro that is
//! instantiated for both backends; only the SQL that differs between the
//! engines is given per backend. `dispatch!` picks the engine.

/// Calls the same function on whichever engine the store uses: the calling
/// file's `sqlite::f` or `postgres::f` (each table family's file writes its
/// SQL once, in an `engine!` macro instantiated per engine). The one
/// dispatch macro of the store; defined before the modules so all see it.
macro_rules! dispatch {
    ($self:expr, $f:ident ( $($arg:expr),* )) => {
        match &*$self.backend {
            Backend::Sqlite(p) => sqlite::$f(p, $($arg),*).await,
            Backend::Postgres(p) => postgres::$f(p, $($arg),*).await,
        }
    };
}

mod access;
mod coverage;
mod decisions;
mod nodes;
mod ops;
mod outbox;
pub mod queue;
mod records;
pub mod routing;
pub mod rulesets;
mod runs;
pub mod search;
pub mod sessions;
mod sql;
mod states;
mod tx;
pub mod users;
mod work;

use crate::clock::Clock;
use audit::AuditLog;
use chrono::{DateTime, Utc};
use domain::{CaseState, Outcome, Step};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use coverage::{ProductionCoverage, VersionCoverage};
pub use nodes::NodeRow;
pub use ops::OpsSnapshot;
pub use records::{AmendedBasis, AmendmentNote, RegisterAnswer, RegisterAnswerIncome};
pub use sql::{
    Backend, CommentRow, DecisionRow, KommuniceringRow, NewDecision, NewKommunicering, NewOutboxItem, OutboxDecision,
    OutboxRow,
};
pub use states::{DeliveryStatus, RunStatus, Trigger, WorkStatus};
pub use tx::StoreTx;

pub type CaseId = i64;
pub type RunId = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("audit log: {0}")]
    Audit(#[from] audit::AuditError),
    #[error("audit event: {0}")]
    AuditEvent(#[from] audit::event::EventError),
    #[error("case {case} is no longer {expected} (someone else changed it)")]
    StaleState { case: CaseId, expected: CaseState },
    #[error("the lease on work item {0} was lost (it expired and another worker took it)")]
    LeaseLost(i64),
    #[error("case {0} not found")]
    NotFound(CaseId),
    #[error("unsupported database URL (use sqlite://… or postgres://…)")]
    UnsupportedUrl,
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("draft: {0}")]
    Draft(#[from] domain::DraftError),
    #[error(
        "the database has migrations this hrobot does not know ({}): it was upgraded by a newer hrobot; \
         run that version (or newer) on every node, see ops/runbooks/operations.md \"Upgrades\"",
        .0.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    )]
    SchemaNewer(Vec<i64>),
}

impl StoreError {
    /// Worth trying again: the database was busy or unreachable, not wrong.
    /// A dropped or refused connection is retriable too: the socket failed
    /// (`Io`), the pool had none to give (`PoolTimedOut`), the protocol
    /// stream broke mid-message (`Protocol`), or the server said so:
    /// PostgreSQL's class 08 (connection exception), 57P01–57P03 (the
    /// backend was terminated — `pg_terminate_backend`, a failover —, the
    /// server crashed, or it is not accepting connections yet), 53300 (too
    /// many connections), 40001/40P01 (serialization failure, deadlock),
    /// 55P03 (lock not available); SQLite's BUSY (5), LOCKED (6) and
    /// BUSY_RECOVERY (517).
    pub fn is_retriable(&self) -> bool {
        match self {
            StoreError::Db(e) => is_retriable_db(e),
            StoreError::StaleState { .. } | StoreError::LeaseLost(_) => false,
            _ => false,
        }
    }
}

fn is_retriable_db(e: &sqlx::Error) -> bool {
    if matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    ) {
        return true;
    }
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| is_retriable_code(c.as_ref()))
}

/// The SQLSTATE (PostgreSQL) or result code (SQLite) of a transient error.
pub fn is_retriable_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" | "55P03" | "5" | "6" | "517"
        )
}

/// Where a case came from and the document as received.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub source: String,
    pub external_id: String,
    pub source_ref: String,
    pub robot: String,
    pub run_id: Option<RunId>,
    pub document: Vec<u8>,
    pub period: Option<String>,
    /// The household's personnummer (first = applicant), when the document
    /// could be read: the audit event's data subjects.
    pub subjects: Vec<domain::Personnummer>,
    /// How many of `subjects` (from the first) are adults of the household:
    /// a second application for one of them and the same period goes to a
    /// person.
    pub adults: usize,
    /// The source refused the item (a link, a folder, too large; see
    /// `connectors::ErrorKind::Refused`): the case is stored as invalid
    /// with this reason and never worked.
    pub refused: Option<String>,
    /// Who the case is about, the applicant first (`Input::people`): the
    /// queue shows and searches them.
    pub people: Vec<CasePerson>,
    /// When the application says it was received; the queue's days count
    /// from it (from the intake when the document could not be read).
    pub applied: Option<DateTime<Utc>>,
    /// Follows the application from the fetch through the case to the
    /// delivery in every log line (`new_correlation_id`); no personal data.
    pub correlation_id: String,
}

/// A fresh correlation id: 16 random bytes as hex, made at intake.
pub fn new_correlation_id() -> String {
    hex::encode(audit::event::EventId::random().0)
}

/// A person a case is about, as the queue shows and finds them.
#[derive(Clone, PartialEq, Eq)]
pub struct CasePerson {
    /// "Sökande", "Medsökande", or the casework type's word.
    pub role: String,
    pub name: Option<String>,
    pub personnummer: domain::Personnummer,
}

impl std::fmt::Debug for CasePerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CasePerson")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl CasePerson {
    /// The people of an application read by its casework type.
    pub fn of(input: &sandbox::Input) -> Vec<CasePerson> {
        input
            .people()
            .into_iter()
            .map(|p| CasePerson {
                role: p.role,
                name: p.name,
                personnummer: p.personnummer,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(CaseId),
    /// Already stored from an earlier fetch, with the same content (a
    /// re-delivery, e.g. after a crash): nothing was written.
    Duplicate(CaseId),
    /// The external id was known but the content differs: a new case, the
    /// next version of `previous`, which a person handles (never drafted
    /// as a payment by the robot).
    NewVersion {
        id: CaseId,
        previous: CaseId,
        version: i64,
    },
}

/// A work item claimed by a worker, with what it needs to process the case.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub item_id: i64,
    pub case_id: CaseId,
    pub attempts: i64,
    pub robot: String,
    pub document: Vec<u8>,
    /// The case's correlation id (`None` for cases from before 0010).
    pub correlation_id: Option<String>,
}

/// What a worker concluded about a claimed case.
#[derive(Debug, Clone)]
pub enum Finish {
    /// A draft: the case now awaits approval.
    Drafted {
        draft: Box<domain::Draft>,
        register_json: Option<String>,
        subjects: Vec<domain::Personnummer>,
        /// Route the draft to a person when an adult of the household has
        /// another case for the same period (`dubblett_period`). On for
        /// every robot unless its options turn it off.
        same_period_check: bool,
        /// The draft's codes that no longer stand if the store sends the
        /// case to a person (the casework type's `keep_when_routed = false`).
        dropped_when_routed: Vec<String>,
    },
    /// Not a valid application: never retried.
    Invalid { reason: String },
    /// Failed for good: the ruleset failed, or retries are used up.
    Failed { reason: String },
    /// A technical problem: try again at `at`.
    RetryAt { at: DateTime<Utc>, error: String },
}

/// A case as listed for IT and officials.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseSummary {
    pub id: CaseId,
    pub source: String,
    pub external_id: String,
    pub robot: String,
    pub state: CaseState,
    pub state_reason: Option<String>,
    pub period: Option<String>,
    pub outcome: Option<Outcome>,
    pub amount_ore: Option<i64>,
    pub ruleset: Option<String>,
    /// Allocated once at intake from the municipality's yearly series.
    pub diarienummer: Option<String>,
    pub received: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// A case with its document, latest draft and work status.
#[derive(Debug, Clone)]
pub struct CaseDetail {
    pub summary: CaseSummary,
    pub document: Vec<u8>,
    pub register_json: Option<String>,
    pub draft_json: Option<String>,
    pub attempts: Option<i64>,
    pub work_status: Option<WorkStatus>,
    pub last_error: Option<String>,
}

/// Counts for one robot run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunCounts {
    pub fetched: i64,
    pub duplicates: i64,
    pub rejected: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub id: RunId,
    pub robot: String,
    pub fire: DateTime<Utc>,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub error: Option<String>,
}

/// How a work item is retried.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    pub owner_ttl: Duration,
}

/// The store: a pool on one of the two engines, and the audit log that
/// records every change.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    audit: Arc<AuditLog>,
    clock: Arc<dyn Clock>,
    diarium: Arc<Diarium>,
}

/// The municipality's diarium series: every case gets the next number of
/// its year at intake, e.g. `SN 2026/000123`, gap-free per year.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Diarium {
    /// The series' prefix, e.g. the board's abbreviation `SN`.
    pub series: String,
    /// Digits of the running number (zero-padded).
    pub digits: usize,
}

impl Default for Diarium {
    fn default() -> Self {
        Diarium {
            series: "SN".into(),
            digits: 6,
        }
    }
}

impl Diarium {
    /// The year a case received at `t` is registered in (Swedish time).
    pub fn year_of(&self, t: DateTime<Utc>) -> i32 {
        use chrono::Datelike;
        t.with_timezone(&chrono_tz::Europe::Stockholm).year()
    }

    pub fn format(&self, year: i32, n: i64) -> String {
        format!("{} {year}/{n:0width$}", self.series, width = self.digits.clamp(1, 12))
    }

    /// Checks a configured series: 1–16 letters, digits, `-` or `.`.
    pub fn check(&self) -> Result<(), String> {
        let ok = (1..=16).contains(&self.series.len())
            && self.series.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.')
            && (1..=12).contains(&self.digits);
        if ok {
            Ok(())
        } else {
            Err(format!(
                "diarium series {:?} with {} digits: use 1–16 letters, digits, '-' or '.', and 1–12 digits",
                self.series, self.digits
            ))
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine())
            .finish_non_exhaustive()
    }
}

pub(crate) fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_us(v: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(v).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Which engine a database URL names: the one rule the store, the
/// configuration check and backups all tell engines apart by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    /// `sqlite:…` or `postgres:`/`postgresql:…`; anything else is none.
    pub fn of_url(url: &str) -> Option<DatabaseKind> {
        if url.starts_with("sqlite:") {
            Some(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(DatabaseKind::Postgres)
        } else {
            None
        }
    }

    /// The engine's name in backups' manifests and migrations' folders.
    pub fn id(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        }
    }

    /// The engine's name as people write it.
    pub fn display_name(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "SQLite",
            DatabaseKind::Postgres => "PostgreSQL",
        }
    }
}

impl Store {
    /// Connects (creating a SQLite file if needed) and applies the
    /// migrations of the case store and of the audit log.
    pub async fn open(
        url: &str,
        max_connections: u32,
        audit: Arc<AuditLog>,
        clock: Arc<dyn Clock>,
    ) -> Result<Store, StoreError> {
        let kind = DatabaseKind::of_url(url);
        let backend = if kind == Some(DatabaseKind::Sqlite) {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .connect_with(opts.clone())
                .await?;
            refuse_newer_sqlite(&pool).await?;
            // SQLite has no migration lock: two processes starting at once
            // race, and the loser's transaction rolls back. Try again then.
            let mut attempt = 0;
            loop {
                match migrate_sqlite(&pool).await {
                    Ok(()) => break,
                    Err(e) if attempt < 20 => {
                        attempt += 1;
                        tracing::debug!(error = %e, attempt, "migration raced with another process; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            // Some migrations widen a CHECK list by editing the stored
            // schema; the connection that ran them keeps the definition it
            // had parsed. Fresh connections read the schema as it now is.
            pool.close().await;
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .connect_with(opts)
                .await?;
            Backend::Sqlite(pool)
        } else if kind == Some(DatabaseKind::Postgres) {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await?;
            refuse_newer_postgres(&pool).await?;
            let mut m = sqlx::migrate!("./migrations/postgres");
            m.set_ignore_missing(true);
            m.run(&pool).await?;
            let mut am = audit::postgres_migrator();
            am.set_ignore_missing(true);
            am.run(&pool).await?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(Store {
            backend: Arc::new(backend),
            audit,
            clock,
            diarium: Arc::new(Diarium::default()),
        })
    }

    /// The same store, numbering new cases from this diarium series.
    pub fn with_diarium(mut self, diarium: Diarium) -> Store {
        self.diarium = Arc::new(diarium);
        self
    }

    pub fn engine(&self) -> &'static str {
        match &*self.backend {
            Backend::Sqlite(_) => DatabaseKind::Sqlite,
            Backend::Postgres(_) => DatabaseKind::Postgres,
        }
        .id()
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &*self.backend {
            Backend::Sqlite(p) => Some(p),
            Backend::Postgres(_) => None,
        }
    }

    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &*self.backend {
            Backend::Postgres(p) => Some(p),
            Backend::Sqlite(_) => None,
        }
    }

    pub async fn close(&self) {
        match &*self.backend {
            Backend::Sqlite(p) => p.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// Every migration version this binary knows, of the case store and of
/// the audit log (they share `_sqlx_migrations`).
pub fn known_migrations(engine: &str) -> std::collections::BTreeSet<i64> {
    let (store, audit) = if engine == "postgres" {
        (sqlx::migrate!("./migrations/postgres"), audit::postgres_migrator())
    } else {
        (sqlx::migrate!("./migrations/sqlite"), audit::sqlite_migrator())
    };
    store.iter().chain(audit.iter()).map(|m| m.version).collect()
}

/// The applied migrations this binary does not know, lowest first: the
/// database was migrated by a newer hrobot. Both migrators run with
/// `ignore_missing` (they share one table), so sqlx itself would not say.
fn unknown_migrations(engine: &str, applied: Vec<i64>) -> Result<(), StoreError> {
    let known = known_migrations(engine);
    let unknown: Vec<i64> = applied.into_iter().filter(|v| !known.contains(v)).collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(StoreError::SchemaNewer(unknown))
    }
}

/// Refuses, before migrating anything, a SQLite database migrated past
/// what this binary knows.
async fn refuse_newer_sqlite(pool: &SqlitePool) -> Result<(), StoreError> {
    let exists: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_one(pool)
            .await?;
    if exists == 0 {
        return Ok(());
    }
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(pool)
        .await?;
    unknown_migrations("sqlite", applied)
}

/// The same on PostgreSQL (the schema on the connection's search path).
async fn refuse_newer_postgres(pool: &PgPool) -> Result<(), StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(());
    }
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(pool)
        .await?;
    unknown_migrations("postgres", applied)
}

async fn migrate_sqlite(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut m = sqlx::migrate!("./migrations/sqlite");
    m.set_ignore_missing(true);
    m.run(pool).await?;
    let mut am = audit::sqlite_migrator();
    am.set_ignore_missing(true);
    am.run(pool).await?;
    Ok(())
}

/// `sha256:<hex>` of some bytes: how the audit log names content it does
/// not hold (an application document, a draft, a decision record).
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The audit event kind a transition records.
pub(crate) fn event_kind(step: Step) -> audit::EventKind {
    use audit::EventKind as K;
    match step.event() {
        "case.kommunicering_sent" => return K::KommuniceringSent,
        "case.kommunicering_answered" => return K::KommuniceringAnswered,
        "case.kommunicering_expired" => return K::KommuniceringExpired,
        _ => {}
    }
    match step.to() {
        CaseState::Evaluated => K::Evaluated,
        CaseState::AwaitingApproval => K::Drafted,
        CaseState::AwaitingSecondApproval => K::Approved,
        CaseState::Approved => K::Approved,
        CaseState::Amended => K::Amended,
        CaseState::ReturnedToManual => K::Returned,
        CaseState::Kommunicering => K::KommuniceringSent,
        CaseState::Sent => K::Sent,
        CaseState::Closed => K::Closed,
        CaseState::Invalid => K::Invalid,
        CaseState::Failed => K::Failed,
        CaseState::Received => K::Requeued,
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseKind;

    #[test]
    fn database_urls_name_their_engine_by_one_rule() {
        for (url, kind) in [
            ("sqlite:///var/lib/hrobot/hrobot.db", Some(DatabaseKind::Sqlite)),
            ("sqlite::memory:", Some(DatabaseKind::Sqlite)),
            ("postgres://hrobot@db/hrobot", Some(DatabaseKind::Postgres)),
            ("postgresql://hrobot@db/hrobot", Some(DatabaseKind::Postgres)),
            (
                "postgresql:///hrobot?host=/run/postgresql",
                Some(DatabaseKind::Postgres),
            ),
            ("postgresx://db/hrobot", None),
            ("mysql://db/hrobot", None),
            ("hrobot.db", None),
        ] {
            assert_eq!(DatabaseKind::of_url(url), kind, "{url}");
        }
    }
}
