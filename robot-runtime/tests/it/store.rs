//! One conformance suite for the case store, run against SQLite and PostgreSQL.

use crate::support::*;
use domain::CaseState;
use robot_runtime::clock::{Clock, ManualClock};
use robot_runtime::store::{Finish, Inserted, NewCase, RunCounts, Store, StoreError, Trigger};
use std::sync::Arc;
use std::time::Duration;

fn new_case(ext: &str, doc: &[u8]) -> NewCase {
    NewCase {
        source: "s".into(),
        external_id: ext.into(),
        source_ref: format!("{ext}.json"),
        robot: "r1".into(),
        run_id: None,
        document: doc.to_vec(),
        period: Some("2021-03".into()),
        subjects: vec![],
        adults: 0,
        refused: None,
        people: vec![],
        applied: None,
        correlation_id: robot_runtime::store::new_correlation_id(),
    }
}

fn draft() -> domain::Draft {
    let app =
        domain::Application::parse(&std::fs::read(ruleset().join("tests/01-ensamstaende-utan-inkomst.json")).unwrap())
            .unwrap();
    sandbox::Ruleset::load(&ruleset()).unwrap().evaluate(&app).unwrap()
}

async fn store(env: &TestEnv, clock: Arc<ManualClock>) -> Store {
    env.runtime(clock).await.store
}

async fn conformance(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let clock = clock_at("2026-03-01T10:00:00Z");
    let s = store(&env, clock.clone()).await;

    // Insert, and a second fetch of the same (source, external_id) and
    // content changes nothing (changed content: tests/it/inbox.rs).
    let ins = s
        .insert_cases(&[new_case("A", b"{}"), new_case("B", b"{}")])
        .await
        .unwrap();
    let (Inserted::New(a), Inserted::New(b)) = (ins[0], ins[1]) else {
        panic!("{ins:?}")
    };
    let again = s.insert_cases(&[new_case("A", b"{}")]).await.unwrap();
    assert_eq!(again, vec![Inserted::Duplicate(a)]);
    assert_eq!(s.case_detail(a).await.unwrap().document, b"{}");

    // Claim leases both; a second claim gets nothing while the leases hold.
    let lease = Duration::from_secs(60);
    let claimed = s.claim("w1", lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(s.claim("w2", lease, 10).await.unwrap().is_empty());
    // After the lease expires another worker takes them (attempt 2).
    clock.advance(chrono::Duration::seconds(61));
    let taken = s.claim("w2", lease, 10).await.unwrap();
    assert_eq!(taken.len(), 2);
    assert!(taken.iter().all(|c| c.attempts == 2));
    // The first worker's results are refused: its lease was lost.
    let ca = claimed.iter().find(|c| c.case_id == a).unwrap().clone();
    let kept = s
        .finish("w1", &[(ca.clone(), Finish::Invalid { reason: "x".into() })])
        .await
        .unwrap();
    assert_eq!(kept, vec![false]);
    assert_eq!(s.case_detail(a).await.unwrap().summary.state, CaseState::Received);

    // The lease holder stores a draft for A and a retry for B.
    let ta = taken.iter().find(|c| c.case_id == a).unwrap().clone();
    let tb = taken.iter().find(|c| c.case_id == b).unwrap().clone();
    let d = draft();
    let retry_at = clock.now() + chrono::Duration::seconds(30);
    let kept = s
        .finish(
            "w2",
            &[
                (
                    ta,
                    Finish::Drafted {
                        draft: Box::new(d.clone()),
                        register_json: Some("{}".into()),
                        subjects: vec![],
                        same_period_check: true,
                        dropped_when_routed: vec![],
                    },
                ),
                (
                    tb.clone(),
                    Finish::RetryAt {
                        at: retry_at,
                        error: "register down".into(),
                    },
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(kept, vec![true, true]);
    let da = s.case_detail(a).await.unwrap();
    assert_eq!(da.summary.state, CaseState::AwaitingApproval);
    assert_eq!(da.summary.outcome, Some(domain::Outcome::Bifall));
    assert_eq!(da.summary.amount_ore, Some(975_000));
    assert!(da.summary.ruleset.as_deref().unwrap().starts_with("ekonomiskt-bistand"));
    assert_eq!(domain::Draft::from_json(da.draft_json.as_deref().unwrap()).unwrap(), d);

    // B is not due until the retry time.
    assert!(s.claim("w2", lease, 10).await.unwrap().is_empty());
    clock.advance(chrono::Duration::seconds(30));
    let tb = s.claim("w2", lease, 10).await.unwrap().pop().unwrap();
    assert_eq!(tb.attempts, 3);
    s.finish(
        "w2",
        &[(
            tb,
            Finish::Failed {
                reason: "gave up".into(),
            },
        )],
    )
    .await
    .unwrap();
    let db = s.case_detail(b).await.unwrap();
    assert_eq!(db.summary.state, CaseState::Failed);
    assert_eq!(db.work_status.map(|s| s.as_str()), Some("dead"));

    // Requeue: failed → received, with a fresh work item.
    s.requeue("operator:test", b).await.unwrap();
    assert_eq!(s.case_detail(b).await.unwrap().summary.state, CaseState::Received);
    assert!(matches!(
        s.requeue("operator:test", b).await,
        Err(StoreError::StaleState { .. })
    ));
    let tb = s.claim("w3", lease, 10).await.unwrap().pop().unwrap();
    assert_eq!(tb.attempts, 1);

    // Counts and lists.
    let states = s.count_by_state().await.unwrap();
    assert!(states.contains(&(CaseState::AwaitingApproval, 1)));
    assert_eq!(
        s.list_cases(Some(CaseState::AwaitingApproval), None, 10, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.list_cases(None, Some("nobody"), 10, 0).await.unwrap().len(), 0);

    // Runs: a fire time at most once.
    let fire = clock.now();
    let r1 = s.start_run("r1", fire, Trigger::Schedule, "w1").await.unwrap();
    let r2 = s.start_run("r1", fire, Trigger::Schedule, "w2").await.unwrap();
    assert!(r1.is_some() && r2.is_none());
    s.finish_run(
        r1.unwrap(),
        true,
        RunCounts {
            fetched: 2,
            duplicates: 1,
            rejected: 0,
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(s.last_fire("r1").await.unwrap(), Some(fire));
    assert_eq!(s.list_runs(Some("r1"), 10).await.unwrap()[0].counts.duplicates, 1);

    // The robot lock: one holder at a time, until it expires.
    assert!(s.try_lock_robot("r1", "w1", lease).await.unwrap());
    assert!(!s.try_lock_robot("r1", "w2", lease).await.unwrap());
    assert!(s.try_lock_robot("r1", "w1", lease).await.unwrap(), "the holder renews");
    clock.advance(chrono::Duration::seconds(61));
    assert!(
        s.try_lock_robot("r1", "w2", lease).await.unwrap(),
        "an expired lock is taken over"
    );
    s.unlock_robot("r1", "w2").await.unwrap();
    assert!(s.try_lock_robot("r1", "w1", lease).await.unwrap());

    // Pause and resume.
    assert_eq!(s.paused("r1").await.unwrap(), None);
    s.set_paused("r1", true, Some("skärmarna har ändrats")).await.unwrap();
    assert_eq!(s.paused("r1").await.unwrap().as_deref(), Some("skärmarna har ändrats"));
    s.set_paused("r1", false, None).await.unwrap();
    assert_eq!(s.paused("r1").await.unwrap(), None);

    // Every change above was audited in the same transactions.
    assert!(s.checkpoint(false).await.unwrap().is_some());
    s.close().await;
}

#[tokio::test]
async fn store_conformance_sqlite() {
    conformance(Engine::Sqlite).await;
}

#[tokio::test]
async fn store_conformance_postgres() {
    conformance(Engine::Postgres).await;
}

#[tokio::test]
async fn the_database_refuses_unknown_states() {
    for engine in ENGINES {
        let env = TestEnv::new(engine).await;
        let s = store(&env, clock_at("2026-03-01T10:00:00Z")).await;
        let id = match s.insert_cases(&[new_case("A", b"{}")]).await.unwrap()[0] {
            Inserted::New(id) => id,
            other => panic!("{other:?}"),
        };
        let r = match (s.sqlite_pool(), s.postgres_pool()) {
            (Some(p), _) => sqlx::query("UPDATE cases SET state = 'approved_by_robot' WHERE id = $1")
                .bind(id)
                .execute(p)
                .await
                .map(|_| ()),
            (_, Some(p)) => sqlx::query("UPDATE cases SET state = 'approved_by_robot' WHERE id = $1")
                .bind(id)
                .execute(p)
                .await
                .map(|_| ()),
            _ => unreachable!(),
        };
        assert!(r.is_err(), "{engine:?}: the CHECK constraint must refuse it");
        s.close().await;
    }
}
