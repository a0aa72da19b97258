//! Single sign-on with OpenID Connect: authorization code flow with PKCE
//! (S256), state and nonce, through the `openidconnect` crate.
//!
//! ```text
//! /logga-in/sso ─▶ discovery (cached) ─▶ flow row (hash of state, nonce, PKCE verifier) + a Lax cookie with the state
//!               ─▶ 303 to the provider ─▶ … ─▶ /logga-in/sso/klar?code&state
//!               ─▶ state = cookie, flow taken (once) ─▶ token request (code + verifier) ─▶ ID token verified
//!                  (signature by the provider's JWKS, issuer, audience, expiry by our clock, nonce)
//!               ─▶ roles from a claim through `role_map` ─▶ user found (or made) by issuer|subject ─▶ session
//! ```
//!
//! The roles claim is read from the ID token's payload after the crate has
//! verified that same token, so any claim name works without a custom
//! claims type.

use super::error::{Failure, WebError};
use super::pages::{ClientAddr, NextQuery, client_ip, see_other};
use super::session::{self, token_hash};
use super::{OidcSettings, Web};
use crate::store::sessions::{AuthMethod, SessionKind};
use crate::store::users::UserRecord;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

/// How long a login may take at the provider.
const FLOW_TTL_MINUTES: i64 = 10;
/// How long discovery (and the keys) are kept before they are fetched again.
const DISCOVERY_TTL_MINUTES: i64 = 60;

#[derive(Default)]
pub struct Oidc {
    cache: Mutex<Option<(DateTime<Utc>, CoreProviderMetadata)>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

type Http = reqwest::Client;

async fn send(client: Http, req: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let resp = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(format!("request to the identity provider failed: {e}")))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| HttpError(format!("reading the identity provider's answer: {e}")))?;
    let mut out = openidconnect::http::Response::new(bytes.to_vec());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

impl Oidc {
    fn http(&self, s: &OidcSettings) -> Result<Http, Failure> {
        connectors::http::install_crypto_provider();
        let mut b = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(30))
            // Following redirects would let a provider send us anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_rustls();
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| Failure::Internal(anyhow::anyhow!("reading the OIDC CA file: {}", e.kind())))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|_| Failure::Internal(anyhow::anyhow!("the OIDC CA file is not PEM")))?
            {
                b = b.tls_certs_merge([cert]);
            }
        }
        b.build()
            .map_err(|e| Failure::Internal(anyhow::anyhow!("building the OIDC HTTP client: {e}")))
    }

    async fn metadata(&self, web: &Web, s: &OidcSettings, http: &Http) -> Result<CoreProviderMetadata, Failure> {
        let now = web.now();
        let mut cache = self.cache.lock().await;
        if let Some((at, m)) = cache.as_ref()
            && now - *at < Duration::minutes(DISCOVERY_TTL_MINUTES)
            && now >= *at
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(s.issuer_url.clone())
            .map_err(|e| Failure::Internal(anyhow::anyhow!("web.oidc.issuer_url: {e}")))?;
        let client = http.clone();
        let m = CoreProviderMetadata::discover_async(issuer, &move |r| send(client.clone(), r))
            .await
            .map_err(|e| Failure::Internal(anyhow::anyhow!("OIDC discovery: {e}")))?;
        *cache = Some((now, m.clone()));
        Ok(m)
    }
}

fn secret(s: &OidcSettings) -> Option<ClientSecret> {
    let from_env = s.client_secret_env.as_deref().and_then(|v| std::env::var(v).ok());
    let from_file = || {
        s.client_secret_file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .map(|t| t.trim().to_string())
    };
    from_env
        .or_else(from_file)
        .filter(|t| !t.is_empty())
        .map(ClientSecret::new)
}

fn flow_cookie(web: &Web) -> &'static str {
    if web.settings.secure_cookies {
        "__Host-hrobot-sso"
    } else {
        "hrobot-sso"
    }
}

fn unavailable() -> Failure {
    Failure::Conflict {
        code: "sso_unavailable",
        message: "Kommunens inloggning går inte att nå just nu. Försök igen om en stund eller logga in med lösenord."
            .into(),
    }
}

/// `GET /logga-in/sso`: off to the identity provider.
pub async fn start(State(web): State<Web>, Query(_q): Query<NextQuery>) -> Result<Response, WebError> {
    let Some(s) = web.settings.oidc.clone() else {
        return Err(Failure::NotFound.into());
    };
    let http = web.oidc.http(&s)?;
    let meta = match web.oidc.metadata(&web, &s, &http).await {
        Ok(m) => m,
        Err(Failure::Internal(e)) => {
            tracing::warn!(error = format!("{e:#}"), "OIDC discovery failed");
            return Err(unavailable().into());
        }
        Err(f) => return Err(f.into()),
    };
    let redirect = RedirectUrl::new(s.redirect_url.clone())
        .map_err(|e| Failure::Internal(anyhow::anyhow!("web.oidc.redirect_url: {e}")))?;
    let client = CoreClient::from_provider_metadata(meta, ClientId::new(s.client_id.clone()), secret(&s))
        .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for sc in s.scopes.iter().filter(|sc| sc.as_str() != "openid") {
        req = req.add_scope(Scope::new(sc.clone()));
    }
    let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
    web.ctx
        .store
        .start_login_flow(&token_hash(state.secret()), nonce.secret(), verifier.secret())
        .await?;
    let mut r = see_other(url.as_str());
    // Binds the flow to this browser. Lax: the provider's redirect back is
    // a cross-site navigation, which would not carry a Strict cookie.
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            &web,
            flow_cookie(&web),
            state.secret(),
            "Lax",
            Some(FLOW_TTL_MINUTES * 60),
        ),
    );
    Ok(r)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn refused(message: &str) -> WebError {
    WebError(Failure::Forbidden {
        code: "sso_refused",
        message: message.into(),
    })
}

/// Reads the (already verified) ID token's payload.
fn payload(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let p = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The roles a claim value gives, through the role map.
pub fn mapped_roles(s: &OidcSettings, claims: &serde_json::Map<String, Value>) -> Vec<super::approval_core::Role> {
    let values: Vec<&str> = match claims.get(&s.roles_claim) {
        Some(Value::String(v)) => vec![v.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for v in values {
        if let Some(names) = s.role_map.get(v) {
            for n in names {
                if let Some(r) = crate::store::users::role_from_str(n)
                    && !out.contains(&r)
                {
                    out.push(r);
                }
            }
        }
    }
    out.sort_by_key(|r| r.as_str());
    out
}

/// `GET /logga-in/sso/klar`: back from the identity provider.
pub async fn callback(
    State(web): State<Web>,
    ClientAddr(peer): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, WebError> {
    let Some(s) = web.settings.oidc.clone() else {
        return Err(Failure::NotFound.into());
    };
    if q.error.is_some() {
        return Err(refused("Inloggningen avbröts hos kommunens inloggningstjänst."));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(Failure::BadRequest("Svaret från inloggningstjänsten saknar uppgifter.".into()).into());
    };
    let cookie = session::cookie(&headers, flow_cookie(&web)).unwrap_or_default();
    if cookie.is_empty() || !session::same(cookie, &state) {
        return Err(refused(
            "Inloggningen startades inte i den här webbläsaren. Försök igen.",
        ));
    }
    let Some(flow) = web.ctx.store.take_login_flow(&token_hash(&state)).await? else {
        return Err(refused("Inloggningen har redan använts eller gått ut. Försök igen."));
    };
    let now = web.now();
    if now - flow.created > Duration::minutes(FLOW_TTL_MINUTES) {
        return Err(refused("Inloggningen tog för lång tid. Försök igen."));
    }
    let http = web.oidc.http(&s)?;
    let meta = web.oidc.metadata(&web, &s, &http).await.map_err(|_| unavailable())?;
    let redirect = RedirectUrl::new(s.redirect_url.clone())
        .map_err(|e| Failure::Internal(anyhow::anyhow!("web.oidc.redirect_url: {e}")))?;
    let client = CoreClient::from_provider_metadata(meta, ClientId::new(s.client_id.clone()), secret(&s))
        .set_redirect_uri(redirect);
    let http2 = http.clone();
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Failure::Internal(anyhow::anyhow!("the provider has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier))
        .request_async(&move |r| send(http2.clone(), r))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "OIDC token request failed");
            refused("Inloggningstjänsten godtog inte inloggningen. Försök igen.")
        })?;
    let Some(id_token) = token.id_token() else {
        return Err(refused("Inloggningstjänsten skickade ingen identitet."));
    };
    let clock = web.ctx.clock.clone();
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ])
        .set_time_fn(move || clock.now());
    let claims = id_token.claims(&verifier, &Nonce::new(flow.nonce)).map_err(|e| {
        tracing::warn!(error = %e, "OIDC ID token refused");
        refused("Identiteten från inloggningstjänsten kunde inte kontrolleras.")
    })?;
    let subject = format!("{}|{}", claims.issuer().as_str(), claims.subject().as_str());
    let raw = payload(&id_token.to_string()).unwrap_or_default();
    let roles = mapped_roles(&s, &raw);
    if roles.is_empty() {
        tracing::info!("OIDC login without a mapped role refused");
        return Err(refused(
            "Ditt konto har ingen roll i Handläggarrobot. Kontakta din administratör.",
        ));
    }
    let username = raw
        .get(&s.username_claim)
        .and_then(Value::as_str)
        .map(str::to_lowercase)
        .unwrap_or_default();
    let display = raw
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| username.clone());
    let pnr = s
        .personnummer_claim
        .as_ref()
        .and_then(|c| raw.get(c))
        .and_then(Value::as_str)
        .map(str::to_string);
    let user = find_or_create(&web, &subject, &username, &display, &roles, pnr.as_deref()).await?;
    let ip = client_ip(&web, &headers, peer);
    let token = web
        .start_session(&user, SessionKind::Browser, AuthMethod::Oidc, ip)
        .await?;
    // A page, not a redirect: a Strict cookie set while answering a
    // cross-site navigation is not sent on a redirect in the same chain.
    let html = "<!DOCTYPE html><html lang=\"sv\"><head><meta charset=\"utf-8\"><title>Inloggad – Handläggarrobot</title>\
                <meta http-equiv=\"refresh\" content=\"0;url=/\"><link rel=\"stylesheet\" href=\"/static/stil.css\"></head>\
                <body><main id=\"innehall\"><h1>Du är inloggad</h1><p><a href=\"/\">Fortsätt till Handläggarrobot</a></p></main></body></html>";
    let mut r = Html(html).into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(&web, session::cookie_name(&web), &token, "Strict", None),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(&web, flow_cookie(&web), "", "Lax", Some(0)),
    );
    Ok(r)
}

async fn find_or_create(
    web: &Web,
    subject: &str,
    username: &str,
    display: &str,
    roles: &[super::approval_core::Role],
    personnummer: Option<&str>,
) -> Result<UserRecord, WebError> {
    let store = &web.ctx.store;
    let by = crate::accounts::By::Idp;
    if let Some(u) = store.user_by_oidc(subject).await? {
        if u.disabled {
            return Err(refused("Ditt konto är inaktiverat."));
        }
        crate::accounts::sync_idp_roles(&web.ctx.store, &u, roles)
            .await
            .map_err(|m| WebError(Failure::Internal(anyhow::anyhow!(m))))?;
        if u.personnummer_sealed.is_none()
            && let Some(p) = personnummer
            && let Err(m) = crate::accounts::set_personnummer(&web.ctx.store, &by, u.id, p).await
        {
            tracing::warn!(
                user_id = u.id,
                "the identity provider's personnummer was not taken: {m}"
            );
        }
        return Ok(store.user_by_id(u.id).await?.ok_or(Failure::NotFound)?);
    }
    let username = crate::accounts::check_username(username)
        .map_err(|_| refused("Inloggningstjänsten skickade inget giltigt användarnamn."))?;
    let display: String = display.chars().take(100).collect();
    let added = crate::accounts::add(
        &web.ctx.store,
        &by,
        &crate::accounts::NewAccount {
            username: &username,
            display_name: &display,
            password: None,
            personnummer,
            roles: roles.to_vec(),
            oidc_subject: Some(subject.to_string()),
        },
    )
    .await
    .map_err(|m| {
        tracing::info!("an account from the identity provider was not made: {m}");
        refused(&format!(
            "Ditt konto kunde inte skapas: {m} Kontakta din administratör."
        ))
    })?;
    Ok(store.user_by_id(added.id).await?.ok_or(Failure::NotFound)?)
}
