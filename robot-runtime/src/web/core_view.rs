//! The case as the pages and the API show it, read through the approval
//! core's `case_view`, with its parts put into Swedish lines.

use super::Web;
use super::error::Failure;
use super::view;
use crate::store::{CaseDetail, CaseId, DeliveryStatus};
use chrono::{DateTime, Utc};

pub struct CaseViewModel {
    pub detail: CaseDetail,
    pub assigned_to: Option<i64>,
    pub assigned_name: Option<String>,
    /// Decisions and approvals, one line each, in Swedish.
    pub decisions: Vec<String>,
    /// The delivery, when there is one.
    pub outbox: Vec<String>,
    /// Earlier cases of the same household: (case, summary).
    pub earlier: Vec<(CaseId, String)>,
    /// (by, at, text)
    pub comments: Vec<(String, DateTime<Utc>, String)>,
    /// The decision record awaiting a second approver, or the final one.
    pub record: Option<domain::DecisionRecord>,
    /// Kommuniceringar, one line each, in Swedish.
    pub kommuniceringar: Vec<String>,
    /// A kommunicering was sent and closed (answered or expired).
    pub kommunicering_done: bool,
    /// The open kommunicering's deadline for the reply.
    pub open_deadline: Option<DateTime<Utc>>,
    /// Who made the decision that awaits a second official: (user id, name).
    pub pending_first: Option<(i64, String)>,
    /// The application as its type reads it, when it can be read.
    pub application: Option<sandbox::Input>,
    pub draft: Option<domain::Draft>,
}

fn outbox_status(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "väntar på att skickas",
        DeliveryStatus::Leased => "skickas just nu",
        DeliveryStatus::Delivered => "skickat",
        DeliveryStatus::Failing => "misslyckas, försöker igen",
    }
}

pub async fn load(web: &Web, id: CaseId) -> Result<CaseViewModel, Failure> {
    let cv = crate::approval::case_view(&web.ctx.store, id).await?;
    let assigned_name = match cv.assigned_to {
        Some(u) => web.ctx.store.user_by_id(u).await?.map(|u| u.display_name),
        None => None,
    };
    let decisions = cv
        .decisions
        .iter()
        .map(|d| {
            let what = if d.outcome == domain::Outcome::Avslag {
                "avslag".to_string()
            } else {
                format!("{}, {}", d.outcome.label().to_lowercase(), d.amount)
            };
            let mut line = format!(
                "{}: {} {} beslutet ({what})",
                view::time(d.first_at),
                d.first_by_name,
                if d.amendment.is_some() { "ändrade" } else { "godkände" }
            );
            if let Some(r) = d
                .record
                .as_deref()
                .and_then(|r| domain::DecisionRecord::from_json(r).ok())
                && r.departs_from_proposal()
                && let Some(m) = r.reasons.first()
            {
                line.push_str(&format!(". Motivering: {}", m.text));
            }
            match (&d.second_by_name, d.needs_second, d.final_) {
                (Some(second), _, _) => line.push_str(&format!(". Andra godkännande: {second}")),
                (None, true, false) => line.push_str(". Väntar på en andra handläggare"),
                _ => {}
            }
            line.push('.');
            line
        })
        .collect();
    let outbox = cv
        .outbox
        .iter()
        .map(|o| {
            let mut line = format!("Via {}: {}", o.channel, outbox_status(o.status));
            if o.attempts > 0 {
                line.push_str(&format!(" ({} försök)", o.attempts));
            }
            if let Some(r) = &o.receipt {
                line.push_str(&format!(", kvitto {r}"));
            }
            if o.status != DeliveryStatus::Delivered
                && let Some(e) = &o.last_error
            {
                line.push_str(&format!(", senaste fel: {e}"));
            }
            line
        })
        .collect();
    let earlier = cv
        .earlier
        .iter()
        .map(|c| {
            (
                c.id,
                format!(
                    "{}, {}{}",
                    c.period.as_deref().unwrap_or("–"),
                    c.state.label(),
                    c.amount_ore
                        .map(|a| format!(", {}", view::money(a)))
                        .unwrap_or_default()
                ),
            )
        })
        .collect();
    let comments = cv
        .comments
        .iter()
        .map(|c| (c.user_name.clone(), c.at, c.body.clone()))
        .collect();
    let kommuniceringar = cv
        .kommuniceringar
        .iter()
        .map(|k| {
            let status = match (k.closed.as_deref(), k.reply_at) {
                (Some("answered"), Some(at)) => format!("svar registrerat {}", view::time(at)),
                (Some(_), _) => "svarstiden gick ut utan svar".to_string(),
                (None, _) => format!("väntar på svar senast {}", view::time(k.deadline)),
            };
            format!(
                "{}: {} kommunicerade uppgifterna; {status}.",
                view::time(k.sent),
                k.sent_by_name
            )
        })
        .collect();
    let kommunicering_done = cv.kommuniceringar.iter().any(|k| k.closed.is_some());
    let open_deadline = cv
        .kommuniceringar
        .iter()
        .rev()
        .find(|k| k.closed.is_none())
        .map(|k| k.deadline);
    let pending_first = if cv.detail.summary.state == domain::CaseState::AwaitingSecondApproval {
        cv.decisions
            .iter()
            .rev()
            .find(|d| !d.final_)
            .map(|d| (d.first_by, d.first_by_name.clone()))
    } else {
        None
    };
    Ok(CaseViewModel {
        open_deadline,
        pending_first,
        application: cv.application,
        draft: cv.draft,
        record: cv.record,
        kommuniceringar,
        kommunicering_done,
        detail: cv.detail,
        assigned_to: cv.assigned_to,
        assigned_name,
        decisions,
        outbox,
        earlier,
        comments,
    })
}
