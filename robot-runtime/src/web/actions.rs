//! The officials' actions from the case page: approve, amend, return to
//! manual handling, assign, comment. Each is a form POST (the guard has
//! checked role and CSRF token); the approval core decides and audits, and
//! the browser is sent back to the case (303).

use super::Web;
use super::approval_core::{self as ac, Amendment, ApprovalResult, DecisionRequest, ReplyChannel};
use super::case::{self, FormError, Posted, field_id};
use super::error::{Failure, WebError};
use super::pages::see_other;
use super::session::Authed;
use crate::store::CaseId;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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
pub fn skip_ground(form: &str, ground: &str, explanation: &str) -> Result<Option<(SkipGround, String)>, FormError> {
    let ground = ground.trim();
    if ground.is_empty() {
        return Ok(None);
    }
    let g: SkipGround = ground.parse().map_err(|_| {
        FormError::at(
            field_id(form, "avsta_grund"),
            "Välj ett skäl att avstå från kommunicering.",
        )
    })?;
    Ok(Some((
        g,
        required_text(explanation, "Förklaringen till att kommunicering inte behövs")
            .map_err(|e| FormError::at(field_id(form, "avsta_forklaring"), e.message()))?,
    )))
}

/// `required_text` with the error placed at the field `name`.
fn text_at(form: &str, s: &str, what: &str, name: &str) -> Result<String, FormError> {
    required_text(s, what).map_err(|e| FormError::at(field_id(form, name), e.message()))
}

/// A failure of a case form shown on the case page itself, the typed
/// values kept; what is not the official's to correct (a missing case, an
/// internal error) stays an error page.
async fn in_place(
    web: &Web,
    a: &Authed,
    id: CaseId,
    form: &'static str,
    fields: Vec<(String, String)>,
    error: FormError,
    status: StatusCode,
) -> Result<Response, WebError> {
    let posted = Posted {
        form,
        fields,
        error: Some(error),
    };
    case::render(web, a, id, None, posted, status).await
}

/// Shows a failure in place when the official can do something about it.
async fn failed(
    web: &Web,
    a: &Authed,
    id: CaseId,
    form: &'static str,
    fields: Vec<(String, String)>,
    f: Failure,
) -> Result<Response, WebError> {
    match f.shown_in_place() {
        Some((status, message)) => in_place(web, a, id, form, fields, FormError::general(message), status).await,
        None => Err(f.into()),
    }
}

/// Approve: the first submission shows what will happen and the letter
/// (the confirmation step); `steg=bekrafta` decides, `steg=bekrafta-nasta`
/// decides and opens the next case.
pub async fn approve(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let f = Fields(fields.clone());
    let skip = match skip_ground("godkann", f.one("avsta_grund"), f.one("avsta_forklaring")) {
        Ok(s) => s,
        Err(e) => return in_place(&web, &a, id, "godkann", fields, e, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let req = DecisionRequest {
        ruling: Ruling::Proposal,
        confirmed: f.all("bedomning").map(str::to_string).collect(),
        skip_kommunicering: skip,
    };
    let step = f.one("steg");
    if step != "bekrafta" && step != "bekrafta-nasta" {
        return match ac::plan(&web, id, &a.official, &req).await {
            Ok(planned) => case::confirm_page(&a, id, "godkann", &planned, &fields),
            Err(e) => failed(&web, &a, id, "godkann", fields, e.into()).await,
        };
    }
    let r = match ac::decide(&web, id, &a.official, &req).await {
        Ok(r) => r,
        Err(e) => return failed(&web, &a, id, "godkann", fields, e.into()).await,
    };
    web.counts.invalidate();
    if step == "bekrafta-nasta" {
        return Ok(match case::next_case(&web, a.official.user_id, id).await? {
            Some(next) => see_other(&format!("/arenden/{next}?klart=godkant-forra&forra={id}#innehall")),
            None => see_other(&format!("/arenden?klart=godkant-sista&forra={id}")),
        });
    }
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
/// An error names the field it is about.
pub fn amendment(f: &Fields) -> Result<Amendment, FormError> {
    const F: &str = "andra";
    let motivering = text_at(F, f.one("motivering"), "Motiveringen", "motivering")?;
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
        let prefix = format!("rad.{}.{index}", section.as_str());
        let key = |what: &str| format!("{prefix}.{what}");
        let reason = f.one(&key("skal")).trim().to_string();
        let label = f.one(&key("text"));
        let label = if label.trim().is_empty() {
            format!("{}, rad {}", section.label(), index + 1)
        } else {
            label.trim().to_string()
        };
        if f.one(&key("bort")) == "1" {
            changes.push(RowChange::Remove {
                section: section.clone(),
                index,
                reason: text_at(
                    F,
                    &reason,
                    &format!("Skälet för att ta bort raden ”{label}”"),
                    &key("skal"),
                )?,
            });
            continue;
        }
        let amount = f.one(&key("belopp"));
        let proposed = f.one(&key("forslag"));
        if amount.trim().is_empty() || amount.trim() == proposed.trim() {
            continue;
        }
        let amount = parse_signed_kronor(amount, &format!("Beloppet för ”{label}”"))
            .map_err(|e| FormError::at(field_id(F, &key("belopp")), e.message()))?;
        if parse_signed_kronor(proposed, &label).ok() == Some(amount) {
            continue;
        }
        changes.push(RowChange::Change {
            section: section.clone(),
            index,
            amount,
            reason: text_at(
                F,
                &reason,
                &format!("Skälet för det ändrade beloppet för ”{label}”"),
                &key("skal"),
            )?,
        });
    }
    for n in 0..10 {
        let key = |what: &str| format!("ny.{n}.{what}");
        let text = f.one(&key("text")).trim();
        if text.is_empty() {
            if !f.one(&key("belopp")).trim().is_empty() {
                return Err(FormError::at(
                    field_id(F, &key("text")),
                    "Den nya raden behöver en text som säger vad beloppet gäller.",
                ));
            }
            continue;
        }
        let section: SectionKind = f.one(&key("del")).parse().map_err(|_| {
            FormError::at(
                field_id(F, &key("del")),
                "Välj vilken del av beräkningen den nya raden hör till.",
            )
        })?;
        changes.push(RowChange::Add {
            section,
            label: text.to_string(),
            amount: parse_signed_kronor(f.one(&key("belopp")), "Beloppet för den nya raden")
                .map_err(|e| FormError::at(field_id(F, &key("belopp")), e.message()))?,
            reason: text_at(F, f.one(&key("skal")), "Skälet för den nya raden", &key("skal"))?,
        });
    }
    Ok(Ruling::Rows { changes, motivering })
}

/// Amend: the decision differs from the proposal. When it would be final
/// at once (no second official), the confirmation step comes first.
pub async fn amend(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let f = Fields(fields.clone());
    let parsed = amendment(&f).and_then(|ruling| {
        Ok(DecisionRequest {
            ruling,
            confirmed: Vec::new(),
            skip_kommunicering: skip_ground("andra", f.one("avsta_grund"), f.one("avsta_forklaring"))?,
        })
    });
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return in_place(&web, &a, id, "andra", fields, e, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let step = f.one("steg");
    if step != "bekrafta" && step != "bekrafta-nasta" {
        match ac::plan(&web, id, &a.official, &req).await {
            Ok(planned) if planned.waits_for_second.is_none() => {
                return case::confirm_page(&a, id, "andra", &planned, &fields);
            }
            Ok(_) => {}
            Err(e) => return failed(&web, &a, id, "andra", fields, e.into()).await,
        }
    }
    let r = match ac::decide(&web, id, &a.official, &req).await {
        Ok(r) => r,
        Err(e) => return failed(&web, &a, id, "andra", fields, e.into()).await,
    };
    web.counts.invalidate();
    if step == "bekrafta-nasta" {
        return Ok(match case::next_case(&web, a.official.user_id, id).await? {
            Some(next) => see_other(&format!("/arenden/{next}?klart=godkant-forra&forra={id}#innehall")),
            None => see_other(&format!("/arenden?klart=godkant-sista&forra={id}")),
        });
    }
    Ok(back(
        id,
        match r {
            ApprovalResult::Approved => "andrat-skickas",
            ApprovalResult::AwaitingSecondApproval => "andrat",
        },
    ))
}

pub async fn kommunicera(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let own = Fields(fields.clone()).one("uppgifter").to_string();
    if let Err(e) = ac::send_kommunicering(&web, id, &a.official, &own).await {
        return failed(&web, &a, id, "kommunicera", fields, e.into()).await;
    }
    web.counts.invalidate();
    Ok(back(id, "kommunicerat"))
}

pub async fn reply(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let text = match text_at("svar", Fields(fields.clone()).one("svar"), "Svaret", "svar") {
        Ok(t) => t,
        Err(e) => return in_place(&web, &a, id, "svar", fields, e, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    if let Err(e) = ac::record_reply(&web, id, &a.official, ReplyChannel::Web, &text).await {
        return failed(&web, &a, id, "svar", fields, e.into()).await;
    }
    web.counts.invalidate();
    Ok(back(id, "svar"))
}

pub async fn return_to_manual(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let reason = match text_at("manuell", Fields(fields.clone()).one("skal"), "Skälet", "skal") {
        Ok(t) => t,
        Err(e) => return in_place(&web, &a, id, "manuell", fields, e, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    if let Err(e) = ac::return_to_manual(&web, id, &a.official, &reason).await {
        return failed(&web, &a, id, "manuell", fields, e.into()).await;
    }
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

pub async fn comment(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let text = match text_at("kommentar", Fields(fields.clone()).one("text"), "Kommentaren", "text") {
        Ok(t) => t,
        Err(e) => return in_place(&web, &a, id, "kommentar", fields, e, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    if let Err(e) = ac::comment(&web, id, &a.official, &text).await {
        return failed(&web, &a, id, "kommentar", fields, e.into()).await;
    }
    Ok(back(id, "kommentar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_as_people_write_them() {
        let ore = |s: &str| parse_signed_kronor(s, "Beloppet").map(Money::ore).ok();
        assert_eq!(ore("11970"), Some(1_197_000));
        assert_eq!(ore("11 970"), Some(1_197_000));
        assert_eq!(ore("11 970 kr"), Some(1_197_000));
        assert_eq!(ore("11\u{a0}970\u{a0}kr"), Some(1_197_000));
        assert_eq!(ore("11970,50"), Some(1_197_050));
        assert_eq!(ore("11 970,50 kr"), Some(1_197_050));
        assert_eq!(ore("-1 050"), Some(-105_000));
        assert_eq!(ore("−1 050 kr"), Some(-105_000));
        for bad in ["", "kr", "elva tusen", "11.970.50", "11 970 kronor", "1,2,3"] {
            assert!(ore(bad).is_none(), "{bad:?} is refused");
        }
    }

    #[test]
    fn an_amendment_error_names_its_field() {
        let f = Fields(vec![
            ("motivering".into(), "Skäl".into()),
            ("rad.costs.1.forslag".into(), "300".into()),
            ("rad.costs.1.belopp".into(), "trehundra".into()),
        ]);
        let e = amendment(&f).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("andra-rad-costs-1-belopp"));
        let f = Fields(vec![("motivering".into(), "  ".into())]);
        assert_eq!(amendment(&f).unwrap_err().field.as_deref(), Some("andra-motivering"));
    }
}
