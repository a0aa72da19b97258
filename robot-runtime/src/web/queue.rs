//! The officials' work queue page (`/arenden`): the views ("Att besluta",
//! "Väntar på mig som andra granskare", "Mina", "Ogiltiga", "Alla"), the
//! search on person and diarienummer (`q=`), filters, sortable columns,
//! paging and counts that match the filters.

use super::error::{Failure, WebError};
use super::pages::{Choice, Chrome, choices, render};
use super::session::{self, Authed};
use super::view;
use super::{Web, approval_core as ac};
use crate::store::CaseId;
use crate::store::queue::{QueueFilter, QueueRow, QueueSort, SortColumn, StateTally};
use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use domain::{CaseState, Outcome};
use serde::Deserialize;

const PAGE_SIZE: i64 = 50;

/// A view of the queue, as a tab with its count.
pub struct ViewTab {
    pub href: String,
    pub label: &'static str,
    pub count: i64,
    pub current: bool,
}

/// A sortable column header.
pub struct SortHeader {
    pub label: &'static str,
    pub href: String,
    /// `ascending`/`descending` on the column the page is sorted by.
    pub aria_sort: Option<&'static str>,
    /// What following the link does, for screen readers.
    pub hint: &'static str,
    pub numeric: bool,
}

pub struct PersonLine {
    pub name: String,
    pub personnummer: String,
}

pub struct QueueLine {
    pub id: CaseId,
    pub diarienummer: String,
    pub external_id: String,
    pub people: Vec<PersonLine>,
    /// The casework type's title.
    pub kind: String,
    pub period: String,
    pub outcome: &'static str,
    pub amount: String,
    /// "ändrat", "väntar på andra granskare" for a pending decision's amount.
    pub amount_note: Option<&'static str>,
    pub age: i64,
    pub state: &'static str,
    pub assigned: String,
    pub flags: Vec<String>,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePageT {
    chrome: Chrome,
    title: String,
    heading: &'static str,
    views: Vec<ViewTab>,
    total: i64,
    /// A broad search: more than `BROAD` cases, counts not shown.
    capped: bool,
    broad: String,
    search: String,
    /// The search had no word of two characters or more.
    search_too_short: bool,
    may_search: bool,
    show_state: bool,
    hidden: Vec<(&'static str, String)>,
    f_state: Vec<Choice>,
    f_type: Vec<Choice>,
    f_robot: Vec<Choice>,
    f_outcome: Vec<Choice>,
    f_age: Vec<Choice>,
    f_sort: Vec<Choice>,
    mine: bool,
    headers: Vec<SortHeader>,
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
    /// Search: name, personnummer, diarienummer or external id.
    pub q: Option<String>,
    /// A view that is not a state: `andra-granskare`.
    pub vy: Option<String>,
}

const AGES: &[(&str, &str, Option<i64>, Option<i64>)] = &[
    ("", "Alla", None, None),
    ("0-7", "0–7 dagar", None, Some(8)),
    ("8-30", "8–30 dagar", Some(8), Some(31)),
    ("31-", "Över 30 dagar", Some(31), None),
];

const SECOND_VIEW: &str = "andra-granskare";

fn sort_label(s: QueueSort) -> &'static str {
    match s {
        QueueSort::Oldest => "Flest dagar först",
        QueueSort::Newest => "Färst dagar först",
        QueueSort::AmountHigh => "Högst belopp först",
        QueueSort::AmountLow => "Lägst belopp först",
        QueueSort::CaseAsc => "Ärende, stigande",
        QueueSort::CaseDesc => "Ärende, fallande",
        QueueSort::PeriodAsc => "Period, äldst först",
        QueueSort::PeriodDesc => "Period, senast först",
        QueueSort::OutcomeAsc => "Förslag, A–Ö",
        QueueSort::OutcomeDesc => "Förslag, Ö–A",
    }
}

type RobotTypes = Vec<(String, String, String)>;

/// Each robot with its casework type and the type's title, by robot name.
/// Loading a ruleset reads and hashes its files, so the answer is kept for
/// ten seconds per set of robots (a changed package shows after that).
fn robot_types(web: &Web) -> RobotTypes {
    type Cache = std::sync::Mutex<
        Vec<(
            Vec<(String, std::path::PathBuf)>,
            chrono::DateTime<chrono::Utc>,
            RobotTypes,
        )>,
    >;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let key: Vec<(String, std::path::PathBuf)> = web.ctx.settings.ruleset_folders();
    let now = web.now();
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(c) = cache.lock()
        && let Some((_, at, v)) = c.iter().find(|(k, ..)| *k == key)
        && now >= *at
        && now - *at < chrono::Duration::seconds(10)
    {
        return v.clone();
    }
    let v = load_robot_types(web);
    if let Ok(mut c) = cache.lock() {
        c.retain(|(k, ..)| *k != key);
        c.truncate(15);
        c.push((key, now, v.clone()));
    }
    v
}

/// Whether a robot of this service runs the casework type.
pub(super) fn runs_type(web: &Web, typ: &str) -> bool {
    robot_types(web).iter().any(|(_, t, _)| t == typ)
}

fn load_robot_types(web: &Web) -> RobotTypes {
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
        if self.second_view() {
            return Ok(None);
        }
        match self.status.as_deref() {
            None => Ok(Some(CaseState::AwaitingApproval)),
            Some("" | "alla") => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| Failure::BadRequest("Okänd status i filtret.".into())),
        }
    }

    fn second_view(&self) -> bool {
        self.vy.as_deref() == Some(SECOND_VIEW)
    }

    fn search(&self) -> Option<String> {
        self.q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_string)
    }

    pub fn filter(&self, web: &Web, me: i64) -> Result<(QueueFilter, QueueSort), Failure> {
        let now = web.now();
        let (min_age, max_age) = AGES
            .iter()
            .find(|(v, ..)| *v == self.alder.as_deref().unwrap_or(""))
            .map(|(_, _, a, b)| (*a, *b))
            .ok_or_else(|| Failure::BadRequest("Okänd ålder i filtret.".into()))?;
        match self.vy.as_deref() {
            None | Some("") | Some(SECOND_VIEW) => {}
            Some(_) => return Err(Failure::BadRequest("Okänd vy.".into())),
        }
        if self.q.as_deref().is_some_and(|q| q.chars().count() > 200) {
            return Err(Failure::BadRequest("Sökningen är för lång.".into()));
        }
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
            search: self.search(),
            second_for: self.second_view().then_some(me),
        };
        let sort = match self.sortering.as_deref() {
            None | Some("") => QueueSort::default(),
            Some(s) => QueueSort::parse(s).ok_or_else(|| Failure::BadRequest("Okänd sortering.".into()))?,
        };
        Ok((filter, sort))
    }

    /// The query string's pairs, in a fixed order.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut parts = Vec::new();
        let mut add = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push((k, v.clone()));
            }
        };
        add("q", &self.search());
        add("vy", &self.vy);
        add("status", &self.status);
        add("typ", &self.typ);
        add("robot", &self.robot);
        add("utfall", &self.utfall);
        add("alder", &self.alder);
        add("mina", &self.mina);
        add("sortering", &self.sortering);
        parts
    }

    fn href(&self, page: i64) -> String {
        let mut parts: Vec<String> = self
            .pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", session::urlencode(&v)))
            .collect();
        if page > 1 {
            parts.push(format!("sida={page}"));
        }
        if parts.is_empty() {
            "/arenden".into()
        } else {
            format!("/arenden?{}", parts.join("&"))
        }
    }

    /// The same query showing another view (the first page).
    fn with_view(&self, status: Option<&str>, mine: bool, second: bool) -> QueueQuery {
        QueueQuery {
            status: status.map(str::to_string),
            mina: mine.then(|| "1".to_string()),
            vy: second.then(|| SECOND_VIEW.to_string()),
            sida: None,
            ..self.clone()
        }
    }

    fn with_sort(&self, sort: QueueSort) -> QueueQuery {
        QueueQuery {
            sortering: Some(sort.as_str().to_string()),
            sida: None,
            ..self.clone()
        }
    }
}

/// "2 000": digits in groups of three, as Swedish writes them.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{a0}');
        }
        out.push(ch);
    }
    if n < 0 { format!("−{out}") } else { out }
}

fn count_of(counts: &[(CaseState, i64)], s: CaseState) -> i64 {
    counts.iter().find(|(st, _)| *st == s).map_or(0, |(_, n)| *n)
}

/// "Flaggor": what the official should know before opening the case.
fn flags(web: &Web, r: &QueueRow) -> Vec<String> {
    let mut out = Vec::new();
    let four_eyes_from = web.ctx.settings.approval.four_eyes_from_kr.saturating_mul(100);
    match r.state {
        CaseState::AwaitingSecondApproval => out.push(match &r.first_by_name {
            Some(n) => format!("Väntar på andra granskare (godkänt av {n})"),
            None => "Väntar på andra granskare".into(),
        }),
        CaseState::AwaitingApproval if r.amount_ore.is_some_and(|a| a >= four_eyes_from) => {
            out.push("Andra granskare behövs".into());
        }
        _ => {}
    }
    if let Some(d) = r.kommunicering_deadline {
        out.push(format!("Kommunicering t.o.m. {}", view::date(d)));
    }
    if r.assessments > 0 && crate::approval::undecided(r.state) {
        out.push(if r.assessments == 1 {
            "1 bedömning att bekräfta".into()
        } else {
            format!("{} bedömningar att bekräfta", r.assessments)
        });
    }
    out
}

fn period_text(p: Option<&str>) -> String {
    match p {
        None => "–".into(),
        Some(s) => s
            .parse::<domain::Period>()
            .map_or_else(|_| s.to_string(), domain::Period::swedish),
    }
}

pub async fn queue(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Query(mut q): Query<QueueQuery>,
) -> Result<Response, WebError> {
    let me = a.official.user_id;
    // A reader who sees cases pseudonymised does not search for people.
    let pseudo = super::access::pseudonymised(&a);
    if pseudo {
        q.q = None;
    }
    let (filter, sort) = q.filter(&web, me)?;
    let page = q.sida.unwrap_or(1).clamp(1, 100_000);
    let result = web
        .ctx
        .store
        .queue(&filter, sort, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        .await?;
    let now = web.now();
    let is_decider = a.official.roles.contains(&ac::Role::Handlaggare);
    let second = filter.second_for.is_some();
    let mine = filter.assigned_to.is_some();

    // The views' counts: the other filters (type, robot, search, outcome,
    // age) apply; the view's own (state, mine, second approver) does not.
    let base = QueueFilter {
        state: None,
        assigned_to: None,
        second_for: None,
        ..filter.clone()
    };
    let (tally, capped): (Vec<StateTally>, bool) = if base.only_state() {
        // Nothing else filters: the cached counts of all cases, and the
        // two indexed counts of mine and waiting for me.
        let all = web.counts.get(&web).await?;
        let mine = if is_decider || mine {
            web.ctx.store.queue_tally_mine(me).await?
        } else {
            Vec::new()
        };
        let second = if is_decider {
            web.ctx
                .store
                .queue_count(&QueueFilter {
                    second_for: Some(me),
                    ..QueueFilter::default()
                })
                .await?
        } else {
            0
        };
        let t = all
            .iter()
            .map(|(s, n)| StateTally {
                state: *s,
                all: *n,
                mine: count_of(&mine, *s),
                second: if *s == CaseState::AwaitingSecondApproval {
                    second
                } else {
                    0
                },
            })
            .collect();
        (t, false)
    } else {
        web.ctx.store.queue_tally(&base, me).await?
    };
    let base_counts: Vec<(CaseState, i64)> = tally.iter().map(|t| (t.state, t.all)).collect();
    let all: i64 = base_counts.iter().map(|(_, n)| n).sum();
    let mine_count = is_decider.then(|| tally.iter().map(|t| t.mine).sum::<i64>());
    let second_count = is_decider.then(|| tally.iter().map(|t| t.second).sum::<i64>());
    // The states' counts with every filter but the state (mine included).
    let counts: Vec<(CaseState, i64)> = if mine {
        tally.iter().map(|t| (t.state, t.mine)).collect()
    } else {
        base_counts.clone()
    };
    let total = if second {
        second_count.unwrap_or(0)
    } else {
        match filter.state {
            Some(s) => count_of(&counts, s),
            None => counts.iter().map(|(_, n)| n).sum(),
        }
    };

    let state_param = q.status.clone().unwrap_or_else(|| "awaiting_approval".into());
    let is_state = |s: &str| !second && !mine && state_param == s;
    let mut views = vec![ViewTab {
        href: q.with_view(None, false, false).href(1),
        label: "Att besluta",
        count: count_of(&base_counts, CaseState::AwaitingApproval),
        current: is_state("awaiting_approval"),
    }];
    if let Some(n) = second_count {
        views.push(ViewTab {
            href: q.with_view(None, false, true).href(1),
            label: "Väntar på mig som andra granskare",
            count: n,
            current: second,
        });
    }
    if let Some(n) = mine_count {
        views.push(ViewTab {
            href: q.with_view(Some("alla"), true, false).href(1),
            label: "Mina",
            count: n,
            current: mine && !second && state_param == "alla",
        });
    }
    views.push(ViewTab {
        href: q.with_view(Some("invalid"), false, false).href(1),
        label: "Ogiltiga",
        count: count_of(&base_counts, CaseState::Invalid),
        current: is_state("invalid"),
    });
    views.push(ViewTab {
        href: q.with_view(Some("alla"), false, false).href(1),
        label: "Alla",
        count: all,
        current: is_state("alla") || (is_state("") && q.status.is_some()),
    });
    let heading = views.iter().find(|v| v.current).map_or("Ärenden", |v| v.label);
    let search = q.search().unwrap_or_default();
    let title = if search.is_empty() {
        format!("Ärenden: {heading}")
    } else {
        format!("Ärenden: {heading}, sökning ”{search}”")
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
    let (sorted_by, ascending) = sort.column();
    let header = |label: &'static str, col: SortColumn, first_ascending: bool, numeric: bool| {
        let current = col == sorted_by;
        let next_ascending = if current { !ascending } else { first_ascending };
        SortHeader {
            label,
            href: q.with_sort(QueueSort::of(col, next_ascending)).href(1),
            aria_sort: current.then_some(if ascending { "ascending" } else { "descending" }),
            hint: if next_ascending {
                "sortera stigande"
            } else {
                "sortera fallande"
            },
            numeric,
        }
    };
    let headers = vec![
        header("Ärende", SortColumn::Case, true, false),
        header("Period", SortColumn::Period, true, false),
        header("Förslag", SortColumn::Outcome, true, false),
        header("Belopp", SortColumn::Amount, false, true),
        header("Dagar", SortColumn::Days, false, true),
    ];
    // The form's own fields replace these; the rest ride along.
    let hidden: Vec<(&'static str, String)> = q.pairs().into_iter().filter(|(k, _)| matches!(*k, "vy")).collect();
    let t = QueuePageT {
        chrome: Chrome::for_user(&a, "/arenden"),
        title,
        heading,
        views,
        total,
        capped,
        broad: grouped(crate::store::queue::BROAD),
        search_too_short: !search.is_empty() && filter.search_ranges().is_empty(),
        search,
        may_search: !pseudo,
        show_state: filter.state.is_none(),
        hidden,
        f_state: choices(
            std::iter::once((
                "alla".to_string(),
                if capped {
                    "Alla".to_string()
                } else {
                    format!("Alla ({})", counts.iter().map(|(_, n)| n).sum::<i64>())
                },
            ))
            .chain(CaseState::ALL.iter().map(|s| {
                (
                    s.as_str().to_string(),
                    if capped {
                        s.label().to_string()
                    } else {
                        format!("{} ({})", s.label(), count_of(&counts, *s))
                    },
                )
            }))
            .collect(),
            if second { "alla" } else { &state_param },
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
        headers,
        rows: result
            .rows
            .iter()
            .map(|r| QueueLine {
                id: r.id,
                diarienummer: r.diarienummer.clone().unwrap_or_else(|| format!("Ärende {}", r.id)),
                external_id: r.external_id.clone(),
                people: if pseudo {
                    Vec::new()
                } else {
                    r.people
                        .iter()
                        .take(2)
                        .map(|p| PersonLine {
                            name: p.name.clone().unwrap_or_else(|| p.role.clone()),
                            personnummer: p.personnummer.formatted(),
                        })
                        .collect()
                },
                kind: title_of(&r.robot),
                period: period_text(r.period.as_deref()),
                outcome: view::outcome_label(r.outcome),
                amount: r.amount_ore.map_or_else(|| "–".into(), view::money),
                amount_note: (r.state == CaseState::AwaitingSecondApproval).then_some(if r.amended {
                    "ändrat"
                } else {
                    "väntar på andra granskare"
                }),
                age: view::age_days(now, r.applied),
                state: r.state.label(),
                assigned: r.assigned_name.clone().unwrap_or_else(|| "–".into()),
                flags: flags(&web, r),
            })
            .collect(),
        page,
        prev_href: (page > 1).then(|| q.href(page - 1)),
        next_href: result.has_more.then(|| q.href(page + 1)),
    };
    render(&t)
}
