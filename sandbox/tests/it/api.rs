//! The script API: facts, parameters, the draft builder and its trace.

use crate::support::*;
use domain::Outcome;
use sandbox::Ruleset;

#[test]
fn unverified_parameters_are_named_in_a_warning() {
    let dir = ruleset_with(MINIMAL, None);
    let r = Ruleset::load(dir.path()).unwrap();
    // Example 01 is for 2021-03: the 2021 set (unverified, 200.50 kr).
    let d = r.evaluate(&application()).unwrap();
    assert_eq!(d.calculation().get("norm").unwrap().section.total().ore(), 20_050);
    assert!(
        d.warnings()
            .iter()
            .any(|w| w.contains("p.belopp") && w.contains("2021-01-01")),
        "{:?}",
        d.warnings()
    );
}

#[test]
fn every_row_is_recorded_in_the_trace_under_its_rule() {
    let script = r#"
draft.rule("norm.test", #{ a: 1, b: "två", c: [1, 2], d: #{ e: true } });
draft.row("norm", "Norm", kr(100));
draft.rule("kostnader.test");
draft.row("costs", "Hyra", kr(50));
draft.warning("Se upp");
draft.reason("x", "Text", "1 §");
draft.note("behov", draft.total("norm") + draft.total("costs"));
draft.outcome("bifall", kr(150));
draft
"#;
    let dir = ruleset_with(script, None);
    let d = Ruleset::load(dir.path()).unwrap().evaluate(&application()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
    let trace = json["trace"].as_array().unwrap();
    assert_eq!(trace[0]["rule"], "norm.test");
    assert_eq!(
        trace[0]["inputs"],
        serde_json::json!({"a": 1, "b": "två", "c": [1, 2], "d": {"e": true}})
    );
    assert_eq!(trace[0]["result"]["rows"][0]["amount_sek"], 100);
    assert_eq!(trace[1]["result"]["rows"][0]["section"], "costs");
    assert_eq!(trace[1]["result"]["warnings"][0], "Se upp");
    assert_eq!(trace[1]["result"]["reasons"][0], "x");
    assert_eq!(trace[1]["result"]["behov"], 15_000);
    assert_eq!(trace[1]["result"]["outcome"][0], "bifall");
    assert_eq!(d.outcome(), Outcome::Bifall);
    assert_eq!(json["calculation"]["costs"]["total_sek"], 50);
}

#[test]
fn assessments_and_kommunicering_are_recorded_under_their_rule() {
    let script = r#"
draft.rule("kostnader.boende");
draft.row("costs", "Hyra", kr(50));
draft.assessment("boendekostnad_skalighet", "Bekräfta att …");
draft.kommunicering("hyra_over_riktvarde", "Uppgiften om …");
draft.rule("resultat");
draft.note("manad", fmt_period("2026-05"));
draft.note("manad_index", fmt_period(period_index("2021-01")));
draft.outcome("bifall", kr(50));
draft
"#;
    let dir = ruleset_with(script, None);
    let d = Ruleset::load(dir.path()).unwrap().evaluate(&application()).unwrap();
    assert_eq!(d.assessments().len(), 1);
    assert_eq!(d.assessments()[0].code, "boendekostnad_skalighet");
    assert_eq!(d.assessments()[0].text, "Bekräfta att …");
    assert_eq!(d.kommunicering()[0].code, "hyra_over_riktvarde");
    let r = d.trace()[0].result();
    assert_eq!(r["assessments"][0], "boendekostnad_skalighet");
    assert_eq!(r["kommunicering"][0], "hyra_over_riktvarde");
    let r = d.trace()[1].result();
    assert_eq!(r["manad"], "maj 2026");
    assert_eq!(r["manad_index"], "januari 2021");
    assert_eq!(domain::Draft::from_json(&d.to_json()).unwrap(), d);

    // Outside a rule, or with an empty text, they are errors.
    for bad in [
        r#"draft.assessment("a", "b"); draft"#,
        r#"draft.rule("r"); draft.kommunicering("a", " "); draft"#,
        r#"draft.rule("r"); draft.assessment("", "b"); draft"#,
        r#"draft.rule("r"); draft.note("x", fmt_period("2021-13")); draft"#,
    ] {
        let dir = ruleset_with(bad, None);
        assert!(
            Ruleset::load(dir.path()).unwrap().evaluate(&application()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn money_helpers_round_half_up() {
    let script = r#"
draft.rule("r");
draft.note("a", round_kr(149));
draft.note("b", round_kr(150));
draft.note("c", share_kr(kr(1860), 1, 5));
draft.note("d", share_kr(kr(8002), 25, 100));
draft.note("e", floor_div(kr(47600), 12));
draft.note("f", fmt_kr(123456));
draft.note("g", period_index("2021-04") - period_index("2021-01"));
draft.row("norm", "x", kr(1));
draft.outcome("bifall", kr(1));
draft
"#;
    let dir = ruleset_with(script, None);
    let d = Ruleset::load(dir.path()).unwrap().evaluate(&application()).unwrap();
    let r = &d.trace()[0].result();
    assert_eq!(r["a"], 100);
    assert_eq!(r["b"], 200);
    assert_eq!(r["c"], 37_200);
    assert_eq!(r["d"], 200_100);
    assert_eq!(r["e"], 396_666);
    assert_eq!(r["f"], "1\u{a0}234,56\u{a0}kr");
    assert_eq!(r["g"], 3);
}

#[test]
fn facts_show_members_by_role_never_by_personnummer_or_name() {
    let script = r#"
draft.rule("r", #{ facts: facts });
draft.row("norm", "x", kr(1));
draft.outcome("bifall", kr(1));
draft
"#;
    let dir = ruleset_with(script, None);
    let d = Ruleset::load(dir.path()).unwrap().evaluate(&application()).unwrap();
    let text = d.to_json();
    assert!(!text.contains("198112189876"), "a personnummer reached the facts");
    assert!(!text.contains("Tolvan"), "a name reached the facts");
    let facts = &d.trace()[0].inputs()["facts"];
    assert_eq!(facts["adults"][0]["id"], "vuxen1");
    assert_eq!(facts["adults"][0]["age"], 39);
    assert_eq!(facts["costs"]["rent"], 520_000);
    assert_eq!(facts["period_index"], 2021 * 12 + 2);
    assert_eq!(facts["register"]["job_seekers"][0], "vuxen1");
    // Contract v2 fields, with their defaults for a v1-shaped application.
    assert_eq!(facts["history"]["jobbstimulans_start"], serde_json::Value::Null);
    assert_eq!(facts["history"]["jobbstimulans_start_index"], serde_json::Value::Null);
}

#[test]
fn facts_show_the_contract_v2_fields() {
    let script = r#"
draft.rule("r", #{ facts: facts });
draft.row("norm", "x", kr(1));
draft.outcome("bifall", kr(1));
draft
"#;
    let path = repo().join("rulesets/ekonomiskt-bistand/tests/01-ensamstaende-utan-inkomst.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["household"]["children"] = serde_json::json!([
        {"personnummer": "200407199918", "name": "Tolvan Sommarjobb", "in_school": true, "wage_earlier_this_year": 38000.5}
    ]);
    v["history"] = serde_json::json!({"jobbstimulans_start": "2020-01"});
    let app = domain::Application::parse(v.to_string().as_bytes()).unwrap();
    let dir = ruleset_with(script, None);
    let d = Ruleset::load(dir.path()).unwrap().evaluate(&app).unwrap();
    assert!(!d.to_json().contains("200407199918"));
    let facts = &d.trace()[0].inputs()["facts"];
    assert_eq!(facts["children"][0]["in_school"], true);
    assert_eq!(facts["children"][0]["wage_earlier_this_year"], 3_800_050);
    assert_eq!(facts["history"]["jobbstimulans_start"], "2020-01");
    assert_eq!(facts["history"]["jobbstimulans_start_index"], 2020 * 12);
}

#[test]
fn the_shipped_ruleset_is_deterministic_and_loaded_once_per_hash() {
    let a = Ruleset::load(&shipped_ruleset()).unwrap();
    let b = Ruleset::load(&shipped_ruleset()).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b), "compiled once per content hash");
    let app = application();
    let first = a.evaluate(&app).unwrap().to_json();
    for _ in 0..20 {
        assert_eq!(a.evaluate(&app).unwrap().to_json(), first);
    }
    // …and the same from many threads at once.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(a.evaluate(&app).unwrap().to_json(), first));
        }
    });
}

#[test]
fn a_changed_file_is_a_new_hash() {
    let dir = ruleset_with(MINIMAL, None);
    let h1 = Ruleset::load(dir.path()).unwrap().hash().to_string();
    std::fs::write(dir.path().join("rules/main.rhai"), format!("{MINIMAL}\n// ändrad")).unwrap();
    let h2 = Ruleset::load(dir.path()).unwrap().hash().to_string();
    assert_ne!(h1, h2);
}

#[test]
fn check_reports_parameter_problems_with_lines() {
    let dir = ruleset_with(MINIMAL, None);
    std::fs::write(dir.path().join("p.toml"), PARAMS.replace("belopp = 100\n", "")).unwrap();
    let problems = Ruleset::check(dir.path());
    assert!(
        problems
            .iter()
            .any(|p| p.file == "p.toml" && p.line == Some(8) && p.message.contains("saknas: belopp")),
        "{problems:?}"
    );
}

#[test]
fn a_period_before_all_parameters_is_a_ruleset_error() {
    let dir = ruleset_with(MINIMAL, None);
    let r = Ruleset::load(dir.path()).unwrap();
    let text =
        std::fs::read_to_string(repo().join("rulesets/ekonomiskt-bistand/tests/01-ensamstaende-utan-inkomst.json"))
            .unwrap()
            .replace("\"2021-03\"", "\"2018-06\"");
    let app = domain::Application::parse(text.as_bytes()).unwrap();
    let err = r.evaluate(&app).unwrap_err();
    assert!(err.to_string().contains("2018-06-01"), "{err}");
}
