//! Hostile rule scripts through the real binary, each in its own process
//! under a 256 MiB data limit: a ruleset error (exit 1) within a second,
//! nothing on stdout, and never a crash.

use crate::support::*;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "../../../sandbox/tests/it/hostile_corpus.rs"]
mod corpus;

fn write_ruleset(dir: &Path, main: &str) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/main.rhai"), main).unwrap();
    std::fs::write(
        dir.join("p.toml"),
        "name = \"p\"\n[types]\nbelopp = \"money\"\n[[set]]\nvalid_from = 2019-01-01\nsource = \"test\"\nverified = true\n[set.values]\nbelopp = 100\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("ruleset.toml"),
        "name = \"t\"\nversion = \"1\"\nentry = \"rules/main.rhai\"\nparameters = [\"p.toml\"]\n",
    )
    .unwrap();
}

const DATA_LIMIT: &str = "--data=268435456";

#[test]
fn hostile_scripts_are_contained_by_the_cli() {
    let app = ruleset().join("tests/01-ensamstaende-utan-inkomst.json");
    for (name, script) in corpus::hostile() {
        let tmp = tempfile::tempdir().unwrap();
        write_ruleset(tmp.path(), &script);
        let started = Instant::now();
        let o = std::process::Command::new("prlimit")
            .args([DATA_LIMIT, "--", env!("CARGO_BIN_EXE_hrobot"), "evaluate", "--ruleset"])
            .arg(tmp.path())
            .arg(&app)
            .output()
            .unwrap();
        let took = started.elapsed();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {:?} {err}", o.status);
        assert!(o.stdout.is_empty(), "{name}: printed to stdout: {}", stdout(&o));
        assert!(took < Duration::from_secs(1), "{name}: took {took:?}");
        assert!(
            err.contains("rules/main.rhai") || err.contains("ruleset.toml"),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_valid_ruleset_runs_under_the_same_limit() {
    let app = ruleset().join("tests/01-ensamstaende-utan-inkomst.json");
    let o = std::process::Command::new("prlimit")
        .args([DATA_LIMIT, "--", env!("CARGO_BIN_EXE_hrobot"), "evaluate", "--ruleset"])
        .arg(ruleset())
        .arg(&app)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn printing_scripts_print_nothing_to_stdout_even_when_they_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let script = "print(\"hemlig\"); debug(\"hemlig\");\ndraft.rule(\"r\");\ndraft.row(\"norm\", \"x\", params.get(\"p.belopp\"));\ndraft.outcome(\"bifall\", kr(100));\ndraft";
    write_ruleset(tmp.path(), script);
    let app = ruleset().join("tests/01-ensamstaende-utan-inkomst.json");
    let o = run(&[
        "-vvv",
        "evaluate",
        "--ruleset",
        tmp.path().to_str().unwrap(),
        app.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stdout(&o).contains("hemlig"));
    assert!(!stderr(&o).contains("hemlig"), "script output must not reach the log");
}
