//! `[web]`: the web UI's and API's settings, as plain data (the web reads them).

use serde::Deserialize;
use std::collections::BTreeMap;

/// `[web]` in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Cookies only over HTTPS (`Secure`, and the `__Host-` name prefix).
    /// Turn off only for plain-HTTP localhost (the demo does).
    pub secure_cookies: bool,
    /// A browser session ends after this long without a request.
    pub idle_timeout_minutes: u64,
    /// ... and after this long in any case.
    pub session_max_hours: u64,
    /// An API token ends after this long without a request ...
    pub api_token_idle_minutes: u64,
    /// ... and after this long in any case.
    pub api_token_max_hours: u64,
    /// A streak of failed logins is forgotten this long after its last
    /// failure; the per-address limit counts over this window.
    pub login_window_minutes: u64,
    /// After this many failures for one account from one address, each
    /// further try from there waits 1 s, 2 s, 4 s … (see ratelimit.rs).
    /// `login_max_failures_per_user`, its old name, is still read.
    #[serde(alias = "login_max_failures_per_user")]
    pub login_backoff_after: u32,
    /// After this many failures for one account from all addresses, the
    /// back-off applies to the account from every address that has failed
    /// for it (an address without failures still gets in) ...
    pub login_account_backoff_after: u32,
    /// ... and from this many, from every address.
    pub login_account_lock_after: u32,
    /// The longest back-off.
    pub login_backoff_max_minutes: u64,
    /// At most this many failed logins per client address in the window.
    pub login_max_failures_per_ip: u32,
    /// Proxies in front of the service that append to `X-Forwarded-For`.
    /// The client address is the entry this many places from the right
    /// (the one the outermost trusted proxy appended); 0 = the header is
    /// ignored and the peer's address is used.
    pub trusted_proxies: u32,
    /// Deprecated: `true` means `trusted_proxies = 1`.
    pub trust_forwarded_for: bool,
    /// Single sign-on (OpenID Connect), when the municipality has it.
    pub oidc: Option<OidcSettings>,
}

impl Default for WebSettings {
    fn default() -> WebSettings {
        WebSettings {
            secure_cookies: true,
            idle_timeout_minutes: 30,
            session_max_hours: 12,
            api_token_idle_minutes: 8 * 60,
            api_token_max_hours: 24,
            login_window_minutes: 15,
            login_backoff_after: 5,
            login_account_backoff_after: 20,
            login_account_lock_after: 100,
            login_backoff_max_minutes: 15,
            login_max_failures_per_ip: 30,
            trusted_proxies: 0,
            trust_forwarded_for: false,
            oidc: None,
        }
    }
}

/// `[web.oidc]`: authorization code flow with PKCE against the
/// municipality's identity provider.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer_url: String,
    pub client_id: String,
    /// The client secret, read from this environment variable ...
    pub client_secret_env: Option<String>,
    /// ... or from this file (e.g. a systemd credential). Never in the
    /// configuration itself, so the file can be shared.
    pub client_secret_file: Option<std::path::PathBuf>,
    /// Where the provider sends the browser back: `https://HOST/logga-in/sso/klar`.
    pub redirect_url: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that carries the user's groups or roles: a name, or a
    /// dotted path into nested objects (`realm_access.roles`). A claim
    /// whose own name has dots (`https://example.se/roles`) is found by
    /// that name first.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Where the roles claim is read: `auto` (the ID token, or UserInfo when
    /// the ID token lacks it), `id_token`, `userinfo` or `both` (the union).
    #[serde(default)]
    pub roles_from: RolesFrom,
    /// A claim value → the roles it gives, e.g. `"SOC-Handlaggare" = ["handlaggare"]`.
    pub role_map: BTreeMap<String, Vec<String>>,
    /// The claim used as username.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim that carries the official's personnummer (for example
    /// `personalIdentityNumber` from an e-legitimation). A deciding role
    /// works only for an official whose personnummer is known: from this
    /// claim, or set by an administratör.
    #[serde(default)]
    pub personnummer_claim: Option<String>,
    /// The label of the login button.
    #[serde(default = "default_sso_label")]
    pub button_label: String,
    /// Extra CA (PEM) for the provider's TLS certificate.
    pub ca_file: Option<std::path::PathBuf>,
    /// Where the provider sends the browser after "Logga ut" (RP-initiated
    /// logout; registered at the provider as a post-logout redirect URI).
    /// Default: the login page next to `redirect_url`.
    #[serde(default)]
    pub post_logout_redirect_url: Option<String>,
}

/// Where the roles claim of a single sign-on is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolesFrom {
    /// The ID token; UserInfo when the ID token lacks the claim (OIDC Core
    /// §5.4: claims asked for by scope come from UserInfo in the code flow).
    #[default]
    Auto,
    IdToken,
    Userinfo,
    /// Values from both, together.
    Both,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .field("roles_claim", &self.roles_claim)
            .field("roles_from", &self.roles_from)
            .finish_non_exhaustive()
    }
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into()]
}
fn default_roles_claim() -> String {
    "roles".into()
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_sso_label() -> String {
    "Logga in med kommunens inloggning".into()
}

impl OidcSettings {
    /// What `hrobot config check` finds wrong in `[web.oidc]`, without
    /// asking the provider: role names, the client secret, the issuer's
    /// scheme, the claim path, the URLs.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let known: Vec<&str> = crate::roles::Role::ALL.iter().map(|r| r.as_str()).collect();
        for (group, roles) in &self.role_map {
            for r in roles {
                if !known.contains(&r.as_str()) {
                    problems.push(format!(
                        "web.oidc.role_map.{group:?}: unknown role {r:?} (known roles: {})",
                        known.join(", ")
                    ));
                }
            }
        }
        match (&self.client_secret_file, &self.client_secret_env) {
            (Some(f), _) => match std::fs::read_to_string(f) {
                Ok(t) if t.trim().is_empty() => problems.push(format!(
                    "web.oidc.client_secret_file {}: the file is empty",
                    f.display()
                )),
                Ok(_) => {}
                Err(e) => problems.push(format!(
                    "web.oidc.client_secret_file {}: cannot be read: {e}",
                    f.display()
                )),
            },
            (None, Some(v)) if std::env::var(v).map(|t| t.trim().is_empty()).unwrap_or(true) => problems.push(format!(
                "web.oidc.client_secret_env: the environment variable {v} is not set"
            )),
            _ => {}
        }
        match openidconnect::url::Url::parse(&self.issuer_url) {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && is_loopback(&u) => {}
            Ok(u) => problems.push(format!(
                "web.oidc.issuer_url {}: must be https (plain http only on 127.0.0.1, ::1 or localhost), not {}://{}",
                self.issuer_url,
                u.scheme(),
                u.host_str().unwrap_or("")
            )),
            Err(e) => problems.push(format!("web.oidc.issuer_url {:?}: not a URL: {e}", self.issuer_url)),
        }
        if let Err(e) = claim_path(&self.roles_claim) {
            problems.push(format!("web.oidc.roles_claim {:?}: {e}", self.roles_claim));
        }
        for (key, value) in [
            ("redirect_url", Some(&self.redirect_url)),
            ("post_logout_redirect_url", self.post_logout_redirect_url.as_ref()),
        ] {
            if let Some(v) = value
                && let Err(e) = openidconnect::url::Url::parse(v)
            {
                problems.push(format!("web.oidc.{key} {v:?}: not a URL: {e}"));
            }
        }
        if let Some(ca) = &self.ca_file
            && let Err(e) = std::fs::read(ca)
        {
            problems.push(format!("web.oidc.ca_file {}: cannot be read: {e}", ca.display()));
        }
        problems
    }
}

fn is_loopback(u: &openidconnect::url::Url) -> bool {
    match u.host() {
        Some(openidconnect::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(openidconnect::url::Host::Ipv4(a)) => a == std::net::Ipv4Addr::LOCALHOST,
        Some(openidconnect::url::Host::Ipv6(a)) => a == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    }
}

/// A claim path's segments: a claim name, or names joined by dots, each
/// non-empty and without spaces or control characters.
pub fn claim_path(path: &str) -> Result<Vec<&str>, String> {
    if path.is_empty() {
        return Err("empty".into());
    }
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("an empty segment (two dots, or a dot at the start or end)".into());
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("spaces or control characters".into());
    }
    if segments.len() > 8 {
        return Err("more than 8 segments".into());
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc(issuer: &str, claim: &str) -> OidcSettings {
        OidcSettings {
            issuer_url: issuer.into(),
            client_id: "hrobot".into(),
            client_secret_env: None,
            client_secret_file: None,
            redirect_url: "https://hrobot.example.se/logga-in/sso/klar".into(),
            scopes: default_scopes(),
            roles_claim: claim.into(),
            roles_from: RolesFrom::Auto,
            role_map: BTreeMap::new(),
            username_claim: default_username_claim(),
            personnummer_claim: None,
            button_label: default_sso_label(),
            ca_file: None,
            post_logout_redirect_url: None,
        }
    }

    #[test]
    fn plain_http_issuers_only_on_loopback() {
        for ok in [
            "https://login.example.se/realms/k",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://localhost:4000",
            "http://LOCALHOST",
        ] {
            assert!(
                oidc(ok, "roles").check().is_empty(),
                "{ok}: {:?}",
                oidc(ok, "roles").check()
            );
        }
        for bad in [
            "http://login.example.se",
            "http://127.0.0.2",
            "http://localhost.example.se",
            "ftp://x",
        ] {
            let p = oidc(bad, "roles").check();
            assert!(p.len() == 1 && p[0].contains("must be https"), "{bad}: {p:?}");
        }
    }

    #[test]
    fn claim_paths() {
        assert_eq!(claim_path("realm_access.roles").unwrap(), ["realm_access", "roles"]);
        assert_eq!(claim_path("https://example.se/roles").unwrap().len(), 2);
        for bad in ["", ".roles", "roles.", "a..b", "my roles", "a.b.c.d.e.f.g.h.i"] {
            assert!(claim_path(bad).is_err(), "{bad:?}");
        }
    }
}
