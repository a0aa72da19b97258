//! `hrobot backup` while the pipeline keeps drafting and officials keep
//! deciding, then `hrobot restore` into an empty place, on both engines:
//! everything committed before the backup began is there, the restored log
//! verifies and the case store agrees with it; a backup with one changed
//! row is refused and nothing is put in place; a non-empty target is
//! refused unless `--force`.

use crate::approval::official;
use crate::support::*;
use domain::CaseState;
use robot_runtime::approval::{self, ApprovalSettings, Channel, Role};
use robot_runtime::pipeline::{drain_run, run_robot};
use robot_runtime::runtime::Runtime;
use robot_runtime::store::Trigger;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn application(n: usize) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ruleset().join("tests/01-ensamstaende-utan-inkomst.json")).unwrap())
            .unwrap();
    v["external_id"] = format!("backup-{n:05}").into();
    serde_json::to_vec(&v).unwrap()
}

/// One application fetched and drafted, and the oldest waiting case decided.
async fn round(rt: &Runtime, inbox: &Path, n: usize, clock: &robot_runtime::clock::ManualClock) {
    let hl = official(1, &[Role::Handlaggare], None);
    std::fs::write(inbox.join(format!("b-{n:05}.json")), application(n)).unwrap();
    clock.advance(chrono::Duration::seconds(1));
    if let Some(r) = run_robot(rt, "r1", Trigger::Manual, rt.clock.now()).await.unwrap() {
        drain_run(rt, r.run_id, |_, _| {}).await.unwrap();
    }
    let waiting = rt
        .store
        .list_cases(Some(CaseState::AwaitingApproval), None, 1, 0)
        .await
        .unwrap();
    if let Some(c) = waiting.first() {
        approval::approve(&rt.store, &ApprovalSettings::default(), &Channel("maildir"), c.id, &hl)
            .await
            .unwrap();
    }
}

/// `hrobot` with the data directory and database of a test.
pub(crate) fn hrobot_at(data: &Path, url: Option<&str>, args: &[&str]) -> Output {
    let mut c = hrobot();
    c.env_remove("HROBOT_CONFIG")
        .env_remove("HROBOT_DATA_DIR")
        .arg("--data-dir")
        .arg(data);
    match url {
        Some(u) => c.env("HROBOT_DATABASE_URL", u),
        None => c.env_remove("HROBOT_DATABASE_URL"),
    };
    c.args(args).output().unwrap()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// An empty place to restore into: a data directory holding only the keys
/// (restored separately), and for PostgreSQL a new empty database.
async fn empty_target(env: &TestEnv, engine: Engine) -> (tempfile::TempDir, Option<PgDb>) {
    let dir = tempfile::tempdir().unwrap();
    for k in ["audit-signing.key", "master.key"] {
        std::fs::copy(env.dir.path().join(k), dir.path().join(k)).unwrap();
    }
    let pg = match engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(PgDb::create().await),
    };
    (dir, pg)
}

async fn case_ids(data: &Path, url: Option<&str>) -> Vec<(i64, String)> {
    let o = hrobot_at(data, url, &["cases", "list", "--limit", "100000", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // One JSON object a line.
    let v: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    v.iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["external_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn sha256_hex(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

/// A copy of the backup with one application document changed (and the
/// manifest's hash of the database file made to match, so the restore's
/// own checks are what must catch it).
async fn tampered_copy(backup: &Path, engine: Engine, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let status = std::process::Command::new("cp")
        .args(["-a", &format!("{}/.", backup.display()), &to.display().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let changed = br#"{"external_id":"backup-00000","changed":"after the backup"}"#.to_vec();
    let file = match engine {
        Engine::Sqlite => {
            use sqlx::Connection;
            let f = to.join("hrobot.sqlite");
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", f.display()))
                .await
                .unwrap();
            let n = sqlx::query(
                "UPDATE applications SET document = $1 WHERE case_id = (SELECT MIN(case_id) FROM applications)",
            )
            .bind(changed)
            .execute(&mut c)
            .await
            .unwrap()
            .rows_affected();
            assert_eq!(n, 1);
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
            f
        }
        Engine::Postgres => {
            use sqlx::Connection;
            let scratch = PgDb::create().await;
            let mut c = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
            sqlx::query("DROP SCHEMA public CASCADE").execute(&mut c).await.unwrap();
            let f = to.join("hrobot.pgdump");
            let o = std::process::Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", &format!("--dbname={}", scratch.url)])
                .arg(&f)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            let n = sqlx::query(
                "UPDATE applications SET document = $1 WHERE case_id = (SELECT MIN(case_id) FROM applications)",
            )
            .bind(changed)
            .execute(&mut c)
            .await
            .unwrap()
            .rows_affected();
            assert_eq!(n, 1);
            c.close().await.unwrap();
            std::fs::remove_file(&f).unwrap();
            let o = std::process::Command::new("pg_dump")
                .args(["--format=custom", "--schema=public", "--no-owner"])
                .arg(format!("--file={}", f.display()))
                .arg(format!("--dbname={}", scratch.url))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            f
        }
    };
    let mpath = to.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["database_sha256"] = sha256_hex(&file).into();
    std::fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// Files in a directory tree, keys left out.
fn files_besides_keys(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_none_or(|x| x != "key") {
                out.push(p);
            }
        }
    }
    walk(dir, &mut out);
    out
}

async fn pg_tables(url: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

async fn backup_under_load_and_restore(engine: Engine) {
    let mut env = TestEnv::new(engine).await;
    env.settings.robots[0].lookups.clear();
    let clock = clock_at("2026-03-01T10:00:00Z");
    let rt = Arc::new(env.runtime(clock.clone()).await);
    let inbox = env.inbox();
    for n in 0..6 {
        round(&rt, &inbox, n, &clock).await;
    }
    // Something outside the database that the backup keeps: a letter.
    robot_runtime::outbox::deliver_once(&rt.outbox).await.unwrap();
    let url = env._pg.as_ref().map(|p| p.url.clone());
    let data = env.dir.path().to_path_buf();

    // The writer: applications drafted and decisions made, without pause.
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (rt, inbox, clock, stop, rounds) = (rt.clone(), inbox.clone(), clock.clone(), stop.clone(), rounds.clone());
        tokio::spawn(async move {
            let mut n = 6;
            while !stop.load(Ordering::SeqCst) {
                round(&rt, &inbox, n, &clock).await;
                n += 1;
                rounds.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while rounds.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Committed before the backup began.
    let before = case_ids(&data, url.as_deref()).await;
    let before_events = audit::Db::connect(env.settings.database_url().expose())
        .await
        .unwrap()
        .size()
        .await
        .unwrap();
    let rounds_before = rounds.load(Ordering::SeqCst);
    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().join("b1");
    let out = {
        let (data, url, dest) = (data.clone(), url.clone(), dest.clone());
        tokio::task::spawn_blocking(move || hrobot_at(&data, url.as_deref(), &["backup", dest.to_str().unwrap()]))
            .await
            .unwrap()
    };
    let rounds_during = rounds.load(Ordering::SeqCst) - rounds_before;
    // Let it write a little after, then stop.
    let until = rounds.load(Ordering::SeqCst) + 2;
    while rounds.load(Ordering::SeqCst) < until {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    println!("{engine:?}: {rounds_during} writer round(s) committed while hrobot backup ran");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("THE KEYS ARE NOT IN THIS BACKUP"), "{text}");
    assert!(
        text.contains(&data.join("audit-signing.key").display().to_string()),
        "{text}"
    );
    assert!(text.contains(&data.join("master.key").display().to_string()), "{text}");

    // The backup: the service's alone, and without keys.
    assert_eq!(mode(&dest), 0o700);
    let mut all = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            out.push(e.path());
            if e.path().is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    walk(&dest, &mut all);
    for p in &all {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(p), want, "{}", p.display());
        assert!(
            p.extension().is_none_or(|x| x != "key"),
            "a key in the backup: {}",
            p.display()
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).unwrap()).unwrap();
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(files.iter().any(|f| f.starts_with("outbox/")), "{files:?}");
    assert!(manifest["audit_log"]["size"].as_u64().unwrap() >= before_events);
    let backed_up_cases = manifest["tables"]["cases"].as_i64().unwrap();
    let after = case_ids(&data, url.as_deref()).await;
    assert!(
        (after.len() as i64) > backed_up_cases,
        "the writer went on after the snapshot"
    );

    // Restore into an empty place.
    let (target, target_pg) = empty_target(&env, engine).await;
    let turl = target_pg.as_ref().map(|p| p.url.clone());
    let o = hrobot_at(target.path(), turl.as_deref(), &["restore", dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("ok: the audit log verifies"), "{}", stdout(&o));
    let restored = case_ids(target.path(), turl.as_deref()).await;
    for c in &before {
        assert!(
            restored.contains(c),
            "case {c:?} committed before the backup is missing"
        );
    }
    assert_eq!(restored.len() as i64, backed_up_cases);
    let restored_events = audit::Db::connect(&match &turl {
        Some(u) => u.clone(),
        None => format!("sqlite://{}", target.path().join("hrobot.sqlite").display()),
    })
    .await
    .unwrap()
    .size()
    .await
    .unwrap();
    assert!(restored_events >= before_events);
    let v = hrobot_at(target.path(), turl.as_deref(), &["audit", "verify", "--cases"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    assert!(stdout(&v).contains("cases agree with"), "{}", stdout(&v));
    assert!(target.path().join("outbox").is_dir());

    // Not into a place that holds data, unless --force.
    let again = hrobot_at(target.path(), turl.as_deref(), &["restore", dest.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    let forced = hrobot_at(
        target.path(),
        turl.as_deref(),
        &["restore", "--force", dest.to_str().unwrap()],
    );
    assert!(forced.status.success(), "{}{}", stdout(&forced), stderr(&forced));
    assert_eq!(
        case_ids(target.path(), turl.as_deref()).await.len() as i64,
        backed_up_cases
    );

    // A backup with one row changed is refused, and nothing is put in place.
    let bad = backups.path().join("tampered");
    tampered_copy(&dest, engine, &bad).await;
    let (t2, t2_pg) = empty_target(&env, engine).await;
    let t2url = t2_pg.as_ref().map(|p| p.url.clone());
    let r = hrobot_at(t2.path(), t2url.as_deref(), &["restore", bad.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1), "{}{}", stdout(&r), stderr(&r));
    let said = stdout(&r);
    assert!(said.contains("REFUSED"), "{said}");
    assert!(said.contains("the application document differs"), "{said}");
    assert!(
        files_besides_keys(t2.path()).is_empty(),
        "{:?}",
        files_besides_keys(t2.path())
    );
    if let Some(u) = &t2url {
        assert_eq!(pg_tables(u).await, 0, "the target database was left empty");
    }
    rt.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_and_restore_sqlite() {
    backup_under_load_and_restore(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_and_restore_postgres() {
    backup_under_load_and_restore(Engine::Postgres).await;
}

/// A copy of an SQLite backup with `sql` run on its database, and the
/// manifest's hash of the file made to match.
async fn tampered_sqlite(backup: &Path, to: &Path, sql: &[&str]) {
    use sqlx::Connection;
    std::fs::create_dir_all(to).unwrap();
    let status = std::process::Command::new("cp")
        .args(["-a", &format!("{}/.", backup.display()), &to.display().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let f = to.join("hrobot.sqlite");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", f.display()))
        .await
        .unwrap();
    for s in sql {
        sqlx::query(sqlx::AssertSqlSafe(*s)).execute(&mut c).await.unwrap();
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    let mpath = to.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["database_sha256"] = sha256_hex(&f).into();
    std::fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// What restore names when the log itself was changed, when a row the log
/// does not cover was deleted, and when a file was changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_names_what_does_not_match() {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    env.settings.robots[0].lookups.clear();
    let clock = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    for n in 0..3 {
        round(&rt, &env.inbox(), n, &clock).await;
    }
    robot_runtime::outbox::deliver_once(&rt.outbox).await.unwrap();
    rt.store.close().await;
    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().join("b");
    let o = hrobot_at(env.dir.path(), None, &["backup", dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "log",
            vec![
                "DROP TRIGGER audit_events_no_update",
                "UPDATE audit_events SET leaf = zeroblob(length(leaf)) WHERE seq = 3",
            ],
            "the audit log does not verify (first bad sequence number 3)",
        ),
        (
            "count",
            // Who a case is about: not in the log, but counted.
            vec!["DELETE FROM case_people WHERE case_id = (SELECT MIN(case_id) FROM case_people)"],
            "table case_people:",
        ),
    ];
    for (name, sql, said) in cases {
        let bad = backups.path().join(name);
        tampered_sqlite(&dest, &bad, &sql).await;
        let (t, _) = empty_target(&env, Engine::Sqlite).await;
        let r = hrobot_at(t.path(), None, &["restore", bad.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(1), "{name}: {}{}", stdout(&r), stderr(&r));
        assert!(stdout(&r).contains("REFUSED"), "{name}: {}{}", stdout(&r), stderr(&r));
        assert!(stdout(&r).contains(said), "{name}: {}", stdout(&r));
        assert!(files_besides_keys(t.path()).is_empty(), "{name}");
    }

    // A letter changed in the backup.
    let bad = backups.path().join("letter");
    tampered_sqlite(&dest, &bad, &[]).await;
    let letter = files_besides_keys(&bad.join("files/outbox"))
        .into_iter()
        .next()
        .expect("a delivered letter in the backup");
    std::fs::write(&letter, b"changed").unwrap();
    let (t, _) = empty_target(&env, Engine::Sqlite).await;
    let r = hrobot_at(t.path(), None, &["restore", bad.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1), "{}{}", stdout(&r), stderr(&r));
    assert!(stdout(&r).contains("differs from the manifest"), "{}", stdout(&r));
    assert!(files_besides_keys(t.path()).is_empty());
}
