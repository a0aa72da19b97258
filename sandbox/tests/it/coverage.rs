//! Rule coverage (`sandbox::coverage`): an invented ruleset made of files,
//! with a rule its cases never reach, a code only its manifest names and
//! a rule whose name is built while it runs; and the shipped rulesets.

use sandbox::Ruleset;
use sandbox::coverage::{Kind, KindReport, Report, of_tests};
use std::path::{Path, PathBuf};

const MANIFEST: &str = r#"name = "hjalmtest"
version = "0.1.0"
entry = "rules/main.rhai"
parameters = []

[casework]
title = "Hjälmbidrag (påhittat för test)"
application_schema = "hjalmtest/ansokan/v1"
draft_schema = "hjalmtest/beslutsutkast/v1"
json_schema = "schema/ansokan.schema.json"
applicant = "/applicant"
outcomes = ["bifall", "manuell"]
sections = [
  { id = "kostnad", title = "Pris" },
  { id = "egen_del", title = "Egen del", sign = -1 },
]

[casework.codes.for_gammal]
label = "Barnet är för gammalt"
manual = true

[casework.codes.tak]
label = "Begränsat till taket"

[casework.codes.aldrig_satt]
label = "Sätts av ingen regel"
"#;

const SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["schema", "external_id", "received_at", "period", "applicant", "child", "price"],
  "properties": {
    "schema": { "const": "hjalmtest/ansokan/v1" },
    "external_id": { "type": "string" },
    "received_at": { "type": "string" },
    "period": { "type": "string", "x-hrobot": "period" },
    "applicant": { "type": "string", "x-hrobot": "personnummer" },
    "child": { "type": "string", "x-hrobot": "personnummer" },
    "price": { "type": "number", "minimum": 0, "x-hrobot": "money" },
    "helmets": { "type": "integer", "minimum": 1, "maximum": 3, "default": 1 }
  }
}"##;

/// Line 1 is the first rule; `aldrig.tak` (line 8) is reached only by a
/// price over 1,000 kr, which no case has; line 13 names its rule at run time.
const RULES: &str = r#"draft.rule("alder", #{ alder: facts.child.age });
if facts.child.age >= 16 {
    draft.code("for_gammal");
    draft.reason("for_gammal", "Bidraget gäller barn under 16 år.", "1 § påhittade lagen");
    draft.manual();
} else {
    if facts.price > 100000 {
        draft.rule("aldrig.tak");
        draft.code("tak");
        draft.row("egen_del", "Över taket", facts.price - 100000);
    }
    let antal = if facts.helmets > 1 { "flera" } else { "en" };
    draft.rule(`hjalmar.${antal}`, #{ antal: facts.helmets });
    draft.row("kostnad", "Hjälmens pris", facts.price);
    let belopp = draft.total("kostnad") - draft.total("egen_del");
    draft.reason("bidrag", `Bidrag med ${fmt_kr(belopp)}.`, "1 § påhittade lagen");
    draft.outcome("bifall", round_kr(belopp));
}
draft
"#;

fn app(child: &str, extra: &str) -> String {
    format!(
        r#"{{"schema": "hjalmtest/ansokan/v1", "external_id": "H-1", "received_at": "2026-03-02T09:00:00+01:00",
            "period": "2026-03", "applicant": "198112189876", "child": "{child}", {extra}}}"#
    )
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Children born 2016 (9 years) and 2008 (17 years), Skatteverket's test numbers.
fn package() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ruleset.toml", MANIFEST);
    write(d, "schema/ansokan.schema.json", SCHEMA);
    write(d, "rules/main.rhai", RULES);
    let cases = [
        (
            "01-en",
            app("201609222383", r#""price": 300"#),
            r#"{"outcome": "bifall", "amount_sek": 300}"#,
        ),
        (
            "02-tva",
            app("201609222383", r#""price": 500, "helmets": 2"#),
            r#"{"outcome": "bifall", "amount_sek": 500}"#,
        ),
        (
            "03-en-till",
            app("201609222383", r#""price": 200"#),
            r#"{"outcome": "bifall", "amount_sek": 200}"#,
        ),
        (
            "04-for-gammal",
            app("200801262387", r#""price": 300"#),
            r#"{"outcome": "manuell", "codes": ["for_gammal"]}"#,
        ),
        (
            "05-ogiltig",
            app("201609222383", r#""price": -1"#),
            r#"{"exit_code": 2, "pointer_any": ["/price"]}"#,
        ),
    ];
    for (name, input, expected) in cases {
        write(d, &format!("tests/{name}.json"), &input);
        write(d, &format!("tests/{name}.expected.json"), expected);
    }
    dir
}

fn item<'a>(k: &'a KindReport, name: &str) -> &'a sandbox::coverage::ItemReport {
    k.items.iter().find(|i| i.name == name).unwrap_or_else(|| {
        panic!(
            "{name} not in {:?}",
            k.items.iter().map(|i| &i.name).collect::<Vec<_>>()
        )
    })
}

#[test]
fn a_rule_no_case_reaches_is_flagged_and_counts_are_per_draft() {
    let dir = package();
    let ruleset = Ruleset::load(dir.path()).unwrap();
    let t = of_tests(&ruleset, &dir.path().join("tests")).unwrap();
    assert_eq!(t.cases, 5);
    assert!(t.failed.is_empty(), "{:?}", t.failed);
    assert_eq!(t.without_draft, ["05-ogiltig"]);
    let r = &t.report;
    assert_eq!(r.drafts, 4);

    // Rules: alder (every draft), aldrig.tak (none), the dynamic one (3).
    let rules = &r.rules;
    assert_eq!(rules.total, 3, "{rules:#?}");
    assert_eq!(rules.exercised, 2);
    assert_eq!(rules.summary, "2 of 3 rules exercised");
    assert_eq!(item(rules, "alder").drafts, 4);
    assert_eq!(
        (item(rules, "alder").file.as_str(), item(rules, "alder").line),
        ("rules/main.rhai", 1)
    );
    let never = item(rules, "aldrig.tak");
    assert!(!never.exercised && never.drafts == 0);
    assert_eq!(never.line, 8);
    assert_eq!(
        rules.never_exercised().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["aldrig.tak"]
    );

    // The rule named at run time: reported as dynamic, with its pattern,
    // credited with the drafts whose names it made ("hjalmar.en" twice,
    // "hjalmar.flera" once), not reported as unknown.
    let dynamic = item(rules, "dynamic at rules/main.rhai:13");
    assert!(dynamic.dynamic);
    assert_eq!(dynamic.pattern.as_deref(), Some("hjalmar.*"));
    assert_eq!(dynamic.drafts, 3);
    assert!(rules.not_in_sources.is_empty(), "{:?}", rules.not_in_sources);

    // `alder` runs in every draft but records something (code, reason,
    // outcome) only for the child who is too old.
    assert_eq!(item(rules, "alder").fired, Some(1));
    assert_eq!(dynamic.fired, Some(3));
    assert_eq!(never.fired, Some(0));
    assert_eq!(rules.fired, Some(2));
    assert_eq!(item(&r.rows, "kostnad: Hjälmens pris").fired, None);

    // Codes: the script's and the manifest's, each once, with both places.
    let codes = &r.codes;
    assert_eq!(codes.summary, "1 of 3 codes exercised");
    let for_gammal = item(codes, "for_gammal");
    assert_eq!(for_gammal.drafts, 1);
    let places: Vec<String> = for_gammal.sites.iter().map(ToString::to_string).collect();
    assert_eq!(places, ["rules/main.rhai:3", "ruleset.toml:18"]);
    let aldrig = item(codes, "aldrig_satt");
    assert_eq!(
        (aldrig.file.as_str(), aldrig.line, aldrig.exercised),
        ("ruleset.toml", 25, false)
    );

    // Rows by section and label; reasons by code.
    assert_eq!(item(&r.rows, "kostnad: Hjälmens pris").drafts, 3);
    assert!(!item(&r.rows, "egen_del: Över taket").exercised);
    assert_eq!(item(&r.reasons, "bidrag").drafts, 3);
    assert_eq!(item(&r.reasons, "for_gammal").drafts, 1);
    assert_eq!(r.reasons.summary, "2 of 2 reasons exercised");

    // The report is JSON for the web UI and `--json`.
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["rules"]["exercised"], 2);
    assert_eq!(json["rules"]["items"][1]["exercised"], false);
}

#[test]
fn another_cases_folder_changes_the_counts() {
    let dir = package();
    // Only the case over the cap, which reaches aldrig.tak.
    write(dir.path(), "more/01-dyr.json", &app("201609222383", r#""price": 1500"#));
    write(
        dir.path(),
        "more/01-dyr.expected.json",
        r#"{"outcome": "bifall", "amount_sek": 1000, "codes": ["tak"]}"#,
    );
    let ruleset = Ruleset::load(dir.path()).unwrap();
    let t = of_tests(&ruleset, &dir.path().join("more")).unwrap();
    assert!(t.failed.is_empty(), "{:?}", t.failed);
    assert_eq!(t.report.drafts, 1);
    assert_eq!(item(&t.report.rules, "aldrig.tak").drafts, 1);
    assert_eq!(item(&t.report.codes, "tak").drafts, 1);
    assert!(!item(&t.report.codes, "for_gammal").exercised);
}

fn rulesets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rulesets")
}

/// Every item has a file and a line inside that file; counts add up.
fn consistent(dir: &Path, r: &Report) {
    for kind in Kind::ALL {
        let k = r.kind(kind);
        assert_eq!(k.total, k.items.len());
        assert_eq!(k.exercised, k.items.iter().filter(|i| i.exercised).count());
        assert!(k.exercised <= k.total);
        assert!(k.total > 0, "{kind}: nothing found");
        assert_eq!(
            k.summary,
            format!("{} of {} {} exercised", k.exercised, k.total, kind.plural())
        );
        for i in &k.items {
            assert!(i.drafts <= r.drafts, "{}", i.name);
            assert_eq!(i.exercised, i.drafts > 0);
            match kind {
                Kind::Rule => assert!(i.fired.unwrap() <= i.drafts, "{}", i.name),
                _ => assert_eq!(i.fired, None),
            }
            assert!(!i.sites.is_empty());
            for s in &i.sites {
                let text = std::fs::read_to_string(dir.join(&s.file)).unwrap();
                let line = text
                    .lines()
                    .nth(s.line - 1)
                    .unwrap_or_else(|| panic!("{s} past the end"));
                // The line names the item: a script call, or the manifest's code.
                if s.file.ends_with(".rhai") {
                    assert!(line.contains(&format!("draft.{}(", kind.as_str())), "{s}: {line}");
                } else {
                    assert!(line.contains(&i.name), "{s}: {line}");
                }
            }
        }
        // Everything the tests made comes from the sources.
        assert!(k.not_in_sources.is_empty(), "{kind}: {:?}", k.not_in_sources);
        assert!(k.added_by_service.is_empty());
    }
}

#[test]
fn the_shipped_rulesets_tests_are_covered_consistently() {
    for name in ["ekonomiskt-bistand", "avgift-aldreomsorg"] {
        let dir = rulesets().join(name);
        let ruleset = Ruleset::load(&dir).unwrap();
        let t = of_tests(&ruleset, &dir.join("tests")).unwrap();
        assert!(t.failed.is_empty(), "{name}: {:?}", t.failed);
        assert!(t.report.drafts > 10, "{name}");
        consistent(&dir, &t.report);
        // The manual routes are all tested.
        for i in t.report.rules.items.iter().filter(|i| i.name.starts_with("manuell.")) {
            assert!(i.exercised, "{name}: {} never exercised", i.name);
        }
    }
    // Ekonomiskt bistånd's codes are declared in the manifest and set by
    // name in the script: each item has both places.
    let dir = rulesets().join("ekonomiskt-bistand");
    let t = of_tests(&Ruleset::load(&dir).unwrap(), &dir.join("tests")).unwrap();
    let nyansokan = item(&t.report.codes, "nyansokan");
    assert!(nyansokan.sites.iter().any(|s| s.file == "ruleset.toml"));
    assert!(nyansokan.sites.iter().any(|s| s.file == "rules/main.rhai"));
}
