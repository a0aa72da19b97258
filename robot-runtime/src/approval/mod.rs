//! The officials' decisions: approve, amend, return to manual handling,
//! assign, comment — with four-eyes and conflict-of-interest rules — and
//! the only path to the outbox.
//!
//! An [`ApprovedDecision`] is what the outbox accepts, and only this module
//! can make one: from a final decision, inside the transaction that records
//! the last approval. The database agrees: an outbox row needs a final
//! decision row for the same case (a trigger), and a final decision never
//! changes.

pub mod letter;
pub mod outbox;

use crate::store::{
    CaseDetail, CaseId, CaseSummary, CommentRow, DecisionRow, NewDecision, NewOutboxItem, Store, StoreError, StoreTx,
};
use domain::{Application, At, CaseState, Draft, Money, Outcome, Personnummer, Row};
use serde::Deserialize;
use serde_json::json;
use std::fmt;
use std::path::PathBuf;

/// What an official may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Approves, amends, returns, assigns and comments on cases.
    Handlaggare,
    /// Writes rulesets; reads cases.
    Regelforfattare,
    /// Users, robots and configuration; never decisions.
    Administrator,
    /// Reads everything, including the audit log; changes nothing.
    Revisor,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Handlaggare,
        Role::Regelforfattare,
        Role::Administrator,
        Role::Revisor,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Handlaggare => "handlaggare",
            Role::Regelforfattare => "regelforfattare",
            Role::Administrator => "administrator",
            Role::Revisor => "revisor",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Role::Handlaggare => "Handläggare",
            Role::Regelforfattare => "Regelförfattare",
            Role::Administrator => "Administratör",
            Role::Revisor => "Revisor",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// The signed-in official acting on a case.
#[derive(Clone)]
pub struct Official {
    pub user_id: i64,
    /// The login name (`[A-Za-z0-9._-]`); it is the audit log's actor.
    pub username: String,
    /// The name shown on decisions and letters.
    pub display_name: String,
    pub roles: Vec<Role>,
    /// For the conflict-of-interest rule: nobody decides on their own household.
    pub personnummer: Option<Personnummer>,
}

impl fmt::Debug for Official {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Official")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl Official {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    fn actor(&self) -> String {
        format!("user:{}", self.username)
    }
}

/// An official's change to the drafted decision.
#[derive(Debug, Clone)]
pub struct Amendment {
    pub outcome: Outcome,
    /// Whole kronor.
    pub amount: Money,
    /// Rows added to the calculation (a cost the robot did not know of, a correction).
    pub rows: Vec<Row>,
    /// Why: mandatory, and it goes into the letter.
    pub justification: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalSettings {
    /// Decisions of at least this amount need a second approver.
    pub four_eyes_from_kr: i64,
    /// Amended decisions always need a second approver.
    pub four_eyes_on_amend: bool,
    pub municipality: String,
    /// The board that decides and takes appeals, e.g. "Socialnämnden".
    pub board: String,
    /// The decision-letter template (XHTML, minijinja); the built-in one if unset.
    pub letter_template: Option<PathBuf>,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            four_eyes_from_kr: 15_000,
            four_eyes_on_amend: true,
            municipality: "Exempelkommun".into(),
            board: "Socialnämnden".into(),
            letter_template: None,
        }
    }
}

impl ApprovalSettings {
    fn template(&self) -> Result<String, ApprovalError> {
        match &self.letter_template {
            None => Ok(letter::DEFAULT_TEMPLATE.to_string()),
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
    #[error("beslutsbrevet: {0}")]
    Letter(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApprovalError {
    /// The HTTP status an API gives it.
    pub fn status(&self) -> u16 {
        match self {
            ApprovalError::Forbidden(_) | ApprovalError::ConflictOfInterest | ApprovalError::SameApprover => 403,
            ApprovalError::NotAwaitingApproval => 409,
            ApprovalError::Invalid(_) => 422,
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

/// The outbox's only way in.
async fn enqueue(tx: &mut StoreTx, d: &ApprovedDecision, channel: &str) -> Result<(), ApprovalError> {
    let key = d.idempotency_key();
    tx.insert_outbox(&NewOutboxItem {
        case_id: d.case_id,
        decision_id: d.decision_id,
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

fn check_conflict(by: &Official, app: &Application) -> Result<(), ApprovalError> {
    match &by.personnummer {
        Some(p) if app.subjects().any(|s| s == p) => Err(ApprovalError::ConflictOfInterest),
        _ => Ok(()),
    }
}

async fn load(tx: &mut StoreTx, case: CaseId) -> Result<(Application, i64, Draft), ApprovalError> {
    let doc = tx.document(case).await?;
    let app = Application::parse(&doc).map_err(|_| ApprovalError::NotAwaitingApproval)?;
    let (draft_id, json) = tx.latest_draft(case).await?.ok_or(ApprovalError::NotAwaitingApproval)?;
    let draft = Draft::from_json(&json).map_err(|e| StoreError::Corrupt(format!("draft of case {case}: {e}")))?;
    Ok((app, draft_id, draft))
}

/// The letter for a decision (or, with `decision = None`, the draft's preview).
fn render_letter(
    settings: &ApprovalSettings,
    case: CaseId,
    app: &Application,
    draft: &Draft,
    decision: Option<(&DecisionRow, &[String])>,
    today: chrono::NaiveDate,
) -> Result<letter::Rendered, ApprovalError> {
    let period = letter::period_label(draft.period());
    let (outcome, amount, amendment) = match decision {
        Some((d, _)) => (d.outcome, Some(d.amount), d.amendment.as_deref()),
        None => (draft.outcome(), draft.amount(), None),
    };
    let amendment: Option<serde_json::Value> = amendment.and_then(|a| serde_json::from_str(a).ok());
    let amount_text = amount.map_or_else(|| "–".to_string(), |m| m.to_string());
    let decision_text = match outcome {
        Outcome::Bifall => format!("Du beviljas ekonomiskt bistånd (försörjningsstöd) med {amount_text} för {period}."),
        Outcome::DelvisBifall => format!(
            "Du beviljas ekonomiskt bistånd (försörjningsstöd) med {amount_text} för {period}. I övrigt avslås din ansökan."
        ),
        Outcome::Avslag => format!("Din ansökan om ekonomiskt bistånd (försörjningsstöd) för {period} avslås."),
        Outcome::Manuell => "Ansökan prövas av en handläggare.".to_string(),
    };
    let c = draft.calculation();
    let mut sections: Vec<letter::Section> = [
        ("Riksnorm", &c.norm),
        ("Skäliga kostnader", &c.costs),
        ("Inkomster", &c.incomes),
        ("Tillgångar", &c.assets),
    ]
    .into_iter()
    .map(|(title, s)| letter::Section {
        title: title.into(),
        rows: s
            .rows()
            .iter()
            .map(|r| letter::SectionRow {
                label: r.label.clone(),
                amount: r.amount.to_string(),
            })
            .collect(),
        total: s.total().to_string(),
    })
    .collect();
    if let Some(rows) = amendment
        .as_ref()
        .and_then(|a| a["rows"].as_array())
        .filter(|r| !r.is_empty())
    {
        let parsed: Vec<(String, Money)> = rows
            .iter()
            .filter_map(|r| {
                Some((
                    r["label"].as_str()?.to_string(),
                    serde_json::from_value::<Money>(r["amount_sek"].clone()).ok()?,
                ))
            })
            .collect();
        let total = Money::checked_sum(parsed.iter().map(|(_, m)| *m)).unwrap_or(Money::ZERO);
        sections.push(letter::Section {
            title: "Ändringar av handläggare".into(),
            rows: parsed
                .into_iter()
                .map(|(label, m)| letter::SectionRow {
                    label,
                    amount: m.to_string(),
                })
                .collect(),
            total: total.to_string(),
        });
    }
    let mut lagrum: Vec<String> = draft.reasons().iter().map(|r| r.lagrum.clone()).collect();
    lagrum.push("32 och 33 §§ förvaltningslagen (2017:900)".into());
    lagrum.dedup();
    let mut seen = std::collections::BTreeSet::new();
    lagrum.retain(|l| seen.insert(l.clone()));
    let applicant = app
        .household()
        .adults
        .iter()
        .find(|a| &a.personnummer == app.applicant())
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let data = letter::LetterData {
        municipality: settings.municipality.clone(),
        board: settings.board.clone(),
        date: letter::date_label(today),
        case_ref: format!("Ärende {case}"),
        external_id: app.external_id().to_string(),
        recipient_name: applicant,
        recipient_personnummer: app.applicant().formatted(),
        period_label: period,
        decision_text,
        amount: amount_text,
        amended: amendment.is_some(),
        amended_justification: amendment
            .as_ref()
            .and_then(|a| a["justification"].as_str().map(str::to_string))
            .unwrap_or_default(),
        reasons: draft
            .reasons()
            .iter()
            .map(|r| letter::ReasonLine {
                text: r.text.clone(),
                lagrum: r.lagrum.clone(),
            })
            .collect(),
        sections,
        lagrum,
        decided_by: decision.map(|(_, names)| names.to_vec()).unwrap_or_default(),
        preview: decision.is_none(),
    };
    letter::render(&settings.template()?, &data).map_err(|e| ApprovalError::Letter(e.to_string()))
}

/// Makes the approved decision (the letter included) for a final decision row.
fn approved(
    settings: &ApprovalSettings,
    case: CaseId,
    app: &Application,
    draft: &Draft,
    d: &DecisionRow,
    names: &[String],
    today: chrono::NaiveDate,
) -> Result<ApprovedDecision, ApprovalError> {
    Ok(ApprovedDecision {
        case_id: case,
        decision_id: d.id,
        letter: render_letter(settings, case, app, draft, Some((d, names)), today)?,
    })
}

/// The delivery channel decisions go out through (recorded on the outbox row).
pub struct Channel<'a>(pub &'a str);

/// Approves the case's draft (first or second approval).
pub async fn approve(
    store: &Store,
    settings: &ApprovalSettings,
    channel: &Channel<'_>,
    case: CaseId,
    by: &Official,
) -> Result<ApprovalResult, ApprovalError> {
    require(by, Role::Handlaggare, "godkänna beslut")?;
    let mut tx = store.begin().await?;
    let today = tx.now().date_naive();
    let state = tx.state(case).await?;
    let (app, draft_id, draft) = load(&mut tx, case).await?;
    check_conflict(by, &app)?;
    let actor = by.actor();
    let result = match state.at() {
        At::AwaitingApproval(w) => {
            let Some(amount) = draft.amount() else {
                return Err(ApprovalError::Invalid(
                    "Utkastet är en manuell bedömning utan belopp: ändra beslutet eller lämna ärendet till manuell handläggning."
                        .into(),
                ));
            };
            let needs_second = amount >= Money::from_kronor(settings.four_eyes_from_kr).unwrap_or(Money::ZERO);
            let decision = NewDecision {
                case_id: case,
                draft_id,
                outcome: draft.outcome(),
                amount,
                amendment: None,
                needs_second,
                by_user: by.user_id,
                by_name: by.display_name.clone(),
            };
            let id = tx.insert_decision(&decision).await?;
            if needs_second {
                tx.step(
                    case,
                    w.first_approval(),
                    &actor,
                    None,
                    json!({"stage": "first", "four_eyes": true}),
                )
                .await?;
                ApprovalResult::AwaitingSecondApproval
            } else {
                tx.step(case, w.approved(), &actor, None, json!({"stage": "only"}))
                    .await?;
                let row = tx.pending_or_final(case, id).await?;
                let d = approved(
                    settings,
                    case,
                    &app,
                    &draft,
                    &row,
                    std::slice::from_ref(&by.display_name),
                    today,
                )?;
                enqueue(&mut tx, &d, channel.0).await?;
                ApprovalResult::Approved
            }
        }
        At::AwaitingSecondApproval(s) => {
            let pending = tx.pending_decision(case).await?.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "case {case} awaits a second approval but has no pending decision"
                ))
            })?;
            if pending.first_by == by.user_id {
                return Err(ApprovalError::SameApprover);
            }
            tx.finalize_decision(pending.id, by.user_id, &by.display_name).await?;
            let step = if pending.amendment.is_some() {
                s.amended()
            } else {
                s.approved()
            };
            tx.step(case, step, &actor, None, json!({"stage": "second"})).await?;
            let row = tx.pending_or_final(case, pending.id).await?;
            let names = [pending.first_by_name.clone(), by.display_name.clone()];
            let d = approved(settings, case, &app, &draft, &row, &names, today)?;
            enqueue(&mut tx, &d, channel.0).await?;
            ApprovalResult::Approved
        }
        _ => return Err(ApprovalError::NotAwaitingApproval),
    };
    tx.commit().await?;
    Ok(result)
}

fn validate(a: &Amendment) -> Result<(), ApprovalError> {
    let j = a.justification.trim();
    if j.is_empty() {
        return Err(ApprovalError::Invalid("En ändring måste motiveras.".into()));
    }
    if j.chars().count() > 2000 {
        return Err(ApprovalError::Invalid(
            "Motiveringen får vara högst 2 000 tecken.".into(),
        ));
    }
    if !a.amount.is_whole_kronor() || a.amount.ore() < 0 {
        return Err(ApprovalError::Invalid(
            "Beloppet ska vara hela kronor och inte negativt.".into(),
        ));
    }
    match a.outcome {
        Outcome::Manuell => Err(ApprovalError::Invalid(
            "Ett beslut är bifall, delvis bifall eller avslag; lämna ärendet till manuell handläggning i stället."
                .into(),
        )),
        Outcome::Avslag if !a.amount.is_zero() => Err(ApprovalError::Invalid("Ett avslag har beloppet 0 kr.".into())),
        Outcome::Bifall | Outcome::DelvisBifall if a.amount.is_zero() => {
            Err(ApprovalError::Invalid("Ett bifall har ett belopp över 0 kr.".into()))
        }
        _ => {
            if a.rows
                .iter()
                .any(|r| r.label.trim().is_empty() || r.label.chars().count() > 200)
            {
                return Err(ApprovalError::Invalid(
                    "Varje ändrad rad behöver en text (högst 200 tecken).".into(),
                ));
            }
            Ok(())
        }
    }
}

/// Decides differently from the draft, with a justification. The result is
/// a human decision and says so (in the letter and the audit log).
pub async fn amend(
    store: &Store,
    settings: &ApprovalSettings,
    channel: &Channel<'_>,
    case: CaseId,
    by: &Official,
    amendment: &Amendment,
) -> Result<ApprovalResult, ApprovalError> {
    require(by, Role::Handlaggare, "ändra beslut")?;
    validate(amendment)?;
    let mut tx = store.begin().await?;
    let today = tx.now().date_naive();
    let state = tx.state(case).await?;
    let (app, draft_id, draft) = load(&mut tx, case).await?;
    check_conflict(by, &app)?;
    let At::AwaitingApproval(w) = state.at() else {
        return Err(ApprovalError::NotAwaitingApproval);
    };
    let needs_second = settings.four_eyes_on_amend
        || amendment.amount >= Money::from_kronor(settings.four_eyes_from_kr).unwrap_or(Money::ZERO);
    let record = json!({
        "justification": amendment.justification.trim(),
        "rows": amendment.rows.iter().map(|r| json!({"label": r.label, "amount_sek": r.amount.to_json_value()})).collect::<Vec<_>>(),
        "drafted": {"outcome": draft.outcome().as_str(), "amount_sek": draft.amount().map(Money::to_json_value)},
    });
    let id = tx
        .insert_decision(&NewDecision {
            case_id: case,
            draft_id,
            outcome: amendment.outcome,
            amount: amendment.amount,
            amendment: Some(record.to_string()),
            needs_second,
            by_user: by.user_id,
            by_name: by.display_name.clone(),
        })
        .await?;
    let actor = by.actor();
    let result = if needs_second {
        tx.step(
            case,
            w.first_approval(),
            &actor,
            None,
            json!({"stage": "first", "amended": true, "four_eyes": true}),
        )
        .await?;
        ApprovalResult::AwaitingSecondApproval
    } else {
        tx.step(
            case,
            w.amended(),
            &actor,
            None,
            json!({"stage": "only", "amended": true}),
        )
        .await?;
        let row = tx.pending_or_final(case, id).await?;
        let d = approved(
            settings,
            case,
            &app,
            &draft,
            &row,
            std::slice::from_ref(&by.display_name),
            today,
        )?;
        enqueue(&mut tx, &d, channel.0).await?;
        ApprovalResult::Approved
    };
    tx.commit().await?;
    Ok(result)
}

/// Sends the case to manual handling outside the robot, with a reason.
pub async fn return_to_manual(store: &Store, case: CaseId, by: &Official, reason: &str) -> Result<(), ApprovalError> {
    require(by, Role::Handlaggare, "lämna ärenden till manuell handläggning")?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(ApprovalError::Invalid(
            "Ange varför ärendet lämnas till manuell handläggning (högst 2 000 tecken).".into(),
        ));
    }
    let mut tx = store.begin().await?;
    let state = tx.state(case).await?;
    let doc = tx.document(case).await?;
    if let Ok(app) = Application::parse(&doc) {
        check_conflict(by, &app)?;
    }
    let step = match state.at() {
        At::AwaitingApproval(w) => w.returned_to_manual(),
        At::AwaitingSecondApproval(s) => s.returned_to_manual(),
        _ => return Err(ApprovalError::NotAwaitingApproval),
    };
    tx.step(case, step, &by.actor(), Some(reason), json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Assigns the case to an official (or unassigns it with `None`).
pub async fn assign(store: &Store, case: CaseId, by: &Official, to: Option<i64>) -> Result<(), ApprovalError> {
    require(by, Role::Handlaggare, "fördela ärenden")?;
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
    require(by, Role::Handlaggare, "kommentera ärenden")?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 4000 {
        return Err(ApprovalError::Invalid("En kommentar har 1–4 000 tecken.".into()));
    }
    let mut tx = store.begin().await?;
    tx.state(case).await?;
    tx.insert_comment(case, by.user_id, &by.display_name, text).await?;
    let e = audit::Event::new(
        audit::EventKind::Commented,
        audit::Actor::parse(&by.actor()).map_err(StoreError::from)?,
        tx.now(),
    )
    .with_case(audit::CaseRef::parse(&format!("case:{case}")).map_err(StoreError::from)?)
    .with_payload(json!({"chars": text.chars().count()}))
    .map_err(StoreError::from)?;
    tx.record(e);
    tx.commit().await?;
    Ok(())
}

/// Everything the case page shows.
#[derive(Debug)]
pub struct CaseView {
    pub detail: CaseDetail,
    pub application: Option<Application>,
    pub draft: Option<Draft>,
    pub decisions: Vec<DecisionRow>,
    pub comments: Vec<CommentRow>,
    pub outbox: Option<OutboxStatus>,
    pub assigned_to: Option<i64>,
    /// Other cases of the same household, newest first.
    pub earlier: Vec<CaseSummary>,
}

#[derive(Debug, Clone)]
pub struct OutboxStatus {
    pub channel: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub receipt: Option<String>,
}

pub async fn case_view(store: &Store, case: CaseId) -> Result<CaseView, ApprovalError> {
    let detail = store.case_detail(case).await?;
    let mut tx = store.begin().await?;
    let decisions = tx.decisions(case).await?;
    let comments = tx.comments(case).await?;
    let outbox = tx.outbox_for_case(case).await?.map(|o| OutboxStatus {
        channel: o.channel,
        status: o.status,
        attempts: o.attempts,
        last_error: o.last_error,
        receipt: o.receipt,
    });
    let assigned_to = tx.assigned(case).await?;
    let earlier = tx.household_cases(case, 20).await?;
    drop(tx);
    let application = Application::parse(&detail.document).ok();
    let draft = detail.draft_json.as_deref().and_then(|j| Draft::from_json(j).ok());
    Ok(CaseView {
        detail,
        application,
        draft,
        decisions,
        comments,
        outbox,
        assigned_to,
        earlier,
    })
}

/// The letter: the one in the outbox once decided, else a preview of the draft's.
pub async fn letter_html(store: &Store, settings: &ApprovalSettings, case: CaseId) -> Result<String, ApprovalError> {
    Ok(letter_for(store, settings, case).await?.html)
}

pub async fn letter_pdf(store: &Store, settings: &ApprovalSettings, case: CaseId) -> Result<Vec<u8>, ApprovalError> {
    Ok(letter_for(store, settings, case).await?.pdf)
}

async fn letter_for(
    store: &Store,
    settings: &ApprovalSettings,
    case: CaseId,
) -> Result<letter::Rendered, ApprovalError> {
    let mut tx = store.begin().await?;
    if let Some(o) = tx.outbox_for_case(case).await? {
        return Ok(letter::Rendered {
            html: o.letter_html,
            text: o.letter_text,
            pdf: o.letter_pdf,
        });
    }
    let today = tx.now().date_naive();
    let (app, _, draft) = load(&mut tx, case).await?;
    drop(tx);
    render_letter(settings, case, &app, &draft, None, today)
}

/// Whether the case is in a state where nothing has been decided yet.
pub fn undecided(state: CaseState) -> bool {
    matches!(state, CaseState::AwaitingApproval | CaseState::AwaitingSecondApproval)
}
