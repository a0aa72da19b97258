//! The officials' web UI (Swedish, server-rendered, works without
//! JavaScript) and the JSON API under `/api/v1`, with login, sessions,
//! CSRF protection and role-based access.
//!
//! Every route is declared once, in [`routes!`] below, with the access it
//! requires; the same table builds the router and is published as
//! [`ROUTES`], so the authorisation test and the OpenAPI test can check
//! every route there is. A route's handler never runs before `guard` has
//! authenticated the caller (cookie session in the UI, bearer token in the
//! API), checked the role and, for a form POST, the CSRF token.
//!
//! ```text
//! request ─▶ guard (session/bearer → Official, role, CSRF) ─▶ handler ─▶ approval core / store ─▶ askama template | JSON
//! ```

mod access;
mod actions;
mod admin;
pub mod api;
pub mod approval_core;
mod audit_events;
mod case;
mod core_view;
mod error;
pub(crate) mod oidc;
pub mod openapi;
mod pages;
mod queue;
pub mod ratelimit;
mod rules;
pub mod session;
mod view;

use crate::clock::Clock;
use crate::config::Settings;
use crate::store::Store;
use approval_core::{Official, Role};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::MethodRouter;
use std::sync::Arc;

pub use crate::config::{OidcSettings, RolesFrom, WebSettings};
pub use error::{ApiError, WebError};
pub use session::Authed;

impl WebSettings {
    /// How many proxies' `X-Forwarded-For` entries to trust.
    pub fn proxies(&self) -> usize {
        match self.trusted_proxies {
            0 if self.trust_forwarded_for => 1,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        }
    }

    fn minutes(m: u64, default: i64) -> chrono::Duration {
        chrono::Duration::minutes(i64::try_from(m.max(1)).unwrap_or(default))
    }

    /// The login limiter's policy.
    pub fn login_policy(&self) -> ratelimit::Policy {
        ratelimit::Policy {
            window: Self::minutes(self.login_window_minutes, 15),
            backoff_after: self.login_backoff_after.max(1),
            account_backoff_after: self.login_account_backoff_after.max(1),
            account_lock_after: self
                .login_account_lock_after
                .max(self.login_account_backoff_after)
                .max(1),
            backoff_cap: Self::minutes(self.login_backoff_max_minutes, 15),
            per_ip: self.login_max_failures_per_ip.max(1),
        }
    }
}

/// What the web uses of the service: the settings, the store and the clock.
/// It holds no connector; robots are known by their settings.
#[derive(Clone)]
pub struct WebContext {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Sign-ins are counted here (`hrobot_logins_total`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct Web {
    pub ctx: Arc<WebContext>,
    pub settings: Arc<WebSettings>,
    pub limiter: Arc<ratelimit::LoginLimiter>,
    pub oidc: Arc<oidc::Oidc>,
    counts: Arc<view::CountsCache>,
}

impl Web {
    pub fn new(ctx: Arc<WebContext>) -> Web {
        let settings = Arc::new(ctx.settings.web.clone());
        Web {
            limiter: Arc::new(ratelimit::LoginLimiter::new(settings.login_policy())),
            oidc: Arc::new(oidc::Oidc::default()),
            counts: Arc::new(view::CountsCache::default()),
            settings,
            ctx,
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.ctx.clock.now()
    }
}

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (login, the style sheet, the API document).
    Public,
    /// Any signed-in official.
    SignedIn,
    /// Officials with at least one of these roles.
    Roles(&'static [Role]),
}

impl Access {
    pub fn allows(self, roles: &[Role]) -> bool {
        match self {
            Access::Public | Access::SignedIn => true,
            Access::Roles(need) => need.iter().any(|r| roles.contains(r)),
        }
    }
}

/// One route: method, path (axum syntax), access.
#[derive(Debug, Clone, Copy)]
pub struct RouteInfo {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

impl RouteInfo {
    pub fn is_api(&self) -> bool {
        self.path.starts_with("/api/")
    }
}

use Role::{Administrator as A, Handlaggare as H, Regelforfattare as R, Revisor as V};

/// Reading cases: officials, rule authors (read-only) and auditors.
const CASE_READERS: &[Role] = &[H, R, V];
const DECIDERS: &[Role] = &[H];
const ADMINS: &[Role] = &[A];
/// The rule pages: regelförfattare, the administratör who may decide an
/// activation, and the revisor, who reads them.
const RULE_READERS: &[Role] = &[R, A, V];
/// Shadow runs, activation requests and "pröva en ansökan".
const RULE_AUTHORS: &[Role] = rules::AUTHORS;
/// Deciding an activation request (a second person; `rulebook` checks who).
const RULE_DECIDERS: &[Role] = rules::DECIDERS;
const AUDITORS: &[Role] = &[V];

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $access:expr; )*) => {
        /// Every route of the web UI and the API, with the access it requires.
        pub const ROUTES: &[RouteInfo] = &[
            $( RouteInfo { method: stringify!($method), path: $path, access: $access } ),*
        ];

        fn routes(web: &Web) -> Router<Web> {
            let mut r = Router::new();
            $( r = r.route($path, guarded(web, $access, $path.starts_with("/api/"), axum::routing::$method($handler))); )*
            r
        }
    };
}

routes! {
    get "/" => pages::home, Access::SignedIn;
    get "/static/stil.css" => pages::stylesheet, Access::Public;
    get "/logga-in" => pages::login_page, Access::Public;
    post "/logga-in" => pages::login, Access::Public;
    post "/logga-ut" => pages::logout, Access::SignedIn;
    get "/logga-in/sso" => oidc::start, Access::Public;
    get "/logga-in/sso/klar" => oidc::callback, Access::Public;
    get "/arenden" => queue::queue, Access::Roles(CASE_READERS);
    get "/arenden/{id}" => case::case_page, Access::Roles(CASE_READERS);
    get "/arenden/{id}/beslutsbrev" => pages::letter, Access::Roles(CASE_READERS);
    get "/arenden/{id}/beslutsbrev.pdf" => pages::letter_pdf, Access::Roles(CASE_READERS);
    post "/arenden/{id}/godkann" => actions::approve, Access::Roles(DECIDERS);
    post "/arenden/{id}/andra" => actions::amend, Access::Roles(DECIDERS);
    post "/arenden/{id}/kommunicera" => actions::kommunicera, Access::Roles(DECIDERS);
    post "/arenden/{id}/svar" => actions::reply, Access::Roles(DECIDERS);
    get "/arenden/{id}/kommuniceringsbrev" => pages::kommunicering_letter, Access::Roles(CASE_READERS);
    post "/arenden/{id}/manuell" => actions::return_to_manual, Access::Roles(DECIDERS);
    post "/arenden/{id}/tilldela" => actions::assign, Access::Roles(DECIDERS);
    post "/arenden/{id}/kommentar" => actions::comment, Access::Roles(DECIDERS);
    post "/arenden/{id}/kor-om" => rules::replay, Access::Roles(CASE_READERS);
    get "/regler" => rules::overview, Access::Roles(RULE_READERS);
    get "/regler/versioner" => rules::versions, Access::Roles(RULE_READERS);
    get "/regler/versioner/{hash}" => rules::version, Access::Roles(RULE_READERS);
    get "/regler/versioner/{hash}/fil" => rules::file, Access::Roles(RULE_READERS);
    post "/regler/versioner/{hash}/skuggkorning" => rules::run_shadow, Access::Roles(RULE_AUTHORS);
    post "/regler/versioner/{hash}/aktivering" => rules::request_activation, Access::Roles(RULE_AUTHORS);
    get "/regler/skuggkorningar/{id}" => rules::shadow_report, Access::Roles(RULE_READERS);
    get "/regler/aktiveringar" => rules::activations, Access::Roles(RULE_READERS);
    post "/regler/aktiveringar/{id}" => rules::decide, Access::Roles(RULE_DECIDERS);
    get "/regler/prova" => rules::try_page, Access::Roles(RULE_AUTHORS);
    post "/regler/prova" => rules::try_post, Access::Roles(RULE_AUTHORS);
    get "/admin/anvandare" => admin::users, Access::Roles(ADMINS);
    post "/admin/anvandare" => admin::add_user, Access::Roles(ADMINS);
    post "/admin/anvandare/{id}/status" => admin::user_status, Access::Roles(ADMINS);
    post "/admin/anvandare/{id}/personnummer" => admin::user_identity, Access::Roles(ADMINS);
    post "/admin/anvandare/{id}/roll" => admin::user_role, Access::Roles(ADMINS);
    get "/admin/anvandare/{id}/sso" => admin::user_sso, Access::Roles(ADMINS);
    post "/admin/anvandare/{id}/sso" => admin::user_sso_change, Access::Roles(ADMINS);
    post "/admin/rollbegaran/{id}" => admin::role_request, Access::Roles(ADMINS);
    get "/admin/robotar" => admin::robots, Access::Roles(ADMINS);
    post "/admin/robotar/{name}/status" => admin::robot_status, Access::Roles(ADMINS);
    get "/admin/konfiguration" => admin::configuration, Access::Roles(ADMINS);
    get "/admin/utkorg" => admin::outbox, Access::Roles(ADMINS);
    get "/granskning" => admin::audit_status, Access::Roles(AUDITORS);
    post "/granskning/verifiera" => admin::audit_verify, Access::Roles(AUDITORS);
    get "/granskning/lasningar" => access::reads_page, Access::Roles(AUDITORS);
    get "/granskning/handelser" => audit_events::list, Access::Roles(AUDITORS);
    get "/granskning/handelser/{seq}" => audit_events::detail, Access::Roles(AUDITORS);
    get "/granskning/handelser/{seq}/bevis" => audit_events::proof, Access::Roles(AUDITORS);
    post "/api/v1/session" => api::create_session, Access::Public;
    delete "/api/v1/session" => api::delete_session, Access::SignedIn;
    get "/api/v1/cases" => api::list_cases, Access::Roles(CASE_READERS);
    get "/api/v1/cases/{id}" => api::get_case, Access::Roles(CASE_READERS);
    post "/api/v1/cases/{id}/approve" => api::approve, Access::Roles(DECIDERS);
    post "/api/v1/cases/{id}/amend" => api::amend, Access::Roles(DECIDERS);
    post "/api/v1/cases/{id}/kommunicering" => api::kommunicering, Access::Roles(DECIDERS);
    post "/api/v1/cases/{id}/kommunicering/reply" => api::kommunicering_reply, Access::Roles(DECIDERS);
    post "/api/v1/cases/{id}/return" => api::return_to_manual, Access::Roles(DECIDERS);
    post "/api/v1/cases/{id}/assign" => api::assign, Access::Roles(DECIDERS);
    get "/api/v1/openapi.json" => api::openapi, Access::Public;
}

fn guarded(web: &Web, access: Access, api: bool, m: MethodRouter<Web>) -> MethodRouter<Web> {
    m.route_layer(axum::middleware::from_fn_with_state(
        session::Guard {
            web: web.clone(),
            access,
            api,
        },
        session::guard,
    ))
}

/// The web UI and the API, ready to merge into the service's router.
pub fn router(ctx: WebContext) -> Router {
    let web = Web::new(Arc::new(ctx));
    routes(&web)
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(web)
}

/// Headers on every response of ours: no framing by others, no sniffing,
/// no inline script, nothing cached that holds personal data.
async fn security_headers(req: Request, next: Next) -> Response {
    let framable = req.uri().path().ends_with("/beslutsbrev");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = if framable {
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    } else {
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    };
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static(if framable { "SAMEORIGIN" } else { "DENY" }),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// An official as the approval core sees them.
pub fn official_of(authed: &Authed) -> &Official {
    &authed.official
}

/// The roles' names for officials.
pub fn role_label(r: Role) -> &'static str {
    match r {
        Role::Handlaggare => "Handläggare",
        Role::Regelforfattare => "Regelförfattare",
        Role::Administrator => "Administratör",
        Role::Revisor => "Revisor",
    }
}
