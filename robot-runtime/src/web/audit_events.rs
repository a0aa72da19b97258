//! The revisor's view of the audit log: its events, filtered and paged
//! (`/granskning/handelser`), one event (`…/{nummer}`) and its inclusion
//! proof as a file (`…/{nummer}/bevis`), the same C2SP tlog-proof
//! `hrobot audit prove` writes (`audit::Db::prove`, `TlogProof::to_text`).
//!
//! What is shown is each event's public part: kind, case, actor, time and
//! its public payload (states, outcome codes, counts, digests). Personal
//! data is sealed per data subject in the log and is never opened here, so
//! no personnummer or name of a citizen reaches these pages. Viewing them
//! is not logged as a `case_read`: they show no case's personal data (the
//! access log is about that), and logging every look at the log would fill
//! the log with its own reading.

use super::error::{Failure, WebError};
use super::pages::{Chrome, render};
use super::session::{Authed, urlencode};
use super::{Web, role_label, view};
use askama::Template;
use audit::LeafEvent;
use audit::store::{EventFilter, EventPage, ListFrom};
use audit::{AuditError, EventKind};
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Europe::Stockholm;
use domain::{CaseState, Outcome};
use serde::Deserialize;
use serde_json::Value;

/// Events per page.
pub const PER_PAGE: u32 = 50;

/// The Swedish name of an event kind.
pub fn kind_label(k: EventKind) -> &'static str {
    match k {
        EventKind::Fetched => "Ansökan hämtad",
        EventKind::Evaluated => "Reglerna tillämpade",
        EventKind::Drafted => "Beslutsförslag sparat",
        EventKind::Approved => "Godkänt",
        EventKind::Amended => "Ändrat av handläggare",
        EventKind::Returned => "Till manuell handläggning",
        EventKind::Sent => "Beslut skickat",
        EventKind::Invalid => "Ogiltig ansökan",
        EventKind::Failed => "Behandlingen misslyckades",
        EventKind::Requeued => "Behandlas på nytt",
        EventKind::Closed => "Ärendet avslutat",
        EventKind::Assigned => "Tilldelning",
        EventKind::Commented => "Kommentar",
        EventKind::KommuniceringSent => "Kommunicering skickad",
        EventKind::KommuniceringAnswered => "Svar på kommunicering",
        EventKind::KommuniceringExpired => "Svarstiden för kommunicering gick ut",
        EventKind::LetterSent => "Kommuniceringsbrev skickat",
        EventKind::CaseRead => "Ärendet läst",
        EventKind::Login => "Inloggning",
        EventKind::LoginFailed => "Misslyckad inloggning",
        EventKind::LoginThrottled => "Inloggning bromsad",
        EventKind::UserAdded => "Användare tillagd",
        EventKind::UserChanged => "Användare ändrad",
        EventKind::RoleRequested => "Roll begärd",
        EventKind::RoleGranted => "Roll given",
        EventKind::RoleRefused => "Roll avslagen",
        EventKind::RoleRemoved => "Roll borttagen",
        EventKind::RobotChanged => "Robot pausad eller startad",
        EventKind::Resubmitted => "Ny version av ansökan",
        EventKind::RulesetPublished => "Regelversion publicerad",
        EventKind::ActivationRequested => "Aktivering av regelversion begärd",
        EventKind::ActivationApproved => "Aktivering av regelversion godkänd",
        EventKind::ActivationRefused => "Aktivering av regelversion avslagen eller återkallad",
        EventKind::ShadowRun => "Skuggkörning av regelversion",
        EventKind::CaseReplayed => "Ärendet kört om med sin regelversion",
        EventKind::Erased => "Personuppgifter gallrade",
    }
}

/// Who did it, as officials read it: `user:anna` is `anna`, `robot:demo`
/// is `robot demo`; anything else as the log has it.
pub fn actor_label(actor: &str) -> String {
    if let Some(u) = actor.strip_prefix("user:") {
        u.to_string()
    } else if let Some(r) = actor.strip_prefix("robot:") {
        format!("robot {r}")
    } else {
        actor.to_string()
    }
}

/// The log's actor for what an official typed: `anna`, `user:anna`,
/// `robot demo` or `robot:demo`.
fn actor_of(typed: &str) -> Option<String> {
    let id = if let Some(r) = typed.strip_prefix("robot ") {
        format!("robot:{}", r.trim())
    } else if typed.contains(':') {
        typed.to_string()
    } else {
        format!("user:{typed}")
    };
    audit::Actor::parse(&id).ok().map(|a| a.as_str().to_string())
}

/// The case id in a case reference `case:N`.
fn case_id(e: &LeafEvent) -> Option<i64> {
    e.case_ref.as_ref()?.as_str().strip_prefix("case:")?.parse().ok()
}

fn text<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

fn number(p: &Value, key: &str) -> Option<i64> {
    p.get(key).and_then(Value::as_i64)
}

fn state_label(s: &str) -> String {
    s.parse::<CaseState>()
        .map_or_else(|_| s.to_string(), |c| c.label().to_string())
}

fn outcome_label(s: &str) -> String {
    s.parse::<Outcome>()
        .map_or_else(|_| s.to_string(), |o| o.label().to_string())
}

fn role_name(s: &str) -> String {
    crate::store::users::role_from_str(s).map_or_else(|| s.to_string(), |r| role_label(r).to_lowercase())
}

fn via_label(via: &str) -> &'static str {
    match via {
        "page" => "ärendesidan",
        "api" => "API:t",
        "letter" => "beslutsbrevet",
        "letter_pdf" => "beslutsbrevet (PDF)",
        "kommunicering_letter" => "kommuniceringsbrevet",
        "access_log" => "läsloggen",
        "cli" => "kommandoraden",
        _ => "annat",
    }
}

fn change_label(c: &str) -> &str {
    match c {
        "disabled" => "inaktiverad",
        "enabled" => "aktiverad",
        "personnummer_set" => "personnummer angivet",
        "personnummer_replaced" => "personnummer bytt",
        "paused" => "pausad",
        "resumed" => "startad",
        other => other,
    }
}

/// A short summary of an event in Swedish, from its public payload only
/// (no personal data is in it; amounts are sealed).
pub fn summary(e: &LeafEvent) -> String {
    let p = &e.payload;
    let mut parts: Vec<String> = Vec::new();
    let user = text(p, "user").map(actor_label);
    match e.kind {
        EventKind::Fetched => {
            if let Some(d) = text(p, "diarienummer") {
                parts.push(format!("diarienummer {d}"));
            }
            if let Some(period) = text(p, "period") {
                parts.push(format!("period {period}"));
            }
        }
        EventKind::Evaluated | EventKind::Drafted => {
            if let Some(o) = text(p, "outcome") {
                parts.push(format!("förslag: {}", outcome_label(o)));
            }
            if let Some(r) = text(p, "ruleset") {
                parts.push(format!("regler {r}"));
            }
        }
        EventKind::Approved | EventKind::Amended => {
            match text(p, "stage") {
                Some("first") => parts.push("första godkännandet, en andra handläggare ska godkänna".into()),
                Some("second") => parts.push("andra godkännandet".into()),
                _ => {}
            }
            if let Some(o) = text(p, "outcome") {
                parts.push(format!("beslut: {}", outcome_label(o)));
            }
            if p.get("amended").and_then(Value::as_bool) == Some(true) {
                parts.push("avviker från förslaget".into());
            }
        }
        EventKind::Sent | EventKind::LetterSent => {
            if let Some(c) = text(p, "channel") {
                parts.push(format!("kanal {c}"));
            }
            if let Some(n) = number(p, "attempts") {
                parts.push(format!("försök {n}"));
            }
        }
        EventKind::Invalid | EventKind::Failed => match text(p, "reason") {
            Some("refused_by_source") => parts.push("källan vägrade ansökan".into()),
            Some("invalid_application") => parts.push("ansökan gick inte att läsa".into()),
            Some("processing_failed") => parts.push("behandlingen misslyckades".into()),
            _ => {}
        },
        EventKind::Assigned => match p.get("to") {
            Some(Value::Null) | None => parts.push("tilldelning borttagen".into()),
            Some(Value::String(s)) => parts.push(format!("till {}", actor_label(s))),
            Some(other) => parts.push(format!("till användare nummer {other}")),
        },
        EventKind::Commented => {
            if let Some(n) = number(p, "chars") {
                parts.push(format!("{n} tecken"));
            }
        }
        EventKind::KommuniceringSent => {
            if let Some(d) = text(p, "deadline") {
                parts.push(format!("svar senast {d}"));
            }
        }
        EventKind::KommuniceringAnswered => {
            if let Some(c) = text(p, "channel") {
                parts.push(format!("svar via {c}"));
            }
        }
        EventKind::CaseRead => {
            if let Some(v) = text(p, "via") {
                parts.push(format!("via {}", via_label(v)));
            }
            if p.get("pseudonymised").and_then(Value::as_bool) == Some(true) {
                parts.push("utan personuppgifter".into());
            }
        }
        EventKind::Login | EventKind::LoginFailed | EventKind::LoginThrottled => {
            match text(p, "method") {
                Some("password") => parts.push("med lösenord".into()),
                Some("oidc") => parts.push("med enkel inloggning".into()),
                _ => {}
            }
            match text(p, "reason") {
                Some("wrong_password") => parts.push("fel lösenord".into()),
                Some("unknown_user") => parts.push("okänd användare".into()),
                Some("disabled_user") => parts.push("inaktiverad användare".into()),
                Some("no_password") => parts.push("kontot har inget lösenord".into()),
                _ => {}
            }
        }
        EventKind::UserAdded | EventKind::UserChanged => {
            if let Some(u) = &user {
                parts.push(format!("användare {u}"));
            }
            if let Some(c) = text(p, "change") {
                parts.push(change_label(c).to_string());
            }
        }
        EventKind::RoleRequested | EventKind::RoleGranted | EventKind::RoleRefused | EventKind::RoleRemoved => {
            if let Some(r) = text(p, "role") {
                parts.push(format!("rollen {}", role_name(r)));
            }
            if let Some(u) = &user {
                parts.push(format!("för {u}"));
            }
        }
        EventKind::RobotChanged => {
            if let Some(r) = text(p, "robot") {
                parts.push(format!("robot {r}"));
            }
            if let Some(c) = text(p, "change") {
                parts.push(change_label(c).to_string());
            }
        }
        EventKind::Resubmitted => {
            if let Some(prev) = text(p, "previous_case").and_then(|c| c.strip_prefix("case:")) {
                parts.push(format!("tidigare ärende {prev}"));
            }
            if let Some(v) = number(p, "version") {
                parts.push(format!("version {v}"));
            }
        }
        EventKind::Erased => {
            if let Some(n) = number(p, "keys_deleted") {
                parts.push(format!("{n} nyckel/nycklar raderade"));
            }
        }
        EventKind::RulesetPublished => {
            if let (Some(n), Some(v)) = (text(p, "name"), text(p, "version")) {
                parts.push(format!("{n} {v}"));
            }
            if let (Some(ok), Some(bad)) = (number(p, "tests_passed"), number(p, "tests_failed")) {
                parts.push(format!("tester {ok} av {} gick igenom", ok + bad));
            }
            if text(p, "via") == Some("configuration") {
                parts.push("från robotens konfigurerade mapp".into());
            }
        }
        EventKind::ActivationRequested | EventKind::ActivationApproved | EventKind::ActivationRefused => {
            if let Some(r) = number(p, "request") {
                parts.push(format!("begäran {r}"));
            }
            if let Some(t) = text(p, "casework_type") {
                parts.push(format!("ärendetyp {t}"));
            }
            if let Some(d) = text(p, "valid_from") {
                parts.push(format!("från {d}"));
            }
            if text(p, "state") == Some("withdrawn") {
                parts.push("återkallad".into());
            }
        }
        EventKind::ShadowRun => {
            if let (Some(n), Some(c)) = (number(p, "cases"), number(p, "changed")) {
                parts.push(format!("{n} ärenden, {c} ändras"));
            }
            if let Some(r) = number(p, "report") {
                parts.push(format!("rapport {r}"));
            }
        }
        EventKind::CaseReplayed => match p.get("identical").and_then(serde_json::Value::as_bool) {
            Some(true) => parts.push("samma utkast byte för byte".into()),
            Some(false) => parts.push("utkastet skiljer sig".into()),
            None => {}
        },
        EventKind::Returned | EventKind::Requeued | EventKind::Closed | EventKind::KommuniceringExpired => {}
    }
    if let (Some(from), Some(to)) = (text(p, "from"), text(p, "state")) {
        parts.push(format!("{} → {}", state_label(from), state_label(to)));
    }
    parts.join("; ")
}

// ------------------------------------------------------------- the list

#[derive(Deserialize, Default)]
pub struct EventsQuery {
    arende: Option<String>,
    utford_av: Option<String>,
    typ: Option<String>,
    fran: Option<String>,
    till: Option<String>,
    /// Older than this event (the next page).
    fore: Option<String>,
    /// Newer than this event (the page before).
    efter: Option<String>,
    /// The page's number, for the title and caption only.
    sida: Option<String>,
}

pub struct EventLine {
    pub seq: u64,
    pub time: String,
    pub kind: &'static str,
    pub actor: String,
    pub actor_href: String,
    pub case: Option<i64>,
    pub case_text: String,
    pub summary: String,
}

pub struct KindChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// The filter as typed, and what was wrong with each field.
#[derive(Default)]
pub struct Typed {
    pub arende: String,
    pub utford_av: String,
    pub typ: String,
    pub fran: String,
    pub till: String,
    pub arende_fel: Option<&'static str>,
    pub utford_av_fel: Option<&'static str>,
    pub typ_fel: Option<&'static str>,
    pub fran_fel: Option<&'static str>,
    pub till_fel: Option<&'static str>,
}

impl Typed {
    fn has_errors(&self) -> bool {
        self.arende_fel.is_some()
            || self.utford_av_fel.is_some()
            || self.typ_fel.is_some()
            || self.fran_fel.is_some()
            || self.till_fel.is_some()
    }

    /// The filter's part of a link (URL-encoded), without the page.
    fn query(&self) -> String {
        let mut q = Vec::new();
        for (k, v) in [
            ("arende", &self.arende),
            ("utford_av", &self.utford_av),
            ("typ", &self.typ),
            ("fran", &self.fran),
            ("till", &self.till),
        ] {
            if !v.trim().is_empty() {
                q.push(format!("{k}={}", urlencode(v.trim())));
            }
        }
        q.join("&")
    }
}

#[derive(Template)]
#[template(path = "audit_events.html")]
struct EventsPage {
    chrome: Chrome,
    title: String,
    caption: String,
    typed: Typed,
    kinds: Vec<KindChoice>,
    actors: Vec<String>,
    lines: Vec<EventLine>,
    newer: Option<String>,
    older: Option<String>,
    filtered: bool,
}

fn date_of(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Midnight at the start of `d` in Swedish time, in microseconds (UTC).
fn start_of_day_us(d: NaiveDate) -> Option<i64> {
    let local = d.and_hms_opt(0, 0, 0)?;
    Some(Stockholm.from_local_datetime(&local).earliest()?.timestamp_micros())
}

/// Reads the filter; every field that is wrong gets its own message.
fn parse_filter(q: &EventsQuery) -> (Typed, EventFilter) {
    let keep = |v: &Option<String>| v.as_deref().unwrap_or("").chars().take(200).collect::<String>();
    let mut t = Typed {
        arende: keep(&q.arende),
        utford_av: keep(&q.utford_av),
        typ: keep(&q.typ),
        fran: keep(&q.fran),
        till: keep(&q.till),
        ..Typed::default()
    };
    let mut f = EventFilter::default();
    let arende = t.arende.trim();
    if !arende.is_empty() {
        match arende.parse::<i64>() {
            Ok(id) if id > 0 => f.case_ref = Some(format!("case:{id}")),
            _ => t.arende_fel = Some("Skriv ärendets nummer med siffror, till exempel 17."),
        }
    }
    let who = t.utford_av.trim();
    if !who.is_empty() {
        match actor_of(who) {
            Some(a) => f.actor = Some(a),
            None => {
                t.utford_av_fel =
                    Some("Skriv ett användarnamn, till exempel anna, eller en robot, till exempel robot demo.")
            }
        }
    }
    let typ = t.typ.trim();
    if !typ.is_empty() {
        match typ.parse::<EventKind>() {
            Ok(k) => f.kind = Some(k),
            Err(_) => t.typ_fel = Some("Välj en händelse i listan."),
        }
    }
    let from = t.fran.trim();
    let from_date = if from.is_empty() {
        None
    } else {
        match date_of(from) {
            Some(d) => Some(d),
            None => {
                t.fran_fel = Some("Skriv datumet som år-månad-dag, till exempel 2026-03-10.");
                None
            }
        }
    };
    let until = t.till.trim();
    let until_date = if until.is_empty() {
        None
    } else {
        match date_of(until) {
            Some(d) => Some(d),
            None => {
                t.till_fel = Some("Skriv datumet som år-månad-dag, till exempel 2026-03-31.");
                None
            }
        }
    };
    if let (Some(a), Some(b)) = (from_date, until_date)
        && b < a
    {
        t.till_fel = Some("Till-datumet är före från-datumet.");
    }
    f.from_us = from_date.and_then(start_of_day_us);
    // To the end of the day: before the next midnight.
    f.until_us = until_date.and_then(|d| d.succ_opt()).and_then(start_of_day_us);
    (t, f)
}

fn describe(t: &Typed, f: &EventFilter) -> Vec<String> {
    let mut out = Vec::new();
    if f.case_ref.is_some() {
        out.push(format!("ärende {}", t.arende.trim()));
    }
    if let Some(a) = &f.actor {
        out.push(format!("utförda av {}", actor_label(a)));
    }
    if let Some(k) = f.kind {
        out.push(format!("händelse {}", kind_label(k).to_lowercase()));
    }
    match (f.from_us.is_some(), f.until_us.is_some()) {
        (true, true) => out.push(format!("{} till {}", t.fran.trim(), t.till.trim())),
        (true, false) => out.push(format!("från {}", t.fran.trim())),
        (false, true) => out.push(format!("till {}", t.till.trim())),
        (false, false) => {}
    }
    out
}

fn internal(e: impl Into<anyhow::Error>) -> Failure {
    Failure::Internal(e.into())
}

/// `GET /granskning/handelser`: the log's events, newest first.
pub async fn list(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Query(q): Query<EventsQuery>,
) -> Result<Response, WebError> {
    let (typed, filter) = parse_filter(&q);
    let page_no: u64 = q
        .sida
        .as_deref()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1);
    let seq_of = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<u64>().ok());
    let from = match (seq_of(&q.fore), seq_of(&q.efter)) {
        (Some(s), _) => ListFrom::Before(s),
        (None, Some(s)) => ListFrom::After(s),
        (None, None) => ListFrom::Newest,
    };
    let page_no = if from == ListFrom::Newest { 1 } else { page_no };
    let kinds = EventKind::ALL
        .iter()
        .map(|k| KindChoice {
            value: k.as_str(),
            label: kind_label(*k),
            selected: filter.kind == Some(*k),
        })
        .collect();
    let mut actors: Vec<String> = web
        .ctx
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| u.username)
        .collect();
    actors.extend(web.ctx.settings.robots.iter().map(|r| format!("robot {}", r.name)));
    actors.sort();
    let described = describe(&typed, &filter);
    let filtered = !described.is_empty();
    if typed.has_errors() {
        let mut r = render(&EventsPage {
            chrome: Chrome::for_user(&a, "/granskning"),
            title: "Rätta sökningen – Händelser i granskningsloggen".into(),
            caption: String::new(),
            typed,
            kinds,
            actors,
            lines: Vec::new(),
            newer: None,
            older: None,
            filtered,
        })?;
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(r);
    }
    let EventPage { events, newer, older } = web
        .ctx
        .store
        .audit_db()
        .list_events(&filter, from, PER_PAGE)
        .await
        .map_err(internal)?;
    let base = typed.query();
    let link = |key: &str, seq: u64, page: u64| {
        let sep = if base.is_empty() { "" } else { "&" };
        format!("/granskning/handelser?{base}{sep}{key}={seq}&sida={page}")
    };
    let first_page = if base.is_empty() {
        "/granskning/handelser".to_string()
    } else {
        format!("/granskning/handelser?{base}")
    };
    let newer_link = match (newer, events.first(), from) {
        (false, _, _) => None,
        // The page before the second is the first: the newest events.
        (true, _, _) if page_no <= 2 => Some(first_page),
        (true, Some(e), _) => Some(link("efter", e.seq, page_no - 1)),
        (true, None, ListFrom::Before(s)) => Some(link("efter", s.saturating_sub(1), page_no - 1)),
        (true, None, _) => Some(first_page),
    };
    let older_link = match (older, events.last()) {
        (true, Some(e)) => Some(link("fore", e.seq, page_no + 1)),
        _ => None,
    };
    let lines = events
        .iter()
        .map(|e| {
            let actor = actor_label(e.actor.as_str());
            EventLine {
                seq: e.seq,
                time: view::time(e.time()),
                kind: kind_label(e.kind),
                actor_href: format!("/granskning/handelser?utford_av={}", urlencode(&actor)),
                actor,
                case: case_id(e),
                case_text: e.case_ref.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                summary: summary(e),
            }
        })
        .collect();
    let what = if filtered {
        format!("Händelser: {}", described.join(", "))
    } else {
        "Alla händelser".to_string()
    };
    render(&EventsPage {
        chrome: Chrome::for_user(&a, "/granskning"),
        title: format!("{what}, sida {page_no} – Granskningsloggen"),
        caption: format!("{what}, nyast först (sida {page_no})"),
        typed,
        kinds,
        actors,
        lines,
        newer: newer_link,
        older: older_link,
        filtered,
    })
}

// ------------------------------------------------------------- one event

pub struct Field {
    pub label: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "audit_event.html")]
struct EventDetail {
    chrome: Chrome,
    seq: u64,
    time: String,
    kind: &'static str,
    actor: String,
    case: Option<i64>,
    case_text: String,
    summary: String,
    ruleset: Option<String>,
    fields: Vec<Field>,
    sealed: usize,
    verifier: String,
}

fn field_label(key: &str) -> String {
    match key {
        "application_sha256" => "Ansökans kontrollsumma",
        "draft_sha256" => "Förslagets kontrollsumma",
        "record_sha256" => "Beslutets kontrollsumma",
        "reply_sha256" => "Svarets kontrollsumma",
        "reason_sha256" => "Skälets kontrollsumma",
        "text_sha256" => "Textens kontrollsumma",
        "from" => "Från status",
        "state" => "Till status",
        "outcome" => "Utfall",
        "stage" => "Godkännande",
        "four_eyes" => "Fyra ögon",
        "amended" => "Avviker från förslaget",
        "basis" => "Grund",
        "diarienummer" => "Diarienummer",
        "assessments_confirmed" => "Bekräftade bedömningar",
        "kommunicering" => "Kommunicering",
        "kommunicering_id" => "Kommunicering nummer",
        "facts" => "Uppgifter",
        "deadline" => "Svar senast",
        "channel" => "Kanal",
        "chars" => "Antal tecken",
        "attempts" => "Försök",
        "attempt" => "Försök",
        "source" => "Källa",
        "source_ref_len" => "Källreferensens längd",
        "period" => "Period",
        "ruleset" => "Regler",
        "codes" => "Koder",
        "reason" => "Orsak",
        "via" => "Genom",
        "pseudonymised" => "Utan personuppgifter",
        "method" => "Inloggningssätt",
        "client" => "Klientens adress",
        "session" => "Session",
        "retry_after_secs" => "Väntetid i sekunder",
        "user" => "Användare",
        "user_id" => "Användarens nummer",
        "role" => "Roll",
        "request" => "Begäran nummer",
        "change" => "Ändring",
        "robot" => "Robot",
        "previous_case" => "Tidigare ärende",
        "version" => "Version",
        "to" => "Till",
        "subject" => "Personens nyckel-id",
        "keys_deleted" => "Raderade nycklar",
        "letter" => "Brev",
        other => other,
    }
    .to_string()
}

fn value_text(key: &str, v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::Bool(b) => if *b { "ja" } else { "nej" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => match key {
            "from" | "state" => state_label(s),
            "outcome" => outcome_label(s),
            "role" => role_name(s),
            "via" => via_label(s).to_string(),
            "user" | "to" => actor_label(s),
            "change" => change_label(s).to_string(),
            "stage" => match s.as_str() {
                "first" => "första av två".into(),
                "second" => "andra av två".into(),
                "only" => "enda".into(),
                other => other.into(),
            },
            _ => s.clone(),
        },
        Value::Array(items) if items.is_empty() => "inga".into(),
        Value::Array(items) => items.iter().map(|i| value_text(key, i)).collect::<Vec<_>>().join(", "),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| format!("{}: {}", field_label(k), value_text(k, x)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn seq_in(path: &str) -> Result<u64, Failure> {
    path.parse::<u64>().map_err(|_| Failure::NotFound)
}

fn not_found_if_missing(e: AuditError) -> Failure {
    match e {
        AuditError::NoSuchEvent { .. } => Failure::NotFound,
        e => internal(e),
    }
}

/// `GET /granskning/handelser/{nummer}`: one event as the revisor may see
/// it, and how to check its proof offline.
pub async fn detail(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(seq): Path<String>,
) -> Result<Response, WebError> {
    let seq = seq_in(&seq)?;
    let e = web
        .ctx
        .store
        .audit_db()
        .event(seq)
        .await
        .map_err(not_found_if_missing)?;
    let fields = match &e.payload {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| Field {
                label: field_label(k),
                value: value_text(k, v),
            })
            .collect(),
        _ => Vec::new(),
    };
    render(&EventDetail {
        chrome: Chrome::for_user(&a, "/granskning"),
        seq,
        time: e
            .time()
            .with_timezone(&Stockholm)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        kind: kind_label(e.kind),
        actor: actor_label(e.actor.as_str()),
        case: case_id(&e),
        case_text: e.case_ref.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        summary: summary(&e),
        ruleset: e.ruleset.map(|r| r.to_string()),
        fields,
        sealed: e.sealed.len(),
        verifier: web.ctx.store.audit().verifier().to_vkey(),
    })
}

/// `GET /granskning/handelser/{nummer}/bevis`: the inclusion proof as a
/// file, byte for byte what `hrobot audit prove --seq N` writes. An event
/// newer than the latest checkpoint gets one signed first (what the
/// checkpointer would do within its interval).
pub async fn proof(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(seq): Path<String>,
) -> Result<Response, WebError> {
    let seq = seq_in(&seq)?;
    let db = web.ctx.store.audit_db();
    let proof = match db.prove(seq, None).await {
        Err(AuditError::NotCheckpointed(_) | AuditError::NoCheckpoint) => {
            web.ctx.store.checkpoint(false).await?;
            db.prove(seq, None).await
        }
        other => other,
    }
    .map_err(|e| match e {
        AuditError::NotCheckpointed(_) => Failure::NotFound,
        e => not_found_if_missing(e),
    })?;
    tracing::info!(seq, by = a.official.user_id, "audit proof downloaded");
    let disposition = format!("attachment; filename=\"granskningsbevis-{seq}.tlog-proof\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        proof.to_text(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> EventsQuery {
        let mut e = EventsQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "arende" => e.arende = v,
                "utford_av" => e.utford_av = v,
                "typ" => e.typ = v,
                "fran" => e.fran = v,
                "till" => e.till = v,
                _ => unreachable!(),
            }
        }
        e
    }

    #[test]
    fn the_filter_reads_what_officials_type() {
        let (t, f) = parse_filter(&q(&[
            ("arende", " 17 "),
            ("utford_av", "anna"),
            ("typ", "approved"),
            ("fran", "2026-03-10"),
            ("till", "2026-03-10"),
        ]));
        assert!(!t.has_errors());
        assert_eq!(f.case_ref.as_deref(), Some("case:17"));
        assert_eq!(f.actor.as_deref(), Some("user:anna"));
        assert_eq!(f.kind, Some(EventKind::Approved));
        // Swedish midnight (CET, UTC+1) to the next.
        assert_eq!(f.from_us, Some(1_773_097_200_000_000));
        assert_eq!(f.until_us, Some(1_773_097_200_000_000 + 86_400_000_000));
        for (typed, actor) in [
            ("robot demo", "robot:demo"),
            ("robot:demo", "robot:demo"),
            ("user:bo", "user:bo"),
        ] {
            assert_eq!(
                parse_filter(&q(&[("utford_av", typed)])).1.actor.as_deref(),
                Some(actor)
            );
        }
    }

    #[test]
    fn every_wrong_field_gets_its_own_message_and_keeps_its_text() {
        let (t, _) = parse_filter(&q(&[
            ("arende", "tolv"),
            ("utford_av", "anna svensson"),
            ("typ", "deleted"),
            ("fran", "10/3/2026"),
            ("till", "2026-02-30"),
        ]));
        assert!(t.arende_fel.is_some() && t.utford_av_fel.is_some() && t.typ_fel.is_some());
        assert!(t.fran_fel.is_some() && t.till_fel.is_some());
        assert_eq!((t.arende.as_str(), t.fran.as_str()), ("tolv", "10/3/2026"));
        let (t, _) = parse_filter(&q(&[("fran", "2026-03-10"), ("till", "2026-03-01")]));
        assert_eq!(t.till_fel, Some("Till-datumet är före från-datumet."));
    }

    #[test]
    fn every_kind_has_a_swedish_label() {
        let mut seen = std::collections::BTreeSet::new();
        for k in EventKind::ALL {
            let l = kind_label(*k);
            assert!(!l.contains('_'), "{k}");
            assert!(seen.insert(l), "{l} twice");
        }
    }
}
