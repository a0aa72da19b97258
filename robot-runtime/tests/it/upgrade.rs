//! Upgrades. A database made by the previous release (hrobot 0.1.0, commit
//! 71d3a5c; `robot-runtime/tests/data/release-0.1.0-71d3a5c/`, whose README
//! says how) is opened by this code on both engines: the migrations run,
//! `hrobot audit verify --cases` passes, every case reads back, a new
//! application is drafted and a decision is made and sent. And a database
//! migrated past what this binary knows is refused before anything is
//! touched (the rolling-upgrade rule in ops/runbooks/operations.md).

use crate::approval::official;
use crate::backup::hrobot_at;
use crate::support::*;
use robot_runtime::approval::{self, ApprovalResult, ApprovalSettings, Channel, Role};
use robot_runtime::pipeline::{drain_run, run_robot};
use robot_runtime::store::Trigger;
use std::path::{Path, PathBuf};

const RELEASE: &str = "tests/data/release-0.1.0-71d3a5c";

fn release_dir(engine: Engine) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(RELEASE)
        .join(match engine {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        })
}

fn gunzip(p: &Path) -> Vec<u8> {
    let o = std::process::Command::new("gzip").arg("-dc").arg(p).output().unwrap();
    assert!(o.status.success(), "gzip -dc {}", p.display());
    o.stdout
}

/// A test environment whose keys and database are the release's.
async fn load_release(engine: Engine) -> TestEnv {
    let env = TestEnv::new(engine).await;
    let rel = release_dir(engine);
    for k in ["audit-signing.key", "master.key"] {
        std::fs::copy(rel.join(k), env.dir.path().join(k)).unwrap();
    }
    match &env._pg {
        None => {
            let db = env.dir.path().join("hrobot.sqlite");
            std::fs::write(&db, gunzip(&rel.join("hrobot.sqlite.gz"))).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Some(pg) => {
            use sqlx::Connection;
            // A plain pg_dump (INSERTs, no COPY): sqlx runs it as it is,
            // but for psql's `\restrict` lines, which are not SQL.
            let sql: String = String::from_utf8(gunzip(&rel.join("hrobot.sql.gz")))
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with('\\'))
                .map(|l| format!("{l}\n"))
                .collect();
            let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap();
            c.close().await.unwrap();
        }
    }
    env
}

async fn upgrade_from_the_previous_release(engine: Engine) {
    let mut env = load_release(engine).await;
    env.settings.robots[0].lookups.clear();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release_dir(engine).join("expected.json")).unwrap()).unwrap();
    let data = env.dir.path().to_path_buf();
    let url = env._pg.as_ref().map(|p| p.url.clone());
    // Opening with this code runs the migrations.
    let rt = env.runtime(clock_at("2026-12-07T09:00:00Z")).await;
    let v = hrobot_at(&data, url.as_deref(), &["audit", "verify", "--cases"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    assert!(stdout(&v).contains("cases agree with"), "{}", stdout(&v));

    // Every case reads back, in the states the old release left them.
    let cases = rt.store.list_cases(None, None, 100_000, 0).await.unwrap();
    let ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
    let want: Vec<i64> = expected["case_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ids, want);
    let mut states = std::collections::BTreeMap::<String, u64>::new();
    for c in &cases {
        *states.entry(c.state.as_str().to_string()).or_default() += 1;
        let d = rt.store.case_detail(c.id).await.unwrap();
        if let Some(draft) = &d.draft_json {
            serde_json::from_str::<serde_json::Value>(draft).unwrap();
        }
    }
    let want_states: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(expected["states"].clone()).unwrap();
    assert_eq!(states, want_states);
    assert!(
        states.len() >= 4,
        "the release data holds cases in several states: {states:?}"
    );

    // A new application runs through to a draft, and is decided and sent.
    let ids_new = env.put(&[ruleset().join("tests/01-ensamstaende-utan-inkomst.json")]);
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(&rt, report.run_id, |_, _| {}).await.unwrap();
    let all = rt.store.list_cases(None, None, 100_000, 0).await.unwrap();
    let new = all.iter().find(|c| c.external_id == ids_new[0]).unwrap();
    assert_eq!(new.state, domain::CaseState::AwaitingApproval, "{:?}", new.state_reason);
    let s = ApprovalSettings::default();
    let ch = Channel("maildir");
    let mut r = approval::approve(&rt.store, &s, &ch, new.id, &official(1, &[Role::Handlaggare], None))
        .await
        .unwrap();
    if r == ApprovalResult::AwaitingSecondApproval {
        r = approval::approve(&rt.store, &s, &ch, new.id, &official(2, &[Role::Handlaggare], None))
            .await
            .unwrap();
    }
    assert_eq!(r, ApprovalResult::Approved);
    assert!(robot_runtime::outbox::deliver_once(&rt.outbox).await.unwrap() >= 1);
    assert_eq!(
        rt.store.case_detail(new.id).await.unwrap().summary.state,
        domain::CaseState::Sent
    );
    rt.store.close().await;
    let v = hrobot_at(&data, url.as_deref(), &["audit", "verify", "--cases"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_the_previous_release_sqlite() {
    upgrade_from_the_previous_release(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_the_previous_release_postgres() {
    upgrade_from_the_previous_release(Engine::Postgres).await;
}

/// A rolling upgrade where a node is older than the database: it refuses
/// to start, and changes nothing.
async fn a_database_migrated_past_this_binary_is_refused(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let rt = env.runtime(clock_at("2026-03-01T10:00:00Z")).await;
    rt.store.close().await;
    let url = env.settings.database_url().expose().clone();
    let db = audit::Db::connect(&url).await.unwrap();
    let count = |db: audit::Db| async move {
        match &db {
            audit::Db::Sqlite(p) => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(p)
                .await
                .unwrap(),
            audit::Db::Postgres(p) => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(p)
                .await
                .unwrap(),
        }
    };
    // What a newer hrobot's migration leaves behind.
    match &db {
        audit::Db::Sqlite(p) => {
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (99999, 'from a newer hrobot', 1, X'00', 0)",
            )
            .execute(p)
            .await
            .unwrap();
        }
        audit::Db::Postgres(p) => {
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (99999, 'from a newer hrobot', TRUE, '\\x00'::bytea, 0)",
            )
            .execute(p)
            .await
            .unwrap();
        }
    }
    let before = count(db.clone()).await;
    let e = robot_runtime::runtime::open_store(&env.settings, clock_at("2026-03-01T10:00:00Z"))
        .await
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("migrations this hrobot does not know (99999)"), "{msg}");
    let url_arg = env._pg.as_ref().map(|p| p.url.clone());
    let o = hrobot_at(env.dir.path(), url_arg.as_deref(), &["cases", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("upgraded by a newer hrobot"), "{}", stderr(&o));
    assert_eq!(count(db.clone()).await, before, "nothing was migrated");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_past_this_binary_is_refused_sqlite() {
    a_database_migrated_past_this_binary_is_refused(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_past_this_binary_is_refused_postgres() {
    a_database_migrated_past_this_binary_is_refused(Engine::Postgres).await;
}
