//! A simulated OpenID Connect provider (the municipality's single sign-on):
//! discovery, JWKS, an authorization endpoint that signs in whoever the
//! test chose, and a token endpoint that checks the code, the redirect URI,
//! the client and the PKCE verifier (S256) and returns an RS256-signed ID
//! token. Fault switches make it misbehave in the ways a client must catch.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A 2048-bit RSA key for tests only (PKCS#8, base64).
const KEY: &str = concat!(
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCfvB6eK9MWDsNpoQwJkxk7786Ir9u4d8TA8H/p2rBiQvRIn4Vo",
    "B7hnClCCF6hF+/xmqmGR3b3bvej8Hy8ua+jjeSUqRp531IHs5LpefiY8TrZ3q+TAEgGbY4WdCnq+qn9L9LwHGWaD4rz+G1yM+ElQ",
    "/6OPaqiCdyAhYvCavc/Fx7JdQR5cZ1JJRygblvl0zNhQhqGoIA6tGl04E68WeHH9s9PayNMqcLQgS8YfN2UxVsOANk5PMfO9vWc/",
    "CjPs9ERwutWR6AvmzZgSZdO3UZRwq6r6fVxdDw54t3EiUUJAxvLhGR1g2k14hJ/Qme5W+rN7pBdJI/jlUoUPzfp94EIHAgMBAAEC",
    "ggEAIsh1Jl5GrfPzC4pdM6yLfyi+Ibehse6qspTsVcEgTZVk2neaNkgQGKf/VgTOyMaRdM2/R2Mw16voExa7UHGBGh+kPyt3kIJ+",
    "9FXuW2s+6jz9sNuGiWiiXvLyAntotSItbB3T3/vg/fEe1Hqi0bOzS2cPd8hy/03vejWwTRHuL5PvpSrAiL97YNzm7u2lPxi6h4O2",
    "+8Dhlr68zn+5kzPdS+kAneghQ6rqZw559j86OVNRd6ahXL/Xm4dtgjz3ZhS/t3oejQFLH2nbnV6A45JPR7stpCUAqIZ/h0hswpoX",
    "UrGtdUEV7VCpX2cbA7FG1BdvTLnl0l6hM2FXaH0N01uNyQKBgQDOpIBXCZXQdaxBUOJ9sPHeKVOYIYKePE/qdhaSfkXvT8bf6iyp",
    "XQChx37zCWbiS+6e9hyhUtdmhw/VI8fV74cT0Kw5NOVrU1h+OIfU+x67uMXAkykizRZt2KEJJBkGIQue0lVDVu0lT8qdYR+2RFG3",
    "ri9kOS+ofG1emFrKU5+MkwKBgQDF414j6bdwtQPTzEqJIkQadLme5CF11C6bWSonZRCUcUnGaeWHUcRGC8rZ2lzs3eGAD+bR5XXm",
    "wXw9PtvNK/lmlIH0ZzO9keESeWjshrhv4pn1G2t1bnotm5X3SP1qexenq442YP08P8BDNwUSSbDMOhHd1z4jfdsAOY3NnyIRPQKB",
    "gHNJ7CCjRGZtgJFgYzzk/8yHGhCCgbFuzNdu0uEgejwuMjKzH//N15BrETTfRftzico+XXLUGUEmkXrE37VIUgCIJ84y6NycP38M",
    "Yxw8jsUFLa9na0fzTFQ0zIOhFCULQsR1bQSI9v4eKljr2xmBvGXSVLaCAUjrQsnIDr9bMGTpAoGAA9jJqbUPZdd+/Y0JHeVWoZUH",
    "TrlslRfM2CRBl4Z1bg1Nu9evKJREVoBALz/5cnlVuuGUQRxO0G+OdLpWF4T1UjMs241uCg9d6rgFfCOaTkJ/b65axmuhYGWX4ri+",
    "hGVkLlQ9bX0xLwymNihJpvNbxnySgFeA07vMmBKGWSrwxJkCgYBxqigDmLFXl+bmCcGxhG+apOPqy0SW/AwRqno2aKY9e0+38LiR",
    "nqSI+iXB5ROZ2jsbv12Ki3fy7mM/NuToX0GwHk7X8h8rF8wejriF2QpCV2vB3B3RGZl9n+4qf2nD5Up4+sQiKE13OUfYpsBFVRHa",
    "7tGt7GbJ+DcDLk9ZHFQUjQ==",
);
/// Another one: tokens signed with it must be refused.
const OTHER_KEY: &str = concat!(
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCa2k1yrD5nTI+kMEROLXrk2Ka31PAkt7Xgcbfk6ljbotdUFC84",
    "EAyojCyWxG6irmWCzgfxu0O0dzb2IcTjgfLxxe4q3GJAjCrjll3y7lP5q7Q+LogVl3vOOi/s5hmm+ouW/F6TI7iXNGuL8795RnW9",
    "gFxR8dZ4VeyQCL1pZCN32mvlqEqeiHkeRY4xnaU/SdJbUkwIWA44ZO7LgLEUzk3asBEPENAST1aTTdFhrvACxJ52JTva/rYyDYi6",
    "Jg8JhmQeWNZT6iCz03GClJJHooxdLpWm3puooad1syFcr+17PGi5u9F/28H428MAtWrus55jsGtHHkoKpUTuVI70iaY5AgMBAAEC",
    "ggEATUKBxab+c5eVSzvxuHekiy008R9CuW8XRWY3c/UgZGT4vjBb5sLLLgTR8l8LPAt7Bio5eHgQLagVOfRbQY+CYPJ6A9R1CPNm",
    "KqrJMP2L1FPA2A1rRCqSULBjXPTo85CpuKktnogB/x7eUbNJYv6um9/BL/lTIjLslmhl6IFX2OHQpUIErSRkzj8wFaPGZ+ZPQahy",
    "O3X73Y/4BQhsyF/IC/SGSVn3kJnyTAA8fNHJR2/fSfTHvQLUp3P1pnZW/gTWT3CHrW30bZoaQrQzi1UYjzMjUJPLyYDY518yWOL3",
    "Tkx7q5GU6PKkvc9JnTGpC1BtFdwLn2+goqiJziP6+XrCKQKBgQDJywnud4oyxYcKCevtJeHQyfip9Cks6Rz6XSnhTMjZjc6DWTR8",
    "bDPFOfNFR6s943ZR1YHnzDHM8zKLtnGxNhYO0lxNOfVW7+HkLsglDeoYMq/FKza63s0kxAQ2uieseH8GxznFizBBR6B8QH4OJ+oZ",
    "+zrT2X5jR86RkA4oo/1VIwKBgQDEc0GBgRlpSpLHkuiiCf4lXP2X9tZmROacB/3zjfyWnCvF0MqMF9a96dR90Ba4VEDz4HIVvSMd",
    "Dp9iNjQAt82Pn1Ru77puIrhSTehH9kZJ8tD4Ygumn2wMwL7z93gTx3lk0/rZD8c4eNRfoNuqJydG4j3uBgS9w9jnpYHIj1sy8wKB",
    "gCX7wfLRLYJBDBono/EPoGHcoqHbA6UgfAPkZW2zNls9BhJTSD3jYBtPvSrdQq5zkmH0/m7TUMxzOqBxxxTESYKgth8TOcsTfEGn",
    "TKUs6VOEtvE2IScrqRGyk9h5Ud51D/QGrCky+fJPuTWqLhAcE0SwtXILDm9BpPBhXUjpFVZhAoGAM57plqMaz00WNrUGxhWEH8NI",
    "q9bjzanLQzLia05jEhxlcCyGHLvi5LJ98LVuUu9oxeyzbbzubiM6hG8jyRCDRnsij6gUv/4FmzL3l3lCTQouGSaCUz1PAibfxnG/",
    "rsravkDpiIIZ4l/1xk8ZiaOSMZEfnt0b/9VnuK8H5HCvETsCgYBdUfoQkObGGpouB6YasLzYLuRv2tSYWG4SrZXsNJY0j3FWDeeK",
    "V6t70UNRqUJC9JFDhKRQUn0+9BC2I70RLiEAA1FlPir/0342F/1wFdQlTCZgTUFsuDgSQ6iDpuG9s3KE0FtZU2ZtAjH6ypPHii95",
    "/IfVqBA2l3U6obBbmWKlSA==",
);

/// Who the provider signs in next, and with which claims.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: String,
    pub username: String,
    pub name: String,
    /// The value of the roles claim (e.g. group names).
    pub groups: Vec<String>,
    /// The `personnummer` claim, as an e-legitimation gives it.
    pub personnummer: Option<String>,
}

/// Ways the provider misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcFault {
    /// The ID token carries another nonce.
    WrongNonce,
    /// The ID token expired an hour ago.
    Expired,
    /// The ID token is for another client.
    WrongAudience,
    /// Signed with a key that is not in the JWKS.
    BadSignature,
    /// Signed with another key under a key id the JWKS does not list
    /// (a rotation the JWKS never shows).
    UnknownKey,
    /// The roles claim is left out of the ID token (it stays in UserInfo).
    RolesOnlyInUserinfo,
    /// UserInfo answers about another subject than the ID token's.
    UserinfoOtherSubject,
}

struct Pending {
    identity: Identity,
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
    client_id: String,
}

struct Inner {
    issuer: String,
    client_id: String,
    client_secret: String,
    roles_claim: String,
    next: Option<Identity>,
    codes: HashMap<String, Pending>,
    fault: Option<OidcFault>,
    now: Option<i64>,
    tokens_issued: u32,
    jwks_served: u32,
    /// UserInfo's answer per access token.
    userinfo: HashMap<String, Value>,
}

#[derive(Clone)]
pub struct OidcProvider {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn key(which: &str) -> anyhow::Result<RsaKeyPair> {
    let der = base64::engine::general_purpose::STANDARD.decode(which)?;
    RsaKeyPair::from_pkcs8(&der).map_err(|e| anyhow::anyhow!("test key: {e}"))
}

impl OidcProvider {
    /// Starts on 127.0.0.1, port 0, for one client.
    pub async fn start(client_id: &str, client_secret: &str, roles_claim: &str) -> anyhow::Result<OidcProvider> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            issuer: format!("http://{addr}"),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            roles_claim: roles_claim.into(),
            next: None,
            codes: HashMap::new(),
            fault: None,
            now: None,
            tokens_issued: 0,
            jwks_served: 0,
            userinfo: HashMap::new(),
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(OidcProvider {
            addr,
            inner,
            task: Arc::new(task),
        })
    }

    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next login at `/authorize` signs in this identity.
    pub fn sign_in_as(&self, identity: Identity) {
        if let Ok(mut g) = self.inner.lock() {
            g.next = Some(identity);
        }
    }

    pub fn set_fault(&self, fault: Option<OidcFault>) {
        if let Ok(mut g) = self.inner.lock() {
            g.fault = fault;
        }
    }

    /// The provider's clock (Unix seconds) for `iat` and `exp`.
    pub fn set_now(&self, unix: i64) {
        if let Ok(mut g) = self.inner.lock() {
            g.now = Some(unix);
        }
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_served(&self) -> u32 {
        self.inner.lock().map(|g| g.jwks_served).unwrap_or(0)
    }

    pub fn tokens_issued(&self) -> u32 {
        self.inner.lock().map(|g| g.tokens_issued).unwrap_or(0)
    }
}

type St = Arc<Mutex<Inner>>;

async fn discovery(State(s): State<St>) -> Json<Value> {
    let issuer = s.lock().map(|g| g.issuer.clone()).unwrap_or_default();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "preferred_username"]
    }))
}

async fn jwks(State(s): State<St>) -> Response {
    if let Ok(mut g) = s.lock() {
        g.jwks_served += 1;
    }
    let Ok(k) = key(KEY) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public());
    Json(
        json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "sim-1", "n": b64(&c.n), "e": b64(&c.e)}]}),
    )
    .into_response()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

async fn authorize(State(s): State<St>, Query(q): Query<AuthorizeQuery>) -> Response {
    let mut g = match s.lock() {
        Ok(g) => g,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if q.response_type != "code" || q.client_id != g.client_id {
        return (StatusCode::BAD_REQUEST, "unknown client or response type").into_response();
    }
    // PKCE is required.
    let (Some(challenge), Some("S256")) = (q.code_challenge, q.code_challenge_method.as_deref()) else {
        return (StatusCode::BAD_REQUEST, "PKCE S256 required").into_response();
    };
    let Some(identity) = g.next.clone() else {
        let sep = if q.redirect_uri.contains('?') { '&' } else { '?' };
        return Redirect::to(&format!("{}{sep}error=access_denied&state={}", q.redirect_uri, q.state)).into_response();
    };
    let mut c = [0u8; 16];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut c).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let code: String = c.iter().map(|b| format!("{b:02x}")).collect();
    g.codes.insert(
        code.clone(),
        Pending {
            identity,
            nonce: q.nonce,
            challenge,
            redirect_uri: q.redirect_uri.clone(),
            client_id: q.client_id,
        },
    );
    let sep = if q.redirect_uri.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{}{sep}code={code}&state={}", q.redirect_uri, q.state)).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(code: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": code}))).into_response()
}

#[allow(
    clippy::disallowed_methods,
    reason = "the simulated provider is another system with its own clock"
)]
fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn token(State(s): State<St>, headers: HeaderMap, Form(f): Form<TokenForm>) -> Response {
    let mut g = match s.lock() {
        Ok(g) => g,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    // Client authentication: HTTP Basic or in the form.
    let (id, secret) = match headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(pair) => {
            let (i, s) = pair.split_once(':').unwrap_or((pair.as_str(), ""));
            (urldecode(i), urldecode(s))
        }
        None => (
            f.client_id.clone().unwrap_or_default(),
            f.client_secret.clone().unwrap_or_default(),
        ),
    };
    if id != g.client_id || secret != g.client_secret {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    if f.grant_type != "authorization_code" {
        return oauth_error("unsupported_grant_type");
    }
    let Some(p) = g.codes.remove(&f.code) else {
        return oauth_error("invalid_grant");
    };
    if p.client_id != id || f.redirect_uri.as_deref() != Some(p.redirect_uri.as_str()) {
        return oauth_error("invalid_grant");
    }
    let Some(verifier) = f.code_verifier else {
        return oauth_error("invalid_grant");
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    if b64(digest.as_ref()) != p.challenge {
        return oauth_error("invalid_grant");
    }
    let now = g.now.unwrap_or_else(system_now);
    let (iat, exp) = if g.fault == Some(OidcFault::Expired) {
        (now - 7200, now - 3600)
    } else {
        (now, now + 300)
    };
    let mut claims = json!({
        "iss": g.issuer,
        "sub": p.identity.subject,
        "aud": if g.fault == Some(OidcFault::WrongAudience) { "another-client".to_string() } else { g.client_id.clone() },
        "iat": iat,
        "exp": exp,
        "preferred_username": p.identity.username,
        "name": p.identity.name,
    });
    let mut info = json!({
        "sub": if g.fault == Some(OidcFault::UserinfoOtherSubject) { "someone-else".to_string() } else { p.identity.subject.clone() },
        "preferred_username": p.identity.username,
        "name": p.identity.name,
    });
    info[g.roles_claim.as_str()] = json!(p.identity.groups);
    if g.fault != Some(OidcFault::RolesOnlyInUserinfo) {
        claims[g.roles_claim.as_str()] = json!(p.identity.groups);
    }
    if let Some(pnr) = &p.identity.personnummer {
        claims["personnummer"] = json!(pnr);
    }
    if let Some(n) = p.nonce {
        claims["nonce"] = json!(if g.fault == Some(OidcFault::WrongNonce) {
            "not-the-nonce".to_string()
        } else {
            n
        });
    }
    let signing = if matches!(g.fault, Some(OidcFault::BadSignature | OidcFault::UnknownKey)) {
        OTHER_KEY
    } else {
        KEY
    };
    let Ok(k) = key(signing) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let kid = if g.fault == Some(OidcFault::UnknownKey) {
        "sim-2"
    } else {
        "sim-1"
    };
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; k.public().modulus_len()];
    if k.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .is_err()
    {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    g.tokens_issued += 1;
    let access_token = format!("at-{}", g.tokens_issued);
    g.userinfo.insert(access_token.clone(), info);
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": format!("{input}.{}", b64(&sig)),
    }))
    .into_response()
}

/// UserInfo: the claims of the access token's sign-in, as JSON.
async fn userinfo(State(s): State<St>, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let info = s.lock().ok().and_then(|g| g.userinfo.get(&token).cloned());
    match info {
        Some(v) => Json(v).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

fn urldecode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
