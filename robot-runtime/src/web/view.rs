//! What the templates show, prepared in Rust: Swedish labels, money in
//! kronor, times in Europe/Stockholm, the calculation as table rows and the
//! rule trace in plain Swedish. Templates only lay it out (and escape it:
//! askama escapes every value in an `.html` template).

use crate::store::RegisterAnswer;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Stockholm;
use domain::{Application, CaseState, Draft, Money, Outcome};
use serde_json::Value;
use std::sync::Mutex;

pub fn money(ore: i64) -> String {
    Money::from_ore(ore).to_string()
}

pub fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Stockholm).format("%Y-%m-%d %H:%M").to_string()
}

pub fn date(t: DateTime<Utc>) -> String {
    t.with_timezone(&Stockholm).format("%Y-%m-%d").to_string()
}

/// Whole days between two times.
pub fn age_days(now: DateTime<Utc>, then: DateTime<Utc>) -> i64 {
    (now - then).num_days().max(0)
}

pub fn outcome_label(o: Option<Outcome>) -> &'static str {
    o.map_or("–", Outcome::label)
}

/// The counts per state, read at most once every two seconds: the queue
/// page shows them on every request, and the count is a scan.
#[derive(Default)]
pub struct CountsCache {
    inner: Mutex<Option<(DateTime<Utc>, Counts)>>,
}

type Counts = Vec<(CaseState, i64)>;

impl CountsCache {
    pub async fn get(&self, web: &super::Web) -> Result<Vec<(CaseState, i64)>, crate::store::StoreError> {
        let now = web.now();
        if let Ok(g) = self.inner.lock()
            && let Some((at, counts)) = g.as_ref()
            && now >= *at
            && now - *at < chrono::Duration::seconds(2)
        {
            return Ok(counts.clone());
        }
        let counts = web.ctx.store.count_by_state().await?;
        if let Ok(mut g) = self.inner.lock() {
            *g = Some((now, counts.clone()));
        }
        Ok(counts)
    }

    pub fn invalidate(&self) {
        if let Ok(mut g) = self.inner.lock() {
            *g = None;
        }
    }
}

// ------------------------------------------------------------------ the case

pub struct LabelValue {
    pub label: String,
    pub value: String,
}

pub struct Person {
    pub role: String,
    pub name: String,
    pub details: String,
}

/// The application as the official reads it.
pub struct ApplicationView {
    pub kind: String,
    /// The heading of the people table (`Hushållet`, `Sökande`).
    pub people_title: String,
    pub received: String,
    pub people: Vec<Person>,
    pub groups: Vec<Group>,
}

pub struct Group {
    pub title: String,
    pub items: Vec<LabelValue>,
}

fn person_name(app: &Application, p: &domain::Personnummer) -> String {
    let h = app.household();
    match h.member(p) {
        Some(domain::Member::Adult(i)) => h.adults.get(i).map(|a| a.name.clone()).unwrap_or_default(),
        Some(domain::Member::Child(i)) => h.children.get(i).map(|c| c.name.clone()).unwrap_or_default(),
        None => "okänd person".into(),
    }
}

pub fn application_view(app: &Application) -> ApplicationView {
    let h = app.household();
    let mut people = Vec::new();
    for (i, a) in h.adults.iter().enumerate() {
        let mut d = Vec::new();
        if a.personnummer == *app.applicant() {
            d.push("sökande".to_string());
        }
        if let Some(r) = a.relation {
            d.push(
                match r {
                    domain::Relation::Sambo => "sambo",
                    domain::Relation::Make => "make/maka",
                    domain::Relation::Annan => "annan relation",
                }
                .to_string(),
            );
        }
        d.push(if a.job_seeking {
            "arbetssökande".into()
        } else {
            "inte arbetssökande".into()
        });
        if let Some(e) = &a.exempt_reason {
            d.push(format!("undantag: {e}"));
        }
        people.push(Person {
            role: format!("Vuxen {}", i + 1),
            name: a.name.clone(),
            details: d.join(", "),
        });
    }
    for (i, c) in h.children.iter().enumerate() {
        let mut d = vec![format!("bor här {} %", c.residence_share_percent)];
        if c.lunch_at_preschool {
            d.push("lunch i förskola/skola".into());
        }
        people.push(Person {
            role: format!("Barn {}", i + 1),
            name: c.name.clone(),
            details: d.join(", "),
        });
    }
    let costs: Vec<LabelValue> = domain::CostKind::ALL
        .iter()
        .filter(|k| !app.costs().get(**k).is_zero())
        .map(|k| LabelValue {
            label: k.label().into(),
            value: app.costs().get(*k).to_string(),
        })
        .collect();
    let incomes: Vec<LabelValue> = app
        .incomes()
        .iter()
        .map(|i| LabelValue {
            label: format!("{} ({})", i.kind.label(), person_name(app, &i.person)),
            value: i.amount.to_string(),
        })
        .collect();
    let assets: Vec<LabelValue> = app
        .assets()
        .iter()
        .map(|a| LabelValue {
            label: a.kind.label().into(),
            value: a.amount.to_string(),
        })
        .collect();
    let other_needs: Vec<LabelValue> = app
        .other_needs()
        .iter()
        .map(|o| LabelValue {
            label: format!("{}: {}", o.kind, o.description),
            value: o.amount.to_string(),
        })
        .collect();
    let hist = app.history();
    let mut history = vec![
        LabelValue {
            label: "Månader i följd med bistånd".into(),
            value: hist.consecutive_months_with_bistand.to_string(),
        },
        LabelValue {
            label: "Månader med jobbstimulans".into(),
            value: hist.jobbstimulans_months_used.to_string(),
        },
    ];
    if let Some(p) = hist.rent_notice_period {
        history.push(LabelValue {
            label: "Hyresnotis gällde".into(),
            value: p.to_string(),
        });
    }
    ApplicationView {
        people_title: "Hushållet".into(),
        kind: match app.kind() {
            domain::ApplicationKind::Fortsatt => "Fortsatt ansökan".into(),
            domain::ApplicationKind::Nyansokan => "Nyansökan".into(),
        },
        received: app.received_at().format("%Y-%m-%d %H:%M").to_string(),
        people,
        groups: vec![
            Group {
                title: "Kostnader enligt ansökan".into(),
                items: costs,
            },
            Group {
                title: "Inkomster enligt ansökan".into(),
                items: incomes,
            },
            Group {
                title: "Tillgångar".into(),
                items: assets,
            },
            Group {
                title: "Övriga behov".into(),
                items: other_needs,
            },
            Group {
                title: "Historik".into(),
                items: history,
            },
        ],
    }
}

/// A package type's application as the official reads it: the applicant,
/// then one group per part of the document, each value under the type's
/// label (`labels.toml`), amounts in kronor.
pub fn document_view(doc: &sandbox::Document) -> ApplicationView {
    let type_name = doc.type_name();
    let ruleset = sandbox::Ruleset::of_type(type_name);
    let cw = ruleset.as_ref().and_then(|r| r.casework());
    let empty = sandbox::Labels::default();
    let labels = cw.map_or(&empty, |c| &c.labels);

    let skip = ["schema", "external_id", "received_at", "period"];
    // The applicant is shown as a person above, not again among the fields.
    let shown: Vec<&str> = cw
        .map(|c| {
            std::iter::once(c.manifest.applicant.as_str())
                .chain(c.manifest.applicant_name.as_deref())
                .collect()
        })
        .unwrap_or_default();
    let mut groups = Vec::new();
    let mut top = Vec::new();
    if let Some(obj) = doc.value.as_object() {
        for (k, v) in obj {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let pointer = format!("/{k}");
            if shown.contains(&pointer.as_str()) {
                continue;
            }
            match v {
                Value::Object(_) | Value::Array(_) => {
                    let mut items = Vec::new();
                    flatten(v, &pointer, labels, cw, &mut items);
                    groups.push(Group {
                        title: labels.field(&pointer).map_or_else(|| k.clone(), str::to_string),
                        items,
                    });
                }
                _ => flatten(v, &pointer, labels, cw, &mut top),
            }
        }
    }
    if !top.is_empty() {
        groups.insert(
            0,
            Group {
                title: "Uppgifter i ansökan".into(),
                items: top,
            },
        );
    }
    ApplicationView {
        people_title: "Sökande".into(),
        kind: cw.map_or_else(|| type_name.to_string(), |c| c.title().to_string()),
        received: doc.received_at.format("%Y-%m-%d %H:%M").to_string(),
        people: vec![Person {
            role: "Sökande".into(),
            name: doc.applicant_name.clone().unwrap_or_default(),
            details: doc.applicant.formatted(),
        }],
        groups,
    }
}

fn flatten(
    v: &Value,
    pointer: &str,
    labels: &sandbox::Labels,
    cw: Option<&sandbox::Casework>,
    out: &mut Vec<LabelValue>,
) {
    if out.len() >= 200 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(x, &format!("{pointer}/{k}"), labels, cw, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(x, &format!("{pointer}/{i}"), labels, cw, out);
            }
        }
        Value::Null => {}
        _ => {
            let label = labels
                .field(pointer)
                .map_or_else(|| pointer.trim_start_matches('/').replace('/', " › "), str::to_string);
            let value = match (v, cw.and_then(|c| c.annotation_at(pointer))) {
                (Value::Number(n), Some("money")) => {
                    domain::Money::parse_json_number(&n.to_string()).map_or_else(|_| n.to_string(), |m| m.to_string())
                }
                (Value::Bool(b), _) => if *b { "ja" } else { "nej" }.to_string(),
                (Value::String(t), _) => labels.value(t).to_string(),
                (other, _) => other.to_string(),
            };
            out.push(LabelValue { label, value });
        }
    }
}

/// The register answer: who is registered as a job seeker, and incomes.
pub struct RegisterView {
    pub checked: bool,
    pub job_seekers: Vec<String>,
    pub incomes: Vec<LabelValue>,
}

pub fn register_view(app: Option<&Application>, register_json: Option<&str>) -> RegisterView {
    let Some(answer) = register_json.and_then(|j| RegisterAnswer::from_json(j).ok()) else {
        return RegisterView {
            checked: false,
            job_seekers: Vec::new(),
            incomes: Vec::new(),
        };
    };
    let name = |pnr: &str| -> String {
        app.and_then(|a| {
            let p = domain::Personnummer::parse(pnr, chrono::NaiveDate::MIN).ok()?;
            Some(person_name(a, &p))
        })
        .unwrap_or_else(|| "okänd person".into())
    };
    let job_seekers = answer.job_seekers.iter().map(|p| name(p)).collect();
    let incomes = answer
        .incomes
        .iter()
        .map(|i| LabelValue {
            label: format!("{} ({}, källa {})", i.kind.label(), name(&i.person), i.source),
            value: i.amount.to_string(),
        })
        .collect();
    RegisterView {
        checked: true,
        job_seekers,
        incomes,
    }
}

fn kronor_value(v: &Value) -> String {
    match v {
        Value::Number(n) => Money::parse_json_number(&n.to_string())
            .or_else(|_| Money::parse_kronor_text(&n.to_string()))
            .map_or_else(|_| n.to_string(), |m| m.to_string()),
        other => other.to_string(),
    }
}

pub struct CalcRow {
    pub label: String,
    pub amount: String,
}

pub struct CalcSection {
    pub title: String,
    /// "+" or "−": how the section counts in the result.
    pub sign: &'static str,
    pub rows: Vec<CalcRow>,
    pub total: String,
}

pub struct CalculationView {
    pub sections: Vec<CalcSection>,
    pub need: String,
    /// What the signed sum is called (the type's `result_label`).
    pub need_label: String,
    pub outcome: String,
    pub amount: String,
}

pub struct ReasonView {
    pub text: String,
    pub lagrum: String,
}

pub struct TraceLine {
    pub rule: String,
    pub looked_at: String,
    pub produced: String,
}

pub struct DraftView {
    pub calculation: CalculationView,
    pub reasons: Vec<ReasonView>,
    pub trace: Vec<TraceLine>,
    pub ruleset: String,
}

fn section(title: &str, sign: &'static str, s: &domain::Section) -> CalcSection {
    CalcSection {
        title: title.to_string(),
        sign,
        rows: s
            .rows()
            .iter()
            .map(|r| CalcRow {
                label: r.label.clone(),
                amount: r.amount.to_string(),
            })
            .collect(),
        total: s.total().to_string(),
    }
}

pub fn draft_view(d: &Draft) -> DraftView {
    let c = d.calculation();
    let ruleset = sandbox::Ruleset::of_type(d.casework_type());
    let empty = sandbox::Labels::default();
    let labels = ruleset
        .as_ref()
        .and_then(|r| r.casework())
        .map_or(&empty, |c| &c.labels);
    let calculation = CalculationView {
        sections: c
            .parts()
            .iter()
            .map(|p| {
                section(
                    &sandbox::Ruleset::section_title(d.casework_type(), &p.kind),
                    if p.sign > 0 { "+" } else { "−" },
                    &p.section,
                )
            })
            .collect(),
        need: c.need().map_or_else(|_| "–".into(), |m| m.to_string()),
        need_label: ruleset
            .as_ref()
            .and_then(|r| r.casework().and_then(|c| c.manifest.result_label.clone()))
            .unwrap_or_else(|| "Summa enligt raderna".into()),
        outcome: d.outcome().label().into(),
        amount: d.amount().map_or_else(|| "–".into(), |m| m.to_string()),
    };
    let trace = d
        .trace()
        .iter()
        .map(|t| {
            let v = serde_json::to_value(t).unwrap_or(Value::Null);
            TraceLine {
                rule: rule_name(labels, &t.rule),
                looked_at: describe_map(labels, &v["inputs"]),
                produced: describe_result(labels, d.casework_type(), &v["result"]),
            }
        })
        .collect();
    DraftView {
        calculation,
        reasons: d
            .reasons()
            .iter()
            .map(|r| ReasonView {
                text: r.text.clone(),
                lagrum: r.lagrum.clone(),
            })
            .collect(),
        trace,
        ruleset: format!("{} {}", d.ruleset().name, d.ruleset().version),
    }
}

/// A trace step's name: the type's words for it (`labels.toml [rules]`),
/// else `norm.vuxna` → "Norm: vuxna".
fn rule_name(labels: &sandbox::Labels, rule: &str) -> String {
    if let Some(l) = labels.rules.get(rule) {
        return l.clone();
    }
    let (area, rest) = rule.split_once('.').unwrap_or((rule, ""));
    let area = match area {
        "manuell" => "Kontroll av manuell handläggning",
        "norm" => "Norm",
        "kostnader" => "Kostnader",
        "inkomster" => "Inkomster",
        "tillgangar" => "Tillgångar",
        "resultat" => "Resultat",
        other => other,
    };
    if rest.is_empty() {
        area.to_string()
    } else {
        format!("{area}: {}", words(labels, rest))
    }
}

/// A value's name: the type's word for it (`labels.toml [trace]`), else
/// `antal_vuxna` → "antal vuxna".
fn words(labels: &sandbox::Labels, key: &str) -> String {
    if let Some(l) = labels.trace.get(key) {
        return l.label().to_string();
    }
    // The members' ids the script API gives (`vuxen1`, `barn2`).
    for member in ["vuxen", "barn"] {
        if let Some(n) = key.strip_prefix(member)
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            return format!("{member} {n}");
        }
    }
    key.trim_end_matches("_sek").replace(['_', '.'], " ")
}

fn value_text(labels: &sandbox::Labels, key: &str, v: &Value) -> String {
    value_in(labels, key, labels.trace.get(key).and_then(|l| l.unit()), v)
}

/// A value in words; `unit` is the key's, or its parent's for the parts of
/// a map or list (`registrerat` in öre: every amount in it is in öre).
fn value_in(labels: &sandbox::Labels, key: &str, unit: Option<&str>, v: &Value) -> String {
    match v {
        Value::Null => "uppgift saknas".into(),
        Value::Bool(true) => "ja".into(),
        Value::Bool(false) => "nej".into(),
        Value::Number(n) if unit == Some("öre") => match n.as_i64() {
            Some(ore) => Money::from_ore(ore).to_string(),
            None => n.to_string(),
        },
        Value::Number(_) if unit == Some("kr") || key.ends_with("_sek") || key.ends_with("kr") => kronor_value(v),
        Value::Number(n) => match unit {
            Some(u) => format!("{n} {u}"),
            None => n.to_string(),
        },
        Value::String(s) => labels.values.get(s.as_str()).cloned().unwrap_or_else(|| {
            s.parse::<Outcome>()
                .map_or_else(|_| s.clone(), |o| o.label().to_lowercase())
        }),
        Value::Array(a) if a.is_empty() => "inga".into(),
        Value::Object(m) if m.is_empty() => "inga".into(),
        Value::Array(a) => a
            .iter()
            .map(|x| value_in(labels, key, unit, x))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| {
                let own = labels.trace.get(k.as_str()).and_then(|l| l.unit());
                format!("{} {}", words(labels, k), value_in(labels, k, own.or(unit), x))
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn describe_map(labels: &sandbox::Labels, v: &Value) -> String {
    match v.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{}: {}", words(labels, k), value_text(labels, k, v)))
            .collect::<Vec<_>>()
            .join("; "),
        _ => "inga uppgifter".into(),
    }
}

fn describe_result(labels: &sandbox::Labels, type_name: &str, v: &Value) -> String {
    let Some(m) = v.as_object() else {
        return "ingenting".into();
    };
    let mut out = Vec::new();
    if let Some(rows) = m.get("rows").and_then(Value::as_array) {
        for r in rows {
            out.push(format!(
                "raden ”{}” {}",
                r["label"].as_str().unwrap_or_default(),
                kronor_value(&r["amount_sek"])
            ));
        }
    }
    if let Some(codes) = m.get("codes").and_then(Value::as_array) {
        for c in codes.iter().filter_map(Value::as_str) {
            out.push(format!("koden ”{}”", sandbox::Ruleset::code_label(type_name, c)));
        }
    }
    if let Some(reasons) = m.get("reasons").and_then(Value::as_array) {
        let n = reasons.len();
        if n > 0 {
            out.push(if n == 1 {
                "ett skäl i motiveringen".to_string()
            } else {
                format!("{n} skäl i motiveringen")
            });
        }
    }
    if let Some(w) = m.get("warnings").and_then(Value::as_array)
        && !w.is_empty()
    {
        out.push(if w.len() == 1 {
            "en sak att kontrollera".to_string()
        } else {
            format!("{} saker att kontrollera", w.len())
        });
    }
    for (k, v) in m {
        if ["rows", "codes", "reasons", "warnings"].contains(&k.as_str()) {
            continue;
        }
        let n = v.as_array().map_or(1, Vec::len);
        match k.as_str() {
            "assessments" => {
                out.push(if n == 1 {
                    "en bedömning som handläggaren bekräftar".to_string()
                } else {
                    format!("{n} bedömningar som handläggaren bekräftar")
                });
                continue;
            }
            "kommunicering" => {
                out.push(if n == 1 {
                    "en uppgift att kommunicera".to_string()
                } else {
                    format!("{n} uppgifter att kommunicera")
                });
                continue;
            }
            _ => {}
        }
        let name = match k.as_str() {
            "outcome" => "utfall".to_string(),
            "amount_sek" => "belopp".to_string(),
            "total" | "total_sek" => "summa".to_string(),
            _ => words(labels, k),
        };
        out.push(format!("{name}: {}", value_text(labels, k, v)));
    }
    if out.is_empty() {
        "ingenting (regeln gällde inte)".into()
    } else {
        out.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_reads_as_swedish() {
        let none = sandbox::Labels::default();
        assert_eq!(rule_name(&none, "norm.vuxna"), "Norm: vuxna");
        assert_eq!(
            describe_map(
                &none,
                &serde_json::json!({"antal_vuxna": 1, "sambor_eller_makar": false, "hyra_sek": 5200})
            ),
            "antal vuxna: 1; hyra: 5\u{a0}200\u{a0}kr; sambor eller makar: nej"
        );
        assert_eq!(
            describe_result(
                &none,
                "x",
                &serde_json::json!({"rows": [{"label": "Riksnorm", "amount_sek": 3160}]})
            ),
            "raden ”Riksnorm” 3\u{a0}160\u{a0}kr"
        );
        assert_eq!(
            describe_result(&none, "x", &serde_json::json!({})),
            "ingenting (regeln gällde inte)"
        );
        // The type's words: a rule's name with å/ä/ö, öre read as kronor,
        // an outcome in Swedish.
        let labels: sandbox::Labels = toml::from_str(
            r#"
            [rules]
            "kostnader.boende" = "Boendekostnad"
            [trace]
            hyra = { label = "hyran", unit = "öre" }
            riktvarde = { label = "riktvärdet", unit = "öre" }
            "#,
        )
        .unwrap();
        assert_eq!(rule_name(&labels, "kostnader.boende"), "Boendekostnad");
        assert_eq!(
            describe_map(&labels, &serde_json::json!({"hyra": 760000, "riktvarde": 650000})),
            "hyran: 7\u{a0}600\u{a0}kr; riktvärdet: 6\u{a0}500\u{a0}kr"
        );
        assert_eq!(
            describe_result(&labels, "x", &serde_json::json!({"outcome": "delvis_bifall"})),
            "utfall: delvis bifall"
        );
    }
}
