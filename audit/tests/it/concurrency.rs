//! Several connections appending at once on PostgreSQL: one sequencer,
//! no gaps, one consistent tree.

use crate::support::{Keys, TestDb, event, every};
use audit::Db;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_on_postgres_are_gap_free_and_consistent() {
    let t = TestDb::postgres().await;
    let keys = Keys::new();
    let log = keys.log(every(16));
    let Db::Postgres(pool) = &t.db else { unreachable!() };
    const WORKERS: u64 = 6;
    const TXS: u64 = 15;
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (pool, log) = (pool.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..TXS {
                let mut tx = pool.begin().await.unwrap();
                // Odd transactions append a batch, even ones a single event;
                // every fifth is rolled back after appending.
                let events: Vec<_> = (0..1 + i % 2).map(|k| event(w * 1000 + i * 10 + k)).collect();
                let appended = log.append_batch(&mut *tx, &events).await.unwrap();
                if i % 5 == 4 {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    seqs.extend(appended.iter().map(|a| a.seq));
                }
                tokio::task::yield_now().await;
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    let committed = all.len() as u64;
    // 6 workers × 15 transactions, 3 of each rolled back; 1 or 2 events each.
    // Committed: six even i with one event, six odd i with two.
    assert_eq!(committed, WORKERS * 18);
    assert_eq!(
        all,
        (0..committed).collect::<Vec<_>>(),
        "sequence numbers are unique and gap-free"
    );
    assert_eq!(t.db.size().await.unwrap(), committed);
    t.db.checkpoint(&log).await.unwrap();
    let report = t.db.verify(&[log.verifier()]).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.checkpoints >= 6, "checkpoints were signed under contention");
}
