//! Dated parameter files: riksnorm amounts, municipal caps, legal
//! references. Data with a `valid_from`, a `source` and a `verified` flag per
//! value set, never constants in scripts.
//!
//! ```toml
//! name = "riksnorm"                 # parameters are read as riksnorm.<key>
//! description = "Riksnormen, kronor per månad"
//! cadence = "yearly"                # optional: one set for every year, 1 January
//!
//! [types]
//! ensamstaende = "money"            # money (kronor) | integer | text
//!
//! [[set]]
//! valid_from = 2021-01-01
//! source = "SFS 2020:1013"
//! verified = true
//! [set.values]
//! ensamstaende = 3160
//! ```
//!
//! `verified = true` means every value was read in the source named (the
//! SFS text, or Socialstyrelsen's or the government's own pages). Two
//! optional keys refine that, per set:
//!
//! - `unverified = ["key", …]`: in a set with `verified = true`, the values
//!   that were *not* read in the source (the source text says why). They
//!   count as unverified, so a draft that reads them carries the warning.
//! - `decision = "…"`: the values are the municipality's own decision (for
//!   example `"Socialnämnden 2025-03-12 § 45, dnr SN 2025/123"`), not facts
//!   read in a law. A decided value needs no check against a law text, so it
//!   gives no warning; the decision is part of its provenance
//!   ([`ResolvedParam::decision`]). Such a set has `verified = false`:
//!   `verified` is kept for what was read in a law or an authority's text.
//!   Invented example values have neither `verified = true` nor `decision`.

use crate::error::{Problem, line_col};
use chrono::{Datelike, NaiveDate};
use domain::Money;
use std::collections::{BTreeMap, HashMap};
use toml_edit::{Document, Item, TableLike};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Money,
    Integer,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Money(Money),
    Integer(i64),
    Text(String),
}

#[derive(Debug, Clone)]
pub struct ValueSet {
    pub valid_from: NaiveDate,
    pub source: String,
    pub verified: bool,
    /// With `verified`: the keys of this set that were not read in the source.
    pub unverified: Vec<String>,
    /// The municipality's own decision the values rest on, with its reference.
    pub decision: Option<String>,
    pub values: BTreeMap<String, ParamValue>,
}

impl ValueSet {
    /// Was this value read in the source named? (`verified` and not listed
    /// in `unverified`.)
    pub fn is_verified(&self, key: &str) -> bool {
        self.verified && !self.unverified.iter().any(|k| k == key)
    }
}

#[derive(Debug, Clone)]
pub struct ParamFile {
    pub path: String,
    pub name: String,
    pub description: String,
    pub types: BTreeMap<String, ParamType>,
    /// Sorted by `valid_from`.
    pub sets: Vec<ValueSet>,
}

/// One parameter as it applies on a date.
#[derive(Debug, Clone)]
pub struct ResolvedParam {
    pub value: ParamValue,
    /// Read in the source named (the SFS text or an authority's own page).
    pub verified: bool,
    /// The municipality's own decision the value rests on, if it is one.
    pub decision: Option<String>,
    pub source: String,
    pub valid_from: NaiveDate,
    pub file: String,
}

impl ResolvedParam {
    /// Must an official check this value before approving? Not when it was
    /// read in its source, nor when it is the municipality's own decision.
    pub fn needs_check(&self) -> bool {
        !self.verified && self.decision.is_none()
    }

    /// Where the value comes from, for warnings and provenance:
    /// the source, and the decision when there is one.
    pub fn provenance(&self) -> String {
        match &self.decision {
            Some(d) => format!("{}; beslut: {d}", self.source),
            None => self.source.clone(),
        }
    }
}

/// All parameters valid on one date, by full name (`riksnorm.ensamstaende`).
#[derive(Debug, Clone)]
pub struct ResolvedParams {
    date: NaiveDate,
    values: HashMap<String, ResolvedParam>,
}

impl ResolvedParams {
    /// No parameters (a date no set covers).
    pub fn none(date: NaiveDate) -> ResolvedParams {
        ResolvedParams {
            date,
            values: HashMap::new(),
        }
    }
    pub fn date(&self) -> NaiveDate {
        self.date
    }
    pub fn get(&self, name: &str) -> Option<&ResolvedParam> {
        self.values.get(name)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ResolvedParam)> {
        self.values.iter()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ParamTable {
    pub files: Vec<ParamFile>,
}

impl ParamTable {
    /// The values in force on `date`: from every file, the set with the
    /// latest `valid_from` on or before it.
    pub fn resolve(&self, date: NaiveDate) -> Result<ResolvedParams, Problem> {
        let mut values = HashMap::new();
        for f in &self.files {
            let Some(set) = f.sets.iter().rev().find(|s| s.valid_from <= date) else {
                let first = f.sets.first().map_or_else(String::new, |s| s.valid_from.to_string());
                return Err(Problem::new(
                    &f.path,
                    format!("inga parametervärden gäller {date} (de första gäller från {first})"),
                ));
            };
            for (k, v) in &set.values {
                values.insert(
                    format!("{}.{k}", f.name),
                    ResolvedParam {
                        value: v.clone(),
                        verified: set.is_verified(k),
                        decision: set.decision.clone(),
                        source: set.source.clone(),
                        valid_from: set.valid_from,
                        file: f.path.clone(),
                    },
                );
            }
        }
        Ok(ResolvedParams { date, values })
    }

    /// Checks that no two files define the same parameter names.
    pub fn check_across_files(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for f in &self.files {
            if let Some(other) = seen.insert(&f.name, &f.path) {
                problems.push(Problem::new(
                    &f.path,
                    format!(
                        "namnet {:?} används redan av {other}: samma parametrar får bara ha en giltighet",
                        f.name
                    ),
                ));
            }
        }
        problems
    }
}

const TOP_KEYS: &[&str] = &["name", "description", "cadence", "types", "set"];
const SET_KEYS: &[&str] = &["valid_from", "source", "verified", "unverified", "decision", "values"];

struct Checker<'a> {
    path: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn at(&mut self, span: Option<std::ops::Range<usize>>, msg: impl Into<String>) {
        let mut p = Problem::new(self.path, msg);
        if let Some(s) = span {
            let (l, c) = line_col(self.text, s.start);
            p = p.at(l, c);
        }
        self.problems.push(p);
    }
}

fn key_span(t: &dyn TableLike, key: &str) -> Option<std::ops::Range<usize>> {
    t.key(key)
        .and_then(|k| k.span())
        .or_else(|| t.get(key).and_then(Item::span))
}

/// Parses and checks one parameter file. Returns the file if it is usable,
/// and every problem found (with line and column).
pub fn load(path: &str, text: &str) -> (Option<ParamFile>, Vec<Problem>) {
    let mut c = Checker {
        path,
        text,
        problems: Vec::new(),
    };
    let doc = match Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            c.at(e.span(), format!("ogiltig TOML: {}", e.message()));
            return (None, c.problems);
        }
    };
    let root = doc.as_table();

    for (k, item) in root.iter() {
        if !TOP_KEYS.contains(&k) {
            c.at(key_span(root, k).or_else(|| item.span()), format!("okänd nyckel {k:?}"));
        }
    }

    let name = match root.get("name").and_then(Item::as_str) {
        Some(n)
            if !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            n.to_string()
        }
        Some(_) => {
            c.at(key_span(root, "name"), "name ska bestå av a–z, 0–9 och understreck");
            String::new()
        }
        None => {
            c.at(None, "name saknas (parametrarna läses som <name>.<nyckel>)");
            String::new()
        }
    };
    let description = root.get("description").and_then(Item::as_str).unwrap_or("").to_string();
    let yearly = match root.get("cadence") {
        None => false,
        Some(i) if i.as_str() == Some("yearly") => true,
        Some(i) => {
            c.at(i.span(), "cadence kan bara vara \"yearly\"");
            false
        }
    };

    let mut types = BTreeMap::new();
    match root.get("types").and_then(Item::as_table_like) {
        None => c.at(None, "tabellen [types] saknas: den anger varje parameter och dess typ"),
        Some(t) => {
            for (k, item) in t.iter() {
                let ty = match item.as_str() {
                    Some("money") => Some(ParamType::Money),
                    Some("integer") => Some(ParamType::Integer),
                    Some("text") => Some(ParamType::Text),
                    _ => None,
                };
                match ty {
                    Some(ty) => {
                        types.insert(k.to_string(), ty);
                    }
                    None => c.at(
                        item.span().or_else(|| key_span(t, k)),
                        format!("typen för {k:?} ska vara \"money\", \"integer\" eller \"text\""),
                    ),
                }
            }
            if types.is_empty() && t.is_empty() {
                c.at(root.get("types").and_then(Item::span), "[types] är tom");
            }
        }
    }

    let mut sets: Vec<(ValueSet, Option<std::ops::Range<usize>>)> = Vec::new();
    match root.get("set").and_then(Item::as_array_of_tables) {
        None => c.at(None, "inga värden: lägg till minst en [[set]]"),
        Some(aot) => {
            for table in aot.iter() {
                let span = table.span();
                if let Some(s) = check_set(&mut c, table, &types, span.clone()) {
                    sets.push((s, span));
                }
            }
        }
    }

    // Overlaps and gaps.
    sets.sort_by_key(|(s, _)| s.valid_from);
    for w in sets.windows(2) {
        if w[0].0.valid_from == w[1].0.valid_from {
            c.at(
                w[1].1.clone(),
                format!(
                    "två värdeuppsättningar gäller från {}: giltigheten överlappar",
                    w[1].0.valid_from
                ),
            );
        }
    }
    if yearly {
        for (s, span) in &sets {
            if (s.valid_from.month(), s.valid_from.day()) != (1, 1) {
                c.at(
                    span.clone(),
                    format!(
                        "cadence = \"yearly\": valid_from {} ska vara den 1 januari",
                        s.valid_from
                    ),
                );
            }
        }
        for w in sets.windows(2) {
            let (a, b) = (w[0].0.valid_from.year(), w[1].0.valid_from.year());
            if b > a + 1 {
                let missing: Vec<String> = (a + 1..b).map(|y| y.to_string()).collect();
                c.at(
                    w[1].1.clone(),
                    format!("värden saknas för {} (mellan {a} och {b})", missing.join(", ")),
                );
            }
        }
    }

    let usable = !name.is_empty() && !types.is_empty() && !sets.is_empty() && c.problems.is_empty();
    let file = usable.then(|| ParamFile {
        path: path.to_string(),
        name,
        description,
        types,
        sets: sets.into_iter().map(|(s, _)| s).collect(),
    });
    (file, c.problems)
}

fn check_set(
    c: &mut Checker<'_>,
    table: &toml_edit::Table,
    types: &BTreeMap<String, ParamType>,
    span: Option<std::ops::Range<usize>>,
) -> Option<ValueSet> {
    let before = c.problems.len();
    for (k, item) in table.iter() {
        if !SET_KEYS.contains(&k) {
            c.at(
                key_span(table, k).or_else(|| item.span()),
                format!("okänd nyckel {k:?} i [[set]]"),
            );
        }
    }
    let valid_from = match table.get("valid_from").and_then(Item::as_datetime) {
        Some(dt) if dt.time.is_none() => dt
            .date
            .and_then(|d| NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))),
        _ => None,
    };
    if valid_from.is_none() {
        c.at(
            key_span(table, "valid_from").or(span.clone()),
            "valid_from ska vara ett datum, till exempel valid_from = 2021-01-01",
        );
    }
    let source = table.get("source").and_then(Item::as_str).map(str::trim).unwrap_or("");
    if source.is_empty() {
        c.at(
            key_span(table, "source").or(span.clone()),
            "source saknas: ange var värdena kommer ifrån",
        );
    }
    let verified = table.get("verified").and_then(Item::as_bool);
    if verified.is_none() {
        c.at(
            key_span(table, "verified").or(span.clone()),
            "verified ska vara true eller false: är värdena kontrollerade mot källan?",
        );
    }
    let mut unverified = Vec::new();
    if let Some(item) = table.get("unverified") {
        match item.as_array() {
            Some(a) if a.iter().all(|v| v.as_str().is_some()) => {
                for v in a.iter().filter_map(toml_edit::Value::as_str) {
                    if !types.contains_key(v) {
                        c.at(item.span(), format!("unverified: {v:?} finns inte i [types]"));
                    }
                    unverified.push(v.to_string());
                }
            }
            _ => c.at(
                item.span().or_else(|| key_span(table, "unverified")),
                "unverified ska vara en lista med nycklar, till exempel unverified = [\"motivering\"]",
            ),
        }
        if verified == Some(false) && !unverified.is_empty() {
            c.at(
                key_span(table, "unverified"),
                "unverified används bara med verified = true (med verified = false är alla värden ej verifierade)",
            );
        }
    }
    let decision = match table.get("decision") {
        None => None,
        Some(item) => match item.as_str().map(str::trim) {
            Some(d) if !d.is_empty() => Some(d.to_string()),
            _ => {
                c.at(
                    item.span().or_else(|| key_span(table, "decision")),
                    "decision ska vara en text som anger beslutet, till exempel \"Socialnämnden 2025-03-12 § 45\"",
                );
                None
            }
        },
    };
    if decision.is_some() && verified == Some(true) {
        c.at(
            key_span(table, "decision"),
            "ett kommunalt beslut (decision) har verified = false: verified gäller värden lästa i författningstext",
        );
    }
    let mut values = BTreeMap::new();
    match table.get("values").and_then(Item::as_table_like) {
        None => c.at(key_span(table, "values").or(span.clone()), "[set.values] saknas"),
        Some(vt) => {
            for (k, item) in vt.iter() {
                let Some(ty) = types.get(k) else {
                    c.at(key_span(vt, k), format!("{k:?} finns inte i [types]"));
                    continue;
                };
                let v = item.as_value();
                let parsed = match ty {
                    ParamType::Money => match (
                        v.and_then(toml_edit::Value::as_integer),
                        v.and_then(toml_edit::Value::as_str),
                    ) {
                        (Some(i), _) => Money::from_kronor(i).ok().map(ParamValue::Money),
                        (None, Some(s)) => Money::parse_kronor_text(s).ok().map(ParamValue::Money),
                        _ => None,
                    },
                    ParamType::Integer => v.and_then(toml_edit::Value::as_integer).map(ParamValue::Integer),
                    ParamType::Text => v
                        .and_then(toml_edit::Value::as_str)
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| ParamValue::Text(s.to_string())),
                };
                match parsed {
                    Some(p) => {
                        values.insert(k.to_string(), p);
                    }
                    None => c.at(
                        item.span().or_else(|| key_span(vt, k)),
                        match ty {
                            ParamType::Money => format!("{k}: ett belopp i kronor (heltal eller text som \"12.50\")"),
                            ParamType::Integer => format!("{k}: ett heltal"),
                            ParamType::Text => format!("{k}: en text som inte är tom"),
                        },
                    ),
                }
            }
            let missing: Vec<&str> = types
                .keys()
                .filter(|k| !vt.contains_key(k))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                c.at(
                    key_span(table, "values").or(span.clone()),
                    format!("värdeuppsättningen är inte komplett; saknas: {}", missing.join(", ")),
                );
            }
        }
    }
    if c.problems.len() > before {
        return None;
    }
    Some(ValueSet {
        valid_from: valid_from?,
        source: source.to_string(),
        verified: verified?,
        unverified,
        decision,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"name = "norm"
cadence = "yearly"

[types]
a = "money"
n = "integer"
t = "text"

[[set]]
valid_from = 2020-01-01
source = "SFS 1"
verified = true
[set.values]
a = 100
n = 3
t = "4 kap. 1 §"

[[set]]
valid_from = 2021-01-01
source = "SFS 2"
verified = false
[set.values]
a = "100.50"
n = 4
t = "x"
"#;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn resolves_the_latest_set_on_or_before_the_date() {
        let (f, problems) = load("p.toml", GOOD);
        assert!(problems.is_empty(), "{problems:?}");
        let table = ParamTable {
            files: vec![f.unwrap()],
        };
        let r = table.resolve(d("2020-12-31")).unwrap();
        assert_eq!(
            r.get("norm.a").unwrap().value,
            ParamValue::Money(Money::from_ore(10_000))
        );
        assert!(r.get("norm.a").unwrap().verified);
        let r = table.resolve(d("2026-06-01")).unwrap();
        assert_eq!(
            r.get("norm.a").unwrap().value,
            ParamValue::Money(Money::from_ore(10_050))
        );
        assert!(!r.get("norm.n").unwrap().verified);
        let e = table.resolve(d("2019-12-31")).unwrap_err();
        assert!(e.message.contains("2019-12-31"), "{e}");
    }

    #[track_caller]
    fn problem(text: &str, line: usize, needle: &str) {
        let (f, problems) = load("p.toml", text);
        assert!(f.is_none());
        assert!(
            problems
                .iter()
                .any(|p| p.line == Some(line) && p.message.contains(needle)),
            "want line {line} {needle:?}, got {problems:#?}"
        );
    }

    #[test]
    fn reports_problems_with_lines() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("t = \"x\"\n", "", 22, "saknas: t"),
            ("n = 4", "n = \"fyra\"", 24, "n: ett heltal"),
            ("a = \"100.50\"", "a = 100.5", 23, "a: ett belopp"),
            ("a = \"100.50\"", "a = \"1.005\"", 23, "a: ett belopp"),
            ("valid_from = 2021-01-01", "valid_from = 2020-01-01", 18, "överlappar"),
            ("valid_from = 2021-01-01", "valid_from = 2023-01-01", 18, "2021, 2022"),
            ("valid_from = 2021-01-01", "valid_from = 2021-02-01", 18, "1 januari"),
            ("verified = false", "verified = \"nej\"", 21, "verified"),
            ("source = \"SFS 2\"", "source = \"\"", 20, "source"),
            ("t = \"x\"", "t = \"x\"\nz = 1", 26, "\"z\" finns inte i [types]"),
            ("t = \"text\"", "t = \"float\"", 7, "typen"),
            (
                "[[set]]\nvalid_from = 2021",
                "[[set]]\nvalid_fr = 2021",
                19,
                "okänd nyckel",
            ),
        ];
        for (from, to, line, needle) in cases {
            problem(&GOOD.replace(from, to), *line, needle);
        }
        problem("name = \"x\"\n[types\n", 2, "ogiltig TOML");
    }

    #[test]
    fn unverified_keys_of_a_verified_set_count_as_unverified() {
        let text = GOOD.replace("source = \"SFS 1\"\n", "source = \"SFS 1\"\nunverified = [\"t\"]\n");
        let (f, problems) = load("p.toml", &text);
        assert!(problems.is_empty(), "{problems:?}");
        let table = ParamTable {
            files: vec![f.unwrap()],
        };
        let r = table.resolve(d("2020-06-01")).unwrap();
        assert!(r.get("norm.a").unwrap().verified);
        assert!(!r.get("norm.t").unwrap().verified);
        assert!(r.get("norm.t").unwrap().needs_check());
        assert!(!r.get("norm.a").unwrap().needs_check());
    }

    #[test]
    fn a_decided_set_needs_no_check_and_names_the_decision() {
        let text = GOOD.replace(
            "source = \"SFS 2\"\n",
            "source = \"Riktlinjer\"\ndecision = \"Socialnämnden 2025-03-12 § 45\"\n",
        );
        let (f, problems) = load("p.toml", &text);
        assert!(problems.is_empty(), "{problems:?}");
        let table = ParamTable {
            files: vec![f.unwrap()],
        };
        let p = table.resolve(d("2021-06-01")).unwrap().get("norm.a").unwrap().clone();
        assert!(!p.verified);
        assert!(!p.needs_check());
        assert_eq!(p.decision.as_deref(), Some("Socialnämnden 2025-03-12 § 45"));
        assert!(
            p.provenance().contains("beslut: Socialnämnden 2025-03-12 § 45"),
            "{}",
            p.provenance()
        );
        // Without a decision an unverified value must be checked.
        let (f, _) = load("p.toml", GOOD);
        let table = ParamTable {
            files: vec![f.unwrap()],
        };
        assert!(
            table
                .resolve(d("2021-06-01"))
                .unwrap()
                .get("norm.a")
                .unwrap()
                .needs_check()
        );
    }

    #[test]
    fn decision_and_unverified_are_checked() {
        // The inserted key is line 12 in the first set, line 21 in the second.
        problem(
            &GOOD.replace(
                "source = \"SFS 1\"\n",
                "source = \"SFS 1\"\ndecision = \"Nämnden § 1\"\n",
            ),
            12,
            "verified = false",
        );
        problem(
            &GOOD.replace("source = \"SFS 2\"\n", "source = \"SFS 2\"\nunverified = [\"a\"]\n"),
            21,
            "bara med verified = true",
        );
        problem(
            &GOOD.replace("source = \"SFS 1\"\n", "source = \"SFS 1\"\nunverified = [\"z\"]\n"),
            12,
            "\"z\" finns inte i [types]",
        );
        problem(
            &GOOD.replace("source = \"SFS 1\"\n", "source = \"SFS 1\"\nunverified = \"a\"\n"),
            12,
            "en lista",
        );
        problem(
            &GOOD.replace("source = \"SFS 2\"\n", "source = \"SFS 2\"\ndecision = \" \"\n"),
            21,
            "decision ska vara en text",
        );
    }

    #[test]
    fn the_same_name_in_two_files_is_an_overlap() {
        let (a, _) = load("a.toml", GOOD);
        let (b, _) = load("b.toml", GOOD);
        let t = ParamTable {
            files: vec![a.unwrap(), b.unwrap()],
        };
        assert_eq!(t.check_across_files().len(), 1);
    }
}
