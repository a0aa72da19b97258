//! Nothing lost at the inbox (issue 10): entries that are not application
//! files, changed resubmissions, a second application for the same person
//! and period, and the robot lock after a crash. In process, on both
//! engines where the store is involved.

use crate::support::*;
use domain::{CaseState, Outcome, ReasonCode};
use robot_runtime::clock::Clock;
use robot_runtime::pipeline::{drain_run, run_robot};
use robot_runtime::runtime::Runtime;
use robot_runtime::scheduler;
use robot_runtime::store::Trigger;
use std::path::Path;

async fn run_and_drain(rt: &Runtime) -> robot_runtime::pipeline::RunReport {
    let report = run_robot(rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .expect("the robot ran");
    drain_run(rt, report.run_id, |_, _| {}).await.unwrap();
    report
}

async fn case_by_ext(rt: &Runtime, ext: &str) -> robot_runtime::store::CaseDetail {
    let id = rt
        .store
        .list_cases(None, None, 10_000, 0)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.external_id == ext)
        .unwrap_or_else(|| panic!("no case {ext}"))
        .id;
    rt.store.case_detail(id).await.unwrap()
}

fn draft_of(d: &robot_runtime::store::CaseDetail) -> domain::Draft {
    domain::Draft::from_json(d.draft_json.as_deref().expect("a draft")).unwrap()
}

/// An application file with some fields changed.
fn variant(from: &Path, to: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(from).unwrap()).unwrap();
    change(&mut v);
    std::fs::write(to, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn example() -> std::path::PathBuf {
    ruleset().join("tests/01-ensamstaende-utan-inkomst.json")
}

/// The register agrees with the example (a job seeker without incomes) for
/// these periods, so the ruleset itself drafts it as a payment.
fn register_agrees(env: &TestEnv, periods: &[&str]) {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(example()).unwrap()).unwrap();
    for a in v["household"]["adults"].as_array().unwrap() {
        let p = a["personnummer"].as_str().unwrap().replace('-', "");
        for period in periods {
            env.answer(&p, period, r#"{"job_seeker": true, "incomes": []}"#);
        }
    }
}

async fn audit_kinds(rt: &Runtime, case: i64) -> Vec<String> {
    let sql = "SELECT kind FROM audit_events WHERE case_ref = $1 ORDER BY seq";
    let r = format!("case:{case}");
    match (rt.store.sqlite_pool(), rt.store.postgres_pool()) {
        (Some(p), _) => sqlx::query_scalar(sql).bind(r).fetch_all(p).await.unwrap(),
        (_, Some(p)) => sqlx::query_scalar(sql).bind(r).fetch_all(p).await.unwrap(),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn entries_that_are_not_application_files_become_invalid_cases() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let inbox = env.inbox();
    let secret = env.dir.path().join("master.key.copy");
    std::fs::write(&secret, b"not for the robot").unwrap();
    std::os::unix::fs::symlink(&secret, inbox.join("lank.json")).unwrap();
    std::fs::create_dir(inbox.join("mapp.json")).unwrap();
    std::fs::copy(example(), inbox.join("VERSALER.JSON")).unwrap();
    std::fs::File::create(inbox.join("stor.json"))
        .unwrap()
        .set_len(20 * 1024 * 1024)
        .unwrap();
    std::fs::copy(example(), inbox.join("ok.json")).unwrap();
    let rt = env.runtime(clock_at("2026-03-01T10:00:00Z")).await;

    let report = run_and_drain(&rt).await;
    assert_eq!(report.counts.fetched, 5);
    assert_eq!(report.counts.rejected, 4);
    for (name, says) in [
        ("lank.json", "symbolisk länk"),
        ("mapp.json", "är en mapp"),
        ("VERSALER.JSON", "små bokstäver"),
        (
            "stor.json",
            "Filen är 20971520 byte, större än gränsen för en ansökan på 1 MiB (1048576 byte)",
        ),
    ] {
        let c = case_by_ext(&rt, &format!("ref:{name}")).await;
        assert_eq!(c.summary.state, CaseState::Invalid, "{name}");
        let reason = c.summary.state_reason.clone().unwrap_or_default();
        assert!(reason.contains(says), "{name}: {reason}");
        assert!(c.document.is_empty(), "{name}: nothing was read");
        assert!(
            c.work_status.is_none() || c.work_status.map(|s| s.as_str()) == Some("done"),
            "{name}: never worked"
        );
        assert_eq!(audit_kinds(&rt, c.summary.id).await, ["fetched", "invalid"], "{name}");
        let note = std::fs::read_to_string(inbox.join(format!("failed/{name}.error.txt"))).unwrap();
        assert!(note.contains(says), "{name}: {note}");
        assert!(
            std::fs::symlink_metadata(inbox.join(name)).is_err(),
            "{name} moved away"
        );
    }
    // The link itself was moved; what it points at is untouched.
    assert!(
        std::fs::symlink_metadata(inbox.join("failed/lank.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&secret).unwrap(), b"not for the robot");
    assert_eq!(
        case_by_ext(&rt, "EX-2021-0001").await.summary.state,
        CaseState::AwaitingApproval
    );
}

async fn changed_resubmission(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let clock = clock_at("2026-03-01T10:00:00Z");
    register_agrees(&env, &["2021-03"]);
    let rt = env.runtime(clock.clone()).await;
    let original = env.dir.path().join("original.json");
    std::fs::copy(example(), &original).unwrap();
    let ext: String =
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&original).unwrap()).unwrap()["external_id"]
            .as_str()
            .unwrap()
            .into();
    std::fs::copy(&original, env.inbox().join("a.json")).unwrap();
    run_and_drain(&rt).await;
    let first = case_by_ext(&rt, &ext).await;
    assert_ne!(draft_of(&first).outcome(), Outcome::Manuell);

    // The same bytes again (a re-delivery after a crash): a harmless duplicate.
    std::fs::copy(&original, env.inbox().join("a-igen.json")).unwrap();
    clock.advance(chrono::Duration::minutes(1));
    let report = run_and_drain(&rt).await;
    assert_eq!((report.counts.fetched, report.counts.duplicates), (0, 1));

    // Changed content under the same external id: a new version for a person.
    variant(&original, &env.inbox().join("a-andrad.json"), |v| {
        v["costs"]["rent"] = serde_json::json!(99999)
    });
    clock.advance(chrono::Duration::minutes(1));
    let report = run_and_drain(&rt).await;
    assert_eq!((report.counts.fetched, report.counts.duplicates), (1, 0));
    let second = case_by_ext(&rt, &format!("{ext}~v2")).await;
    assert_eq!(second.summary.state, CaseState::AwaitingApproval);
    let d = draft_of(&second);
    assert_eq!(d.outcome(), Outcome::Manuell);
    assert_eq!(d.amount(), None);
    assert!(d.codes().contains(&ReasonCode::ANDRAD_ANSOKAN), "{:?}", d.codes());
    assert_eq!(d.external_id(), ext, "the external id is kept in the application");
    let texts: Vec<&str> = d.reasons().iter().map(|r| r.text.as_str()).collect();
    let want = format!(
        "Ansökan har kommit in på nytt med ändrat innehåll; tidigare version: ärende {} ({})",
        first.summary.id,
        first.summary.diarienummer.as_deref().unwrap()
    );
    assert!(texts.iter().any(|t| t.starts_with(&want)), "{texts:?}");
    assert!(
        d.trace().iter().any(|t| t.rule == "manuell.andrad_ansokan"),
        "the routing is in the trace"
    );
    assert_eq!(
        audit_kinds(&rt, second.summary.id).await,
        ["fetched", "resubmitted", "evaluated", "drafted"]
    );
    // The first version is untouched.
    assert_eq!(
        case_by_ext(&rt, &ext).await.draft_json,
        first.draft_json,
        "the earlier version keeps its draft"
    );

    // Either version delivered again is a duplicate; a third change is version 3.
    std::fs::copy(&original, env.inbox().join("a-tredje-gangen.json")).unwrap();
    variant(&original, env.inbox().join("a-andrad-igen.json").as_path(), |v| {
        v["costs"]["rent"] = serde_json::json!(99999)
    });
    clock.advance(chrono::Duration::minutes(1));
    let report = run_and_drain(&rt).await;
    assert_eq!((report.counts.fetched, report.counts.duplicates), (0, 2));
    variant(&original, &env.inbox().join("a-v3.json"), |v| {
        v["costs"]["rent"] = serde_json::json!(1)
    });
    clock.advance(chrono::Duration::minutes(1));
    run_and_drain(&rt).await;
    let third = case_by_ext(&rt, &format!("{ext}~v3")).await;
    let d = draft_of(&third);
    assert!(d.reasons().iter().any(|r| {
        r.text
            .contains(&format!("tidigare version: ärende {}", second.summary.id))
    }));
}

#[tokio::test]
async fn a_changed_resubmission_is_a_new_version_for_a_person_sqlite() {
    changed_resubmission(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_changed_resubmission_is_a_new_version_for_a_person_postgres() {
    changed_resubmission(Engine::Postgres).await;
}

async fn same_person_same_period(engine: Engine) {
    let mut env = TestEnv::new(engine).await;
    env.settings.robots[0].options.same_period_check = true;
    register_agrees(&env, &["2021-03", "2021-04"]);
    let clock = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    std::fs::copy(example(), env.inbox().join("forsta.json")).unwrap();
    run_and_drain(&rt).await;
    let first = case_by_ext(&rt, "EX-2021-0001").await;
    let first_draft = draft_of(&first);
    assert_ne!(first_draft.outcome(), Outcome::Manuell);

    // The same applicant and period under a new external id (from any
    // source); and the same applicant for another period.
    variant(&example(), &env.inbox().join("andra.json"), |v| {
        v["external_id"] = serde_json::json!("EX-2021-0001-B")
    });
    variant(&example(), &env.inbox().join("april.json"), |v| {
        v["external_id"] = serde_json::json!("EX-2021-0001-APRIL");
        v["period"] = serde_json::json!("2021-04");
    });
    clock.advance(chrono::Duration::minutes(1));
    run_and_drain(&rt).await;

    let second = case_by_ext(&rt, "EX-2021-0001-B").await;
    let d = draft_of(&second);
    assert_eq!(d.outcome(), Outcome::Manuell, "never drafted as a second payment");
    assert_eq!(d.amount(), None);
    assert_eq!(d.codes(), [ReasonCode::DUBBLETT_PERIOD]);
    let reason = d
        .reasons()
        .iter()
        .find(|r| r.code == "dubblett_period")
        .expect("a reason for the official");
    assert!(
        reason.text.contains(&format!(
            "ärende {} ({})",
            first.summary.id,
            first.summary.diarienummer.as_deref().unwrap()
        )),
        "{}",
        reason.text
    );
    assert!(!reason.lagrum.is_empty());
    // The calculation stays for the official to start from.
    assert_eq!(d.calculation(), first_draft.calculation());
    assert_eq!(second.summary.outcome, Some(Outcome::Manuell));
    assert_eq!(second.summary.amount_ore, None);

    let april = draft_of(&case_by_ext(&rt, "EX-2021-0001-APRIL").await);
    assert_ne!(april.outcome(), Outcome::Manuell, "another period is not a duplicate");
    assert!(!april.codes().contains(&ReasonCode::DUBBLETT_PERIOD));
    // The first case is left as it was.
    assert_eq!(draft_of(&case_by_ext(&rt, "EX-2021-0001").await), first_draft);

    // An invalid case for the same person and period does not count.
    let mut env2 = TestEnv::new(Engine::Sqlite).await;
    env2.settings.robots[0].options.same_period_check = true;
    register_agrees(&env2, &["2021-03"]);
    let rt2 = env2.runtime(clock.clone()).await;
    variant(&example(), &env2.inbox().join("trasig.json"), |v| {
        v["costs"]["rent"] = serde_json::json!(-1)
    });
    run_and_drain(&rt2).await;
    variant(&example(), &env2.inbox().join("hel.json"), |v| {
        v["external_id"] = serde_json::json!("EX-2021-0001-HEL")
    });
    clock.advance(chrono::Duration::minutes(1));
    run_and_drain(&rt2).await;
    assert_ne!(
        draft_of(&case_by_ext(&rt2, "EX-2021-0001-HEL").await).outcome(),
        Outcome::Manuell
    );
}

#[tokio::test]
async fn a_second_application_for_the_same_person_and_period_goes_to_a_person_sqlite() {
    same_person_same_period(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_second_application_for_the_same_person_and_period_goes_to_a_person_postgres() {
    same_person_same_period(Engine::Postgres).await;
}

/// LOW-10: a robot lock left by a process that died (on another machine,
/// so nobody can tell it is gone) blocks fetching for less than one
/// schedule interval.
async fn crashed_lock(engine: Engine) {
    let mut env = TestEnv::new(engine).await;
    env.settings.robots[0].schedule = "* * * * *".into();
    let clock = clock_at("2026-03-01T10:00:30Z");
    let rt = env.runtime(clock.clone()).await;
    let robot = &rt.robots["r1"];
    let ttl = scheduler::lock_ttl(&robot.schedule, rt.settings.lease(), clock.now());
    let interval = robot.schedule.interval(clock.now()).unwrap();
    assert!(chrono::Duration::from_std(ttl).unwrap() <= interval / 2);
    // What a run took just before `kill -9`.
    assert!(
        rt.store
            .try_lock_robot("r1", "andra-maskinen-4242-0badf00d", ttl)
            .await
            .unwrap()
    );
    assert!(
        run_robot(&rt, "r1", Trigger::Schedule, clock.now())
            .await
            .unwrap()
            .is_none(),
        "blocked while the lock lasts"
    );
    clock.advance(interval);
    let fire = clock.now();
    assert!(
        run_robot(&rt, "r1", Trigger::Schedule, fire).await.unwrap().is_some(),
        "the next fire time runs"
    );
}

#[tokio::test]
async fn a_crashed_robot_lock_blocks_for_less_than_one_interval_sqlite() {
    crashed_lock(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_crashed_robot_lock_blocks_for_less_than_one_interval_postgres() {
    crashed_lock(Engine::Postgres).await;
}

/// A process on this machine that died is recognised at the next start:
/// its robot lock and its leases are taken over at once.
#[tokio::test]
async fn locks_and_leases_of_a_dead_local_instance_are_taken_over_at_start() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let clock = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    std::fs::copy(example(), env.inbox().join("a.json")).unwrap();
    // A manual run stores the case; nobody works it yet.
    run_robot(&rt, "r1", Trigger::Manual, clock.now())
        .await
        .unwrap()
        .unwrap();
    // A process that has exited, named the way hrobot names its instances.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let host = rt.owner.rsplitn(3, '-').nth(2).unwrap().to_string();
    let dead = format!("{host}-{pid}-deadbeef");
    let lease = rt.settings.lease();
    assert!(rt.store.try_lock_robot("r1", &dead, lease).await.unwrap());
    assert_eq!(rt.store.claim(&dead, lease, 10).await.unwrap().len(), 1);
    // Another live instance on another machine is left alone.
    let other = "andra-maskinen-4242-0badf00d";
    assert!(rt.store.try_lock_robot("r2", other, lease).await.unwrap());
    drop(rt);

    // The restart.
    clock.advance(chrono::Duration::seconds(1));
    let rt = env.runtime(clock.clone()).await;
    assert_eq!(
        rt.store.claim(&rt.owner, lease, 10).await.unwrap().len(),
        1,
        "the lease was taken over"
    );
    assert!(
        run_robot(&rt, "r1", Trigger::Schedule, clock.now())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !rt.store.try_lock_robot("r2", &rt.owner, lease).await.unwrap(),
        "not a local instance"
    );
}

/// A source whose listing waits until the test lets it go: a long run.
struct Slow {
    inner: std::sync::Arc<dyn connectors::ApplicationSource>,
    go: std::sync::Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl connectors::ApplicationSource for Slow {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn list_new(&self, limit: usize) -> Result<Vec<connectors::ItemRef>, connectors::ConnectorError> {
        self.go.notified().await;
        self.inner.list_new(limit).await
    }
    async fn fetch(&self, item: &connectors::ItemRef) -> Result<Vec<u8>, connectors::ConnectorError> {
        self.inner.fetch(item).await
    }
    async fn acknowledge(
        &self,
        item: &connectors::ItemRef,
        ack: &connectors::Ack,
    ) -> Result<(), connectors::ConnectorError> {
        self.inner.acknowledge(item, ack).await
    }
    async fn health(&self) -> Result<(), connectors::ConnectorError> {
        self.inner.health().await
    }
}

/// A live run keeps its short lock by renewing it: another instance cannot
/// take it even after the lock's first length has passed.
#[tokio::test]
async fn a_long_run_renews_its_robot_lock() {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    env.settings.robots[0].schedule = "* * * * *".into();
    let clock = clock_at("2026-03-01T10:00:30Z");
    let mut rt = env.runtime(clock.clone()).await;
    let go = std::sync::Arc::new(tokio::sync::Notify::new());
    let robot = rt.robots.get_mut("r1").unwrap();
    robot.source = std::sync::Arc::new(Slow {
        inner: robot.source.clone(),
        go: go.clone(),
    });
    let ttl = scheduler::lock_ttl(&rt.robots["r1"].schedule, rt.settings.lease(), clock.now());
    assert_eq!(ttl, std::time::Duration::from_secs(30));
    let rt = std::sync::Arc::new(rt);
    let run = tokio::spawn({
        let rt = rt.clone();
        let fire = clock.now();
        async move { run_robot(&rt, "r1", Trigger::Schedule, fire).await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let other = "andra-maskinen-4242-0badf00d";
    assert!(
        !rt.store.try_lock_robot("r1", other, ttl).await.unwrap(),
        "the run holds the lock"
    );
    // 25 s pass on the store's clock; the run renews (every 10 s of real time).
    clock.advance(chrono::Duration::seconds(25));
    tokio::time::sleep(std::time::Duration::from_millis(10_500)).await;
    clock.advance(chrono::Duration::seconds(25));
    // 50 s after the start: without a renewal the 30 s lock would be gone.
    assert!(
        !rt.store.try_lock_robot("r1", other, ttl).await.unwrap(),
        "renewed while the run lasts"
    );
    go.notify_one();
    assert!(run.await.unwrap().is_some());
    assert!(
        rt.store.try_lock_robot("r1", other, ttl).await.unwrap(),
        "released when the run ends"
    );
}
