//! Single sign-on with OpenID Connect: authorization code flow with PKCE
//! (S256), state and nonce, through the `openidconnect` crate.
//!
//! ```text
//! /logga-in/sso ─▶ discovery (cached) ─▶ flow row (hash of state, nonce, PKCE verifier) + a Lax cookie with the state
//!               ─▶ 303 to the provider ─▶ … ─▶ /logga-in/sso/klar?code&state
//!               ─▶ state = cookie, flow taken (once) ─▶ token request (code + verifier) ─▶ ID token verified
//!                  (signature by the provider's JWKS, issuer, audience, expiry by our clock, nonce)
//!               ─▶ (a key id the cached JWKS lacks: discovery and keys fetched again, at most once a minute)
//!               ─▶ UserInfo with the access token when the roles (or the username) are not in the ID token
//!                  (its `sub` must be the ID token's)
//!               ─▶ roles from a claim path through `role_map` ─▶ user found (or made) by issuer|subject ─▶ session
//!                  (+ the ID token, sealed with the session's token, for logging out)
//! /logga-ut (an SSO session) ─▶ session deleted ─▶ a page that refreshes to the provider's end_session_endpoint
//!                  (id_token_hint, post_logout_redirect_uri), or a page saying the provider's session may live on
//! ```
//!
//! The roles claim is read from the ID token's payload after the crate has
//! verified that same token (or from UserInfo, fetched over TLS with that
//! token's access token), so any claim name works without a custom claims
//! type.

use super::error::{Failure, WebError};
use super::pages::{ClientAddr, NextQuery, client_ip, see_other};
use super::session::{self, token_hash};
use super::{OidcSettings, Web};
use crate::config::RolesFrom;
use crate::store::sessions::{AuthMethod, SessionKind};
use crate::store::users::UserRecord;
use anyhow::Context as _;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit};
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreJwsSigningAlgorithm};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, JsonWebKey as _, LogoutRequest, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// How long a login may take at the provider.
const FLOW_TTL_MINUTES: i64 = 10;
/// How long discovery (and the keys) are kept before they are fetched again.
const DISCOVERY_TTL_MINUTES: i64 = 60;
/// An ID token naming a key id the cached keys lack makes us fetch the
/// provider's keys again, at most once in this many seconds: a flood of
/// such tokens costs the provider one request a minute.
pub const KEY_REFETCH_MIN_SECS: i64 = 60;

/// Discovery with the provider's `end_session_endpoint`.
type Meta = ProviderMetadataWithLogout;

#[derive(Default)]
pub struct Oidc {
    cache: Mutex<Option<(DateTime<Utc>, Meta)>>,
    /// When the keys were last fetched again for an unknown key id.
    key_refetch: Mutex<Option<DateTime<Utc>>>,
}

/// The transport's errors, each with its cause (the TLS or connection
/// failure), so a log line says why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("request to the identity provider failed")]
    Request(#[source] reqwest::Error),
    #[error("reading the identity provider's answer")]
    Body(#[source] reqwest::Error),
}

type Http = reqwest::Client;

async fn send(client: Http, req: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let resp = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(HttpError::Request)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(HttpError::Body)?;
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

    /// Discovery and the keys, from the cache while it is fresh.
    async fn metadata(&self, web: &Web, s: &OidcSettings, http: &Http) -> anyhow::Result<Meta> {
        let now = web.now();
        let mut cache = self.cache.lock().await;
        if let Some((at, m)) = cache.as_ref()
            && now - *at < Duration::minutes(DISCOVERY_TTL_MINUTES)
            && now >= *at
        {
            return Ok(m.clone());
        }
        let m = discover(s, http).await?;
        *cache = Some((now, m.clone()));
        Ok(m)
    }

    /// Discovery and the keys fetched again because an ID token names a
    /// key id `meta` lacks, unless that was done less than
    /// [`KEY_REFETCH_MIN_SECS`] ago (then the cached metadata, which the
    /// other login may just have renewed). Logins wait for each other here,
    /// so a burst of them fetches once.
    async fn refetch_keys(&self, web: &Web, s: &OidcSettings, http: &Http) -> anyhow::Result<(Meta, bool)> {
        let now = web.now();
        let mut last = self.key_refetch.lock().await;
        let recent = last.is_some_and(|at| now >= at && now - at < Duration::seconds(KEY_REFETCH_MIN_SECS));
        if !recent {
            *last = Some(now);
            let m = discover(s, http).await?;
            *self.cache.lock().await = Some((now, m.clone()));
            return Ok((m, true));
        }
        drop(last);
        Ok((self.metadata(web, s, http).await?, false))
    }
}

/// OIDC discovery at the issuer, then its JWKS; the error keeps its causes.
async fn discover(s: &OidcSettings, http: &Http) -> anyhow::Result<Meta> {
    let issuer = IssuerUrl::new(s.issuer_url.clone()).context("web.oidc.issuer_url")?;
    let client = http.clone();
    Meta::discover_async(issuer, &move |r| send(client.clone(), r))
        .await
        .with_context(|| format!("OIDC discovery at {}", s.issuer_url))
}

/// What `hrobot config check` says about the provider: discovery and its
/// keys fetched once, or the error with its whole cause chain.
pub async fn check_provider(s: &OidcSettings) -> Result<String, String> {
    let http = Oidc::default().http(s).map_err(|f| match f {
        Failure::Internal(e) => format!("{e:#}"),
        other => format!("{other:?}"),
    })?;
    let m = discover(s, &http).await.map_err(|e| format!("{e:#}"))?;
    Ok(format!(
        "{} key(s), UserInfo {}, logout at the provider {}",
        m.jwks().keys().len(),
        if m.userinfo_endpoint().is_some() { "yes" } else { "no" },
        if m.additional_metadata().end_session_endpoint.is_some() {
            "yes"
        } else {
            "no (its session outlives \"Logga ut\")"
        },
    ))
}

fn secret(s: &OidcSettings) -> Option<ClientSecret> {
    let from_env = s.client_secret_env.as_deref().and_then(|v| std::env::var(v).ok());
    let from_file = || {
        let f = s.client_secret_file.as_deref()?;
        match std::fs::read_to_string(f) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => {
                // Said, not swallowed: the provider will refuse the client.
                tracing::warn!(file = %f.display(), error = %e, "the OIDC client secret file cannot be read");
                None
            }
        }
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
    Failure::Unavailable {
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
    let meta = web.oidc.metadata(&web, &s, &http).await.map_err(|e| {
        tracing::warn!(error = format!("{e:#}"), "OIDC discovery failed");
        unavailable()
    })?;
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

/// Reads one part of a JWT (0 the header, 1 the payload) as a JSON object.
fn jwt_part(jwt: &str, n: usize) -> Option<serde_json::Map<String, Value>> {
    let p = jwt.split('.').nth(n)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The claim at `path`: a claim of that very name (which may hold dots,
/// `https://example.se/roles`), else the dotted path into nested objects
/// (`realm_access.roles`).
pub fn claim<'a>(claims: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut segments = path.split('.');
    let mut at = claims.get(segments.next()?)?;
    for seg in segments {
        at = at.as_object()?.get(seg)?;
    }
    Some(at)
}

/// A claim's values: one string, or the strings of an array.
fn values(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(v)) => vec![v.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The roles some claim values give, through the role map.
fn roles_of(s: &OidcSettings, values: &[&str]) -> Vec<super::approval_core::Role> {
    let mut out = Vec::new();
    for v in values {
        if let Some(names) = s.role_map.get(*v) {
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

/// UserInfo (OIDC Core §5.3) with the access token, as JSON.
async fn userinfo(http: &Http, meta: &Meta, access_token: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    let url = meta
        .userinfo_endpoint()
        .context("the provider's discovery names no userinfo_endpoint")?;
    let resp = http
        .get(url.url().as_str())
        .bearer_auth(access_token)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .context("UserInfo request")?;
    let status = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let body = resp.bytes().await.context("reading UserInfo")?;
    if !status.is_success() {
        anyhow::bail!("UserInfo answered {status}");
    }
    if !json {
        anyhow::bail!("UserInfo is not JSON (a signed or encrypted answer is not supported)");
    }
    serde_json::from_slice(&body).context("UserInfo is not a JSON object")
}

fn unknown_key() -> WebError {
    refused(
        "Inloggningstjänsten har signerat identiteten med en nyckel som Handläggarrobot inte känner till. \
         Försök igen om en minut. Om felet kvarstår: kontakta IT-avdelningen.",
    )
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
        return Err(refused(
            "Svaret från inloggningstjänsten saknar uppgifter. Försök igen.",
        ));
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
    let discovery_failed = |e: anyhow::Error| {
        tracing::warn!(error = format!("{e:#}"), "OIDC discovery failed");
        unavailable()
    };
    let mut meta = web.oidc.metadata(&web, &s, &http).await.map_err(discovery_failed)?;
    let redirect = RedirectUrl::new(s.redirect_url.clone())
        .map_err(|e| Failure::Internal(anyhow::anyhow!("web.oidc.redirect_url: {e}")))?;
    let client = CoreClient::from_provider_metadata(meta.clone(), ClientId::new(s.client_id.clone()), secret(&s))
        .set_redirect_uri(redirect.clone());
    let http2 = http.clone();
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Failure::Internal(anyhow::anyhow!("the provider has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier))
        .request_async(&move |r| send(http2.clone(), r))
        .await
        .map_err(|e| {
            tracing::warn!(
                error = format!("{:#}", anyhow::Error::new(e)),
                "OIDC token request failed"
            );
            refused("Inloggningstjänsten godtog inte inloggningen. Försök igen.")
        })?;
    let Some(id_token) = token.id_token() else {
        return Err(refused("Inloggningstjänsten skickade ingen identitet."));
    };
    let jwt = id_token.to_string();
    // A key id the cached keys lack: the provider rotated its key. Fetch
    // the keys again (bounded), then verify with what we have.
    let kid = jwt_part(&jwt, 0).and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_string));
    let knows = |m: &Meta, kid: &str| {
        m.jwks()
            .keys()
            .iter()
            .any(|k| k.key_id().is_some_and(|id| **id == *kid))
    };
    if let Some(kid) = kid.as_deref()
        && !knows(&meta, kid)
    {
        let (fresh, fetched) = web.oidc.refetch_keys(&web, &s, &http).await.map_err(discovery_failed)?;
        meta = fresh;
        if !knows(&meta, kid) {
            tracing::warn!(
                kid,
                issuer = %s.issuer_url,
                keys_fetched_again = fetched,
                "OIDC ID token signed with a key the provider does not publish; refused"
            );
            return Err(unknown_key());
        }
        tracing::info!(kid, issuer = %s.issuer_url, "the identity provider's keys were fetched again for a new key id");
    }
    let client = CoreClient::from_provider_metadata(meta.clone(), ClientId::new(s.client_id.clone()), secret(&s))
        .set_redirect_uri(redirect);
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
    let issuer = claims.issuer().as_str().to_string();
    let sub = claims.subject().as_str().to_string();
    let subject = format!("{issuer}|{sub}");
    let raw = jwt_part(&jwt, 1).unwrap_or_default();

    // UserInfo, when the roles are to be read there or the ID token lacks
    // them or the username (OIDC Core §5.4: claims asked for by scope come
    // from UserInfo in the code flow).
    let in_id_token = claim(&raw, &s.roles_claim).is_some();
    let ask = match s.roles_from {
        RolesFrom::IdToken => false,
        RolesFrom::Userinfo | RolesFrom::Both => true,
        RolesFrom::Auto => !in_id_token || claim(&raw, &s.username_claim).is_none(),
    };
    let info = if ask && (s.roles_from != RolesFrom::Auto || meta.userinfo_endpoint().is_some()) {
        let info = userinfo(&http, &meta, token.access_token().secret())
            .await
            .map_err(|e| {
                tracing::warn!(error = format!("{e:#}"), "OIDC UserInfo failed");
                refused("Kommunens inloggningstjänst lämnade inte ut dina uppgifter (UserInfo). Försök igen.")
            })?;
        // OIDC Core §5.3.2: the answer is about this very user, or ignored.
        if info.get("sub").and_then(Value::as_str) != Some(sub.as_str()) {
            tracing::warn!(issuer = %issuer, "OIDC UserInfo names another subject than the ID token; refused");
            return Err(refused(
                "Uppgifterna från inloggningstjänsten gällde inte den som loggade in. Försök igen.",
            ));
        }
        Some(info)
    } else {
        None
    };
    let empty = serde_json::Map::new();
    let ui = info.as_ref().unwrap_or(&empty);
    let role_values: Vec<&str> = match s.roles_from {
        RolesFrom::IdToken => values(claim(&raw, &s.roles_claim)),
        RolesFrom::Userinfo => values(claim(ui, &s.roles_claim)),
        RolesFrom::Both => {
            let mut v = values(claim(&raw, &s.roles_claim));
            v.extend(values(claim(ui, &s.roles_claim)));
            v
        }
        RolesFrom::Auto if in_id_token => values(claim(&raw, &s.roles_claim)),
        RolesFrom::Auto => values(claim(ui, &s.roles_claim)),
    };
    let roles = roles_of(&s, &role_values);
    if roles.is_empty() {
        tracing::info!(
            claim = %s.roles_claim,
            in_id_token,
            userinfo = info.is_some(),
            values = role_values.len(),
            "OIDC login without a mapped role refused (values = how many the claim held; 0: the claim is missing or empty)"
        );
        return Err(refused(
            "Ditt konto har ingen roll i Handläggarrobot. Kontakta din administratör.",
        ));
    }
    // Other claims: the ID token's, else UserInfo's.
    let pick = |name: &str| claim(&raw, name).or_else(|| claim(ui, name)).and_then(Value::as_str);
    let username = pick(&s.username_claim).map(str::to_lowercase).unwrap_or_default();
    let display = pick("name").map(str::to_string).unwrap_or_else(|| username.clone());
    let pnr = s.personnummer_claim.as_deref().and_then(pick).map(str::to_string);
    let user = find_or_create(
        &web,
        (&issuer, &sub),
        &subject,
        &username,
        &display,
        &roles,
        pnr.as_deref(),
    )
    .await?;
    let ip = client_ip(&web, &headers, peer);
    let token = web
        .start_session(&user, SessionKind::Browser, AuthMethod::Oidc, ip)
        .await?;
    // Kept for "Logga ut" (id_token_hint), readable only with the token
    // in this browser's cookie.
    match seal(&token, &jwt) {
        Ok(sealed) => {
            if let Err(e) = web.ctx.store.set_session_logout(&token_hash(&token), &sealed).await {
                tracing::warn!(error = %e, "the ID token for logging out was not kept");
            }
        }
        Err(e) => tracing::warn!(error = %e, "the ID token for logging out was not sealed"),
    }
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

// ------------------------------------------------------------- logging out

/// The key that seals a session's ID token: from the session's own token,
/// which only the browser holds (the database has its SHA-256).
fn logout_cipher(session_token: &str) -> Result<XChaCha20Poly1305, anyhow::Error> {
    let key = Sha256::new()
        .chain_update(b"hrobot/sso-logout/v1\0")
        .chain_update(session_token.as_bytes())
        .finalize();
    XChaCha20Poly1305::new_from_slice(&key).map_err(|_| anyhow::anyhow!("the logout key"))
}

fn seal(session_token: &str, id_token: &str) -> anyhow::Result<String> {
    let mut nonce = [0u8; 24];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
    let ct = logout_cipher(session_token)?
        .encrypt(&chacha20poly1305::XNonce::from(nonce), id_token.as_bytes())
        .map_err(|_| anyhow::anyhow!("sealing the ID token"))?;
    let mut out = nonce.to_vec();
    out.extend(ct);
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
}

fn open(session_token: &str, sealed: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < 24 {
        return None;
    }
    let (n, ct) = bytes.split_at(24);
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(n);
    let pt = logout_cipher(session_token)
        .ok()?
        .decrypt(&chacha20poly1305::XNonce::from(nonce), ct)
        .ok()?;
    String::from_utf8(pt).ok()
}

/// Where the provider sends the browser after logging out.
fn post_logout_url(s: &OidcSettings) -> Option<String> {
    if let Some(u) = &s.post_logout_redirect_url {
        return Some(u.clone());
    }
    let mut u = openidconnect::url::Url::parse(&s.redirect_url).ok()?;
    u.set_path("/logga-in");
    u.set_query(None);
    Some(u.to_string())
}

/// After a single sign-on session was deleted: on to the provider's
/// `end_session_endpoint` (RP-initiated logout, with `id_token_hint` and
/// `post_logout_redirect_uri`), or, without one, a page that says the
/// provider's own session may still be active.
pub async fn after_logout(web: &Web, headers: &HeaderMap, sealed_id_token: Option<String>) -> Response {
    let Some(s) = web.settings.oidc.clone() else {
        return see_other("/logga-in");
    };
    let endpoint = match web.oidc.http(&s) {
        Ok(http) => match web.oidc.metadata(web, &s, &http).await {
            Ok(m) => m.additional_metadata().end_session_endpoint.clone(),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "OIDC discovery failed at logout");
                None
            }
        },
        Err(_) => None,
    };
    let Some(endpoint) = endpoint else {
        return logged_out_page();
    };
    let mut req = LogoutRequest::from(endpoint).set_client_id(ClientId::new(s.client_id.clone()));
    if let Some(u) = post_logout_url(&s).and_then(|u| PostLogoutRedirectUrl::new(u).ok()) {
        req = req.set_post_logout_redirect_uri(u);
    }
    let token = session::cookie(headers, session::cookie_name(web)).unwrap_or_default();
    if let Some(id) = sealed_id_token.as_deref().and_then(|x| open(token, x))
        && let Ok(id) = id.parse::<CoreIdToken>()
    {
        req = req.set_id_token_hint(&id);
    }
    onward_to_provider(req.http_get_url().as_str())
}

/// A page that sends the browser on to the provider's logout. Not a
/// redirect: the page's CSP (`form-action 'self'`) stops a form's POST
/// from being redirected to another origin; a refresh is a navigation.
fn onward_to_provider(url: &str) -> Response {
    let url = url
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Html(format!(
        "<!DOCTYPE html><html lang=\"sv\"><head><meta charset=\"utf-8\"><title>Utloggad – Handläggarrobot</title>\
         <meta http-equiv=\"refresh\" content=\"0;url={url}\"><link rel=\"stylesheet\" href=\"/static/stil.css\"></head>\
         <body><main id=\"innehall\"><h1>Du är utloggad</h1><p>Du är utloggad från Handläggarrobot och skickas \
         vidare till kommunens inloggningstjänst för att logga ut där också.</p>\
         <p><a href=\"{url}\">Logga ut hos kommunens inloggningstjänst</a></p></main></body></html>"
    ))
    .into_response()
}

fn logged_out_page() -> Response {
    Html(
        "<!DOCTYPE html><html lang=\"sv\"><head><meta charset=\"utf-8\"><title>Utloggad – Handläggarrobot</title>\
         <link rel=\"stylesheet\" href=\"/static/stil.css\"></head><body><main id=\"innehall\"><h1>Du är utloggad</h1>\
         <p>Du är utloggad från Handläggarrobot.</p>\
         <p>Din inloggning hos kommunens inloggningstjänst kan fortfarande vara aktiv: den går inte att avsluta härifrån. \
         Nästa inloggning med kommunens inloggning i den här webbläsaren kan då ske utan lösenord. \
         Stäng webbläsaren om någon annan ska använda datorn.</p>\
         <p><a href=\"/logga-in\">Till inloggningen</a></p></main></body></html>",
    )
    .into_response()
}

async fn find_or_create(
    web: &Web,
    (issuer, sub): (&str, &str),
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
        // A link is one administratör's act: the provider's word on the
        // person must agree with the account's, or a link to someone else's
        // account would let one person decide as another (jäv, four eyes).
        if let (Some(theirs), Some(claimed)) = (crate::accounts::personnummer_of(store, &u), personnummer) {
            let claimed = domain::Personnummer::parse(claimed, web.now().date_naive());
            if claimed.as_ref().ok() != Some(&theirs) {
                tracing::warn!(
                    user_id = u.id,
                    "an SSO sign-in to a linked account named another person than the account's; refused"
                );
                return Err(refused(
                    "Kommunens inloggningstjänst anger en annan person än den som kontot tillhör. \
                     Kontakta din administratör.",
                ));
            }
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
    if store.user_by_name(&username).await?.is_some() {
        // Not taken over by a sign-in: an administratör links the accounts
        // (after the provider's issuer changed, every account lands here).
        tracing::info!("an SSO sign-in matched an existing account not linked to it; refused");
        return Err(refused(&link_advice(&username, issuer, sub)));
    }
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

/// What an official reads when their provider identity is not linked to
/// the account with their username: the page and the command that link it.
pub fn link_advice(username: &str, issuer: &str, subject: &str) -> String {
    format!(
        "Det finns redan ett konto med användarnamnet {username} i Handläggarrobot, men det är inte kopplat till \
         din identitet hos kommunens inloggningstjänst (till exempel för att tjänstens adress har ändrats). \
         En administratör kopplar ihop dem under Administration → Användare → Kommunens inloggning för {username}, \
         med utfärdaren {issuer} och identiteten {subject}, eller med kommandot \
         hrobot user link-sso {username} --issuer {issuer} --subject {subject}"
    )
}

#[cfg(test)]
mod tests {
    use super::claim;
    use serde_json::json;

    #[test]
    fn a_claim_by_its_own_name_or_by_a_dotted_path() {
        let c = json!({
            "realm_access": {"roles": ["SOC-Handlaggare"]},
            "https://example.se/roles": ["Revision"],
            "groups": "En",
        });
        let c = c.as_object().unwrap();
        assert_eq!(claim(c, "realm_access.roles"), Some(&json!(["SOC-Handlaggare"])));
        assert_eq!(claim(c, "https://example.se/roles"), Some(&json!(["Revision"])));
        assert_eq!(claim(c, "groups"), Some(&json!("En")));
        assert_eq!(claim(c, "realm_access.saknas"), None);
        assert_eq!(claim(c, "groups.x"), None);
    }
}
