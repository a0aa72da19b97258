//! Sessions and the guard in front of every route.
//!
//! * A session token is 32 random bytes (base64url); the database holds its
//!   SHA-256 only. Browsers carry it in a cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Secure` and the `__Host-` prefix unless turned off
//!   for plain-HTTP localhost); integrations in `Authorization: Bearer`.
//! * A browser session ends after `idle_timeout_minutes` without a request
//!   and after `session_max_hours` in any case; an API token after
//!   `api_token_idle_minutes` and `api_token_max_hours`. Activity pushes the
//!   idle deadline (written at most once a minute), never past the end.
//! * Every sign-in, failed sign-in and throttling is an audit event
//!   (`login`, `login_failed`, `login_throttled`) by `user:<username>` for
//!   a known user, else by `web:anonym`: a username typed at the login form
//!   may be anything, a personnummer too, so it is never written down.
//! * CSRF: each browser session has its own random token (synchroniser
//!   token pattern), put into every form as `_csrf`; the guard refuses a
//!   state-changing request of the UI whose token does not match. The API
//!   takes bearer tokens only — a browser never sends one by itself — so
//!   it needs no CSRF token.

use super::error::{ApiError, Failure, WebError};
use super::{Access, Web};
use crate::officials as identity;
use crate::store::StoreError;
use crate::store::sessions::{AuthMethod, NewSession, SessionKind};
use crate::store::users::UserRecord;
use crate::web::approval_core::Official;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// The audit actor of a sign-in event whose username is not a user's.
pub const ANONYMOUS: &str = "web:anonym";

/// Largest form body the guard reads to find the CSRF token.
const FORM_LIMIT: usize = 256 * 1024;

/// A signed-in caller, put into the request by the guard.
#[derive(Clone)]
pub struct Authed {
    pub official: Official,
    pub display_name: String,
    /// The session's CSRF token (empty for API tokens).
    pub csrf: String,
    pub session_hash: String,
    pub kind: SessionKind,
}

impl std::fmt::Debug for Authed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authed")
            .field("user_id", &self.official.user_id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A fresh random token: 32 bytes, base64url without padding.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// What the database stores for a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares without an early exit.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn cookie_name(web: &Web) -> &'static str {
    if web.settings.secure_cookies {
        "__Host-hrobot"
    } else {
        "hrobot"
    }
}

pub fn login_cookie_name(web: &Web) -> &'static str {
    if web.settings.secure_cookies {
        "__Host-hrobot-login"
    } else {
        "hrobot-login"
    }
}

/// A `Set-Cookie` value; `max_age` None = a session cookie, Some(0) = delete.
pub fn set_cookie(web: &Web, name: &str, value: &str, same_site: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if web.settings.secure_cookies {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

impl Web {
    fn idle(&self, kind: SessionKind) -> Duration {
        let minutes = match kind {
            SessionKind::Browser => self.settings.idle_timeout_minutes,
            SessionKind::Api => self.settings.api_token_idle_minutes,
        };
        Duration::minutes(i64::try_from(minutes.max(1)).unwrap_or(30))
    }

    /// The longest a session or token lives, however active.
    fn max_age(&self, kind: SessionKind) -> Duration {
        let (hours, default) = match kind {
            SessionKind::Browser => (self.settings.session_max_hours, 12),
            SessionKind::Api => (self.settings.api_token_max_hours, 24),
        };
        Duration::hours(i64::try_from(hours.max(1)).unwrap_or(default))
    }

    /// Writes a sign-in event to the audit log: by `user:<username>` when
    /// the user is known, else by [`ANONYMOUS`]; the payload holds the
    /// method, the client address and what is given in `extra`.
    pub async fn audit_sign_in(
        &self,
        kind: audit::EventKind,
        user: Option<&UserRecord>,
        method: AuthMethod,
        ip: Option<IpAddr>,
        extra: serde_json::Value,
    ) -> Result<(), Failure> {
        let actor = user
            .and_then(|u| {
                audit::Actor::parse(&format!("user:{}", u.username))
                    .or_else(|_| audit::Actor::parse(&format!("user-id:{}", u.id)))
                    .ok()
            })
            .map_or_else(|| audit::Actor::parse(ANONYMOUS), Ok)
            .map_err(StoreError::from)?;
        let counted = match method {
            AuthMethod::Password => "password",
            AuthMethod::Oidc => "sso",
        };
        match kind {
            audit::EventKind::Login => self.ctx.metrics.login(counted, true),
            audit::EventKind::LoginFailed => self.ctx.metrics.login(counted, false),
            _ => {}
        }
        let mut payload = serde_json::json!({
            "method": method.as_str(),
            "client": ip.map(|i| i.to_string()),
        });
        if let (Some(p), serde_json::Value::Object(extra)) = (payload.as_object_mut(), extra) {
            p.extend(extra);
        }
        let mut tx = self.ctx.store.begin().await?;
        let event = audit::Event::new(kind, actor, tx.now())
            .with_payload(payload)
            .map_err(StoreError::from)?;
        tx.record(event);
        tx.commit().await?;
        Ok(())
    }

    /// Starts a session for a user who just proved who they are, and audits
    /// the sign-in. Returns the token.
    pub async fn start_session(
        &self,
        user: &UserRecord,
        kind: SessionKind,
        method: AuthMethod,
        ip: Option<IpAddr>,
    ) -> Result<String, Failure> {
        let token = new_token();
        let csrf = match kind {
            SessionKind::Browser => new_token(),
            SessionKind::Api => String::new(),
        };
        let now = self.now();
        let hash = token_hash(&token);
        self.ctx
            .store
            .create_session(&NewSession {
                id_hash: &hash,
                user_id: user.id,
                kind,
                method,
                csrf_token: &csrf,
                expires: now + self.idle(kind).min(self.max_age(kind)),
            })
            .await?;
        // Expired sessions and stale login flows go now and then: at logins.
        if let Err(e) = self.ctx.store.purge_sessions(Duration::minutes(10)).await {
            tracing::warn!(error = %e, "could not purge expired sessions");
        }
        // Fail closed: no session whose sign-in is not in the audit log.
        if let Err(f) = self
            .audit_sign_in(
                audit::EventKind::Login,
                Some(user),
                method,
                ip,
                serde_json::json!({"session": kind.as_str()}),
            )
            .await
        {
            let _ = self.ctx.store.delete_session(&hash).await;
            return Err(f);
        }
        tracing::info!(
            user_id = user.id,
            username = %user.username,
            client = ip.map(tracing::field::display),
            kind = kind.as_str(),
            method = method.as_str(),
            "session started"
        );
        Ok(token)
    }

    /// The caller behind a token, if the session is alive and the user enabled.
    pub async fn authenticate(&self, token: &str, kind: SessionKind) -> Result<Option<Authed>, Failure> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let Some(s) = self.ctx.store.session(&hash).await? else {
            return Ok(None);
        };
        if s.kind != kind {
            return Ok(None);
        }
        let now = self.now();
        if now >= s.created + self.max_age(kind) {
            self.ctx.store.delete_session(&hash).await?;
            return Ok(None);
        }
        let Some(user) = self.ctx.store.user_by_id(s.user_id).await? else {
            return Ok(None);
        };
        if user.disabled {
            self.ctx.store.delete_session(&hash).await?;
            return Ok(None);
        }
        // Push the idle deadline, writing at most once a minute.
        if now - s.last_seen >= Duration::minutes(1) || s.expires < now + self.idle(kind) - Duration::minutes(1) {
            let expires = (now + self.idle(kind)).min(s.created + self.max_age(kind));
            self.ctx.store.touch_session(&hash, expires).await?;
        }
        let official = identity::official(&user, self.ctx.store.audit().keys())
            .map_err(|e| Failure::Internal(anyhow::Error::new(e).context("the user's personnummer")))?;
        Ok(Some(Authed {
            official,
            display_name: user.display_name.clone(),
            csrf: s.csrf_token,
            session_hash: hash,
            kind,
        }))
    }
}

/// The guard's configuration for one route.
#[derive(Clone)]
pub struct Guard {
    pub web: Web,
    pub access: Access,
    pub api: bool,
}

struct CsrfField {
    csrf: Option<String>,
}

fn deny(api: bool, f: Failure) -> Response {
    if api {
        ApiError(f).into_response()
    } else {
        WebError(f).into_response()
    }
}

/// Authenticates, authorises and (for UI form posts) checks the CSRF token,
/// then hands the request to the route's handler with an [`Authed`].
pub async fn guard(State(g): State<Guard>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let authed = if g.api {
        match bearer(headers) {
            Some(t) => g.web.authenticate(t, SessionKind::Api).await,
            None => Ok(None),
        }
    } else {
        match cookie(headers, cookie_name(&g.web)) {
            Some(t) => g.web.authenticate(t, SessionKind::Browser).await,
            None => Ok(None),
        }
    };
    let authed = match authed {
        Ok(a) => a,
        Err(f) => return deny(g.api, f),
    };
    if g.access == Access::Public {
        if let Some(a) = authed {
            req.extensions_mut().insert(a);
        }
        return next.run(req).await;
    }
    let Some(authed) = authed else {
        if g.api {
            return deny(true, Failure::Unauthenticated);
        }
        // Back to where the official was going, after logging in.
        let target = if req.method() == Method::GET {
            req.uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let mut res = Redirect::to(&format!("/logga-in{}", next_param(&target))).into_response();
        *res.status_mut() = StatusCode::SEE_OTHER;
        return res;
    };
    if !g.access.allows(&authed.official.roles) {
        tracing::info!(user_id = authed.official.user_id, path = %req.uri().path(), "access denied by role");
        return deny(
            g.api,
            Failure::Forbidden {
                code: "forbidden",
                message: "Din roll ger inte tillgång till det här.".into(),
            },
        );
    }
    if !g.api && req.method() != Method::GET && req.method() != Method::HEAD {
        req = match check_csrf(req, &authed.csrf).await {
            Ok(r) => r,
            Err(f) => return deny(false, f),
        };
    }
    req.extensions_mut().insert(authed);
    next.run(req).await
}

/// `?nasta=…` for a local path only (no open redirect).
pub fn next_param(target: &str) -> String {
    if safe_local_path(target) && target != "/" {
        format!("?nasta={}", urlencode(target))
    } else {
        String::new()
    }
}

pub fn safe_local_path(p: &str) -> bool {
    p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.chars().any(char::is_control)
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn check_csrf(req: Request, expected: &str) -> Result<Request, Failure> {
    let refused = || Failure::Forbidden {
        code: "csrf",
        message: "Formuläret kunde inte skickas (säkerhetskoden saknas eller är fel). Ladda om sidan och försök igen."
            .into(),
    };
    if let Some(h) = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return if !expected.is_empty() && same(h, expected) {
            Ok(req)
        } else {
            Err(refused())
        };
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| Failure::BadRequest("Formuläret är för stort.".into()))?;
    let field: Option<CsrfField> = serde_urlencoded_csrf(&bytes);
    match field.and_then(|f| f.csrf) {
        Some(t) if !expected.is_empty() && same(&t, expected) => Ok(Request::from_parts(parts, Body::from(bytes))),
        _ => Err(refused()),
    }
}

/// Reads `_csrf` from a urlencoded form body (other fields are ignored).
/// Tokens are base64url, which form encoding leaves as it is.
fn serde_urlencoded_csrf(body: &[u8]) -> Option<CsrfField> {
    let text = std::str::from_utf8(body).ok()?;
    let csrf = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "_csrf")
        .map(|(_, v)| v.to_string());
    Some(CsrfField { csrf })
}

/// Time left before the login limiter lets a user try again.
pub fn seconds_until(now: DateTime<Utc>, at: DateTime<Utc>) -> i64 {
    (at - now).num_seconds().max(1)
}
