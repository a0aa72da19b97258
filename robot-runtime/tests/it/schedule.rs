//! Scheduler semantics with an injected clock: a fire time runs at most
//! once even with several workers; runs never overlap; daylight-saving
//! days; missed fire times after downtime.

use crate::support::*;
use robot_runtime::clock::{Clock, ManualClock};
use robot_runtime::config::Missed;
use robot_runtime::pipeline::{robot_loop, run_robot};
use robot_runtime::runtime::Runtime;
use robot_runtime::store::Trigger;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

async fn runs(rt: &Runtime) -> Vec<robot_runtime::store::RunSummary> {
    let mut r = rt.store.list_runs(Some("r1"), 1000).await.unwrap();
    r.reverse();
    r
}

/// Waits (in real time) until `n` runs are recorded and finished.
async fn wait_runs(rt: &Runtime, n: usize) {
    for _ in 0..500 {
        let r = runs(rt).await;
        if r.len() >= n && r.iter().all(|x| x.status.as_str() != "running") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} runs, have {:?}", runs(rt).await.len());
}

/// Lets spawned tasks react to a clock change.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(60)).await;
}

fn env_with(env: &mut TestEnv, schedule: &str, missed: Missed) {
    let r = &mut env.settings.robots[0];
    r.schedule = schedule.into();
    r.missed = missed;
}

async fn fire_times_run_once_with_two_workers(engine: Engine) {
    let mut env = TestEnv::new(engine).await;
    env_with(&mut env, "*/10 * * * *", Missed::Skip);
    let clock = clock_at("2026-05-04T08:01:00Z");
    let a = Arc::new(env.runtime(clock.clone()).await);
    let b = Arc::new(env.runtime(clock.clone()).await);
    let (stop, rx) = watch::channel(false);
    let ta = tokio::spawn(robot_loop(a.clone(), "r1".into(), rx.clone()));
    let tb = tokio::spawn(robot_loop(b.clone(), "r1".into(), rx.clone()));
    settle().await;
    for i in 1..=6 {
        clock.advance(chrono::Duration::minutes(10));
        wait_runs(&a, i).await;
        settle().await;
    }
    let r = runs(&a).await;
    assert_eq!(r.len(), 6, "{engine:?}: one run per fire time, not two: {r:?}");
    let fires: Vec<_> = r.iter().map(|x| x.fire.to_rfc3339()).collect();
    let mut unique = fires.clone();
    unique.dedup();
    assert_eq!(fires, unique);
    assert!(r.iter().all(|x| x.fire.format("%M").to_string().ends_with('0')));
    let _ = stop.send(true);
    ta.await.unwrap();
    tb.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_time_runs_once_with_two_workers_sqlite() {
    fire_times_run_once_with_two_workers(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_time_runs_once_with_two_workers_postgres() {
    fire_times_run_once_with_two_workers(Engine::Postgres).await;
}

#[tokio::test]
async fn runs_of_one_robot_never_overlap() {
    for engine in ENGINES {
        let env = TestEnv::new(engine).await;
        let clock = clock_at("2026-05-04T08:00:00Z");
        let a = env.runtime(clock.clone()).await;
        let b = env.runtime(clock.clone()).await;
        // A run in progress elsewhere holds the robot's lock.
        assert!(
            b.store
                .try_lock_robot("r1", &b.owner, Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert!(
            run_robot(&a, "r1", Trigger::Schedule, clock.now())
                .await
                .unwrap()
                .is_none(),
            "{engine:?}"
        );
        assert!(
            runs(&a).await.is_empty(),
            "the skipped fire time is not recorded as run"
        );
        b.store.unlock_robot("r1", &b.owner).await.unwrap();
        assert!(
            run_robot(&a, "r1", Trigger::Schedule, clock.now())
                .await
                .unwrap()
                .is_some()
        );
        // …and a lock left by a dead worker expires.
        assert!(
            b.store
                .try_lock_robot("r1", &b.owner, Duration::from_secs(60))
                .await
                .unwrap()
        );
        clock.advance(chrono::Duration::seconds(61));
        assert!(
            run_robot(&a, "r1", Trigger::Schedule, clock.now())
                .await
                .unwrap()
                .is_some()
        );
    }
}

async fn one_run_per_day(env: &TestEnv, clock: &Arc<ManualClock>, days: i64) -> Vec<chrono::DateTime<chrono::Utc>> {
    let rt = Arc::new(env.runtime(clock.clone()).await);
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(robot_loop(rt.clone(), "r1".into(), rx));
    settle().await;
    // Step through the days an hour at a time, letting each run finish.
    for _ in 0..days * 24 {
        clock.advance(chrono::Duration::hours(1));
        settle().await;
        // Let a run that started finish before the clock moves on (on a
        // loaded machine that can take longer than one settle).
        let mut still_running = true;
        for _ in 0..100 {
            still_running = runs(&rt).await.last().is_some_and(|l| l.status.as_str() == "running");
            if !still_running {
                break;
            }
            settle().await;
        }
        assert!(!still_running, "a run did not finish");
    }
    let _ = stop.send(true);
    task.await.unwrap();
    runs(&rt).await.into_iter().map(|r| r.fire).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0230_job_runs_exactly_once_on_both_daylight_saving_days() {
    for engine in ENGINES {
        let mut env = TestEnv::new(engine).await;
        env_with(&mut env, "30 2 * * *", Missed::Skip);
        // Spring forward, Sunday 2026-03-29: 02:30 does not exist.
        let clock = clock_at("2026-03-27T22:00:00Z");
        let fires = one_run_per_day(&env, &clock, 3).await;
        let want: Vec<chrono::DateTime<chrono::Utc>> =
            ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
                .iter()
                .map(|s| s.parse().unwrap())
                .collect();
        assert_eq!(fires, want, "{engine:?}: spring forward");

        // Fall back, Sunday 2026-10-25: 02:30 happens twice.
        let mut env = TestEnv::new(engine).await;
        env_with(&mut env, "30 2 * * *", Missed::Skip);
        let clock = clock_at("2026-10-23T22:00:00Z");
        let fires = one_run_per_day(&env, &clock, 3).await;
        let want: Vec<chrono::DateTime<chrono::Utc>> =
            ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
                .iter()
                .map(|s| s.parse().unwrap())
                .collect();
        assert_eq!(fires, want, "{engine:?}: fall back");
    }
}

async fn after_downtime(missed: Missed) -> Vec<robot_runtime::store::RunSummary> {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    env_with(&mut env, "0 * * * *", missed);
    let clock = clock_at("2026-05-04T08:00:00Z");
    {
        let rt = env.runtime(clock.clone()).await;
        run_robot(&rt, "r1", Trigger::Schedule, clock.now()).await.unwrap();
        rt.store.close().await;
    }
    // Down for five hours and twenty minutes.
    clock.advance(chrono::Duration::minutes(320));
    let rt = Arc::new(env.runtime(clock.clone()).await);
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(robot_loop(rt.clone(), "r1".into(), rx));
    settle().await;
    settle().await;
    let _ = stop.send(true);
    task.await.unwrap();
    runs(&rt).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_fire_times_are_skipped_or_run_once() {
    let skipped = after_downtime(Missed::Skip).await;
    assert_eq!(skipped.len(), 1, "skip: only the run before the downtime");
    let caught_up = after_downtime(Missed::RunOnce).await;
    assert_eq!(
        caught_up.len(),
        2,
        "run_once: one catch-up run for five missed fire times"
    );
    assert_eq!(caught_up[1].trigger.as_str(), "catch_up");
    assert_eq!(
        caught_up[1].fire,
        "2026-05-04T13:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
        "the latest missed one"
    );
}
