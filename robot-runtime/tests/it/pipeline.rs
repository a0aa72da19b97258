//! The robot pipeline end to end, in process, on both engines: fetch,
//! enrich, evaluate, store; idempotency, retries, fault injection.

use crate::support::*;
use async_trait::async_trait;
use connectors::{ConnectorError, PersonAnswer, RegisterLookup};
use domain::{CaseState, Period, Personnummer};
use robot_runtime::clock::Clock;
use robot_runtime::faults::{Fault, FaultPoint};
use robot_runtime::pipeline::{drain_run, run_robot, work_once};
use robot_runtime::runtime::Runtime;
use robot_runtime::store::Trigger;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

async fn run_and_drain(rt: &Runtime) -> robot_runtime::pipeline::RunReport {
    let report = run_robot(rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(rt, report.run_id, |_, _| {}).await.unwrap();
    report
}

async fn states(rt: &Runtime) -> BTreeMap<String, (CaseState, Option<domain::Outcome>, Option<i64>)> {
    rt.store
        .list_cases(None, None, 10_000, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.external_id, (c.state, c.outcome, c.amount_ore)))
        .collect()
}

/// The register answers that agree with what an application declares.
pub(crate) fn register_agreeing(env: &TestEnv, file: &std::path::Path) {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let period = v["period"].as_str().unwrap();
    for a in v["household"]["adults"].as_array().unwrap() {
        let p = a["personnummer"].as_str().unwrap().replace('-', "");
        if p.len() != 12 {
            continue;
        }
        let incomes: Vec<serde_json::Value> = v["incomes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|i| i["person"].as_str().map(|s| s.replace('-', "")) == Some(p.clone()))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .map(|i| serde_json::json!({"source": "FK", "kind": i["kind"], "amount": i["amount"]}))
            .collect();
        env.answer(
            &p,
            period,
            &serde_json::json!({"job_seeker": true, "incomes": incomes}).to_string(),
        );
    }
}

async fn end_to_end(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let files: Vec<_> = valid_cases().into_iter().take(30).collect();
    for f in &files {
        register_agreeing(&env, f);
    }
    let ids = env.put(&files);
    std::fs::write(env.inbox().join("trasig.json"), b"{ inte json").unwrap();
    let rt = env.runtime(clock_at("2026-03-01T10:00:00Z")).await;

    let report = run_and_drain(&rt).await;
    assert_eq!(report.counts.fetched, 31);
    assert_eq!(report.counts.rejected, 1);
    let got = states(&rt).await;
    assert_eq!(got.len(), 31);
    assert_eq!(got["ref:trasig.json"].0, CaseState::Invalid);

    // Every valid application has the draft the ruleset gives it, with the
    // register answer from the lookup.
    let ruleset = sandbox::Ruleset::load(&ruleset()).unwrap();
    for (f, id) in files.iter().zip(&ids) {
        let detail = rt
            .store
            .case_detail(
                rt.store
                    .list_cases(None, None, 10_000, 0)
                    .await
                    .unwrap()
                    .iter()
                    .find(|c| &c.external_id == id)
                    .unwrap()
                    .id,
            )
            .await
            .unwrap();
        assert_eq!(
            detail.summary.state,
            CaseState::AwaitingApproval,
            "{id}: {:?}",
            detail.summary.state_reason
        );
        let app = domain::Application::parse(&std::fs::read(f).unwrap()).unwrap();
        let stored = domain::Draft::from_json(detail.draft_json.as_deref().unwrap()).unwrap();
        assert_eq!(
            stored.ruleset().hash,
            ruleset.hash(),
            "the ruleset is pinned on the case"
        );
        assert!(detail.register_json.is_some(), "{id}: the register answer is kept");
        let register = domain_register(detail.register_json.as_deref().unwrap(), &app);
        let expected = ruleset.evaluate(&app.with_register(register).unwrap()).unwrap();
        assert_eq!(stored, expected, "{id}");
    }
    assert!(env.inbox().join("processed").read_dir().unwrap().count() == 30);
    assert!(env.inbox().join("failed/trasig.json.error.txt").exists());

    // Fetching again never makes a second case: a second run finds nothing,
    // and documents put back are recognised as duplicates.
    let report = run_robot(
        &rt,
        "r1",
        Trigger::Manual,
        rt.clock.now() + chrono::Duration::seconds(1),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.counts.fetched, 0);
    env.put(&files[..5]);
    let report = run_robot(
        &rt,
        "r1",
        Trigger::Manual,
        rt.clock.now() + chrono::Duration::seconds(2),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((report.counts.fetched, report.counts.duplicates), (0, 5));
    assert_eq!(states(&rt).await.len(), 31);
    rt.store.close().await;
}

/// Rebuilds a domain register from the stored JSON (to re-evaluate independently).
fn domain_register(json: &str, app: &domain::Application) -> domain::Register {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let day = app.period().first_day();
    let p = |s: &serde_json::Value| Personnummer::parse(s.as_str().unwrap(), day).unwrap();
    domain::Register {
        job_seekers: v["job_seekers"].as_array().unwrap().iter().map(p).collect(),
        incomes: v["incomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| domain::RegisterIncome {
                person: p(&i["person"]),
                source: i["source"].as_str().unwrap().into(),
                kind: i["kind"].as_str().unwrap().parse().unwrap(),
                amount: serde_json::from_value(i["amount"].clone()).unwrap(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn end_to_end_sqlite() {
    end_to_end(Engine::Sqlite).await;
}

#[tokio::test]
async fn end_to_end_postgres() {
    end_to_end(Engine::Postgres).await;
}

/// A register that is down for its first `failures` calls.
struct FlakyRegister {
    failures: usize,
    calls: AtomicUsize,
}

#[async_trait]
impl RegisterLookup for FlakyRegister {
    fn name(&self) -> &str {
        "flaky"
    }
    async fn lookup(&self, _p: &Personnummer, _period: Period) -> Result<PersonAnswer, ConnectorError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            Err(ConnectorError::retriable("flaky", "connection refused"))
        } else {
            Ok(PersonAnswer {
                job_seeker: true,
                incomes: vec![],
            })
        }
    }
    async fn health(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

async fn one_case_runtime(
    engine: Engine,
    failures: usize,
) -> (TestEnv, Runtime, Arc<robot_runtime::clock::ManualClock>) {
    let env = TestEnv::new(engine).await;
    env.put(&[ruleset().join("tests/01-ensamstaende-utan-inkomst.json")]);
    let clock = clock_at("2026-03-01T10:00:00Z");
    let mut rt = env.runtime(clock.clone()).await;
    if let Some(r) = rt.robots.get_mut("r1") {
        r.lookups = vec![Arc::new(FlakyRegister {
            failures,
            calls: AtomicUsize::new(0),
        })];
    }
    (env, rt, clock)
}

#[tokio::test]
async fn a_lookup_that_is_down_is_retried_with_backoff_then_succeeds() {
    for engine in ENGINES {
        let (_env, rt, clock) = one_case_runtime(engine, 2).await;
        run_robot(&rt, "r1", Trigger::Manual, clock.now()).await.unwrap();
        assert_eq!(work_once(&rt).await.unwrap(), 1, "attempt 1 fails → retry in 10 s");
        assert_eq!(work_once(&rt).await.unwrap(), 0, "not due yet");
        clock.advance(chrono::Duration::seconds(10));
        assert_eq!(work_once(&rt).await.unwrap(), 1, "attempt 2 fails → retry in 20 s");
        clock.advance(chrono::Duration::seconds(19));
        assert_eq!(work_once(&rt).await.unwrap(), 0, "exponential: 20 s this time");
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(work_once(&rt).await.unwrap(), 1, "attempt 3 succeeds");
        let c = &rt.store.list_cases(None, None, 10, 0).await.unwrap()[0];
        assert_eq!(c.state, CaseState::AwaitingApproval, "{engine:?}");
        let d = rt.store.case_detail(c.id).await.unwrap();
        assert_eq!(d.attempts, Some(3));
        rt.store.close().await;
    }
}

#[tokio::test]
async fn retries_end_with_a_failed_case_that_is_surfaced() {
    for engine in ENGINES {
        let (_env, rt, clock) = one_case_runtime(engine, 1000).await;
        run_robot(&rt, "r1", Trigger::Manual, clock.now()).await.unwrap();
        for _ in 0..4 {
            assert_eq!(work_once(&rt).await.unwrap(), 1);
            clock.advance(chrono::Duration::seconds(100));
        }
        let c = &rt.store.list_cases(None, None, 10, 0).await.unwrap()[0];
        assert_eq!(c.state, CaseState::Failed, "{engine:?}");
        assert!(
            c.state_reason.as_deref().unwrap().contains("efter 4 försök"),
            "{:?}",
            c.state_reason
        );
        assert_eq!(work_once(&rt).await.unwrap(), 0, "a dead item is not taken again");
        rt.store.close().await;
    }
}

async fn faults(engine: Engine, point: FaultPoint, fault: Fault) {
    let env = TestEnv::new(engine).await;
    let files: Vec<_> = valid_cases().into_iter().take(20).collect();
    for f in &files {
        register_agreeing(&env, f);
    }
    env.put(&files);
    let clock = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    rt.faults.plan(point, fault, 1);
    let report = run_robot(&rt, "r1", Trigger::Manual, clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.counts.fetched, 20);
    // Work until nothing is due; then let leases and retries come due.
    for _ in 0..10 {
        while work_once(&rt).await.unwrap() > 0 {}
        clock.advance(chrono::Duration::seconds(150));
    }
    let got = states(&rt).await;
    assert_eq!(got.len(), 20, "{point:?}/{fault:?}: no application lost or duplicated");
    assert!(
        got.values().all(|(s, _, _)| *s == CaseState::AwaitingApproval),
        "{point:?}/{fault:?} on {engine:?}: {got:?}"
    );
    // The fault really happened: some items needed a second attempt.
    let mut retried = 0;
    for c in rt.store.list_cases(None, None, 100, 0).await.unwrap() {
        if rt.store.case_detail(c.id).await.unwrap().attempts.unwrap_or(0) >= 2 {
            retried += 1;
        }
    }
    assert!(retried >= 1, "{point:?}/{fault:?}: no item was taken twice");
    rt.store.close().await;
}

#[tokio::test]
async fn a_crash_after_claim_loses_nothing() {
    for e in ENGINES {
        faults(e, FaultPoint::AfterClaim, Fault::Crash).await;
    }
}

#[tokio::test]
async fn a_crash_after_evaluate_loses_nothing() {
    for e in ENGINES {
        faults(e, FaultPoint::AfterEvaluate, Fault::Crash).await;
    }
}

#[tokio::test]
async fn a_crash_before_commit_loses_nothing() {
    for e in ENGINES {
        faults(e, FaultPoint::BeforeCommit, Fault::Crash).await;
    }
}

#[tokio::test]
async fn an_error_after_evaluate_is_retried() {
    for e in ENGINES {
        faults(e, FaultPoint::AfterEvaluate, Fault::Error).await;
    }
}

#[tokio::test]
async fn a_source_that_is_down_fails_the_run_and_loses_nothing() {
    let env = TestEnv::new(Engine::Sqlite).await;
    std::fs::remove_dir_all(env.inbox()).unwrap();
    let rt = env.runtime(clock_at("2026-03-01T10:00:00Z")).await;
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.counts.fetched, 0);
    let runs = rt.store.list_runs(Some("r1"), 1).await.unwrap();
    assert_eq!(runs[0].status.as_str(), "failed");
    assert!(
        runs[0].error.as_deref().unwrap().contains("not healthy"),
        "{:?}",
        runs[0].error
    );
    // It comes back: the next run fetches.
    std::fs::create_dir_all(env.inbox()).unwrap();
    env.put(&[ruleset().join("tests/01-ensamstaende-utan-inkomst.json")]);
    let report = run_robot(
        &rt,
        "r1",
        Trigger::Manual,
        rt.clock.now() + chrono::Duration::seconds(1),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.counts.fetched, 1);
    rt.store.close().await;
}

#[tokio::test]
async fn a_paused_robot_does_not_run() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let rt = env.runtime(clock_at("2026-03-01T10:00:00Z")).await;
    rt.store.set_paused("r1", true, Some("underhåll")).await.unwrap();
    assert!(
        run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
            .await
            .unwrap()
            .is_none()
    );
    rt.store.set_paused("r1", false, None).await.unwrap();
    assert!(
        run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
            .await
            .unwrap()
            .is_some()
    );
    rt.store.close().await;
}
