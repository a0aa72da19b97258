//! The ekonomiskt-bistånd ruleset (contract v2) written directly in Rust,
//! for the benchmark only: the "physical limit" the Rhai ruleset is
//! measured against.
//!
//! It builds the same `domain::Draft` as `rulesets/ekonomiskt-bistand`:
//! the same calculation rows and labels, reasons and their texts, warnings
//! (including the sandbox's warning about unverified parameter values) and
//! trace entries, so that `draft.to_json()` is byte-identical to the Rhai
//! draft for every benchmark input (`drafts.rs` asserts that before timing).
//! Parameters are read from the loaded ruleset, resolved once per month into
//! plain integers and texts.
//!
//! Never used outside `benches/drafts.rs`; the rules themselves live in the
//! ruleset's Rhai scripts. When a script changes what a draft says, this file
//! must follow, or the benchmark refuses to run.

use domain::{
    Application, ApplicationKind, Assessment, Calculation, Draft, DraftParts, IncomeKind, Kommunicering, Member, Money,
    Outcome, Period, Reason, ReasonCode, Relation, Row, RulesetRef, Section, TraceEntry,
};
use sandbox::{ParamValue, ResolvedParams, Ruleset};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Every parameter the rules read, in one list so that "which were read"
/// is a bit set (the unverified ones are named in a warning).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum P {
    LagBistand,
    LagNorm,
    LagKostnader,
    LagJobbstimulans,
    LagBarnsArbetsinkomst,
    Ensamstaende,
    Sambor,
    Barn0,
    Barn1_2,
    Barn3,
    Barn4_6,
    Barn7_10,
    Barn11_14,
    Barn15_18,
    Barn19_20,
    Barn0EjLunch,
    Barn1_2EjLunch,
    Barn3EjLunch,
    Barn4_6EjLunch,
    Gemensamma1,
    Gemensamma2,
    Gemensamma3,
    Gemensamma4,
    Gemensamma5,
    Gemensamma6,
    Gemensamma7,
    Hyra0,
    Hyra1,
    Hyra2,
    Hyra3,
    Hyra4,
    Radrum,
    Resetak,
    Tillgangar,
    Tolerans,
    StimManader,
    StimMax,
    StimProcent,
    Prisbasbelopp,
}

const NAMES: [&str; 39] = [
    "lagrum.ratt_till_bistand",
    "lagrum.riksnorm",
    "lagrum.skaliga_kostnader",
    "lagrum.jobbstimulans",
    "lagrum_tillagg.barns_arbetsinkomst",
    "riksnorm.ensamstaende",
    "riksnorm.sambor",
    "riksnorm.barn_0",
    "riksnorm.barn_1_2",
    "riksnorm.barn_3",
    "riksnorm.barn_4_6",
    "riksnorm.barn_7_10",
    "riksnorm.barn_11_14",
    "riksnorm.barn_15_18",
    "riksnorm.barn_19_20",
    "riksnorm.barn_0_ej_lunch",
    "riksnorm.barn_1_2_ej_lunch",
    "riksnorm.barn_3_ej_lunch",
    "riksnorm.barn_4_6_ej_lunch",
    "riksnorm.gemensamma_1",
    "riksnorm.gemensamma_2",
    "riksnorm.gemensamma_3",
    "riksnorm.gemensamma_4",
    "riksnorm.gemensamma_5",
    "riksnorm.gemensamma_6",
    "riksnorm.gemensamma_7",
    "kommun.hyra_riktvarde_0_barn",
    "kommun.hyra_riktvarde_1_barn",
    "kommun.hyra_riktvarde_2_barn",
    "kommun.hyra_riktvarde_3_barn",
    "kommun.hyra_riktvarde_4_barn",
    "kommun.radrum_manader",
    "kommun.arbetsresor_tak",
    "kommun.tillgangar_fribelopp",
    "kommun.register_tolerans",
    "jobbstimulans.manader_med_bistand",
    "jobbstimulans.max_manader",
    "jobbstimulans.procent",
    "prisbasbelopp.belopp",
];

const BARN: [P; 8] = [
    P::Barn0,
    P::Barn1_2,
    P::Barn3,
    P::Barn4_6,
    P::Barn7_10,
    P::Barn11_14,
    P::Barn15_18,
    P::Barn19_20,
];
const BARN_EJ_LUNCH: [P; 4] = [P::Barn0EjLunch, P::Barn1_2EjLunch, P::Barn3EjLunch, P::Barn4_6EjLunch];
const GEMENSAMMA: [P; 7] = [
    P::Gemensamma1,
    P::Gemensamma2,
    P::Gemensamma3,
    P::Gemensamma4,
    P::Gemensamma5,
    P::Gemensamma6,
    P::Gemensamma7,
];
const HYRA: [P; 5] = [P::Hyra0, P::Hyra1, P::Hyra2, P::Hyra3, P::Hyra4];
/// The riksnorm key suffix and the age group in words, per age group.
const GRUPPER: [(&str, &str); 8] = [
    ("0", "0 år"),
    ("1_2", "1–2 år"),
    ("3", "3 år"),
    ("4_6", "4–6 år"),
    ("7_10", "7–10 år"),
    ("11_14", "11–14 år"),
    ("15_18", "15–18 år"),
    ("19_20", "19–20 år"),
];

/// One month's parameters.
struct Month {
    ints: [i64; 39],
    texts: [String; 39],
    unverified: u64,
    /// Per parameter: the warning group it belongs to (file, valid_from,
    /// source) and how it is shown (`name = value`).
    group: [String; 39],
    shown: [String; 39],
    /// Parameter indices sorted by name (the order the sandbox reports them).
    by_name: Vec<usize>,
}

impl Month {
    fn new(r: &ResolvedParams) -> Option<Month> {
        let mut ints = [0; 39];
        let mut texts: [String; 39] = std::array::from_fn(|_| String::new());
        let mut group: [String; 39] = std::array::from_fn(|_| String::new());
        let mut shown: [String; 39] = std::array::from_fn(|_| String::new());
        let mut unverified = 0u64;
        for (i, name) in NAMES.iter().enumerate() {
            let p = r.get(name)?;
            match &p.value {
                ParamValue::Money(m) => {
                    ints[i] = m.ore();
                    shown[i] = format!("{name} = {m}");
                }
                ParamValue::Integer(n) => {
                    ints[i] = *n;
                    shown[i] = format!("{name} = {n}");
                }
                ParamValue::Text(t) => {
                    texts[i] = t.clone();
                    shown[i] = format!("{name} = \u{201d}{t}\u{201d}");
                }
            }
            if p.needs_check() {
                unverified |= 1 << i;
            }
            group[i] = format!(
                "{} (värdena som gäller från {}; källa: {})",
                p.file,
                p.valid_from,
                p.provenance()
            );
        }
        let mut by_name: Vec<usize> = (0..NAMES.len()).collect();
        by_name.sort_by_key(|&i| NAMES[i]);
        Some(Month {
            ints,
            texts,
            unverified,
            group,
            shown,
            by_name,
        })
    }

    /// The sandbox's warnings for the unverified parameters in `used`.
    fn warnings(&self, used: u64) -> Vec<String> {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for &i in &self.by_name {
            if used & self.unverified & (1 << i) == 0 {
                continue;
            }
            match groups.iter_mut().find(|(g, _)| *g == self.group[i]) {
                Some((_, names)) => names.push(&self.shown[i]),
                None => groups.push((&self.group[i], vec![&self.shown[i]])),
            }
        }
        groups
            .into_iter()
            .map(|(group, names)| {
                format!(
                    "Ej verifierade parametervärden användes: {} – {group}. Kontrollera värdena mot författningstexten innan beslutet godkänns.",
                    names.join(", ")
                )
            })
            .collect()
    }
}

/// Parameter reads for one draft, remembering which were read.
struct Params<'a> {
    month: &'a Month,
    used: u64,
}

impl Params<'_> {
    fn int(&mut self, p: P) -> i64 {
        self.used |= 1 << p as u8;
        self.month.ints[p as usize]
    }
    fn text(&mut self, p: P) -> String {
        self.used |= 1 << p as u8;
        self.month.texts[p as usize].clone()
    }
}

/// A JSON value of the trace, written without building a `serde_json::Value`.
enum V {
    I(i64),
    S(String),
    B(bool),
    Null,
    List(Vec<V>),
    /// An object; keys sorted when written.
    Obj(Vec<(String, V)>),
}

impl From<i64> for V {
    fn from(i: i64) -> V {
        V::I(i)
    }
}
impl From<usize> for V {
    fn from(i: usize) -> V {
        V::I(i as i64)
    }
}
impl From<bool> for V {
    fn from(b: bool) -> V {
        V::B(b)
    }
}
impl From<&str> for V {
    fn from(s: &str) -> V {
        V::S(s.to_string())
    }
}
impl From<String> for V {
    fn from(s: String) -> V {
        V::S(s)
    }
}
impl<T: Into<V>> From<Option<T>> for V {
    fn from(o: Option<T>) -> V {
        o.map_or(V::Null, Into::into)
    }
}
impl<T: Into<V>> From<Vec<T>> for V {
    fn from(v: Vec<T>) -> V {
        V::List(v.into_iter().map(Into::into).collect())
    }
}

impl Serialize for V {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            V::I(i) => s.serialize_i64(*i),
            V::S(t) => s.serialize_str(t),
            V::B(b) => s.serialize_bool(*b),
            V::Null => s.serialize_unit(),
            V::List(l) => s.collect_seq(l),
            V::Obj(o) => {
                let mut sorted: Vec<&(String, V)> = o.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                s.collect_map(sorted.into_iter().map(|(k, v)| (k, v)))
            }
        }
    }
}

/// `obj!{"key" => value, …}`: a trace object.
macro_rules! obj {
    ($($k:literal => $v:expr),* $(,)?) => {
        V::Obj(vec![$(($k.to_string(), V::from($v))),*])
    };
}

/// The draft builder, as the sandbox's `draft` does it: every row, reason,
/// warning and code is recorded in the trace under the current rule, by
/// reference, and each rule's result is written as JSON at the end.
#[derive(Default)]
struct Builder {
    codes: Vec<ReasonCode>,
    rows: [Vec<Row>; 4],
    reasons: Vec<Reason>,
    warnings: Vec<String>,
    assessments: Vec<Assessment>,
    kommunicering: Vec<Kommunicering>,
    trace: Vec<Record>,
    outcome: Option<Outcome>,
    amount: Option<Money>,
}

struct Record {
    rule: &'static str,
    inputs: Box<RawValue>,
    result: Vec<(&'static str, Item)>,
}

enum Item {
    List(Vec<Val>),
    One(Val),
}

enum Val {
    Row(usize, usize),
    Reason(usize),
    Text(String),
    Name(&'static str),
    Money(i64),
    Json(V),
}

const NORM: usize = 0;
const COSTS: usize = 1;
const INCOMES: usize = 2;
const ASSETS: usize = 3;
const SECTIONS: [&str; 4] = ["norm", "costs", "incomes", "assets"];

impl Builder {
    fn rule(&mut self, name: &'static str, inputs: V) {
        let inputs = serde_json::value::to_raw_value(&inputs).unwrap_or_default();
        self.trace.push(Record {
            rule: name,
            inputs,
            result: Vec::new(),
        });
    }

    fn record(&mut self, key: &'static str, value: Val) {
        let Some(rec) = self.trace.last_mut() else {
            unreachable!()
        };
        match rec.result.iter_mut().find(|(k, _)| *k == key) {
            Some((_, Item::List(l))) => l.push(value),
            Some((_, item)) => *item = Item::One(value),
            None => rec.result.push((key, Item::List(vec![value]))),
        }
    }

    fn note(&mut self, key: &'static str, value: V) {
        let Some(rec) = self.trace.last_mut() else {
            unreachable!()
        };
        let item = match value {
            V::List(l) => Item::List(l.into_iter().map(Val::Json).collect()),
            other => Item::One(Val::Json(other)),
        };
        match rec.result.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = item,
            None => rec.result.push((key, item)),
        }
    }

    fn row(&mut self, section: usize, label: String, amount: i64) {
        self.row_applied(section, label, amount, None);
    }

    fn row_applied(&mut self, section: usize, label: String, amount: i64, applied: Option<i64>) {
        self.record("rows", Val::Row(section, self.rows[section].len()));
        self.rows[section].push(Row {
            label,
            amount: Money::from_ore(amount),
            applied: applied.map(Money::from_ore),
        });
    }

    fn reason(&mut self, code: &str, text: String, lagrum: String) {
        self.record("reasons", Val::Reason(self.reasons.len()));
        self.reasons.push(Reason {
            code: code.to_string(),
            text,
            lagrum,
        });
    }

    fn assessment(&mut self, code: &str, text: String) {
        self.record("assessments", Val::Text(code.to_string()));
        self.assessments.push(Assessment {
            code: code.to_string(),
            text,
        });
    }

    fn kommunicering(&mut self, code: &str, text: String) {
        self.record("kommunicering", Val::Text(code.to_string()));
        self.kommunicering.push(Kommunicering {
            code: code.to_string(),
            text,
        });
    }

    fn warning(&mut self, text: String) {
        self.record("warnings", Val::Text(text.clone()));
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    fn code(&mut self, name: &'static str) {
        self.record("codes", Val::Name(name));
        let code = ReasonCode::new(name).unwrap_or(ReasonCode::DUBBLETT_PERIOD);
        if !self.codes.contains(&code) {
            self.codes.push(code);
        }
    }

    fn total(&self, section: usize) -> i64 {
        self.rows[section].iter().map(|r| r.amount.ore()).sum()
    }

    fn is_manual(&self) -> bool {
        // The codes rulesets/ekonomiskt-bistand/ruleset.toml declares `manual`.
        const MANUAL: [&str; 7] = [
            "nyansokan",
            "ungdom_19_20",
            "under_18",
            "hushallssammansattning",
            "livsforing_i_ovrigt",
            "ej_arbetssokande",
            "register_avvikelse",
        ];
        self.codes.iter().any(|c| MANUAL.contains(&c.as_str()))
    }

    /// The trace entries, each result written as JSON with sorted keys.
    fn trace(&mut self) -> Option<Vec<TraceEntry>> {
        let records = std::mem::take(&mut self.trace);
        records
            .into_iter()
            .map(|mut rec| {
                rec.result.sort_by(|a, b| a.0.cmp(b.0));
                let result = serde_json::value::to_raw_value(&ResultJson(self, &rec)).unwrap_or_default();
                TraceEntry::new(rec.rule.to_string(), rec.inputs, result).ok()
            })
            .collect()
    }
}

struct ResultJson<'a>(&'a Builder, &'a Record);

impl Serialize for ResultJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.0;
        s.collect_map(self.1.result.iter().map(|(k, item)| (k, ItemJson(b, item))))
    }
}

struct ItemJson<'a>(&'a Builder, &'a Item);

impl Serialize for ItemJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            Item::List(l) => s.collect_seq(l.iter().map(|v| ValJson(self.0, v))),
            Item::One(v) => ValJson(self.0, v).serialize(s),
        }
    }
}

struct ValJson<'a>(&'a Builder, &'a Val);

impl Serialize for ValJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            Val::Row(section, i) => {
                let row = &self.0.rows[*section][*i];
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("amount_sek", &row.amount)?;
                m.serialize_entry("label", &row.label)?;
                m.serialize_entry("section", SECTIONS[*section])?;
                m.end()
            }
            Val::Reason(i) => s.serialize_str(&self.0.reasons[*i].code),
            Val::Text(t) => s.serialize_str(t),
            Val::Name(n) => s.serialize_str(n),
            Val::Money(ore) => Money::from_ore(*ore).serialize(s),
            Val::Json(v) => v.serialize(s),
        }
    }
}

/// `x × num ÷ den` in whole kronor, half up: the sandbox's `share_kr`.
fn share_kr(x: i64, num: i64, den: i64) -> i64 {
    Money::from_ore(x).mul_div_round_kronor(num, den).map_or(0, Money::ore)
}

fn kr(ore: i64) -> Money {
    Money::from_ore(ore)
}

/// `vuxen 1`, `barn 2`: a member as the decision letter names them.
fn person(m: Member) -> String {
    match m {
        Member::Adult(i) => format!("vuxen {}", i + 1),
        Member::Child(i) => format!("barn {}", i + 1),
    }
}

/// `vuxen1`, `barn2`: a member's id in the trace.
fn id(m: Member) -> String {
    match m {
        Member::Adult(i) => format!("vuxen{}", i + 1),
        Member::Child(i) => format!("barn{}", i + 1),
    }
}

/// The parameters of every month the ruleset covers, looked up by index.
pub struct PlainRules {
    first: i64,
    months: Vec<Option<Month>>,
    ruleset: RulesetRef,
}

impl PlainRules {
    /// Resolves the ruleset's parameters for every month of `from..=to`.
    pub fn new(ruleset: &Ruleset, from: Period, to: Period) -> PlainRules {
        let mut months = Vec::new();
        let mut p = Some(from);
        while let Some(period) = p.filter(|p| p.index() <= to.index()) {
            months.push(ruleset.resolved(period.first_day()).ok().and_then(|r| Month::new(&r)));
            p = period.plus_months(1);
        }
        PlainRules {
            first: from.index(),
            months,
            ruleset: ruleset.reference(),
        }
    }

    pub fn evaluate(&self, app: &Application) -> Option<Draft> {
        let period = app.period();
        let month = self
            .months
            .get(usize::try_from(period.index() - self.first).ok()?)?
            .as_ref()?;
        let mut p = Params { month, used: 0 };
        let mut d = Builder::default();
        let day = period.first_day();
        let hh = app.household();
        let adults = &hh.adults;
        let children = &hh.children;
        let member = |pnr: &domain::Personnummer| hh.member(pnr).unwrap_or(Member::Adult(usize::MAX));
        let adult_ages: Vec<i64> = adults.iter().map(|a| i64::from(a.personnummer.age_on(day))).collect();
        let child_ages: Vec<i64> = children
            .iter()
            .map(|c| i64::from(c.personnummer.age_on(day).max(0)))
            .collect();
        let register = app.register();
        let lag_bistand = p.text(P::LagBistand);
        let manad = period.swedish();

        // 1. Manual routes.
        d.rule("manuell.nyansokan", obj! {"ansokningstyp" => app.kind().as_str()});
        if app.kind() == ApplicationKind::Nyansokan {
            d.code("nyansokan");
            d.reason(
                "nyansokan",
                "Ansökan är en nyansökan. En första ansökan utreds av en handläggare, med ett personligt besök.".into(),
                lag_bistand.clone(),
            );
        }

        let mut youth: Vec<String> = Vec::new();
        let mut barn_aldrar: Vec<V> = Vec::new();
        for (i, c) in children.iter().enumerate() {
            barn_aldrar
                .push(obj! {"barn" => id(Member::Child(i)), "alder" => child_ages[i], "gymnasiet" => c.in_school});
            if child_ages[i] >= 19 && !c.in_school {
                youth.push(format!("{} ({} år)", person(Member::Child(i)), child_ages[i]));
            }
        }
        d.rule("manuell.ungdom_19_20", obj! {"barn" => V::List(barn_aldrar)});
        if !youth.is_empty() {
            d.code("ungdom_19_20");
            d.reason(
                "ungdom_19_20",
                format!(
                    "En ungdom i hushållet är 19 eller 20 år och det framgår inte att hen går i gymnasiet ({}). En ungdom som har lämnat skolan ingår inte i föräldrarnas hushåll för riksnormen utan ansöker själv. Hushållets sammansättning måste bedömas av en handläggare.",
                    youth.join(", ")
                ),
                lag_bistand.clone(),
            );
        }

        d.rule("manuell.under_18", obj! {"vuxnas_aldrar" => adult_ages.clone()});
        if adult_ages.iter().any(|a| *a < 18) {
            d.code("under_18");
            d.reason(
                "under_18",
                "En av de vuxna i hushållet är under 18 år. Föräldrarnas försörjningsplikt och hushållets sammansättning måste utredas av en handläggare.".into(),
                lag_bistand.clone(),
            );
        }

        let par = adults.len() == 2 && matches!(adults[1].relation, Some(Relation::Sambo | Relation::Make));
        let relation = if adults.len() == 2 {
            adults[1].relation.map(|r| r.as_str())
        } else {
            None
        };
        d.rule(
            "manuell.hushallssammansattning",
            obj! {"antal_vuxna" => adults.len(), "relation" => relation},
        );
        if adults.len() > 2 || (adults.len() == 2 && !par) {
            d.code("hushallssammansattning");
            let text = if adults.len() > 2 {
                format!(
                    "Hushållet har {} vuxna. Hur hushållet ska beräknas måste bedömas av en handläggare.",
                    adults.len()
                )
            } else {
                "De två vuxna i hushållet är inte sambor eller makar. Hur hushållet ska beräknas måste bedömas av en handläggare.".into()
            };
            d.reason("hushallssammansattning", text, lag_bistand.clone());
        }

        let needs = app.other_needs();
        d.rule("manuell.livsforing_i_ovrigt", obj! {"antal_ansokningar" => needs.len()});
        if !needs.is_empty() {
            d.code("livsforing_i_ovrigt");
            let sum: i64 = needs.iter().map(|n| n.amount.ore()).sum();
            d.reason(
                "livsforing_i_ovrigt",
                format!(
                    "Ansökan gäller även bistånd till livsföringen i övrigt ({} st, sammanlagt {}). Sådana behov prövas individuellt av en handläggare.",
                    needs.len(),
                    kr(sum)
                ),
                lag_bistand.clone(),
            );
        }

        let not_seeking: Vec<Member> = adults
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                let registered = register.is_none_or(|r| r.job_seekers.contains(&a.personnummer));
                !a.job_seeking || a.exempt_reason.is_some() || !registered
            })
            .map(|(i, _)| Member::Adult(i))
            .collect();
        d.rule(
            "manuell.ej_arbetssokande",
            obj! {
                "registerkontroll" => register.is_some(),
                "vuxna_som_inte_ar_arbetssokande" => not_seeking.iter().map(|m| id(*m)).collect::<Vec<_>>(),
            },
        );
        if !not_seeking.is_empty() {
            d.code("ej_arbetssokande");
            let who: Vec<String> = not_seeking.iter().map(|m| person(*m)).collect();
            d.reason(
                "ej_arbetssokande",
                format!(
                    "Det framgår inte att alla vuxna står till arbetsmarknadens förfogande ({}): de är inte arbetssökande, har angett skäl att vara undantagna, eller finns inte som arbetssökande hos Arbetsförmedlingen. Rätten till bistånd måste bedömas av en handläggare.",
                    who.join(", ")
                ),
                lag_bistand.clone(),
            );
        }

        if let Some(r) = register {
            let tolerans = p.int(P::Tolerans);
            // "vuxen1:lon" → (sum, label); sorted by key, as a Rhai map is.
            let mut registered: BTreeMap<String, (i64, String)> = BTreeMap::new();
            for inc in &r.incomes {
                let m = member(&inc.person);
                let e = registered
                    .entry(format!("{}:{}", id(m), inc.kind.as_str()))
                    .or_insert((0, String::new()));
                e.0 += inc.amount.ore();
                e.1 = format!("{}, {}", person(m), inc.kind.label());
            }
            let mut declared: BTreeMap<String, i64> = BTreeMap::new();
            for inc in app.incomes() {
                *declared
                    .entry(format!("{}:{}", id(member(&inc.person)), inc.kind.as_str()))
                    .or_insert(0) += inc.amount.ore();
            }
            let mut deviations = Vec::new();
            for (k, (reg, label)) in &registered {
                let dec = declared.get(k).copied().unwrap_or(0);
                if (dec - reg).abs() > tolerans {
                    deviations.push(format!("{label}: {} i ansökan, {} i register", kr(dec), kr(*reg)));
                }
            }
            d.rule(
                "manuell.register_avvikelse",
                obj! {
                    "tolerans_sek" => tolerans / 100,
                    "registrerat" => V::Obj(registered.iter().map(|(k, (v, _))| (k.clone(), V::I(*v))).collect()),
                    "deklarerat" => V::Obj(declared.iter().map(|(k, v)| (k.clone(), V::I(*v))).collect()),
                },
            );
            d.note("avvikelser", V::from(deviations.clone()));
            if !deviations.is_empty() {
                d.code("register_avvikelse");
                d.reason(
                    "register_avvikelse",
                    format!(
                        "Inkomsterna i ansökan skiljer sig med mer än {} från uppgifterna i register ({}). Skillnaden måste utredas av en handläggare.",
                        kr(tolerans),
                        deviations.join("; ")
                    ),
                    lag_bistand.clone(),
                );
            }
        } else {
            d.rule("manuell.register_avvikelse", obj! {"registerkontroll" => false});
            d.warning("Inkomster och arbetssökandestatus har inte kontrollerats mot register (SSBTEK). Kontrollera uppgifterna innan beslutet godkänns.".into());
        }

        // 2. Riksnormen.
        let lag_norm = p.text(P::LagNorm);
        d.rule(
            "norm.vuxna",
            obj! {"antal_vuxna" => adults.len(), "sambor_eller_makar" => par},
        );
        if adults.len() == 1 {
            let v = p.int(P::Ensamstaende);
            d.row(NORM, "Personliga kostnader, ensamstående".into(), v);
        } else if par {
            let v = p.int(P::Sambor);
            d.row(NORM, "Personliga kostnader, sambor/makar".into(), v);
        } else {
            d.warning("Personliga kostnader för de vuxna är inte beräknade, eftersom hushållets sammansättning måste bedömas.".into());
        }

        for (i, c) in children.iter().enumerate() {
            let age = child_ages[i];
            let g = match age {
                0 => 0,
                1..=2 => 1,
                3 => 2,
                4..=6 => 3,
                7..=10 => 4,
                11..=14 => 5,
                15..=18 => 6,
                _ => 7,
            };
            let lunch_applies = c.lunch_at_preschool && age <= 6;
            let key = if lunch_applies { BARN_EJ_LUNCH[g] } else { BARN[g] };
            let belopp = p.int(key);
            let share = i64::from(c.residence_share_percent);
            d.rule(
                "norm.barn",
                obj! {
                    "barn" => id(Member::Child(i)),
                    "alder" => age,
                    "lunch_i_forskolan" => c.lunch_at_preschool,
                    "boende_procent" => share,
                    "parameter" => NAMES[key as usize],
                },
            );
            let lunch = if lunch_applies { ", lunch i förskolan" } else { "" };
            let mut label = format!(
                "Personliga kostnader, {} ({}{lunch})",
                person(Member::Child(i)),
                GRUPPER[g].1
            );
            if share < 100 {
                let _ = write!(label, ", {share} % av {}", kr(belopp));
                d.row(NORM, label, share_kr(belopp, share, 100));
            } else {
                d.row(NORM, label, belopp);
            }
        }

        let n = hh.size() as i64;
        let m = hh.dwelling_persons.map_or(n, i64::from).max(n);
        let mut gemensamma = |persons: i64| -> i64 {
            if persons <= 7 {
                return p.int(GEMENSAMMA[(persons - 1) as usize]);
            }
            let sju = p.int(P::Gemensamma7);
            let sex = p.int(P::Gemensamma6);
            sju + (persons - 7) * (sju - sex)
        };
        d.rule(
            "norm.gemensamma",
            obj! {"personer_i_hushallet" => n, "personer_i_bostaden" => m},
        );
        if m > n {
            let hela = gemensamma(m);
            d.row(
                NORM,
                format!(
                    "Gemensamma hushållskostnader, {n} av {m} personer i bostaden ({} × {n}/{m})",
                    kr(hela)
                ),
                share_kr(hela, n, m),
            );
        } else {
            let v = gemensamma(n);
            let personer = if n == 1 {
                "1 person".to_string()
            } else {
                format!("{n} personer")
            };
            d.row(NORM, format!("Gemensamma hushållskostnader, {personer}"), v);
        }
        d.reason(
            "riksnorm",
            format!(
                "Hushållets kostnader enligt riksnormen är {} per månad.",
                kr(d.total(NORM))
            ),
            lag_norm,
        );

        // 3. Skäliga kostnader.
        let lag_kostnader = p.text(P::LagKostnader);
        let costs = app.costs();
        let history = app.history();
        let mut tak_tillampat = false;
        let antal_barn = children.len();
        let riktvarde = p.int(HYRA[antal_barn.min(4)]);
        let radrum = p.int(P::Radrum);
        let rent = costs.rent.ore();
        let notice = history.rent_notice_period;
        d.rule(
            "kostnader.boende",
            obj! {
                "hyra" => rent,
                "riktvarde" => riktvarde,
                "antal_barn" => antal_barn,
                "uppmaning_att_sanka" => notice.map(|p| p.to_string()),
                "radrum_manader" => radrum,
            },
        );
        if rent > riktvarde {
            match notice {
                Some(notice) if period.index() >= notice.index() + radrum => {
                    tak_tillampat = true;
                    d.row_applied(
                        COSTS,
                        format!("Boendekostnad, begränsad till riktvärdet (hyran är {})", kr(rent)),
                        riktvarde,
                        Some(rent),
                    );
                    d.code("hyra_over_riktvarde");
                    let hushall = match antal_barn {
                        0 => "ett hushåll utan barn".to_string(),
                        1 => "ett hushåll med 1 barn".to_string(),
                        n => format!("ett hushåll med {n} barn"),
                    };
                    let uppmaning = notice.swedish();
                    d.reason(
                        "hyra_over_riktvarde",
                        format!(
                            "Hyran {} är högre än kommunens riktvärde {} för {hushall}. Du uppmanades i {uppmaning} att sänka din boendekostnad och har haft {radrum} månader på dig att ordna en billigare bostad. Boendekostnaden räknas därför med riktvärdet.",
                            kr(rent),
                            kr(riktvarde)
                        ),
                        lag_kostnader.clone(),
                    );
                    let barnets_basta = if antal_barn > 0 {
                        ", och att barnets bästa inte talar för att godta den högre boendekostnaden"
                    } else {
                        ""
                    };
                    d.assessment(
                        "boendekostnad_skalighet",
                        format!(
                            "Bekräfta att den sökande i {uppmaning} fick veta att hyran {} är för hög och hade {radrum} månader på sig att sänka boendekostnaden, att den sökande inte har visat att hen försökt skaffa en billigare bostad{barnets_basta}. Annars ska hela hyran godtas.",
                            kr(rent)
                        ),
                    );
                    d.kommunicering(
                        "hyra_over_riktvarde",
                        format!(
                            "Enligt våra uppgifter fick du i {uppmaning} veta att din hyra på {} är högre än kommunens riktvärde på {} och att du behövde sänka din boendekostnad. Om det stämmer räknas boendekostnaden med riktvärdet {}.",
                            kr(rent),
                            kr(riktvarde),
                            kr(riktvarde)
                        ),
                    );
                }
                Some(notice) => {
                    d.row(COSTS, "Boendekostnad (hyra)".into(), rent);
                    d.warning(format!(
                        "Hyran {} är högre än riktvärdet {}. Den sökande uppmanades {notice} att sänka boendekostnaden; hyran godtas under rådrummet ({radrum} månader) och begränsas till riktvärdet därefter.",
                        kr(rent),
                        kr(riktvarde)
                    ));
                }
                None => {
                    d.row(COSTS, "Boendekostnad (hyra)".into(), rent);
                    d.warning(format!(
                        "Hyran {} är högre än riktvärdet {}. Hyran godtas denna månad; den sökande ska uppmanas att sänka boendekostnaden. Efter rådrummet ({radrum} månader) räknas högst riktvärdet.",
                        kr(rent),
                        kr(riktvarde)
                    ));
                }
            }
        } else if rent > 0 {
            d.row(COSTS, "Boendekostnad (hyra)".into(), rent);
        }

        d.rule(
            "kostnader.ovriga",
            obj! {
                "hushallsel" => costs.electricity.ore(),
                "hemforsakring" => costs.home_insurance.ore(),
                "fackavgift" => costs.union_fee.ore(),
                "a_kasseavgift" => costs.unemployment_fund_fee.ore(),
                "barnomsorg" => costs.childcare.ore(),
            },
        );
        for (label, amount) in [
            ("Hushållsel", costs.electricity),
            ("Hemförsäkring", costs.home_insurance),
            ("Fackavgift", costs.union_fee),
            ("A-kasseavgift", costs.unemployment_fund_fee),
            ("Barnomsorgsavgift", costs.childcare),
        ] {
            if amount.is_positive() {
                d.row(COSTS, label.into(), amount.ore());
            }
        }

        let resetak = p.int(P::Resetak);
        let travel = costs.work_travel.ore();
        d.rule(
            "kostnader.arbetsresor",
            obj! {"arbetsresor" => travel, "tak" => resetak},
        );
        if travel > resetak {
            tak_tillampat = true;
            d.row_applied(
                COSTS,
                format!("Arbetsresor, begränsade till taket (ansökt {})", kr(travel)),
                resetak,
                Some(travel),
            );
            d.code("arbetsresor_over_tak");
            d.reason(
                "arbetsresor_over_tak",
                format!(
                    "Kostnaden för arbetsresor {} är högre än kommunens tak {} per månad. Arbetsresor räknas med {}.",
                    kr(travel),
                    kr(resetak),
                    kr(resetak)
                ),
                lag_kostnader.clone(),
            );
        } else if travel > 0 {
            d.row(COSTS, "Arbetsresor".into(), travel);
        }

        // 4. Inkomster.
        let months = i64::from(history.consecutive_months_with_bistand);
        let used = i64::from(history.jobbstimulans_months_used);
        let max_manader = p.int(P::StimMax);
        let start = history.jobbstimulans_start;
        let jobbstimulans = match start {
            Some(s) => period.index() - s.index() < max_manader,
            None => months >= p.int(P::StimManader) && used < max_manader,
        };
        let forsta_manaden = jobbstimulans && start.is_none() && used == 0;
        d.rule(
            "inkomster",
            obj! {
                "antal" => app.incomes().len(),
                "manader_med_bistand" => months,
                "jobbstimulans_manader_anvanda" => used,
                "jobbstimulans_start" => start.map(|s| s.to_string()),
                "jobbstimulans" => jobbstimulans,
            },
        );
        // Wages per member, in the order of the household.
        let mut adult_wage: Vec<Option<i64>> = vec![None; adults.len()];
        let mut child_wage: Vec<Option<i64>> = vec![None; children.len()];
        for inc in app.incomes() {
            let m = member(&inc.person);
            d.row(
                INCOMES,
                format!("{}, {}", inc.kind.label(), person(m)),
                inc.amount.ore(),
            );
            if inc.kind == IncomeKind::Lon {
                let slot = match m {
                    Member::Adult(i) => &mut adult_wage[i],
                    Member::Child(i) => &mut child_wage[i],
                };
                *slot = Some(slot.unwrap_or(0) + inc.amount.ore());
            }
        }

        if jobbstimulans {
            let procent = p.int(P::StimProcent);
            let mut fria = 0;
            for (i, wage) in adult_wage.iter().enumerate() {
                let Some(wage) = *wage else { continue };
                let fritt = share_kr(wage, procent, 100);
                if fritt > 0 {
                    d.rule(
                        "inkomster.jobbstimulans",
                        obj! {"person" => id(Member::Adult(i)), "lon" => wage, "procent" => procent},
                    );
                    d.row(
                        INCOMES,
                        format!(
                            "Jobbstimulans: {procent} % av lönen räknas inte, {}",
                            person(Member::Adult(i))
                        ),
                        -fritt,
                    );
                    fria += fritt;
                }
            }
            if fria > 0 {
                let month = |i: i64| Period::from_index(i).map(Period::swedish).unwrap_or_default();
                let varfor = match start {
                    Some(s) => format!(
                        "jobbstimulansen gäller i två år från {} till och med {}",
                        s.swedish(),
                        month(s.index() + max_manader - 1)
                    ),
                    None => format!(
                        "hushållet har haft försörjningsstöd i minst {} månader i följd",
                        p.int(P::StimManader)
                    ),
                };
                let tillagg = if forsta_manaden {
                    format!(
                        " Jobbstimulansen gäller i två år, från och med {manad} till och med {}.",
                        month(period.index() + max_manader - 1)
                    )
                } else {
                    String::new()
                };
                let text = format!(
                    "{procent} % av lönen ({}) räknas inte som inkomst, eftersom {varfor} (jobbstimulans).{tillagg}",
                    kr(fria)
                );
                let lagrum = p.text(P::LagJobbstimulans);
                d.reason("jobbstimulans", text, lagrum);
                if forsta_manaden {
                    d.rule(
                        "inkomster.jobbstimulans_start",
                        obj! {"jobbstimulans_manader_anvanda" => used},
                    );
                    d.note("jobbstimulans_start", V::S(period.to_string()));
                }
            }
        }

        for (i, wage) in child_wage.iter().enumerate() {
            let Some(wage) = *wage else { continue };
            let pbb = p.int(P::Prisbasbelopp);
            let tidigare = children[i].wage_earlier_this_year.ore();
            let kvar = (pbb - tidigare).max(0);
            let fritt = wage.min(kvar);
            d.rule(
                "inkomster.barns_lon",
                obj! {
                    "barn" => id(Member::Child(i)),
                    "lon" => wage,
                    "prisbasbelopp" => pbb,
                    "lon_tidigare_i_ar" => tidigare,
                    "kvar_av_prisbasbeloppet" => kvar,
                },
            );
            if fritt > 0 {
                d.row(
                    INCOMES,
                    format!(
                        "Barns arbetsinkomst upp till ett prisbasbelopp per år räknas inte, {}",
                        person(Member::Child(i))
                    ),
                    -fritt,
                );
                let tidigare_text = if tidigare > 0 {
                    format!(" Barnet har tidigare i år haft {} i lön.", kr(tidigare))
                } else {
                    String::new()
                };
                let text = format!(
                    "Ett barns egen arbetsinkomst räknas inte som inkomst upp till ett prisbasbelopp ({}) per kalenderår.{tidigare_text} Därför räknas {} av barnets lön för {manad} inte.",
                    kr(pbb),
                    kr(fritt)
                );
                let lagrum = p.text(P::LagBarnsArbetsinkomst);
                d.reason("barns_arbetsinkomst", text, lagrum);
            } else if kvar == 0 {
                let text = format!(
                    "Ett barns egen arbetsinkomst räknas inte som inkomst upp till ett prisbasbelopp ({}) per kalenderår. Barnet har redan i år haft {} i lön, så barnets lön för {manad} räknas i sin helhet.",
                    kr(pbb),
                    kr(tidigare)
                );
                let lagrum = p.text(P::LagBarnsArbetsinkomst);
                d.reason("barns_arbetsinkomst", text, lagrum);
            }
        }

        // 5. Tillgångar.
        let fribelopp = p.int(P::Tillgangar);
        let tillgangar: i64 = app.assets().iter().map(|a| a.amount.ore()).sum();
        d.rule("tillgangar", obj! {"summa" => tillgangar, "fribelopp" => fribelopp});
        for a in app.assets() {
            d.row(ASSETS, a.kind.label().into(), a.amount.ore());
        }
        if tillgangar > 0 {
            d.row(ASSETS, "Fribelopp för tillgångar".into(), -tillgangar.min(fribelopp));
        }

        // 6. Resultat.
        let norm = d.total(NORM);
        let kostnader = d.total(COSTS);
        let inkomster = d.total(INCOMES);
        let tillgangar_raknas = d.total(ASSETS);
        let behov = norm + kostnader - inkomster - tillgangar_raknas;
        let belopp = if behov > 0 {
            Money::from_ore(behov).round_half_up_to_kronor().ore()
        } else {
            0
        };
        d.rule(
            "resultat",
            obj!{"norm" => norm, "kostnader" => kostnader, "inkomster" => inkomster, "tillgangar" => tillgangar_raknas},
        );
        d.note("behov", V::I(behov));
        if d.is_manual() {
            d.record("outcome", Val::Name("manuell"));
            d.outcome = Some(Outcome::Manuell);
            d.note("belopp_om_beviljat", V::I(belopp));
        } else {
            let outcome = if belopp == 0 {
                d.code("inkomster_tacker_behov");
                d.reason(
                    "inkomster_tacker_behov",
                    format!(
                        "Hushållets behov för {manad} är {}. Inkomster och tillgångar som räknas ({}) täcker behovet, och ansökan avslås.",
                        kr(norm + kostnader),
                        kr(inkomster + tillgangar_raknas)
                    ),
                    lag_bistand,
                );
                Outcome::Avslag
            } else {
                d.reason(
                    "bistand",
                    format!(
                        "Hushållets behov för {manad} är {}. Efter avdrag för inkomster och tillgångar som räknas ({}) beviljas {} i försörjningsstöd.",
                        kr(norm + kostnader),
                        kr(inkomster + tillgangar_raknas),
                        kr(belopp)
                    ),
                    lag_bistand,
                );
                if tak_tillampat {
                    Outcome::DelvisBifall
                } else {
                    Outcome::Bifall
                }
            };
            d.record("outcome", Val::Name(outcome.as_str()));
            d.record("amount_sek", Val::Money(belopp));
            d.outcome = Some(outcome);
            d.amount = Some(Money::from_ore(belopp));
        }

        let trace = d.trace()?;
        let mut warnings = d.warnings;
        warnings.extend(month.warnings(p.used));
        let [norm, costs, incomes, assets] = d.rows;
        Draft::new(DraftParts {
            schema: domain::DRAFT_SCHEMA.into(),
            external_id: app.external_id().to_string(),
            period,
            outcome: d.outcome?,
            amount: d.amount,
            codes: d.codes,
            calculation: Calculation::contract_v2(
                Section::new(norm).ok()?,
                Section::new(costs).ok()?,
                Section::new(incomes).ok()?,
                Section::new(assets).ok()?,
            ),
            reasons: d.reasons,
            warnings,
            assessments: d.assessments,
            kommunicering: d.kommunicering,
            ruleset: self.ruleset.clone(),
            trace,
        })
        .ok()
    }
}
