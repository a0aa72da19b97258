//! Property: a flipped bit anywhere in a stored leaf, leaf hash, node,
//! checkpoint note (text or signature) or checkpoint root is found by
//! verification, and located.

use crate::support::{Keys, TestDb, event, every, flip};
use audit::Db;
use audit::verify::{Location, VerifyReport};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
pub enum Target {
    Leaf,
    LeafHash,
    Node,
    CheckpointNote,
    CheckpointSignature,
    CheckpointRoot,
}

const TARGETS: [Target; 6] = [
    Target::Leaf,
    Target::LeafHash,
    Target::Node,
    Target::CheckpointNote,
    Target::CheckpointSignature,
    Target::CheckpointRoot,
];

async fn rows(db: &Db, sql: &'static str) -> Vec<(i64, i64)> {
    match db {
        Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
        Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
    }
}

async fn note_len(db: &Db, size: i64) -> usize {
    let note: Vec<u8> = match db {
        Db::Sqlite(p) => sqlx::query_scalar("SELECT note FROM audit_checkpoints WHERE size = ?1")
            .bind(size)
            .fetch_one(p)
            .await
            .unwrap(),
        Db::Postgres(p) => sqlx::query_scalar("SELECT note FROM audit_checkpoints WHERE size = $1")
            .bind(size)
            .fetch_one(p)
            .await
            .unwrap(),
    };
    let text = String::from_utf8(note).unwrap();
    // Where the signature line starts: after the blank line.
    text.rfind("\n\n").unwrap() + 2
}

/// Builds a log of `n` events with checkpoints, flips one bit of the
/// target, verifies, and checks the report names the right place.
pub async fn flip_and_check(t: TestDb, n: u64, target: Target, pick: u64, bit: usize) {
    let keys = Keys::new();
    let log = keys.log(every(7));
    let events: Vec<_> = (0..n).map(event).collect();
    for chunk in events.chunks(3) {
        t.db.append(&log, chunk).await.unwrap();
    }
    t.db.checkpoint(&log).await.unwrap();
    let vkeys = [log.verifier()];
    assert!(t.db.verify(&vkeys).await.unwrap().is_ok());

    let expect: Location = match target {
        Target::Leaf | Target::LeafHash => {
            let seq = (pick % n) as i64;
            let column = if matches!(target, Target::Leaf) {
                "leaf"
            } else {
                "leaf_hash"
            };
            flip(&t.db, "audit_events", column, ("seq", seq), None, bit).await;
            Location::Event(seq as u64)
        }
        Target::Node => {
            let nodes = rows(
                &t.db,
                "SELECT CAST(level AS BIGINT), idx FROM audit_nodes ORDER BY level, idx",
            )
            .await;
            let (level, idx) = nodes[(pick % nodes.len() as u64) as usize];
            flip(&t.db, "audit_nodes", "hash", ("level", level), Some(("idx", idx)), bit).await;
            Location::Node {
                level: level as u8,
                index: idx as u64,
            }
        }
        Target::CheckpointNote | Target::CheckpointSignature | Target::CheckpointRoot => {
            let sizes = rows(&t.db, "SELECT size, size FROM audit_checkpoints ORDER BY size").await;
            let size = sizes[(pick % sizes.len() as u64) as usize].0;
            match target {
                Target::CheckpointRoot => flip(&t.db, "audit_checkpoints", "root", ("size", size), None, bit).await,
                Target::CheckpointNote => flip(&t.db, "audit_checkpoints", "note", ("size", size), None, bit).await,
                _ => {
                    // A bit inside the signature line only.
                    let start = note_len(&t.db, size).await;
                    let total = {
                        let start_bits = start * 8;
                        let sig_line_bits = (crate::support::ORIGIN.len() + 4 + 1 + 92 + 1) * 8;
                        start_bits + bit % sig_line_bits
                    };
                    flip(&t.db, "audit_checkpoints", "note", ("size", size), None, total).await
                }
            }
            Location::Checkpoint(size as u64)
        }
    };

    let report: VerifyReport = t.db.verify(&vkeys).await.unwrap();
    let single = match &t.db {
        Db::Sqlite(p) => audit::verify::verify_log(&mut *p.acquire().await.unwrap(), &vkeys).await,
        Db::Postgres(p) => audit::verify::verify_log(&mut *p.acquire().await.unwrap(), &vkeys).await,
    }
    .unwrap();
    assert_eq!(
        single.problems, report.problems,
        "one connection or three, the same findings"
    );
    assert!(!report.is_ok(), "{target:?} flip at bit {bit} went unnoticed");
    let headline = &report.problems[0];
    assert_eq!(headline.location, expect, "{target:?}: {:?}", report.problems);
    match expect {
        Location::Event(seq) => assert_eq!(report.first_bad_seq(), Some(seq)),
        Location::Node { level, index } => assert_eq!(report.first_bad_seq(), Some(index << level)),
        _ => {
            assert_eq!(report.first_bad_seq(), None, "{:?}", report.problems);
            assert!(
                report.problems.iter().all(|p| p.location == expect),
                "{:?}",
                report.problems
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_flipped_bit_is_found_and_located_sqlite(
        n in 2u64..40,
        target in 0usize..TARGETS.len(),
        pick in any::<u64>(),
        bit in any::<usize>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            flip_and_check(TestDb::sqlite().await, n, TARGETS[target], pick, bit).await;
        });
    }
}

/// The same on PostgreSQL, once per target.
#[tokio::test]
async fn a_flipped_bit_is_found_and_located_postgres() {
    for (i, target) in TARGETS.into_iter().enumerate() {
        flip_and_check(TestDb::postgres().await, 23, target, 7 * i as u64 + 3, 1000 + 37 * i).await;
    }
}

/// A log cut short (the last events and checkpoints deleted by someone who
/// got past the triggers) is caught by the checkpoint an outsider kept.
#[tokio::test]
async fn a_truncated_log_is_caught_by_a_kept_checkpoint() {
    let t = TestDb::sqlite().await;
    let keys = Keys::new();
    let log = keys.log(every(5));
    t.db.append(&log, &(0..12).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let Db::Sqlite(p) = &t.db else { unreachable!() };
    sqlx::query("DROP TRIGGER audit_events_no_delete")
        .execute(p)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE seq >= 8")
        .execute(p)
        .await
        .unwrap();
    let report = t.db.verify(&[log.verifier()]).await.unwrap();
    assert_eq!(report.first_bad_seq(), Some(8), "{:?}", report.problems);
}
