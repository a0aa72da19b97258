//! The officials' actions from the case page: approve, amend, return to
//! manual handling, assign, comment. Each is a form POST (the guard has
//! checked role and CSRF token); the approval core decides and audits, and
//! the browser is sent back to the case (303).

use super::Web;
use super::approval_core::{self as ac, Amendment, ApprovalResult, DecisionRequest, ReplyChannel};
use super::error::{Failure, WebError};
use super::pages::see_other;
use super::session::Authed;
use crate::store::CaseId;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Form};
use domain::{Money, RowChange, Ruling, SectionKind, SkipGround};
use serde::Deserialize;

/// Longest justification, reason or comment accepted.
pub const MAX_TEXT: usize = crate::approval::MAX_TEXT_CHARS;

pub fn required_text(s: &str, what: &str) -> Result<String, Failure> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Failure::Invalid(format!("{what} måste fyllas i.")));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(Failure::Invalid(format!("{what} får vara högst {MAX_TEXT} tecken.")));
    }
    if crate::approval::has_control_chars(t) {
        return Err(Failure::Invalid(format!("{what} innehåller otillåtna styrtecken.")));
    }
    Ok(t.to_string())
}

fn back(id: CaseId, done: &str) -> Response {
    see_other(&format!("/arenden/{id}?klart={done}#innehall"))
}

/// The fields of a decision form, as posted (repeated keys kept).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn one(&self, key: &str) -> &str {
        self.0.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
    }
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The FL 25 § ground an official gives for deciding without kommunicering.
pub fn skip_ground(ground: &str, explanation: &str) -> Result<Option<(SkipGround, String)>, Failure> {
    let ground = ground.trim();
    if ground.is_empty() {
        return Ok(None);
    }
    let g: SkipGround = ground
        .parse()
        .map_err(|_| Failure::Invalid("Välj ett skäl att avstå från kommunicering.".into()))?;
    Ok(Some((
        g,
        required_text(explanation, "Förklaringen till att kommunicering inte behövs")?,
    )))
}

pub async fn approve(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let f = Fields(f);
    let req = DecisionRequest {
        ruling: Ruling::Proposal,
        confirmed: f.all("bedomning").map(str::to_string).collect(),
        skip_kommunicering: skip_ground(f.one("avsta_grund"), f.one("avsta_forklaring"))?,
    };
    let r = ac::decide(&web, id, &a.official, &req).await?;
    web.counts.invalidate();
    Ok(back(
        id,
        match r {
            ApprovalResult::Approved => "godkant",
            ApprovalResult::AwaitingSecondApproval => "andra-godkannare",
        },
    ))
}

/// Kronor as people write them, with a sign for deductions: `4450`,
/// `4 450`, `4450,50`, `-1 050`, `−1 050`.
pub fn parse_signed_kronor(s: &str, what: &str) -> Result<Money, Failure> {
    let t = s.trim().trim_end_matches("kr").trim();
    let (neg, t) = match t.strip_prefix('-').or_else(|| t.strip_prefix('−')) {
        Some(rest) => (true, rest.trim()),
        None => (false, t),
    };
    let cleaned: String = t.chars().filter(|c| !c.is_whitespace() && *c != '\u{a0}').collect();
    let m = Money::parse_kronor_text(&cleaned)
        .map_err(|_| Failure::Invalid(format!("{what}: skriv ett belopp i kronor, till exempel 4 450.")))?;
    if m.ore() < 0 {
        return Err(Failure::Invalid(format!(
            "{what}: skriv ett belopp i kronor, till exempel 4 450."
        )));
    }
    Ok(if neg { Money::from_ore(-m.ore()) } else { m })
}

/// An amendment from the form: the proposal's rows with new amounts or
/// marked as not counting, new rows, or avslag; always with a motivering.
pub fn amendment(f: &Fields) -> Result<Amendment, Failure> {
    let motivering = required_text(f.one("motivering"), "Motiveringen")?;
    if f.one("beslut") == "avslag" {
        return Ok(Ruling::Avslag { motivering });
    }
    let mut changes = Vec::new();
    let mut keys: Vec<(SectionKind, usize)> =
        f.0.iter()
            .filter_map(|(k, _)| {
                let rest = k.strip_prefix("rad.")?;
                let mut parts = rest.split('.');
                let section: SectionKind = parts.next()?.parse().ok()?;
                let index: usize = parts.next()?.parse().ok()?;
                Some((section, index))
            })
            .collect();
    keys.sort();
    keys.dedup();
    for (section, index) in keys {
        let key = |what: &str| format!("rad.{}.{index}.{what}", section.as_str());
        let reason = f.one(&key("skal")).trim().to_string();
        let label = format!("{}, rad {}", section.label(), index + 1);
        if f.one(&key("bort")) == "1" {
            changes.push(RowChange::Remove {
                section,
                index,
                reason: required_text(&reason, &format!("Skälet för att ta bort raden ({label})"))?,
            });
            continue;
        }
        let amount = f.one(&key("belopp"));
        let proposed = f.one(&key("forslag"));
        if amount.trim().is_empty() || amount.trim() == proposed.trim() {
            continue;
        }
        let amount = parse_signed_kronor(amount, &label)?;
        if parse_signed_kronor(proposed, &label).ok() == Some(amount) {
            continue;
        }
        changes.push(RowChange::Change {
            section,
            index,
            amount,
            reason: required_text(&reason, &format!("Skälet för det ändrade beloppet ({label})"))?,
        });
    }
    for n in 0..10 {
        let key = |what: &str| format!("ny.{n}.{what}");
        let text = f.one(&key("text")).trim();
        if text.is_empty() {
            continue;
        }
        let section: SectionKind = f
            .one(&key("del"))
            .parse()
            .map_err(|_| Failure::Invalid(format!("Ny rad {}: välj del av beräkningen.", n + 1)))?;
        changes.push(RowChange::Add {
            section,
            label: text.to_string(),
            amount: parse_signed_kronor(f.one(&key("belopp")), &format!("Ny rad {}", n + 1))?,
            reason: required_text(f.one(&key("skal")), &format!("Skälet för ny rad {}", n + 1))?,
        });
    }
    Ok(Ruling::Rows { changes, motivering })
}

pub async fn amend(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let f = Fields(f);
    let req = DecisionRequest {
        ruling: amendment(&f)?,
        confirmed: Vec::new(),
        skip_kommunicering: skip_ground(f.one("avsta_grund"), f.one("avsta_forklaring"))?,
    };
    let r = ac::decide(&web, id, &a.official, &req).await?;
    web.counts.invalidate();
    Ok(back(
        id,
        match r {
            ApprovalResult::Approved => "andrat",
            ApprovalResult::AwaitingSecondApproval => "andra-godkannare",
        },
    ))
}

#[derive(Deserialize)]
pub struct KommuniceringForm {
    #[serde(default)]
    uppgifter: String,
}

pub async fn kommunicera(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(f): Form<KommuniceringForm>,
) -> Result<Response, WebError> {
    ac::send_kommunicering(&web, id, &a.official, &f.uppgifter).await?;
    web.counts.invalidate();
    Ok(back(id, "kommunicerat"))
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    svar: String,
}

pub async fn reply(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(f): Form<ReplyForm>,
) -> Result<Response, WebError> {
    let text = required_text(&f.svar, "Svaret")?;
    ac::record_reply(&web, id, &a.official, ReplyChannel::Web, &text).await?;
    web.counts.invalidate();
    Ok(back(id, "svar"))
}

#[derive(Deserialize)]
pub struct ReturnForm {
    #[serde(default)]
    skal: String,
}

pub async fn return_to_manual(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(f): Form<ReturnForm>,
) -> Result<Response, WebError> {
    let reason = required_text(&f.skal, "Skälet")?;
    ac::return_to_manual(&web, id, &a.official, &reason).await?;
    web.counts.invalidate();
    Ok(back(id, "manuell"))
}

#[derive(Deserialize)]
pub struct AssignForm {
    till: String,
}

pub async fn assign(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(f): Form<AssignForm>,
) -> Result<Response, WebError> {
    let to = match f.till.as_str() {
        "mig" => Some(a.official.user_id),
        "ingen" => None,
        _ => return Err(Failure::Invalid("Okänd tilldelning.".into()).into()),
    };
    ac::assign(&web, id, &a.official, to).await?;
    Ok(back(id, "tilldelat"))
}

#[derive(Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    text: String,
}

pub async fn comment(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(f): Form<CommentForm>,
) -> Result<Response, WebError> {
    let text = required_text(&f.text, "Kommentaren")?;
    ac::comment(&web, id, &a.official, &text).await?;
    Ok(back(id, "kommentar"))
}
