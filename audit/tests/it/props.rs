//! Property: any sequence of appends (singles, batches, checkpoints in
//! between, with and without personal data) gives a log that verifies, and
//! every event's proof verifies offline.

use crate::support::{Keys, PEOPLE, TestDb, every, pnr, t0};
use audit::offline::verify_file;
use audit::{Actor, CaseRef, Event, EventKind};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
struct Step {
    batch: Vec<(u8, Option<u8>, String)>,
    checkpoint_after: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop::collection::vec((0u8..7, prop::option::of(0u8..3), "[a-zåäö ]{0,12}"), 1..6),
        any::<bool>(),
    )
        .prop_map(|(batch, checkpoint_after)| Step {
            batch,
            checkpoint_after,
        })
}

fn build(i: u64, kind: u8, who: Option<u8>, text: &str) -> Event {
    let kind = EventKind::ALL[kind as usize % (EventKind::ALL.len() - 1)];
    let mut e = Event::new(
        kind,
        Actor::parse("robot:prop").unwrap(),
        t0() + chrono::Duration::milliseconds(i as i64),
    )
    .with_case(CaseRef::parse(&format!("EB-{}", i % 4)).unwrap())
    .with_payload(json!({"i": i, "text": text}))
    .unwrap();
    if let Some(w) = who {
        e = e
            .with_personal(&pnr(PEOPLE[w as usize]), json!({"note": text, "n": i}))
            .unwrap();
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_appends_verifies(steps in prop::collection::vec(step(), 1..12), every_n in 1u64..9) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let t = TestDb::sqlite().await;
            let keys = Keys::new();
            let log = keys.log(every(every_n));
            let mut i = 0u64;
            for s in &steps {
                let events: Vec<Event> = s.batch.iter().map(|(k, w, txt)| {
                    i += 1;
                    build(i, *k, *w, txt)
                }).collect();
                t.db.append(&log, &events).await.unwrap();
                if s.checkpoint_after {
                    t.db.checkpoint(&log).await.unwrap();
                }
            }
            t.db.checkpoint(&log).await.unwrap();
            let report = t.db.verify(&[log.verifier()]).await.unwrap();
            prop_assert!(report.is_ok(), "{:?}", report.problems);
            prop_assert_eq!(report.events, i);
            for seq in 0..i {
                let proof = t.db.prove(seq, None).await.unwrap();
                let verdict = verify_file(proof.to_text().as_bytes(), &[log.verifier()]).unwrap();
                prop_assert!(verdict.is_valid(), "{:?}", verdict);
            }
            Ok(())
        })?;
    }
}
