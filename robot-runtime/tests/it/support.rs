//! Helpers shared by the CLI tests.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root (the workspace folder).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `../shared` beside the repository, where the product's examples live.
pub fn shared() -> PathBuf {
    repo().parent().unwrap().join("shared")
}

pub fn ruleset() -> PathBuf {
    repo().join("rulesets/ekonomiskt-bistand")
}

pub fn hrobot() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hrobot"));
    c.current_dir(repo());
    c
}

pub fn run(args: &[&str]) -> Output {
    hrobot().args(args).output().unwrap()
}

/// [`run`] beside a service running in this test's runtime: the command runs
/// on a blocking thread while the runtime goes on driving the service, so a
/// transaction the service has open when the command starts is finished
/// instead of holding the database until the command gives up.
pub async fn run_beside(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || hrobot().args(&args).output().unwrap())
        .await
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// ---------------------------------------------------------------- the service

use robot_runtime::clock::{Clock, ManualClock};
use robot_runtime::config::{LookupSettings, Missed, RobotOptions, RobotSettings, Settings, SourceSettings};
use robot_runtime::runtime::Runtime;
use std::sync::Arc;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub const ENGINES: [Engine; 2] = [Engine::Sqlite, Engine::Postgres];

/// A fresh PostgreSQL database, dropped when this is dropped.
pub struct PgDb {
    pub url: String,
    name: String,
}

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

impl PgDb {
    pub async fn create() -> PgDb {
        use sqlx::Connection;
        let name = format!("hrobot_test_{}", hex::encode(audit::event::EventId::random().0));
        let mut admin = sqlx::PgConnection::connect(PG_ADMIN)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (cargo xtask ci starts it)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        PgDb {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Best effort, from a thread of its own (we may be inside a runtime).
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(PG_ADMIN).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A data directory with keys, an inbox and a register, and settings for one robot.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    /// Kept so the database lives as long as the test.
    pub _pg: Option<PgDb>,
}

impl TestEnv {
    pub async fn new(engine: Engine) -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        std::fs::create_dir_all(data.join("inbox")).unwrap();
        std::fs::create_dir_all(data.join("register")).unwrap();
        let mut settings = Settings {
            data_dir: data.clone(),
            ..Settings::default()
        };
        let pg = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => {
                let db = PgDb::create().await;
                settings.database.url = Some(audit::secret::Secret::new(db.url.clone()));
                Some(db)
            }
        };
        settings.workers.batch = 16;
        settings.workers.concurrency = 2;
        settings.workers.backoff_base_seconds = 10;
        settings.workers.backoff_cap_seconds = 80;
        settings.workers.max_attempts = 4;
        settings.workers.poll_millis = 20;
        settings.robots.push(RobotSettings {
            name: "r1".into(),
            enabled: true,
            schedule: "*/10 * * * *".into(),
            time_zone: "Europe/Stockholm".into(),
            missed: Missed::Skip,
            missed_limit_hours: 24,
            ruleset: ruleset(),
            source: SourceSettings::FileInbox {
                path: data.join("inbox"),
            },
            lookups: vec![LookupSettings::FileRegister {
                path: data.join("register"),
            }],
            // The shipped rule tests reuse one test person for one period
            // in most applications; the same-period check would send all
            // but the first to a person. Its own tests turn it on.
            options: RobotOptions {
                same_period_check: false,
                ..RobotOptions::default()
            },
        });
        robot_runtime::keys::ensure_keys(&settings, "hrobot.invalid/test").unwrap();
        TestEnv { dir, settings, _pg: pg }
    }

    pub fn inbox(&self) -> PathBuf {
        self.dir.path().join("inbox")
    }

    pub fn register(&self) -> PathBuf {
        self.dir.path().join("register")
    }

    pub async fn runtime(&self, clock: Arc<dyn Clock>) -> Runtime {
        Runtime::build(self.settings.clone(), clock).await.unwrap()
    }

    /// Copies applications into the inbox; returns their external ids.
    pub fn put(&self, files: &[PathBuf]) -> Vec<String> {
        let mut ids = Vec::new();
        for f in files {
            let name = f.file_name().unwrap();
            std::fs::copy(f, self.inbox().join(name)).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            ids.push(v["external_id"].as_str().unwrap_or_default().to_string());
        }
        ids
    }

    /// Writes a register answer for a person.
    pub fn answer(&self, pnr: &str, period: &str, json: &str) {
        let d = self.register().join(pnr);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("{period}.json")), json).unwrap();
    }
}

pub fn clock_at(s: &str) -> Arc<ManualClock> {
    ManualClock::new(s.parse().unwrap())
}

/// The shipped cases that are valid applications.
pub fn valid_cases() -> Vec<PathBuf> {
    let dir = ruleset().join("tests");
    let mut out = Vec::new();
    for (name, input, expected) in sandbox::testing::cases(&dir).unwrap() {
        let e: serde_json::Value = serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
        if e.get("exit_code").is_none() {
            let _ = name;
            out.push(input);
        }
    }
    out
}

/// Writes `n` distinct valid applications (copies of shipped cases with new ids).
pub fn generated(dir: &std::path::Path, n: usize) -> Vec<String> {
    let templates = valid_cases();
    let mut ids = Vec::new();
    for i in 0..n {
        let t = &templates[i % templates.len()];
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(t).unwrap()).unwrap();
        let id = format!("GEN-{i:06}");
        v["external_id"] = serde_json::json!(id);
        std::fs::write(dir.join(format!("{id}.json")), v.to_string()).unwrap();
        ids.push(id);
    }
    ids
}
