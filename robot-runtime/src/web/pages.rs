//! The pages officials read: login and the case (the work queue is in
//! `queue.rs`).

use super::error::{Failure, WebError};
use super::session::{self, Authed};
use super::{Access, CASE_READERS, Web, approval_core as ac, role_label};
use crate::store::CaseId;
use crate::store::sessions::{AuthMethod, SessionKind};
use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

// ------------------------------------------------------------- the frame

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct UserBar {
    pub name: String,
    pub roles: String,
    pub csrf: String,
}

/// What the layout (`base.html`) needs: the user and the menu.
pub struct Chrome {
    pub user: Option<UserBar>,
    pub nav: Vec<NavItem>,
}

impl Chrome {
    pub fn anonymous() -> Chrome {
        Chrome {
            user: None,
            nav: Vec::new(),
        }
    }

    pub fn for_user(a: &Authed, current: &str) -> Chrome {
        let roles = &a.official.roles;
        let items: &[(&'static str, &'static str, Access)] = &[
            ("/arenden", "Ärenden", Access::Roles(CASE_READERS)),
            ("/regler", "Regler", Access::Roles(super::RULE_READERS)),
            ("/admin/anvandare", "Användare", Access::Roles(super::ADMINS)),
            ("/admin/robotar", "Robotar", Access::Roles(super::ADMINS)),
            ("/admin/konfiguration", "Konfiguration", Access::Roles(super::ADMINS)),
            ("/admin/utkorg", "Utskick", Access::Roles(super::ADMINS)),
            ("/granskning", "Granskning", Access::Roles(super::AUDITORS)),
        ];
        Chrome {
            user: Some(UserBar {
                name: a.display_name.clone(),
                roles: roles.iter().map(|r| role_label(*r)).collect::<Vec<_>>().join(", "),
                csrf: a.csrf.clone(),
            }),
            nav: items
                .iter()
                .filter(|(_, _, acc)| acc.allows(roles))
                .map(|(href, label, _)| NavItem {
                    href,
                    label,
                    current: current.starts_with(href),
                })
                .collect(),
        }
    }
}

pub fn render<T: Template>(t: &T) -> Result<Response, WebError> {
    render_status(t, StatusCode::OK)
}

/// A page with a status other than 200 (a form shown again with its error).
pub fn render_status<T: Template>(t: &T, status: StatusCode) -> Result<Response, WebError> {
    let html = t
        .render()
        .map_err(|e| Failure::Internal(anyhow::Error::new(e).context("rendering a page")))?;
    Ok((status, Html(html)).into_response())
}

/// After a form: back to a page (303, so a reload does not post again).
pub fn see_other(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}

// ------------------------------------------------------------- static

pub async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        include_str!("static/stil.css"),
    )
        .into_response()
}

/// Where each role starts.
pub async fn home(Extension(a): Extension<Authed>) -> Response {
    let roles = &a.official.roles;
    let to = if Access::Roles(CASE_READERS).allows(roles) {
        "/arenden"
    } else if Access::Roles(super::ADMINS).allows(roles) {
        "/admin/anvandare"
    } else {
        "/logga-in"
    };
    see_other(to)
}

// ------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: Option<String>,
    login_token: String,
    next: String,
    next_query: String,
    username: String,
    sso_label: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    nasta: Option<String>,
}

fn login_page_response(web: &Web, error: Option<String>, next: &str, username: &str, status: StatusCode) -> Response {
    // Login CSRF: a double-submitted random value (cookie + form field).
    let token = session::new_token();
    let next = if session::safe_local_path(next) { next } else { "" };
    let page = LoginPage {
        chrome: Chrome::anonymous(),
        error,
        login_token: token.clone(),
        next: next.to_string(),
        next_query: session::next_param(next),
        username: username.to_string(),
        sso_label: web.settings.oidc.as_ref().map(|o| o.button_label.clone()),
    };
    match render(&page) {
        Ok(mut r) => {
            *r.status_mut() = status;
            r.headers_mut().append(
                header::SET_COOKIE,
                session::set_cookie(web, session::login_cookie_name(web), &token, "Strict", Some(3600)),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

pub async fn login_page(
    State(web): State<Web>,
    authed: Option<Extension<Authed>>,
    Query(q): Query<NextQuery>,
) -> Response {
    if authed.is_some() {
        return see_other("/");
    }
    login_page_response(&web, None, q.nasta.as_deref().unwrap_or(""), "", StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(rename = "_login")]
    login: String,
    anvandarnamn: String,
    losenord: String,
    #[serde(default)]
    nasta: String,
}

/// The peer's address, when the server was started with connect info.
pub struct ClientAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
        ))
    }
}

/// The client's address: the peer's, or behind `trusted_proxies` = N
/// proxies the `X-Forwarded-For` entry N places from the right — the one
/// the outermost trusted proxy appended. Entries left of it are whatever
/// the client sent, so they are never read. A header with fewer entries, or
/// an entry that is not an address, gives the peer's address.
pub fn client_ip(web: &Web, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    forwarded_client(web.settings.proxies(), headers).or(peer.map(|p| p.ip()))
}

fn forwarded_client(proxies: usize, headers: &HeaderMap) -> Option<IpAddr> {
    if proxies == 0 {
        return None;
    }
    let mut entries = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        entries.extend(v.to_str().ok()?.split(',').map(str::trim));
    }
    let entry = entries.len().checked_sub(proxies).map(|i| entries[i])?;
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

pub async fn login(
    State(web): State<Web>,
    ClientAddr(peer): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let cookie = session::cookie(&headers, session::login_cookie_name(&web)).unwrap_or_default();
    if f.login.is_empty() || !session::same(cookie, &f.login) {
        return login_page_response(
            &web,
            Some("Inloggningen kunde inte slutföras. Försök igen.".into()),
            &f.nasta,
            "",
            StatusCode::FORBIDDEN,
        );
    }
    let username = f.anvandarnamn.trim().to_lowercase();
    let ip = client_ip(&web, &headers, peer);
    match web.password_login(&username, &f.losenord, ip).await {
        Ok(user) => match web
            .start_session(&user, SessionKind::Browser, AuthMethod::Password, ip)
            .await
        {
            Ok(token) => {
                let to = if session::safe_local_path(&f.nasta) {
                    f.nasta.as_str()
                } else {
                    "/"
                };
                let mut r = see_other(to);
                let h = r.headers_mut();
                h.append(
                    header::SET_COOKIE,
                    session::set_cookie(&web, session::cookie_name(&web), &token, "Strict", None),
                );
                h.append(
                    header::SET_COOKIE,
                    session::set_cookie(&web, session::login_cookie_name(&web), "", "Strict", Some(0)),
                );
                r
            }
            Err(f) => WebError(f).into_response(),
        },
        Err(LoginRefused::Limited(secs)) => {
            let mut r = login_page_response(
                &web,
                Some(format!(
                    "För många misslyckade inloggningar. Försök igen om {}.",
                    wait_text(secs)
                )),
                &f.nasta,
                &username,
                StatusCode::TOO_MANY_REQUESTS,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            r
        }
        Err(LoginRefused::Wrong) => login_page_response(
            &web,
            Some("Fel användarnamn eller lösenord.".into()),
            &f.nasta,
            &username,
            StatusCode::UNAUTHORIZED,
        ),
        Err(LoginRefused::Failed(f)) => WebError(f).into_response(),
    }
}

/// "12 sekunder", "3 minuter".
fn wait_text(secs: i64) -> String {
    match secs {
        ..=1 => "1 sekund".into(),
        2..=59 => format!("{secs} sekunder"),
        _ => format!("{} minuter", (secs + 59) / 60),
    }
}

pub enum LoginRefused {
    Wrong,
    /// Throttled: try again in this many seconds.
    Limited(i64),
    Failed(Failure),
}

impl Web {
    /// Checks a username and password under the login throttling, and
    /// writes what happened to the audit and text logs (the username only
    /// when it is a user's: a mistyped one may be anything).
    pub async fn password_login(
        &self,
        username: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<crate::store::users::UserRecord, LoginRefused> {
        let now = self.now();
        let user = self
            .ctx
            .store
            .user_by_name(username)
            .await
            .map_err(|e| LoginRefused::Failed(e.into()))?;
        let known = user.as_ref().map(|u| u.username.clone());
        if let Err(l) = self.limiter.check(username, ip, now) {
            let secs = session::seconds_until(now, l.retry_after);
            self.ctx.metrics.login("password", false);
            tracing::warn!(
                username = known.as_deref(),
                client = ip.map(tracing::field::display),
                reason = l.reason.as_str(),
                retry_after_secs = secs,
                "login refused: throttled after failed logins"
            );
            // Once per throttling, not per refused try: a flood of tries
            // must not flood the audit log.
            if l.first
                && let Err(f) = self
                    .audit_sign_in(
                        audit::EventKind::LoginThrottled,
                        user.as_ref(),
                        AuthMethod::Password,
                        ip,
                        serde_json::json!({"reason": l.reason.as_str(), "retry_after_secs": secs}),
                    )
                    .await
            {
                tracing::error!(error = ?f, "could not audit a login throttling");
            }
            return Err(LoginRefused::Limited(secs));
        }
        let hash = user
            .as_ref()
            .filter(|u| !u.disabled)
            .and_then(|u| u.password_hash.clone());
        let pw = password.to_string();
        // argon2 is deliberately slow: off the async threads.
        let ok = tokio::task::spawn_blocking(move || crate::officials::verify_password(&pw, hash.as_deref()))
            .await
            .unwrap_or(false);
        match user {
            Some(u) if ok => {
                self.limiter.succeeded(username, ip);
                Ok(u)
            }
            user => {
                self.limiter.failed(username, ip, now);
                let reason = match &user {
                    None => "unknown_user",
                    Some(u) if u.disabled => "disabled_user",
                    Some(u) if u.password_hash.is_none() => "no_password",
                    Some(_) => "wrong_password",
                };
                tracing::info!(
                    username = known.as_deref(),
                    client = ip.map(tracing::field::display),
                    reason,
                    "login failed"
                );
                if let Err(f) = self
                    .audit_sign_in(
                        audit::EventKind::LoginFailed,
                        user.as_ref(),
                        AuthMethod::Password,
                        ip,
                        serde_json::json!({"reason": reason}),
                    )
                    .await
                {
                    tracing::error!(error = ?f, "could not audit a failed login");
                }
                Err(LoginRefused::Wrong)
            }
        }
    }
}

/// `POST /logga-ut`: the session ends here at once; a single sign-on
/// session goes on to the provider's logout (`oidc::after_logout`).
pub async fn logout(State(web): State<Web>, headers: HeaderMap, Extension(a): Extension<Authed>) -> Response {
    let ended = match web.ctx.store.end_session(&a.session_hash).await {
        Ok(e) => e,
        Err(e) => return WebError(e.into()).into_response(),
    };
    tracing::info!(user_id = a.official.user_id, "logged out");
    let mut r = match ended {
        Some(e) if e.method == AuthMethod::Oidc => super::oidc::after_logout(&web, &headers, e.sealed_id_token).await,
        _ => see_other("/logga-in"),
    };
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&web, session::cookie_name(&web), "", "Strict", Some(0)),
    );
    r
}

// ------------------------------------------------------------- choices

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub fn choices(items: Vec<(String, String)>, current: &str) -> Vec<Choice> {
    items
        .into_iter()
        .map(|(value, label)| Choice {
            selected: value == current,
            value,
            label,
        })
        .collect()
}

// ------------------------------------------------------------- the case

/// The decision letter as HTML (the draft's preview until approved).
pub async fn letter(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
) -> Result<Response, WebError> {
    super::access::no_letters(super::access::read_case(&web, &a, id, "letter").await?)?;
    let html = ac::letter_html(&web, id).await?;
    Ok(Html(html).into_response())
}

pub async fn letter_pdf(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
) -> Result<Response, WebError> {
    super::access::no_letters(super::access::read_case(&web, &a, id, "letter_pdf").await?)?;
    let pdf = ac::letter_pdf(&web, id).await?;
    let disposition = format!("inline; filename=\"beslut-{id}.pdf\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/pdf")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or_else(|_| HeaderValue::from_static("inline")),
            ),
        ],
        pdf,
    )
        .into_response())
}

/// The kommuniceringsbrev as it was sent.
pub async fn kommunicering_letter(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
) -> Result<Response, WebError> {
    super::access::no_letters(super::access::read_case(&web, &a, id, "kommunicering_letter").await?)?;
    match crate::approval::kommunicering_letter(&web.ctx.store, id).await? {
        Some(l) => Ok(Html(l.html).into_response()),
        None => Err(super::error::Failure::NotFound.into()),
    }
}
