//! The rule author's pages: what each robot uses today, the published
//! versions with their state, one version's files, parameters (with their
//! provenance) and test results, shadow runs, activation requests decided
//! by a second person, "pröva en ansökan", and the case page's replay.
//!
//! The files and git stay the authoring tool; nothing here edits a rule.
//! Everything goes through `crate::rulebook` (publishing, activation with
//! four eyes, replay, shadow runs), which audits each step.
//!
//! ```text
//! /regler ─▶ /regler/versioner ─▶ /regler/versioner/{hex} ─(Kör skuggkörning)─▶ /regler/skuggkorningar/{id}
//!                                          └─(Begär aktivering)─▶ /regler/aktiveringar ─(Godkänn | Avslå | Återkalla)
//! /regler/prova: a pasted application through a version, nothing stored or logged
//! ```

use super::error::{Failure, WebError};
use super::pages::{Choice, Chrome, render, render_status, see_other};
use super::session::Authed;
use super::view::{self, DraftView};
use super::{Access, Web};
use crate::accounts::By;
use crate::roles::Role;
use crate::rulebook::{self, Decision, VersionState, shadow};
use crate::store::CaseId;
use crate::store::rulesets::{ActivationRow, ActivationState, ShadowRow, VersionRow};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Who writes rules (shadow runs, activation requests, "pröva").
pub const AUTHORS: &[Role] = &[Role::Regelforfattare];
/// Who decides activation requests.
pub const DECIDERS: &[Role] = &[Role::Regelforfattare, Role::Administrator];

fn internal(e: impl std::fmt::Display) -> Failure {
    Failure::Internal(anyhow::anyhow!("the rule pages: {e}"))
}

/// The audit actor of a signed-in official.
fn actor(a: &Authed) -> String {
    format!("user:{}", a.official.username)
}

/// Who did something, as the pages name them (`user:rut` → rut).
fn who(actor: &str) -> String {
    if let Some(u) = actor.strip_prefix("user:") {
        u.to_string()
    } else if let Some(r) = actor.strip_prefix("config:") {
        format!("konfigurationen (robot {r})")
    } else if let Some(c) = actor.strip_prefix("cli:") {
        format!("kommandoraden ({c})")
    } else if actor == "setup" {
        "installationen".into()
    } else if actor == "idp" {
        "identitetsleverantören".into()
    } else {
        actor.to_string()
    }
}

/// The hex of a version's hash (its URL).
fn hex(hash: &str) -> &str {
    hash.strip_prefix("sha256:").unwrap_or(hash)
}

fn short(hash: &str) -> String {
    hex(hash).chars().take(12).collect()
}

fn robots(web: &Web) -> Vec<(String, PathBuf)> {
    let mut r = web.ctx.settings.ruleset_folders();
    r.sort();
    r
}

fn today(web: &Web) -> chrono::NaiveDate {
    rulebook::swedish_day(web.now())
}

/// A version's state in words (`from_folders`: versions robots use from
/// their configured folder, `rulebook::used_from_folders`).
fn state_text(s: &VersionState, from_folders: &std::collections::HashSet<String>) -> String {
    if s.active {
        "Gäller nu".into()
    } else if from_folders.contains(&s.row.hash) {
        "Används (konfigurationens mapp, ingen aktivering)".into()
    } else if let Some(d) = s.scheduled_from {
        format!("Godkänd från {d}")
    } else if !s.requested.is_empty() {
        "Väntar på godkännande".into()
    } else {
        "–".into()
    }
}

fn tests_text(v: &VersionRow) -> String {
    format!("{} av {}", v.tests_passed, v.tests_passed + v.tests_failed)
}

// ------------------------------------------------------------ overview

pub struct RobotLine {
    pub robot: String,
    pub name: String,
    pub version: String,
    pub hash: String,
    pub path: String,
    pub problem: Option<String>,
    /// What the robot uses today, in words.
    pub uses: String,
    /// The version's page, when the store holds the version used.
    pub link: Option<String>,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct OverviewPage {
    chrome: Chrome,
    rulesets: Vec<RobotLine>,
    open_requests: usize,
    may_try: bool,
}

/// `/regler`: per robot, its configured folder and what it uses today.
pub async fn overview(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, WebError> {
    let list = robots(&web);
    let folders = list.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        folders
            .into_iter()
            .map(|(_, dir)| sandbox::Ruleset::load(&dir).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(internal)?;
    let store = &web.ctx.store;
    let day = today(&web);
    let mut lines = Vec::new();
    for ((robot, dir), rs) in list.into_iter().zip(loaded) {
        let path = dir.display().to_string();
        let line = match rs {
            Ok(rs) => {
                let active = store.active_activation(rs.type_name(), day).await?;
                let (uses, link) = match active {
                    Some(act) => {
                        let v = store.ruleset_version(&act.hash).await?;
                        (
                            match v {
                                Some(v) => format!("{} {}, aktiverad från {}", v.name, v.version, act.valid_from),
                                None => format!("aktiverad version från {}", act.valid_from),
                            },
                            Some(format!("/regler/versioner/{}", hex(&act.hash))),
                        )
                    }
                    None => {
                        let stored = store.ruleset_version(rs.hash()).await?.is_some();
                        (
                            format!("konfigurationens mapp ({})", short(rs.hash())),
                            stored.then(|| format!("/regler/versioner/{}", hex(rs.hash()))),
                        )
                    }
                };
                RobotLine {
                    robot,
                    name: rs.name().to_string(),
                    version: rs.version().to_string(),
                    hash: rs.hash().to_string(),
                    path,
                    problem: None,
                    uses,
                    link,
                }
            }
            Err(e) => RobotLine {
                robot,
                name: "–".into(),
                version: "–".into(),
                hash: "–".into(),
                path,
                problem: Some(e),
                uses: "–".into(),
                link: None,
            },
        };
        lines.push(line);
    }
    let open_requests = store
        .activations(None)
        .await?
        .iter()
        .filter(|r| r.state == ActivationState::Requested)
        .count();
    render(&OverviewPage {
        chrome: Chrome::for_user(&a, "/regler"),
        rulesets: lines,
        open_requests,
        may_try: Access::Roles(AUTHORS).allows(&a.official.roles),
    })
}

// ------------------------------------------------------------ versions

pub struct VersionLine {
    pub hex: String,
    pub short: String,
    pub casework_type: String,
    pub name: String,
    pub version: String,
    pub published: String,
    pub by: String,
    pub tests: String,
    pub tests_failed: bool,
    pub state: String,
}

#[derive(Template)]
#[template(path = "rules_versions.html")]
struct VersionsPage {
    chrome: Chrome,
    versions: Vec<VersionLine>,
}

fn type_title(t: &str) -> String {
    sandbox::Ruleset::of_type(t)
        .and_then(|r| r.casework().map(|c| c.title().to_string()))
        .unwrap_or_else(|| t.to_string())
}

/// `/regler/versioner`: every published version, newest first.
pub async fn versions(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, WebError> {
    let states = rulebook::version_states(&web.ctx.store, None).await.map_err(internal)?;
    let from_folders = rulebook::used_from_folders(&web.ctx.store, &robots(&web))
        .await
        .map_err(internal)?;
    // Newest first, as the store lists them.
    let versions: Vec<VersionLine> = states
        .iter()
        .map(|s| VersionLine {
            hex: hex(&s.row.hash).to_string(),
            short: short(&s.row.hash),
            casework_type: type_title(&s.row.casework_type),
            name: s.row.name.clone(),
            version: s.row.version.clone(),
            published: view::time(s.row.published_at),
            by: who(&s.row.published_by),
            tests: tests_text(&s.row),
            tests_failed: s.row.tests_failed > 0,
            state: state_text(s, &from_folders),
        })
        .collect();
    render(&VersionsPage {
        chrome: Chrome::for_user(&a, "/regler"),
        versions,
    })
}

// ------------------------------------------------------------ one version

pub struct ParamSetView {
    pub valid_from: String,
    pub source: String,
    pub decision: Option<String>,
    /// "Verifierad mot källan", "Kommunens beslut", "Ej verifierad".
    pub status: &'static str,
    pub unverified: bool,
    pub values: Vec<ParamValueView>,
}

pub struct ParamValueView {
    pub key: String,
    pub value: String,
    pub unverified: bool,
}

pub struct ParamFileView {
    pub name: String,
    pub description: String,
    pub path: String,
    pub sets: Vec<ParamSetView>,
}

#[derive(Clone)]
pub struct TestLine {
    pub name: String,
    pub passed: bool,
    pub diffs: Vec<String>,
}

pub struct ShadowLine {
    pub id: i64,
    pub created: String,
    pub by: String,
    pub filter: String,
    pub cases: i64,
    pub changed: i64,
}

pub struct FileLine {
    pub path: String,
    pub size: String,
}

/// What was typed into the version page's forms, and what was wrong.
#[derive(Default)]
pub struct VersionForms {
    pub filter: String,
    pub filter_error: Option<String>,
    pub valid_from: String,
    pub reason: String,
    pub request_error: Option<String>,
}

#[derive(Template)]
#[template(path = "rules_version.html")]
struct VersionPage {
    chrome: Chrome,
    v: VersionLine,
    description: String,
    hash: String,
    files: Vec<FileLine>,
    params: Vec<ParamFileView>,
    unverified_sets: usize,
    tests: Vec<TestLine>,
    tests_error: Option<String>,
    tests_passed: usize,
    shadows: Vec<ShadowLine>,
    baseline: String,
    requests: Vec<i64>,
    is_author: bool,
    forms: VersionForms,
}

fn param_value(v: &sandbox::ParamValue) -> String {
    match v {
        sandbox::ParamValue::Money(m) => m.to_string(),
        sandbox::ParamValue::Integer(i) => i.to_string(),
        sandbox::ParamValue::Text(t) => t.clone(),
    }
}

fn params_view(rs: &sandbox::Ruleset) -> Vec<ParamFileView> {
    rs.params()
        .files
        .iter()
        .map(|f| ParamFileView {
            name: f.name.clone(),
            description: f.description.clone(),
            path: f.path.clone(),
            sets: f
                .sets
                .iter()
                .rev()
                .map(|s| {
                    let unverified = !s.verified && s.decision.is_none();
                    ParamSetView {
                        valid_from: s.valid_from.to_string(),
                        source: s.source.clone(),
                        decision: s.decision.clone(),
                        status: if s.decision.is_some() {
                            "Kommunens beslut"
                        } else if s.verified && s.unverified.is_empty() {
                            "Verifierad mot källan"
                        } else if s.verified {
                            "Delvis verifierad"
                        } else {
                            "Ej verifierad"
                        },
                        unverified: unverified || !s.unverified.is_empty(),
                        values: s
                            .values
                            .iter()
                            .map(|(k, v)| ParamValueView {
                                key: format!("{}.{k}", f.name),
                                value: param_value(v),
                                unverified: s.decision.is_none() && !s.is_verified(k),
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect()
}

/// The version's own tests, run once per version (a version never changes).
fn test_cache() -> std::sync::MutexGuard<'static, HashMap<String, Vec<TestLine>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Vec<TestLine>>>> = OnceLock::new();
    CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs a blocking evaluation on a thread with the stack the sandbox's
/// limits assume.
async fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Failure> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("hrobot-web-rules".into())
        .stack_size(rulebook::EVAL_STACK_BYTES)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(internal)?;
    rx.await.map_err(|_| internal("the evaluation thread stopped"))
}

async fn run_tests(rs: Arc<sandbox::Ruleset>) -> Result<Result<Vec<TestLine>, String>, Failure> {
    if let Some(t) = test_cache().get(rs.hash()) {
        return Ok(Ok(t.clone()));
    }
    let r = rs.clone();
    let result = on_big_stack(move || {
        let dir = r.dir().join("tests");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let list = sandbox::testing::cases(&dir).map_err(|e| format!("testerna kan inte läsas: {e}"))?;
        Ok(list
            .iter()
            .map(|(name, input, expected)| {
                let c = sandbox::testing::run_case(&r, name, input, expected);
                TestLine {
                    name: c.name,
                    passed: c.passed,
                    diffs: c.diffs,
                }
            })
            .collect::<Vec<_>>())
    })
    .await?;
    if let Ok(t) = &result {
        test_cache().insert(rs.hash().to_string(), t.clone());
    }
    Ok(result)
}

async fn find(web: &Web, hex_arg: &str) -> Result<VersionRow, Failure> {
    let hex_arg = hex_arg.trim();
    if hex_arg.len() != 64 || !hex_arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::NotFound);
    }
    web.ctx
        .store
        .ruleset_version(&format!("sha256:{}", hex_arg.to_ascii_lowercase()))
        .await?
        .ok_or(Failure::NotFound)
}

async fn load(web: &Web, hash: &str) -> Result<Arc<sandbox::Ruleset>, Failure> {
    rulebook::load_version(&web.ctx.store, &web.ctx.settings.data_dir, hash)
        .await
        .map_err(internal)
}

async fn version_page(
    web: &Web,
    a: &Authed,
    hex_arg: &str,
    forms: VersionForms,
    status: StatusCode,
) -> Result<Response, WebError> {
    let row = find(web, hex_arg).await?;
    let store = &web.ctx.store;
    let rs = load(web, &row.hash).await?;
    let states = rulebook::version_states(store, Some(&row.casework_type))
        .await
        .map_err(internal)?;
    let state = states.iter().find(|s| s.row.hash == row.hash);
    let from_folders = rulebook::used_from_folders(store, &robots(web))
        .await
        .map_err(internal)?;
    let files = store
        .ruleset_files(&row.hash)
        .await?
        .into_iter()
        .map(|(path, text)| FileLine {
            size: format!("{} byte", text.len()),
            path,
        })
        .collect();
    let (tests, tests_error) = match run_tests(rs.clone()).await? {
        Ok(t) => (t, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let shadows = store
        .shadow_reports(Some(&row.hash), 20)
        .await?
        .iter()
        .map(shadow_line)
        .collect();
    let baseline = match rulebook::in_force(store, &web.ctx.settings.data_dir, &robots(web), &row.casework_type).await {
        Ok(Some(b)) if b.hash() == row.hash => "den här versionen själv (den gäller nu)".to_string(),
        Ok(Some(b)) => format!("{} {} ({})", b.name(), b.version(), short(b.hash())),
        Ok(None) => "ärendenas sparade utkast (ingen version gäller för typen)".to_string(),
        Err(e) => return Err(internal(e).into()),
    };
    let params = params_view(&rs);
    let unverified_sets = params.iter().flat_map(|f| &f.sets).filter(|s| s.unverified).count();
    let mut forms = forms;
    if forms.filter.is_empty() {
        forms.filter = "last-month".into();
    }
    if forms.valid_from.is_empty() {
        forms.valid_from = today(web).to_string();
    }
    let t = VersionPage {
        chrome: Chrome::for_user(a, "/regler"),
        v: VersionLine {
            hex: hex(&row.hash).to_string(),
            short: short(&row.hash),
            casework_type: type_title(&row.casework_type),
            name: row.name.clone(),
            version: row.version.clone(),
            published: view::time(row.published_at),
            by: who(&row.published_by),
            tests: tests_text(&row),
            tests_failed: row.tests_failed > 0,
            state: state.map_or_else(|| "–".into(), |s| state_text(s, &from_folders)),
        },
        description: row.description.clone(),
        hash: row.hash.clone(),
        files,
        params,
        unverified_sets,
        tests_passed: tests.iter().filter(|t| t.passed).count(),
        tests,
        tests_error,
        shadows,
        baseline,
        requests: state.map(|s| s.requested.clone()).unwrap_or_default(),
        is_author: Access::Roles(AUTHORS).allows(&a.official.roles),
        forms,
    };
    render_status(&t, status)
}

fn shadow_line(s: &ShadowRow) -> ShadowLine {
    ShadowLine {
        id: s.id,
        created: view::time(s.created_at),
        by: who(&s.created_by),
        filter: s.filter.clone(),
        cases: s.cases,
        changed: s.changed,
    }
}

/// `/regler/versioner/{hex}`.
pub async fn version(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(h): Path<String>,
) -> Result<Response, WebError> {
    version_page(&web, &a, &h, VersionForms::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct FileQuery {
    sokvag: String,
}

#[derive(Template)]
#[template(path = "rules_file.html")]
struct FilePage {
    chrome: Chrome,
    v: VersionLine,
    path: String,
    text: String,
}

/// `/regler/versioner/{hex}/fil?sokvag=…`: one of the version's files, read-only.
pub async fn file(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(h): Path<String>,
    Query(q): Query<FileQuery>,
) -> Result<Response, WebError> {
    let row = find(&web, &h).await?;
    let text = web
        .ctx
        .store
        .ruleset_files(&row.hash)
        .await?
        .into_iter()
        .find(|(p, _)| *p == q.sokvag)
        .map(|(_, t)| t)
        .ok_or(Failure::NotFound)?;
    render(&FilePage {
        chrome: Chrome::for_user(&a, "/regler"),
        v: VersionLine {
            hex: hex(&row.hash).to_string(),
            short: short(&row.hash),
            casework_type: type_title(&row.casework_type),
            name: row.name.clone(),
            version: row.version.clone(),
            published: view::time(row.published_at),
            by: who(&row.published_by),
            tests: tests_text(&row),
            tests_failed: row.tests_failed > 0,
            state: String::new(),
        },
        path: q.sokvag,
        text,
    })
}

#[derive(Deserialize)]
pub struct ShadowForm {
    #[serde(default)]
    urval: String,
}

/// `POST /regler/versioner/{hex}/skuggkorning`: the version over stored
/// cases against the version in force; then the report.
pub async fn run_shadow(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(h): Path<String>,
    Form(f): Form<ShadowForm>,
) -> Result<Response, WebError> {
    let row = find(&web, &h).await?;
    let text = f.urval.trim().to_string();
    let text = if text.is_empty() {
        "last-month".to_string()
    } else {
        text
    };
    let again = |message: String| VersionForms {
        filter: text.clone(),
        filter_error: Some(message),
        ..VersionForms::default()
    };
    let filter = match shadow::parse_filter(&text, today(&web)) {
        Ok(f) => f,
        Err(e) => {
            return version_page(&web, &a, &h, again(e), StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let store = &web.ctx.store;
    let candidate = load(&web, &row.hash).await?;
    let baseline = rulebook::in_force(store, &web.ctx.settings.data_dir, &robots(&web), &row.casework_type)
        .await
        .map_err(internal)?;
    let report = match shadow::run(store, candidate, baseline, filter, &text).await {
        Ok(r) => r,
        Err(e) => return version_page(&web, &a, &h, again(e), StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let id = shadow::save(store, &actor(&a), &report).await.map_err(internal)?;
    Ok(see_other(&format!("/regler/skuggkorningar/{id}")))
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    fran: String,
    #[serde(default)]
    motivering: String,
}

/// `POST /regler/versioner/{hex}/aktivering`: a regelförfattare asks for
/// the version to be used from a day.
pub async fn request_activation(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(h): Path<String>,
    Form(f): Form<RequestForm>,
) -> Result<Response, WebError> {
    let row = find(&web, &h).await?;
    let again = |message: String| VersionForms {
        valid_from: f.fran.clone(),
        reason: f.motivering.clone(),
        request_error: Some(message),
        ..VersionForms::default()
    };
    let Ok(day) = chrono::NaiveDate::parse_from_str(f.fran.trim(), "%Y-%m-%d") else {
        let e = again("Skriv från-datumet som ÅÅÅÅ-MM-DD, till exempel 2027-01-01.".into());
        return version_page(&web, &a, &h, e, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    match rulebook::request_activation(
        &web.ctx.store,
        &By::Official(a.official.clone()),
        &row.hash,
        day,
        &f.motivering,
    )
    .await
    {
        Ok(id) => Ok(see_other(&format!("/regler/aktiveringar?klart=begard#begaran-{id}"))),
        Err(e) => version_page(&web, &a, &h, again(e), StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

// ------------------------------------------------------------ shadow reports

#[derive(Template)]
#[template(path = "rules_shadow.html")]
struct ShadowPage<'a> {
    chrome: Chrome,
    r: &'a shadow::Report,
    v: shadow::ReportView,
    id: i64,
    hex: String,
    by: String,
}

/// `/regler/skuggkorningar/{id}` (the page) and `…/{id}.json` (the report).
pub async fn shadow_report(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (id, json) = match id.strip_suffix(".json") {
        Some(n) => (n, true),
        None => (id.as_str(), false),
    };
    let id: i64 = id.parse().map_err(|_| Failure::NotFound)?;
    let row = web.ctx.store.shadow_report(id).await?.ok_or(Failure::NotFound)?;
    if json {
        return Ok((
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            row.report.clone(),
        )
            .into_response());
    }
    let report = shadow::parse(&row).map_err(internal)?;
    render(&ShadowPage {
        chrome: Chrome::for_user(&a, "/regler"),
        v: shadow::ReportView::of(&report, ""),
        r: &report,
        id,
        hex: hex(&row.candidate_hash).to_string(),
        by: who(&row.created_by),
    })
}

// ------------------------------------------------------------ activations

/// `1 ärende`, `3 ärenden`.
fn cases(n: u64) -> String {
    if n == 1 {
        "1 ärende".into()
    } else {
        format!("{n} ärenden")
    }
}

pub struct ShadowSummary {
    pub id: i64,
    pub created: String,
    /// `12 ärenden`.
    pub cases: String,
    pub changed: u64,
    pub failed: u64,
    /// Outcome changes, `Bifall → Avslag: 3 ärenden`.
    pub transitions: Vec<String>,
    pub against: String,
}

pub struct RequestView {
    pub id: i64,
    pub hex: String,
    pub version: String,
    pub casework_type: String,
    pub valid_from: String,
    pub reason: String,
    pub requested_by: String,
    pub requested: String,
    pub state: &'static str,
    pub decided: Option<String>,
    pub note: Option<String>,
    pub shadow: Option<ShadowSummary>,
    pub can_decide: bool,
    pub can_withdraw: bool,
    /// Why this official cannot decide it (shown instead of the buttons).
    pub cannot: Option<String>,
    pub error: Option<String>,
    pub typed_note: String,
}

#[derive(Template)]
#[template(path = "rules_activations.html")]
struct ActivationsPage {
    chrome: Chrome,
    notice: Option<String>,
    /// An error about a request that is no longer open (decided meanwhile).
    top_error: Option<String>,
    open: Vec<RequestView>,
    closed: Vec<RequestView>,
}

#[derive(Deserialize)]
pub struct Notice {
    klart: Option<String>,
}

fn state_label(s: ActivationState) -> &'static str {
    match s {
        ActivationState::Requested => "Väntar på beslut",
        ActivationState::Approved => "Godkänd",
        ActivationState::Refused => "Avslagen",
        ActivationState::Withdrawn => "Återkallad",
    }
}

fn own(a: &Authed, r: &ActivationRow) -> bool {
    r.requested_by_user == Some(a.official.user_id) || r.requested_by == actor(a)
}

async fn shadow_summary(web: &Web, hash: &str) -> Result<Option<ShadowSummary>, Failure> {
    let store = &web.ctx.store;
    let Some(latest) = store.shadow_reports(Some(hash), 1).await?.into_iter().next() else {
        return Ok(None);
    };
    let Some(row) = store.shadow_report(latest.id).await? else {
        return Ok(None);
    };
    let r = shadow::parse(&row).map_err(internal)?;
    let v = shadow::ReportView::of(&r, "");
    Ok(Some(ShadowSummary {
        id: row.id,
        created: view::time(row.created_at),
        cases: cases(r.cases),
        changed: r.changed,
        failed: r.failed,
        transitions: v
            .transitions
            .iter()
            .filter(|t| t.changed)
            .map(|t| format!("{} → {}: {}", t.from, t.to, cases(t.cases)))
            .collect(),
        against: match &r.baseline {
            Some(b) => format!("{} {}", b.name, b.version),
            None => "ärendenas sparade utkast".into(),
        },
    }))
}

/// The error of one request's form, with what was typed.
struct Posted {
    id: i64,
    error: String,
    note: String,
}

async fn activations_page(
    web: &Web,
    a: &Authed,
    notice: Option<String>,
    posted: Option<Posted>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let store = &web.ctx.store;
    let mut rows = store.activations(None).await?;
    rows.sort_by(|x, y| y.requested_at.cmp(&x.requested_at).then(y.id.cmp(&x.id)));
    let versions: HashMap<String, VersionRow> = store
        .ruleset_versions(None)
        .await?
        .into_iter()
        .map(|v| (v.hash.clone(), v))
        .collect();
    let decider = Access::Roles(DECIDERS).allows(&a.official.roles);
    let (mut open, mut closed) = (Vec::new(), Vec::new());
    for r in rows {
        let is_open = r.state == ActivationState::Requested;
        let mine = own(a, &r);
        let shadow = if is_open {
            shadow_summary(web, &r.hash).await?
        } else {
            None
        };
        let (error, typed_note) = match &posted {
            Some(p) if p.id == r.id => (Some(p.error.clone()), p.note.clone()),
            _ => (None, String::new()),
        };
        let view = RequestView {
            id: r.id,
            hex: hex(&r.hash).to_string(),
            version: versions
                .get(&r.hash)
                .map_or_else(|| short(&r.hash), |v| format!("{} {}", v.name, v.version)),
            casework_type: type_title(&r.casework_type),
            valid_from: r.valid_from.to_string(),
            reason: r.reason.clone(),
            requested_by: who(&r.requested_by),
            requested: view::time(r.requested_at),
            state: state_label(r.state),
            decided: match (&r.decided_by, r.decided_at) {
                (Some(by), Some(at)) => Some(format!("{}, {}", who(by), view::time(at))),
                _ => None,
            },
            note: r.decision_note.clone(),
            shadow,
            can_decide: is_open && decider && !mine,
            can_withdraw: is_open && mine,
            cannot: (is_open && decider && mine).then(|| {
                "Du har själv begärt aktiveringen. En annan regelförfattare eller en administratör ska godkänna eller avslå den."
                    .to_string()
            }),
            error,
            typed_note,
        };
        if is_open {
            open.push(view);
        } else {
            closed.push(view);
        }
    }
    let top_error = posted
        .filter(|p| !open.iter().any(|q: &RequestView| q.id == p.id))
        .map(|p| format!("Begäran nr {}: {}", p.id, p.error));
    render_status(
        &ActivationsPage {
            chrome: Chrome::for_user(a, "/regler"),
            notice,
            top_error,
            open,
            closed,
        },
        status,
    )
}

/// `/regler/aktiveringar`.
pub async fn activations(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Query(n): Query<Notice>,
) -> Result<Response, WebError> {
    let notice = match n.klart.as_deref() {
        Some("begard") => {
            Some("Begäran är sparad. En annan regelförfattare eller en administratör ska besluta om den.".to_string())
        }
        Some("godkand") => Some("Aktiveringen är godkänd. Versionen används från sitt från-datum.".to_string()),
        Some("avslagen") => Some("Aktiveringen är avslagen.".to_string()),
        Some("aterkallad") => Some("Begäran är återkallad.".to_string()),
        _ => None,
    };
    activations_page(&web, &a, notice, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct DecideForm {
    atgard: String,
    #[serde(default)]
    anteckning: String,
}

/// `POST /regler/aktiveringar/{id}`: approve, refuse (with a note) or
/// withdraw; an error comes back next to the request.
pub async fn decide(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<i64>,
    Form(f): Form<DecideForm>,
) -> Result<Response, WebError> {
    let (decision, done) = match f.atgard.as_str() {
        "godkann" => (Decision::Approve, "godkand"),
        "avsla" => (Decision::Refuse, "avslagen"),
        "aterkalla" => (Decision::Withdraw, "aterkallad"),
        _ => return Err(Failure::Invalid("Okänd åtgärd.".into()).into()),
    };
    let row = web.ctx.store.activation(id).await?.ok_or(Failure::NotFound)?;
    // Refused for who the official is (403), or for what was sent (422).
    let mine = own(&a, &row);
    let not_theirs = match decision {
        Decision::Withdraw => !mine,
        Decision::Approve | Decision::Refuse => mine,
    };
    let note = Some(f.anteckning.as_str()).filter(|n| !n.trim().is_empty());
    match rulebook::decide_activation(&web.ctx.store, &a.official, id, decision, note).await {
        Ok(_) => Ok(see_other(&format!("/regler/aktiveringar?klart={done}"))),
        Err(e) => {
            let status = if not_theirs && row.state == ActivationState::Requested {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let posted = Posted {
                id,
                error: e,
                note: f.anteckning,
            };
            activations_page(&web, &a, None, Some(posted), status).await
        }
    }
}

// ------------------------------------------------------------ pröva en ansökan

/// One error of an invalid application: where, in the type's words, what.
pub struct ProblemView {
    pub pointer: String,
    pub field: String,
    pub message: String,
}

pub struct TriedDraft {
    pub outcome: String,
    pub amount: String,
    pub codes: Vec<String>,
    /// What to check in this application (not the parameter notices).
    pub warnings: Vec<String>,
    /// Unverified parameter values the draft used.
    pub parameter_notices: Vec<String>,
}

#[derive(Template)]
#[template(path = "rules_try.html")]
struct TryPage {
    chrome: Chrome,
    versions: Vec<Choice>,
    document: String,
    used: Option<String>,
    summary: Option<TriedDraft>,
    draft: Option<DraftView>,
    problems: Vec<ProblemView>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct TryForm {
    #[serde(default)]
    version: String,
    #[serde(default)]
    ansokan: String,
}

/// The choice that reads the type from the pasted document's `schema`.
const AUTO: &str = "galler:*";

/// The casework type a document names (`schema`'s first part).
fn type_of_document(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let schema = v.get("schema")?.as_str()?;
    schema.split('/').next().filter(|t| !t.is_empty()).map(str::to_string)
}

/// The choices: the version in force for the document's own type, per
/// type, then every published version.
async fn try_choices(web: &Web, current: &str) -> Result<Vec<Choice>, Failure> {
    let states = rulebook::version_states(&web.ctx.store, None).await.map_err(internal)?;
    let mut types: Vec<String> = states.iter().map(|s| s.row.casework_type.clone()).collect();
    let loaded = {
        let list = robots(web);
        tokio::task::spawn_blocking(move || {
            list.into_iter()
                .filter_map(|(_, d)| sandbox::Ruleset::load(&d).ok().map(|r| r.type_name().to_string()))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(internal)?
    };
    types.extend(loaded);
    types.sort();
    types.dedup();
    let mut items: Vec<(String, String)> = vec![(
        AUTO.to_string(),
        "Den som gäller nu för ansökans ärendetyp (enligt dess schema)".to_string(),
    )];
    items.extend(types.iter().map(|t| {
        (
            format!("galler:{t}"),
            format!("Den som gäller nu för {}", type_title(t)),
        )
    }));
    items.extend(states.iter().map(|s| {
        (
            hex(&s.row.hash).to_string(),
            format!(
                "{} {} ({}, {}){}",
                s.row.name,
                s.row.version,
                type_title(&s.row.casework_type),
                short(&s.row.hash),
                if s.active { ", gäller nu" } else { "" }
            ),
        )
    }));
    let current = if current.is_empty() {
        items.first().map(|(v, _)| v.clone()).unwrap_or_default()
    } else {
        current.to_string()
    };
    Ok(super::pages::choices(items, &current))
}

/// `/regler/prova`: the form.
pub async fn try_page(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, WebError> {
    render(&TryPage {
        chrome: Chrome::for_user(&a, "/regler"),
        versions: try_choices(&web, "").await?,
        document: String::new(),
        used: None,
        summary: None,
        draft: None,
        problems: Vec::new(),
        error: None,
    })
}

/// What trying a document gave.
enum Tried {
    Draft(Box<domain::Draft>),
    Invalid(Vec<ProblemView>),
    Failed(String),
}

fn try_document(rs: &sandbox::Ruleset, bytes: &[u8]) -> Tried {
    let labels = rs.casework().map(|c| &c.labels);
    let name = |pointer: &str| -> String {
        labels
            .and_then(|l| l.field(pointer))
            .map_or_else(|| pointer.trim_start_matches('/').replace('/', " › "), str::to_string)
    };
    let problem = |pointer: &str, message: &str| ProblemView {
        pointer: if pointer.is_empty() {
            "/".into()
        } else {
            pointer.to_string()
        },
        field: if pointer.is_empty() || pointer == "/" {
            "hela ansökan".into()
        } else {
            name(pointer)
        },
        message: message.to_string(),
    };
    match rs.read(bytes) {
        Ok(input) => match rs.evaluate_input(&input) {
            Ok(d) => Tried::Draft(Box::new(d)),
            Err(e) => Tried::Failed(format!("Reglerna kunde inte räkna på ansökan: {e}")),
        },
        Err(sandbox::ReadError::Input(sandbox::InputError::Invalid(problems))) => {
            Tried::Invalid(problems.iter().map(|p| problem(&p.pointer, &p.message)).collect())
        }
        Err(sandbox::ReadError::Input(sandbox::InputError::Application(domain::ApplicationError::Invalid(errors)))) => {
            Tried::Invalid(errors.iter().map(|p| problem(&p.pointer, &p.message)).collect())
        }
        Err(sandbox::ReadError::Input(e)) => Tried::Invalid(vec![problem("", &e.to_string())]),
        Err(sandbox::ReadError::Ruleset(e)) => Tried::Failed(format!("Reglerna kunde inte läsa ansökan: {e}")),
    }
}

/// `POST /regler/prova`: the pasted application through the chosen
/// version. Nothing is stored, and nothing of the document is logged.
pub async fn try_post(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Form(f): Form<TryForm>,
) -> Result<Response, WebError> {
    let store = &web.ctx.store;
    let auto_type = if f.version == AUTO || f.version.is_empty() {
        type_of_document(&f.ansokan)
    } else {
        None
    };
    let ruleset = if let Some(t) = auto_type.as_deref() {
        rulebook::in_force(store, &web.ctx.settings.data_dir, &robots(&web), t)
            .await
            .map_err(internal)?
    } else if f.version == AUTO || f.version.is_empty() {
        None
    } else if let Some(t) = f.version.strip_prefix("galler:") {
        rulebook::in_force(store, &web.ctx.settings.data_dir, &robots(&web), t)
            .await
            .map_err(internal)?
    } else {
        Some(load(&web, &find(&web, &f.version).await?.hash).await?)
    };
    let versions = try_choices(&web, &f.version).await?;
    let mut page = TryPage {
        chrome: Chrome::for_user(&a, "/regler"),
        versions,
        document: f.ansokan.clone(),
        used: None,
        summary: None,
        draft: None,
        problems: Vec::new(),
        error: None,
    };
    let Some(rs) = ruleset else {
        page.error = Some(if f.ansokan.trim().is_empty() {
            "Klistra in en ansökan (JSON) att pröva.".into()
        } else if f.version == AUTO || f.version.is_empty() {
            "Ansökan namnger ingen ärendetyp som finns här (fältet schema), eller är inte JSON. Välj en version i listan eller rätta ansökan.".into()
        } else {
            "Välj en version att pröva med.".into()
        });
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    if f.ansokan.trim().is_empty() {
        page.error = Some("Klistra in en ansökan (JSON) att pröva.".into());
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    page.used = Some(format!("{} {} ({})", rs.name(), rs.version(), rs.hash()));
    let bytes = f.ansokan.into_bytes();
    let r = rs.clone();
    let tried = on_big_stack(move || try_document(&r, &bytes)).await?;
    let status = match tried {
        Tried::Draft(d) => {
            let t = d.casework_type();
            page.draft = Some(view::draft_view(&d));
            page.summary = Some(TriedDraft {
                outcome: d.outcome().label().to_string(),
                amount: d.amount().map_or_else(|| "–".into(), |m| m.to_string()),
                codes: d
                    .codes()
                    .iter()
                    .map(|c| format!("{} – {}", c.as_str(), sandbox::Ruleset::code_label(t, c.as_str())))
                    .collect(),
                warnings: d
                    .warnings()
                    .iter()
                    .filter(|w| !sandbox::is_parameter_notice(w))
                    .cloned()
                    .collect(),
                parameter_notices: d
                    .warnings()
                    .iter()
                    .filter(|w| sandbox::is_parameter_notice(w))
                    .map(|w| sandbox::parameter_notice_body(w).to_string())
                    .collect(),
            });
            StatusCode::OK
        }
        Tried::Invalid(p) => {
            page.problems = p;
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Tried::Failed(e) => {
            page.error = Some(e);
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    render_status(&page, status)
}

// ------------------------------------------------------------ replay

#[derive(Template)]
#[template(path = "rules_replay.html")]
struct ReplayPage {
    chrome: Chrome,
    id: CaseId,
    r: rulebook::replay::Replay,
}

/// `POST /arenden/{id}/kor-om`: the case evaluated again with its own
/// version and stored inputs, compared with its stored draft.
pub async fn replay(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
) -> Result<Response, WebError> {
    // The same rules as reading the case (jäv; the read is logged).
    super::access::read_case(&web, &a, id, "replay").await?;
    let r = rulebook::replay::replay_case(&web.ctx.store, &web.ctx.settings.data_dir, id, &actor(&a))
        .await
        .map_err(Failure::Invalid)?;
    render(&ReplayPage {
        chrome: Chrome::for_user(&a, "/arenden"),
        id,
        r,
    })
}
