//! The case page, built for a day of casework: a header that stays in view
//! (who the case is about, diarienummer, period, the proposal or the
//! pending decision, state, assignee, deadlines), a decision panel that
//! offers only what this official can do now and says up front when a
//! second official is needed and why, then the calculation (compared row
//! by row with the robot's draft when a decision departs from it), the
//! reasons, the rule trace in words, the application, the events and the
//! letter; the forms last. A form that cannot be accepted comes back on
//! this page, the error next to the field and the typed values kept.

use super::core_view::CaseViewModel;
use super::error::{Failure, WebError};
use super::pages::{Choice, Chrome, choices, render_status};
use super::session::Authed;
use super::view::{self, ApplicationView, DraftView, RegisterView};
use super::{Web, approval_core as ac};
use crate::store::CaseId;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::{CaseState, DecisionRecord, Draft, Money, Outcome, RowOrigin};
use serde::Deserialize;

// ------------------------------------------------------------ form state

/// What an official typed into one of the case page's forms, and what was
/// wrong with it: the page is shown again with both.
#[derive(Debug, Default, Clone)]
pub struct Posted {
    /// Which form: `godkann`, `andra`, `kommunicera`, `svar`, `manuell`,
    /// `kommentar`, `tilldela`.
    pub form: &'static str,
    pub fields: Vec<(String, String)>,
    pub error: Option<FormError>,
}

/// A form's error: the message, and the id of the field it is about.
#[derive(Debug, Clone)]
pub struct FormError {
    pub field: Option<String>,
    pub message: String,
}

impl From<FormError> for Failure {
    fn from(e: FormError) -> Failure {
        Failure::Invalid(e.message)
    }
}

impl FormError {
    pub fn general(message: impl Into<String>) -> FormError {
        FormError {
            field: None,
            message: message.into(),
        }
    }
    pub fn at(field: impl Into<String>, message: impl Into<String>) -> FormError {
        FormError {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// The id the input named `name` of `form` has on the page (`andra`,
/// `rad.costs.0.belopp` → `andra-rad-costs-0-belopp`).
pub fn field_id(form: &str, name: &str) -> String {
    format!("{form}-{}", name.replace(['.', '_'], "-"))
}

// ------------------------------------------------------------ the view

pub struct PersonLine {
    pub role: String,
    pub name: String,
    pub personnummer: String,
}

/// A row of the comparison between the robot's draft and a decision.
pub struct CompareRow {
    pub label: String,
    pub proposed: String,
    pub decided: String,
    pub change: String,
    pub note: String,
}

pub struct Comparison {
    pub rows: Vec<CompareRow>,
    pub proposed_total: String,
    pub decided_total: String,
    pub change_total: String,
}

/// The decision as the page shows it (pending or final).
pub struct RecordView {
    pub heading: String,
    pub what: String,
    pub basis: &'static str,
    pub comparison: Option<Comparison>,
    pub reasons: Vec<String>,
    pub signatories: Vec<String>,
}

/// A row of the amend form: the proposal's amount, what was typed, errors.
struct AmendRow {
    key: String,
    section: String,
    label: String,
    amount: String,
    belopp_id: String,
    belopp: String,
    belopp_err: Option<String>,
    skal_id: String,
    skal: String,
    skal_err: Option<String>,
    bort: bool,
}

#[derive(askama::Template)]
#[template(path = "case.html")]
struct CasePageT {
    chrome: Chrome,
    /// The reader is a regelförfattare: no personal data on the page.
    pseudonymised: bool,
    id: CaseId,
    external_id: String,
    diarienummer: String,
    type_title: String,
    period: String,
    applied: String,
    days: Option<i64>,
    people: Vec<PersonLine>,
    /// One line in the header: the proposal, or the decision pending or made.
    summary: String,
    summary_amount: String,
    notice: Option<String>,
    state: &'static str,
    state_reason: Option<String>,
    received: String,
    robot: String,
    assigned: String,
    deadline: Option<String>,
    draft: Option<DraftView>,
    /// Case-specific checks (not the parameter notices).
    checks: Vec<String>,
    /// Why the robot proposes what it does: its codes, in words.
    why: Vec<String>,
    /// Unverified parameter values the proposal used, once, compactly.
    parameter_notices: Vec<String>,
    application: Option<ApplicationView>,
    /// Why the application could not be read, field by field in words.
    invalid_problems: Vec<String>,
    register: RegisterView,
    decisions: Vec<String>,
    outbox: Vec<String>,
    earlier: Vec<(CaseId, String)>,
    comments: Vec<(String, String, String)>,
    record: Option<RecordView>,
    // What this official can do now.
    is_decider: bool,
    can_approve: bool,
    can_amend: bool,
    can_kommunicera: bool,
    can_return: bool,
    can_reply: bool,
    assignable: bool,
    assigned_to_me: bool,
    /// Why nothing (or only part) can be done by this official now.
    cannot: Option<String>,
    /// Why a second official is needed (or will be if the official amends).
    second_needed: Option<String>,
    amend_needs_second: bool,
    manual_draft: bool,
    offers_avslag: bool,
    approve_text: String,
    assessments: Vec<(String, String)>,
    kommunicering_facts: Vec<String>,
    kommunicering_needed: bool,
    kommuniceringar: Vec<String>,
    has_kommunicering_letter: bool,
    skip_grounds: Vec<Choice>,
    amend_rows: Vec<AmendRow>,
    sections: Vec<Choice>,
    posted: Posted,
}

impl CasePageT {
    /// What was typed into `key` of `form`, or `default`.
    fn val<'a>(&'a self, form: &str, key: &str, default: &'a str) -> &'a str {
        if self.posted.form != form {
            return default;
        }
        self.posted
            .fields
            .iter()
            .find(|(k, _)| k == key)
            .map_or(if self.posted.fields.is_empty() { default } else { "" }, |(_, v)| {
                v.as_str()
            })
    }

    fn checked(&self, form: &str, key: &str, value: &str) -> bool {
        self.posted.form == form && self.posted.fields.iter().any(|(k, v)| k == key && v == value)
    }

    /// The error about the field with this id.
    fn err_at(&self, id: &str) -> Option<&str> {
        let e = self.posted.error.as_ref()?;
        (e.field.as_deref() == Some(id)).then_some(e.message.as_str())
    }

    /// An error of a form this page no longer shows (the case moved on, or
    /// the official may not use it): shown at the top of the page.
    fn orphan_error(&self) -> Option<&FormError> {
        let e = self.posted.error.as_ref()?;
        let shown = match self.posted.form {
            "godkann" => self.can_approve,
            "andra" => self.can_amend,
            "kommunicera" => self.can_kommunicera,
            "manuell" => self.can_return,
            "svar" => self.can_reply,
            "kommentar" => self.is_decider,
            _ => false,
        };
        (!shown).then_some(e)
    }

    /// The error of this form (shown at its top).
    fn form_err(&self, form: &str) -> Option<&FormError> {
        if self.posted.form != form {
            return None;
        }
        self.posted.error.as_ref()
    }
}

/// The notices an action leaves (`?klart=`).
fn notice(k: Option<&str>, q: &CaseQuery) -> Option<String> {
    Some(match k? {
        "godkant" => "Beslutet är godkänt och beslutsbrevet skickas.".into(),
        "godkant-forra" => match q.forra {
            Some(id) => format!("Beslutet i ärende {id} är godkänt och beslutsbrevet skickas. Här är nästa ärende."),
            None => "Beslutet är godkänt. Här är nästa ärende.".into(),
        },
        "andra-godkannare" => "Ditt godkännande är sparat. Beslutet väntar nu på en andra handläggare.".into(),
        "andrat" => "Det ändrade beslutet är sparat och väntar på en andra handläggare.".into(),
        "andrat-skickas" => "Det ändrade beslutet är fattat och beslutsbrevet skickas.".into(),
        "manuell" => "Ärendet är lämnat till manuell handläggning.".into(),
        "tilldelat" => "Tilldelningen är ändrad.".into(),
        "kommentar" => "Kommentaren är sparad.".into(),
        "kommunicerat" => {
            "Kommuniceringsbrevet är skickat. Ärendet väntar på svar eller på att svarstiden går ut.".into()
        }
        "svar" => "Svaret är registrerat. Ärendet är tillbaka i kön för beslut.".into(),
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
pub struct CaseQuery {
    klart: Option<String>,
    forra: Option<CaseId>,
}

pub async fn case_page(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Query(q): Query<CaseQuery>,
) -> Result<Response, WebError> {
    let n = notice(q.klart.as_deref(), &q);
    render(&web, &a, id, n, Posted::default(), StatusCode::OK).await
}

/// The people a case is about, as the header and the confirmation list them.
fn person_lines(people: Vec<sandbox::Person>) -> Vec<PersonLine> {
    people
        .into_iter()
        .map(|p| PersonLine {
            role: p.role,
            name: p.name.unwrap_or_else(|| "namn saknas".into()),
            personnummer: p.personnummer.formatted(),
        })
        .collect()
}

fn kr(m: Money) -> String {
    crate::approval::brev::kr(m)
}

fn signed_kr(m: Money) -> String {
    if m.ore() > 0 {
        format!("+{}", kr(m))
    } else if m.ore() < 0 {
        format!("−{}", kr(Money::from_ore(-m.ore())))
    } else {
        "±0 kr".into()
    }
}

fn what(outcome: Outcome, amount: Option<Money>) -> String {
    match (outcome, amount) {
        (Outcome::Avslag | Outcome::Manuell, _) | (_, None) => outcome.label().to_string(),
        (o, Some(m)) => format!("{}, {}", o.label(), kr(m)),
    }
}

/// The decision compared with the draft, row by row; `None` when the
/// decision is the proposal as it stands.
fn comparison(r: &DecisionRecord, type_name: &str) -> Option<Comparison> {
    if !r.departs_from_proposal() {
        return None;
    }
    let section = |k: &domain::SectionKind| sandbox::Ruleset::section_title(type_name, k);
    let mut rows = Vec::new();
    for row in &r.rows {
        let (proposed, change, note) = match &row.origin {
            RowOrigin::Proposal => (kr(row.amount), String::new(), String::new()),
            RowOrigin::Changed { proposed, reason } => (
                kr(*proposed),
                signed_kr(Money::from_ore(row.amount.ore() - proposed.ore())),
                format!("Ändrad: {reason}"),
            ),
            RowOrigin::Added { reason } => ("–".into(), signed_kr(row.amount), format!("Tillagd: {reason}")),
        };
        rows.push(CompareRow {
            label: format!("{}: {}", section(&row.section), row.label),
            proposed,
            decided: kr(row.amount),
            change,
            note,
        });
    }
    for x in &r.removed {
        rows.push(CompareRow {
            label: format!("{}: {}", section(&x.section), x.label),
            proposed: kr(x.proposed),
            decided: "räknas inte".into(),
            change: signed_kr(Money::from_ore(-x.proposed.ore())),
            note: format!("Borttagen: {}", x.reason),
        });
    }
    let proposed = r.proposed_amount.unwrap_or(Money::ZERO);
    Some(Comparison {
        rows,
        proposed_total: match r.proposed_amount {
            Some(m) => format!("{}, {}", r.proposed_outcome.label(), kr(m)),
            None => r.proposed_outcome.label().to_string(),
        },
        decided_total: what(r.outcome, Some(r.amount)),
        change_total: signed_kr(Money::from_ore(r.amount.ore() - proposed.ore())),
    })
}

fn record_view(r: &DecisionRecord, type_name: &str, final_: bool, first_by: Option<&str>) -> RecordView {
    use domain::Basis;
    RecordView {
        heading: if final_ {
            "Fattat beslut".into()
        } else {
            match first_by {
                Some(n) => format!(
                    "Beslut som väntar på en andra handläggare ({n} har {})",
                    if r.departs_from_proposal() {
                        "ändrat det"
                    } else {
                        "godkänt det"
                    }
                ),
                None => "Beslut som väntar på en andra handläggare".into(),
            }
        },
        what: if r.outcome == Outcome::Avslag {
            "Avslag".into()
        } else {
            what(r.outcome, Some(r.amount))
        },
        basis: match r.basis {
            Basis::Proposal => "Robotens förslag godkänt som det är",
            Basis::Amended => "Robotens förslag ändrat av handläggare",
            Basis::Avslag => "Avslag på handläggarens egna grunder",
            Basis::AfterManualHandling => "Beslut efter manuell handläggning",
        },
        comparison: comparison(r, type_name),
        reasons: r.reasons.iter().map(|x| format!("{} ({})", x.text, x.lagrum)).collect(),
        signatories: r
            .signatories
            .iter()
            .map(|x| {
                format!(
                    "{}, {} ({})",
                    x.name,
                    x.title,
                    match x.role {
                        domain::SignatoryRole::Beslutsfattare => "beslutsfattare",
                        domain::SignatoryRole::Foredragande => "föredragande",
                    }
                )
            })
            .collect(),
    }
}

/// Renders the case page for this official, with a notice after an action
/// or a form's typed values and error.
pub async fn render(
    web: &Web,
    a: &Authed,
    id: CaseId,
    notice: Option<String>,
    posted: Posted,
    status: StatusCode,
) -> Result<Response, WebError> {
    let pseudo = super::access::read_case(web, a, id, "page").await?;
    let cv = super::core_view::load(web, id).await?;
    let t = build(web, a, id, cv, pseudo, notice, posted).await?;
    render_status(&t, status)
}

#[allow(clippy::too_many_lines)]
async fn build(
    web: &Web,
    a: &Authed,
    id: CaseId,
    cv: CaseViewModel,
    pseudo: bool,
    notice: Option<String>,
    posted: Posted,
) -> Result<CasePageT, Failure> {
    let d = &cv.detail;
    let s = &d.summary;
    let me = a.official.user_id;
    let input = cv.application.as_ref();
    let app = input.and_then(sandbox::Input::application);
    let package = input.and_then(sandbox::Input::document);
    let draft: Option<&Draft> = cv.draft.as_ref();
    let type_name = draft
        .map(|d| d.casework_type().to_string())
        .or_else(|| package.map(|p| p.type_name().to_string()));
    let type_title = type_name
        .as_deref()
        .and_then(sandbox::Ruleset::of_type)
        .and_then(|r| r.casework().map(|c| c.title().to_string()))
        .unwrap_or_else(|| "Ekonomiskt bistånd".into());
    let is_decider = a.official.roles.contains(&ac::Role::Handlaggare);
    let conflicted = is_decider && crate::approval::conflicted_in(&a.official, &d.document);
    let state = s.state;
    let manual_draft = draft.is_some_and(|d| d.outcome() == Outcome::Manuell);
    let pending_first = cv.pending_first.clone();
    let i_was_first = pending_first.as_ref().is_some_and(|(u, _)| *u == me);
    let type_outcomes: Vec<String> = type_name
        .as_deref()
        .and_then(sandbox::Ruleset::of_type)
        .and_then(|r| r.casework().map(|c| c.manifest.outcomes.clone()))
        .unwrap_or_default();
    let offers_avslag = type_outcomes.is_empty() || type_outcomes.iter().any(|o| o == "avslag");

    // What this official can do now.
    let undecided = crate::approval::undecided(state);
    let mut cannot = None;
    let (mut can_approve, mut can_amend, mut can_kommunicera, mut can_return, mut can_reply) =
        (false, false, false, false, false);
    if is_decider && draft.is_some() && !pseudo {
        if conflicted {
            cannot = Some("Du kan inte besluta i ärendet, eftersom du själv ingår i hushållet (jäv).".to_string());
        } else {
            match state {
                CaseState::AwaitingApproval => {
                    can_approve = !manual_draft;
                    can_amend = true;
                    can_kommunicera = true;
                    can_return = true;
                    if manual_draft {
                        cannot = Some(
                            "Roboten har lämnat ärendet till en handläggare: det finns inget förslag att godkänna. Besluta efter manuell handläggning med raderna nedan (kommunicera först om beslutet går den sökande emot), eller lämna ärendet till manuell handläggning i verksamhetssystemet."
                                .into(),
                        );
                    }
                }
                CaseState::AwaitingSecondApproval => {
                    can_return = true;
                    if i_was_first {
                        cannot = Some(
                            "Du har redan godkänt eller ändrat beslutet. En annan handläggare ska granska och godkänna det innan något skickas."
                                .into(),
                        );
                    } else {
                        can_approve = true;
                    }
                }
                CaseState::Kommunicering => {
                    can_reply = true;
                    can_return = true;
                    cannot = Some(
                        "Ärendet väntar på den sökandes svar på kommuniceringen. Registrera svaret när det kommer; efter svarstiden går ärendet tillbaka till kön."
                            .into(),
                    );
                }
                _ => {}
            }
        }
    }
    let settings = &web.ctx.settings.approval;
    let four_eyes_from = Money::from_kronor(settings.four_eyes_from_kr).unwrap_or(Money::ZERO);
    let second_needed = match (state, draft) {
        (CaseState::AwaitingSecondApproval, _) if i_was_first => None,
        (CaseState::AwaitingSecondApproval, _) => Some(match &pending_first {
            Some((_, name)) => format!(
                "{name} har godkänt eller ändrat beslutet. En andra handläggare – inte {name} – ska granska och godkänna det innan brevet skickas."
            ),
            None => "En andra handläggare ska godkänna beslutet innan brevet skickas.".into(),
        }),
        (CaseState::AwaitingApproval, Some(dr)) if dr.amount().is_some_and(|m| m >= four_eyes_from) => Some(format!(
            "Beloppet är {} eller mer: efter ditt godkännande ska en andra handläggare godkänna beslutet innan brevet skickas.",
            kr(four_eyes_from)
        )),
        _ => None,
    };
    let amend_needs_second = settings.four_eyes_on_amend;

    let record_final = !undecided;
    let record = cv.record.as_ref().map(|r| {
        record_view(
            r,
            type_name.as_deref().unwrap_or_default(),
            record_final,
            pending_first.as_ref().map(|(_, n)| n.as_str()),
        )
    });

    // The header's line: the pending or final decision, else the proposal.
    let (summary, summary_amount) = match (&cv.record, draft) {
        (Some(r), _) if !undecided => ("Beslut".to_string(), what(r.outcome, Some(r.amount))),
        (Some(r), _) => {
            let mut s = what(r.outcome, Some(r.amount));
            if r.departs_from_proposal()
                && let Some(p) = r.proposed_amount
            {
                s.push_str(&format!(
                    " (robotens förslag {}, {})",
                    kr(p),
                    signed_kr(Money::from_ore(r.amount.ore() - p.ore()))
                ));
            }
            ("Väntar på andra granskare".to_string(), s)
        }
        (None, Some(dr)) => ("Robotens förslag".to_string(), what(dr.outcome(), dr.amount())),
        (None, None) if state == CaseState::Invalid => {
            ("Ansökan".to_string(), "ogiltig, kan inte beräknas".to_string())
        }
        (None, None) => ("Förslag".to_string(), "inget förslag ännu".to_string()),
    };

    let (checks, parameter_notices) = match draft {
        Some(dr) if undecided => {
            let mut checks: Vec<String> = Vec::new();
            let mut params = Vec::new();
            for w in dr.warnings() {
                if sandbox::is_parameter_notice(w) {
                    params.push(sandbox::parameter_notice_body(w).to_string());
                } else {
                    checks.push(w.clone());
                }
            }
            params.dedup();
            (checks, params)
        }
        _ => (Vec::new(), Vec::new()),
    };

    let people = if pseudo {
        Vec::new()
    } else {
        input.map(|i| person_lines(i.people())).unwrap_or_default()
    };
    let applied_at = input.map(|i| i.received_at().with_timezone(&chrono::Utc));
    let now = web.now();
    let deadline = cv.open_deadline.map(|t| format!("svar senast {}", view::date(t)));

    let application = if pseudo {
        None
    } else {
        match (package, app) {
            (Some(doc), _) => Some(view::document_view(doc)),
            (None, Some(app)) => Some(view::application_view(app)),
            _ => None,
        }
    };
    let invalid_problems = if input.is_some() || pseudo {
        Vec::new()
    } else {
        invalid_problems(web, &s.robot, &d.document, s.state_reason.as_deref())
    };
    let approve_text = match (state, &cv.record, draft) {
        (CaseState::AwaitingSecondApproval, Some(r), _) => format!(
            "Du godkänner beslutet: {}{}. Sedan skickas beslutsbrevet.",
            what(r.outcome, Some(r.amount)),
            if r.departs_from_proposal() {
                " – det avviker från robotens förslag, se jämförelsen ovan"
            } else {
                ""
            }
        ),
        (_, _, Some(dr)) => format!(
            "Beslutet blir robotens förslag: {}. Du får se brevet och bekräfta innan något skickas.",
            what(dr.outcome(), dr.amount()).to_lowercase()
        ),
        _ => String::new(),
    };

    let typed = |name: &str| -> Option<String> {
        (posted.form == "andra")
            .then(|| posted.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .flatten()
    };
    let err_at = |id: &str| -> Option<String> {
        posted
            .error
            .as_ref()
            .filter(|e| e.field.as_deref() == Some(id))
            .map(|e| e.message.clone())
    };
    let mut amend_rows = Vec::new();
    if let Some(d) = draft {
        let t = d.casework_type();
        for p in d.calculation().parts() {
            let title = sandbox::Ruleset::section_title(t, &p.kind);
            for (i, r) in p.section.rows().iter().enumerate() {
                let key = format!("rad.{}.{i}", p.kind.as_str());
                let amount = domain::kr(r.amount).replace('\u{a0}', " ");
                let belopp_id = field_id("andra", &format!("{key}.belopp"));
                let skal_id = field_id("andra", &format!("{key}.skal"));
                amend_rows.push(AmendRow {
                    belopp: typed(&format!("{key}.belopp")).unwrap_or_else(|| amount.clone()),
                    belopp_err: err_at(&belopp_id),
                    skal: typed(&format!("{key}.skal")).unwrap_or_default(),
                    skal_err: err_at(&skal_id),
                    bort: typed(&format!("{key}.bort")).is_some_and(|v| v == "1"),
                    section: title.clone(),
                    label: r.label.clone(),
                    amount,
                    belopp_id,
                    skal_id,
                    key,
                });
            }
        }
    }
    let sections = choices(
        draft
            .map(|d| {
                d.calculation()
                    .parts()
                    .iter()
                    .map(|p| {
                        (
                            p.kind.as_str().to_string(),
                            sandbox::Ruleset::section_title(d.casework_type(), &p.kind),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "costs",
    );

    Ok(CasePageT {
        chrome: Chrome::for_user(a, "/arenden"),
        pseudonymised: pseudo,
        id,
        external_id: s.external_id.clone(),
        diarienummer: s.diarienummer.clone().unwrap_or_else(|| "–".into()),
        type_title,
        period: input
            .map(|i| i.period().swedish())
            .or_else(|| s.period.clone())
            .unwrap_or_else(|| "–".into()),
        applied: applied_at.map_or_else(|| "–".into(), view::date),
        days: applied_at.map(|t| view::age_days(now, t)),
        people,
        summary,
        summary_amount,
        notice,
        state: state.label(),
        state_reason: s.state_reason.clone().filter(|_| input.is_some() || pseudo),
        received: view::time(s.received),
        robot: s.robot.clone(),
        assigned: cv.assigned_name.clone().unwrap_or_else(|| "ingen".into()),
        deadline,
        draft: draft.map(view::draft_view),
        checks,
        why: draft
            .map(|d| {
                d.codes()
                    .iter()
                    .map(|c| sandbox::Ruleset::code_label(d.casework_type(), c.as_str()))
                    .collect()
            })
            .unwrap_or_default(),
        parameter_notices,
        application,
        invalid_problems,
        register: if pseudo {
            view::register_view(None, None)
        } else {
            view::register_view(app, d.register_json.as_deref())
        },
        decisions: cv.decisions.clone(),
        outbox: cv.outbox.clone(),
        earlier: cv.earlier.clone(),
        comments: cv
            .comments
            .iter()
            .filter(|_| !pseudo)
            .map(|(by, at, text)| (by.clone(), view::time(*at), text.clone()))
            .collect(),
        record,
        is_decider: is_decider && !pseudo,
        can_approve,
        can_amend,
        can_kommunicera,
        can_return,
        can_reply,
        assignable: is_decider && !pseudo && (undecided || state == CaseState::ReturnedToManual),
        assigned_to_me: cv.assigned_to == Some(me),
        cannot,
        second_needed,
        amend_needs_second,
        manual_draft,
        offers_avslag,
        approve_text,
        assessments: draft
            .map(|d| {
                d.assessments()
                    .iter()
                    .map(|x| (x.code.clone(), x.text.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        kommunicering_facts: draft
            .map(|d| d.kommunicering().iter().map(|x| x.text.clone()).collect())
            .unwrap_or_default(),
        kommunicering_needed: draft.is_some_and(|d| {
            !d.kommunicering().is_empty() && matches!(d.outcome(), Outcome::Avslag | Outcome::DelvisBifall)
        }) && !cv.kommunicering_done,
        kommuniceringar: cv.kommuniceringar.clone(),
        has_kommunicering_letter: !cv.kommuniceringar.is_empty(),
        skip_grounds: choices(
            domain::SkipGround::ALL
                .iter()
                .map(|g| (g.as_str().to_string(), g.label().to_string()))
                .collect(),
            "",
        ),
        amend_rows,
        sections,
        posted,
    })
}

/// Why a stored application is not valid, each problem under its field's
/// Swedish name (the type's `labels.toml [fields]`), read again with the
/// robot's ruleset; the stored reason when it cannot be read at all.
fn invalid_problems(web: &Web, robot: &str, document: &[u8], stored: Option<&str>) -> Vec<String> {
    let ruleset = web
        .ctx
        .settings
        .robots
        .iter()
        .find(|r| r.name == robot)
        .and_then(|r| sandbox::Ruleset::load(&r.ruleset).ok());
    let Some(rs) = ruleset else {
        return stored.map(|s| vec![s.to_string()]).unwrap_or_default();
    };
    let labels = rs.casework().map(|c| &c.labels);
    let name = |pointer: &str| -> String {
        labels
            .and_then(|l| l.field(pointer))
            .map_or_else(|| pointer.trim_start_matches('/').replace('/', " › "), str::to_string)
    };
    match rs.read(document) {
        Ok(_) => stored.map(|s| vec![s.to_string()]).unwrap_or_default(),
        Err(sandbox::ReadError::Input(sandbox::InputError::Invalid(problems))) => problems
            .iter()
            .map(|p| {
                if p.pointer.is_empty() || p.pointer == "/" {
                    p.message.clone()
                } else {
                    format!("{}: {}", name(&p.pointer), p.message)
                }
            })
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

// ------------------------------------------------------------ confirmation

/// The confirmation step: what approving will do and the letter that will
/// be sent, with the posted fields carried in hidden inputs.
#[derive(askama::Template)]
#[template(path = "confirm.html")]
struct ConfirmT {
    chrome: Chrome,
    id: CaseId,
    action: &'static str,
    people: Vec<PersonLine>,
    what: String,
    period: String,
    departs: Option<String>,
    waits_for_second: Option<String>,
    letter_text: Option<String>,
    hidden: Vec<(String, String)>,
    has_next: bool,
}

pub fn confirm_page(
    a: &Authed,
    id: CaseId,
    action: &'static str,
    planned: &crate::approval::Planned,
    fields: &[(String, String)],
) -> Result<Response, WebError> {
    let people = person_lines(planned.people.clone());
    let r = &planned.record;
    let t = ConfirmT {
        chrome: Chrome::for_user(a, "/arenden"),
        id,
        action,
        people,
        what: if r.outcome == Outcome::Avslag {
            "Avslag".into()
        } else {
            what(r.outcome, Some(r.amount))
        },
        period: r.period.swedish(),
        departs: r.departs_from_proposal().then(|| match r.proposed_amount {
            Some(p) => format!(
                "Beslutet avviker från robotens förslag ({}): {}.",
                what(r.proposed_outcome, Some(p)).to_lowercase(),
                signed_kr(Money::from_ore(r.amount.ore() - p.ore()))
            ),
            None => "Beslutet avviker från robotens förslag.".into(),
        }),
        waits_for_second: planned.waits_for_second.clone(),
        letter_text: planned.letter.as_ref().map(|l| l.text.clone()),
        hidden: fields
            .iter()
            .filter(|(k, _)| k != "_csrf" && k != "steg")
            .cloned()
            .collect(),
        has_next: planned.waits_for_second.is_none(),
    };
    render_status(&t, StatusCode::OK)
}

/// The next case this official can decide after `after`: the oldest
/// awaiting a decision that is not assigned to someone else.
pub async fn next_case(web: &Web, me: i64, after: CaseId) -> Result<Option<CaseId>, Failure> {
    let filter = crate::store::queue::QueueFilter {
        state: Some(CaseState::AwaitingApproval),
        ..Default::default()
    };
    let page = web
        .ctx
        .store
        .queue(&filter, crate::store::queue::QueueSort::Oldest, 50, 0)
        .await?;
    Ok(page
        .rows
        .iter()
        .find(|r| r.id != after && r.assigned_to.is_none_or(|u| u == me))
        .map(|r| r.id))
}
