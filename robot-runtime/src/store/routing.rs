//! Drafts the robot must not propose as a payment by itself, because of
//! what else is in the store: a changed resubmission of an application, or
//! a second application for an adult of the household and the same period
//! (which would otherwise be paid twice, or let a need be split under the
//! four-eyes threshold).
//!
//! The ruleset cannot know either: it sees one application and no store
//! (rules are sans-I/O). So the store, in the transaction that records the
//! draft, turns it into a `manuell` draft for a person: the outcome and
//! amount go, the routing code and a Swedish reason naming the earlier case
//! come in, the calculation stays for the official to start from, and a
//! trace entry (`manuell.andrad_ansokan`, `manuell.dubblett_period`) records
//! what was done, so every code and reason still has a rule behind it.

use super::CaseId;
use domain::{Draft, DraftError, Outcome, Reason, ReasonCode, TraceEntry};
use serde_json::json;

/// Why a draft goes to a person instead of being proposed as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The application came again under its external id with different
    /// content; `previous` is the version before.
    Resubmitted {
        previous: CaseId,
        diarienummer: Option<String>,
    },
    /// Earlier cases (not invalid, not closed without a decision) for an
    /// adult of this household and the same period.
    SamePeriod { earlier: Vec<(CaseId, Option<String>)> },
}

fn case_name(id: CaseId, diarienummer: Option<&str>) -> String {
    match diarienummer {
        Some(d) => format!("ärende {id} ({d})"),
        None => format!("ärende {id}"),
    }
}

impl Route {
    pub fn code(&self) -> ReasonCode {
        match self {
            Route::Resubmitted { .. } => ReasonCode::ANDRAD_ANSOKAN,
            Route::SamePeriod { .. } => ReasonCode::DUBBLETT_PERIOD,
        }
    }

    fn rule(&self) -> String {
        format!("manuell.{}", self.code().as_str())
    }

    /// The reason an official reads on the case page (Swedish).
    pub fn text(&self) -> String {
        match self {
            Route::Resubmitted { previous, diarienummer } => format!(
                "Ansökan har kommit in på nytt med ändrat innehåll; tidigare version: {}. \
                 En handläggare jämför versionerna och beslutar. Roboten föreslår inget belopp.",
                case_name(*previous, diarienummer.as_deref())
            ),
            Route::SamePeriod { earlier } => {
                let names: Vec<String> = earlier.iter().map(|(id, d)| case_name(*id, d.as_deref())).collect();
                format!(
                    "Det finns redan en ansökan för samma person och period: {}. En andra ansökan för samma månad \
                     handläggs av en handläggare, så att samma behov inte beviljas två gånger. Roboten föreslår inget belopp.",
                    names.join(", ")
                )
            }
        }
    }

    fn inputs(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        match self {
            Route::Resubmitted { previous, diarienummer } => {
                m.insert("tidigare_version".into(), json!(previous));
                if let Some(d) = diarienummer {
                    m.insert("tidigare_diarienummer".into(), json!(d));
                }
            }
            Route::SamePeriod { earlier } => {
                m.insert(
                    "tidigare_arenden".into(),
                    json!(earlier.iter().map(|(id, _)| id).collect::<Vec<_>>()),
                );
            }
        }
        m
    }
}

/// The draft as a `manuell` draft for a person, for these routes (none:
/// the draft unchanged). Outcome reasons (`bistand`,
/// `inkomster_tacker_behov`) go, because nothing is proposed; the routing
/// and cap reasons, the calculation, warnings and assessments stay.
/// `kept` says which of the draft's codes still stand when the case goes
/// to a person (the casework type's `keep_when_routed`).
pub fn route_to_person(draft: &Draft, routes: &[Route], kept: &dyn Fn(&str) -> bool) -> Result<Draft, DraftError> {
    if routes.is_empty() {
        return Ok(draft.clone());
    }
    let mut parts = draft.parts().clone();
    let was = parts.outcome;
    let lagrum = parts
        .reasons
        .iter()
        .map(|r| r.lagrum.clone())
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let codes = parts.codes.clone();
    parts
        .reasons
        .retain(|r| codes.iter().any(|c| c.as_str() == r.code) && kept(&r.code));
    parts.codes.retain(|c| kept(c.as_str()));
    for route in routes {
        let code = route.code();
        let text = route.text();
        parts.codes.push(code.clone());
        parts.reasons.push(Reason {
            code: code.as_str().to_string(),
            text: text.clone(),
            lagrum: lagrum.clone(),
        });
        let mut result = serde_json::Map::new();
        result.insert("codes".into(), json!([code.as_str()]));
        result.insert("reasons".into(), json!([code.as_str()]));
        result.insert("utfall_enligt_reglerna".into(), json!(was.as_str()));
        parts
            .trace
            .push(TraceEntry::from_maps(route.rule(), &route.inputs(), &result)?);
    }
    parts.outcome = Outcome::Manuell;
    parts.amount = None;
    Draft::new(parts)
}
