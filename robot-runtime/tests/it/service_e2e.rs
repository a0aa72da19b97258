//! The real service: HTTP on port 0 in process, and `hrobot serve` as a
//! process that is killed with SIGKILL in the middle of a 1,000-application
//! run, then restarted; two processes sharing one PostgreSQL, one killed.

use crate::support::*;
use robot_runtime::clock::SystemClock;
use robot_runtime::service::Service;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_on_port_0_and_a_graceful_stop() {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    env.settings.robots[0].schedule = "* * * * * *".into();
    env.settings.robots[0].lookups.clear();
    let witness = env.dir.path().join("witness");
    env.settings.audit.witness_dir = Some(witness.clone());
    env.put(&valid_cases()[..3]);
    let service = Service::build(env.settings.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(service.run(listener, async move {
        let _ = rx.await;
    }));
    let get = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    let mut ready = String::new();
    for _ in 0..100 {
        ready = get("/readyz").await;
        if ready.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
    let mut metrics = String::new();
    for _ in 0..200 {
        metrics = get("/metrics").await;
        // The run is counted when it ends, which can be after its cases
        // are drafted.
        if metrics.contains("hrobot_cases{state=\"awaiting_approval\"} 3") && metrics.contains("hrobot_robot_runs") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metrics.contains("hrobot_cases{state=\"awaiting_approval\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hrobot_work_items_total{result=\"drafted\"} 3"),
        "{metrics}"
    );
    for name in [
        "hrobot_cases",
        "hrobot_robot_runs",
        "hrobot_work_items",
        "hrobot_evaluation_seconds",
        "hrobot_open_work_items",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    assert!(get("/nowhere").await.starts_with("HTTP/1.1 404"));
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // The last checkpoint, signed at the stop, is in the witness directory
    // too, and the log extends it.
    let known = robot_runtime::keys::audit_settings(&env.settings).verifiers().unwrap();
    let (_, kept) = audit::witness::WitnessDir::new(&witness)
        .newest(&known)
        .unwrap()
        .found
        .unwrap();
    let db = audit::Db::connect(&db_url(&env)).await.unwrap();
    let latest = db.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(kept, latest);
    assert!(db.verify_against(&known, Some(&kept.checkpoint)).await.unwrap().is_ok());
}

fn config(env: &TestEnv, path: &Path, lookups: bool) -> PathBuf {
    let db = match &env.settings.database.url {
        Some(u) => u.expose().clone(),
        None => format!("sqlite://{}", env.dir.path().join("hrobot.sqlite").display()),
    };
    let lookup = if lookups {
        format!(
            "[[robots.lookups]]\nkind = \"file_register\"\npath = \"{}\"\n",
            env.register().display()
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"data_dir = "{data}"
[database]
url = "{db}"
[workers]
concurrency = 2
batch = 32
lease_seconds = 5
poll_millis = 50
[audit]
checkpoint_every_events = 500
checkpoint_every_secs = 5
[log]
format = "json"
level = "info"
[[robots]]
name = "r1"
schedule = "*/2 * * * * *"
ruleset = "{ruleset}"
[robots.source]
kind = "file_inbox"
path = "{inbox}"
[robots.options]
fetch_batch = 100
# The generated applications reuse the shipped rule tests' persons and periods.
same_period_check = false
{lookup}"#,
        data = env.dir.path().display(),
        ruleset = ruleset().display(),
        inbox = env.inbox().display(),
    );
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

fn serve(config: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hrobot"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
        .spawn()
        .unwrap()
}

async fn counts(env: &TestEnv) -> (i64, i64, i64) {
    let store = open_store(env).await;
    let all = store.list_cases(None, None, 100_000, 0).await.unwrap();
    let drafted = all
        .iter()
        .filter(|c| c.state == domain::CaseState::AwaitingApproval)
        .count();
    let open = store.count_open_work().await.unwrap();
    store.close().await;
    (all.len() as i64, drafted as i64, open)
}

/// A store handle on the service's database, with the service's keys.
async fn open_store(env: &TestEnv) -> robot_runtime::store::Store {
    let mut settings = env.settings.clone();
    settings.database.max_connections = 2;
    let clock: Arc<dyn robot_runtime::clock::Clock> = Arc::new(SystemClock);
    let audit = robot_runtime::keys::audit_log(&settings, clock.clone()).unwrap();
    robot_runtime::store::Store::open(&db_url(env), 2, Arc::new(audit), clock)
        .await
        .unwrap()
}

async fn wait_until(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn db_url(env: &TestEnv) -> String {
    match &env.settings.database.url {
        Some(u) => u.expose().clone(),
        None => format!("sqlite://{}", env.dir.path().join("hrobot.sqlite").display()),
    }
}

async fn audit_verifies(env: &TestEnv) {
    let url = db_url(env);
    let signer =
        audit::NoteSigner::from_skey(std::fs::read_to_string(env.settings.signing_key_file()).unwrap().trim()).unwrap();
    let db = audit::Db::connect(&url).await.unwrap();
    let report = db.verify(&[signer.verifier()]).await.unwrap();
    assert!(report.is_ok(), "audit log: {:?}", report.problems);
    assert!(report.events > 0);
    db.close().await;
}

async fn exactly_one_case_each(env: &TestEnv, ids: &[String]) {
    let store = open_store(env).await;
    let all = store.list_cases(None, None, 100_000, 0).await.unwrap();
    let mut by_id = std::collections::BTreeMap::new();
    for c in &all {
        *by_id.entry(c.external_id.clone()).or_insert(0) += 1;
    }
    assert_eq!(all.len(), ids.len(), "one case per application");
    for id in ids {
        assert_eq!(by_id.get(id), Some(&1), "{id}");
    }
    assert!(all.iter().all(|c| c.state == domain::CaseState::AwaitingApproval));
    // No application was processed twice: one draft per case.
    let drafts: i64 = match (store.sqlite_pool(), store.postgres_pool()) {
        (Some(p), _) => sqlx::query_scalar("SELECT COUNT(*) FROM drafts")
            .fetch_one(p)
            .await
            .unwrap(),
        (_, Some(p)) => sqlx::query_scalar("SELECT COUNT(*) FROM drafts")
            .fetch_one(p)
            .await
            .unwrap(),
        _ => unreachable!(),
    };
    assert_eq!(drafts, ids.len() as i64, "one draft per case");
    store.close().await;
}

async fn kill9(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let ids = generated(&env.inbox(), 1000);
    let cfg = config(&env, &env.dir.path().join("hrobot.toml"), false);
    let log = env.dir.path().join("serve.log");

    let mut first = serve(&cfg, &log);
    wait_until("the first drafts", Duration::from_secs(120), async || {
        counts(&env).await.1 >= 150
    })
    .await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let (cases, drafted, _) = counts(&env).await;
    assert!(
        drafted < 1000,
        "killed in the middle ({cases} cases, {drafted} drafted)"
    );

    let mut second = serve(&cfg, &log);
    wait_until("every application drafted", Duration::from_secs(240), async || {
        let (c, d, open) = counts(&env).await;
        c == 1000 && d == 1000 && open == 0
    })
    .await;
    // A graceful stop (SIGTERM) signs the last checkpoint.
    let _ = Command::new("kill").arg("-TERM").arg(second.id().to_string()).status();
    let status = second.wait().unwrap();
    assert!(
        status.success(),
        "{status:?}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    exactly_one_case_each(&env, &ids).await;
    audit_verifies(&env).await;
    assert_eq!(env.inbox().join("processed").read_dir().unwrap().count(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_1000_applications_sqlite() {
    kill9(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_1000_applications_postgres() {
    kill9(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_postgres_and_survive_a_kill() {
    let env = TestEnv::new(Engine::Postgres).await;
    let ids = generated(&env.inbox(), 1000);
    let cfg = config(&env, &env.dir.path().join("hrobot.toml"), false);
    let mut a = serve(&cfg, &env.dir.path().join("a.log"));
    let mut b = serve(&cfg, &env.dir.path().join("b.log"));
    wait_until("both working", Duration::from_secs(120), async || {
        counts(&env).await.1 >= 200
    })
    .await;
    a.kill().unwrap();
    a.wait().unwrap();
    wait_until("every application drafted", Duration::from_secs(240), async || {
        let (c, d, open) = counts(&env).await;
        c == 1000 && d == 1000 && open == 0
    })
    .await;
    let _ = Command::new("kill").arg("-TERM").arg(b.id().to_string()).status();
    assert!(b.wait().unwrap().success());
    exactly_one_case_each(&env, &ids).await;
    audit_verifies(&env).await;
    // Both processes did work: leases spread it.
    let store = open_store(&env).await;
    let p = store.postgres_pool().unwrap();
    let workers: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT done_by) FROM work_items WHERE status = 'done'")
        .fetch_one(p)
        .await
        .unwrap();
    store.close().await;
    assert!(workers >= 2, "both workers drafted cases ({workers})");
}
