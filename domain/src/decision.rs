//! The decision record: what officials decided, made once at the final
//! approval and the only source of the letter, the outbox and every
//! write-back.
//!
//! A record is built from the robot's draft and the officials' changes:
//! rows added, changed or removed (each with a reason), or an avslag with a
//! motivering. The amount always follows from the rows, so the rows a letter
//! prints add up to the amount it states. When officials change anything,
//! or decide a case the robot routed to a person, the robot's reasons are
//! superseded: the record carries only the officials' motivering.

use crate::codes::Outcome;
use crate::draft::{Calculation, Draft, Reason, RulesetRef, SectionKind};
use crate::money::Money;
use crate::period::Period;
use serde::{Deserialize, Serialize};

crate::codes::string_enum! {
    /// What a letter in the outbox is.
    LetterKind, "brevtyp" {
        Beslut => "beslut",
        Kommunicering => "kommunicering",
    }
}

crate::codes::string_enum! {
    /// The grounds on which förvaltningslagen (2017:900) 25 § second
    /// paragraph lets an authority decide without kommunicering.
    SkipGround, "skäl att avstå från kommunicering" {
        UppenbartObehovlig => "uppenbart_obehovlig",
        SvarareAttGenomfora => "svarare_att_genomfora",
        KanInteSkjutasUpp => "kan_inte_skjutas_upp",
    }
}

impl SkipGround {
    /// Swedish, for the official and the case file.
    pub const fn label(self) -> &'static str {
        match self {
            SkipGround::UppenbartObehovlig => {
                "Beslutet går inte parten emot, uppgiften saknar betydelse eller kommunicering är av annan anledning uppenbart obehövlig (25 § andra stycket 1 förvaltningslagen)"
            }
            SkipGround::SvarareAttGenomfora => {
                "Det kan befaras att det annars skulle bli avsevärt svårare att genomföra beslutet (25 § andra stycket 2 förvaltningslagen)"
            }
            SkipGround::KanInteSkjutasUpp => {
                "Ett avgörande kan inte skjutas upp (25 § andra stycket 3 förvaltningslagen)"
            }
        }
    }
}

/// The record's schema (stored, audited and given to write-backs).
pub const DECISION_SCHEMA_V1: &str = "hrobot/beslut/v1";

/// Where a decided row comes from.
// Externally tagged: `Money` reads its exact JSON number itself, which
// serde's buffering of internally tagged enums does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowOrigin {
    /// The robot's proposal, unchanged.
    Proposal,
    /// An official changed the proposed amount.
    Changed { proposed: Money, reason: String },
    /// An official added the row.
    Added { reason: String },
}

/// One row of the decided calculation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedRow {
    pub section: SectionKind,
    pub label: String,
    #[serde(rename = "amount_sek")]
    pub amount: Money,
    pub origin: RowOrigin,
    /// Written only where the section's name does not say it
    /// ([`SectionKind::default_sign`]): −1 for a deducting part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<i64>,
}

impl DecidedRow {
    /// +1 when the row adds to the amount, −1 when it is deducted.
    pub fn sign(&self) -> i64 {
        self.sign.unwrap_or_else(|| self.section.default_sign())
    }
}

/// The sign to store for a row of a part with sign `sign`.
fn stored_sign(kind: &SectionKind, sign: i64) -> Option<i64> {
    (sign != kind.default_sign()).then_some(sign)
}

/// A proposed row an official removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedRow {
    pub section: SectionKind,
    pub label: String,
    #[serde(rename = "proposed_sek")]
    pub proposed: Money,
    pub reason: String,
}

/// A part of what was applied for that is not granted (delvis bifall),
/// line by line: a cost or norm row lowered or removed by an official, or
/// capped by a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotGranted {
    pub label: String,
    #[serde(rename = "applied_sek")]
    pub applied: Money,
    #[serde(rename = "granted_sek")]
    pub granted: Money,
    pub reason: String,
}

impl NotGranted {
    pub fn refused(&self) -> Money {
        Money::from_ore(self.applied.ore().saturating_sub(self.granted.ore()))
    }
}

/// An official's change to one row of the robot's calculation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowChange {
    /// A row the robot did not have (a cost it did not know of, a correction).
    Add {
        section: SectionKind,
        label: String,
        #[serde(rename = "amount_sek")]
        amount: Money,
        reason: String,
    },
    /// A new amount for the proposal's row `index` (0-based within its section).
    Change {
        section: SectionKind,
        index: usize,
        #[serde(rename = "amount_sek")]
        amount: Money,
        reason: String,
    },
    /// The proposal's row `index` does not count.
    Remove {
        section: SectionKind,
        index: usize,
        reason: String,
    },
}

impl RowChange {
    pub fn reason(&self) -> &str {
        match self {
            RowChange::Add { reason, .. } | RowChange::Change { reason, .. } | RowChange::Remove { reason, .. } => {
                reason
            }
        }
    }
}

/// What the deciding official(s) did with the proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Basis {
    /// The proposal, as the robot drafted it.
    Proposal,
    /// The proposal with rows changed by an official.
    Amended,
    /// The application is rejected on the official's own grounds.
    Avslag,
    /// The robot routed the case to a person; an official decided it.
    AfterManualHandling,
}

/// An official's role in the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatoryRole {
    /// Decides under their delegation (the last approver).
    Beslutsfattare,
    /// Prepared and proposed the decision; a second official decided it.
    Foredragande,
}

/// An official who took part in the decision, as the letter names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signatory {
    /// The official's login name: what a write-back to a case system carries.
    pub username: String,
    pub name: String,
    pub title: String,
    /// The point of the delegation order the official decides under.
    pub delegation: Option<String>,
    pub role: SignatoryRole,
}

/// An assessment the deciding official confirmed (contract § 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedAssessment {
    pub code: String,
    pub text: String,
}

/// How kommunicering (FL 25 §) was done before the decision, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KommuniceringOutcome {
    /// The decision does not go against the applicant: none was needed.
    NotNeeded,
    /// The applicant was given the facts and replied.
    Answered { sent_on: String, reply_on: String },
    /// The applicant was given the facts and did not reply by the deadline.
    NoReply { sent_on: String, deadline: String },
    /// Skipped on a ground in FL 25 § second paragraph, recorded by an official.
    Skipped { ground: String, text: String },
}

/// Everything an official's decision says, before it is made into a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ruling {
    /// Approve the proposal as drafted.
    Proposal,
    /// Decide from the proposal's rows with these changes (possibly none,
    /// for a draft routed to manual handling), with a motivering.
    Rows {
        changes: Vec<RowChange>,
        motivering: String,
    },
    /// Reject the application, with a motivering.
    Avslag { motivering: String },
}

/// The inputs of [`DecisionRecord::build`] besides the draft.
#[derive(Debug, Clone)]
pub struct DecisionInput<'a> {
    pub draft: &'a Draft,
    pub ruling: Ruling,
    /// The legal reference of the officials' motivering (the ruleset's for
    /// the right to bistånd on the period's first day).
    pub motivering_lagrum: String,
    pub assessments: Vec<ConfirmedAssessment>,
    pub signatories: Vec<Signatory>,
    pub diarienummer: String,
    /// The day the decision is made, `YYYY-MM-DD`.
    pub decided_on: String,
    pub kommunicering: KommuniceringOutcome,
    /// The casework type fixes an amount (a fee, outcome `faststalld`, may
    /// be 0) rather than granting or rejecting one.
    pub fixed_amount: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("{0}")]
    Invalid(String),
    #[error("beloppen går inte att räkna ihop (för stora)")]
    Overflow,
    #[error("raderna i beräkningen ger {rows}, men beslutet säger {amount}")]
    DoesNotAddUp { rows: Money, amount: Money },
}

/// The decision officials made: the only source of letters and write-backs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub schema: String,
    pub diarienummer: String,
    pub external_id: String,
    pub period: Period,
    pub decided_on: String,
    pub outcome: Outcome,
    #[serde(rename = "amount_sek")]
    pub amount: Money,
    pub basis: Basis,
    pub rows: Vec<DecidedRow>,
    pub removed: Vec<RemovedRow>,
    pub not_granted: Vec<NotGranted>,
    /// The motivering (FL 32 §): the rules applied and the decisive facts.
    pub reasons: Vec<Reason>,
    pub assessments: Vec<ConfirmedAssessment>,
    pub kommunicering: KommuniceringOutcome,
    pub signatories: Vec<Signatory>,
    /// The robot's proposal the decision started from (for the case file
    /// and the audit log, never for the letter).
    pub proposed_outcome: Outcome,
    #[serde(rename = "proposed_amount_sek")]
    pub proposed_amount: Option<Money>,
    pub ruleset: RulesetRef,
}

const MAX_TEXT: usize = 2000;
const MAX_LABEL: usize = 200;
const MAX_CHANGES: usize = 100;

fn text_ok(what: &str, s: &str, max: usize) -> Result<String, DecisionError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DecisionError::Invalid(format!("{what} saknas.")));
    }
    if t.chars().count() > max {
        return Err(DecisionError::Invalid(format!("{what} får vara högst {max} tecken.")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(DecisionError::Invalid(format!("{what} innehåller otillåtna tecken.")));
    }
    Ok(t.to_string())
}

/// The amount a set of rows gives: need rounded half up to whole kronor, 0 if none.
pub fn amount_of(rows: &[DecidedRow]) -> Result<Money, DecisionError> {
    let mut need = Money::ZERO;
    for r in rows {
        let signed = r.amount.checked_mul(r.sign()).map_err(|_| DecisionError::Overflow)?;
        need = need.checked_add(signed).map_err(|_| DecisionError::Overflow)?;
    }
    Ok(if need.is_positive() {
        need.round_half_up_to_kronor()
    } else {
        Money::ZERO
    })
}

/// The exact (unrounded) need the rows give.
pub fn need_of(rows: &[DecidedRow]) -> Result<Money, DecisionError> {
    let mut need = Money::ZERO;
    for r in rows {
        let signed = r.amount.checked_mul(r.sign()).map_err(|_| DecisionError::Overflow)?;
        need = need.checked_add(signed).map_err(|_| DecisionError::Overflow)?;
    }
    Ok(need)
}

impl DecisionRecord {
    /// Makes the record. Fails, saying why in Swedish, when the ruling does
    /// not fit the draft (approving a draft routed to manual handling as it
    /// is, a change without a reason, an index that is not there), and when
    /// the rows would not add up to the amount.
    pub fn build(input: DecisionInput<'_>) -> Result<DecisionRecord, DecisionError> {
        let draft = input.draft;
        if input.signatories.is_empty() {
            return Err(DecisionError::Invalid("Ett beslut måste ha en beslutsfattare.".into()));
        }
        let calc = draft.calculation();
        let mut rows: Vec<DecidedRow> = Vec::new();
        for part in calc.parts() {
            rows.extend(part.section.rows().iter().map(|r| DecidedRow {
                section: part.kind.clone(),
                label: r.label.clone(),
                amount: r.amount,
                origin: RowOrigin::Proposal,
                sign: stored_sign(&part.kind, part.sign),
            }));
        }
        let mut removed = Vec::new();
        let mut not_granted = Vec::new();
        let (outcome, amount, basis, reasons) = match &input.ruling {
            Ruling::Proposal => {
                let (Some(amount), false) = (draft.amount(), draft.outcome() == Outcome::Manuell) else {
                    return Err(DecisionError::Invalid(
                        "Robotens förslag är manuell handläggning: besluta med egen motivering och beräkning.".into(),
                    ));
                };
                let from_rows = amount_of(&rows)?;
                if from_rows != amount {
                    return Err(DecisionError::DoesNotAddUp {
                        rows: from_rows,
                        amount,
                    });
                }
                not_granted = proposal_not_granted(draft);
                (draft.outcome(), amount, Basis::Proposal, draft.reasons().to_vec())
            }
            Ruling::Rows { changes, motivering } => {
                let motivering = text_ok("Motiveringen", motivering, MAX_TEXT)?;
                if changes.len() > MAX_CHANGES {
                    return Err(DecisionError::Invalid(format!("Högst {MAX_CHANGES} ändrade rader.")));
                }
                if changes.is_empty() && draft.outcome() != Outcome::Manuell {
                    return Err(DecisionError::Invalid(
                        "Ingen rad är ändrad: godkänn förslaget, eller ändra en rad eller avslå.".into(),
                    ));
                }
                let mut reasons = vec![Reason {
                    code: "handlaggarens_motivering".into(),
                    text: motivering,
                    lagrum: input.motivering_lagrum.clone(),
                }];
                apply_changes(
                    &mut rows,
                    &mut removed,
                    &mut not_granted,
                    &mut reasons,
                    changes,
                    draft.calculation(),
                )?;
                let amount = amount_of(&rows)?;
                let outcome = if input.fixed_amount || draft.outcome() == Outcome::Faststalld {
                    Outcome::Faststalld
                } else if amount.is_zero() {
                    Outcome::Avslag
                } else if not_granted.is_empty() {
                    Outcome::Bifall
                } else {
                    Outcome::DelvisBifall
                };
                let basis = if draft.outcome() == Outcome::Manuell {
                    Basis::AfterManualHandling
                } else {
                    Basis::Amended
                };
                (outcome, amount, basis, reasons)
            }
            Ruling::Avslag { motivering } => {
                let motivering = text_ok("Motiveringen", motivering, MAX_TEXT)?;
                let reasons = vec![Reason {
                    code: "handlaggarens_motivering".into(),
                    text: motivering,
                    lagrum: input.motivering_lagrum.clone(),
                }];
                // The application is rejected on other grounds than the
                // calculation, so no calculation is part of the decision.
                rows.clear();
                (Outcome::Avslag, Money::ZERO, Basis::Avslag, reasons)
            }
        };
        let mut assessments = input.assessments;
        assessments.dedup_by(|a, b| a.code == b.code);
        Ok(DecisionRecord {
            schema: DECISION_SCHEMA_V1.into(),
            diarienummer: input.diarienummer,
            external_id: draft.external_id().to_string(),
            period: draft.period(),
            decided_on: input.decided_on,
            outcome,
            amount,
            basis,
            rows,
            removed,
            not_granted,
            reasons,
            assessments,
            kommunicering: input.kommunicering,
            signatories: input.signatories,
            proposed_outcome: draft.outcome(),
            proposed_amount: draft.amount(),
            ruleset: draft.ruleset().clone(),
        })
    }

    /// Checks a stored record: schema, outcome and amount consistent with
    /// the rows. Everything that reads a record back calls this.
    pub fn check(&self) -> Result<(), DecisionError> {
        if self.schema != DECISION_SCHEMA_V1 {
            return Err(DecisionError::Invalid(format!("okänt beslutsformat {:?}", self.schema)));
        }
        match (self.outcome, &self.basis) {
            (Outcome::Manuell, _) => return Err(DecisionError::Invalid("ett beslut kan inte vara manuellt".into())),
            (Outcome::Avslag, _) if !self.amount.is_zero() => {
                return Err(DecisionError::Invalid("ett avslag har beloppet 0 kr".into()));
            }
            (Outcome::Bifall | Outcome::DelvisBifall, _) if self.amount.is_zero() => {
                return Err(DecisionError::Invalid("ett bifall har ett belopp över 0 kr".into()));
            }
            _ => {}
        }
        let rows = amount_of(&self.rows)?;
        if rows != self.amount {
            return Err(DecisionError::DoesNotAddUp {
                rows,
                amount: self.amount,
            });
        }
        Ok(())
    }

    /// The section's rows, in order.
    pub fn section<'a>(&'a self, kind: &'a SectionKind) -> impl Iterator<Item = &'a DecidedRow> {
        self.rows.iter().filter(move |r| r.section == *kind)
    }

    /// The sections the rows are in, in order of first appearance.
    pub fn sections(&self) -> Vec<&SectionKind> {
        let mut out: Vec<&SectionKind> = Vec::new();
        for r in &self.rows {
            if !out.contains(&&r.section) {
                out.push(&r.section);
            }
        }
        out
    }

    /// The section's exact sum.
    pub fn section_total(&self, kind: &SectionKind) -> Money {
        Money::checked_sum(self.section(kind).map(|r| r.amount)).unwrap_or(Money::ZERO)
    }

    /// Whether officials changed the proposal (or decided without one).
    pub fn departs_from_proposal(&self) -> bool {
        self.basis != Basis::Proposal
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<DecisionRecord, DecisionError> {
        let r: DecisionRecord = serde_json::from_str(text)
            .map_err(|e| DecisionError::Invalid(format!("beslutet går inte att läsa: {e}")))?;
        r.check()?;
        Ok(r)
    }
}

/// The robot's caps, line by line: rows granted at less than applied for.
fn proposal_not_granted(draft: &Draft) -> Vec<NotGranted> {
    draft
        .calculation()
        .parts()
        .iter()
        .filter(|p| p.sign > 0)
        .flat_map(|p| p.section.rows())
        .filter_map(|r| {
            let applied = r.applied?;
            (applied > r.amount).then(|| NotGranted {
                label: r.label.clone(),
                applied,
                granted: r.amount,
                reason: String::new(),
            })
        })
        .collect()
}

/// Applies the officials' row changes to the proposal's rows.
fn apply_changes(
    rows: &mut Vec<DecidedRow>,
    removed: &mut Vec<RemovedRow>,
    not_granted: &mut Vec<NotGranted>,
    reasons: &mut Vec<Reason>,
    changes: &[RowChange],
    calc: &Calculation,
) -> Result<(), DecisionError> {
    let part_index = |kind: &SectionKind| -> Result<usize, DecisionError> {
        calc.parts()
            .iter()
            .position(|p| p.kind == *kind)
            .ok_or_else(|| DecisionError::Invalid(format!("Beräkningen har ingen del {:?}.", kind.as_str())))
    };
    // Positions of the proposal's rows: (section, index) → position in `rows`.
    let position = |kind: &SectionKind, index: usize| -> Result<Option<usize>, DecisionError> {
        let i = part_index(kind)?;
        let before: usize = calc.parts()[..i].iter().map(|p| p.section.rows().len()).sum();
        Ok((index < calc.parts()[i].section.rows().len()).then_some(before + index))
    };
    let adds = |kind: &SectionKind| -> Result<bool, DecisionError> { Ok(calc.parts()[part_index(kind)?].sign > 0) };
    let mut touched = std::collections::BTreeSet::new();
    let mut gone = std::collections::BTreeSet::new();
    let mut added = Vec::new();
    let lagrum = reasons.first().map(|r| r.lagrum.clone()).unwrap_or_default();
    for change in changes {
        let reason = text_ok("Skälet för en ändrad rad", change.reason(), MAX_TEXT)?;
        match change {
            RowChange::Add {
                section, label, amount, ..
            } => {
                let label = text_ok("Radens text", label, MAX_LABEL)?;
                let sign = calc.parts()[part_index(section)?].sign;
                check_amount(section, sign, *amount)?;
                reasons.push(Reason {
                    code: "andrad_rad".into(),
                    text: format!("{label} ({}\u{a0}kr): {reason}", kr(*amount)),
                    lagrum: lagrum.clone(),
                });
                added.push(DecidedRow {
                    section: section.clone(),
                    label,
                    amount: *amount,
                    origin: RowOrigin::Added { reason },
                    sign: stored_sign(section, sign),
                });
            }
            RowChange::Change {
                section, index, amount, ..
            } => {
                let pos = position(section, *index)?.ok_or_else(|| {
                    DecisionError::Invalid(format!("Rad {} finns inte i {}.", index + 1, section.label()))
                })?;
                if !touched.insert(pos) {
                    return Err(DecisionError::Invalid("En rad kan bara ändras en gång.".into()));
                }
                check_amount(section, calc.parts()[part_index(section)?].sign, *amount)?;
                let row = &mut rows[pos];
                let proposed = row.amount;
                if proposed == *amount {
                    return Err(DecisionError::Invalid(format!(
                        "Raden \"{}\" har redan beloppet {}\u{a0}kr.",
                        row.label,
                        kr(proposed)
                    )));
                }
                if adds(section)? && *amount < proposed {
                    not_granted.push(NotGranted {
                        label: row.label.clone(),
                        applied: proposed,
                        granted: *amount,
                        reason: reason.clone(),
                    });
                }
                reasons.push(Reason {
                    code: "andrad_rad".into(),
                    text: format!(
                        "{}: {}\u{a0}kr i stället för {}\u{a0}kr. {reason}",
                        row.label,
                        kr(*amount),
                        kr(proposed)
                    ),
                    lagrum: lagrum.clone(),
                });
                row.amount = *amount;
                row.origin = RowOrigin::Changed { proposed, reason };
            }
            RowChange::Remove { section, index, .. } => {
                let pos = position(section, *index)?.ok_or_else(|| {
                    DecisionError::Invalid(format!("Rad {} finns inte i {}.", index + 1, section.label()))
                })?;
                if !touched.insert(pos) {
                    return Err(DecisionError::Invalid("En rad kan bara ändras en gång.".into()));
                }
                let row = &rows[pos];
                if adds(section)? && row.amount.is_positive() {
                    not_granted.push(NotGranted {
                        label: row.label.clone(),
                        applied: row.amount,
                        granted: Money::ZERO,
                        reason: reason.clone(),
                    });
                }
                reasons.push(Reason {
                    code: "andrad_rad".into(),
                    text: format!("{} räknas inte. {reason}", row.label),
                    lagrum: lagrum.clone(),
                });
                removed.push(RemovedRow {
                    section: section.clone(),
                    label: row.label.clone(),
                    proposed: row.amount,
                    reason,
                });
                gone.insert(pos);
            }
        }
    }
    let mut kept: Vec<DecidedRow> = std::mem::take(rows)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(_, r)| r)
        .collect();
    kept.extend(added);
    // Keep the sections in their order; rows keep theirs within a section.
    kept.sort_by_key(|r| calc.parts().iter().position(|p| p.kind == r.section));
    *rows = kept;
    Ok(())
}

fn check_amount(section: &SectionKind, sign: i64, amount: Money) -> Result<(), DecisionError> {
    let limit = Money::from_ore(crate::money::MAX_INPUT_ORE);
    if amount.ore().abs() > limit.ore() {
        return Err(DecisionError::Invalid("Beloppet är för stort.".into()));
    }
    // Deductions (the jobbstimulans, an asset allowance) are negative rows in
    // the incomes and assets sections; norm and costs are never negative.
    if sign > 0 && amount.ore() < 0 {
        return Err(DecisionError::Invalid(format!(
            "Ett belopp under {} kan inte vara negativt.",
            section.label()
        )));
    }
    Ok(())
}

/// "1 234,50" or "1 234" (the unit is added by the caller).
pub fn kr(m: Money) -> String {
    let ore = m.ore();
    let neg = ore < 0;
    let abs = ore.unsigned_abs();
    let whole = abs / 100;
    let frac = abs % 100;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    let sign = if neg { "−" } else { "" };
    if frac == 0 {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped},{frac:02}")
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
