//! Hostile scripts end with a ruleset error, quickly, without taking the
//! process down. (The same scripts are run through the CLI, as separate
//! processes under a memory limit, in robot-runtime's tests.)

use crate::support::*;
use sandbox::Ruleset;
use std::time::{Duration, Instant};

use crate::hostile_corpus as corpus;

#[test]
fn the_minimal_ruleset_works_so_failures_below_are_the_scripts_fault() {
    let dir = ruleset_with(MINIMAL, None);
    let r = Ruleset::load(dir.path()).unwrap();
    let d = r.evaluate(&application()).unwrap();
    assert_eq!(d.amount().unwrap().ore(), 20_100);
}

#[test]
fn every_hostile_script_ends_in_a_ruleset_error_within_a_second() {
    crate::install_heap_probe();
    let app = application();
    for (name, script) in corpus::hostile() {
        let dir = ruleset_with(&script, None);
        let started = Instant::now();
        // A compile error fails `load`; anything else fails `evaluate`.
        let result = std::thread::Builder::new()
            .stack_size(16 * 1024 * 1024)
            .spawn({
                let dir = dir.path().to_path_buf();
                let app = app.clone();
                move || Ruleset::load(&dir).and_then(|r| r.evaluate(&app))
            })
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("{name}: the evaluation panicked"));
        let took = started.elapsed();
        let err = match result {
            Ok(d) => panic!("{name}: expected a ruleset error, got a draft {:?}", d.outcome()),
            Err(e) => e,
        };
        assert!(took < Duration::from_secs(1), "{name}: took {took:?}");
        let text = err.to_string();
        println!("{name}: {text}");
        assert!(
            text.contains("rules/main.rhai") || text.contains("ruleset.toml"),
            "{name}: no file in {text:?}"
        );
    }
}

#[test]
fn a_16_mb_script_is_refused_before_it_is_read() {
    let big = format!("// {}\ndraft", "x".repeat(16 * 1024 * 1024));
    let dir = ruleset_with(&big, None);
    let started = Instant::now();
    let err = Ruleset::load(dir.path()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(err.to_string().contains("för stor"), "{err}");
}

#[test]
fn errors_carry_the_file_and_line_even_in_included_functions() {
    let include = "fn helper(x) {\n    let y = x;\n    y / 0\n}\n";
    let main = "let a = 1;\nlet b = helper(a);\ndraft\n";
    let dir = ruleset_with(main, Some(include));
    let err = Ruleset::load(dir.path()).unwrap().evaluate(&application()).unwrap_err();
    let p = &err.problems[0];
    assert_eq!(p.file, "rules/lib.rhai", "{err}");
    assert_eq!(p.line, Some(3), "{err}");
    assert!(p.message.contains("helper() anropad från rules/main.rhai:2"), "{err}");

    let dir = ruleset_with("let a = 1;\nlet b = ;\ndraft\n", Some(include));
    let err = Ruleset::load(dir.path()).unwrap_err();
    assert_eq!(err.problems[0].file, "rules/main.rhai", "{err}");
    assert_eq!(err.problems[0].line, Some(2), "{err}");
}

#[test]
fn paths_outside_the_ruleset_folder_are_refused() {
    let dir = ruleset_with(MINIMAL, None);
    let manifest = "name = \"t\"\nversion = \"1\"\nentry = \"../../etc/passwd\"\nparameters = []\n";
    std::fs::write(dir.path().join("ruleset.toml"), manifest).unwrap();
    let err = Ruleset::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("inne i regelmappen"), "{err}");
}
