//! The stored log, on SQLite and on PostgreSQL: appends, checkpoints,
//! proofs, verification, triggers, transactions, migrations.

use crate::support::{Keys, TestDb, event, every, t0};
use audit::offline::{Verdict, verify_file};
use audit::proof::{verify_consistency, verify_inclusion};
use audit::store::{self, run_checkpointer};
use audit::tree::MemTree;
use audit::{CheckpointPolicy, Db, Hash, LeafEvent};
use std::time::Duration;

async fn all_leaves(db: &Db) -> Vec<Vec<u8>> {
    let n = db.size().await.unwrap();
    let mut out = Vec::new();
    for seq in 0..n {
        out.push(
            match db {
                Db::Sqlite(p) => store::leaf(&mut *p.acquire().await.unwrap(), seq).await,
                Db::Postgres(p) => store::leaf(&mut *p.acquire().await.unwrap(), seq).await,
            }
            .unwrap()
            .0,
        );
    }
    out
}

both!(appends_prove_and_verify);
async fn appends_prove_and_verify(t: TestDb) {
    let keys = Keys::new();
    let log = keys.log(every(10));
    let mut seqs = Vec::new();
    // Singles and batches of several sizes.
    let mut i = 0;
    for batch in [1usize, 1, 5, 1, 13, 2, 1, 9, 4] {
        let events: Vec<_> = (i..i + batch as u64).map(event).collect();
        i += batch as u64;
        for a in t.db.append(&log, &events).await.unwrap() {
            seqs.push(a.seq);
        }
    }
    assert_eq!(seqs, (0..37).collect::<Vec<_>>());
    // Checkpoints were signed when ten or more events had gathered.
    let mid = t.db.latest_checkpoint().await.unwrap().unwrap();
    // Batches end at 1, 2, 7, 8, 21, 23, 24, 33, 37: ten or more new events
    // first at 21, then at 33.
    assert_eq!(mid.checkpoint.size, 33);
    let last = t.db.checkpoint(&log).await.unwrap().unwrap();
    assert_eq!(last.checkpoint.size, 37);
    assert!(
        t.db.checkpoint(&log).await.unwrap().is_none(),
        "no events since: no new checkpoint"
    );

    // The stored tree is the RFC 6962 tree of the leaves.
    let leaves = all_leaves(&t.db).await;
    for (seq, leaf) in leaves.iter().enumerate() {
        assert_eq!(LeafEvent::decode(leaf).unwrap().seq, seq as u64);
    }
    let tree = MemTree::from_leaf_hashes(leaves.iter().map(|l| audit::hash::leaf_hash(l)));
    assert_eq!(last.checkpoint.root, tree.root());

    // Every event's proof verifies offline, and only with the right key.
    let vkey = log.verifier();
    let stranger = audit::NoteSigner::generate(crate::support::ORIGIN).unwrap().verifier();
    for seq in 0..37 {
        let proof = t.db.prove(seq, None).await.unwrap();
        assert_eq!(proof.proof, tree.inclusion_proof(seq, 37).unwrap());
        let text = proof.to_text();
        assert!(
            matches!(
                verify_file(text.as_bytes(), std::slice::from_ref(&vkey)),
                Ok(Verdict::Valid(_))
            ),
            "seq {seq}"
        );
        assert!(matches!(
            verify_file(text.as_bytes(), std::slice::from_ref(&stranger)),
            Ok(Verdict::Invalid(_))
        ));
    }
    // Against an older checkpoint too; an event after it has no proof there.
    let first = 21;
    let p = t.db.prove(3, Some(first)).await.unwrap();
    let cp = audit::SignedCheckpoint::open(p.checkpoint.as_bytes(), std::slice::from_ref(&vkey)).unwrap();
    assert_eq!(cp.checkpoint.size, first);
    verify_inclusion(3, first, &leaves_hash(&leaves[3]).0, &p.proof, &cp.checkpoint.root.0).unwrap();
    assert!(t.db.prove(21, Some(first)).await.is_err());
    assert!(t.db.prove(3, Some(10)).await.is_err(), "no checkpoint at 10");
    assert!(t.db.prove(37, None).await.is_err());

    // Consistency proofs between stored sizes, from the stored nodes.
    for (s1, s2) in [(1u64, 37u64), (10, 20), (13, 37), (21, 33), (36, 37), (37, 37)] {
        let proof = match &t.db {
            Db::Sqlite(p) => store::consistency_proof(&mut *p.acquire().await.unwrap(), s1, s2).await,
            Db::Postgres(p) => store::consistency_proof(&mut *p.acquire().await.unwrap(), s1, s2).await,
        }
        .unwrap();
        assert_eq!(proof, tree.consistency_proof(s1, s2).unwrap());
        verify_consistency(
            s1,
            s2,
            &proof,
            &tree.root_at(s1).unwrap().0,
            &tree.root_at(s2).unwrap().0,
        )
        .unwrap();
    }

    let report = t.db.verify(std::slice::from_ref(&vkey)).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, 37);
    // The same over one connection (the runtime's own, say).
    let single = match &t.db {
        Db::Sqlite(p) => audit::verify::verify_log(&mut *p.acquire().await.unwrap(), std::slice::from_ref(&vkey)).await,
        Db::Postgres(p) => {
            audit::verify::verify_log(&mut *p.acquire().await.unwrap(), std::slice::from_ref(&vkey)).await
        }
    }
    .unwrap();
    assert!(single.is_ok(), "{:?}", single.problems);
    assert_eq!((single.events, single.nodes, single.checkpoints), (37, report.nodes, 3));
    assert_eq!(report.checkpoints, 3);
    assert_eq!(report.latest_checkpoint, Some((37, tree.root())));
    assert_eq!(report.root, tree.root());
    assert_eq!(report.nodes, (1..6).map(|l| 37u64 >> l).sum::<u64>());
}

fn leaves_hash(leaf: &[u8]) -> Hash {
    audit::hash::leaf_hash(leaf)
}

both!(triggers_refuse_update_and_delete);
async fn triggers_refuse_update_and_delete(t: TestDb) {
    let keys = Keys::new();
    let log = keys.log(every(2));
    t.db.append(&log, &(0..4).map(event).collect::<Vec<_>>()).await.unwrap();
    let statements = [
        "UPDATE audit_events SET kind = 'sent' WHERE seq = 1",
        "UPDATE audit_events SET leaf = leaf WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 3",
        "DELETE FROM audit_events",
        "UPDATE audit_nodes SET hash = hash",
        "DELETE FROM audit_nodes",
        "UPDATE audit_checkpoints SET note = note",
        "DELETE FROM audit_checkpoints",
        "DELETE FROM audit_head",
        "DELETE FROM audit_keyring",
    ];
    for sql in statements {
        let r = match &t.db {
            Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        };
        let e = r.expect_err(sql).to_string();
        assert!(e.contains("append-only") || e.contains("never deleted"), "{sql}: {e}");
    }
    if let Db::Postgres(p) = &t.db {
        for table in ["audit_events", "audit_nodes", "audit_checkpoints", "audit_head"] {
            let sql = format!("TRUNCATE {table} CASCADE");
            let e = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(p)
                .await
                .expect_err(&sql);
            assert!(e.to_string().contains("append-only"), "{sql}: {e}");
        }
    }
    let report = t.db.verify(&[log.verifier()]).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, 4);
}

both!(appends_commit_and_roll_back_with_the_callers_transaction);
async fn appends_commit_and_roll_back_with_the_callers_transaction(t: TestDb) {
    let keys = Keys::new();
    let log = keys.log(every(1000));
    // The case store's own table, in the same database.
    let ddl = "CREATE TABLE cases (id TEXT PRIMARY KEY, state TEXT NOT NULL)";
    match &t.db {
        Db::Sqlite(p) => {
            sqlx::query(ddl).execute(p).await.unwrap();
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("INSERT INTO cases VALUES ('EB-1', 'drafted')")
                .execute(&mut *tx)
                .await
                .unwrap();
            log.append(&mut *tx, &event(0)).await.unwrap();
            tx.rollback().await.unwrap();
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("INSERT INTO cases VALUES ('EB-2', 'drafted')")
                .execute(&mut *tx)
                .await
                .unwrap();
            let a = log.append(&mut *tx, &event(1)).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(a.seq, 0, "the rolled-back append left no gap");
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
                .fetch_one(p)
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
        Db::Postgres(p) => {
            sqlx::query(ddl).execute(p).await.unwrap();
            let mut tx = p.begin().await.unwrap();
            sqlx::query("INSERT INTO cases VALUES ('EB-1', 'drafted')")
                .execute(&mut *tx)
                .await
                .unwrap();
            log.append(&mut *tx, &event(0)).await.unwrap();
            tx.rollback().await.unwrap();
            let mut tx = p.begin().await.unwrap();
            sqlx::query("INSERT INTO cases VALUES ('EB-2', 'drafted')")
                .execute(&mut *tx)
                .await
                .unwrap();
            let a = log.append(&mut *tx, &event(1)).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(a.seq, 0, "the rolled-back append left no gap");
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
                .fetch_one(p)
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
    }
    assert_eq!(t.db.size().await.unwrap(), 1);
    t.db.checkpoint(&log).await.unwrap();
    assert!(t.db.verify(&[log.verifier()]).await.unwrap().is_ok());
}

both!(migrations_share_the_table_with_the_runtimes);
async fn migrations_share_the_table_with_the_runtimes(t: TestDb) {
    // A stand-in for the runtime's migrator: low versions, ignore_missing.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("0001_cases.sql"),
        "CREATE TABLE runtime_cases (id TEXT PRIMARY KEY);",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("0002_more.sql"),
        "CREATE TABLE runtime_more (id TEXT PRIMARY KEY);",
    )
    .unwrap();
    let mut runtime = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    runtime.set_ignore_missing(true);
    // The audit migrations already ran (TestDb); now the runtime's, then
    // both again: every order works and nothing is applied twice.
    match &t.db {
        Db::Sqlite(p) => {
            runtime.run(p).await.unwrap();
            audit::sqlite_migrator().run(p).await.unwrap();
            runtime.run(p).await.unwrap();
        }
        Db::Postgres(p) => {
            runtime.run(p).await.unwrap();
            audit::postgres_migrator().run(p).await.unwrap();
            runtime.run(p).await.unwrap();
        }
    }
    let versions: Vec<i64> = match &t.db {
        Db::Sqlite(p) => sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(p)
            .await
            .unwrap(),
        Db::Postgres(p) => sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(p)
            .await
            .unwrap(),
    };
    assert_eq!(versions, vec![1, 2, 10001, 10002, 10003, 10004, 10005]);
    // Without ignore_missing the audit migrator would refuse the runtime's rows.
    let mut strict = audit::sqlite_migrator();
    strict.set_ignore_missing(false);
    if let Db::Sqlite(p) = &t.db {
        assert!(strict.run(p).await.is_err());
    }
}

both!(checkpoints_by_count_by_time_and_at_shutdown);
async fn checkpoints_by_count_by_time_and_at_shutdown(t: TestDb) {
    let keys = Keys::new();
    let log = keys.log(CheckpointPolicy {
        every_events: 4,
        every: Duration::from_secs(60),
    });
    let a = t.db.append(&log, &(0..3).map(event).collect::<Vec<_>>()).await.unwrap();
    assert!(a.iter().all(|a| a.checkpoint.is_none()));
    assert!(t.db.checkpoint_if_due(&log).await.unwrap().is_none());
    // The fourth event makes four since the last checkpoint.
    let a = t.db.append(&log, &[event(3)]).await.unwrap();
    assert_eq!(a[0].checkpoint.as_ref().map(|c| c.checkpoint.size), Some(4));
    t.db.append(&log, &[event(4)]).await.unwrap();
    assert!(t.db.checkpoint_if_due(&log).await.unwrap().is_none());
    // A minute later one is due by time.
    keys.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        t.db.checkpoint_if_due(&log).await.unwrap().map(|c| c.checkpoint.size),
        Some(5)
    );
    t.db.append(&log, &[event(5)]).await.unwrap();
    // The timer task signs a last checkpoint when told to shut down.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let (log, db) = (log.clone(), t.db.clone());
        tokio::spawn(async move {
            run_checkpointer(&log, &db, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let latest = t.db.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(latest.checkpoint.size, 6);
    let report = t.db.verify(&[log.verifier()]).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.checkpoints, 3, "4, 5 and 6 are kept");
    let _ = t0();
}
