//! The draft decision, schema `ekonomiskt-bistand/beslutsutkast/v2`: what a
//! ruleset proposes, for an official to approve, amend or take over.
//!
//! v2 adds `assessments` (judgments the official confirms before approving)
//! and `kommunicering` (facts an adverse proposal rests on that the
//! applicant has not supplied: the applicant must be heard first, FL 25 §).
//! Both are always written, possibly empty. A stored v1 draft is still read
//! (both lists empty) and written back as v2.

use crate::codes::{Outcome, ReasonCode};
use crate::money::Money;
use crate::period::Period;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The schema every draft is written with.
pub const DRAFT_SCHEMA: &str = DRAFT_SCHEMA_V2;
pub const DRAFT_SCHEMA_V2: &str = "ekonomiskt-bistand/beslutsutkast/v2";
/// Still read (drafts stored before contract v2).
pub const DRAFT_SCHEMA_V1: &str = "ekonomiskt-bistand/beslutsutkast/v1";

/// One line of the calculation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    #[serde(rename = "amount_sek")]
    pub amount: Money,
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
}

/// The same fields by reference, for writing without copying the rows.
#[derive(Serialize)]
struct SectionJsonRef<'a> {
    total_sek: Money,
    rows: &'a [Row],
}

impl Serialize for Section {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SectionJsonRef {
            total_sek: self.total,
            rows: &self.rows,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Section {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = SectionJson::deserialize(d)?;
        let s = Section::new(j.rows).map_err(serde::de::Error::custom)?;
        if s.total != j.total_sek {
            return Err(serde::de::Error::custom("total_sek is not the sum of the rows"));
        }
        Ok(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Calculation {
    pub norm: Section,
    pub costs: Section,
    pub incomes: Section,
    pub assets: Section,
}

impl Calculation {
    /// norm + costs − incomes − assets, exact.
    pub fn need(&self) -> Result<Money, DraftError> {
        self.norm
            .total
            .checked_add(self.costs.total)
            .and_then(|m| m.checked_sub(self.incomes.total))
            .and_then(|m| m.checked_sub(self.assets.total))
            .map_err(|_| DraftError::Overflow)
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
    #[error("the schema must be {DRAFT_SCHEMA_V2} (or {DRAFT_SCHEMA_V1})")]
    Schema,
    #[error("a trace entry's inputs and result must be JSON objects")]
    TraceNotObject,
}

/// Everything a ruleset puts in a draft.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftParts {
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
                if o != Outcome::Avslag && a.is_zero() {
                    return Err(DraftError::ZeroAmount(o));
                }
            }
        }
        let mut seen = Vec::with_capacity(parts.codes.len());
        parts.codes.retain(|c| {
            let fresh = !seen.contains(c);
            seen.push(*c);
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
    schema: &'static str,
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
            schema: DRAFT_SCHEMA,
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
        let v2 = j.schema == DRAFT_SCHEMA_V2;
        if !v2 && j.schema != DRAFT_SCHEMA_V1 {
            return Err(serde::de::Error::custom(DraftError::Schema));
        }
        if !v2 && (!j.assessments.is_empty() || !j.kommunicering.is_empty()) {
            return Err(serde::de::Error::custom(
                "a v1 draft has no assessments or kommunicering",
            ));
        }
        Draft::new(DraftParts {
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
            external_id: "EX-1".into(),
            period: "2021-03".parse().unwrap(),
            outcome,
            amount: amount.map(Money::from_ore),
            codes,
            calculation: Calculation {
                norm: Section::new(vec![Row {
                    label: "Riksnorm".into(),
                    amount: Money::from_ore(418_000),
                }])
                .unwrap(),
                costs: Section::new(vec![
                    Row {
                        label: "Hyra".into(),
                        amount: Money::from_ore(520_000),
                    },
                    Row {
                        label: "El".into(),
                        amount: Money::from_ore(25_050),
                    },
                ])
                .unwrap(),
                ..Default::default()
            },
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
            Draft::new(parts(Outcome::Manuell, Some(100), vec![ReasonCode::Nyansokan])),
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
            vec![ReasonCode::Nyansokan, ReasonCode::Nyansokan],
        ))
        .unwrap();
        assert_eq!(d.codes(), &[ReasonCode::Nyansokan]);
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
            vec![ReasonCode::HyraOverRiktvarde],
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
        let bad = json.replace("beslutsutkast/v2", "beslutsutkast/v3");
        assert!(Draft::from_json(&bad).is_err());
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
}
