//! The officials' work queue page (`/arenden`): filters, sorting, paging
//! and the counts per state.

use super::error::{Failure, WebError};
use super::pages::{Chrome, Choice, choices, render};
use super::session::{self, Authed};
use super::view;
use super::{Web, approval_core as ac};
use crate::store::CaseId;
use crate::store::queue::{QueueFilter, QueueSort};
use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use domain::{CaseState, Outcome};
use serde::Deserialize;

const PAGE_SIZE: i64 = 50;

pub struct CountLink {
    pub href: String,
    pub label: &'static str,
    pub count: i64,
    pub current: bool,
}

pub struct QueueLine {
    pub id: CaseId,
    pub external_id: String,
    /// The casework type's title.
    pub kind: String,
    pub period: String,
    pub robot: String,
    pub outcome: &'static str,
    pub amount: String,
    pub received: String,
    pub age: i64,
    pub state: &'static str,
    pub assigned: String,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePageT {
    chrome: Chrome,
    counts: Vec<CountLink>,
    mine_count: Option<i64>,
    f_state: Vec<Choice>,
    f_type: Vec<Choice>,
    f_robot: Vec<Choice>,
    f_outcome: Vec<Choice>,
    f_age: Vec<Choice>,
    f_sort: Vec<Choice>,
    mine: bool,
    rows: Vec<QueueLine>,
    page: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
}

/// The queue's query string (Swedish names; all optional).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueQuery {
    pub status: Option<String>,
    /// The casework type (`ekonomiskt-bistand`).
    pub typ: Option<String>,
    pub robot: Option<String>,
    pub utfall: Option<String>,
    pub alder: Option<String>,
    pub mina: Option<String>,
    pub sortering: Option<String>,
    pub sida: Option<i64>,
}

const AGES: &[(&str, &str, Option<i64>, Option<i64>)] = &[
    ("", "Alla", None, None),
    ("0-7", "0–7 dagar", None, Some(8)),
    ("8-30", "8–30 dagar", Some(8), Some(31)),
    ("31-", "Över 30 dagar", Some(31), None),
];

fn sort_label(s: QueueSort) -> &'static str {
    match s {
        QueueSort::Oldest => "Äldst först",
        QueueSort::Newest => "Nyast först",
        QueueSort::AmountHigh => "Högst belopp först",
        QueueSort::AmountLow => "Lägst belopp först",
    }
}

/// Each robot with its casework type and the type's title, by robot name.
fn robot_types(web: &Web) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = web
        .ctx
        .settings
        .robots
        .iter()
        .filter_map(|r| {
            let rs = sandbox::Ruleset::load(&r.ruleset).ok()?;
            let cw = rs.casework()?;
            Some((r.name.clone(), cw.type_name().to_string(), cw.title().to_string()))
        })
        .collect();
    v.sort();
    v
}

impl QueueQuery {
    /// The state filter: default "väntar på beslut"; `alla` = any.
    fn state(&self) -> Result<Option<CaseState>, Failure> {
        match self.status.as_deref() {
            None => Ok(Some(CaseState::AwaitingApproval)),
            Some("" | "alla") => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| Failure::BadRequest("Okänd status i filtret.".into())),
        }
    }

    pub fn filter(&self, web: &Web, me: i64) -> Result<(QueueFilter, QueueSort), Failure> {
        let now = web.now();
        let (min_age, max_age) = AGES
            .iter()
            .find(|(v, ..)| *v == self.alder.as_deref().unwrap_or(""))
            .map(|(_, _, a, b)| (*a, *b))
            .ok_or_else(|| Failure::BadRequest("Okänd ålder i filtret.".into()))?;
        let filter = QueueFilter {
            state: self.state()?,
            robot: self.robot.clone().filter(|r| !r.is_empty()),
            robots: match self.typ.as_deref() {
                None | Some("") => None,
                Some(t) => {
                    let types = robot_types(web);
                    if !types.iter().any(|(_, ty, _)| ty == t) {
                        return Err(Failure::BadRequest("Okänd ärendetyp i filtret.".into()));
                    }
                    Some(
                        types
                            .into_iter()
                            .filter(|(_, ty, _)| ty == t)
                            .map(|(r, ..)| r)
                            .collect(),
                    )
                }
            },
            outcome: match self.utfall.as_deref() {
                None | Some("") => None,
                Some(o) => Some(
                    o.parse::<Outcome>()
                        .map_err(|_| Failure::BadRequest("Okänt förslag i filtret.".into()))?,
                ),
            },
            assigned_to: self.mina.as_deref().filter(|m| !m.is_empty()).map(|_| me),
            received_before: min_age.map(|d| now - chrono::Duration::days(d)),
            received_after: max_age.map(|d| now - chrono::Duration::days(d)),
        };
        let sort = match self.sortering.as_deref() {
            None | Some("") => QueueSort::default(),
            Some(s) => QueueSort::parse(s).ok_or_else(|| Failure::BadRequest("Okänd sortering.".into()))?,
        };
        Ok((filter, sort))
    }

    fn href(&self, page: i64) -> String {
        let mut parts = Vec::new();
        let mut add = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{k}={}", session::urlencode(v)));
            }
        };
        add("status", &self.status);
        add("typ", &self.typ);
        add("robot", &self.robot);
        add("utfall", &self.utfall);
        add("alder", &self.alder);
        add("mina", &self.mina);
        add("sortering", &self.sortering);
        if page > 1 {
            parts.push(format!("sida={page}"));
        }
        if parts.is_empty() {
            "/arenden".into()
        } else {
            format!("/arenden?{}", parts.join("&amp;").replace("&amp;", "&"))
        }
    }
}

pub async fn queue(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, WebError> {
    let me = a.official.user_id;
    let (filter, sort) = q.filter(&web, me)?;
    let page = q.sida.unwrap_or(1).clamp(1, 100_000);
    let result = web
        .ctx
        .store
        .queue(&filter, sort, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        .await?;
    let counts = web.counts.get(&web).await?;
    let now = web.now();
    let state_now = q.status.clone().unwrap_or_else(|| "awaiting_approval".into());
    let mine = filter.assigned_to.is_some();
    let is_decider = a.official.roles.contains(&ac::Role::Handlaggare);
    let mine_count = if is_decider {
        Some(web.ctx.store.assigned_count(me).await?)
    } else {
        None
    };
    let mut robots: Vec<String> = web.ctx.settings.robots.iter().map(|r| r.name.clone()).collect();
    robots.sort();
    let types = robot_types(&web);
    let mut type_choices: Vec<(String, String)> =
        types.iter().map(|(_, t, title)| (t.clone(), title.clone())).collect();
    type_choices.sort();
    type_choices.dedup();
    let title_of = |robot: &str| {
        types
            .iter()
            .find(|(r, ..)| r == robot)
            .map_or_else(|| "–".to_string(), |(.., title)| title.clone())
    };
    let t = QueuePageT {
        chrome: Chrome::for_user(&a, "/arenden"),
        counts: CaseState::ALL
            .iter()
            .map(|s| CountLink {
                href: format!("/arenden?status={}", s.as_str()),
                label: s.label(),
                count: counts.iter().find(|(st, _)| st == s).map_or(0, |(_, n)| *n),
                current: !mine && state_now == s.as_str(),
            })
            .filter(|c| c.count > 0 || c.current)
            .collect(),
        mine_count,
        f_state: choices(
            std::iter::once(("alla".to_string(), "Alla".to_string()))
                .chain(
                    CaseState::ALL
                        .iter()
                        .map(|s| (s.as_str().to_string(), s.label().to_string())),
                )
                .collect(),
            &state_now,
        ),
        f_type: choices(
            std::iter::once((String::new(), "Alla".to_string()))
                .chain(type_choices)
                .collect(),
            q.typ.as_deref().unwrap_or(""),
        ),
        f_robot: choices(
            std::iter::once((String::new(), "Alla".to_string()))
                .chain(robots.into_iter().map(|r| (r.clone(), r)))
                .collect(),
            q.robot.as_deref().unwrap_or(""),
        ),
        f_outcome: choices(
            std::iter::once((String::new(), "Alla".to_string()))
                .chain(
                    Outcome::ALL
                        .iter()
                        .map(|o| (o.as_str().to_string(), o.label().to_string())),
                )
                .collect(),
            q.utfall.as_deref().unwrap_or(""),
        ),
        f_age: choices(
            AGES.iter().map(|(v, l, ..)| (v.to_string(), l.to_string())).collect(),
            q.alder.as_deref().unwrap_or(""),
        ),
        f_sort: choices(
            QueueSort::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), sort_label(*s).to_string()))
                .collect(),
            sort.as_str(),
        ),
        mine,
        rows: result
            .rows
            .iter()
            .map(|r| QueueLine {
                id: r.id,
                external_id: r.external_id.clone(),
                kind: title_of(&r.robot),
                period: r.period.clone().unwrap_or_default(),
                robot: r.robot.clone(),
                outcome: view::outcome_label(r.outcome),
                amount: r.amount_ore.map_or_else(|| "–".into(), view::money),
                received: view::time(r.received),
                age: view::age_days(now, r.received),
                state: r.state.label(),
                assigned: r.assigned_name.clone().unwrap_or_else(|| "–".into()),
            })
            .collect(),
        page,
        prev_href: (page > 1).then(|| q.href(page - 1)),
        next_href: result.has_more.then(|| q.href(page + 1)),
    };
    render(&t)
}
