//! The pages of the other roles (the rule pages are in `rules.rs`):
//! users, robots, configuration and failing deliveries (administratör),
//! the audit log's state (revisor).

use super::error::{Failure, WebError};
use super::pages::{Chrome, render, see_other};
use super::session::Authed;
use super::{Web, role_label, view};
use crate::store::users::ALL_ROLES;
use crate::store::{DeliveryStatus, RunStatus};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Form};
use serde::Deserialize;

// ------------------------------------------------------------- users

pub struct UserLine {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub roles: String,
    pub login: &'static str,
    pub disabled: bool,
    pub created: String,
    pub has_personnummer: bool,
}

pub struct RequestLine {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub role: &'static str,
    pub requested_by: String,
    pub requested: String,
}

pub struct RoleChoice {
    pub value: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserLine>,
    requests: Vec<RequestLine>,
    roles: Vec<RoleChoice>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct Notice {
    klart: Option<String>,
}

async fn users_page(
    web: &Web,
    a: &Authed,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let users = web.ctx.store.list_users().await?;
    let requests = web
        .ctx
        .store
        .role_requests(true)
        .await?
        .into_iter()
        .filter_map(|q| {
            let u = users.iter().find(|u| u.id == q.user_id)?;
            Some(RequestLine {
                id: q.id,
                username: u.username.clone(),
                name: u.display_name.clone(),
                role: role_label(q.role),
                requested_by: q
                    .requested_by
                    .trim_start_matches("user:")
                    .replace("cli:", "kommandoraden, "),
                requested: view::time(q.requested),
            })
        })
        .collect();
    render(&UsersPage {
        requests,
        chrome: Chrome::for_user(a, "/admin/anvandare"),
        users: users
            .iter()
            .map(|u| UserLine {
                id: u.id,
                username: u.username.clone(),
                name: u.display_name.clone(),
                roles: u.roles.iter().map(|r| role_label(*r)).collect::<Vec<_>>().join(", "),
                login: match (u.password_hash.is_some(), u.oidc_subject.is_some()) {
                    (true, true) => "lösenord och enkel inloggning",
                    (true, false) => "lösenord",
                    (false, true) => "enkel inloggning",
                    (false, false) => "ingen",
                },
                disabled: u.disabled,
                created: view::date(u.created),
                has_personnummer: u.personnummer_sealed.is_some(),
            })
            .collect(),
        roles: ALL_ROLES
            .iter()
            .map(|r| RoleChoice {
                value: r.as_str(),
                label: role_label(*r),
            })
            .collect(),
        notice,
        error,
    })
}

pub async fn users(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Query(n): Query<Notice>,
) -> Result<Response, WebError> {
    let notice = match n.klart.as_deref() {
        Some("skapad") => Some("Användaren är skapad.".to_string()),
        Some("andrad") => Some("Användaren är ändrad.".to_string()),
        Some("begard") => Some(
            "Användaren är skapad. Rollen handläggare eller administratör väntar på att en andra administratör godkänner den.".to_string(),
        ),
        Some("beviljad") => Some("Rollen är godkänd.".to_string()),
        Some("avslagen") => Some("Begäran om rollen är avslagen.".to_string()),
        _ => None,
    };
    users_page(&web, &a, notice, None).await
}

#[derive(Deserialize)]
pub struct AddUserForm {
    anvandarnamn: String,
    namn: String,
    losenord: String,
    #[serde(default)]
    personnummer: String,
    #[serde(default)]
    handlaggare: Option<String>,
    #[serde(default)]
    regelforfattare: Option<String>,
    #[serde(default)]
    administrator: Option<String>,
    #[serde(default)]
    revisor: Option<String>,
}

pub async fn add_user(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Form(f): Form<AddUserForm>,
) -> Result<Response, WebError> {
    let mut roles = Vec::new();
    for (on, r) in [
        (&f.handlaggare, super::approval_core::Role::Handlaggare),
        (&f.regelforfattare, super::approval_core::Role::Regelforfattare),
        (&f.administrator, super::approval_core::Role::Administrator),
        (&f.revisor, super::approval_core::Role::Revisor),
    ] {
        if on.is_some() {
            roles.push(r);
        }
    }
    let by = crate::accounts::By::Official(a.official.clone());
    let added = crate::accounts::add(
        &web.ctx.store,
        &by,
        &crate::accounts::NewAccount {
            username: &f.anvandarnamn,
            display_name: &f.namn,
            password: Some(&f.losenord),
            personnummer: Some(&f.personnummer),
            roles,
            oidc_subject: None,
        },
    )
    .await;
    match added {
        Ok(added) if added.pending.is_empty() => Ok(see_other("/admin/anvandare?klart=skapad")),
        Ok(_) => Ok(see_other("/admin/anvandare?klart=begard")),
        Err(msg) => {
            let mut r = users_page(&web, &a, None, Some(msg)).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    atgard: String,
}

pub async fn user_status(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<i64>,
    Form(f): Form<StatusForm>,
) -> Result<Response, WebError> {
    let disable = match f.atgard.as_str() {
        "inaktivera" => true,
        "aktivera" => false,
        _ => return Err(Failure::Invalid("Okänd åtgärd.".into()).into()),
    };
    if disable && id == a.official.user_id {
        return Err(Failure::Invalid("Du kan inte inaktivera dig själv.".into()).into());
    }
    web.ctx.store.user_by_id(id).await?.ok_or(Failure::NotFound)?;
    crate::accounts::set_status(
        &web.ctx.store,
        &crate::accounts::By::Official(a.official.clone()),
        id,
        disable,
    )
    .await
    .map_err(Failure::Invalid)?;
    Ok(see_other("/admin/anvandare?klart=andrad"))
}

#[derive(Deserialize)]
pub struct RoleRequestForm {
    atgard: String,
}

/// A second administratör grants or refuses a requested role.
pub async fn role_request(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<i64>,
    Form(f): Form<RoleRequestForm>,
) -> Result<Response, WebError> {
    let grant = match f.atgard.as_str() {
        "godkann" => true,
        "avsla" => false,
        _ => return Err(Failure::Invalid("Okänd åtgärd.".into()).into()),
    };
    match crate::accounts::decide_request(&web.ctx.store, &a.official, id, grant).await {
        Ok(()) => Ok(see_other(if grant {
            "/admin/anvandare?klart=beviljad"
        } else {
            "/admin/anvandare?klart=avslagen"
        })),
        Err(msg) => {
            let mut r = users_page(&web, &a, None, Some(msg)).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

#[derive(Deserialize)]
pub struct IdentityForm {
    personnummer: String,
}

/// An administratör sets an official's personnummer (audited).
pub async fn user_identity(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<i64>,
    Form(f): Form<IdentityForm>,
) -> Result<Response, WebError> {
    web.ctx.store.user_by_id(id).await?.ok_or(Failure::NotFound)?;
    match crate::accounts::set_personnummer(
        &web.ctx.store,
        &crate::accounts::By::Official(a.official.clone()),
        id,
        &f.personnummer,
    )
    .await
    {
        Ok(()) => Ok(see_other("/admin/anvandare?klart=andrad")),
        Err(msg) => {
            let mut r = users_page(&web, &a, None, Some(msg)).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

// ------------------------------------------------------------- single sign-on links

#[derive(Template)]
#[template(path = "admin_user_sso.html")]
struct SsoLinkPage {
    chrome: Chrome,
    id: i64,
    username: String,
    name: String,
    /// The linked identity: issuer and subject.
    link: Option<(String, String)>,
    default_issuer: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
}

async fn sso_page(
    web: &Web,
    a: &Authed,
    id: i64,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let u = web.ctx.store.user_by_id(id).await?.ok_or(Failure::NotFound)?;
    render(&SsoLinkPage {
        chrome: Chrome::for_user(a, "/admin/anvandare"),
        id: u.id,
        link: u
            .oidc_subject
            .as_deref()
            .and_then(|s| s.split_once('|').map(|(i, s)| (i.to_string(), s.to_string()))),
        username: u.username,
        name: u.display_name,
        default_issuer: web
            .settings
            .oidc
            .as_ref()
            .map(|o| o.issuer_url.clone())
            .unwrap_or_default(),
        csrf: a.csrf.clone(),
        notice,
        error,
    })
}

/// An account's single sign-on link: shown, made and removed by an
/// administratör (audited), e.g. after the provider's issuer changed.
pub async fn user_sso(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<i64>,
    Query(n): Query<Notice>,
) -> Result<Response, WebError> {
    let notice = match n.klart.as_deref() {
        Some("kopplad") => Some("Kontot är kopplat till kommunens inloggning.".to_string()),
        Some("borttagen") => Some("Kopplingen är borttagen.".to_string()),
        _ => None,
    };
    sso_page(&web, &a, id, notice, None).await
}

#[derive(Deserialize)]
pub struct SsoLinkForm {
    atgard: String,
    issuer: Option<String>,
    subject: Option<String>,
}

pub async fn user_sso_change(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<i64>,
    Form(f): Form<SsoLinkForm>,
) -> Result<Response, WebError> {
    web.ctx.store.user_by_id(id).await?.ok_or(Failure::NotFound)?;
    let by = crate::accounts::By::Official(a.official.clone());
    let (done, klart) = match f.atgard.as_str() {
        "koppla" => (
            crate::accounts::link_sso(
                &web.ctx.store,
                &by,
                id,
                f.issuer.as_deref().unwrap_or_default().trim(),
                f.subject.as_deref().unwrap_or_default().trim(),
            )
            .await,
            "kopplad",
        ),
        "ta-bort" => (crate::accounts::unlink_sso(&web.ctx.store, &by, id).await, "borttagen"),
        _ => return Err(Failure::BadRequest("Okänd åtgärd.".into()).into()),
    };
    match done {
        Ok(()) => Ok(see_other(&format!("/admin/anvandare/{id}/sso?klart={klart}"))),
        Err(msg) => {
            let mut r = sso_page(&web, &a, id, None, Some(msg)).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    roll: String,
    atgard: String,
}

/// An administratör asks for a role (given at once when it needs no second
/// administratör) or takes one away.
pub async fn user_role(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<i64>,
    Form(f): Form<RoleForm>,
) -> Result<Response, WebError> {
    let role = crate::store::users::role_from_str(&f.roll).ok_or_else(|| Failure::Invalid("Okänd roll.".into()))?;
    let by = crate::accounts::By::Official(a.official.clone());
    let done = match f.atgard.as_str() {
        "ge" => crate::accounts::request_role(&web.ctx.store, &by, id, role)
            .await
            .map(|given| if given { "andrad" } else { "begard" }),
        "ta-bort" => {
            if id == a.official.user_id {
                Err("Du kan inte ta bort dina egna roller.".to_string())
            } else {
                crate::accounts::remove_role(&web.ctx.store, &by, id, role)
                    .await
                    .map(|()| "andrad")
            }
        }
        _ => return Err(Failure::Invalid("Okänd åtgärd.".into()).into()),
    };
    match done {
        Ok(k) => Ok(see_other(&format!("/admin/anvandare?klart={k}"))),
        Err(msg) => {
            let mut r = users_page(&web, &a, None, Some(msg)).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

// ------------------------------------------------------------- robots

pub struct RobotLine {
    pub name: String,
    pub schedule: String,
    pub enabled: bool,
    pub paused: Option<String>,
    pub last_run: String,
}

#[derive(Template)]
#[template(path = "admin_robots.html")]
struct RobotsPage {
    chrome: Chrome,
    robots: Vec<RobotLine>,
}

pub async fn robots(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, WebError> {
    let mut names: Vec<&String> = web.ctx.settings.robots.iter().map(|r| &r.name).collect();
    names.sort();
    let mut lines = Vec::new();
    for name in names {
        let Some(r) = web.ctx.settings.robot(name) else {
            continue;
        };
        let runs = web.ctx.store.list_runs(Some(name), 1).await?;
        lines.push(RobotLine {
            name: name.clone(),
            schedule: format!("{} ({})", r.schedule, r.time_zone),
            enabled: r.enabled,
            paused: web.ctx.store.paused(name).await?,
            last_run: runs.first().map_or_else(
                || "ingen körning ännu".into(),
                |run| {
                    format!(
                        "{}: {}, hämtade {}, dubbletter {}, ogiltiga {}",
                        view::time(run.fire),
                        match run.status {
                            RunStatus::Succeeded => "lyckades",
                            RunStatus::Failed => "misslyckades",
                            RunStatus::Running => "pågår",
                            RunStatus::Aborted => "avbröts (noden stannade)",
                        },
                        run.counts.fetched,
                        run.counts.duplicates,
                        run.counts.rejected
                    )
                },
            ),
        });
    }
    render(&RobotsPage {
        chrome: Chrome::for_user(&a, "/admin/robotar"),
        robots: lines,
    })
}

pub async fn robot_status(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(name): Path<String>,
    Form(f): Form<StatusForm>,
) -> Result<Response, WebError> {
    if web.ctx.settings.robot(&name).is_none() {
        return Err(Failure::NotFound.into());
    }
    let paused = match f.atgard.as_str() {
        "pausa" => true,
        "starta" => false,
        _ => return Err(Failure::Invalid("Okänd åtgärd.".into()).into()),
    };
    let reason = format!("pausad av {} i webbgränssnittet", a.official.username);
    web.ctx
        .store
        .set_paused(&name, paused, paused.then_some(reason.as_str()))
        .await?;
    crate::accounts::robot_changed(
        &web.ctx.store,
        &crate::accounts::By::Official(a.official.clone()),
        &name,
        paused,
    )
    .await
    .map_err(Failure::Invalid)?;
    tracing::info!(robot = %name, paused, by = a.official.user_id, "robot paused or resumed");
    Ok(see_other("/admin/robotar"))
}

// ------------------------------------------------------------- configuration

#[derive(Template)]
#[template(path = "admin_config.html")]
struct ConfigPage {
    chrome: Chrome,
    items: Vec<view::LabelValue>,
}

pub async fn configuration(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, WebError> {
    let s = &web.ctx.settings;
    let w = &web.settings;
    let kv = |label: &str, value: String| view::LabelValue {
        label: label.into(),
        value,
    };
    let items = vec![
        kv("Databas", web.ctx.store.engine().into()),
        kv("Datakatalog", s.data_dir.display().to_string()),
        kv("Lyssnar på", s.http.listen.to_string()),
        kv("Arbetare", s.workers.concurrency.to_string()),
        kv("Robotar", s.robots.len().to_string()),
        kv(
            "Granskningslogg",
            format!(
                "kontrollpunkt var {} händelse eller var {} sekund",
                s.audit.checkpoint_every_events, s.audit.checkpoint_every_secs
            ),
        ),
        kv(
            "Säkra kakor (HTTPS)",
            if w.secure_cookies { "ja" } else { "nej" }.into(),
        ),
        kv("Inaktivitetsgräns", format!("{} minuter", w.idle_timeout_minutes)),
        kv("Längsta session", format!("{} timmar", w.session_max_hours)),
        kv("Längsta API-token", format!("{} timmar", w.api_token_max_hours)),
        kv(
            "Inloggningsbroms",
            format!(
                "väntetid efter {} misslyckade försök per användare och adress ({} från alla adresser; \
                 från {} även för nya adresser), högst {} minuter; högst {} försök per adress under {} minuter",
                w.login_backoff_after,
                w.login_account_backoff_after,
                w.login_account_lock_after,
                w.login_backoff_max_minutes,
                w.login_max_failures_per_ip,
                w.login_window_minutes
            ),
        ),
        kv(
            "Proxyer framför tjänsten",
            match w.proxies() {
                0 => "inga (X-Forwarded-For används inte)".into(),
                n => format!("{n} (klientadressen läses från höger i X-Forwarded-For)"),
            },
        ),
        kv(
            "Enkel inloggning (OIDC)",
            w.oidc
                .as_ref()
                .map_or_else(|| "av".into(), |o| format!("på, utfärdare {}", o.issuer_url)),
        ),
    ];
    render(&ConfigPage {
        chrome: Chrome::for_user(&a, "/admin/konfiguration"),
        items,
    })
}

// ------------------------------------------------------------- outbox

pub struct OutboxLine {
    pub id: i64,
    pub case_id: i64,
    pub status: &'static str,
    pub attempts: i64,
    pub next: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "admin_outbox.html")]
struct OutboxPage {
    chrome: Chrome,
    items: Vec<OutboxLine>,
}

pub async fn outbox(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, WebError> {
    let items = web.ctx.store.outbox_problems(200).await?;
    render(&OutboxPage {
        chrome: Chrome::for_user(&a, "/admin/utkorg"),
        items: items
            .into_iter()
            .map(|o| OutboxLine {
                id: o.id,
                case_id: o.case_id,
                status: match o.status {
                    DeliveryStatus::Failing => "misslyckas",
                    DeliveryStatus::Pending => "väntar på nytt försök",
                    DeliveryStatus::Leased => "skickas",
                    // Never among the problems (see Store::outbox_problems).
                    DeliveryStatus::Delivered => "okänd",
                },
                attempts: o.attempts,
                next: view::time(o.next_attempt),
                error: o.last_error.unwrap_or_default(),
            })
            .collect(),
    })
}

// ------------------------------------------------------------- audit

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    size: u64,
    checkpoint: Option<String>,
    origin: String,
    result: Option<(bool, String)>,
}

async fn audit_page(web: &Web, a: &Authed, result: Option<(bool, String)>) -> Result<Response, WebError> {
    let (size, checkpoint) = audit_head(web).await?;
    render(&AuditPage {
        chrome: Chrome::for_user(a, "/granskning"),
        size,
        checkpoint,
        origin: web.ctx.store.audit().origin().to_string(),
        result,
    })
}

async fn audit_head(web: &Web) -> Result<(u64, Option<String>), Failure> {
    let internal = |e: audit::AuditError| Failure::Internal(e.into());
    let (size, latest) = if let Some(p) = web.ctx.store.sqlite_pool() {
        let mut c = p.acquire().await.map_err(|e| Failure::Internal(e.into()))?;
        (
            audit::store::size(&mut *c).await.map_err(internal)?,
            audit::store::latest_checkpoint(&mut *c).await.map_err(internal)?,
        )
    } else if let Some(p) = web.ctx.store.postgres_pool() {
        let mut c = p.acquire().await.map_err(|e| Failure::Internal(e.into()))?;
        (
            audit::store::size(&mut *c).await.map_err(internal)?,
            audit::store::latest_checkpoint(&mut *c).await.map_err(internal)?,
        )
    } else {
        (0, None)
    };
    Ok((
        size,
        latest.map(|c| format!("storlek {}, rot {}", c.checkpoint.size, c.checkpoint.root)),
    ))
}

pub async fn audit_status(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, WebError> {
    audit_page(&web, &a, None).await
}

/// Verifies the whole log now (what `hrobot audit verify` does).
pub async fn audit_verify(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, WebError> {
    let known = [web.ctx.store.audit().verifier()];
    let report = if let Some(p) = web.ctx.store.sqlite_pool() {
        let mut c = p.acquire().await.map_err(|e| Failure::Internal(e.into()))?;
        audit::verify::verify_log(&mut *c, &known).await
    } else if let Some(p) = web.ctx.store.postgres_pool() {
        let mut c = p.acquire().await.map_err(|e| Failure::Internal(e.into()))?;
        audit::verify::verify_log(&mut *c, &known).await
    } else {
        return Err(Failure::NotFound.into());
    }
    .map_err(|e| Failure::Internal(e.into()))?;
    tracing::info!(
        by = a.official.user_id,
        ok = report.is_ok(),
        events = report.events,
        "audit log verified from the web UI"
    );
    let text = if report.is_ok() {
        format!(
            "Loggen är oförändrad: {} händelser och {} kontrollpunkter stämmer.",
            report.events, report.checkpoints
        )
    } else {
        format!(
            "Loggen stämmer inte: {} problem. Första: {}",
            report.problems.len(),
            report.problems.first().map(|p| p.what.clone()).unwrap_or_default()
        )
    };
    audit_page(&web, &a, Some((report.is_ok(), text))).await
}
