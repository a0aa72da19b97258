//! The API rule scripts see.
//!
//! * `facts` — a read-only object map built from the application: household
//!   members (by role and position, never by personnummer or name) with
//!   their ages on the first day of the period, costs, incomes, assets,
//!   history and register data. Money is integer öre.
//! * `params.get(name)` — the parameter valid for the period.
//! * money helpers: `kr`, `round_kr`, `share_kr`, `floor_div`, `fmt_kr`;
//!   `fmt_period` writes a month as a letter does (`maj 2026`).
//! * `draft` — the builder; every row, reason, warning, code, assessment
//!   and kommunicering item is recorded in the trace under the rule that
//!   produced it.

use crate::params::{ParamValue, ResolvedParams};
use domain::{
    Application, ApplicationKind, Assessment, AssetKind, CalcSection, Calculation, IncomeKind, Kommunicering, Member,
    Money, Outcome, Reason, ReasonCode, Relation, Row, Section, SectionKind, TraceEntry,
};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

type RResult<T> = Result<T, Box<EvalAltResult>>;

fn rt_err(msg: impl Into<String>) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(msg.into()), Position::NONE).into()
}

// ---------------------------------------------------------------- facts

/// The id a script sees for a member: `vuxen1`, `vuxen2`, `barn1`, …
pub fn member_id(member: Member) -> String {
    match member {
        Member::Adult(i) => format!("vuxen{}", i + 1),
        Member::Child(i) => format!("barn{}", i + 1),
    }
}

/// How texts name a member: `vuxen 1`, `barn 2` (presentational, so that
/// scripts need no helper to turn an id into words).
pub fn member_label(member: Member) -> String {
    match member {
        Member::Adult(i) => format!("vuxen {}", i + 1),
        Member::Child(i) => format!("barn {}", i + 1),
    }
}

/// The strings every `facts` map repeats, made once. A Rhai string is a
/// reference-counted allocation; another reference to one is only a count.
struct Interned {
    adult_ids: Vec<ImmutableString>,
    adult_labels: Vec<ImmutableString>,
    child_ids: Vec<ImmutableString>,
    child_labels: Vec<ImmutableString>,
    income_kinds: Vec<ImmutableString>,
    income_labels: Vec<ImmutableString>,
    asset_kinds: Vec<ImmutableString>,
    asset_labels: Vec<ImmutableString>,
    relations: Vec<ImmutableString>,
    application_kinds: Vec<ImmutableString>,
    adult: ImmutableString,
    child: ImmutableString,
}

/// Members up to this position have interned ids and labels.
const INTERNED_MEMBERS: usize = 16;

fn interned() -> &'static Interned {
    static INTERNED: OnceLock<Interned> = OnceLock::new();
    INTERNED.get_or_init(|| {
        let members = |f: fn(Member) -> String, m: fn(usize) -> Member| -> Vec<ImmutableString> {
            (0..INTERNED_MEMBERS).map(|i| f(m(i)).into()).collect()
        };
        Interned {
            adult_ids: members(member_id, Member::Adult),
            adult_labels: members(member_label, Member::Adult),
            child_ids: members(member_id, Member::Child),
            child_labels: members(member_label, Member::Child),
            income_kinds: IncomeKind::ALL.iter().map(|k| k.as_str().into()).collect(),
            income_labels: IncomeKind::ALL.iter().map(|k| k.label().into()).collect(),
            asset_kinds: AssetKind::ALL.iter().map(|k| k.as_str().into()).collect(),
            asset_labels: AssetKind::ALL.iter().map(|k| k.label().into()).collect(),
            relations: Relation::ALL.iter().map(|r| r.as_str().into()).collect(),
            application_kinds: ApplicationKind::ALL.iter().map(|k| k.as_str().into()).collect(),
            adult: "adult".into(),
            child: "child".into(),
        }
    })
}

/// `table[i]`, or the string made afresh past the end of the table.
fn pick(table: &[ImmutableString], i: usize, make: impl FnOnce() -> String) -> Dynamic {
    Dynamic::from(table.get(i).cloned().unwrap_or_else(|| make().into()))
}

impl Interned {
    fn id(&self, m: Member) -> Dynamic {
        match m {
            Member::Adult(i) => pick(&self.adult_ids, i, || member_id(m)),
            Member::Child(i) => pick(&self.child_ids, i, || member_id(m)),
        }
    }
    fn label(&self, m: Member) -> Dynamic {
        match m {
            Member::Adult(i) => pick(&self.adult_labels, i, || member_label(m)),
            Member::Child(i) => pick(&self.child_labels, i, || member_label(m)),
        }
    }
    fn role(&self, m: Member) -> Dynamic {
        Dynamic::from(match m {
            Member::Adult(_) => self.adult.clone(),
            Member::Child(_) => self.child.clone(),
        })
    }
    fn income_kind(&self, k: IncomeKind) -> Dynamic {
        pick(&self.income_kinds, k as usize, || k.as_str().into())
    }
    fn income_label(&self, k: IncomeKind) -> Dynamic {
        pick(&self.income_labels, k as usize, || k.label().into())
    }
}

fn map<const N: usize>(entries: [(&str, Dynamic); N]) -> Dynamic {
    let mut m = Map::new();
    for (k, v) in entries {
        m.insert(k.into(), v);
    }
    Dynamic::from_map(m)
}

fn empty() -> Dynamic {
    Dynamic::from(ImmutableString::new())
}

fn ore(m: Money) -> Dynamic {
    Dynamic::from_int(m.ore())
}

/// Builds the `facts` map. Names and personnummer are left out on purpose:
/// rules have no use for them, and what a script cannot see it cannot leak.
pub fn facts(app: &Application) -> Dynamic {
    let s = interned();
    let period = app.period();
    let day1 = period.first_day();
    let h = app.household();
    // Incomes and register data name members of the household (validated);
    // an unknown person would show as an empty id.
    let member = |p: &domain::Personnummer| h.member(p);
    let id_of = |p| member(p).map_or_else(empty, |m| s.id(m));
    let label_of = |p| member(p).map_or_else(empty, |m| s.label(m));

    let adults: Array = h
        .adults
        .iter()
        .enumerate()
        .map(|(i, a)| {
            map([
                ("id", s.id(Member::Adult(i))),
                ("label", s.label(Member::Adult(i))),
                ("age", Dynamic::from_int(i64::from(a.personnummer.age_on(day1)))),
                ("job_seeking", Dynamic::from_bool(a.job_seeking)),
                (
                    "relation",
                    a.relation
                        .map_or(Dynamic::UNIT, |r| pick(&s.relations, r as usize, || r.as_str().into())),
                ),
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
                ("id", s.id(Member::Child(i))),
                ("label", s.label(Member::Child(i))),
                ("age", Dynamic::from_int(i64::from(age))),
                ("lunch_at_preschool", Dynamic::from_bool(c.lunch_at_preschool)),
                (
                    "residence_share_percent",
                    Dynamic::from_int(i64::from(c.residence_share_percent)),
                ),
                ("in_school", Dynamic::from_bool(c.in_school)),
                ("wage_earlier_this_year", ore(c.wage_earlier_this_year)),
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
            let m = member(&inc.person);
            map([
                ("person", id_of(&inc.person)),
                ("person_label", label_of(&inc.person)),
                ("role", s.role(m.unwrap_or(Member::Adult(0)))),
                ("kind", s.income_kind(inc.kind)),
                ("label", s.income_label(inc.kind)),
                ("amount", ore(inc.amount)),
            ])
        })
        .collect();
    let assets: Array = app
        .assets()
        .iter()
        .map(|a| {
            map([
                ("kind", pick(&s.asset_kinds, a.kind as usize, || a.kind.as_str().into())),
                (
                    "label",
                    pick(&s.asset_labels, a.kind as usize, || a.kind.label().into()),
                ),
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
            "jobbstimulans_start",
            hist.jobbstimulans_start
                .map_or(Dynamic::UNIT, |p| Dynamic::from(p.to_string())),
        ),
        (
            "jobbstimulans_start_index",
            hist.jobbstimulans_start
                .map_or(Dynamic::UNIT, |p| Dynamic::from_int(p.index())),
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
            let seekers: Array = r.job_seekers.iter().map(id_of).collect();
            let incomes: Array = r
                .incomes
                .iter()
                .map(|inc| {
                    map([
                        ("person", id_of(&inc.person)),
                        ("person_label", label_of(&inc.person)),
                        ("source", Dynamic::from(inc.source.clone())),
                        ("kind", s.income_kind(inc.kind)),
                        ("label", s.income_label(inc.kind)),
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
        (
            "kind",
            pick(&s.application_kinds, app.kind() as usize, || app.kind().as_str().into()),
        ),
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

/// The parameters of one date, prepared once for scripts: each value
/// already a Rhai value, found by name through a fast map, and the warnings
/// about unverified values cached per set of values read (most drafts of a
/// period read the same ones, and formatting them is not free).
pub struct ScriptParams {
    date: chrono::NaiveDate,
    /// Sorted by name, so the warnings list names in name order.
    entries: Vec<ScriptParam>,
    by_name: HashMap<String, usize, BuildFnv>,
    /// One bit per entry: is the value unverified?
    unverified: Box<[u64]>,
    warnings: RwLock<WarningCache>,
}

/// Warnings by the set of unverified values read (a bit per entry).
type WarningCache = HashMap<Box<[u64]>, Arc<[String]>, BuildFnv>;

struct ScriptParam {
    name: String,
    value: Dynamic,
    verified: bool,
    /// `file (värdena som gäller från …; källa: …)`, the warning's group.
    group: String,
    /// `name = value`, as the warning shows it.
    shown: String,
}

/// At most this many distinct sets of unverified values are remembered per
/// date; a script reading values in ever new combinations still gets
/// correct warnings, only formatted afresh.
const MAX_CACHED_WARNING_SETS: usize = 64;

impl ScriptParams {
    pub fn new(resolved: &ResolvedParams) -> ScriptParams {
        let mut entries: Vec<ScriptParam> = resolved
            .iter()
            .map(|(name, p)| ScriptParam {
                name: name.clone(),
                value: match &p.value {
                    ParamValue::Money(m) => Dynamic::from_int(m.ore()),
                    ParamValue::Integer(i) => Dynamic::from_int(*i),
                    ParamValue::Text(t) => Dynamic::from(ImmutableString::from(t.as_str())),
                },
                verified: !p.needs_check(),
                group: format!(
                    "{} (värdena som gäller från {}; källa: {})",
                    p.file,
                    p.valid_from,
                    p.provenance()
                ),
                shown: match &p.value {
                    ParamValue::Money(m) => format!("{name} = {m}"),
                    ParamValue::Integer(i) => format!("{name} = {i}"),
                    ParamValue::Text(t) => format!("{name} = \u{201d}{t}\u{201d}"),
                },
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let by_name = entries.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
        let mut unverified = vec![0u64; entries.len().div_ceil(64)].into_boxed_slice();
        for (i, e) in entries.iter().enumerate() {
            if !e.verified {
                unverified[i / 64] |= 1 << (i % 64);
            }
        }
        ScriptParams {
            date: resolved.date(),
            entries,
            by_name,
            unverified,
            warnings: RwLock::default(),
        }
    }

    /// Warnings naming the unverified values among those read (`used`, a
    /// bit per entry), grouped by the value set they come from.
    fn warnings(&self, used: &[u64]) -> Arc<[String]> {
        let key: Box<[u64]> = used.iter().zip(self.unverified.iter()).map(|(u, v)| u & v).collect();
        if key.iter().all(|w| *w == 0) {
            return Arc::new([]);
        }
        if let Some(w) = read(&self.warnings).get(&key) {
            return w.clone();
        }
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if key[i / 64] & (1 << (i % 64)) == 0 {
                continue;
            }
            match groups.iter_mut().find(|(g, _)| *g == e.group) {
                Some((_, names)) => names.push(&e.shown),
                None => groups.push((&e.group, vec![&e.shown])),
            }
        }
        let warnings: Arc<[String]> = groups
            .into_iter()
            .map(|(group, names)| {
                format!(
                    "{UNVERIFIED_PARAMETERS}{} – {group}.{UNVERIFIED_PARAMETERS_END}",
                    names.join(", ")
                )
            })
            .collect();
        let mut cache = write(&self.warnings);
        if cache.len() < MAX_CACHED_WARNING_SETS {
            cache.insert(key, warnings.clone());
        }
        warnings
    }
}

/// How a draft's warning about unverified parameter values begins and
/// ends; the case page shows these apart from the case's own checks.
pub const UNVERIFIED_PARAMETERS: &str = "Ej verifierade parametervärden användes: ";
pub const UNVERIFIED_PARAMETERS_END: &str = " Kontrollera värdena mot författningstexten innan beslutet godkänns.";

/// Whether a draft's warning is a notice about unverified parameter values.
pub fn is_parameter_notice(warning: &str) -> bool {
    warning.starts_with(UNVERIFIED_PARAMETERS)
}

/// The values and their source that a parameter notice names.
pub fn parameter_notice_body(warning: &str) -> &str {
    warning
        .strip_prefix(UNVERIFIED_PARAMETERS)
        .map_or(warning, |w| w.strip_suffix(UNVERIFIED_PARAMETERS_END).unwrap_or(w))
}

/// `params` in scripts: the parameter values valid on the first day of the
/// period. Reading an unverified value is remembered, so the draft can say
/// so. A shared handle: copies a script makes (passing `params` to a
/// function) record into the same set.
#[derive(Clone)]
pub struct Params {
    params: Arc<ScriptParams>,
    /// One bit per entry of `params`: was it read?
    used: Arc<[AtomicU64]>,
}

impl Params {
    pub fn new(params: Arc<ScriptParams>) -> Params {
        let words = params.entries.len().div_ceil(64);
        Params {
            params,
            used: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn get(&mut self, name: &str) -> RResult<Dynamic> {
        let Some(&i) = self.params.by_name.get(name) else {
            return Err(rt_err(format!(
                "parametern {name:?} finns inte för {} (kontrollera namnet och parameterfilerna)",
                self.params.date
            )));
        };
        let e = &self.params.entries[i];
        if !e.verified {
            self.used[i / 64].fetch_or(1 << (i % 64), Ordering::Relaxed);
        }
        Ok(e.value.clone())
    }

    /// The unverified parameters read, grouped by the value set they came
    /// from, as Swedish warnings that name them.
    pub fn unverified_warnings(&self) -> Arc<[String]> {
        let used: Vec<u64> = self.used.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        self.params.warnings(&used)
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// FNV-1a: the maps here are keyed by short names and small bit sets, where
/// SipHash's protection against chosen keys buys nothing and costs time.
#[derive(Clone, Copy, Default)]
pub struct BuildFnv;

pub struct Fnv(u64);

impl std::hash::BuildHasher for BuildFnv {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
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

/// One part of a casework type's calculation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSpec {
    pub kind: SectionKind,
    /// Swedish, for officials and letters.
    pub title: String,
    /// +1 adds to the amount, −1 is deducted.
    pub sign: i64,
}

/// What a casework type allows in its drafts.
#[derive(Debug, Clone)]
pub struct DraftSpec {
    pub schema: String,
    pub sections: Vec<SectionSpec>,
    /// Empty: every outcome.
    pub outcomes: Vec<Outcome>,
    /// The declared codes and whether each routes to a person; `None`
    /// (a ruleset without `[casework]`): any well-formed code, none routing.
    pub codes: Option<Vec<(ReasonCode, bool)>>,
}

impl DraftSpec {
    /// A ruleset without `[casework]`: the contract-v2 calculation.
    pub fn contract_v2() -> Arc<DraftSpec> {
        static SPEC: OnceLock<Arc<DraftSpec>> = OnceLock::new();
        SPEC.get_or_init(|| {
            let part = |kind: SectionKind| SectionSpec {
                title: kind.label().to_string(),
                sign: kind.default_sign(),
                kind,
            };
            Arc::new(DraftSpec {
                schema: domain::DRAFT_SCHEMA.to_string(),
                sections: vec![
                    part(SectionKind::NORM),
                    part(SectionKind::COSTS),
                    part(SectionKind::INCOMES),
                    part(SectionKind::ASSETS),
                ],
                outcomes: Vec::new(),
                codes: None,
            })
        })
        .clone()
    }

    fn section_index(&self, section: &str) -> RResult<usize> {
        self.sections
            .iter()
            .position(|s| s.kind.as_str() == section)
            .ok_or_else(|| {
                rt_err(format!(
                    "okänd del av beräkningen {section:?}; tillåtna: {}",
                    self.sections
                        .iter()
                        .map(|s| s.kind.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

pub struct DraftState {
    pub spec: Arc<DraftSpec>,
    pub outcome: Option<Outcome>,
    pub amount: Option<Money>,
    pub codes: Vec<ReasonCode>,
    pub rows: Vec<Vec<Row>>,
    pub reasons: Vec<Reason>,
    pub warnings: Vec<String>,
    pub assessments: Vec<Assessment>,
    pub kommunicering: Vec<Kommunicering>,
    trace: Vec<Record>,
}

impl DraftState {
    pub fn new(spec: Arc<DraftSpec>) -> DraftState {
        DraftState {
            rows: vec![Vec::new(); spec.sections.len()],
            spec,
            outcome: None,
            amount: None,
            codes: Vec::new(),
            reasons: Vec::new(),
            warnings: Vec::new(),
            assessments: Vec::new(),
            kommunicering: Vec::new(),
            trace: Vec::new(),
        }
    }
}

impl Default for DraftState {
    fn default() -> DraftState {
        DraftState::new(DraftSpec::contract_v2())
    }
}

/// One rule in the trace while the script runs. Its inputs are written as
/// JSON when the rule starts; what it produces is kept as references into
/// the draft (row 3 of costs, reason 2, …) and written once, at the end.
struct Record {
    rule: String,
    inputs: Box<RawValue>,
    /// Keys in the order first recorded; written sorted.
    result: Vec<(Cow<'static, str>, Item)>,
}

/// A key of a rule's result: a list that rows, reasons, … are added to, or
/// a single value (`draft.note`).
enum Item {
    List(Vec<Val>),
    One(Val),
}

enum Val {
    /// Row `index` of section `section`.
    Row(usize, usize),
    /// The code of reason `index`.
    Reason(usize),
    Text(String),
    Name(&'static str),
    Money(i64),
    Json(Box<RawValue>),
}

/// `draft` in scripts. A shared handle, so that functions the script passes
/// it to record into the same draft.
#[derive(Clone, Default)]
pub struct DraftBuilder(Arc<Mutex<DraftState>>);

impl DraftBuilder {
    pub fn new(spec: Arc<DraftSpec>) -> DraftBuilder {
        DraftBuilder(Arc::new(Mutex::new(DraftState::new(spec))))
    }

    pub fn same_as(&self, other: &DraftBuilder) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub fn take(&self) -> DraftState {
        let mut state = lock(&self.0);
        let fresh = DraftState::new(state.spec.clone());
        std::mem::replace(&mut *state, fresh)
    }

    fn with<T>(&mut self, f: impl FnOnce(&mut DraftState) -> RResult<T>) -> RResult<T> {
        f(&mut lock(&self.0))
    }
}

impl DraftState {
    /// The rule being recorded into.
    fn current(&mut self, what: &str) -> RResult<&mut Record> {
        self.trace.last_mut().ok_or_else(|| {
            rt_err(format!(
                "{what} måste höra till en regel: anropa draft.rule(\"namn\") först"
            ))
        })
    }

    /// Adds `value` to the current rule's list `key` (a single value there,
    /// from `draft.note`, is replaced).
    fn record(&mut self, key: &'static str, value: Val) -> RResult<()> {
        let rec = self.current(key)?;
        match rec.result.iter_mut().find(|(k, _)| k == key) {
            Some((_, Item::List(list))) => list.push(value),
            Some((_, item)) => *item = Item::One(value),
            None => rec.result.push((Cow::Borrowed(key), Item::List(vec![value]))),
        }
        Ok(())
    }

    fn note(&mut self, key: &str, value: &Dynamic) -> RResult<()> {
        // A list noted can be added to later, as any list of the result.
        let item = match value.read_lock::<Array>() {
            Some(a) => Item::List(a.iter().map(|v| raw_json(v).map(Val::Json)).collect::<RResult<_>>()?),
            None => Item::One(Val::Json(raw_json(value)?)),
        };
        let rec = self.current("note")?;
        match rec.result.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => *old = item,
            None => rec.result.push((Cow::Owned(key.to_string()), item)),
        }
        Ok(())
    }

    /// The trace as the draft carries it: every result written as JSON.
    pub fn trace(&mut self) -> Result<Vec<TraceEntry>, domain::DraftError> {
        let records = std::mem::take(&mut self.trace);
        records
            .into_iter()
            .map(|mut rec| {
                rec.result.sort_by(|a, b| a.0.cmp(&b.0));
                let result = serde_json::value::to_raw_value(&ResultJson { state: self, rec: &rec })
                    .map_err(|_| domain::DraftError::TraceNotObject)?;
                TraceEntry::new(rec.rule, rec.inputs, result)
            })
            .collect()
    }

    pub fn calculation(&mut self) -> Result<Calculation, domain::DraftError> {
        let rows = std::mem::take(&mut self.rows);
        let parts = self
            .spec
            .sections
            .iter()
            .zip(rows)
            .map(|(spec, rows)| {
                Ok(CalcSection {
                    kind: spec.kind.clone(),
                    sign: spec.sign,
                    section: Section::new(rows)?,
                })
            })
            .collect::<Result<Vec<_>, domain::DraftError>>()?;
        Calculation::new(parts)
    }
}

/// A rule's result, written with its keys sorted (they are, by now).
struct ResultJson<'a> {
    state: &'a DraftState,
    rec: &'a Record,
}

impl Serialize for ResultJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.rec.result.len()))?;
        for (k, item) in &self.rec.result {
            match item {
                Item::List(list) => m.serialize_entry(k, &ListJson(self.state, list))?,
                Item::One(v) => m.serialize_entry(k, &ValJson(self.state, v))?,
            }
        }
        m.end()
    }
}

struct ListJson<'a>(&'a DraftState, &'a [Val]);

impl Serialize for ListJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.1.iter().map(|v| ValJson(self.0, v)))
    }
}

struct ValJson<'a>(&'a DraftState, &'a Val);

impl Serialize for ValJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            Val::Row(section, i) => {
                let Some(row) = self.0.rows[*section].get(*i) else {
                    return s.serialize_unit();
                };
                // Keys in sorted order, as every object of the trace.
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("amount_sek", &row.amount)?;
                m.serialize_entry("label", &row.label)?;
                m.serialize_entry("section", self.0.spec.sections[*section].kind.as_str())?;
                m.end()
            }
            Val::Reason(i) => match self.0.reasons.get(*i) {
                Some(r) => s.serialize_str(&r.code),
                None => s.serialize_unit(),
            },
            Val::Text(t) => s.serialize_str(t),
            Val::Name(n) => s.serialize_str(n),
            Val::Money(ore) => Money::from_ore(*ore).serialize(s),
            Val::Json(raw) => raw.serialize(s),
        }
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

/// Records one calculation row under the current rule.
fn push_row(d: &mut DraftBuilder, section: &str, label: &str, amount: i64, applied: Option<i64>) -> RResult<()> {
    let label = text(label, "raden")?;
    d.with(|s| {
        let idx = s.spec.section_index(section)?;
        if s.rows[idx].len() >= MAX_ROWS {
            return Err(rt_err("för många rader i beräkningen"));
        }
        s.record("rows", Val::Row(idx, s.rows[idx].len()))?;
        s.rows[idx].push(Row {
            label,
            amount: Money::from_ore(amount),
            applied: applied.map(Money::from_ore),
        });
        Ok(())
    })
}

/// A Rhai value written as JSON for the trace: maps keep their sorted
/// order; a value of another type is written as its type name.
struct Json<'a>(&'a Dynamic);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if let Ok(i) = v.as_int() {
            s.serialize_i64(i)
        } else if let Some(t) = v.read_lock::<ImmutableString>() {
            s.serialize_str(&t)
        } else if let Ok(b) = v.as_bool() {
            s.serialize_bool(b)
        } else if v.is_unit() {
            s.serialize_unit()
        } else if let Some(a) = v.read_lock::<Array>() {
            s.collect_seq(a.iter().map(Json))
        } else if let Some(m) = v.read_lock::<Map>() {
            s.collect_map(m.iter().map(|(k, v)| (k.as_str(), Json(v))))
        } else {
            s.serialize_str(v.type_name())
        }
    }
}

fn raw_json(v: &Dynamic) -> RResult<Box<RawValue>> {
    serde_json::value::to_raw_value(&Json(v)).map_err(|e| rt_err(format!("värdet kan inte skrivas i spåret: {e}")))
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
    // text helper: the texts of a list, separated by `sep`
    e.register_fn("join", |texts: Array, sep: ImmutableString| -> String {
        let mut out = String::new();
        for (i, t) in texts.iter().enumerate() {
            if i > 0 {
                out.push_str(&sep);
            }
            match t.read_lock::<ImmutableString>() {
                Some(s) => out.push_str(&s),
                None => out.push_str(&t.to_string()),
            }
        }
        out
    });
    e.register_fn("fmt_period", |p: ImmutableString| -> RResult<String> {
        p.parse::<domain::Period>()
            .map(domain::Period::swedish)
            .map_err(|_| rt_err(format!("fmt_period: {p:?} är inte ÅÅÅÅ-MM")))
    });
    e.register_fn("fmt_period", |index: i64| -> RResult<String> {
        domain::Period::from_index(index)
            .map(domain::Period::swedish)
            .ok_or_else(|| rt_err(format!("fmt_period: {index} är inget månadsindex")))
    });
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
            push_row(d, &section, &label, amount, None)
        },
    );
    // A row granted at less than applied for (a cap): `applied` is what the
    // applicant asked for, so the decision letter can say what was not granted.
    e.register_fn(
        "row",
        |d: &mut DraftBuilder,
         section: ImmutableString,
         label: ImmutableString,
         amount: i64,
         applied: i64|
         -> RResult<()> {
            if applied < amount {
                return Err(rt_err("det sökta beloppet är mindre än det som räknas med"));
            }
            push_row(d, &section, &label, amount, Some(applied))
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
                s.record("reasons", Val::Reason(s.reasons.len()))?;
                s.reasons.push(Reason {
                    code,
                    text: txt,
                    lagrum,
                });
                Ok(())
            })
        },
    );
    e.register_fn(
        "assessment",
        |d: &mut DraftBuilder, code: ImmutableString, txt: ImmutableString| -> RResult<()> {
            let code = text(&code, "bedömningens kod")?;
            let txt = text(&txt, "bedömningens text")?;
            d.with(|s| {
                if s.assessments.len() >= MAX_TEXTS {
                    return Err(rt_err("för många bedömningar"));
                }
                s.record("assessments", Val::Text(code.clone()))?;
                s.assessments.push(Assessment { code, text: txt });
                Ok(())
            })
        },
    );
    e.register_fn(
        "kommunicering",
        |d: &mut DraftBuilder, code: ImmutableString, txt: ImmutableString| -> RResult<()> {
            let code = text(&code, "kommuniceringens kod")?;
            let txt = text(&txt, "kommuniceringens text")?;
            d.with(|s| {
                if s.kommunicering.len() >= MAX_TEXTS {
                    return Err(rt_err("för många uppgifter att kommunicera"));
                }
                s.record("kommunicering", Val::Text(code.clone()))?;
                s.kommunicering.push(Kommunicering { code, text: txt });
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
            s.record("warnings", Val::Text(txt.clone()))?;
            if !s.warnings.contains(&txt) {
                s.warnings.push(txt);
            }
            Ok(())
        })
    });
    e.register_fn("code", |d: &mut DraftBuilder, code: ImmutableString| -> RResult<()> {
        d.with(|s| {
            let c = match &s.spec.codes {
                Some(declared) => declared
                    .iter()
                    .find(|(c, _)| c.as_str() == code.as_str())
                    .map(|(c, _)| c.clone())
                    .ok_or_else(|| {
                        rt_err(format!(
                            "okänd kod {code:?}; kända koder (ruleset.toml [casework.codes]): {}",
                            declared.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ")
                        ))
                    })?,
                None => ReasonCode::new(&code).map_err(|e| rt_err(e.to_string()))?,
            };
            if c.is_store_route() {
                return Err(rt_err(format!("koden {code:?} sätts av körmiljön, inte av regler")));
            }
            s.record("codes", Val::Text(c.as_str().to_string()))?;
            if !s.codes.contains(&c) {
                s.codes.push(c);
            }
            Ok(())
        })
    });
    e.register_fn("has_code", |d: &mut DraftBuilder, code: ImmutableString| -> bool {
        lock(&d.0).codes.iter().any(|c| c.as_str() == code.as_str())
    });
    e.register_fn("is_manual", |d: &mut DraftBuilder| -> bool {
        let s = lock(&d.0);
        let manual = |c: &ReasonCode| {
            s.spec
                .codes
                .as_ref()
                .is_some_and(|declared| declared.iter().any(|(d, m)| d == c && *m))
        };
        s.codes.iter().any(manual)
    });
    e.register_fn(
        "note",
        |d: &mut DraftBuilder, key: ImmutableString, value: Dynamic| -> RResult<()> {
            d.with(|s| s.note(&key, &value))
        },
    );
    e.register_fn(
        "total",
        |d: &mut DraftBuilder, section: ImmutableString| -> RResult<i64> {
            d.with(|s| {
                let idx = s.spec.section_index(&section)?;
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
                if !s.spec.outcomes.is_empty() && !s.spec.outcomes.contains(&o) {
                    return Err(rt_err(format!(
                        "utfallet {o} finns inte för ärendetypen (ruleset.toml [casework] outcomes)"
                    )));
                }
                s.record("outcome", Val::Name(o.as_str()))?;
                s.record("amount_sek", Val::Money(amount))?;
                s.outcome = Some(o);
                s.amount = Some(Money::from_ore(amount));
                Ok(())
            })
        },
    );
    e.register_fn("manual", |d: &mut DraftBuilder| -> RResult<()> {
        d.with(|s| {
            s.record("outcome", Val::Name(Outcome::Manuell.as_str()))?;
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
    let inputs = serde_json::value::to_raw_value(&JsonMapOf(inputs))
        .map_err(|e| rt_err(format!("värdet kan inte skrivas i spåret: {e}")))?;
    d.with(|s| {
        if s.trace.len() >= MAX_TRACE {
            return Err(rt_err("för många regler i spåret"));
        }
        s.trace.push(Record {
            rule: name.to_string(),
            inputs,
            result: Vec::new(),
        });
        Ok(())
    })
}

/// A Rhai map written as a JSON object (its keys are sorted already).
struct JsonMapOf<'a>(&'a Map);

impl Serialize for JsonMapOf<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k.as_str(), Json(v))))
    }
}
