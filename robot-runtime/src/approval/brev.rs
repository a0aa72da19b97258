//! What the citizen reads: the decision letter, made only from the
//! decision record, and the kommuniceringsbrev. Both go through an
//! editable template (`templates/*.html.j2`) and the one renderer in
//! `letter.rs`, so the preview, the e-mail text and the PDF agree.
//!
//! Nothing internal reaches the letter: household members are named (the
//! rules call them "vuxen 1", "barn 2"), amounts are kronor, and the
//! officials' decision is stated without reference to the proposal.

use super::kommunicering::Sent;
use super::letter::{self, Rendered};
use super::{ApprovalError, ApprovalSettings, Official};
use crate::law::LetterLaw;
use chrono::{DateTime, Utc};
use domain::{DecisionRecord, Draft, KommuniceringOutcome, Money, Outcome, SignatoryRole, SkipGround};
use sandbox::{Input, Ruleset};
use serde::Serialize;

pub const DECISION_TEMPLATE: &str = include_str!("../../../rulesets/ekonomiskt-bistand/letters/beslut.html.j2");
/// The built-in decision-letter template (the same as [`DECISION_TEMPLATE`]).
pub const DEFAULT_TEMPLATE: &str = DECISION_TEMPLATE;
pub const KOMMUNICERING_TEMPLATE: &str =
    include_str!("../../../rulesets/ekonomiskt-bistand/letters/kommunicering.html.j2");

/// A date as letters write it: `4 december 2026` (Swedish time).
pub fn date_label(t: DateTime<Utc>) -> String {
    letter::date_label(t.with_timezone(&chrono_tz::Europe::Stockholm).date_naive())
}

/// A date as records store it: `2026-12-04` (Swedish time).
pub fn date(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

fn iso_label(iso: &str) -> String {
    chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d")
        .map(letter::date_label)
        .unwrap_or_else(|_| iso.to_string())
}

/// `9 750 kr`, `1 234,50 kr`.
pub fn kr(m: Money) -> String {
    format!("{}\u{a0}kr", domain::kr(m))
}

/// Whether the letter is a preview (marked as such) or what is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterState {
    Preview,
    Final,
}

#[derive(Debug, Clone, Serialize)]
struct Sender {
    municipality: String,
    board: String,
    address: Vec<String>,
    phone: String,
    phone_hours: String,
    email: String,
}

fn sender(s: &ApprovalSettings) -> Sender {
    Sender {
        municipality: s.municipality.clone(),
        board: s.board.clone(),
        address: s.postal_address.clone(),
        phone: s.phone.clone(),
        phone_hours: s.phone_hours.clone(),
        email: s.email.clone(),
    }
}

#[derive(Debug, Clone, Serialize)]
struct Recipient {
    name: String,
    personnummer: String,
}

/// The parties to the decision: both adults of an ekonomiskt-bistånd
/// household; the applicant of a package type.
fn recipients(input: &Input) -> Vec<Recipient> {
    match input {
        Input::Builtin(app) => app
            .household()
            .adults
            .iter()
            .map(|a| Recipient {
                name: a.name.clone(),
                personnummer: a.personnummer.formatted(),
            })
            .collect(),
        Input::Package(doc) => vec![Recipient {
            name: doc.applicant_name.clone().unwrap_or_default(),
            personnummer: doc.applicant.formatted(),
        }],
    }
}

/// Names household members where the rules wrote "vuxen 1" or "barn 2"
/// (a package type's rules write for the citizen already).
pub fn humanize(text: &str, input: &Input) -> String {
    let Input::Builtin(app) = input else {
        return text.to_string();
    };
    let h = app.household();
    let mut names: Vec<(String, String)> = Vec::new();
    for (i, a) in h.adults.iter().enumerate() {
        names.push((format!("vuxen {}", i + 1), first_name(&a.name)));
    }
    for (i, c) in h.children.iter().enumerate() {
        names.push((format!("barn {}", i + 1), first_name(&c.name)));
    }
    // Longer labels first, so "barn 12" is not read as "barn 1" + "2".
    names.sort_by_key(|(label, _)| std::cmp::Reverse(label.len()));
    let mut out = text.to_string();
    for (label, name) in &names {
        out = replace_word(&out, label, name);
    }
    out
}

fn first_name(full: &str) -> String {
    full.split_whitespace().next().unwrap_or(full).to_string()
}

/// Replaces `label` where it is not followed by another digit.
fn replace_word(text: &str, label: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(label) {
        let after = &rest[i + label.len()..];
        out.push_str(&rest[..i]);
        if after.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            out.push_str(label);
        } else {
            out.push_str(with);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, Serialize)]
struct Line {
    label: String,
    amount: String,
}

#[derive(Debug, Clone, Serialize)]
struct CalcSection {
    title: String,
    /// "+" for what adds to the need, "−" for what is deducted.
    sign: String,
    rows: Vec<Line>,
    total: String,
}

#[derive(Debug, Clone, Serialize)]
struct Calculation {
    sections: Vec<CalcSection>,
    need: String,
    /// The amount the decision states (the need rounded, or 0).
    amount: String,
    need_covered: bool,
}

#[derive(Debug, Clone, Serialize)]
struct NotGrantedLine {
    label: String,
    applied: String,
    granted: String,
    refused: String,
    reason: String,
}

#[derive(Debug, Clone, Serialize)]
struct ReasonLine {
    text: String,
    lagrum: String,
}

#[derive(Debug, Clone, Serialize)]
struct Person {
    name: String,
    title: String,
    delegation: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct DecisionLetter {
    preview: bool,
    /// The decided amount in kronor (`2 100 kr`), and whether it is 0: a
    /// type's template words its own decision sentence from them.
    amount: String,
    amount_zero: bool,
    sender: Sender,
    date: String,
    diarienummer: String,
    recipients: Vec<Recipient>,
    /// "du" or "ni": one adult or two.
    you: String,
    your: String,
    period_label: String,
    outcome: String,
    decision_text: String,
    not_granted: Vec<NotGrantedLine>,
    calculation: Option<Calculation>,
    reasons: Vec<ReasonLine>,
    assessments: Vec<String>,
    kommunicering: Option<String>,
    lagrum: Vec<String>,
    decided_by: Option<Person>,
    prepared_by: Option<Person>,
    payment_info: Option<String>,
    appeal_lagrum: String,
}

fn calculation(record: &DecisionRecord, app: &Input) -> Option<Calculation> {
    if record.rows.is_empty() {
        return None;
    }
    let sections = record
        .sections()
        .into_iter()
        .map(|k| CalcSection {
            title: sandbox::Ruleset::section_title(&record.ruleset.name, k),
            sign: if record.section(k).next().is_some_and(|r| r.sign() < 0) {
                "−"
            } else {
                "+"
            }
            .into(),
            rows: record
                .section(k)
                .map(|r| Line {
                    label: humanize(&r.label, app),
                    amount: kr(r.amount),
                })
                .collect(),
            total: kr(record.section_total(k)),
        })
        .collect();
    let need = domain::need_of(&record.rows).unwrap_or(Money::ZERO);
    Some(Calculation {
        sections,
        need: kr(need),
        amount: kr(record.amount),
        need_covered: !need.is_positive(),
    })
}

fn decision_text(record: &DecisionRecord, you: &str, your: &str, period: &str) -> String {
    let you_cap = capitalize(you);
    let your_cap = capitalize(your);
    match record.outcome {
        Outcome::Bifall => format!(
            "{you_cap} beviljas ekonomiskt bistånd (försörjningsstöd) med {} för {period}.",
            kr(record.amount)
        ),
        Outcome::DelvisBifall => format!(
            "{you_cap} beviljas ekonomiskt bistånd (försörjningsstöd) med {} för {period}. I övrigt avslås {your} ansökan, i de delar som anges nedan.",
            kr(record.amount)
        ),
        Outcome::Avslag | Outcome::Manuell => {
            format!("{your_cap} ansökan om ekonomiskt bistånd (försörjningsstöd) för {period} avslås.")
        }
        Outcome::Faststalld => format!(
            "Beloppet fastställs till {} per månad från och med {period}.",
            kr(record.amount)
        ),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn kommunicering_sentence(k: &KommuniceringOutcome, you: &str) -> Option<String> {
    match k {
        KommuniceringOutcome::NotNeeded => None,
        KommuniceringOutcome::Answered { sent_on, reply_on } => Some(format!(
            "Innan beslutet fattades fick {you} den {} ta del av uppgifterna och möjlighet att yttra {}. Vi fick {} svar den {}, och det har vägts in i beslutet.",
            iso_label(sent_on),
            if you == "ni" { "er" } else { "dig" },
            if you == "ni" { "ert" } else { "ditt" },
            iso_label(reply_on)
        )),
        KommuniceringOutcome::NoReply { sent_on, deadline } => Some(format!(
            "Innan beslutet fattades fick {you} den {} ta del av uppgifterna och möjlighet att yttra {} senast den {}. Vi har inte fått något svar.",
            iso_label(sent_on),
            if you == "ni" { "er" } else { "dig" },
            iso_label(deadline)
        )),
        KommuniceringOutcome::Skipped { ground, .. } => Some(format!(
            "Beslutet har fattats utan att {you} först fått yttra {} över uppgifterna, eftersom {}.",
            if you == "ni" { "er" } else { "dig" },
            match ground.parse::<SkipGround>() {
                Ok(SkipGround::UppenbartObehovlig) => "det var uppenbart obehövligt",
                Ok(SkipGround::SvarareAttGenomfora) => "det annars skulle bli avsevärt svårare att genomföra beslutet",
                Ok(SkipGround::KanInteSkjutasUpp) => "beslutet inte kunde skjutas upp",
                Err(_) => "det inte behövdes",
            }
        )),
    }
}

/// A package type's letter template (`None` for ekonomiskt bistånd, whose
/// letters may be replaced in the configuration).
fn package_letter(input: &Input, pick: impl Fn(&sandbox::Casework) -> Option<String>) -> Option<String> {
    let Input::Package(doc) = input else { return None };
    Ruleset::of_type(doc.type_name()).and_then(|r| r.casework().and_then(&pick))
}

/// The casework type's title (`Ekonomiskt bistånd`).
fn type_title(input: &Input) -> String {
    let type_name = match input {
        Input::Builtin(_) => "ekonomiskt-bistand",
        Input::Package(doc) => doc.type_name(),
    };
    Ruleset::of_type(type_name)
        .and_then(|r| r.casework().map(|c| c.title().to_string()))
        .unwrap_or_else(|| "Ekonomiskt bistånd".into())
}

/// The decision letter, from the record alone.
pub fn decision_letter(
    settings: &ApprovalSettings,
    law: &LetterLaw,
    app: &Input,
    record: &DecisionRecord,
    state: LetterState,
) -> Result<Rendered, ApprovalError> {
    record.check()?;
    let recipients = recipients(app);
    let (you, your) = if recipients.len() > 1 {
        ("ni", "er")
    } else {
        ("du", "din")
    };
    let period = letter::period_label(record.period);
    let person = |role: SignatoryRole| {
        record.signatories.iter().find(|s| s.role == role).map(|s| Person {
            name: s.name.clone(),
            title: s.title.clone(),
            delegation: s.delegation.clone(),
        })
    };
    let reasons: Vec<ReasonLine> = record
        .reasons
        .iter()
        .map(|r| ReasonLine {
            text: humanize(&r.text, app),
            lagrum: r.lagrum.clone(),
        })
        .collect();
    let mut lagrum: Vec<String> = reasons.iter().map(|r| r.lagrum.clone()).collect();
    lagrum.push(law.motivering_fl.clone());
    if !matches!(record.kommunicering, KommuniceringOutcome::NotNeeded) {
        lagrum.push(law.kommunicering.clone());
    }
    let mut seen = std::collections::BTreeSet::new();
    lagrum.retain(|l| !l.trim().is_empty() && seen.insert(l.clone()));
    let data = DecisionLetter {
        preview: state == LetterState::Preview,
        amount: kr(record.amount),
        amount_zero: record.amount.is_zero(),
        sender: sender(settings),
        date: iso_label(&record.decided_on),
        diarienummer: record.diarienummer.clone(),
        recipients,
        you: you.into(),
        your: your.into(),
        period_label: period.clone(),
        outcome: record.outcome.as_str().into(),
        decision_text: decision_text(record, you, your, &period),
        not_granted: record
            .not_granted
            .iter()
            .map(|n| NotGrantedLine {
                label: humanize(&n.label, app),
                applied: kr(n.applied),
                granted: kr(n.granted),
                refused: kr(n.refused()),
                reason: humanize(&n.reason, app),
            })
            .collect(),
        calculation: calculation(record, app),
        reasons,
        assessments: record.assessments.iter().map(|a| humanize(&a.text, app)).collect(),
        kommunicering: kommunicering_sentence(&record.kommunicering, you),
        lagrum,
        decided_by: person(SignatoryRole::Beslutsfattare),
        prepared_by: person(SignatoryRole::Foredragande),
        // Money is paid out only on a grant (a fixed fee is paid by the citizen).
        payment_info: matches!(record.outcome, Outcome::Bifall | Outcome::DelvisBifall)
            .then(|| settings.payment_info.clone()),
        appeal_lagrum: law.overklagande.clone(),
    };
    let template = match package_letter(app, |c| c.letter.clone()) {
        Some(t) => t,
        None => settings.template(&settings.letter_template, DECISION_TEMPLATE)?,
    };
    let title = format!("Beslut om {} – {period}", type_title(app).to_lowercase());
    let date = chrono::NaiveDate::parse_from_str(&record.decided_on, "%Y-%m-%d")
        .map_err(|_| ApprovalError::Letter(format!("the decision date {:?} is not a date", record.decided_on)))?;
    letter::render_with(
        &template,
        &data,
        &letter::LetterInfo {
            title: &title,
            footer: &format!("{} – {}", record.diarienummer, settings.board),
            author: &settings.board,
            date,
        },
    )
    .map_err(|e| ApprovalError::Letter(e.to_string()))
}

#[derive(Debug, Clone, Serialize)]
struct KommuniceringLetter {
    sender: Sender,
    date: String,
    diarienummer: String,
    recipients: Vec<Recipient>,
    you: String,
    your: String,
    period_label: String,
    facts: Vec<String>,
    calculation: Option<Calculation>,
    proposal: String,
    deadline: String,
    official: Person,
    lagrum: String,
}

/// The kommuniceringsbrev: the facts, the proposal they lead to, and the deadline.
#[allow(clippy::too_many_arguments, reason = "one letter's inputs")]
pub fn kommunicering_letter(
    settings: &ApprovalSettings,
    law: &LetterLaw,
    app: &Input,
    draft: &Draft,
    diarienummer: &str,
    sent: &Sent,
    by: &Official,
    now: DateTime<Utc>,
) -> Result<Rendered, ApprovalError> {
    let recipients = recipients(app);
    let (you, your) = if recipients.len() > 1 {
        ("ni", "er")
    } else {
        ("du", "din")
    };
    let period = letter::period_label(draft.period());
    // The proposal as the calculation stands, so the applicant sees what
    // the facts lead to.
    let proposal_record = domain::DecisionRecord::build(domain::DecisionInput {
        draft,
        ruling: domain::Ruling::Proposal,
        motivering_lagrum: law.motivering_lagrum.clone(),
        assessments: Vec::new(),
        signatories: vec![by.signatory(SignatoryRole::Beslutsfattare)],
        diarienummer: diarienummer.to_string(),
        decided_on: date(now),
        kommunicering: KommuniceringOutcome::NotNeeded,
        fixed_amount: super::fixes_amount(draft),
    })
    .ok();
    let proposal = match &proposal_record {
        Some(r) if r.outcome == Outcome::Avslag => {
            format!("Om uppgifterna stämmer kommer {your} ansökan för {period} att avslås.")
        }
        Some(r) => format!(
            "Om uppgifterna stämmer kommer {you} att beviljas {} för {period}, vilket är mindre än {you} har sökt.",
            kr(r.amount)
        ),
        None => format!("Uppgifterna kan leda till att {your} ansökan för {period} avslås helt eller delvis."),
    };
    let official = by.signatory(SignatoryRole::Beslutsfattare);
    let data = KommuniceringLetter {
        sender: sender(settings),
        date: date_label(now),
        diarienummer: diarienummer.to_string(),
        recipients,
        you: you.into(),
        your: your.into(),
        period_label: period.clone(),
        facts: sent.facts.iter().map(|f| humanize(&f.text, app)).collect(),
        calculation: proposal_record.as_ref().and_then(|r| calculation(r, app)),
        proposal,
        deadline: iso_label(&sent.deadline_on),
        official: Person {
            name: official.name,
            title: official.title,
            delegation: None,
        },
        lagrum: law.kommunicering.clone(),
    };
    let template = match package_letter(app, |c| c.kommunicering_letter.clone()) {
        Some(t) => t,
        None => settings.template(&settings.kommunicering_template, KOMMUNICERING_TEMPLATE)?,
    };
    letter::render_with(
        &template,
        &data,
        &letter::LetterInfo {
            title: &format!(
                "Kommunicering inför beslut om {} – {period}",
                type_title(app).to_lowercase()
            ),
            footer: &format!("{diarienummer} – {}", settings.board),
            author: &settings.board,
            date: now.with_timezone(&chrono_tz::Europe::Stockholm).date_naive(),
        },
    )
    .map_err(|e| ApprovalError::Letter(e.to_string()))
}

/// The preview for a case the robot routed to a person: there is no
/// proposal to show as a letter until an official decides.
pub fn no_letter_yet(
    settings: &ApprovalSettings,
    app: &Input,
    draft: &Draft,
    now: DateTime<Utc>,
) -> Result<Rendered, ApprovalError> {
    let t = r#"<html lang="sv" xmlns="http://www.w3.org/1999/xhtml"><head><title>Inget beslutsbrev ännu</title></head><body>
<p class="utkast">UTKAST – inget beslut är fattat ännu.</p>
<h1>Inget beslutsbrev ännu</h1>
<p>Ansökan för {{ period }} ska prövas av en handläggare. Beslutsbrevet skapas när en handläggare har beslutat, med handläggarens beräkning och motivering.</p>
</body></html>"#;
    let _ = app;
    letter::render_with(
        t,
        &serde_json::json!({"period": letter::period_label(draft.period())}),
        &letter::LetterInfo {
            title: "Inget beslutsbrev ännu",
            footer: &settings.board,
            author: &settings.board,
            date: now.with_timezone(&chrono_tz::Europe::Stockholm).date_naive(),
        },
    )
    .map_err(|e| ApprovalError::Letter(e.to_string()))
}

/// The decision as a case system stores it: one sentence from the record.
pub fn write_back_text(record: &DecisionRecord) -> String {
    let period = letter::period_label(record.period);
    match record.outcome {
        Outcome::Bifall => format!(
            "Ekonomiskt bistånd (försörjningsstöd) beviljas med {} för {period}. Diarienummer {}.",
            kr(record.amount),
            record.diarienummer
        ),
        Outcome::DelvisBifall => format!(
            "Ekonomiskt bistånd (försörjningsstöd) beviljas med {} för {period}; i övrigt avslås ansökan. Diarienummer {}.",
            kr(record.amount),
            record.diarienummer
        ),
        Outcome::Avslag | Outcome::Manuell => format!(
            "Ansökan om ekonomiskt bistånd (försörjningsstöd) för {period} avslås. Diarienummer {}.",
            record.diarienummer
        ),
        Outcome::Faststalld => format!(
            "Beloppet fastställs till {} per månad från och med {period}. Diarienummer {}.",
            kr(record.amount),
            record.diarienummer
        ),
    }
}
