//! The demo data in ops/demo: every personnummer is one of Skatteverket's
//! test personnummer (listed in ops/demo/testpersonnummer.txt), every
//! register answer belongs to someone in an application, and `hrobot
//! evaluate` drafts every application except the deliberately invalid ones.

use crate::support::*;
use std::collections::BTreeSet;

fn listed() -> BTreeSet<String> {
    std::fs::read_to_string(repo().join("ops/demo/testpersonnummer.txt"))
        .unwrap()
        .lines()
        .map(|l| l.split('#').next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn luhn_ok(p: &str) -> bool {
    let d: Vec<u32> = p.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 12 || !p.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = d[2..11]
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let v = if i % 2 == 0 { v * 2 } else { v };
            if v > 9 { v - 9 } else { v }
        })
        .sum();
    (10 - sum % 10) % 10 == d[11]
}

fn applications() -> Vec<(String, serde_json::Value)> {
    let mut out: Vec<_> = std::fs::read_dir(repo().join("ops/demo/inbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn is_deliberately_invalid(app: &serde_json::Value) -> bool {
    let id = app["external_id"].as_str().unwrap_or("");
    id.contains("ogiltig") || id.contains("negativ")
}

fn people(app: &serde_json::Value) -> Vec<String> {
    let h = &app["household"];
    let members = h["adults"]
        .as_array()
        .unwrap()
        .iter()
        .chain(h["children"].as_array().unwrap())
        .map(|m| m["personnummer"].as_str().unwrap().to_string());
    let incomes = app["incomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["person"].as_str().unwrap().to_string());
    members
        .chain(incomes)
        .chain(std::iter::once(app["applicant"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn every_demo_personnummer_is_a_skatteverket_test_number() {
    let listed = listed();
    assert!(listed.len() >= 20, "{} listed", listed.len());
    for p in &listed {
        assert!(luhn_ok(p), "testpersonnummer.txt: {p} has a wrong check digit");
    }
    let mut members = BTreeSet::new();
    for (name, app) in applications() {
        for p in people(&app) {
            if luhn_ok(&p) {
                assert!(
                    listed.contains(&p),
                    "{name}: {p} is not a listed Skatteverket test personnummer"
                );
                members.insert(p);
            } else {
                assert!(
                    is_deliberately_invalid(&app),
                    "{name}: {p} is not a valid personnummer outside an invalid-input scenario"
                );
            }
        }
    }
    for e in std::fs::read_dir(repo().join("ops/demo/register")).unwrap() {
        let p = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            listed.contains(&p),
            "register/{p}: not a listed Skatteverket test personnummer"
        );
        assert!(
            members.contains(&p),
            "register/{p}: no demo application has this person"
        );
    }
}

#[test]
fn demo_names_do_not_describe_the_case() {
    for (name, app) in applications() {
        let id = app["external_id"].as_str().unwrap();
        assert!(id.starts_with("DEMO-"), "{name}: {id}");
        let slug: Vec<&str> = id.split('-').skip(4).filter(|w| w.len() > 3).collect();
        let h = &app["household"];
        for m in h["adults"]
            .as_array()
            .unwrap()
            .iter()
            .chain(h["children"].as_array().unwrap())
        {
            let person = m["name"].as_str().unwrap().to_lowercase();
            for w in &slug {
                assert!(
                    !person.contains(w),
                    "{name}: the name {person:?} repeats the scenario ({w})"
                );
            }
        }
    }
}

#[test]
fn evaluate_drafts_every_demo_application_but_the_invalid_ones() {
    for (name, app) in applications() {
        let path = repo().join("ops/demo/inbox").join(&name);
        let o = run(&[
            "evaluate",
            "--ruleset",
            repo().join("rulesets/ekonomiskt-bistand").to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        if is_deliberately_invalid(&app) {
            assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        } else {
            assert!(o.status.success(), "{name}: {}", stderr(&o));
            let d: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            assert_eq!(d["external_id"], app["external_id"], "{name}");
        }
    }
}
