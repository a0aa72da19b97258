//! The draft decision, schema `ekonomiskt-bistand/beslutsutkast/v2`: what a
//! ruleset proposes, for an official to approve, amend or take over.
//!
//! v2 adds `assessments` (judgments the official confirms before approving)
//! and `kommunicering` (facts an adverse proposal rests on that the
//! applicant has not supplied: the applicant must be heard first, FL 25 §).
//! Both are always written, possibly empty. A stored v1 draft is still read
//! (both lists empty) and written back as v2.

use crate::codes::{Outcome, ReasonCode, UnknownName};
use crate::money::Money;
use crate::period::Period;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The schema every draft is written with.
pub const DRAFT_SCHEMA: &str = DRAFT_SCHEMA_V2;
pub const DRAFT_SCHEMA_V2: &str = "ekonomiskt-bistand/beslutsutkast/v2";
/// Still read (drafts stored before contract v2).
pub const DRAFT_SCHEMA_V1: &str = "ekonomiskt-bistand/beslutsutkast/v1";

/// `TYPE/beslutsutkast/vN` with TYPE of `a–z`, `0–9`, `-` and N > 1 for
/// ekonomiskt bistånd (its v1 is read as v2, see [`DRAFT_SCHEMA_V1`]).
pub fn is_draft_schema(s: &str) -> bool {
    let mut it = s.split('/');
    let (Some(t), Some("beslutsutkast"), Some(v), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return false;
    };
    let type_ok = !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let v_ok = v
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    type_ok && v_ok && s != DRAFT_SCHEMA_V1
}

/// One line of the calculation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    #[serde(rename = "amount_sek")]
    pub amount: Money,
    /// What was applied for, when a rule granted less (a cap): the decision
    /// letter lists what was not granted line by line from it.
    #[serde(rename = "applied_sek", default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Money>,
}

impl Row {
    pub fn new(label: impl Into<String>, amount: Money) -> Row {
        Row {
            label: label.into(),
            amount,
            applied: None,
        }
    }
}

/// A part of the calculation: its rows and their exact sum.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    rows: Vec<Row>,
    total: Money,
}

impl Section {
    pub fn new(rows: Vec<Row>) -> Result<Section, DraftError> {
        let total = Money::checked_sum(rows.iter().map(|r| r.amount)).map_err(|_| DraftError::Overflow)?;
        Ok(Section { rows, total })
    }
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
    pub fn total(&self) -> Money {
        self.total
    }
}

#[derive(Deserialize)]
struct SectionJson {
    total_sek: Money,
    rows: Vec<Row>,
    /// Only written for a section that deducts where its name does not
    /// say so already (see [`SectionKind::default_sign`]).
    #[serde(default)]
    sign: Option<i64>,
}

/// The same fields by reference, for writing without copying the rows.
#[derive(Serialize)]
struct SectionJsonRef<'a> {
    total_sek: Money,
    rows: &'a [Row],
    #[serde(skip_serializing_if = "Option::is_none")]
    sign: Option<i64>,
}

fn section_from(j: SectionJson) -> Result<Section, String> {
    let s = Section::new(j.rows).map_err(|e| e.to_string())?;
    if s.total != j.total_sek {
        return Err("total_sek is not the sum of the rows".into());
    }
    Ok(s)
}

impl Serialize for Section {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SectionJsonRef {
            total_sek: self.total,
            rows: &self.rows,
            sign: None,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Section {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        section_from(SectionJson::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The name of a part of the calculation. The casework type declares its
/// parts; `norm`, `costs`, `incomes` and `assets` are ekonomiskt bistånd's,
/// named here because drafts and records stored before casework types
/// carried no sign for them.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SectionKind(Cow<'static, str>);

impl SectionKind {
    pub const NORM: SectionKind = SectionKind(Cow::Borrowed("norm"));
    pub const COSTS: SectionKind = SectionKind(Cow::Borrowed("costs"));
    pub const INCOMES: SectionKind = SectionKind(Cow::Borrowed("incomes"));
    pub const ASSETS: SectionKind = SectionKind(Cow::Borrowed("assets"));

    /// A section name: 1–64 of `a–z`, `0–9`, `_`.
    pub fn new(name: &str) -> Result<SectionKind, UnknownName> {
        if !crate::codes::is_name(name) {
            return Err(UnknownName {
                kind: "del av beräkningen",
                value: name.chars().take(64).collect(),
            });
        }
        Ok(
            match [
                SectionKind::NORM,
                SectionKind::COSTS,
                SectionKind::INCOMES,
                SectionKind::ASSETS,
            ]
            .into_iter()
            .find(|k| k.as_str() == name)
            {
                Some(k) => k,
                None => SectionKind(Cow::Owned(name.to_string())),
            },
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// +1 for a part that adds to the amount, −1 for one deducted from it,
    /// when the draft does not say: `incomes` and `assets` deduct.
    pub fn default_sign(&self) -> i64 {
        if *self == SectionKind::INCOMES || *self == SectionKind::ASSETS {
            -1
        } else {
            1
        }
    }

    /// A Swedish fallback title; the casework type's manifest has the real one.
    pub fn label(&self) -> &str {
        match self.as_str() {
            "norm" => "Riksnorm",
            "costs" => "Skäliga kostnader",
            "incomes" => "Inkomster",
            "assets" => "Tillgångar",
            other => other,
        }
    }
}

impl std::fmt::Display for SectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SectionKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<SectionKind, UnknownName> {
        SectionKind::new(s)
    }
}

impl Serialize for SectionKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SectionKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        SectionKind::new(&s).map_err(serde::de::Error::custom)
    }
}

/// One part of the calculation: its name, whether it adds (+1) or is
/// deducted (−1), and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalcSection {
    pub kind: SectionKind,
    pub sign: i64,
    pub section: Section,
}

/// The calculation: the casework type's parts, in its order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Calculation {
    parts: Vec<CalcSection>,
}

impl Calculation {
    /// Parts with distinct names and a sign of +1 or −1.
    pub fn new(parts: Vec<CalcSection>) -> Result<Calculation, DraftError> {
        for (i, p) in parts.iter().enumerate() {
            if p.sign != 1 && p.sign != -1 {
                return Err(DraftError::Section(format!("{}: sign must be 1 or -1", p.kind)));
            }
            if parts[..i].iter().any(|q| q.kind == p.kind) {
                return Err(DraftError::Section(format!("{} appears twice", p.kind)));
            }
        }
        Ok(Calculation { parts })
    }

    /// Ekonomiskt bistånd's four parts (contract v2), with their signs.
    pub fn contract_v2(norm: Section, costs: Section, incomes: Section, assets: Section) -> Calculation {
        let part = |kind: SectionKind, section| CalcSection {
            sign: kind.default_sign(),
            kind,
            section,
        };
        Calculation {
            parts: vec![
                part(SectionKind::NORM, norm),
                part(SectionKind::COSTS, costs),
                part(SectionKind::INCOMES, incomes),
                part(SectionKind::ASSETS, assets),
            ],
        }
    }

    pub fn parts(&self) -> &[CalcSection] {
        &self.parts
    }

    /// The part named `kind`.
    pub fn get(&self, kind: &str) -> Option<&CalcSection> {
        self.parts.iter().find(|p| p.kind.as_str() == kind)
    }

    /// The rows of the part named `kind` (none when there is no such part).
    pub fn rows(&self, kind: &str) -> &[Row] {
        self.get(kind).map_or(&[], |p| p.section.rows())
    }

    /// The signed sum of every part, exact.
    pub fn need(&self) -> Result<Money, DraftError> {
        let mut need = Money::ZERO;
        for p in &self.parts {
            let signed = p.section.total.checked_mul(p.sign).map_err(|_| DraftError::Overflow)?;
            need = need.checked_add(signed).map_err(|_| DraftError::Overflow)?;
        }
        Ok(need)
    }

    /// The amount the rows give: the need rounded half up to whole kronor,
    /// 0 when it is not above 0.
    pub fn amount(&self) -> Result<Money, DraftError> {
        let need = self.need()?;
        Ok(if need.is_positive() {
            need.round_half_up_to_kronor()
        } else {
            Money::ZERO
        })
    }
}

impl Serialize for Calculation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.parts.iter().map(|p| {
            (
                p.kind.as_str(),
                SectionJsonRef {
                    total_sek: p.section.total,
                    rows: &p.section.rows,
                    sign: (p.sign != p.kind.default_sign()).then_some(p.sign),
                },
            )
        }))
    }
}

impl<'de> Deserialize<'de> for Calculation {
    /// Read in document order (the order is the casework type's).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Calculation;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of calculation parts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Calculation, A::Error> {
                let mut parts = Vec::new();
                while let Some((name, j)) = m.next_entry::<Cow<'de, str>, SectionJson>()? {
                    let kind = SectionKind::new(&name).map_err(serde::de::Error::custom)?;
                    let sign = j.sign.unwrap_or_else(|| kind.default_sign());
                    let section = section_from(j).map_err(serde::de::Error::custom)?;
                    parts.push(CalcSection { kind, sign, section });
                }
                Calculation::new(parts).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

/// A reason for the decision letter, with its legal reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    pub text: String,
    pub lagrum: String,
}

/// A judgment the law leaves to a person that the proposal rests on: the
/// official confirms it before approving (or amends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub code: String,
    /// Swedish: what the official confirms.
    pub text: String,
}

/// A fact an adverse proposal rests on that the applicant has not supplied
/// or commented on: the applicant is to be heard before the decision
/// (kommunicering, 25 § förvaltningslagen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kommunicering {
    pub code: String,
    /// Swedish: which information, and why it must be communicated.
    pub text: String,
}

/// One rule that fired: what it looked at (`inputs`) and what it produced
/// (`result`), each a JSON object.
///
/// Both are kept as compact JSON text with sorted keys, exactly as they
/// appear in the draft document: the trace is a record to show, store and
/// audit, never computed on, and writing each object once is much cheaper
/// than building a tree of values for every row a rule records. Use
/// [`TraceEntry::inputs`] and [`TraceEntry::result`] to look inside.
#[derive(Debug, Clone)]
pub struct TraceEntry {
    pub rule: String,
    inputs: Box<RawValue>,
    result: Box<RawValue>,
}

impl TraceEntry {
    /// From two JSON objects already written (compact, keys sorted, as
    /// `serde_json` writes a map). Anything but an object is refused.
    pub fn new(rule: String, inputs: Box<RawValue>, result: Box<RawValue>) -> Result<TraceEntry, DraftError> {
        // Valid JSON (a RawValue is) that starts with `{` is an object.
        if !inputs.get().starts_with('{') || !result.get().starts_with('{') {
            return Err(DraftError::TraceNotObject);
        }
        Ok(TraceEntry { rule, inputs, result })
    }

    /// From two maps.
    pub fn from_maps(
        rule: String,
        inputs: &serde_json::Map<String, serde_json::Value>,
        result: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<TraceEntry, DraftError> {
        let raw = |m| serde_json::value::to_raw_value(m).map_err(|_| DraftError::TraceNotObject);
        TraceEntry::new(rule, raw(inputs)?, raw(result)?)
    }

    /// What the rule looked at.
    pub fn inputs(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(self.inputs.get()).unwrap_or_default()
    }

    /// What the rule produced: its rows, reasons, warnings, codes, notes.
    pub fn result(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(self.result.get()).unwrap_or_default()
    }

    /// The inputs as the draft document writes them.
    pub fn inputs_json(&self) -> &str {
        self.inputs.get()
    }

    /// The result as the draft document writes it.
    pub fn result_json(&self) -> &str {
        self.result.get()
    }
}

impl PartialEq for TraceEntry {
    fn eq(&self, other: &TraceEntry) -> bool {
        self.rule == other.rule && self.inputs.get() == other.inputs.get() && self.result.get() == other.result.get()
    }
}

#[derive(Serialize)]
struct TraceEntryRef<'a> {
    rule: &'a str,
    inputs: &'a RawValue,
    result: &'a RawValue,
}

impl Serialize for TraceEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TraceEntryRef {
            rule: &self.rule,
            inputs: &self.inputs,
            result: &self.result,
        }
        .serialize(s)
    }
}

#[derive(Deserialize)]
struct TraceEntryJson {
    rule: String,
    inputs: serde_json::Map<String, serde_json::Value>,
    result: serde_json::Map<String, serde_json::Value>,
}

impl<'de> Deserialize<'de> for TraceEntry {
    /// Read as maps and written again, so the text is the canonical form
    /// whatever the layout of the document read.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = TraceEntryJson::deserialize(d)?;
        TraceEntry::from_maps(j.rule, &j.inputs, &j.result).map_err(serde::de::Error::custom)
    }
}

/// Which ruleset produced the draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesetRef {
    pub name: String,
    pub version: String,
    /// `sha256:` and the hex content hash of the ruleset folder.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("outcome {0} needs an amount")]
    MissingAmount(Outcome),
    #[error("outcome manuell must not carry an amount")]
    AmountOnManual,
    #[error("the amount must be whole kronor and not negative")]
    AmountNotWholeKronor,
    #[error("outcome avslag must have the amount 0")]
    AvslagWithAmount,
    #[error("outcome {0} needs an amount above 0")]
    ZeroAmount(Outcome),
    #[error("outcome manuell needs at least one code saying why")]
    ManualWithoutCode,
    #[error("the sums overflow")]
    Overflow,
    #[error("the schema must be TYPE/beslutsutkast/vN (a v1 draft only {DRAFT_SCHEMA_V1})")]
    Schema,
    #[error("a trace entry's inputs and result must be JSON objects")]
    TraceNotObject,
    #[error("the calculation: {0}")]
    Section(String),
}

/// Everything a ruleset puts in a draft.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftParts {
    /// The casework type's draft schema, e.g. [`DRAFT_SCHEMA`] for
    /// ekonomiskt bistånd.
    pub schema: Cow<'static, str>,
    pub external_id: String,
    pub period: Period,
    pub outcome: Outcome,
    pub amount: Option<Money>,
    pub codes: Vec<ReasonCode>,
    pub calculation: Calculation,
    pub reasons: Vec<Reason>,
    pub warnings: Vec<String>,
    pub assessments: Vec<Assessment>,
    pub kommunicering: Vec<Kommunicering>,
    pub ruleset: RulesetRef,
    pub trace: Vec<TraceEntry>,
}

/// A consistent draft decision. Only [`Draft::new`] (and deserialisation,
/// which goes through it) makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft(DraftParts);

impl Draft {
    pub fn new(mut parts: DraftParts) -> Result<Draft, DraftError> {
        if !is_draft_schema(&parts.schema) {
            return Err(DraftError::Schema);
        }
        match (parts.outcome, parts.amount) {
            (Outcome::Manuell, Some(_)) => return Err(DraftError::AmountOnManual),
            (Outcome::Manuell, None) => {
                if parts.codes.is_empty() {
                    return Err(DraftError::ManualWithoutCode);
                }
            }
            (o, None) => return Err(DraftError::MissingAmount(o)),
            (o, Some(a)) => {
                if !a.is_whole_kronor() || a.ore() < 0 {
                    return Err(DraftError::AmountNotWholeKronor);
                }
                if o == Outcome::Avslag && !a.is_zero() {
                    return Err(DraftError::AvslagWithAmount);
                }
                // A fixed amount (a fee) may be 0.
                if o != Outcome::Avslag && o != Outcome::Faststalld && a.is_zero() {
                    return Err(DraftError::ZeroAmount(o));
                }
            }
        }
        let mut seen = Vec::with_capacity(parts.codes.len());
        parts.codes.retain(|c| {
            let fresh = !seen.contains(c);
            seen.push(c.clone());
            fresh
        });
        parts.calculation.need()?;
        Ok(Draft(parts))
    }

    pub fn parts(&self) -> &DraftParts {
        &self.0
    }
    pub fn into_parts(self) -> DraftParts {
        self.0
    }
    pub fn schema(&self) -> &str {
        &self.0.schema
    }
    /// The casework type: the schema's first part (`ekonomiskt-bistand`).
    pub fn casework_type(&self) -> &str {
        self.0.schema.split('/').next().unwrap_or_default()
    }
    pub fn external_id(&self) -> &str {
        &self.0.external_id
    }
    pub fn period(&self) -> Period {
        self.0.period
    }
    pub fn outcome(&self) -> Outcome {
        self.0.outcome
    }
    pub fn amount(&self) -> Option<Money> {
        self.0.amount
    }
    pub fn codes(&self) -> &[ReasonCode] {
        &self.0.codes
    }
    pub fn calculation(&self) -> &Calculation {
        &self.0.calculation
    }
    pub fn reasons(&self) -> &[Reason] {
        &self.0.reasons
    }
    pub fn warnings(&self) -> &[String] {
        &self.0.warnings
    }
    /// What the official confirms before approving.
    pub fn assessments(&self) -> &[Assessment] {
        &self.0.assessments
    }
    /// What the applicant must be told, with a chance to reply, before an
    /// adverse decision.
    pub fn kommunicering(&self) -> &[Kommunicering] {
        &self.0.kommunicering
    }
    pub fn ruleset(&self) -> &RulesetRef {
        &self.0.ruleset
    }
    pub fn trace(&self) -> &[TraceEntry] {
        &self.0.trace
    }

    /// The draft as its v2 JSON document (compact, deterministic).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Draft, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[derive(Deserialize)]
struct DraftJson {
    schema: String,
    external_id: String,
    period: Period,
    outcome: Outcome,
    amount_sek: Option<Money>,
    codes: Vec<ReasonCode>,
    calculation: Calculation,
    reasons: Vec<Reason>,
    warnings: Vec<String>,
    /// Absent in a v1 draft.
    #[serde(default)]
    assessments: Vec<Assessment>,
    #[serde(default)]
    kommunicering: Vec<Kommunicering>,
    ruleset: RulesetRef,
    trace: Vec<TraceEntry>,
}

/// [`DraftJson`] by reference: the same document, written without copying
/// the draft first (the field order is the schema's).
#[derive(Serialize)]
struct DraftJsonRef<'a> {
    schema: &'a str,
    external_id: &'a str,
    period: Period,
    outcome: Outcome,
    amount_sek: Option<Money>,
    codes: &'a [ReasonCode],
    calculation: &'a Calculation,
    reasons: &'a [Reason],
    warnings: &'a [String],
    assessments: &'a [Assessment],
    kommunicering: &'a [Kommunicering],
    ruleset: &'a RulesetRef,
    trace: &'a [TraceEntry],
}

impl Serialize for Draft {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = &self.0;
        DraftJsonRef {
            schema: &p.schema,
            external_id: &p.external_id,
            period: p.period,
            outcome: p.outcome,
            amount_sek: p.amount,
            codes: &p.codes,
            calculation: &p.calculation,
            reasons: &p.reasons,
            warnings: &p.warnings,
            assessments: &p.assessments,
            kommunicering: &p.kommunicering,
            ruleset: &p.ruleset,
            trace: &p.trace,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Draft {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = DraftJson::deserialize(d)?;
        let v1 = j.schema == DRAFT_SCHEMA_V1;
        if !v1 && !is_draft_schema(&j.schema) {
            return Err(serde::de::Error::custom(DraftError::Schema));
        }
        let v2 = !v1;
        if !v2 && (!j.assessments.is_empty() || !j.kommunicering.is_empty()) {
            return Err(serde::de::Error::custom(
                "a v1 draft has no assessments or kommunicering",
            ));
        }
        Draft::new(DraftParts {
            // A v1 draft is written back as v2.
            schema: if v1 {
                Cow::Borrowed(DRAFT_SCHEMA)
            } else {
                Cow::Owned(j.schema)
            },
            external_id: j.external_id,
            period: j.period,
            outcome: j.outcome,
            amount: j.amount_sek,
            codes: j.codes,
            calculation: j.calculation,
            reasons: j.reasons,
            warnings: j.warnings,
            assessments: j.assessments,
            kommunicering: j.kommunicering,
            ruleset: j.ruleset,
            trace: j.trace,
        })
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(outcome: Outcome, amount: Option<i64>, codes: Vec<ReasonCode>) -> DraftParts {
        DraftParts {
            schema: DRAFT_SCHEMA.into(),
            external_id: "EX-1".into(),
            period: "2021-03".parse().unwrap(),
            outcome,
            amount: amount.map(Money::from_ore),
            codes,
            calculation: Calculation::contract_v2(
                Section::new(vec![Row {
                    label: "Riksnorm".into(),
                    amount: Money::from_ore(418_000),
                    applied: None,
                }])
                .unwrap(),
                Section::new(vec![
                    Row {
                        label: "Hyra".into(),
                        amount: Money::from_ore(520_000),
                        applied: None,
                    },
                    Row {
                        label: "El".into(),
                        amount: Money::from_ore(25_050),
                        applied: None,
                    },
                ])
                .unwrap(),
                Section::default(),
                Section::default(),
            ),
            reasons: vec![],
            warnings: vec![],
            assessments: vec![],
            kommunicering: vec![],
            ruleset: RulesetRef {
                name: "r".into(),
                version: "1".into(),
                hash: "sha256:00".into(),
            },
            trace: vec![],
        }
    }

    #[test]
    fn outcome_and_amount_must_agree() {
        assert!(Draft::new(parts(Outcome::Bifall, Some(975_000), vec![])).is_ok());
        assert_eq!(
            Draft::new(parts(Outcome::Bifall, None, vec![])),
            Err(DraftError::MissingAmount(Outcome::Bifall))
        );
        assert_eq!(
            Draft::new(parts(Outcome::Bifall, Some(0), vec![])),
            Err(DraftError::ZeroAmount(Outcome::Bifall))
        );
        assert_eq!(
            Draft::new(parts(Outcome::Bifall, Some(975_050), vec![])),
            Err(DraftError::AmountNotWholeKronor)
        );
        assert_eq!(
            Draft::new(parts(Outcome::Avslag, Some(100), vec![])),
            Err(DraftError::AvslagWithAmount)
        );
        assert_eq!(
            Draft::new(parts(
                Outcome::Manuell,
                Some(100),
                vec![ReasonCode::new("nyansokan").unwrap()]
            )),
            Err(DraftError::AmountOnManual)
        );
        assert_eq!(
            Draft::new(parts(Outcome::Manuell, None, vec![])),
            Err(DraftError::ManualWithoutCode)
        );
    }

    #[test]
    fn json_round_trips_and_sums_are_exact() {
        let d = Draft::new(parts(
            Outcome::Manuell,
            None,
            vec![
                ReasonCode::new("nyansokan").unwrap(),
                ReasonCode::new("nyansokan").unwrap(),
            ],
        ))
        .unwrap();
        assert_eq!(d.codes(), &[ReasonCode::new("nyansokan").unwrap()]);
        let json = d.to_json();
        assert!(json.contains(r#""costs":{"total_sek":5450.5,"rows":[{"label":"Hyra","amount_sek":5200},{"label":"El","amount_sek":250.5}]}"#), "{json}");
        assert!(json.contains(r#""amount_sek":null"#));
        let back = Draft::from_json(&json).unwrap();
        assert_eq!(back, d);
        // A tampered total is refused.
        let bad = json.replace(r#""total_sek":5450.5"#, r#""total_sek":5450"#);
        assert!(Draft::from_json(&bad).is_err());
    }

    #[test]
    fn assessments_and_kommunicering_are_always_written_and_round_trip() {
        let empty = Draft::new(parts(Outcome::Bifall, Some(975_000), vec![])).unwrap();
        let json = empty.to_json();
        assert!(
            json.starts_with(r#"{"schema":"ekonomiskt-bistand/beslutsutkast/v2","#),
            "{json}"
        );
        assert!(
            json.contains(r#""warnings":[],"assessments":[],"kommunicering":[],"ruleset":"#),
            "{json}"
        );
        assert_eq!(Draft::from_json(&json).unwrap(), empty);

        let mut p = parts(
            Outcome::DelvisBifall,
            Some(975_000),
            vec![ReasonCode::new("hyra_over_riktvarde").unwrap()],
        );
        p.assessments = vec![Assessment {
            code: "boendekostnad_skalighet".into(),
            text: "Bekräfta …".into(),
        }];
        p.kommunicering = vec![Kommunicering {
            code: "hyra_over_riktvarde".into(),
            text: "Uppgiften …".into(),
        }];
        let d = Draft::new(p).unwrap();
        let json = d.to_json();
        assert!(json.contains(
            r#""assessments":[{"code":"boendekostnad_skalighet","text":"Bekräfta …"}],"kommunicering":[{"code":"hyra_over_riktvarde","text":"Uppgiften …"}]"#
        ), "{json}");
        let back = Draft::from_json(&json).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.assessments()[0].code, "boendekostnad_skalighet");
        assert_eq!(back.kommunicering()[0].code, "hyra_over_riktvarde");

        // A stored v1 draft (without the lists) is still read, and written as v2.
        let v1 = empty
            .to_json()
            .replace("beslutsutkast/v2", "beslutsutkast/v1")
            .replace(r#""assessments":[],"kommunicering":[],"#, "");
        let read = Draft::from_json(&v1).unwrap();
        assert_eq!(read, empty);
        assert!(read.assessments().is_empty() && read.kommunicering().is_empty());
        // … but a v1 draft cannot carry them, and other schemas are refused.
        let bad = json.replace("beslutsutkast/v2", "beslutsutkast/v1");
        assert!(Draft::from_json(&bad).is_err());
        for other in ["beslutsutkast/x3", "beslut/v2", "beslutsutkast/v2/x"] {
            let bad = json.replace("beslutsutkast/v2", other);
            assert!(Draft::from_json(&bad).is_err(), "{other}");
        }
        // Missing in a v2 draft means empty (the fields are optional on read).
        let v2_without = empty.to_json().replace(r#""assessments":[],"kommunicering":[],"#, "");
        assert_eq!(Draft::from_json(&v2_without).unwrap(), empty);
    }

    #[test]
    fn trace_entries_are_compact_objects_with_sorted_keys_whatever_was_read() {
        let mut p = parts(Outcome::Bifall, Some(975_000), vec![]);
        let raw = |t: &str| RawValue::from_string(t.to_string()).unwrap();
        p.trace = vec![TraceEntry::new("r".into(), raw(r#"{"a":1,"b":[true,null]}"#), raw(r#"{"x":"y"}"#)).unwrap()];
        let d = Draft::new(p).unwrap();
        let json = d.to_json();
        assert!(
            json.contains(r#""trace":[{"rule":"r","inputs":{"a":1,"b":[true,null]},"result":{"x":"y"}}]"#),
            "{json}"
        );
        // Read from a document laid out differently, keys in another order:
        // written back canonically.
        let pretty = serde_json::to_string_pretty(&d).unwrap();
        assert_eq!(Draft::from_json(&pretty).unwrap().to_json(), json);
        let reordered = json.replace(r#"{"a":1,"b":[true,null]}"#, r#"{ "b": [true, null], "a": 1 }"#);
        assert_ne!(reordered, json);
        let back = Draft::from_json(&reordered).unwrap();
        assert_eq!(back.to_json(), json);
        assert_eq!(back.trace()[0].inputs()["b"], serde_json::json!([true, null]));
        assert_eq!(back.trace()[0].result_json(), r#"{"x":"y"}"#);
        // Inputs and result are objects.
        assert_eq!(
            TraceEntry::new("r".into(), raw("[1]"), raw("{}")),
            Err(DraftError::TraceNotObject)
        );
    }

    #[test]
    fn a_casework_types_sections_keep_their_order_and_sign() {
        let row = |l: &str, kr: i64| Row::new(l, Money::from_ore(kr * 100));
        let mut p = parts(Outcome::Faststalld, Some(0), vec![]);
        p.schema = "avgift-aldreomsorg/beslutsutkast/v1".into();
        p.calculation = Calculation::new(vec![
            CalcSection {
                kind: SectionKind::new("underlag").unwrap(),
                sign: 1,
                section: Section::new(vec![row("Pension", 12_000)]).unwrap(),
            },
            CalcSection {
                kind: SectionKind::new("forbehall").unwrap(),
                sign: -1,
                section: Section::new(vec![row("Minimibelopp", 6_000), row("Hyra", 7_000)]).unwrap(),
            },
        ])
        .unwrap();
        assert_eq!(p.calculation.need().unwrap(), Money::from_ore(-100_000));
        assert_eq!(p.calculation.amount().unwrap(), Money::ZERO);
        // A fee of 0 kr is an amount, not a missing one.
        let d = Draft::new(p.clone()).unwrap();
        assert_eq!(d.casework_type(), "avgift-aldreomsorg");
        let json = d.to_json();
        assert!(
            json.contains(r#""calculation":{"underlag":{"total_sek":12000,"rows":[{"label":"Pension","amount_sek":12000}]},"forbehall":{"total_sek":13000,"rows":"#),
            "{json}"
        );
        assert!(json.contains(r#""sign":-1}"#), "{json}");
        assert_eq!(Draft::from_json(&json).unwrap(), d);
        // Ekonomiskt bistånd's sections carry no sign: the names say it.
        let eb = Draft::new(parts(Outcome::Bifall, Some(975_000), vec![]))
            .unwrap()
            .to_json();
        assert!(!eb.contains("sign"), "{eb}");
        // Only a fixed amount may be 0.
        p.outcome = Outcome::Bifall;
        assert_eq!(Draft::new(p), Err(DraftError::ZeroAmount(Outcome::Bifall)));
        // Two parts with one name, or a sign of 2, are refused.
        let twice = vec![
            CalcSection {
                kind: SectionKind::NORM,
                sign: 1,
                section: Section::default(),
            };
            2
        ];
        assert!(Calculation::new(twice).is_err());
    }
}
