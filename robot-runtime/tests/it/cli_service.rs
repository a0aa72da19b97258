//! The IT commands against a real configuration: run, cases, robots, config check.

use crate::support::*;

fn write_config(env: &TestEnv) -> std::path::PathBuf {
    let path = env.dir.path().join("hrobot.toml");
    std::fs::write(
        &path,
        format!(
            r#"data_dir = "{data}"
[audit]
witness_dir = "witness"
[[robots]]
name = "r1"
schedule = "0 8 * * 1-5"
ruleset = "{ruleset}"
[robots.options]
# The shipped rule tests reuse one test person and period.
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
    path
}

#[tokio::test]
async fn run_cases_robots_and_config_check() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let cfg = write_config(&env);
    let cfg = cfg.to_str().unwrap();
    env.put(&valid_cases()[..6]);
    std::fs::write(env.inbox().join("trasig.json"), b"inte json").unwrap();

    let o = run(&["config", "check", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("r1: 0 8 * * 1-5 (Europe/Stockholm), enabled"));

    let o = run(&["run", "r1", "--json", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(s["fetched"], 7);
    assert_eq!(s["invalid"], 1);
    assert_eq!(
        s["drafted"].as_i64().unwrap() + s["invalid"].as_i64().unwrap() + s["failed"].as_i64().unwrap(),
        7
    );

    // The run's last checkpoint went to the witness directory (relative to
    // the configuration file's folder).
    let witness = env.dir.path().join("witness");
    assert_eq!(std::fs::read_dir(&witness).unwrap().count(), 1);

    // Running again: nothing new, no duplicates made.
    let o = run(&["run", "r1", "--json", "--config", cfg]);
    let s: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(s["fetched"], 0);

    let o = run(&["cases", "list", "--format", "json", "--config", cfg]);
    assert_eq!(stdout(&o).lines().count(), 7);
    let o = run(&["cases", "list", "--state", "invalid", "--config", cfg]);
    assert!(stdout(&o).contains("ref:trasig.json"), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 ärenden"));
    let o = run(&["cases", "list", "--state", "påhittad", "--config", cfg]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["cases", "show", "1", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("Väntar på beslut"), "{}", stdout(&o));
    assert!(stdout(&o).contains("Riksnorm"));
    let o = run(&["cases", "show", "999", "--config", cfg]);
    assert_eq!(o.status.code(), Some(1));

    let o = run(&["robots", "pause", "r1", "--reason", "underhåll", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&["run", "r1", "--config", cfg]);
    assert_eq!(o.status.code(), Some(1), "a paused robot does not run");
    let o = run(&["robots", "resume", "r1", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0));
    let o = run(&["robots", "pause", "r2", "--config", cfg]);
    assert_eq!(o.status.code(), Some(1), "unknown robot");
    let o = run(&["robots", "runs", "--config", cfg]);
    assert_eq!(stdout(&o).lines().count(), 2);

    // The audit log is found through the same configuration.
    let o = run(&["audit", "checkpoint", "--new", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&["audit", "verify", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // … and checked against the newest checkpoint in the witness.
    assert!(
        stdout(&o).contains("the log extends the checkpoint kept outside it"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn config_check_reports_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[robots]]\nname = \"r 1\"\nschedule = \"99 * * * *\"\ntime_zone = \"Mars/Olympus\"\nruleset = \"nowhere\"\n[robots.source]\nkind = \"file_inbox\"\npath = \"nowhere\"\n",
    )
    .unwrap();
    let o = run(&["config", "check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    for needle in ["the name may use", "time zone", "ruleset", "inbox", "signing key"] {
        assert!(e.contains(needle), "{needle:?} missing in {e}");
    }
    std::fs::write(&cfg, "[databse]\n").unwrap();
    let o = run(&["config", "check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("databse"), "{}", stderr(&o));
}

/// `hrobot user …`, `cases …` and `robots runs` open only the store and its
/// keys: a robot whose connector cannot be built (its SQL source's URL is
/// in an environment variable that is not set) does not stop them, while
/// `hrobot run`, which needs the connector, still says what is wrong.
#[tokio::test]
async fn account_and_case_verbs_build_no_connector() {
    use std::io::Write;
    let env = TestEnv::new(Engine::Sqlite).await;
    let dir = &env.dir;
    let cfg = dir.path().join("hrobot.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = "{data}"
[[robots]]
name = "r1"
schedule = "0 8 * * 1-5"
ruleset = "{ruleset}"
[robots.source]
kind = "sql"
url_env = "HROBOT_TEST_SQL_URL_THAT_IS_NEVER_SET"
query = "SELECT id, document FROM ansokningar"
"#,
            data = dir.path().display(),
            ruleset = ruleset().display(),
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();

    let mut child = hrobot()
        .args([
            "user",
            "add",
            "rut",
            "--name",
            "Rut Revisor",
            "--role",
            "revisor",
            "--config",
            cfg,
        ])
        .env_remove("HROBOT_TEST_SQL_URL_THAT_IS_NEVER_SET")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ett-langt-losenord-1\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = hrobot()
        .args(["user", "list", "--config", cfg])
        .env_remove("HROBOT_TEST_SQL_URL_THAT_IS_NEVER_SET")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("rut"), "{}", stdout(&o));
    for args in [&["cases", "list"][..], &["robots", "runs"][..]] {
        let o = hrobot()
            .args(args)
            .args(["--config", cfg])
            .env_remove("HROBOT_TEST_SQL_URL_THAT_IS_NEVER_SET")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }

    // The connector really cannot be built: a run needs it and says so.
    let o = hrobot()
        .args(["run", "r1", "--config", cfg])
        .env_remove("HROBOT_TEST_SQL_URL_THAT_IS_NEVER_SET")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("the SQL source"), "{}", stderr(&o));
}
