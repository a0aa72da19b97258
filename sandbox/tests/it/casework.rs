//! A third casework type made only of files: an invented bicycle-helmet
//! subsidy. Nothing in Rust knows it; the engine reads its manifest,
//! schema, validation script, rules, parameters and tests.

use sandbox::{ReadError, Ruleset, testing};
use std::path::Path;

const MANIFEST: &str = r#"
name = "cykelhjalm"
version = "0.1.0"
description = "Bidrag till cykelhjälm (påhittad ärendetyp för test)"
entry = "rules/main.rhai"
parameters = ["parameters/bidrag.toml"]

[casework]
title = "Bidrag till cykelhjälm"
application_schema = "cykelhjalm/ansokan/v1"
draft_schema = "cykelhjalm/beslutsutkast/v1"
json_schema = "schema/ansokan.schema.json"
validate = "rules/validate.rhai"
labels = "labels.toml"
applicant = "/applicant"
applicant_name = "/name"
outcomes = ["bifall", "avslag", "manuell"]
sections = [
  { id = "kostnad", title = "Hjälmens pris" },
  { id = "egen_del", title = "Egen del", sign = -1 },
]

[casework.codes.barnet_for_gammalt]
label = "Barnet är 16 år eller äldre"
manual = true

[casework.codes.tak]
label = "Bidraget begränsat till taket"
"#;

const SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["schema", "external_id", "received_at", "period", "applicant", "child", "price"],
  "properties": {
    "schema": { "const": "cykelhjalm/ansokan/v1" },
    "external_id": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$" },
    "received_at": { "type": "string" },
    "period": { "type": "string", "x-hrobot": "period" },
    "applicant": { "type": "string", "x-hrobot": "personnummer" },
    "name": { "type": "string", "x-hrobot": "personal" },
    "child": { "type": "string", "x-hrobot": "personnummer" },
    "price": { "type": "number", "minimum": 0, "x-hrobot": "money" },
    "bought_on": { "type": "string", "x-hrobot": "date" },
    "helmets": { "type": "integer", "minimum": 1, "maximum": 3, "default": 1 }
  }
}"##;

const VALIDATE: &str = r#"
let errors = [];
if doc.applicant == doc.child {
    errors.push(#{ pointer: "/child", message: "barnet kan inte vara den som söker" });
}
errors
"#;

const RULES: &str = r#"
draft.rule("hjalm.alder", #{ alder: facts.child.age, antal: facts.helmets });
if facts.child.age >= 16 {
    draft.code("barnet_for_gammalt");
    draft.reason("barnet_for_gammalt", "Bidraget gäller barn under 16 år.", params.get("bidrag.lagrum"));
    draft.manual();
} else {
    draft.rule("hjalm.bidrag", #{ pris: facts.price, tak: params.get("bidrag.tak") });
    let tak = params.get("bidrag.tak") * facts.helmets;
    draft.row("kostnad", "Hjälmens pris", facts.price);
    if facts.price > tak {
        draft.code("tak");
        draft.row("egen_del", "Över taket", facts.price - tak);
    }
    let belopp = draft.total("kostnad") - draft.total("egen_del");
    draft.reason("bidrag", `Bidrag med ${fmt_kr(belopp)} kr.`, params.get("bidrag.lagrum"));
    draft.outcome("bifall", round_kr(belopp));
}
draft
"#;

const PARAMS: &str = r#"
name = "bidrag"
[types]
tak = "money"
lagrum = "text"
[[set]]
valid_from = 2020-01-01
source = "Påhittat för test"
verified = false
[set.values]
tak = 500
lagrum = "1 § påhittade lagen (2099:1)"
"#;

fn app(extra: &str) -> String {
    format!(
        r#"{{"schema": "cykelhjalm/ansokan/v1", "external_id": "H-1", "received_at": "2026-03-02T09:00:00+01:00",
            "period": "2026-03", "applicant": "198112189876", "name": "Test Testsson", {extra}}}"#
    )
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn package() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ruleset.toml", MANIFEST);
    write(d, "schema/ansokan.schema.json", SCHEMA);
    write(d, "rules/validate.rhai", VALIDATE);
    write(d, "rules/main.rhai", RULES);
    write(d, "parameters/bidrag.toml", PARAMS);
    write(d, "labels.toml", "[fields]\n\"/price\" = \"Hjälmens pris\"\n");
    // Children born 2016 (9 years) and 2008 (17 years), Skatteverket's test numbers.
    let cases = [
        (
            "01-under-taket",
            app(r#""child": "201609222383", "price": 399.5"#),
            r#"{"outcome": "bifall", "amount_sek": 400, "codes": []}"#,
        ),
        (
            "02-over-taket",
            app(r#""child": "201609222383", "price": 899"#),
            r#"{"outcome": "bifall", "amount_sek": 500, "codes": ["tak"]}"#,
        ),
        (
            "03-tva-hjalmar",
            app(r#""child": "201609222383", "price": 899, "helmets": 2"#),
            r#"{"outcome": "bifall", "amount_sek": 899, "codes": []}"#,
        ),
        (
            "04-for-gammalt",
            app(r#""child": "200801262387", "price": 300"#),
            r#"{"outcome": "manuell", "amount_sek": null, "codes": ["barnet_for_gammalt"]}"#,
        ),
        (
            "05-tre-decimaler",
            app(r#""child": "201609222383", "price": 399.505"#),
            r#"{"exit_code": 2, "pointer_any": ["/price"]}"#,
        ),
        (
            "06-fel-kontrollsiffra",
            app(r#""child": "201609222384", "price": 300"#),
            r#"{"exit_code": 2, "pointer_any": ["/child"]}"#,
        ),
        (
            "07-pris-saknas",
            app(r#""child": "201609222383""#),
            r#"{"exit_code": 2, "pointer_any": ["/price"]}"#,
        ),
        (
            "08-sig-sjalv",
            app(r#""child": "198112189876", "price": 300"#),
            r#"{"exit_code": 2, "pointer_any": ["/child"]}"#,
        ),
        (
            "09-fel-datum",
            app(r#""child": "201609222383", "price": 300, "bought_on": "2026-02-30""#),
            r#"{"exit_code": 2, "pointer_any": ["/bought_on"]}"#,
        ),
        (
            "10-negativt",
            app(r#""child": "201609222383", "price": -1"#),
            r#"{"exit_code": 2, "pointer_any": ["/price"]}"#,
        ),
    ];
    for (name, input, expected) in cases {
        write(d, &format!("tests/{name}.json"), &input);
        write(d, &format!("tests/{name}.expected.json"), expected);
    }
    dir
}

#[test]
fn a_third_type_needs_only_files() {
    let dir = package();
    let ruleset = Ruleset::load(dir.path()).unwrap();
    let cw = ruleset.casework().unwrap();
    assert_eq!(cw.title(), "Bidrag till cykelhjälm");
    assert_eq!(cw.code_label("tak"), "Bidraget begränsat till taket");
    assert!(cw.code_is_manual("barnet_for_gammalt") && !cw.code_is_manual("tak"));
    assert_eq!(cw.labels.field("/price"), Some("Hjälmens pris"));

    let cases = testing::cases(&dir.path().join("tests")).unwrap();
    assert_eq!(cases.len(), 10);
    for (name, input, expected) in cases {
        let r = testing::run_case(&ruleset, &name, &input, &expected);
        assert!(r.passed, "{name}: {:?}", r.diffs);
    }

    // The draft: the type's schema, its sections in order with their sign.
    let input = ruleset
        .read(app(r#""child": "201609222383", "price": 899"#).as_bytes())
        .unwrap();
    assert_eq!(input.subjects().len(), 2);
    let draft = ruleset.evaluate_input(&input).unwrap();
    let json = draft.to_json();
    assert!(
        json.starts_with(r#"{"schema":"cykelhjalm/beslutsutkast/v1","external_id":"H-1""#),
        "{json}"
    );
    assert!(json.contains(r#""calculation":{"kostnad":{"total_sek":899,"#), "{json}");
    assert!(json.contains(r#""sign":-1"#), "{json}");
    assert_eq!(draft.casework_type(), "cykelhjalm");
}

#[test]
fn rules_never_see_a_name_or_personnummer() {
    let dir = package();
    write(
        dir.path(),
        "rules/main.rhai",
        r#"draft.rule("x", #{ facts: facts }); draft.code("tak"); draft.row("kostnad", "p", 100); draft.outcome("bifall", 100); draft"#,
    );
    let ruleset = Ruleset::load(dir.path()).unwrap();
    let input = ruleset
        .read(app(r#""child": "201609222383", "price": 1"#).as_bytes())
        .unwrap();
    let trace = ruleset.evaluate_input(&input).unwrap().trace()[0]
        .inputs_json()
        .to_string();
    assert!(
        !trace.contains("Test Testsson") && !trace.contains("201609222383") && !trace.contains("198112189876"),
        "{trace}"
    );
    assert!(trace.contains(r#""child":{"age":9}"#), "{trace}");
    // The schema's default is what the rules see for an absent field.
    assert!(trace.contains(r#""helmets":1"#), "{trace}");
}

#[test]
fn a_broken_package_is_refused_with_the_file_named() {
    let dir = package();
    write(
        dir.path(),
        "schema/ansokan.schema.json",
        &SCHEMA.replace(
            r#""type": "number", "minimum": 0, "x-hrobot": "money""#,
            r#""type": "string", "x-hrobot": "money""#,
        ),
    );
    let err = Ruleset::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("schema/ansokan.schema.json") && err.contains("money"),
        "{err}"
    );

    let dir = package();
    write(
        dir.path(),
        "rules/main.rhai",
        r#"draft.rule("x"); draft.code("okand"); draft"#,
    );
    let ruleset = Ruleset::load(dir.path()).unwrap();
    let input = ruleset
        .read(app(r#""child": "201609222383", "price": 1"#).as_bytes())
        .unwrap();
    let err = ruleset.evaluate_input(&input).unwrap_err().to_string();
    assert!(err.contains("okänd kod") && err.contains("barnet_for_gammalt"), "{err}");

    // An amount that is not what the rows give is refused.
    let dir = package();
    write(
        dir.path(),
        "rules/main.rhai",
        r#"draft.rule("x"); draft.row("kostnad", "p", 10000); draft.outcome("bifall", 200); draft"#,
    );
    let ruleset = Ruleset::load(dir.path()).unwrap();
    let input = ruleset
        .read(app(r#""child": "201609222383", "price": 1"#).as_bytes())
        .unwrap();
    let err = ruleset.evaluate_input(&input).unwrap_err().to_string();
    assert!(err.contains("rader ger"), "{err}");

    // A validation script that returns the wrong shape is a ruleset error, not invalid input.
    let dir = package();
    write(dir.path(), "rules/validate.rhai", "42");
    let ruleset = Ruleset::load(dir.path()).unwrap();
    assert!(matches!(
        ruleset.read(app(r#""child": "201609222383", "price": 1"#).as_bytes()),
        Err(ReadError::Ruleset(_))
    ));
}
