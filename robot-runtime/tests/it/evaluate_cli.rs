//! `hrobot evaluate` over the shared examples and over invalid input.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;

fn examples() -> Vec<(String, std::path::PathBuf, Value)> {
    let dir = shared().join("examples/ekonomiskt-bistand");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".expected.json") {
            let expected: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            out.push((stem.to_string(), dir.join(format!("{stem}.json")), expected));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 12, "the shared examples are missing");
    out
}

fn codes(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_shared_example_gives_its_expected_draft_or_error() {
    let rs = ruleset();
    for (name, input, want) in examples() {
        let o = run(&["evaluate", "--ruleset", rs.to_str().unwrap(), input.to_str().unwrap()]);
        let code = o.status.code().unwrap();
        if let Some(exit) = want.get("exit_code") {
            assert_eq!(i64::from(code), exit.as_i64().unwrap(), "{name}: {}", stderr(&o));
            assert!(o.stdout.is_empty(), "{name}: nothing on stdout for invalid input");
            let err = stderr(&o);
            let pointers: Vec<&str> = want["pointer_any"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            assert!(
                pointers.iter().any(|p| err.contains(p)),
                "{name}: stderr {err:?} names none of {pointers:?}"
            );
        } else {
            assert_eq!(code, 0, "{name}: {}", stderr(&o));
            let got: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(got["outcome"], want["outcome"], "{name}");
            assert_eq!(got["amount_sek"], want["amount_sek"], "{name}");
            assert_eq!(codes(&got["codes"]), codes(&want["codes"]), "{name}");
            assert_eq!(got["schema"], "ekonomiskt-bistand/beslutsutkast/v2");
        }
    }
}

#[test]
fn a_directory_gives_one_line_per_file_in_name_order() {
    let dir = shared().join("examples/ekonomiskt-bistand");
    let o = run(&[
        "evaluate",
        "--ruleset",
        ruleset().to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    // One example is invalid on purpose: exit 2, but every file still has its line.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let files: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
    assert_eq!(
        files.len(),
        std::fs::read_dir(&dir).unwrap().count(),
        "the .expected.json files are evaluated too (as invalid applications)"
    );
    for (name, _input, want) in examples() {
        let line = lines.iter().find(|l| l["file"] == format!("{name}.json")).unwrap();
        match want.get("exit_code") {
            Some(_) => assert_eq!(line["error"]["exit_code"], 2, "{name}"),
            None => {
                assert_eq!(line["draft"]["outcome"], want["outcome"], "{name}");
                assert_eq!(line["draft"]["amount_sek"], want["amount_sek"], "{name}");
            }
        }
    }
}

#[test]
fn stdin_works_and_drafts_are_byte_identical() {
    let input = std::fs::read(shared().join("examples/ekonomiskt-bistand/03-sambor-tva-barn.json")).unwrap();
    let mut outs = Vec::new();
    for _ in 0..2 {
        let mut child = hrobot()
            .args(["evaluate", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        outs.push(o.stdout);
    }
    assert_eq!(outs[0], outs[1]);
    let v: Value = serde_json::from_slice(&outs[0]).unwrap();
    assert_eq!(v["amount_sek"], 17040);
    assert!(v["trace"].as_array().unwrap().len() > 5);
    assert!(v["ruleset"]["hash"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn invalid_input_exits_2_naming_the_pointer_and_prints_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let base: Value = serde_json::from_str(
        &std::fs::read_to_string(shared().join("examples/ekonomiskt-bistand/01-ensamstaende-utan-inkomst.json"))
            .unwrap(),
    )
    .unwrap();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("/costs/rent", Box::new(|v| v["costs"]["rent"] = serde_json::json!(-5))),
        (
            "/costs/rent",
            Box::new(|v| v["costs"]["rent"] = serde_json::json!(5200.123)),
        ),
        ("/period", Box::new(|v| v["period"] = serde_json::json!("2021-13"))),
        (
            "/household/children/0",
            Box::new(|v| {
                v["household"]["children"] = serde_json::json!([{"personnummer": "199001012380", "name": "Vuxet barn"}])
            }),
        ),
        (
            "/incomes/0/kind",
            Box::new(|v| v["incomes"] = serde_json::json!([{"person": "198112189876", "kind": "lotto", "amount": 5}])),
        ),
    ];
    for (pointer, mutate) in cases {
        let mut v = base.clone();
        mutate(&mut v);
        let f = tmp.path().join("app.json");
        std::fs::write(&f, v.to_string()).unwrap();
        let o = run(&["evaluate", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{pointer}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
        assert!(stderr(&o).contains(pointer), "{pointer}: {}", stderr(&o));
    }
    for (bytes, what) in [
        (b"{not json".to_vec(), "not JSON"),
        (vec![0xff, 0xfe, b'{', b'}'], "not UTF-8"),
        (vec![b' '; 1024 * 1024 + 1], "over 1 MiB"),
    ] {
        let f = tmp.path().join("bad.json");
        std::fs::write(&f, &bytes).unwrap();
        let o = run(&["evaluate", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{what}");
    }
}

#[test]
fn other_errors_exit_1() {
    let o = run(&["evaluate", "/nonexistent/app.json"]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&["evaluate", "--ruleset", "/nonexistent", "-"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("ruleset.toml"), "{}", stderr(&o));
}

#[test]
fn text_format_is_a_swedish_table() {
    let f = shared().join("examples/ekonomiskt-bistand/05-lon-med-jobbstimulans.json");
    let o = run(&["evaluate", "--format", "text", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let t = stdout(&o);
    for needle in [
        "Utfall: Bifall, 4\u{a0}450\u{a0}kr",
        "Riksnorm",
        "Jobbstimulans",
        "= Behov",
        "Skäl:",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
}

#[test]
fn rules_test_and_check_pass_on_the_shipped_ruleset() {
    let o = run(&["rules", "test", ruleset().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let last = stdout(&o).lines().last().unwrap().to_string();
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 40, "{last}");
    assert!(last.ends_with(" 0 failed"), "{last}");
    let o = run(&["rules", "check", ruleset().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
