//! Full verification of a log in an SQLite file, read directly with
//! rusqlite.
//!
//! sqlx's SQLite driver hands every row from its worker thread through a
//! channel, which costs ≈ 2–5 µs a row: for 1,000,000 events and as many
//! tree nodes that was most of `hrobot audit verify`. Here the same file is
//! opened read-only through rusqlite, which links the same SQLite
//! (`libsqlite3-sys` is shared with sqlx), and every table is read by one
//! streaming statement inside one read transaction, so the events, nodes,
//! head row and checkpoints are one snapshot. It runs on a blocking thread.
//!
//! Only reading differs from [`crate::verify::verify_log`]: each event row
//! goes through the same [`check_event`], the nodes into the same
//! [`StoredNodes`](crate::verify::StoredNodes), and [`conclude`] makes the
//! same comparisons, so both report the same problems.

use super::backend::{Head, StoredCheckpoint};
use crate::checkpoint::Checkpoint;
use crate::error::AuditError;
use crate::note::NoteVerifier;
use crate::verify::{
    EventFields, EventScan, Location, NodesBuilder, Problems, VerifyReport, check_event, conclude, refine,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// Opens the database file read-only. (The caller falls back to sqlx if
/// this fails.)
pub(crate) fn open(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// Verifies the whole log over `conn` (from [`open`]). Blocking.
pub(crate) fn verify(
    mut conn: Connection,
    known: &[NoteVerifier],
    external: Option<&Checkpoint>,
) -> Result<VerifyReport, AuditError> {
    if known.is_empty() {
        return Err(AuditError::Config("verifying checkpoints needs a verifier key".into()));
    }
    // One read transaction: everything below sees the same snapshot, so
    // nothing appended meanwhile is seen, and the log cannot have grown
    // between the scans.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let head = read_head(&tx)?;
    let events = scan_events(&tx, head.as_ref().map_or(0, |h| h.size))?;
    let nodes = load_nodes(&tx)?;
    let checkpoints = read_checkpoints(&tx)?;
    let mut report = conclude(events, nodes, false, head, checkpoints, known, external);
    let suspects = report.suspects();
    if !suspects.is_empty() {
        let mut leaves = std::collections::BTreeMap::new();
        let mut stmt = tx.prepare("SELECT leaf FROM audit_events WHERE seq = ?1")?;
        for seq in suspects {
            let leaf: Option<Vec<u8>> = stmt
                .query_row([i64::try_from(seq).unwrap_or(i64::MAX)], |row| row.get(0))
                .optional()?;
            if let Some(leaf) = leaf {
                leaves.insert(seq, leaf);
            }
        }
        drop(stmt);
        refine(&mut report, &leaves);
    }
    tx.finish()?;
    Ok(report)
}

/// A BLOB column, borrowed from the row.
fn blob<'r>(row: &'r Row<'_>, column: usize) -> Result<&'r [u8], rusqlite::Error> {
    Ok(row.get_ref(column)?.as_blob()?)
}

fn read_head(tx: &Transaction<'_>) -> Result<Option<Head>, AuditError> {
    let mut stmt = tx.prepare("SELECT size, frontier, checkpoint_size, checkpoint_us FROM audit_head WHERE id = 1")?;
    let mut rows = stmt.query([])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let unsigned = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| AuditError::Corrupt(format!("the head row's {what} is negative")))
    };
    Ok(Some(Head {
        size: unsigned(row.get(0)?, "size")?,
        frontier: row.get(1)?,
        checkpoint_size: unsigned(row.get(2)?, "checkpoint_size")?,
        checkpoint_us: row.get(3)?,
    }))
}

/// Reads every event in sequence order, checks each row against its leaf
/// and recomputes its leaf hash. Stops at a gap.
fn scan_events(tx: &Transaction<'_>, expected: u64) -> Result<EventScan, AuditError> {
    let mut hashes = Vec::with_capacity(usize::try_from(expected.min(1 << 26)).unwrap_or(0));
    let mut problems = Problems(Vec::new());
    let mut complete = true;
    let mut stmt = tx.prepare(
        "SELECT seq, leaf, leaf_hash, event_id, kind, case_ref, time_us, actor FROM audit_events ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let seq = hashes.len() as u64;
        let stored: i64 = row.get(0)?;
        if stored != seq as i64 {
            // A gap: nothing after it can be placed in the tree.
            problems.add(
                Location::Event(seq),
                format!("missing (the next stored sequence number is {stored})"),
            );
            complete = false;
            break;
        }
        let fields = EventFields {
            leaf: blob(row, 1)?,
            leaf_hash: blob(row, 2)?,
            event_id: blob(row, 3)?,
            kind: row.get_ref(4)?.as_bytes().map_err(rusqlite::Error::from)?,
            case_ref: row.get_ref(5)?.as_bytes_or_null().map_err(rusqlite::Error::from)?,
            time_us: row.get(6)?,
            actor: row.get_ref(7)?.as_bytes_or_null().map_err(rusqlite::Error::from)?,
        };
        hashes.push(check_event(seq, &fields, &mut problems));
    }
    Ok(EventScan {
        from: 0,
        hashes,
        problems: problems.0,
        complete,
    })
}

fn load_nodes(tx: &Transaction<'_>) -> Result<crate::verify::StoredNodes, AuditError> {
    let mut nodes = NodesBuilder::new();
    let mut stmt = tx.prepare("SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        nodes.push(row.get(0)?, row.get(1)?, blob(row, 2)?);
    }
    Ok(nodes.finish())
}

fn read_checkpoints(tx: &Transaction<'_>) -> Result<Vec<StoredCheckpoint>, AuditError> {
    let mut stmt = tx.prepare("SELECT size, root, note, created_us FROM audit_checkpoints ORDER BY size")?;
    let rows = stmt.query_map([], |row| {
        Ok(StoredCheckpoint {
            size: row.get(0)?,
            root: row.get(1)?,
            note: row.get(2)?,
            created_us: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::crypto::MasterKeys;
    use crate::verify::verify_log;
    use crate::{Actor, AuditLog, CaseRef, CheckpointPolicy, Db, Event, EventKind, FixedClock, MasterKey, NoteSigner};
    use chrono::{TimeZone, Utc};
    use std::sync::Arc;

    const ORIGIN: &str = "test.hrobot.example/audit";

    fn log() -> AuditLog {
        AuditLog::new(
            ORIGIN,
            NoteSigner::generate(ORIGIN).unwrap(),
            MasterKeys::new(MasterKey::generate(), vec![]),
            CheckpointPolicy {
                every_events: 5,
                every: Duration::from_secs(1_000_000),
            },
            Arc::new(FixedClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap())),
        )
        .unwrap()
    }

    fn event(i: i64) -> Event {
        Event::new(
            EventKind::Evaluated,
            Actor::parse("robot:ekonomiskt-bistand").unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap() + chrono::Duration::seconds(i),
        )
        .with_case(CaseRef::parse(&format!("EB-2026-{i:06}")).unwrap())
    }

    /// The direct read and sqlx's one-connection read find the same.
    async fn same_findings(db: &Db, path: &Path, log: &AuditLog) -> VerifyReport {
        let known = [log.verifier()];
        let direct = verify(open(path).unwrap(), &known, None).unwrap();
        let Db::Sqlite(pool) = db else { unreachable!() };
        let through_sqlx = verify_log(&mut *pool.acquire().await.unwrap(), &known).await.unwrap();
        assert_eq!(direct.problems, through_sqlx.problems);
        assert_eq!(
            (
                direct.events,
                direct.nodes,
                direct.checkpoints,
                direct.root,
                direct.latest_checkpoint
            ),
            (
                through_sqlx.events,
                through_sqlx.nodes,
                through_sqlx.checkpoints,
                through_sqlx.root,
                through_sqlx.latest_checkpoint
            )
        );
        // And `Db::verify` takes the direct path for a file.
        assert!(direct_sqlite_is_used(db).await);
        direct
    }

    async fn direct_sqlite_is_used(db: &Db) -> bool {
        let Db::Sqlite(pool) = db else { return false };
        super::super::db::direct_sqlite(pool).await.unwrap().is_some()
    }

    async fn exec(db: &Db, sql: &'static str) {
        let Db::Sqlite(pool) = db else { unreachable!() };
        sqlx::query(sql).execute(pool).await.unwrap();
    }

    #[tokio::test]
    async fn the_direct_read_finds_what_sqlx_finds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.sqlite");
        let db = Db::connect_or_create(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let log = log();
        for chunk in (0..40).map(event).collect::<Vec<_>>().chunks(3) {
            db.append(&log, chunk).await.unwrap();
        }
        db.checkpoint(&log).await.unwrap();
        let report = same_findings(&db, &path, &log).await;
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.events, 40);

        for table in ["audit_events", "audit_nodes"] {
            for trigger in ["no_update", "no_delete"] {
                let sql = format!("DROP TRIGGER {table}_{trigger}");
                let Db::Sqlite(pool) = &db else { unreachable!() };
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
            }
        }
        // A column that disagrees with its leaf.
        exec(&db, "UPDATE audit_events SET kind = 'sent' WHERE seq = 30").await;
        let report = same_findings(&db, &path, &log).await;
        assert_eq!(report.first_bad_seq(), Some(30), "{:?}", report.problems);
        // A node missing in the middle of a level, and one too many.
        exec(&db, "DELETE FROM audit_nodes WHERE level = 1 AND idx = 4").await;
        exec(
            &db,
            "INSERT INTO audit_nodes (level, idx, hash) VALUES (2, 99, zeroblob(32))",
        )
        .await;
        let report = same_findings(&db, &path, &log).await;
        assert_eq!(report.first_bad_seq(), Some(8), "{:?}", report.problems);
        // A gap in the events.
        exec(&db, "DELETE FROM audit_events WHERE seq = 3").await;
        let report = same_findings(&db, &path, &log).await;
        assert_eq!(report.first_bad_seq(), Some(3), "{:?}", report.problems);
        assert_eq!(report.events, 3);
    }

    #[tokio::test]
    async fn an_in_memory_database_is_verified_through_sqlx() {
        let db = Db::connect_or_create("sqlite::memory:").await.unwrap();
        db.migrate().await.unwrap();
        let log = log();
        db.append(&log, &(0..7).map(event).collect::<Vec<_>>()).await.unwrap();
        db.checkpoint(&log).await.unwrap();
        assert!(!direct_sqlite_is_used(&db).await);
        let report = db.verify(&[log.verifier()]).await.unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.events, 7);
    }
}
