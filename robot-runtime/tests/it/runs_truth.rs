//! Runs and logs that tell the truth (issue 14, items 8 and 9): a dead
//! node's runs are closed as aborted with what they stored and its robot
//! lock is taken over at once; terminated database connections are
//! retriable and cost no item; the command line ends quietly on a closed
//! pipe; one application's correlation id is in the log lines of its
//! fetch, draft, decision and delivery, with no personal data.

use crate::support::*;
use robot_runtime::approval::{self, ApprovalResult, ApprovalSettings, Channel, Role};
use robot_runtime::outbox::deliver_once;
use robot_runtime::pipeline::{run_robot, work_once};
use robot_runtime::store::{NewCase, RunStatus, StoreError, Trigger, new_correlation_id};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn stored_case(ext: &str, run: i64) -> NewCase {
    NewCase {
        source: "inbox".into(),
        external_id: ext.into(),
        source_ref: format!("{ext}.json"),
        robot: "r1".into(),
        run_id: Some(run),
        document: format!("{{\"external_id\": \"{ext}\"}}").into_bytes(),
        period: Some("2026-03".into()),
        subjects: vec![],
        adults: 0,
        refused: None,
        people: vec![],
        applied: None,
        correlation_id: new_correlation_id(),
    }
}

/// A node on another host fetched 3 applications, holding the robot lock,
/// and stopped answering. Its run is closed as aborted with the 3 it
/// stored, and the next fire time here takes the lock over at once.
async fn dead_node_taken_over(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let clock = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    let dead = "otherhost-4242-deadbeef";
    rt.store.heartbeat(dead, "otherhost", 4242).await.unwrap();
    assert!(
        rt.store
            .try_lock_robot("r1", dead, Duration::from_secs(120))
            .await
            .unwrap()
    );
    let fire = rt.clock.now();
    let run = rt
        .store
        .start_run("r1", fire, Trigger::Schedule, dead)
        .await
        .unwrap()
        .unwrap();
    let cases: Vec<_> = (0..3).map(|i| stored_case(&format!("DEAD-{i}"), run)).collect();
    rt.store.insert_cases(&cases).await.unwrap();

    // While it is alive (seen within the limit), nothing is taken over
    // and the fire time is skipped.
    clock.advance(chrono::Duration::seconds(5));
    rt.store.heartbeat(dead, "otherhost", 4242).await.unwrap();
    clock.advance(chrono::Duration::seconds(10));
    rt.heartbeat().await.unwrap();
    assert_eq!(rt.take_over_dead().await.unwrap(), 0);
    assert_eq!(
        run_robot(&rt, "r1", Trigger::Manual, rt.clock.now()).await.unwrap(),
        None,
        "a live node's lock is respected"
    );
    let runs = rt.store.list_runs(Some("r1"), 10).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Running);

    // No heartbeat for 25 s (> 20 s): dead. The lock's own TTL (120 s)
    // has not run out, yet the next run takes it over.
    clock.advance(chrono::Duration::seconds(25));
    // A node that has only just started (or come back from an outage that
    // cut it off too) has not watched long enough to judge by heartbeats.
    let newcomer = env.runtime(clock.clone()).await;
    assert_eq!(newcomer.take_over_dead().await.unwrap(), 0);
    assert_eq!(
        rt.store.list_runs(Some("r1"), 10).await.unwrap()[0].status,
        RunStatus::Running
    );
    rt.heartbeat().await.unwrap();
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .expect("the dead node's lock is taken over at once");
    let runs = rt.store.list_runs(Some("r1"), 10).await.unwrap();
    let aborted = runs.iter().find(|r| r.id == run).unwrap();
    assert_eq!(aborted.status, RunStatus::Aborted);
    assert_eq!(aborted.counts.fetched, 3, "what the dead run stored");
    assert!(aborted.error.as_deref().unwrap().contains(dead), "{:?}", aborted.error);
    let mine = runs.iter().find(|r| r.id == report.run_id).unwrap();
    assert_eq!(mine.status, RunStatus::Succeeded);
    // The dead node is forgotten: taken over once, logged once.
    assert!(rt.store.nodes().await.unwrap().iter().all(|n| n.id != dead));
    assert_eq!(rt.take_over_dead().await.unwrap(), 0);
    rt.store.close().await;
}

#[tokio::test]
async fn a_dead_nodes_run_is_aborted_and_its_lock_taken_over_sqlite() {
    dead_node_taken_over(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_dead_nodes_run_is_aborted_and_its_lock_taken_over_postgres() {
    dead_node_taken_over(Engine::Postgres).await;
}

/// What `pg_terminate_backend` (and a failover) does to a connection in
/// use: the error it gives is classed retriable.
#[tokio::test]
async fn a_terminated_postgres_connection_is_retriable() {
    use sqlx::Connection;
    let db = PgDb::create().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(killed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = sqlx::query("SELECT 1").execute(&mut conn).await.unwrap_err();
    let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned());
    let e = StoreError::from(e);
    assert!(e.is_retriable(), "{e} ({code:?})");
    // And what the server says to new connections while it refuses them.
    for (code, retriable) in [
        ("57P01", true),
        ("57P02", true),
        ("57P03", true),
        ("08006", true),
        ("08001", true),
        ("53300", true),
        ("40001", true),
        ("40P01", true),
        ("23505", false),
        ("42P01", false),
    ] {
        assert_eq!(robot_runtime::store::is_retriable_code(code), retriable, "{code}");
    }
}

/// Workers draft 48 applications while every connection of the database is
/// terminated every 20 ms: the work completes, no item fails or is retried
/// for it, and every case has its draft.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_mid_work_cost_no_item() {
    let mut env = TestEnv::new(Engine::Postgres).await;
    env.settings.robots[0].lookups.clear();
    env.settings.workers.batch = 4;
    let n = 48;
    generated(&env.inbox(), n);
    let clock = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.counts.fetched, n as i64);

    let url = env.settings.database_url().expose().to_string();
    let db_name = url.rsplit('/').next().unwrap().to_string();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut admin = sqlx::PgConnection::connect(PG_ADMIN).await.unwrap();
            let mut terminated = 0i64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()) t",
                )
                .bind(&db_name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
                terminated += n;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            terminated
        })
    };
    let mut retriable_errors = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        assert!(std::time::Instant::now() < deadline, "the work did not complete");
        match work_once(&rt).await {
            Ok(_) => {}
            Err(e) if e.is_retriable() => retriable_errors += 1,
            Err(e) => panic!("a dropped connection was not retriable: {e}"),
        }
        match rt.store.open_work_for_run(report.run_id).await {
            Ok((0, 0)) => break,
            Ok(_) => {}
            Err(e) if e.is_retriable() => {}
            Err(e) => panic!("{e}"),
        }
        // Items whose batch failed on a dropped connection keep their
        // lease: move time past it, as the service's clock would.
        clock.advance(chrono::Duration::seconds(5));
        if retriable_errors > 0 {
            clock.advance(chrono::Duration::from_std(rt.settings.lease()).unwrap());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let terminated = killer.await.unwrap();
    assert!(terminated > 0, "connections were terminated during the work");
    let states = rt.store.run_states(report.run_id).await.unwrap();
    if states != vec![(domain::CaseState::AwaitingApproval, n as i64)] {
        for c in rt.store.list_cases(None, None, 100, 0).await.unwrap() {
            eprintln!("{} {:?} {:?}", c.id, c.state, c.state_reason);
        }
    }
    assert_eq!(
        states,
        vec![(domain::CaseState::AwaitingApproval, n as i64)],
        "every case drafted, none failed ({retriable_errors} retriable errors, {terminated} connections terminated)"
    );
    rt.store.close().await;
}

/// `hrobot … | head -1`: the reader goes away; the process ends quietly.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.key");
    let ruleset = ruleset();
    let commands: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["rules".into(), "test".into(), ruleset.into_os_string()],
        vec![
            "audit".into(),
            "keygen".into(),
            "--origin".into(),
            "kommun.example/pipe".into(),
            "--out".into(),
            key.into_os_string(),
        ],
    ];
    for args in commands {
        let mut child = hrobot()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first line is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            matches!(out.status.code(), Some(0 | 141)),
            "{args:?}: exit {:?}: {err}",
            out.status
        );
    }
}

/// A `Write` into a shared buffer, for capturing the JSON log.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One application from the inbox to the outbox with JSON logs captured:
/// the same correlation id on the lines of its fetch, draft, decision and
/// delivery; no personnummer or name on any line.
#[tokio::test]
async fn one_correlation_id_follows_an_application_to_its_delivery() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut env = TestEnv::new(Engine::Sqlite).await;
    let (rt, ids) = crate::approval::cases_with_clock(
        &mut env,
        &["01-ensamstaende-utan-inkomst"],
        clock_at("2026-03-01T10:00:00Z"),
    )
    .await;
    let case = ids[0];
    let official = crate::approval::official(1, &[Role::Handlaggare], None);
    assert_eq!(
        approval::approve(
            &rt.store,
            &ApprovalSettings::default(),
            &Channel("maildir"),
            case,
            &official
        )
        .await
        .unwrap(),
        ApprovalResult::Approved
    );
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 1);
    let correlation = rt.store.correlation_id(case).await.unwrap().unwrap();
    assert_eq!(correlation.len(), 32);
    rt.store.close().await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let with_id = |message: &str| {
        lines
            .iter()
            .filter(|l| l["fields"]["message"] == message)
            .filter(|l| l.to_string().contains(&correlation))
            .count()
    };
    for message in [
        "application fetched",
        "draft stored",
        "decision recorded",
        "decision delivered",
    ] {
        assert_eq!(with_id(message), 1, "{message:?} with {correlation} in:\n{text}");
    }
    // The application's personnummer (both forms) and name appear nowhere.
    for secret in ["198112189876", "811218-9876", "8112189876", "Tolvan", "Exempel"] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
}

/// Every HTTP answer carries a request id: the caller's when it is well
/// formed, else a fresh one; the id is on the request's log lines.
#[tokio::test]
async fn every_request_has_a_request_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let env = crate::web_support::web_env(Engine::Sqlite).await;
    let app = crate::web_support::WebApp::start_with(env, clock_at("2021-03-10T09:00:00Z")).await;
    let c = crate::web_support::client();
    let id_of = |r: &reqwest::Response| r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
    let r = c
        .get(format!("{}/healthz", app.base))
        .header("X-Request-Id", "lb-4711.a")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&r).as_deref(), Some("lb-4711.a"), "the caller's id is kept");
    let a = id_of(&c.get(format!("{}/healthz", app.base)).send().await.unwrap()).unwrap();
    let b = id_of(&c.get(format!("{}/finns-inte", app.base)).send().await.unwrap()).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b, "a fresh id per request, also for a 404");
    let forged = id_of(
        &c.get(format!("{}/healthz", app.base))
            .header("X-Request-Id", "x\"} {\"level\":\"ERROR")
            .send()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(forged.len(), 32, "a malformed id is replaced: {forged}");
    // A line logged inside a request (a failed login) carries its id.
    let page = c.get(app.url("/logga-in")).send().await.unwrap();
    let cookie = crate::web_support::set_cookie(&page, "hrobot-login").unwrap();
    let html = page.text().await.unwrap();
    let token = crate::web_support::field(&html, "_login").unwrap();
    let r = c
        .post(app.url("/logga-in"))
        .header("cookie", format!("hrobot-login={cookie}"))
        .header("X-Request-Id", "login-try-1")
        .form(&[
            ("_login", token.as_str()),
            ("anvandarnamn", "finns-inte"),
            ("losenord", "fel"),
            ("nasta", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&r).as_deref(), Some("login-try-1"));
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("login failed") && l.contains("\"request_id\":\"login-try-1\"")),
        "{text}"
    );
}

/// A run that fails while storing keeps the cause in its stored error
/// (what `hrobot robots runs` shows), each cause once.
#[tokio::test]
async fn a_failed_runs_error_keeps_its_cause() {
    let mut env = TestEnv::new(Engine::Postgres).await;
    env.settings.robots[0].lookups.clear();
    generated(&env.inbox(), 3);
    let rt = env.runtime(clock_at("2026-03-01T10:00:00Z")).await;
    // The documents' table is gone: storing fails in the database.
    sqlx::query("ALTER TABLE applications RENAME TO applications_away")
        .execute(rt.store.postgres_pool().unwrap())
        .await
        .unwrap();
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    let run = rt
        .store
        .list_runs(Some("r1"), 1)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == report.run_id)
        .unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap();
    assert!(
        error.starts_with("storing fetched applications: database: ")
            && error.contains("relation \"applications\" does not exist"),
        "{error}"
    );
    assert_eq!(error.matches("does not exist").count(), 1, "each cause once: {error}");
    rt.store.close().await;
}
