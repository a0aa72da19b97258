//! Applications per second from the inbox to a stored, audited draft.
//!
//! `cargo bench -p robot-runtime --bench pipeline [-- N]`: N applications
//! (default 5,000) through the real pipeline (file inbox, file register,
//! the ekonomiskt-bistand ruleset, the store with its audit log), on SQLite
//! and on PostgreSQL with one and two workers. Prints one line per setup.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use robot_runtime::clock::SystemClock;
use robot_runtime::config::{LookupSettings, Missed, RobotOptions, RobotSettings, Settings, SourceSettings};
use robot_runtime::pipeline::{run_robot, worker};
use robot_runtime::runtime::Runtime;
use robot_runtime::store::Trigger;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// N applications (the shipped valid cases, renumbered) and register answers that agree.
fn prepare(dir: &Path, n: usize) {
    let inbox = dir.join("inbox");
    let register = dir.join("register");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(&register).unwrap();
    let tests = repo().join("rulesets/ekonomiskt-bistand/tests");
    let mut templates = Vec::new();
    for (_, input, expected) in sandbox::testing::cases(&tests).unwrap() {
        let e: serde_json::Value = serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
        if e.get("exit_code").is_none() {
            templates.push(serde_json::from_slice::<serde_json::Value>(&std::fs::read(input).unwrap()).unwrap());
        }
    }
    for i in 0..n {
        let mut v = templates[i % templates.len()].clone();
        v["external_id"] = serde_json::json!(format!("BENCH-{i:07}"));
        std::fs::write(inbox.join(format!("BENCH-{i:07}.json")), v.to_string()).unwrap();
        let period = v["period"].as_str().unwrap().to_string();
        for a in v["household"]["adults"].as_array().unwrap() {
            let p = a["personnummer"].as_str().unwrap().replace('-', "");
            if p.len() == 12 {
                let d = register.join(&p);
                std::fs::create_dir_all(&d).unwrap();
                let f = d.join(format!("{period}.json"));
                if !f.exists() {
                    std::fs::write(f, r#"{"job_seeker": true, "incomes": []}"#).unwrap();
                }
            }
        }
    }
}

async fn pg_database() -> String {
    use sqlx::Connection;
    let name = format!("hrobot_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/test")
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

async fn measure(label: &str, n: usize, pg: bool, workers: usize) {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), n);
    let mut settings = Settings {
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    if pg {
        settings.database.url = Some(audit::secret::Secret::new(pg_database().await));
    }
    settings.workers.concurrency = workers;
    settings.workers.batch = 64;
    settings.workers.poll_millis = 5;
    settings.robots.push(RobotSettings {
        name: "bench".into(),
        enabled: true,
        schedule: "0 0 1 1 *".into(),
        time_zone: "Europe/Stockholm".into(),
        missed: Missed::Skip,
        missed_limit_hours: 24,
        ruleset: repo().join("rulesets/ekonomiskt-bistand"),
        source: SourceSettings::FileInbox {
            path: dir.path().join("inbox"),
        },
        lookups: vec![LookupSettings::FileRegister {
            path: dir.path().join("register"),
        }],
        options: RobotOptions {
            max_items_per_run: n,
            fetch_batch: 500,
            // The generated applications are copies of a few test persons
            // for one period: with the check on, every copy after the first
            // would be a duplicate, which real data is not.
            same_period_check: false,
        },
    });
    robot_runtime::keys::ensure_keys(&settings, "hrobot.invalid/bench").unwrap();
    let rt = Arc::new(Runtime::build(settings, Arc::new(SystemClock)).await.unwrap());

    let started = Instant::now();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        tasks.push(tokio::spawn(worker(rt.clone(), rx.clone())));
    }
    let report = run_robot(&rt, "bench", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    let fetched_at = started.elapsed();
    loop {
        if rt.store.count_open_work().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let _ = stop.send(true);
    for t in tasks {
        t.await.unwrap();
    }
    let drafted = rt
        .store
        .list_cases(Some(domain::CaseState::AwaitingApproval), None, 1_000_000, 0)
        .await
        .unwrap()
        .len();
    assert_eq!(report.counts.fetched as usize, n);
    assert_eq!(drafted, n, "every application drafted");
    rt.store.close().await;
    println!(
        "{label:<34} {n:>6} applications in {:>6.2} s = {:>7.0} applications/s (fetch phase {:.2} s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        fetched_at.as_secs_f64()
    );
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
        .unwrap();
    rt.block_on(async {
        measure("SQLite, 2 workers", n, false, 2).await;
        measure("PostgreSQL, 1 worker", n, true, 1).await;
        measure("PostgreSQL, 2 workers", n, true, 2).await;
    });
}
