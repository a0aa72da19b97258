//! The officials' actions from the case page: approve, amend, return to
//! manual handling, assign, comment. Each is a form POST (the guard has
//! checked role and CSRF token); the approval core decides and audits, and
//! the browser is sent back to the case (303).

use super::Web;
use super::approval_core::{self as ac, Amendment, ApprovalResult};
use super::error::{Failure, WebError};
use super::pages::see_other;
use super::session::Authed;
use crate::store::CaseId;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Form};
use domain::{Money, Outcome, Row};
use serde::Deserialize;

/// Longest justification, reason or comment accepted.
pub const MAX_TEXT: usize = 4000;

pub fn required_text(s: &str, what: &str) -> Result<String, Failure> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Failure::Invalid(format!("{what} måste fyllas i.")));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(Failure::Invalid(format!("{what} får vara högst {MAX_TEXT} tecken.")));
    }
    Ok(t.to_string())
}

fn back(id: CaseId, done: &str) -> Response {
    see_other(&format!("/arenden/{id}?klart={done}#innehall"))
}

pub async fn approve(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
) -> Result<Response, WebError> {
    let r = ac::approve(&web, id, &a.official).await?;
    web.counts.invalidate();
    Ok(back(
        id,
        match r {
            ApprovalResult::Approved => "godkant",
            ApprovalResult::AwaitingSecondApproval => "andra-godkannare",
        },
    ))
}

#[derive(Deserialize)]
pub struct AmendForm {
    utfall: String,
    #[serde(default)]
    belopp: String,
    #[serde(default)]
    rader: String,
    #[serde(default)]
    motivering: String,
}

/// Whole kronor as people write them: `4450`, `4 450`, `4450,00`.
pub fn parse_kronor(s: &str, what: &str) -> Result<Money, Failure> {
    let m = Money::parse_kronor_text(s)
        .map_err(|_| Failure::Invalid(format!("{what}: skriv ett belopp i kronor, till exempel 4450.")))?;
    if m.ore() < 0 {
        return Err(Failure::Invalid(format!("{what} får inte vara negativt.")));
    }
    Ok(m)
}

/// `text; belopp` per line.
pub fn parse_rows(text: &str) -> Result<Vec<Row>, Failure> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (label, amount) = line.rsplit_once(';').ok_or_else(|| {
            Failure::Invalid(format!(
                "Rad {} i de ändrade raderna: skriv text; belopp (till exempel Tandvård; 1200).",
                i + 1
            ))
        })?;
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 200 {
            return Err(Failure::Invalid(format!(
                "Rad {}: texten saknas eller är för lång.",
                i + 1
            )));
        }
        let amount = Money::parse_kronor_text(amount)
            .map_err(|_| Failure::Invalid(format!("Rad {}: beloppet är inte ett belopp i kronor.", i + 1)))?;
        rows.push(Row {
            label: label.to_string(),
            amount,
        });
    }
    if rows.len() > 50 {
        return Err(Failure::Invalid("Högst 50 ändrade rader.".into()));
    }
    Ok(rows)
}

pub fn amendment(outcome: &str, amount: &str, rows: &str, justification: &str) -> Result<Amendment, Failure> {
    let outcome: Outcome = outcome
        .parse()
        .map_err(|_| Failure::Invalid("Välj ett beslut.".into()))?;
    if outcome == Outcome::Manuell {
        return Err(Failure::Invalid(
            "Använd Lämna till manuell handläggning för att ta över ärendet.".into(),
        ));
    }
    let amount = if amount.trim().is_empty() {
        Money::ZERO
    } else {
        parse_kronor(amount, "Beloppet")?
    };
    Ok(Amendment {
        outcome,
        amount,
        rows: parse_rows(rows)?,
        justification: required_text(justification, "Motiveringen")?,
    })
}

pub async fn amend(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(f): Form<AmendForm>,
) -> Result<Response, WebError> {
    let am = amendment(&f.utfall, &f.belopp, &f.rader, &f.motivering)?;
    ac::amend(&web, id, &a.official, &am).await?;
    web.counts.invalidate();
    Ok(back(id, "andrat"))
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
