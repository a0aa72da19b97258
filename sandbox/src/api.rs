//! The API rule scripts see.
//!
//! * `facts` — a read-only object map built from the application: household
//!   members (by role and position, never by personnummer or name) with
//!   their ages on the first day of the period, costs, incomes, assets,
//!   history and register data. Money is integer öre.
//! * `params.get(name)` — the parameter valid for the period.
//! * money helpers: `kr`, `round_kr`, `share_kr`, `floor_div`, `fmt_kr`.
//! * `draft` — the builder; every row, reason, warning and code is recorded
//!   in the trace under the rule that produced it.

use crate::params::{ParamValue, ResolvedParams};
use domain::{Application, Calculation, Money, Outcome, Reason, ReasonCode, Row, Section, TraceEntry};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};
use serde_json::{Map as JsonMap, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

type RResult<T> = Result<T, Box<EvalAltResult>>;

fn rt_err(msg: impl Into<String>) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(msg.into()), Position::NONE).into()
}

// ---------------------------------------------------------------- facts

pub const SECTIONS: [&str; 4] = ["norm", "costs", "incomes", "assets"];

/// The id a script sees for a member: `vuxen1`, `vuxen2`, `barn1`, …
pub fn member_id(member: domain::Member) -> String {
    match member {
        domain::Member::Adult(i) => format!("vuxen{}", i + 1),
        domain::Member::Child(i) => format!("barn{}", i + 1),
    }
}

fn map<const N: usize>(entries: [(&str, Dynamic); N]) -> Dynamic {
    let mut m = Map::new();
    for (k, v) in entries {
        m.insert(k.into(), v);
    }
    Dynamic::from_map(m)
}

fn ore(m: Money) -> Dynamic {
    Dynamic::from_int(m.ore())
}

fn opt_str(s: Option<&str>) -> Dynamic {
    s.map_or(Dynamic::UNIT, |s| Dynamic::from(s.to_string()))
}

/// Builds the `facts` map. Names and personnummer are left out on purpose:
/// rules have no use for them, and what a script cannot see it cannot leak.
pub fn facts(app: &Application) -> Dynamic {
    let period = app.period();
    let day1 = period.first_day();
    let h = app.household();
    let id_of = |p: &domain::Personnummer| h.member(p).map(member_id).unwrap_or_default();
    let role_of = |p: &domain::Personnummer| match h.member(p) {
        Some(domain::Member::Child(_)) => "child",
        _ => "adult",
    };

    let adults: Array = h
        .adults
        .iter()
        .enumerate()
        .map(|(i, a)| {
            map([
                ("id", Dynamic::from(member_id(domain::Member::Adult(i)))),
                ("age", Dynamic::from_int(i64::from(a.personnummer.age_on(day1)))),
                ("job_seeking", Dynamic::from_bool(a.job_seeking)),
                ("relation", opt_str(a.relation.map(|r| r.as_str()))),
                ("exempt", Dynamic::from_bool(a.exempt_reason.is_some())),
                ("is_applicant", Dynamic::from_bool(&a.personnummer == app.applicant())),
            ])
        })
        .collect();
    let children: Array = h
        .children
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // A child born during the period counts as 0 years old.
            let age = c.personnummer.age_on(day1).max(0);
            map([
                ("id", Dynamic::from(member_id(domain::Member::Child(i)))),
                ("age", Dynamic::from_int(i64::from(age))),
                ("lunch_at_preschool", Dynamic::from_bool(c.lunch_at_preschool)),
                (
                    "residence_share_percent",
                    Dynamic::from_int(i64::from(c.residence_share_percent)),
                ),
            ])
        })
        .collect();

    let mut costs = Map::new();
    for kind in domain::CostKind::ALL {
        costs.insert(kind.as_str().into(), ore(app.costs().get(*kind)));
    }

    let incomes: Array = app
        .incomes()
        .iter()
        .map(|inc| {
            map([
                ("person", Dynamic::from(id_of(&inc.person))),
                ("role", Dynamic::from(role_of(&inc.person))),
                ("kind", Dynamic::from(inc.kind.as_str())),
                ("label", Dynamic::from(inc.kind.label())),
                ("amount", ore(inc.amount)),
            ])
        })
        .collect();
    let assets: Array = app
        .assets()
        .iter()
        .map(|a| {
            map([
                ("kind", Dynamic::from(a.kind.as_str())),
                ("label", Dynamic::from(a.kind.label())),
                ("amount", ore(a.amount)),
            ])
        })
        .collect();
    let other_needs: Array = app
        .other_needs()
        .iter()
        .map(|n| map([("kind", Dynamic::from(n.kind.clone())), ("amount", ore(n.amount))]))
        .collect();

    let hist = app.history();
    let history = map([
        (
            "consecutive_months_with_bistand",
            Dynamic::from_int(i64::from(hist.consecutive_months_with_bistand)),
        ),
        (
            "jobbstimulans_months_used",
            Dynamic::from_int(i64::from(hist.jobbstimulans_months_used)),
        ),
        (
            "rent_notice_period",
            hist.rent_notice_period
                .map_or(Dynamic::UNIT, |p| Dynamic::from(p.to_string())),
        ),
        (
            "rent_notice_index",
            hist.rent_notice_period
                .map_or(Dynamic::UNIT, |p| Dynamic::from_int(p.index())),
        ),
    ]);

    let register = match app.register() {
        None => Dynamic::UNIT,
        Some(r) => {
            let seekers: Array = r.job_seekers.iter().map(|p| Dynamic::from(id_of(p))).collect();
            let incomes: Array = r
                .incomes
                .iter()
                .map(|inc| {
                    map([
                        ("person", Dynamic::from(id_of(&inc.person))),
                        ("source", Dynamic::from(inc.source.clone())),
                        ("kind", Dynamic::from(inc.kind.as_str())),
                        ("label", Dynamic::from(inc.kind.label())),
                        ("amount", ore(inc.amount)),
                    ])
                })
                .collect();
            map([
                ("job_seekers", Dynamic::from_array(seekers)),
                ("incomes", Dynamic::from_array(incomes)),
            ])
        }
    };

    let size = h.size() as i64;
    let dwelling = h.dwelling_persons.map_or(size, i64::from).max(size);
    map([
        ("external_id", Dynamic::from(app.external_id().to_string())),
        ("period", Dynamic::from(period.to_string())),
        ("period_year", Dynamic::from_int(i64::from(period.year()))),
        ("period_month", Dynamic::from_int(i64::from(period.month()))),
        ("period_index", Dynamic::from_int(period.index())),
        ("kind", Dynamic::from(app.kind().as_str())),
        ("adults", Dynamic::from_array(adults)),
        ("children", Dynamic::from_array(children)),
        ("household_size", Dynamic::from_int(size)),
        ("dwelling_persons", Dynamic::from_int(dwelling)),
        ("costs", Dynamic::from_map(costs)),
        ("incomes", Dynamic::from_array(incomes)),
        ("assets", Dynamic::from_array(assets)),
        ("other_needs", Dynamic::from_array(other_needs)),
        ("history", history),
        ("register", register),
    ])
}

// ---------------------------------------------------------------- params

/// `params` in scripts: the parameter values valid on the first day of the
/// period. Reading an unverified value is remembered, so the draft can say so.
#[derive(Clone)]
pub struct Params {
    resolved: Arc<ResolvedParams>,
    used_unverified: Arc<Mutex<BTreeSet<String>>>,
}

impl Params {
    pub fn new(resolved: Arc<ResolvedParams>) -> Params {
        Params {
            resolved,
            used_unverified: Arc::default(),
        }
    }

    fn get(&mut self, name: &str) -> RResult<Dynamic> {
        let Some(p) = self.resolved.get(name) else {
            return Err(rt_err(format!(
                "parametern {name:?} finns inte för {} (kontrollera namnet och parameterfilerna)",
                self.resolved.date()
            )));
        };
        if !p.verified {
            lock(&self.used_unverified).insert(name.to_string());
        }
        Ok(match &p.value {
            ParamValue::Money(m) => Dynamic::from_int(m.ore()),
            ParamValue::Integer(i) => Dynamic::from_int(*i),
            ParamValue::Text(t) => Dynamic::from(t.clone()),
        })
    }

    /// The unverified parameters read, grouped by the value set they came
    /// from, as Swedish warnings that name them.
    pub fn unverified_warnings(&self) -> Vec<String> {
        let used = lock(&self.used_unverified);
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for name in used.iter() {
            let Some(p) = self.resolved.get(name) else { continue };
            let key = format!(
                "{} (värdena som gäller från {}; källa: {})",
                p.file, p.valid_from, p.source
            );
            let shown = match &p.value {
                ParamValue::Money(m) => format!("{name} = {m}"),
                ParamValue::Integer(i) => format!("{name} = {i}"),
                ParamValue::Text(t) => format!("{name} = \u{201d}{t}\u{201d}"),
            };
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, names)) => names.push(shown),
                None => groups.push((key, vec![shown])),
            }
        }
        groups
            .into_iter()
            .map(|(key, names)| {
                format!(
                    "Ej verifierade parametervärden användes: {} – {key}. Kontrollera värdena mot författningstexten innan beslutet godkänns.",
                    names.join(", ")
                )
            })
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------- draft builder

const MAX_ROWS: usize = 500;
const MAX_TEXTS: usize = 500;
const MAX_TRACE: usize = 500;
const MAX_TEXT_CHARS: usize = 2000;

#[derive(Default)]
pub struct DraftState {
    pub outcome: Option<Outcome>,
    pub amount: Option<Money>,
    pub codes: Vec<ReasonCode>,
    pub rows: [Vec<Row>; 4],
    pub reasons: Vec<Reason>,
    pub warnings: Vec<String>,
    pub trace: Vec<TraceEntry>,
}

/// `draft` in scripts. A shared handle, so that functions the script passes
/// it to record into the same draft.
#[derive(Clone, Default)]
pub struct DraftBuilder(Arc<Mutex<DraftState>>);

impl DraftBuilder {
    pub fn same_as(&self, other: &DraftBuilder) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub fn take(&self) -> DraftState {
        std::mem::take(&mut *lock(&self.0))
    }

    fn with<T>(&mut self, f: impl FnOnce(&mut DraftState) -> RResult<T>) -> RResult<T> {
        f(&mut lock(&self.0))
    }

    fn current(state: &mut DraftState, what: &str) -> RResult<usize> {
        if state.trace.is_empty() {
            return Err(rt_err(format!(
                "{what} måste höra till en regel: anropa draft.rule(\"namn\") först"
            )));
        }
        Ok(state.trace.len() - 1)
    }

    fn record(state: &mut DraftState, key: &str, value: Value) -> RResult<()> {
        let i = Self::current(state, key)?;
        let entry = state.trace[i]
            .result
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        match entry {
            Value::Array(a) => a.push(value),
            other => *other = value,
        }
        Ok(())
    }
}

fn text(s: &str, what: &str) -> RResult<String> {
    if s.trim().is_empty() {
        return Err(rt_err(format!("{what} får inte vara tom")));
    }
    if s.chars().count() > MAX_TEXT_CHARS {
        return Err(rt_err(format!("{what} får vara högst {MAX_TEXT_CHARS} tecken")));
    }
    Ok(s.to_string())
}

fn section_index(section: &str) -> RResult<usize> {
    SECTIONS.iter().position(|s| *s == section).ok_or_else(|| {
        rt_err(format!(
            "okänd del av beräkningen {section:?}; tillåtna: norm, costs, incomes, assets"
        ))
    })
}

/// Rhai value → JSON for the trace (maps keep their sorted order).
pub fn to_json(v: &Dynamic) -> Value {
    if v.is_unit() {
        Value::Null
    } else if let Ok(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Ok(i) = v.as_int() {
        Value::from(i)
    } else if v.is_string() {
        Value::String(v.to_string())
    } else if v.is_array() {
        let a = v.read_lock::<Array>();
        Value::Array(a.map(|a| a.iter().map(to_json).collect()).unwrap_or_default())
    } else if v.is_map() {
        let m = v.read_lock::<Map>();
        Value::Object(
            m.map(|m| m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
                .unwrap_or_default(),
        )
    } else {
        Value::String(v.type_name().to_string())
    }
}

fn json_map(inputs: &Map) -> JsonMap<String, Value> {
    inputs.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()
}

fn money_json(ore: i64) -> Value {
    Money::from_ore(ore).to_json_value()
}

// ---------------------------------------------------------------- registration

pub fn register(e: &mut Engine) {
    // money helpers
    e.register_fn("kr", |kronor: i64| -> RResult<i64> {
        kronor.checked_mul(100).ok_or_else(|| rt_err("beloppet är för stort"))
    });
    e.register_fn("round_kr", |ore: i64| {
        Money::from_ore(ore).round_half_up_to_kronor().ore()
    });
    e.register_fn("share_kr", |ore: i64, num: i64, den: i64| -> RResult<i64> {
        Money::from_ore(ore)
            .mul_div_round_kronor(num, den)
            .map(Money::ore)
            .map_err(|_| rt_err("share_kr: ogiltig andel eller för stort belopp"))
    });
    e.register_fn("floor_div", |a: i64, b: i64| -> RResult<i64> {
        if b == 0 {
            return Err(rt_err("floor_div: division med noll"));
        }
        a.checked_div_euclid(b)
            .ok_or_else(|| rt_err("floor_div: för stort tal"))
    });
    e.register_fn("fmt_kr", |ore: i64| Money::from_ore(ore).to_string());
    e.register_fn("period_index", |p: ImmutableString| -> RResult<i64> {
        p.parse::<domain::Period>()
            .map(domain::Period::index)
            .map_err(|_| rt_err(format!("period_index: {p:?} är inte ÅÅÅÅ-MM")))
    });

    // params
    e.register_type_with_name::<Params>("Params");
    e.register_fn("get", |p: &mut Params, name: ImmutableString| p.get(&name));

    // draft builder
    e.register_type_with_name::<DraftBuilder>("Draft");
    e.register_fn("rule", |d: &mut DraftBuilder, name: ImmutableString| -> RResult<()> {
        rule(d, &name, &Map::new())
    });
    e.register_fn(
        "rule",
        |d: &mut DraftBuilder, name: ImmutableString, inputs: Map| -> RResult<()> { rule(d, &name, &inputs) },
    );
    e.register_fn(
        "row",
        |d: &mut DraftBuilder, section: ImmutableString, label: ImmutableString, amount: i64| -> RResult<()> {
            let idx = section_index(&section)?;
            let label = text(&label, "raden")?;
            d.with(|s| {
                if s.rows[idx].len() >= MAX_ROWS {
                    return Err(rt_err("för många rader i beräkningen"));
                }
                let mut row = JsonMap::new();
                row.insert("section".into(), Value::String(section.to_string()));
                row.insert("label".into(), Value::String(label.clone()));
                row.insert("amount_sek".into(), money_json(amount));
                DraftBuilder::record(s, "rows", Value::Object(row))?;
                s.rows[idx].push(Row {
                    label,
                    amount: Money::from_ore(amount),
                });
                Ok(())
            })
        },
    );
    e.register_fn(
        "reason",
        |d: &mut DraftBuilder, code: ImmutableString, txt: ImmutableString, lagrum: ImmutableString| -> RResult<()> {
            let code = text(&code, "skälets kod")?;
            let txt = text(&txt, "skälets text")?;
            let lagrum = text(&lagrum, "lagrummet")?;
            d.with(|s| {
                if s.reasons.len() >= MAX_TEXTS {
                    return Err(rt_err("för många skäl"));
                }
                DraftBuilder::record(s, "reasons", Value::String(code.clone()))?;
                s.reasons.push(Reason {
                    code,
                    text: txt,
                    lagrum,
                });
                Ok(())
            })
        },
    );
    e.register_fn("warning", |d: &mut DraftBuilder, txt: ImmutableString| -> RResult<()> {
        let txt = text(&txt, "varningen")?;
        d.with(|s| {
            if s.warnings.len() >= MAX_TEXTS {
                return Err(rt_err("för många varningar"));
            }
            DraftBuilder::record(s, "warnings", Value::String(txt.clone()))?;
            if !s.warnings.contains(&txt) {
                s.warnings.push(txt);
            }
            Ok(())
        })
    });
    e.register_fn("code", |d: &mut DraftBuilder, code: ImmutableString| -> RResult<()> {
        let c: ReasonCode = code.parse().map_err(|e: domain::UnknownName| {
            rt_err(format!(
                "{e}; kända koder: {}",
                ReasonCode::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        d.with(|s| {
            DraftBuilder::record(s, "codes", Value::String(c.as_str().into()))?;
            if !s.codes.contains(&c) {
                s.codes.push(c);
            }
            Ok(())
        })
    });
    e.register_fn("has_code", |d: &mut DraftBuilder, code: ImmutableString| -> bool {
        let codes = lock(&d.0).codes.clone();
        codes.iter().any(|c| c.as_str() == code.as_str())
    });
    e.register_fn("is_manual", |d: &mut DraftBuilder| -> bool {
        lock(&d.0).codes.iter().any(|c| c.is_manual_route())
    });
    e.register_fn(
        "note",
        |d: &mut DraftBuilder, key: ImmutableString, value: Dynamic| -> RResult<()> {
            let v = to_json(&value);
            d.with(|s| {
                let i = DraftBuilder::current(s, "note")?;
                s.trace[i].result.insert(key.to_string(), v);
                Ok(())
            })
        },
    );
    e.register_fn(
        "total",
        |d: &mut DraftBuilder, section: ImmutableString| -> RResult<i64> {
            let idx = section_index(&section)?;
            d.with(|s| {
                Money::checked_sum(s.rows[idx].iter().map(|r| r.amount))
                    .map(Money::ore)
                    .map_err(|_| rt_err("summan är för stor"))
            })
        },
    );
    e.register_fn(
        "outcome",
        |d: &mut DraftBuilder, outcome: ImmutableString, amount: i64| -> RResult<()> {
            let o: Outcome = outcome
                .parse()
                .map_err(|e: domain::UnknownName| rt_err(e.to_string()))?;
            if o == Outcome::Manuell {
                return Err(rt_err("manuell har inget belopp: använd draft.manual()"));
            }
            d.with(|s| {
                DraftBuilder::record(s, "outcome", Value::String(o.as_str().into()))?;
                DraftBuilder::record(s, "amount_sek", money_json(amount))?;
                s.outcome = Some(o);
                s.amount = Some(Money::from_ore(amount));
                Ok(())
            })
        },
    );
    e.register_fn("manual", |d: &mut DraftBuilder| -> RResult<()> {
        d.with(|s| {
            DraftBuilder::record(s, "outcome", Value::String(Outcome::Manuell.as_str().into()))?;
            s.outcome = Some(Outcome::Manuell);
            s.amount = None;
            Ok(())
        })
    });
}

fn rule(d: &mut DraftBuilder, name: &str, inputs: &Map) -> RResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
    if !valid {
        return Err(rt_err(format!(
            "regelnamnet {name:?} ska bestå av a–z, 0–9, punkt och understreck"
        )));
    }
    let inputs = json_map(inputs);
    d.with(|s| {
        if s.trace.len() >= MAX_TRACE {
            return Err(rt_err("för många regler i spåret"));
        }
        s.trace.push(TraceEntry {
            rule: name.to_string(),
            inputs,
            result: JsonMap::new(),
        });
        Ok(())
    })
}

impl DraftState {
    pub fn calculation(&mut self) -> Result<Calculation, domain::DraftError> {
        let [norm, costs, incomes, assets] = std::mem::take(&mut self.rows);
        Ok(Calculation {
            norm: Section::new(norm)?,
            costs: Section::new(costs)?,
            incomes: Section::new(incomes)?,
            assets: Section::new(assets)?,
        })
    }
}
