//! Opening the case database by URL, the audit migrations, and the
//! checkpoint timer. The runtime will own its pool; this is what the
//! `hrobot audit` commands and the tests use meanwhile.

use super::{AuditLog, Erasure, ExportedEvent};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::crypto::{MasterKey, MasterKeys};
use crate::error::AuditError;
use crate::event::{Actor, Event};
use crate::note::NoteVerifier;
use crate::tlog_proof::TlogProof;
use crate::verify::VerifyReport;
use domain::Personnummer;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// The audit migrations for SQLite (versions 10000–19999), with
/// `ignore_missing` set so that they share `_sqlx_migrations` with the
/// runtime's own migrator (lower versions; it must set `ignore_missing`
/// too). Run both, in either order.
pub fn sqlite_migrator() -> Migrator {
    let mut m = sqlx::migrate!("./migrations/sqlite");
    m.set_ignore_missing(true);
    m
}

/// The audit migrations for PostgreSQL; see [`sqlite_migrator`].
pub fn postgres_migrator() -> Migrator {
    let mut m = sqlx::migrate!("./migrations/postgres");
    m.set_ignore_missing(true);
    m
}

/// A pool on the case database: SQLite (`sqlite:PATH` or `sqlite://PATH`)
/// or PostgreSQL (`postgres://…` or `postgresql://…`).
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$c` bound to a connection in a new transaction, and
/// commits if it succeeds.
macro_rules! in_tx {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = {
                    let $c: &mut sqlx::SqliteConnection = &mut *tx;
                    $body.await?
                };
                tx.commit().await?;
                Ok(out)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let out = {
                    let $c: &mut sqlx::PgConnection = &mut *tx;
                    $body.await?
                };
                tx.commit().await?;
                Ok(out)
            }
        }
    };
}

/// Runs `$body` with `$c` bound to a pooled connection (reads).
macro_rules! with_conn {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            Db::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let $c: &mut sqlx::SqliteConnection = &mut *conn;
                $body.await
            }
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let $c: &mut sqlx::PgConnection = &mut *conn;
                $body.await
            }
        }
    };
}

impl Db {
    /// Opens an existing database.
    pub async fn connect(url: &str) -> Result<Db, AuditError> {
        Db::open(url, false).await
    }

    /// Opens a database, creating an SQLite file if it is missing.
    pub async fn connect_or_create(url: &str) -> Result<Db, AuditError> {
        Db::open(url, true).await
    }

    async fn open(url: &str, create: bool) -> Result<Db, AuditError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new().max_connections(8).connect_with(options).await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(AuditError::UnsupportedUrl)
        }
    }

    /// Runs the audit migrations.
    pub async fn migrate(&self) -> Result<(), AuditError> {
        match self {
            Db::Sqlite(pool) => sqlite_migrator().run(pool).await?,
            Db::Postgres(pool) => postgres_migrator().run(pool).await?,
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }

    /// Appends events in a transaction of their own. (The runtime appends
    /// in its own transactions through [`AuditLog::append`].)
    pub async fn append(&self, log: &AuditLog, events: &[Event]) -> Result<Vec<super::Appended>, AuditError> {
        in_tx!(self, |c| log.append_batch(c, events))
    }

    pub async fn checkpoint(&self, log: &AuditLog) -> Result<Option<SignedCheckpoint>, AuditError> {
        in_tx!(self, |c| log.checkpoint(c))
    }

    pub async fn checkpoint_if_due(&self, log: &AuditLog) -> Result<Option<SignedCheckpoint>, AuditError> {
        in_tx!(self, |c| log.checkpoint_if_due(c))
    }

    pub async fn erase(
        &self,
        log: &AuditLog,
        subject: &Personnummer,
        reason: &str,
        actor: &Actor,
    ) -> Result<Erasure, AuditError> {
        in_tx!(self, |c| log.erase(c, subject, reason, actor))
    }

    pub async fn rotate_master_key(&self, log: &AuditLog, new: &MasterKey) -> Result<u64, AuditError> {
        in_tx!(self, |c| log.rotate_master_key(c, new))
    }

    pub async fn size(&self) -> Result<u64, AuditError> {
        with_conn!(self, |c| super::size(c))
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        with_conn!(self, |c| super::latest_checkpoint(c))
    }

    pub async fn prove(&self, seq: u64, checkpoint_size: Option<u64>) -> Result<TlogProof, AuditError> {
        with_conn!(self, |c| super::prove(c, seq, checkpoint_size))
    }

    /// A page of events that pass `filter`, newest first (see
    /// [`super::list_events`]).
    pub async fn list_events(
        &self,
        filter: &super::EventFilter,
        from: super::ListFrom,
        per_page: u32,
    ) -> Result<super::EventPage, AuditError> {
        with_conn!(self, |c| super::list_events(c, filter, from, per_page))
    }

    /// One event, decoded (its personal data still sealed).
    pub async fn event(&self, seq: u64) -> Result<crate::event::LeafEvent, AuditError> {
        with_conn!(self, |c| super::event(c, seq))
    }

    /// Verifies the whole log. On an SQLite file it reads the file directly
    /// (read-only, with rusqlite, in one read transaction on a blocking
    /// thread: see `sqlite_verify`); otherwise it reads the two halves of the
    /// events and the tree nodes over three connections at once.
    pub async fn verify(&self, known: &[NoteVerifier]) -> Result<VerifyReport, AuditError> {
        self.verify_against(known, None).await
    }

    /// [`Db::verify`], and also that the log is a consistent extension of
    /// `external`, a checkpoint kept outside the database whose signature
    /// the caller has checked (see [`crate::witness`]). A log shorter than
    /// it is a rollback.
    pub async fn verify_against(
        &self,
        known: &[NoteVerifier],
        external: Option<&Checkpoint>,
    ) -> Result<VerifyReport, AuditError> {
        use crate::verify::{finish, load_nodes, scan_events};
        if known.is_empty() {
            return Err(AuditError::Config("verifying checkpoints needs a verifier key".into()));
        }
        macro_rules! parallel {
            ($pool:expr) => {{
                let (mut a, mut b, mut c) = (
                    $pool.acquire().await?,
                    $pool.acquire().await?,
                    $pool.acquire().await?,
                );
                // The head's size only splits the work; everything is checked.
                let n = super::size(&mut *a).await?;
                let mid = n / 2;
                let (first, second, nodes) = tokio::join!(
                    scan_events(&mut *a, 0, Some(mid)),
                    scan_events(&mut *b, mid, Some(n)),
                    load_nodes(&mut *c)
                );
                let events = first?.join(second?);
                // Events after the head as it was read count too.
                let rest = scan_events(&mut *a, events.end(), None).await?;
                finish(&mut *a, events.join(rest), nodes?, known, external).await
            }};
        }
        match self {
            Db::Sqlite(pool) => {
                if let Some(conn) = direct_sqlite(pool).await? {
                    let known = known.to_vec();
                    let external = external.cloned();
                    return tokio::task::spawn_blocking(move || {
                        super::sqlite_verify::verify(conn, &known, external.as_ref())
                    })
                    .await
                    .map_err(|e| AuditError::Internal(format!("the verification thread failed: {e}")))?;
                }
                parallel!(pool)
            }
            Db::Postgres(pool) => parallel!(pool),
        }
    }

    /// Copies the committed checkpoints the witness does not have yet to
    /// it (only the latest, if it has none). Returns how many were written.
    /// File-system work runs on a blocking thread; the database connection
    /// is given back before it starts.
    pub async fn publish_to_witness(&self, witness: &crate::witness::Witness) -> Result<usize, AuditError> {
        let after = witness.newest_size().await?;
        let pending = with_conn!(self, |c| super::checkpoints_after(c, after, WITNESS_BATCH))?;
        Ok(witness.publish(pending).await?)
    }

    pub async fn export(
        &self,
        keys: Option<&MasterKeys>,
        from: u64,
        to: Option<u64>,
        sink: impl FnMut(ExportedEvent) -> Result<(), AuditError> + Send,
    ) -> Result<u64, AuditError> {
        with_conn!(self, |c| super::export(c, keys, from, to, sink))
    }
}

/// At most this many checkpoints are copied to a witness in one round.
pub const WITNESS_BATCH: u32 = 1000;

/// A read-only rusqlite connection on the pool's database file, for
/// verification; `None` for an in-memory database (which only the pool's
/// own connections can see) or a file that does not open that way.
pub(super) async fn direct_sqlite(pool: &SqlitePool) -> Result<Option<rusqlite::Connection>, AuditError> {
    let file: Option<String> = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_optional(pool)
        .await?;
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    match super::sqlite_verify::open(std::path::Path::new(&file)) {
        Ok(conn) => Ok(Some(conn)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the SQLite file directly; verifying through sqlx");
            Ok(None)
        }
    }
}

/// Signs checkpoints while the process runs: every `policy.every` it signs
/// one if due, and when `shutdown` completes it signs a last one (if there
/// are new events) and returns.
pub async fn run_checkpointer(
    log: &AuditLog,
    db: &Db,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AuditError> {
    let period = log.policy().every.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticker.tick() => {
                if let Err(e) = db.checkpoint_if_due(log).await {
                    tracing::warn!(error = %e, "audit checkpoint failed; will retry");
                }
            }
        }
    }
    db.checkpoint(log).await?;
    Ok(())
}
