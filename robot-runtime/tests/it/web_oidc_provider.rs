//! Single sign-on against a real OpenID Connect provider: panva's
//! `oidc-provider` from npm (`tests/oidc-provider/`, installed with `npm
//! ci` from its committed lock file), signed in through the provider's own
//! login and consent pages in headless Chromium. The provider is left at
//! its defaults where they matter: the roles (at the path
//! `realm_access.roles`) and the username come from UserInfo only.
//!
//! One test, bounded in time, walks what the real provider showed was
//! missing: roles from UserInfo, RP-initiated logout through the provider's
//! `end_session_endpoint` (after which the provider asks for credentials
//! again), and a key rotation at the provider (a restart with a new key
//! and key id) after which the next login works without restarting hrobot.

use crate::support::Engine;
use crate::web_browser::chrome;
use crate::web_support::WebApp;
use fantoccini::{Client, Locator};
use robot_runtime::clock::{Clock, ManualClock, SystemClock};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const SECRET: &str = "hemlig-klient-for-oidc-provider";

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// `npm ci` once, into the folder's own `node_modules` (kept between runs).
fn npm_ci() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = provider_dir();
        if dir.join("node_modules/oidc-provider/package.json").exists() {
            return;
        }
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm (apt install npm)");
        assert!(ok.success(), "npm ci in {} failed", dir.display());
    });
}

/// The provider's Node process; ends on drop.
struct Provider {
    child: tokio::process::Child,
    kid: String,
}

impl Provider {
    /// Starts `provider.mjs` on `port` (a fresh signing key each time).
    async fn start(port: u16, app: &WebApp) -> Provider {
        npm_ci();
        let mut child = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .current_dir(provider_dir())
            .env("PORT", port.to_string())
            .env("REDIRECT_URI", app.url("/logga-in/sso/klar"))
            .env("POST_LOGOUT_REDIRECT_URI", app.url("/logga-in"))
            .env("CLIENT_SECRET", SECRET)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node (apt install nodejs)");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
            .await
            .expect("the provider starts within 30 s")
            .unwrap();
        // Keep reading: the provider writes notices later, and a closed
        // pipe would end it.
        tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut stdout, &mut sink).await;
        });
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.first(), Some(&"listening"), "{line}");
        Provider {
            child,
            kid: parts.get(2).unwrap_or(&"").to_string(),
        }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn app_for(port: u16) -> WebApp {
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    let secret = env.dir.path().join("oidc-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let mut role_map = BTreeMap::new();
    role_map.insert("SOC-Handlaggare".to_string(), vec!["handlaggare".to_string()]);
    role_map.insert("SOC-Revision".to_string(), vec!["revisor".to_string()]);
    env.settings.web.oidc = Some(robot_runtime::web::OidcSettings {
        // localhost for the provider, 127.0.0.1 for hrobot: the way back
        // is a cross-site navigation, as with a real provider.
        issuer_url: format!("http://localhost:{port}"),
        client_id: "hrobot".into(),
        client_secret_env: None,
        client_secret_file: Some(secret),
        redirect_url: String::new(),
        scopes: vec!["openid".into(), "profile".into(), "roles".into()],
        roles_claim: "realm_access.roles".into(),
        roles_from: robot_runtime::web::RolesFrom::Auto,
        role_map,
        username_claim: "preferred_username".into(),
        personnummer_claim: Some("personnummer".into()),
        button_label: "Logga in med kommunens inloggning".into(),
        ca_file: None,
        post_logout_redirect_url: None,
    });
    // The provider's tokens carry the real time.
    let clock = ManualClock::new(SystemClock.now());
    WebApp::start_with(env, clock).await
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c.wait().for_element(Locator::Css(css)).await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// "Logga in med kommunens inloggning", then the provider's own login page
/// (unless the provider's session still stands) and consent page; returns
/// where the browser ends up: our page after signing in, or our refusal.
async fn sign_in(c: &Client, app: &WebApp, provider: &str, user: &str) -> String {
    c.goto(&app.url("/logga-in")).await.unwrap();
    click(c, "a[href^='/logga-in/sso']").await;
    for _ in 0..300 {
        let url = c.current_url().await.unwrap().to_string();
        if url.starts_with(&app.base) && !url.contains("/logga-in/sso") {
            return url;
        }
        if url.starts_with(&app.url("/logga-in/sso/klar")) {
            let html = c.source().await.unwrap_or_default();
            if html.contains("</main>") && !html.contains("Du är inloggad") {
                return url;
            }
        } else if url.starts_with(provider) {
            if let Ok(e) = c.find(Locator::Css("input[name=login]")).await {
                e.send_keys(user).await.unwrap();
                fill(c, "input[name=password]", "vilket-som-helst").await;
                click(c, "button[type=submit]").await;
            } else if let Ok(b) = c.find(Locator::Css("input[name=prompt][value=consent] ~ button")).await {
                let _ = b.click().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "signing in did not finish: {}\n{}",
        c.current_url().await.unwrap(),
        c.source().await.unwrap_or_default()
    );
}

/// Waits up to 20 s (two cores shared with other tests) for the URL.
async fn wait_for(c: &Client, pred: impl Fn(&str) -> bool) {
    for _ in 0..200 {
        let url = c.current_url().await.unwrap().to_string();
        if pred(&url) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page did not change: {}", c.current_url().await.unwrap());
}

async fn page(c: &Client) -> String {
    c.source().await.unwrap()
}

#[tokio::test]
async fn a_real_provider_roles_from_userinfo_logout_and_key_rotation() {
    tokio::time::timeout(Duration::from_secs(240), scenario())
        .await
        .expect("the sign-in scenario finishes within 4 minutes");
}

async fn scenario() {
    let port = free_port();
    let provider = format!("http://localhost:{port}");
    let app = app_for(port).await;
    let op = Provider::start(port, &app).await;
    let browser = chrome().await;
    let c = &browser.client;

    // 1. Roles only in UserInfo (the provider's default), at a nested
    //    path: anna is let in as handläggare, her username and
    //    personnummer from UserInfo too.
    let at = sign_in(c, &app, &provider, "anna").await;
    assert!(!at.contains("/logga-in"), "{at}");
    assert!(page(c).await.contains("Anna Handläggare (Handläggare)"));
    let u = app.runtime.store.user_by_name("anna").await.unwrap().unwrap();
    assert_eq!(u.oidc_subject.as_deref(), Some(format!("{provider}|anna").as_str()));
    assert_eq!(u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(), ["handlaggare"]);
    assert!(u.personnummer_sealed.is_some());

    // 2. "Logga ut" ends our session and goes to the provider's
    //    end_session_endpoint with id_token_hint; after the provider's
    //    own confirmation the browser is back at our login page ...
    click(c, "form[action='/logga-ut'] button").await;
    wait_for(c, |u| u.starts_with(&format!("{provider}/session/end"))).await;
    let url = c.current_url().await.unwrap().to_string();
    assert!(url.contains("id_token_hint="), "{url}");
    assert!(url.contains("post_logout_redirect_uri="), "{url}");
    click(c, "button[name=logout][value=yes]").await;
    wait_for(c, |u| u.starts_with(&app.url("/logga-in"))).await;
    c.goto(&app.url("/arenden")).await.unwrap();
    assert!(
        c.current_url().await.unwrap().as_str().contains("/logga-in"),
        "our session is gone"
    );
    // ... and signing in with SSO again asks for credentials at the provider.
    click(c, "a[href^='/logga-in/sso']").await;
    wait_for(c, |u| u.starts_with(&provider)).await;
    c.wait()
        .for_element(Locator::Css("input[name=password]"))
        .await
        .unwrap();

    // 3. The provider rotates its key (a restart with a new key id): the
    //    next login works, hrobot still running on its cached discovery.
    let old_kid = op.kid.clone();
    op.stop().await;
    let op = Provider::start(port, &app).await;
    assert_ne!(op.kid, old_kid, "a new key id after the restart");
    let at = sign_in(c, &app, &provider, "anna").await;
    assert!(!at.contains("/logga-in"), "{at}");
    assert!(page(c).await.contains("Anna Handläggare (Handläggare)"));

    // 4. Another rotation within the minute: the keys are not fetched
    //    again yet (bounded), so the login is refused on a page that says so.
    op.stop().await;
    let op = Provider::start(port, &app).await;
    // A browser without anna's session at hrobot.
    c.goto(&app.url("/logga-in")).await.unwrap();
    c.delete_all_cookies().await.unwrap();
    let at = sign_in(c, &app, &provider, "nora").await;
    assert!(at.contains("/logga-in/sso/klar"), "{at}");
    let html = page(c).await;
    assert!(
        html.contains("<title>Inloggningen misslyckades – Handläggarrobot</title>"),
        "{html}"
    );
    assert!(
        html.contains("en nyckel som Handläggarrobot inte känner till"),
        "{html}"
    );

    // 5. A minute later the keys are fetched again; nora, who has no role
    //    at the provider, is then refused for that, on a sign-in page.
    app.clock.advance(chrono::Duration::seconds(61));
    let at = sign_in(c, &app, &provider, "nora").await;
    assert!(at.contains("/logga-in/sso/klar"), "{at}");
    let html = page(c).await;
    assert!(
        html.contains("<title>Inloggningen misslyckades – Handläggarrobot</title>"),
        "{html}"
    );
    assert!(html.contains("Ditt konto har ingen roll i Handläggarrobot"), "{html}");
    assert!(app.runtime.store.user_by_name("nora").await.unwrap().is_none());

    op.stop().await;
    drop(browser);
    app.stop().await;
}
