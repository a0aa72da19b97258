//! The case as the pages and the API show it, read through the approval
//! core's `case_view`, with its parts put into Swedish lines.

use super::Web;
use super::error::Failure;
use super::view;
use crate::store::{CaseDetail, CaseId};
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
}

fn outbox_status(s: &str) -> &'static str {
    match s {
        "pending" => "väntar på att skickas",
        "leased" => "skickas just nu",
        "delivered" => "skickat",
        "failing" => "misslyckas, försöker igen",
        _ => "okänt",
    }
}

pub async fn load(web: &Web, id: CaseId) -> Result<CaseViewModel, Failure> {
    let cv = crate::approval::case_view(&web.rt.store, id).await?;
    let assigned_name = match cv.assigned_to {
        Some(u) => web.rt.store.user_by_id(u).await?.map(|u| u.display_name),
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
            if let Some(j) = d
                .amendment
                .as_deref()
                .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
                .and_then(|v| v["justification"].as_str().map(str::to_string))
            {
                line.push_str(&format!(". Motivering: {j}"));
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
            let mut line = format!("Via {}: {}", o.channel, outbox_status(&o.status));
            if o.attempts > 0 {
                line.push_str(&format!(" ({} försök)", o.attempts));
            }
            if let Some(r) = &o.receipt {
                line.push_str(&format!(", kvitto {r}"));
            }
            if o.status != "delivered"
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
    Ok(CaseViewModel {
        detail: cv.detail,
        assigned_to: cv.assigned_to,
        assigned_name,
        decisions,
        outbox,
        earlier,
        comments,
    })
}
