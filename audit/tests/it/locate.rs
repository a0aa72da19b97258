//! Property: a changed event is named by its own sequence number — not by
//! the first event under a tree node or checkpoint above it — whether or not
//! its stored leaf hash was recomputed to match (finding LOW-6).
//!
//! The one case the database cannot settle: a leaf changed into another
//! well-formed leaf, its hash recomputed, under a tree node that covers two
//! events, with no signed checkpoint between the two. The stored node then
//! says "one of these two changed" and nothing says which; verification
//! reports both (`Location::Events`) rather than guess, and this test
//! checks that it does so only then.

use crate::support::{Keys, TestDb, event, every};
use audit::Db;
use audit::event::LeafEvent;
use audit::hash::leaf_hash;
use audit::verify::{Location, VerifyReport};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// One byte of the leaf; the stored leaf hash left as it was.
    Leaf,
    /// One byte of the leaf, and the stored leaf hash recomputed to match.
    LeafAndHash,
    /// The time column beside the leaf.
    TimeColumn,
    /// One byte of the event id column.
    EventIdColumn,
}

const CHANGES: [Change; 4] = [
    Change::Leaf,
    Change::LeafAndHash,
    Change::TimeColumn,
    Change::EventIdColumn,
];

async fn leaf_of(db: &Db, seq: i64) -> Vec<u8> {
    let Db::Sqlite(p) = db else { unreachable!() };
    sqlx::query_scalar("SELECT leaf FROM audit_events WHERE seq = ?1")
        .bind(seq)
        .fetch_one(p)
        .await
        .unwrap()
}

/// Changes event `seq` of a log of `n` events; returns the changed leaf
/// (if the leaf was changed).
pub async fn change(db: &Db, seq: u64, how: Change, byte: usize, mask: u8) -> Option<Vec<u8>> {
    let Db::Sqlite(p) = db else { unreachable!() };
    sqlx::query("DROP TRIGGER IF EXISTS audit_events_no_update")
        .execute(p)
        .await
        .unwrap();
    let seq = seq as i64;
    match how {
        Change::Leaf | Change::LeafAndHash => {
            let mut leaf = leaf_of(db, seq).await;
            let at = byte % leaf.len();
            leaf[at] ^= mask;
            let sql = if matches!(how, Change::Leaf) {
                "UPDATE audit_events SET leaf = ?1 WHERE seq = ?3"
            } else {
                "UPDATE audit_events SET leaf = ?1, leaf_hash = ?2 WHERE seq = ?3"
            };
            sqlx::query(sql)
                .bind(&leaf)
                .bind(leaf_hash(&leaf).0.to_vec())
                .bind(seq)
                .execute(p)
                .await
                .unwrap();
            Some(leaf)
        }
        Change::TimeColumn => {
            sqlx::query("UPDATE audit_events SET time_us = (time_us | ?1) - (time_us & ?1) WHERE seq = ?2")
                .bind(i64::from(mask))
                .bind(seq)
                .execute(p)
                .await
                .unwrap();
            None
        }
        Change::EventIdColumn => {
            let id: Vec<u8> = sqlx::query_scalar("SELECT event_id FROM audit_events WHERE seq = ?1")
                .bind(seq)
                .fetch_one(p)
                .await
                .unwrap();
            let mut id = id;
            id[byte % 16] ^= mask;
            sqlx::query("UPDATE audit_events SET event_id = ?1 WHERE seq = ?2")
                .bind(id)
                .bind(seq)
                .execute(p)
                .await
                .unwrap();
            None
        }
    }
}

/// What the report says about a log where only event `seq` was changed.
fn check_located(report: &VerifyReport, seq: u64, how: Change, leaf: Option<&[u8]>) {
    assert!(!report.is_ok(), "{how:?} at {seq} went unnoticed");
    let headline = &report.problems[0];
    match headline.location {
        Location::Event(found) => {
            assert_eq!(found, seq, "{how:?}: {:#?}", report.problems);
            assert_eq!(report.first_bad_seq(), Some(seq));
        }
        Location::Events { first, last } => {
            // Only a well-formed leaf with a recomputed hash, under a node
            // over two events and no checkpoint between them.
            assert!(matches!(how, Change::LeafAndHash), "{how:?}: {:#?}", report.problems);
            assert!(first <= seq && seq <= last, "{seq}: {:#?}", report.problems);
            assert_eq!((first % 2, last), (0, first + 1), "{:#?}", report.problems);
            assert!(
                leaf.is_some_and(|l| LeafEvent::decode(l).is_ok()),
                "a leaf that does not decode is named exactly: {:#?}",
                report.problems
            );
            assert_eq!(report.first_bad_seq(), Some(first));
        }
        other => panic!("{how:?} at {seq} located at {other:?}: {:#?}", report.problems),
    }
    // Everything else follows from it.
    for p in &report.problems[1..] {
        assert!(
            p.follows_from.is_some() || p.location == headline.location,
            "{p}: {:#?}",
            report.problems
        );
    }
}

async fn scenario(n: u64, seq: u64, how: Change, byte: usize, mask: u8) {
    let t = TestDb::sqlite().await;
    let keys = Keys::new();
    let log = keys.log(every(7));
    let events: Vec<_> = (0..n).map(event).collect();
    for chunk in events.chunks(3) {
        t.db.append(&log, chunk).await.unwrap();
    }
    t.db.checkpoint(&log).await.unwrap();
    let known = [log.verifier()];
    let leaf = change(&t.db, seq, how, byte, mask).await;
    let report = t.db.verify(&known).await.unwrap();
    let Db::Sqlite(p) = &t.db else { unreachable!() };
    let single = audit::verify::verify_log(&mut *p.acquire().await.unwrap(), &known)
        .await
        .unwrap();
    assert_eq!(single.problems, report.problems, "the direct read and sqlx agree");
    check_located(&report, seq, how, leaf.as_deref());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_changed_event_is_named_by_its_own_sequence_number(
        n in 2u64..48,
        pick in any::<u64>(),
        how in 0usize..CHANGES.len(),
        byte in any::<usize>(),
        mask in 1u8..=255,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(scenario(n, pick % n, CHANGES[how], byte, mask));
    }
}

/// The probe of the security review (t2): one byte of the actor of event 82
/// changed, the leaf hash recomputed, in a log of 127 events. Before, verify
/// said "first bad sequence number 64"; then it named 82 and its sibling 83,
/// because the stored node over the two was the only record of either; since
/// the actor is also a column (migration 10004) it names the changed event.
#[tokio::test]
async fn the_reviewers_probe_no_longer_points_at_event_64() {
    // Bytes into the leaf: format 1, seq 8, id 16, then str8 kind, str8
    // case, str8 actor. Event 82 is "drafted", case "EB-2026-000016", actor
    // "robot:ekonomiskt-bistand"; flipping 'r' (0x72) to 's' keeps it a
    // well-formed actor, so the leaf still decodes.
    let kind = "drafted".len();
    let case = "EB-2026-000016".len();
    let actor_start = 1 + 8 + 16 + 1 + kind + 1 + case + 1;
    for (seq, expect) in [(82u64, "82 or 83"), (83, "82 or 83")] {
        let t = TestDb::sqlite().await;
        let keys = Keys::new();
        let log = keys.log(every(30));
        let events: Vec<_> = (0..127).map(event).collect();
        for chunk in events.chunks(3) {
            t.db.append(&log, chunk).await.unwrap();
        }
        t.db.checkpoint(&log).await.unwrap();
        let leaf = change(&t.db, seq, Change::LeafAndHash, actor_start, 0x01)
            .await
            .unwrap();
        let report = t.db.verify(&[log.verifier()]).await.unwrap();
        check_located(&report, seq, Change::LeafAndHash, Some(&leaf));
        let decodes = LeafEvent::decode(&leaf).is_ok();
        // With the leaf hash recomputed and the leaf still well formed, the
        // node over 82–83 alone could not say which; the actor column
        // (migration 10004) no longer matches the leaf, and names the event.
        if decodes {
            assert_eq!(report.problems[0].location, Location::Event(seq), "{expect}");
        }
        // Never event 64, whose leaf is intact.
        assert_ne!(report.first_bad_seq(), Some(64));
    }
}
