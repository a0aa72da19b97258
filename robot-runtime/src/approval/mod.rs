//! The officials' decisions: approve, amend, return to manual handling,
//! assign, comment — with four-eyes and conflict-of-interest rules — and
//! the only path to the outbox.
//!
//! An [`ApprovedDecision`] is what the outbox accepts, and only this module
//! can make one: from a final decision, inside the transaction that records
//! the last approval. The database agrees: an outbox row needs a final
//! decision row for the same case (a trigger), and a final decision never
//! changes.

pub mod brev;
pub mod kommunicering;
pub mod letter;

pub use crate::config::ApprovalSettings;
pub use crate::officials::Official;
pub use crate::roles::Role;

use crate::store::{
    AmendedBasis, AmendmentNote, CaseDetail, CaseId, CaseSummary, CommentRow, DecisionRow, KommuniceringRow,
    NewDecision, NewKommunicering, NewOutboxItem, Store, StoreError, StoreTx,
};
use domain::Draft;
use domain::{
    At, CaseState, ConfirmedAssessment, DecisionError, DecisionInput, DecisionRecord, KommuniceringOutcome, LetterKind,
    Money, Outcome, RowChange, Ruling, Signatory, SignatoryRole, SkipGround,
};
use sandbox::{Input, Ruleset};
use serde_json::json;
use std::path::PathBuf;

/// What an official decides instead of the robot's proposal.
pub type Amendment = Ruling;

impl ApprovalSettings {
    fn template(&self, which: &Option<PathBuf>, built_in: &str) -> Result<String, ApprovalError> {
        match which {
            None => Ok(built_in.to_string()),
            Some(p) => std::fs::read_to_string(p).map_err(|e| {
                ApprovalError::Letter(format!("cannot read the letter template {}: {}", p.display(), e.kind()))
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalResult {
    /// Decided: the letter is in the outbox.
    Approved,
    /// Recorded; a second official must approve before anything is sent.
    AwaitingSecondApproval,
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("{0}")]
    Forbidden(String),
    #[error("du får inte besluta i ett ärende där du själv ingår i hushållet (jäv)")]
    ConflictOfInterest,
    #[error("ett beslut som kräver två handläggare kan inte godkännas två gånger av samma person")]
    SameApprover,
    #[error("ärendet väntar inte på beslut")]
    NotAwaitingApproval,
    #[error("{0}")]
    Invalid(String),
    #[error(
        "Beslutet går den sökande emot och bygger på uppgifter som den sökande inte har lämnat eller fått yttra sig över. Kommunicera uppgifterna först (25 § förvaltningslagen), eller ange skälet att avstå."
    )]
    KommuniceringNeeded,
    #[error("beslutsbrevet: {0}")]
    Letter(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DecisionError> for ApprovalError {
    fn from(e: DecisionError) -> ApprovalError {
        ApprovalError::Invalid(e.to_string())
    }
}

impl ApprovalError {
    /// The HTTP status an API gives it.
    pub fn status(&self) -> u16 {
        match self {
            ApprovalError::Forbidden(_) | ApprovalError::ConflictOfInterest | ApprovalError::SameApprover => 403,
            ApprovalError::NotAwaitingApproval => 409,
            ApprovalError::Invalid(_) | ApprovalError::KommuniceringNeeded => 422,
            ApprovalError::Store(StoreError::NotFound(_)) => 404,
            ApprovalError::Store(StoreError::StaleState { .. }) => 409,
            ApprovalError::Letter(_) | ApprovalError::Store(_) => 500,
        }
    }
}

/// A fully approved decision, ready for the outbox. Only this module makes one.
pub struct ApprovedDecision {
    case_id: CaseId,
    decision_id: i64,
    letter: letter::Rendered,
}

impl ApprovedDecision {
    pub fn case_id(&self) -> CaseId {
        self.case_id
    }
    pub fn decision_id(&self) -> i64 {
        self.decision_id
    }
    /// The idempotency key every delivery attempt of this decision uses.
    pub fn idempotency_key(&self) -> String {
        format!("hrobot:case:{}:decision:{}", self.case_id, self.decision_id)
    }
}

/// The outbox's only way in for decisions.
async fn enqueue(tx: &mut StoreTx, d: &ApprovedDecision, channel: &str) -> Result<(), ApprovalError> {
    let key = d.idempotency_key();
    tx.insert_outbox(&NewOutboxItem {
        case_id: d.case_id,
        kind: LetterKind::Beslut,
        decision_id: Some(d.decision_id),
        kommunicering_id: None,
        channel,
        idempotency_key: &key,
        recipient: None,
        letter_html: &d.letter.html,
        letter_text: &d.letter.text,
        letter_pdf: &d.letter.pdf,
    })
    .await?;
    Ok(())
}

fn require(by: &Official, role: Role, what: &str) -> Result<(), ApprovalError> {
    if by.has(role) {
        Ok(())
    } else {
        Err(ApprovalError::Forbidden(format!("du har inte behörighet att {what}")))
    }
}

/// Whether the draft's casework type fixes an amount (a fee) rather than
/// granting one (its outcomes include `faststalld`).
pub(crate) fn fixes_amount(d: &Draft) -> bool {
    d.outcome() == domain::Outcome::Faststalld
        || sandbox::Ruleset::of_type(d.casework_type())
            .and_then(|r| r.casework().map(sandbox::Casework::fixes_amount))
            .unwrap_or(false)
}

fn check_conflict(by: &Official, app: &Input) -> Result<(), ApprovalError> {
    match &by.personnummer {
        Some(p) if app.subjects().contains(&p) => Err(ApprovalError::ConflictOfInterest),
        _ => Ok(()),
    }
}

/// Whether the official is part of the case's household (jäv): they may not
/// decide, comment, be assigned or even open it. A document that does not
/// parse as an application names no one.
pub async fn is_conflicted(store: &Store, official: &Official, case: CaseId) -> Result<bool, ApprovalError> {
    if official.personnummer.is_none() {
        return Ok(false);
    }
    let mut tx = store.begin().await?;
    let doc = tx.document(case).await?;
    drop(tx);
    Ok(conflicted_in(official, &doc))
}

/// Whether the official is part of the household of this application document.
pub fn conflicted_in(official: &Official, document: &[u8]) -> bool {
    official
        .personnummer
        .as_ref()
        .is_some_and(|p| Ruleset::read_stored(document).is_some_and(|app| app.subjects().contains(&p)))
}

/// Refuses the official's reading of a case they are part of (jäv).
pub async fn check_may_read(store: &Store, official: &Official, case: CaseId) -> Result<(), ApprovalError> {
    if is_conflicted(store, official, case).await? {
        return Err(ApprovalError::ConflictOfInterest);
    }
    Ok(())
}

/// Who may act on a case: a handläggare with their personnummer on the
/// account (the identity of four eyes and the key of the jäv rule) who is
/// not an administratör, on this account or on another of theirs.
pub async fn may_decide(store: &Store, by: &Official, what: &str) -> Result<(), ApprovalError> {
    require(by, Role::Handlaggare, what)?;
    if by.has(Role::Administrator) {
        return Err(ApprovalError::Forbidden(
            "en administratör kan inte besluta i ärenden (den som ger behörigheter ska inte själv kunna besluta)"
                .into(),
        ));
    }
    let Some(me) = &by.personnummer else {
        return Err(ApprovalError::Forbidden(
            "ditt konto saknar personnummer, som behövs för jävskontrollen och för att två godkännanden ska vara två personers; be en administratör lägga in det".into(),
        ));
    };
    for u in store.list_users().await? {
        if u.id == by.user_id || u.disabled || !u.roles.contains(&Role::Administrator) {
            continue;
        }
        if crate::accounts::personnummer_of(store, &u).as_ref() == Some(me) {
            return Err(ApprovalError::Forbidden(
                "du är administratör på ett annat konto och kan därför inte besluta i ärenden".into(),
            ));
        }
    }
    Ok(())
}

/// The longest text an official writes in one field (motivering, reason,
/// comment, reply, row text).
pub const MAX_TEXT_CHARS: usize = 2000;

/// A text an official writes: trimmed, 1–[`MAX_TEXT_CHARS`] characters, no
/// control characters but line breaks and tabs (a NUL or an escape sequence
/// has no place in a letter or a log).
pub fn check_text<'a>(text: &'a str, what: &str) -> Result<&'a str, ApprovalError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > MAX_TEXT_CHARS {
        return Err(ApprovalError::Invalid(format!(
            "{what} måste fyllas i (högst {} tecken).",
            MAX_TEXT_CHARS
        )));
    }
    no_control_chars(t, what)?;
    Ok(t)
}

/// Whether a text has control characters other than line breaks and tabs.
pub fn has_control_chars(t: &str) -> bool {
    t.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Refuses control characters but line breaks and tabs.
fn no_control_chars(t: &str, what: &str) -> Result<(), ApprovalError> {
    if has_control_chars(t) {
        return Err(ApprovalError::Invalid(format!(
            "{what} innehåller otillåtna styrtecken."
        )));
    }
    Ok(())
}

/// The texts of an official's own ruling: motivering, row texts and reasons.
fn check_ruling_texts(ruling: &Ruling) -> Result<(), ApprovalError> {
    match ruling {
        Ruling::Proposal => Ok(()),
        Ruling::Avslag { motivering } => check_text(motivering, "Motiveringen").map(|_| ()),
        Ruling::Rows { changes, motivering } => {
            check_text(motivering, "Motiveringen")?;
            for c in changes {
                match c {
                    RowChange::Add { label, reason, .. } => {
                        check_text(label, "Radens text")?;
                        check_text(reason, "Skälet för raden")?;
                    }
                    RowChange::Change { reason, .. } | RowChange::Remove { reason, .. } => {
                        check_text(reason, "Skälet för ändringen")?;
                    }
                }
            }
            Ok(())
        }
    }
}

/// Holds a decision to the plausibility bounds of the settings.
fn check_bounds(settings: &ApprovalSettings, record: &DecisionRecord) -> Result<(), ApprovalError> {
    let max = Money::from_kronor(settings.max_amount_kr).unwrap_or(Money::ZERO);
    let too_big = |m: Money| m.ore().unsigned_abs() > max.ore().unsigned_abs();
    if too_big(record.amount) || record.rows.iter().any(|r| too_big(r.amount)) {
        return Err(ApprovalError::Invalid(format!(
            "Beloppet är orimligt stort: högst {} kr per månad och rad. Kontrollera beloppet.",
            settings.max_amount_kr
        )));
    }
    if record.rows.len() > settings.max_rows {
        return Err(ApprovalError::Invalid(format!(
            "Beslutet har för många rader (högst {}).",
            settings.max_rows
        )));
    }
    Ok(())
}

async fn load(tx: &mut StoreTx, case: CaseId) -> Result<(Input, i64, Draft), ApprovalError> {
    let doc = tx.document(case).await?;
    let app = Ruleset::read_stored(&doc).ok_or(ApprovalError::NotAwaitingApproval)?;
    let (draft_id, json) = tx.latest_draft(case).await?.ok_or(ApprovalError::NotAwaitingApproval)?;
    let draft = Draft::from_json(&json).map_err(|e| StoreError::Corrupt(format!("draft of case {case}: {e}")))?;
    Ok((app, draft_id, draft))
}

fn record_of(row: &DecisionRow) -> Result<DecisionRecord, ApprovalError> {
    let json = row
        .record
        .as_deref()
        .ok_or_else(|| StoreError::Corrupt(format!("decision {} of case {} has no record", row.id, row.case_id)))?;
    Ok(DecisionRecord::from_json(json)
        .map_err(|e| StoreError::Corrupt(format!("decision {} of case {}: {e}", row.id, row.case_id)))?)
}

/// The case's diarienummer, or its case number where intake gave none
/// (a case stored before diarienummer existed).
async fn diarienummer(store_tx: &mut StoreTx, case: CaseId) -> Result<String, ApprovalError> {
    Ok(store_tx
        .diarienummer(case)
        .await?
        .unwrap_or_else(|| format!("Ärende {case}")))
}

/// Everything an official submits with a decision.
#[derive(Debug, Clone)]
pub struct DecisionRequest {
    pub ruling: Ruling,
    /// Codes of the draft's assessments the official confirms.
    pub confirmed: Vec<String>,
    /// The FL 25 § ground for deciding without kommunicering, and the
    /// official's explanation.
    pub skip_kommunicering: Option<(SkipGround, String)>,
}

impl DecisionRequest {
    pub fn approve() -> DecisionRequest {
        DecisionRequest {
            ruling: Ruling::Proposal,
            confirmed: Vec::new(),
            skip_kommunicering: None,
        }
    }
}

/// Whether a decision goes against the applicant (FL 25 §): avslag,
/// delvis bifall, or less than the robot proposed.
pub fn adverse(record: &DecisionRecord) -> bool {
    matches!(record.outcome, Outcome::Avslag | Outcome::DelvisBifall)
        || record.proposed_amount.is_some_and(|p| record.amount < p)
}

/// Whether the decision rests on facts the applicant has not supplied:
/// what the draft lists (register answers, a cap after the notice period),
/// or the officials' own findings (any change to the proposal).
pub fn rests_on_new_facts(draft: &Draft, record: &DecisionRecord) -> bool {
    !draft.kommunicering().is_empty() || record.departs_from_proposal()
}

/// How kommunicering was done for this decision, or an error when it is
/// needed and neither done nor skipped on a ground.
async fn kommunicering_outcome(
    tx: &mut StoreTx,
    case: CaseId,
    draft: &Draft,
    record: &DecisionRecord,
    skip: &Option<(SkipGround, String)>,
) -> Result<KommuniceringOutcome, ApprovalError> {
    let done = tx
        .kommuniceringar(case)
        .await?
        .into_iter()
        .rev()
        .find(|k| k.closed.is_some());
    if let Some(k) = done {
        return Ok(match (k.closed.as_deref(), k.reply_at) {
            (Some("answered"), Some(at)) => KommuniceringOutcome::Answered {
                sent_on: brev::date(k.sent),
                reply_on: brev::date(at),
            },
            _ => KommuniceringOutcome::NoReply {
                sent_on: brev::date(k.sent),
                deadline: brev::date(k.deadline),
            },
        });
    }
    if let Some((ground, text)) = skip {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 2000 {
            return Err(ApprovalError::Invalid(
                "Förklara varför kommunicering inte behövs (högst 2 000 tecken).".into(),
            ));
        }
        return Ok(KommuniceringOutcome::Skipped {
            ground: ground.as_str().into(),
            text: text.to_string(),
        });
    }
    if adverse(record) && rests_on_new_facts(draft, record) {
        return Err(ApprovalError::KommuniceringNeeded);
    }
    Ok(KommuniceringOutcome::NotNeeded)
}

fn confirmed_assessments(
    draft: &Draft,
    confirmed: &[String],
    ruling: &Ruling,
) -> Result<Vec<ConfirmedAssessment>, ApprovalError> {
    // An official who decides differently from the proposal states their
    // own grounds; the proposal's assessments are then not what is decided.
    if !matches!(ruling, Ruling::Proposal) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for a in draft.assessments() {
        if !confirmed.iter().any(|c| c == &a.code) {
            return Err(ApprovalError::Invalid(format!(
                "Bekräfta bedömningen innan du godkänner: {}",
                a.text
            )));
        }
        out.push(ConfirmedAssessment {
            code: a.code.clone(),
            text: a.text.clone(),
        });
    }
    Ok(out)
}

fn record_hash(record: &DecisionRecord) -> String {
    use sha2::Digest;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(record.to_json().as_bytes()))
    )
}

/// What the audit log says was decided: outcome, basis, the content hash
/// of the record, the ruleset; amounts and texts stay in the case store.
fn decided_payload(
    stage: &str,
    record: &DecisionRecord,
    four_eyes: bool,
    application_sha256: &str,
) -> serde_json::Value {
    json!({
        "application_sha256": application_sha256,
        "stage": stage,
        "four_eyes": four_eyes,
        "amended": record.departs_from_proposal(),
        "outcome": record.outcome.as_str(),
        "basis": AmendedBasis::of(&record.basis).as_str(),
        "diarienummer": record.diarienummer,
        "record_sha256": record_hash(record),
        "assessments_confirmed": record.assessments.iter().map(|a| a.code.clone()).collect::<Vec<_>>(),
        "kommunicering": match &record.kommunicering {
            KommuniceringOutcome::NotNeeded => "not_needed".to_string(),
            KommuniceringOutcome::Answered { .. } => "answered".to_string(),
            KommuniceringOutcome::NoReply { .. } => "no_reply".to_string(),
            KommuniceringOutcome::Skipped { ground, .. } => format!("skipped:{ground}"),
        },
    })
}

/// The delivery channel decisions go out through (recorded on the outbox row).
pub struct Channel<'a>(pub &'a str);

/// Approves the case's draft as proposed (first or second approval).
pub async fn approve(
    store: &Store,
    settings: &ApprovalSettings,
    channel: &Channel<'_>,
    case: CaseId,
    by: &Official,
) -> Result<ApprovalResult, ApprovalError> {
    decide(store, settings, channel, case, by, &DecisionRequest::approve()).await
}

/// Decides differently from the draft: rows changed, or avslag, with a
/// motivering. The result is the officials' decision and says so.
pub async fn amend(
    store: &Store,
    settings: &ApprovalSettings,
    channel: &Channel<'_>,
    case: CaseId,
    by: &Official,
    amendment: &Amendment,
) -> Result<ApprovalResult, ApprovalError> {
    if matches!(amendment, Ruling::Proposal) {
        return Err(ApprovalError::Invalid(
            "En ändring ändrar rader eller avslår ansökan.".into(),
        ));
    }
    let req = DecisionRequest {
        ruling: amendment.clone(),
        confirmed: Vec::new(),
        skip_kommunicering: None,
    };
    decide(store, settings, channel, case, by, &req).await
}

/// The one way a decision is made: the first official's ruling becomes a
/// record (pending when a second official must approve); the second
/// official approves exactly that record. The letter is rendered from the
/// final record, inside the transaction that records the last approval.
pub async fn decide(
    store: &Store,
    settings: &ApprovalSettings,
    channel: &Channel<'_>,
    case: CaseId,
    by: &Official,
    req: &DecisionRequest,
) -> Result<ApprovalResult, ApprovalError> {
    may_decide(store, by, "besluta").await?;
    check_ruling_texts(&req.ruling)?;
    let mut tx = store.begin().await?;
    let state = tx.state(case).await?;
    let (app, draft_id, draft) = load(&mut tx, case).await?;
    check_conflict(by, &app)?;
    let doc_hash = crate::store::sha256(&tx.document(case).await?);
    let actor = by.actor();
    // What was decided, sealed for the applicant: readable by an auditor
    // with the key, gone when the subject's key is erased.
    let sealed = |record: &DecisionRecord| (app.applicant(), json!({"record": record.to_json()}));
    let result = match state.at() {
        At::AwaitingApproval(w) => {
            let (record, needs_second) = first_record(&mut tx, settings, case, by, req, &draft).await?;
            let amended = record.departs_from_proposal();
            let decision = NewDecision {
                case_id: case,
                draft_id,
                outcome: record.outcome,
                amount: record.amount,
                amendment: amended.then(|| AmendmentNote {
                    basis: AmendedBasis::of(&record.basis),
                    rows_changed: record
                        .rows
                        .iter()
                        .filter(|r| r.origin != domain::RowOrigin::Proposal)
                        .count()
                        + record.removed.len(),
                }),
                needs_second,
                by_user: by.user_id,
                by_name: by.display_name.clone(),
                record: record.to_json(),
            };
            let id = tx.insert_decision(&decision).await?;
            // The event is named for what this official did: `amended` when
            // they decided differently from the proposal, `approved` when
            // they approved it.
            let kind = if amended {
                audit::EventKind::Amended
            } else {
                audit::EventKind::Approved
            };
            if needs_second {
                tx.step_with(
                    case,
                    w.first_approval(),
                    Some(kind),
                    &actor,
                    None,
                    decided_payload("first", &record, true, &doc_hash),
                    Some(sealed(&record)),
                )
                .await?;
                ApprovalResult::AwaitingSecondApproval
            } else {
                let step = if amended { w.amended() } else { w.approved() };
                tx.step_with(
                    case,
                    step,
                    Some(kind),
                    &actor,
                    None,
                    decided_payload("only", &record, false, &doc_hash),
                    Some(sealed(&record)),
                )
                .await?;
                let d = approved(settings, case, &app, &record, id)?;
                enqueue(&mut tx, &d, channel.0).await?;
                ApprovalResult::Approved
            }
        }
        At::AwaitingSecondApproval(s) => {
            if !matches!(req.ruling, Ruling::Proposal) {
                return Err(ApprovalError::Invalid(
                    "Ärendet väntar på en andra granskare: godkänn det första beslutet eller lämna ärendet till manuell handläggning.".into(),
                ));
            }
            let (pending, record) = second_record(store, &mut tx, case, by).await?;
            tx.finalize_decision(pending.id, by.user_id, &by.display_name, &record.to_json())
                .await?;
            let step = if record.departs_from_proposal() {
                s.amended()
            } else {
                s.approved()
            };
            // The second official approves the first one's record, whether
            // it amends the proposal or not.
            tx.step_with(
                case,
                step,
                Some(audit::EventKind::Approved),
                &actor,
                None,
                decided_payload("second", &record, true, &doc_hash),
                Some(sealed(&record)),
            )
            .await?;
            let d = approved(settings, case, &app, &record, pending.id)?;
            enqueue(&mut tx, &d, channel.0).await?;
            ApprovalResult::Approved
        }
        _ => return Err(ApprovalError::NotAwaitingApproval),
    };
    tx.commit().await?;
    // Ids only: the case, the application's correlation id, what happened.
    let correlation_id = store.correlation_id(case).await.ok().flatten().unwrap_or_default();
    tracing::info!(
        case_id = case,
        correlation_id = %correlation_id,
        result = match result {
            ApprovalResult::Approved => "approved",
            ApprovalResult::AwaitingSecondApproval => "awaiting_second_approval",
        },
        "decision recorded"
    );
    Ok(result)
}

/// The record the first official's ruling makes, checked (assessments,
/// kommunicering, bounds), and whether a second official must approve it.
async fn first_record(
    tx: &mut StoreTx,
    settings: &ApprovalSettings,
    case: CaseId,
    by: &Official,
    req: &DecisionRequest,
    draft: &Draft,
) -> Result<(DecisionRecord, bool), ApprovalError> {
    let now = tx.now();
    let law = settings.law.letter_law(draft.ruleset(), draft.period());
    let input = DecisionInput {
        draft,
        ruling: req.ruling.clone(),
        motivering_lagrum: law.motivering_lagrum.clone(),
        assessments: confirmed_assessments(draft, &req.confirmed, &req.ruling)?,
        signatories: vec![by.signatory(SignatoryRole::Beslutsfattare)],
        diarienummer: diarienummer(tx, case).await?,
        decided_on: brev::date(now),
        kommunicering: KommuniceringOutcome::NotNeeded,
        fixed_amount: fixes_amount(draft),
    };
    let mut record = DecisionRecord::build(input)?;
    record.kommunicering = kommunicering_outcome(tx, case, draft, &record, &req.skip_kommunicering).await?;
    check_bounds(settings, &record)?;
    let needs_second = needs_second_official(settings, &record).is_some();
    Ok((record, needs_second))
}

/// Why a decision needs a second official before it is sent, in Swedish,
/// or `None` when one official decides alone.
pub fn needs_second_official(settings: &ApprovalSettings, record: &DecisionRecord) -> Option<String> {
    let four_eyes_from = Money::from_kronor(settings.four_eyes_from_kr).unwrap_or(Money::ZERO);
    if record.departs_from_proposal() && settings.four_eyes_on_amend {
        return Some(
            "Beslutet avviker från robotens förslag, och ett ändrat beslut godkänns av två handläggare.".into(),
        );
    }
    if record.amount >= four_eyes_from {
        return Some(format!(
            "Beloppet är {} eller mer, och sådana beslut godkänns av två handläggare.",
            brev::kr(four_eyes_from)
        ));
    }
    None
}

/// The pending record as the second official would make it final: the
/// first official becomes föredragande, this one beslutsfattare. Refuses
/// the first official, under any of their accounts.
async fn second_record(
    store: &Store,
    tx: &mut StoreTx,
    case: CaseId,
    by: &Official,
) -> Result<(DecisionRow, DecisionRecord), ApprovalError> {
    let now = tx.now();
    let pending = tx.pending_decision(case).await?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "case {case} awaits a second approval but has no pending decision"
        ))
    })?;
    if pending.first_by == by.user_id {
        return Err(ApprovalError::SameApprover);
    }
    // Four eyes are two persons, not two accounts.
    if let (Some(first), Some(me)) = (store.user_by_id(pending.first_by).await?, &by.personnummer)
        && crate::accounts::personnummer_of(store, &first).as_ref() == Some(me)
    {
        return Err(ApprovalError::SameApprover);
    }
    let mut record = record_of(&pending)?;
    for s in &mut record.signatories {
        s.role = SignatoryRole::Foredragande;
    }
    record.signatories.push(by.signatory(SignatoryRole::Beslutsfattare));
    record.decided_on = brev::date(now);
    record.check()?;
    Ok((pending, record))
}

/// What approving or amending would do, worked out in a transaction that
/// is rolled back: the record, whether it then waits for a second
/// official (and why), and the letter the citizen would get. The
/// confirmation step shows this before the official commits.
pub struct Planned {
    pub record: DecisionRecord,
    /// Why a second official must still approve; `None`: this approval
    /// sends the letter.
    pub waits_for_second: Option<String>,
    /// The letter as it will be sent (rendered only when this approval is
    /// the last one).
    pub letter: Option<letter::Rendered>,
    /// Whom the case is about (the recipients).
    pub people: Vec<sandbox::Person>,
}

pub async fn plan(
    store: &Store,
    settings: &ApprovalSettings,
    case: CaseId,
    by: &Official,
    req: &DecisionRequest,
) -> Result<Planned, ApprovalError> {
    may_decide(store, by, "besluta").await?;
    check_ruling_texts(&req.ruling)?;
    let mut tx = store.begin().await?;
    let state = tx.state(case).await?;
    let (app, _, draft) = load(&mut tx, case).await?;
    check_conflict(by, &app)?;
    let (record, waits_for_second) = match state {
        CaseState::AwaitingApproval => {
            let (record, _) = first_record(&mut tx, settings, case, by, req, &draft).await?;
            let why = needs_second_official(settings, &record);
            (record, why)
        }
        CaseState::AwaitingSecondApproval => {
            if !matches!(req.ruling, Ruling::Proposal) {
                return Err(ApprovalError::Invalid(
                    "Ärendet väntar på en andra granskare: godkänn det första beslutet eller lämna ärendet till manuell handläggning.".into(),
                ));
            }
            let (_, record) = second_record(store, &mut tx, case, by).await?;
            (record, None)
        }
        _ => return Err(ApprovalError::NotAwaitingApproval),
    };
    drop(tx);
    let letter = match waits_for_second {
        Some(_) => None,
        None => {
            let law = settings.law.letter_law(&record.ruleset, record.period);
            Some(brev::decision_letter(
                settings,
                &law,
                &app,
                &record,
                brev::LetterState::Final,
            )?)
        }
    };
    Ok(Planned {
        record,
        waits_for_second,
        letter,
        people: app.people(),
    })
}

/// Makes the approved decision (the letter included) from a final record.
fn approved(
    settings: &ApprovalSettings,
    case: CaseId,
    app: &Input,
    record: &DecisionRecord,
    decision_id: i64,
) -> Result<ApprovedDecision, ApprovalError> {
    let law = settings.law.letter_law(&record.ruleset, record.period);
    Ok(ApprovedDecision {
        case_id: case,
        decision_id,
        letter: brev::decision_letter(settings, &law, app, record, brev::LetterState::Final)?,
    })
}

// ---------------------------------------------------------------- kommunicering

/// Sends the applicant a kommuniceringsbrev (FL 25 §): the facts the
/// proposal rests on that they have not supplied, the official's own
/// findings, and a deadline to reply. The case waits until the reply is
/// recorded or the deadline passes.
pub async fn send_kommunicering(
    store: &Store,
    settings: &ApprovalSettings,
    channel: &Channel<'_>,
    case: CaseId,
    by: &Official,
    own_findings: &str,
) -> Result<(), ApprovalError> {
    may_decide(store, by, "kommunicera").await?;
    let own = own_findings.trim();
    if own.chars().count() > MAX_TEXT_CHARS {
        return Err(ApprovalError::Invalid(format!(
            "Dina egna uppgifter får vara högst {MAX_TEXT_CHARS} tecken."
        )));
    }
    no_control_chars(own, "Dina egna uppgifter")?;
    let mut tx = store.begin().await?;
    let now = tx.now();
    let state = tx.state(case).await?;
    let (app, draft_id, draft) = load(&mut tx, case).await?;
    check_conflict(by, &app)?;
    let At::AwaitingApproval(w) = state.at() else {
        return Err(ApprovalError::NotAwaitingApproval);
    };
    let mut facts: Vec<kommunicering::Fact> = draft
        .kommunicering()
        .iter()
        .map(|k| kommunicering::Fact {
            code: k.code.clone(),
            text: k.text.clone(),
        })
        .collect();
    if !own.is_empty() {
        facts.push(kommunicering::Fact {
            code: "handlaggarens_uppgifter".into(),
            text: own.to_string(),
        });
    }
    if facts.is_empty() {
        return Err(ApprovalError::Invalid(
            "Det finns inga uppgifter att kommunicera: skriv vilka uppgifter den sökande ska få yttra sig över.".into(),
        ));
    }
    let deadline = kommunicering::deadline(now, settings.kommunicering_reply_days);
    let sent = kommunicering::Sent {
        facts,
        deadline_on: brev::date(deadline),
    };
    let facts_json = serde_json::to_string(&sent).map_err(|e| ApprovalError::Letter(e.to_string()))?;
    let id = tx
        .insert_kommunicering(&NewKommunicering {
            case_id: case,
            draft_id,
            facts: &facts_json,
            by_user: by.user_id,
            by_name: &by.display_name,
            deadline,
        })
        .await?;
    let dnr = diarienummer(&mut tx, case).await?;
    let law = settings.law.letter_law(draft.ruleset(), draft.period());
    let letter = brev::kommunicering_letter(settings, &law, &app, &draft, &dnr, &sent, by, now)?;
    let key = format!("hrobot:case:{case}:kommunicering:{id}");
    tx.insert_outbox(&NewOutboxItem {
        case_id: case,
        kind: LetterKind::Kommunicering,
        decision_id: None,
        kommunicering_id: Some(id),
        channel: channel.0,
        idempotency_key: &key,
        recipient: None,
        letter_html: &letter.html,
        letter_text: &letter.text,
        letter_pdf: &letter.pdf,
    })
    .await?;
    tx.step(
        case,
        w.kommunicering_sent(),
        &by.actor(),
        None,
        json!({"kommunicering_id": id, "facts": sent.facts.iter().map(|f| f.code.clone()).collect::<Vec<_>>(), "deadline": sent.deadline_on, "diarienummer": dnr}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Where a reply to a kommunicering came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyChannel {
    Web,
    Api,
    Eservice,
}

impl ReplyChannel {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReplyChannel::Web => "web",
            ReplyChannel::Api => "api",
            ReplyChannel::Eservice => "eservice",
        }
    }
}

/// Records the applicant's reply; the case goes back to the queue.
pub async fn record_reply(
    store: &Store,
    case: CaseId,
    actor: &str,
    by: Option<&Official>,
    channel: ReplyChannel,
    reply: &str,
) -> Result<(), ApprovalError> {
    if let Some(by) = by {
        may_decide(store, by, "registrera svar").await?;
    }
    let reply = reply.trim();
    if reply.is_empty() || reply.chars().count() > 20_000 {
        return Err(ApprovalError::Invalid("Svaret ska ha 1–20 000 tecken.".into()));
    }
    no_control_chars(reply, "Svaret")?;
    let mut tx = store.begin().await?;
    let state = tx.state(case).await?;
    if let Some(by) = by {
        let doc = tx.document(case).await?;
        if let Some(app) = Ruleset::read_stored(&doc) {
            check_conflict(by, &app)?;
        }
    }
    let At::Kommunicering(k) = state.at() else {
        return Err(ApprovalError::Invalid(
            "Ärendet väntar inte på svar på en kommunicering.".into(),
        ));
    };
    let open = tx
        .kommuniceringar(case)
        .await?
        .into_iter()
        .find(|k| k.closed.is_none())
        .ok_or_else(|| StoreError::Corrupt(format!("case {case} waits for a reply but has no open kommunicering")))?;
    tx.close_kommunicering(open.id, "answered", Some((reply, channel.as_str(), actor)))
        .await?;
    tx.step(
        case,
        k.answered(),
        actor,
        None,
        json!({"kommunicering_id": open.id, "channel": channel.as_str(), "chars": reply.chars().count(), "reply_sha256": crate::store::sha256(reply.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves every case whose reply deadline has passed back to the queue,
/// marked. Returns how many.
pub async fn expire_kommuniceringar(store: &Store) -> Result<usize, ApprovalError> {
    let due = store.due_kommuniceringar(100).await?;
    let mut n = 0;
    for case in due {
        let mut tx = store.begin().await?;
        let state = tx.state(case).await?;
        let At::Kommunicering(k) = state.at() else {
            continue;
        };
        let Some(open) = tx.kommuniceringar(case).await?.into_iter().find(|k| k.closed.is_none()) else {
            continue;
        };
        if open.deadline >= tx.now() {
            continue;
        }
        tx.close_kommunicering(open.id, "expired", None).await?;
        tx.step(
            case,
            k.deadline_passed(),
            "robot:kommunicering",
            Some("Svarstiden för kommuniceringen har gått ut utan svar."),
            json!({"kommunicering_id": open.id}),
        )
        .await?;
        tx.commit().await?;
        n += 1;
    }
    Ok(n)
}

/// Sends the case to manual handling outside the robot, with a reason.
pub async fn return_to_manual(store: &Store, case: CaseId, by: &Official, reason: &str) -> Result<(), ApprovalError> {
    may_decide(store, by, "lämna ärenden till manuell handläggning").await?;
    let reason = check_text(reason, "Skälet till manuell handläggning")?;
    let mut tx = store.begin().await?;
    let state = tx.state(case).await?;
    let doc = tx.document(case).await?;
    if let Some(app) = Ruleset::read_stored(&doc) {
        check_conflict(by, &app)?;
    }
    let step = match state.at() {
        At::AwaitingApproval(w) => w.returned_to_manual(),
        At::AwaitingSecondApproval(s) => s.returned_to_manual(),
        At::Kommunicering(k) => {
            if let Some(open) = tx.kommuniceringar(case).await?.into_iter().find(|k| k.closed.is_none()) {
                tx.close_kommunicering(open.id, "expired", None).await?;
            }
            k.returned_to_manual()
        }
        _ => return Err(ApprovalError::NotAwaitingApproval),
    };
    tx.step(
        case,
        step,
        &by.actor(),
        Some(reason),
        json!({"reason_sha256": crate::store::sha256(reason.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Assigns the case to an official (or unassigns it with `None`).
pub async fn assign(store: &Store, case: CaseId, by: &Official, to: Option<i64>) -> Result<(), ApprovalError> {
    may_decide(store, by, "fördela ärenden").await?;
    check_may_read(store, by, case).await?;
    let state = store.case_detail(case).await?.summary.state;
    if !(undecided(state) || state == CaseState::ReturnedToManual) {
        return Err(ApprovalError::Invalid(
            "Bara ärenden som inte är beslutade kan fördelas.".into(),
        ));
    }
    if let Some(id) = to {
        let refused = || {
            ApprovalError::Invalid("Ärendet kan bara fördelas till en aktiv handläggare som får besluta i det.".into())
        };
        let user = store.user_by_id(id).await?.ok_or_else(refused)?;
        let official = crate::officials::official(&user, store.audit().keys()).map_err(|_| refused())?;
        if user.disabled || may_decide(store, &official, "besluta").await.is_err() {
            return Err(refused());
        }
        if is_conflicted(store, &official, case).await? {
            return Err(ApprovalError::Invalid(
                "Ärendet kan inte fördelas till den handläggaren: hen ingår i hushållet (jäv).".into(),
            ));
        }
    }
    let mut tx = store.begin().await?;
    tx.set_assigned(case, to).await?;
    let e = audit::Event::new(
        audit::EventKind::Assigned,
        audit::Actor::parse(&by.actor()).map_err(StoreError::from)?,
        tx.now(),
    )
    .with_case(audit::CaseRef::parse(&format!("case:{case}")).map_err(StoreError::from)?)
    .with_payload(json!({"to": to}))
    .map_err(StoreError::from)?;
    tx.record(e);
    tx.commit().await?;
    Ok(())
}

/// A comment on the case, for colleagues (audited; the text is kept in the
/// case store, not in the log's public part).
pub async fn comment(store: &Store, case: CaseId, by: &Official, text: &str) -> Result<(), ApprovalError> {
    may_decide(store, by, "kommentera ärenden").await?;
    let text = check_text(text, "Kommentaren")?;
    check_may_read(store, by, case).await?;
    let mut tx = store.begin().await?;
    tx.state(case).await?;
    tx.insert_comment(case, by.user_id, &by.display_name, text).await?;
    let e = audit::Event::new(
        audit::EventKind::Commented,
        audit::Actor::parse(&by.actor()).map_err(StoreError::from)?,
        tx.now(),
    )
    .with_case(audit::CaseRef::parse(&format!("case:{case}")).map_err(StoreError::from)?)
    .with_payload(json!({"chars": text.chars().count(), "text_sha256": crate::store::sha256(text.as_bytes())}))
    .map_err(StoreError::from)?;
    tx.record(e);
    tx.commit().await?;
    Ok(())
}

/// Everything the case page shows.
#[derive(Debug)]
pub struct CaseView {
    pub detail: CaseDetail,
    pub application: Option<Input>,
    pub draft: Option<Draft>,
    pub decisions: Vec<DecisionRow>,
    /// The pending decision's record (what a second approver approves), or the final one.
    pub record: Option<DecisionRecord>,
    pub kommuniceringar: Vec<KommuniceringRow>,
    pub comments: Vec<CommentRow>,
    pub outbox: Option<OutboxStatus>,
    pub assigned_to: Option<i64>,
    /// Other cases of the same household, newest first.
    pub earlier: Vec<CaseSummary>,
}

#[derive(Debug, Clone)]
pub struct OutboxStatus {
    pub channel: String,
    pub status: crate::store::DeliveryStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub receipt: Option<String>,
}

pub async fn case_view(store: &Store, case: CaseId) -> Result<CaseView, ApprovalError> {
    let detail = store.case_detail(case).await?;
    let mut tx = store.begin().await?;
    let decisions = tx.decisions(case).await?;
    let kommuniceringar = tx.kommuniceringar(case).await?;
    let comments = tx.comments(case).await?;
    let outbox = tx
        .outbox_for_case(case, LetterKind::Beslut)
        .await?
        .map(|o| OutboxStatus {
            channel: o.channel,
            status: o.status,
            attempts: o.attempts,
            last_error: o.last_error,
            receipt: o.receipt,
        });
    let assigned_to = tx.assigned(case).await?;
    let earlier = tx.household_cases(case, 20).await?;
    drop(tx);
    let record = decisions
        .iter()
        .rev()
        .find(|d| d.final_ || detail.summary.state == CaseState::AwaitingSecondApproval)
        .and_then(|d| record_of(d).ok());
    let application = Ruleset::read_stored(&detail.document);
    let draft = detail.draft_json.as_deref().and_then(|j| Draft::from_json(j).ok());
    Ok(CaseView {
        detail,
        application,
        draft,
        decisions,
        record,
        kommuniceringar,
        comments,
        outbox,
        assigned_to,
        earlier,
    })
}

/// The letter: the one in the outbox once decided; else a preview of the
/// pending decision (what a second approver approves), or of the proposal.
pub async fn letter_html(store: &Store, settings: &ApprovalSettings, case: CaseId) -> Result<String, ApprovalError> {
    Ok(letter_for(store, settings, case).await?.html)
}

pub async fn letter_pdf(store: &Store, settings: &ApprovalSettings, case: CaseId) -> Result<Vec<u8>, ApprovalError> {
    Ok(letter_for(store, settings, case).await?.pdf)
}

/// The case's kommuniceringsbrev as sent (the newest), if any.
pub async fn kommunicering_letter(store: &Store, case: CaseId) -> Result<Option<letter::Rendered>, ApprovalError> {
    let mut tx = store.begin().await?;
    Ok(tx
        .outbox_for_case(case, LetterKind::Kommunicering)
        .await?
        .map(|o| letter::Rendered {
            html: o.letter_html,
            text: o.letter_text,
            pdf: o.letter_pdf,
        }))
}

async fn letter_for(
    store: &Store,
    settings: &ApprovalSettings,
    case: CaseId,
) -> Result<letter::Rendered, ApprovalError> {
    let mut tx = store.begin().await?;
    if let Some(o) = tx.outbox_for_case(case, LetterKind::Beslut).await? {
        return Ok(letter::Rendered {
            html: o.letter_html,
            text: o.letter_text,
            pdf: o.letter_pdf,
        });
    }
    let now = tx.now();
    let state = tx.state(case).await?;
    let (app, _, draft) = load(&mut tx, case).await?;
    let pending = if state == CaseState::AwaitingSecondApproval {
        tx.pending_decision(case).await?
    } else {
        None
    };
    let dnr = diarienummer(&mut tx, case).await?;
    drop(tx);
    let law = settings.law.letter_law(draft.ruleset(), draft.period());
    let record = match pending {
        Some(p) => record_of(&p)?,
        None => {
            let input = DecisionInput {
                draft: &draft,
                ruling: Ruling::Proposal,
                motivering_lagrum: law.motivering_lagrum.clone(),
                assessments: Vec::new(),
                signatories: vec![Signatory {
                    username: String::new(),
                    name: "(den handläggare som beslutar)".into(),
                    title: String::new(),
                    delegation: None,
                    role: SignatoryRole::Beslutsfattare,
                }],
                diarienummer: dnr,
                decided_on: brev::date(now),
                kommunicering: KommuniceringOutcome::NotNeeded,
                fixed_amount: fixes_amount(&draft),
            };
            match DecisionRecord::build(input) {
                Ok(r) => r,
                Err(_) => return brev::no_letter_yet(settings, &app, &draft, now),
            }
        }
    };
    brev::decision_letter(settings, &law, &app, &record, brev::LetterState::Preview)
}

/// Whether the case is in a state where nothing has been decided yet.
pub fn undecided(state: CaseState) -> bool {
    matches!(
        state,
        CaseState::AwaitingApproval | CaseState::AwaitingSecondApproval | CaseState::Kommunicering
    )
}
