//! `hrobot rules coverage`: of a ruleset's tests, and of the drafts in the
//! store per ruleset version (`Store::production_coverage`).

use crate::support::*;
use robot_runtime::pipeline::{drain_run, run_robot};
use robot_runtime::runtime::Runtime;
use robot_runtime::store::Trigger;
use std::path::{Path, PathBuf};

fn avgift() -> PathBuf {
    repo().join("rulesets/avgift-aldreomsorg")
}

#[test]
fn coverage_of_the_tests_prints_totals_and_can_fail_ci() {
    let dir = avgift();
    let dir = dir.to_str().unwrap();
    let o = run(&["rules", "coverage", dir]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Coverage of avgift-aldreomsorg"), "{out}");
    let total = out.lines().find(|l| l.starts_with("Total: ")).unwrap();
    for kind in ["rules", "rows", "reasons", "codes"] {
        assert!(total.contains(&format!(" {kind} exercised")), "{total}");
    }

    // The same numbers as JSON.
    let o = run(&["rules", "coverage", dir, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rules = &j["report"]["rules"];
    let (exercised, all) = (rules["exercised"].as_u64().unwrap(), rules["total"].as_u64().unwrap());
    assert!(0 < exercised && exercised <= all, "{rules}");
    assert!(
        total.contains(&format!("{exercised} of {all} rules exercised")),
        "{total}"
    );
    assert!(j["cases"].as_u64().unwrap() >= 30);
    assert_eq!(j["report"]["ruleset"]["name"], "avgift-aldreomsorg");

    // CI: no ruleset reaches 101 %; every ruleset reaches 0 %.
    let o = run(&["rules", "coverage", dir, "--fail-under-rules", "101"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("rule coverage"), "{}", stderr(&o));
    let o = run(&["rules", "coverage", dir, "--fail-under-rules", "0"]);
    assert_eq!(o.status.code(), Some(0));

    // A folder with none of the cases: nothing exercised, every item listed.
    let empty = tempfile::tempdir().unwrap();
    let o = run(&["rules", "coverage", dir, "--cases", empty.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains(&format!("0 of {all} rules exercised")), "{out}");
    assert!(out.contains("Never exercised ("), "{out}");
    assert!(out.contains("rules/main.rhai:"), "{out}");
    let o = run(&["rules", "coverage", "rulesets/finns-inte"]);
    assert_eq!(o.status.code(), Some(1));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// A copy of ekonomiskt bistånd as another version of the same ruleset.
fn next_version(into: &Path) -> PathBuf {
    let dir = into.join("ekonomiskt-bistand-nasta");
    copy_dir(&ruleset(), &dir);
    let manifest = std::fs::read_to_string(dir.join("ruleset.toml")).unwrap();
    let (head, rest) = manifest.split_once("version = \"").unwrap();
    let (_, tail) = rest.split_once('"').unwrap();
    std::fs::write(dir.join("ruleset.toml"), format!("{head}version = \"9999.1\"{tail}")).unwrap();
    dir
}

async fn run_and_drain(rt: &Runtime) {
    let report = run_robot(rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(rt, report.run_id, |_, _| {}).await.unwrap();
}

/// Drafts of two versions of ekonomiskt bistånd in one store: one section
/// each, newest first, counted against the folder's sources.
async fn production_per_version(engine: Engine) {
    let mut env = TestEnv::new(engine).await;
    env.put(&valid_cases()[..5]);
    let rt = env.runtime(clock_at("2026-03-01T10:00:00Z")).await;
    run_and_drain(&rt).await;
    rt.store.close().await;
    drop(rt);

    let next = next_version(env.dir.path());
    env.settings.robots[0].ruleset = next.clone();
    generated(&env.inbox(), 3);
    let rt = env.runtime(clock_at("2026-03-01T11:00:00Z")).await;
    run_and_drain(&rt).await;

    let old = sandbox::Ruleset::load(&ruleset()).unwrap();
    let new = sandbox::Ruleset::load(&next).unwrap();
    assert_eq!(old.name(), new.name());
    assert_ne!(old.hash(), new.hash());

    let found = rt.store.production_coverage(&new, &Default::default()).await.unwrap();
    assert_eq!(found.unreadable, 0);
    let got: Vec<(&str, bool, u64)> = found
        .versions
        .iter()
        .map(|v| (v.version.as_str(), v.current, v.report.drafts))
        .collect();
    assert_eq!(got, [("9999.1", true, 3), (old.version(), false, 5)]);
    assert_eq!(found.versions[1].hash, old.hash());
    for v in &found.versions {
        let rules = &v.report.rules;
        assert!(
            rules.exercised > 0 && rules.exercised <= rules.total,
            "{}",
            rules.summary
        );
        // Every draft passes the first manual route's rule.
        let first = &rules.items[0];
        assert_eq!(first.drafts, v.report.drafts, "{}", first.name);
    }
    // The same through the old folder: the newer version is then the other one.
    let found = rt.store.production_coverage(&old, &Default::default()).await.unwrap();
    assert_eq!(
        found.versions.iter().map(|v| v.current).collect::<Vec<_>>(),
        [false, true]
    );
}

#[tokio::test]
async fn production_coverage_per_version_sqlite() {
    production_per_version(Engine::Sqlite).await;
}

#[tokio::test]
async fn production_coverage_per_version_postgres() {
    production_per_version(Engine::Postgres).await;
}

#[tokio::test]
async fn production_coverage_on_the_command_line() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let cfg = env.dir.path().join("hrobot.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = "{data}"
[[robots]]
name = "r1"
schedule = "0 8 * * 1-5"
ruleset = "{ruleset}"
[robots.options]
same_period_check = false
[robots.source]
kind = "file_inbox"
path = "{inbox}"
[[robots.lookups]]
kind = "file_register"
path = "{register}"
"#,
            data = env.dir.path().display(),
            ruleset = ruleset().display(),
            inbox = env.inbox().display(),
            register = env.register().display(),
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let dir = ruleset();
    let dir = dir.to_str().unwrap();

    // An empty store: no version, nothing exercised.
    let o = run(&["rules", "coverage", dir, "--production", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("0 version(s) in the store"), "{}", stdout(&o));
    let o = run(&[
        "rules",
        "coverage",
        dir,
        "--production",
        "--fail-under-rules",
        "1",
        "--config",
        cfg,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));

    env.put(&valid_cases()[..4]);
    let o = run(&["run", "r1", "--json", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = run(&["rules", "coverage", dir, "--production", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("1 version(s) in the store"), "{out}");
    assert!(out.contains(", the one in the folder: 4 drafts"), "{out}");
    assert!(out.contains("Total: "), "{out}");

    let o = run(&["rules", "coverage", dir, "--production", "--json", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["versions"].as_array().unwrap().len(), 1);
    assert_eq!(j["versions"][0]["report"]["drafts"], 4);
    assert_eq!(j["versions"][0]["current"], true);
}
