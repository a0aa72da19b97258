//! A consistent rollback (finding MEDIUM-3, probe F9): with the triggers
//! out of the way, the newest events, the nodes over them and the
//! checkpoints beyond are deleted and the head rewritten. The shorter log
//! verifies on its own; against a checkpoint kept in a witness directory it
//! does not.

use crate::support::{Keys, TestDb, event, every};
use audit::Db;
use audit::tree::perfect_nodes;
use audit::verify::Location;
use audit::witness::{Witness, WitnessDir};

/// Rolls an SQLite log back to `keep` events, consistently.
pub async fn roll_back(db: &Db, keep: u64) {
    let Db::Sqlite(p) = db else { unreachable!() };
    for t in ["audit_events", "audit_nodes", "audit_checkpoints"] {
        for what in ["update", "delete"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER IF EXISTS {t}_no_{what}")))
                .execute(p)
                .await
                .unwrap();
        }
    }
    let keep_i = keep as i64;
    sqlx::query("DELETE FROM audit_events WHERE seq >= ?1")
        .bind(keep_i)
        .execute(p)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_nodes WHERE ((idx + 1) << level) > ?1")
        .bind(keep_i)
        .execute(p)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_checkpoints WHERE size > ?1")
        .bind(keep_i)
        .execute(p)
        .await
        .unwrap();
    let mut frontier = Vec::new();
    for id in perfect_nodes(0, keep) {
        let hash: Vec<u8> = if id.level == 0 {
            sqlx::query_scalar("SELECT leaf_hash FROM audit_events WHERE seq = ?1")
                .bind(id.index as i64)
                .fetch_one(p)
                .await
                .unwrap()
        } else {
            sqlx::query_scalar("SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2")
                .bind(i64::from(id.level))
                .bind(id.index as i64)
                .fetch_one(p)
                .await
                .unwrap()
        };
        frontier.extend(hash);
    }
    sqlx::query(
        "UPDATE audit_head SET size = ?1, frontier = ?2, \
         checkpoint_size = (SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints)",
    )
    .bind(keep_i)
    .bind(frontier)
    .execute(p)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_consistent_rollback_is_caught_only_against_the_witness() {
    let t = TestDb::sqlite().await;
    let keys = Keys::new();
    let log = keys.log(every(5));
    let known = [log.verifier()];
    let tmp = tempfile::tempdir().unwrap();
    let witness = Witness::new(WitnessDir::new(tmp.path().join("witness")));
    for chunk in (0..27).map(event).collect::<Vec<_>>().chunks(4) {
        t.db.append(&log, chunk).await.unwrap();
        // What the service's witness task does after each round.
        t.db.publish_to_witness(&witness).await.unwrap();
    }
    t.db.checkpoint(&log).await.unwrap();
    assert_eq!(t.db.publish_to_witness(&witness).await.unwrap(), 1);
    let newest = witness.dir().newest(&known).unwrap();
    let (_, kept) = newest.found.unwrap();
    assert_eq!(kept.checkpoint.size, 27);
    // Every checkpoint the log signed is there, each in its own file.
    let files = std::fs::read_dir(witness.dir().path()).unwrap().count();
    assert_eq!(files, 4, "8, 16, 24 (signed during appends) and 27");
    let report = t.db.verify_against(&known, Some(&kept.checkpoint)).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);

    roll_back(&t.db, 17).await;
    // Alone, the log is consistent: this is the limit of checking the
    // database by itself.
    let alone = t.db.verify(&known).await.unwrap();
    assert!(alone.is_ok(), "{:?}", alone.problems);
    assert_eq!(alone.events, 17);
    // Against the witness it is a rollback.
    let report = t.db.verify_against(&known, Some(&kept.checkpoint)).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].location, Location::Witness(27));
    assert_eq!(
        report.problems[0].to_string(),
        "rollback: the log has 17 events, the checkpoint kept outside it covers 27"
    );
    // Against an older kept checkpoint (16) the rolled-back log is still a
    // consistent extension.
    let older =
        audit::witness::read_checkpoint(&witness.dir().path().join(format!("{:020}.checkpoint", 16)), &known).unwrap();
    assert!(
        t.db.verify_against(&known, Some(&older.checkpoint))
            .await
            .unwrap()
            .is_ok()
    );
}

/// A rolled-back log that then grows again to the same size (a fork) is
/// caught by the root at the kept checkpoint's size.
#[tokio::test]
async fn a_fork_after_a_rollback_is_caught() {
    let t = TestDb::sqlite().await;
    let keys = Keys::new();
    let log = keys.log(every(5));
    let known = [log.verifier()];
    t.db.append(&log, &(0..12).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    t.db.checkpoint(&log).await.unwrap();
    let kept = t.db.latest_checkpoint().await.unwrap().unwrap();
    roll_back(&t.db, 8).await;
    t.db.append(&log, &(100..104).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let report = t.db.verify_against(&known, Some(&kept.checkpoint)).await.unwrap();
    let p = report
        .problems
        .iter()
        .find(|p| p.location == Location::Witness(12))
        .unwrap();
    assert!(
        p.what
            .starts_with("the log is not an extension of the checkpoint kept outside it"),
        "{p}"
    );
}
