//! Single sign-on against the simulated OpenID Connect provider
//! (`tests::oidc`): the whole code + PKCE flow as a browser would follow it,
//! role mapping from a claim, and every way a login must be refused.

use crate::support::{Engine, clock_at};
use crate::web_support::{WebApp, client, location, set_cookie};
use robot_runtime::clock::Clock;
use std::collections::BTreeMap;
use tests::oidc::{Identity, OidcFault, OidcProvider};

pub(crate) async fn app_with_sso() -> (WebApp, OidcProvider) {
    app_with_sso_on(Engine::Sqlite).await
}

async fn app_with_sso_on(engine: Engine) -> (WebApp, OidcProvider) {
    let idp = OidcProvider::start("hrobot", "hemlig-klient", "groups").await.unwrap();
    let mut env = crate::web_support::web_env(engine).await;
    let secret = env.dir.path().join("oidc-secret");
    std::fs::write(&secret, "hemlig-klient\n").unwrap();
    let mut role_map = BTreeMap::new();
    role_map.insert("SOC-Handlaggare".to_string(), vec!["handlaggare".to_string()]);
    role_map.insert("SOC-Revision".to_string(), vec!["revisor".to_string()]);
    env.settings.web.oidc = Some(robot_runtime::web::OidcSettings {
        issuer_url: idp.issuer(),
        client_id: "hrobot".into(),
        client_secret_env: None,
        client_secret_file: Some(secret),
        // Filled in below, once the port is known.
        redirect_url: String::new(),
        scopes: vec!["openid".into(), "profile".into()],
        roles_claim: "groups".into(),
        roles_from: robot_runtime::web::RolesFrom::Auto,
        role_map,
        username_claim: "preferred_username".into(),
        personnummer_claim: Some("personnummer".into()),
        button_label: "Logga in med kommunens inloggning".into(),
        ca_file: None,
        post_logout_redirect_url: None,
    });
    let clock = clock_at("2021-03-10T09:00:00Z");
    idp.set_now(clock.now().timestamp());
    // The redirect URL names our port: start_with fills it in.
    let app = WebApp::start_with(env, clock).await;
    (app, idp)
}

/// Follows the flow like a browser: our start page → the provider → our callback.
pub(crate) async fn sso(app: &WebApp) -> reqwest::Response {
    let c = client();
    let r = c.get(app.url("/logga-in/sso")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to_idp = location(&r);
    let flow = set_cookie(&r, "hrobot-sso").expect("the flow cookie");
    assert!(
        to_idp.contains("code_challenge_method=S256") && to_idp.contains("nonce="),
        "{to_idp}"
    );
    let r = c.get(&to_idp).send().await.unwrap();
    assert!(r.status().is_redirection());
    let back = location(&r);
    assert!(back.starts_with(&app.url("/logga-in/sso/klar")), "{back}");
    c.get(&back)
        .header("cookie", format!("hrobot-sso={flow}"))
        .send()
        .await
        .unwrap()
}

pub(crate) fn identity(user: &str, groups: &[&str]) -> Identity {
    Identity {
        subject: format!("sub-{user}"),
        username: user.into(),
        name: format!("{user} Sso"),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        personnummer: (user == "sara").then(|| "199307242389".to_string()),
    }
}

#[tokio::test]
async fn single_sign_on_with_code_and_pkce_maps_roles_from_a_claim() {
    let (app, idp) = app_with_sso().await;
    let page = client()
        .get(app.url("/logga-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Logga in med kommunens inloggning"));

    idp.sign_in_as(identity("sara", &["SOC-Handlaggare", "Alla-anstallda"]));
    let r = sso(&app).await;
    assert_eq!(r.status(), 200);
    let cookie = set_cookie(&r, "hrobot").expect("a session");
    let r = client()
        .get(app.url("/arenden"))
        .header("cookie", format!("hrobot={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("sara Sso (Handläggare)"));
    let u = app.runtime.store.user_by_name("sara").await.unwrap().unwrap();
    assert_eq!(
        u.oidc_subject.as_deref(),
        Some(format!("{}|sub-sara", idp.issuer()).as_str())
    );
    assert!(u.password_hash.is_none(), "an SSO user has no password");
    assert!(
        u.personnummer_sealed.is_some(),
        "the identity provider's personnummer claim is kept (sealed) for jäv and four eyes"
    );
    let ev = crate::security::events(&app).await;
    assert!(
        ev.iter()
            .any(|e| e.kind == "role_granted" && e.actor == "idp" && e.payload["role"] == "handlaggare"),
        "roles from the identity provider are audited"
    );

    // Next time the roles follow the provider's groups.
    idp.sign_in_as(identity("sara", &["SOC-Revision"]));
    assert_eq!(sso(&app).await.status(), 200);
    let u = app.runtime.store.user_by_name("sara").await.unwrap().unwrap();
    assert_eq!(u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(), ["revisor"]);
    let ev = crate::security::events(&app).await;
    assert!(ev.iter().any(|e| e.kind == "role_removed" && e.actor == "idp"));
    assert_eq!(idp.tokens_issued(), 2);
    app.stop().await;
}

#[tokio::test]
async fn single_sign_on_refuses_bad_tokens_replays_and_strangers() {
    let (app, idp) = app_with_sso().await;
    for fault in [
        OidcFault::WrongNonce,
        OidcFault::Expired,
        OidcFault::WrongAudience,
        OidcFault::BadSignature,
    ] {
        idp.set_fault(Some(fault));
        idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
        let r = sso(&app).await;
        assert_eq!(r.status(), 403, "{fault:?}");
        assert!(set_cookie(&r, "hrobot").is_none(), "{fault:?}: no session");
    }
    idp.set_fault(None);

    // No mapped role: no entry.
    idp.sign_in_as(identity("olle", &["Alla-anstallda"]));
    assert_eq!(sso(&app).await.status(), 403);
    assert!(app.runtime.store.user_by_name("olle").await.unwrap().is_none());

    // A callback without the flow cookie, or used twice, is refused.
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    let c = client();
    let r = c.get(app.url("/logga-in/sso")).send().await.unwrap();
    let flow = set_cookie(&r, "hrobot-sso").unwrap();
    let r = c.get(location(&r)).send().await.unwrap();
    let back = location(&r);
    assert_eq!(c.get(&back).send().await.unwrap().status(), 403, "no cookie");
    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let r = c
        .get(&back)
        .header("cookie", format!("hrobot-sso={other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "another browser's flow");
    let ok = c
        .get(&back)
        .header("cookie", format!("hrobot-sso={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "this browser's flow");
    let again = c
        .get(&back)
        .header("cookie", format!("hrobot-sso={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403, "a state works once");

    // A local account with the same username is not taken over.
    app.add_user("lokal", &["handlaggare"], None).await;
    idp.sign_in_as(identity("lokal", &["SOC-Handlaggare"]));
    assert_eq!(sso(&app).await.status(), 403);

    // A flow older than ten minutes is refused.
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    let r = c.get(app.url("/logga-in/sso")).send().await.unwrap();
    let flow = set_cookie(&r, "hrobot-sso").unwrap();
    let r = c.get(location(&r)).send().await.unwrap();
    app.clock.advance(chrono::Duration::minutes(11));
    idp.set_now(app.clock.now().timestamp());
    let r = c
        .get(location(&r))
        .header("cookie", format!("hrobot-sso={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.stop().await;
}

/// The provider starts signing with a key its JWKS (as we hold it) does
/// not list: the keys are fetched again once, then at most once a minute
/// however many such tokens arrive; each is refused on a sign-in page.
#[tokio::test]
async fn an_unknown_key_id_fetches_the_keys_again_at_most_once_a_minute() {
    let (app, idp) = app_with_sso().await;
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    assert_eq!(sso(&app).await.status(), 200);
    assert_eq!(idp.jwks_served(), 1, "discovery fetched the keys once");

    idp.set_fault(Some(OidcFault::UnknownKey));
    for i in 0..5 {
        idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
        let r = sso(&app).await;
        assert_eq!(r.status(), 403);
        assert!(set_cookie(&r, "hrobot").is_none());
        let html = r.text().await.unwrap();
        assert!(
            html.contains("<title>Inloggningen misslyckades – Handläggarrobot</title>"),
            "{html}"
        );
        assert!(
            html.contains("en nyckel som Handläggarrobot inte känner till"),
            "{html}"
        );
        assert_eq!(idp.jwks_served(), 2, "token {i}: one refetch for the whole burst");
    }
    app.clock.advance(chrono::Duration::seconds(61));
    idp.set_now(app.clock.now().timestamp());
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    assert_eq!(sso(&app).await.status(), 403);
    assert_eq!(idp.jwks_served(), 3, "a minute later the keys are fetched again");

    idp.set_fault(None);
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    assert_eq!(sso(&app).await.status(), 200, "the known key still works");
    app.stop().await;
}

/// A provider that cannot be reached: a page of its own (503), not the
/// title of a changed case.
#[tokio::test]
async fn an_unreachable_provider_has_its_own_page_title() {
    let (app, idp) = app_with_sso().await;
    drop(idp);
    let mut env = app.stop().await.0;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    env.settings.web.oidc.as_mut().unwrap().issuer_url = format!("http://{closed}");
    let app = WebApp::start_with(env, clock_at("2021-03-10T09:00:00Z")).await;
    let r = client().get(app.url("/logga-in/sso")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<title>Kommunens inloggning går inte att nå – Handläggarrobot</title>"),
        "{html}"
    );
    assert!(!html.contains("Ärendet har ändrats"));
    app.stop().await;
}

/// An official whose username has an account not linked to their identity
/// (after the provider's issuer changed) is told the page and the command
/// that link it; an administratör links on that page, the command line
/// unlinks and links again; every change is audited.
#[tokio::test]
async fn accounts_are_linked_on_the_admin_page_and_with_the_command() {
    let (app, idp) = app_with_sso().await;
    app.add_user("lokal", &["revisor"], None).await;
    app.add_user("admin", &["administrator"], None).await;
    let lokal = app.runtime.store.user_by_name("lokal").await.unwrap().unwrap();

    idp.sign_in_as(identity("lokal", &["SOC-Revision"]));
    let r = sso(&app).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    let command = format!(
        "hrobot user link-sso lokal --issuer {} --subject sub-lokal",
        idp.issuer()
    );
    assert!(html.contains(&command), "{html}");
    assert!(
        html.contains("Administration → Användare → Kommunens inloggning för lokal"),
        "{html}"
    );

    // The page the advice names.
    let admin = app.login("admin").await;
    let users = admin.get("/admin/anvandare").await.text().await.unwrap();
    assert!(users.contains(&format!("/admin/anvandare/{}/sso", lokal.id)));
    let page = admin.get(&format!("/admin/anvandare/{}/sso", lokal.id)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<title>Kommunens inloggning för lokal – Handläggarrobot</title>"),
        "{html}"
    );
    assert!(html.contains("Kontot är inte kopplat"));
    let issuer = idp.issuer();
    let r = admin
        .post(
            &format!("/admin/anvandare/{}/sso", lokal.id),
            &[("atgard", "koppla"), ("issuer", &issuer), ("subject", "sub-lokal")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let html = admin
        .get(&format!("/admin/anvandare/{}/sso", lokal.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("sub-lokal") && html.contains(&issuer), "{html}");
    idp.sign_in_as(identity("lokal", &["SOC-Revision"]));
    assert_eq!(sso(&app).await.status(), 200, "linked: the sign-in is lokal's");

    // An identity is one account's only.
    app.add_user("annan", &["revisor"], None).await;
    let annan = app.runtime.store.user_by_name("annan").await.unwrap().unwrap();
    let r = admin
        .post(
            &format!("/admin/anvandare/{}/sso", annan.id),
            &[("atgard", "koppla"), ("issuer", &issuer), ("subject", "sub-lokal")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("redan kopplad till ett annat konto"));

    // The command line: unlink, and the sign-in is refused again; link again.
    let cfg = crate::web_oidc::config_file(&app.env, "");
    let cfg = cfg.to_str().unwrap();
    let o = crate::support::run_beside(&["user", "unlink-sso", "lokal", "--config", cfg]).await;
    assert_eq!(o.status.code(), Some(0), "{}", crate::support::stderr(&o));
    idp.sign_in_as(identity("lokal", &["SOC-Revision"]));
    assert_eq!(sso(&app).await.status(), 403);
    let o = crate::support::run_beside(&[
        "user",
        "link-sso",
        "lokal",
        "--issuer",
        &issuer,
        "--subject",
        "sub-lokal",
        "--config",
        cfg,
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", crate::support::stderr(&o));
    idp.sign_in_as(identity("lokal", &["SOC-Revision"]));
    assert_eq!(sso(&app).await.status(), 200);

    let changes: Vec<(String, String)> = crate::security::events(&app)
        .await
        .into_iter()
        .filter(|e| e.kind == "user_changed" && e.payload["user"] == "user:lokal")
        .map(|e| (e.actor.clone(), e.payload["change"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(changes[0], ("user:admin".to_string(), "sso_linked".to_string()));
    assert_eq!(changes[1].1, "sso_unlinked");
    assert!(changes[1].0.starts_with("cli:"), "{changes:?}");
    assert_eq!(changes[2].1, "sso_linked");
    app.stop().await;
}

/// A configuration file for `env` with `extra` appended (e.g. `[web.oidc]`).
pub(crate) fn config_file(env: &crate::support::TestEnv, extra: &str) -> std::path::PathBuf {
    let path = env.dir.path().join("hrobot-sso.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{data}\"\n[[robots]]\nname = \"r1\"\nschedule = \"0 8 * * 1-5\"\nruleset = \"{ruleset}\"\n\
             [robots.source]\nkind = \"file_inbox\"\npath = \"{inbox}\"\n{extra}",
            data = env.dir.path().display(),
            ruleset = crate::support::ruleset().display(),
            inbox = env.inbox().display(),
        ),
    )
    .unwrap();
    path
}

/// `hrobot config check` reads `[web.oidc]`: role names, the secret file,
/// the issuer's scheme, the claim path, and asks the provider, keeping the
/// whole cause of a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_validates_the_sso_section() {
    use crate::support::{run, stderr, stdout};
    let idp = OidcProvider::start("hrobot", "hemlig-klient", "groups").await.unwrap();
    let env = crate::support::TestEnv::new(Engine::Sqlite).await;
    let secret = env.dir.path().join("oidc-secret");
    std::fs::write(&secret, "hemlig-klient\n").unwrap();
    let section = |issuer: &str, secret: &std::path::Path, claim: &str, role: &str| {
        format!(
            "[web.oidc]\nissuer_url = \"{issuer}\"\nclient_id = \"hrobot\"\nclient_secret_file = \"{}\"\n\
             redirect_url = \"https://hrobot.example.se/logga-in/sso/klar\"\nroles_claim = \"{claim}\"\n\
             [web.oidc.role_map]\n\"SOC-Handlaggare\" = [\"{role}\"]\n",
            secret.display()
        )
    };

    let cfg = config_file(
        &env,
        &section(&idp.issuer(), &secret, "realm_access.roles", "handlaggare"),
    );
    let o = run(&["config", "check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("sso: {}", idp.issuer())), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 key(s)"), "{}", stdout(&o));

    let missing = env.dir.path().join("no-such-secret");
    let cfg = config_file(
        &env,
        &section(
            "http://idp.example.se/realms/x",
            &missing,
            "realm_access..roles",
            "handlaggre",
        ),
    );
    let o = run(&["config", "check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    for needle in [
        "unknown role \"handlaggre\"",
        "known roles: handlaggare, regelforfattare, administrator, revisor",
        "no-such-secret: cannot be read",
        "must be https",
        "roles_claim \"realm_access..roles\": an empty segment",
    ] {
        assert!(e.contains(needle), "{needle:?} missing in {e}");
    }

    // https on a port where nothing listens: a warning with the whole
    // cause chain, not a failure (the unit checks before every start, and
    // an outage at the provider must not keep the service down).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = config_file(
        &env,
        &section(&format!("https://{closed}"), &secret, "groups", "revisor"),
    );
    let o = run(&["config", "check", "--config", cfg.to_str().unwrap()]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(
        e.contains("warning: web.oidc: the identity provider does not answer now"),
        "{e}"
    );
    assert!(e.contains(&format!("OIDC discovery at https://{closed}")), "{e}");
    assert!(e.contains("request to the identity provider failed"), "{e}");
    assert!(e.to_lowercase().contains("connection refused"), "{e}");
}

/// A provider without an `end_session_endpoint` (the simulated one): "Logga
/// ut" ends our session and says the provider's may still be active. On
/// both engines, with a link made and removed on the way (migration 0011
/// and the linking SQL on PostgreSQL too).
#[tokio::test]
async fn logout_without_an_end_session_endpoint_says_the_provider_session_may_live_on() {
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let (app, idp) = app_with_sso_on(engine).await;
        idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
        let r = sso(&app).await;
        assert_eq!(r.status(), 200, "{engine:?}");
        let cookie = set_cookie(&r, "hrobot").unwrap();
        let page = client()
            .get(app.url("/arenden"))
            .header("cookie", format!("hrobot={cookie}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = crate::web_support::field(&page, "_csrf").unwrap();
        let r = client()
            .post(app.url("/logga-ut"))
            .header("cookie", format!("hrobot={cookie}"))
            .form(&[("_csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{engine:?}: a page, not a redirect to the provider");
        let html = r.text().await.unwrap();
        assert!(html.contains("Du är utloggad"), "{html}");
        assert!(html.contains("kan fortfarande vara aktiv"), "{html}");
        let r = client()
            .get(app.url("/arenden"))
            .header("cookie", format!("hrobot={cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{engine:?}: the session is gone");

        let sara = app.runtime.store.user_by_name("sara").await.unwrap().unwrap();
        let by = robot_runtime::accounts::By::Setup;
        robot_runtime::accounts::unlink_sso(&app.runtime.store, &by, sara.id)
            .await
            .unwrap();
        idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
        assert_eq!(sso(&app).await.status(), 403, "{engine:?}: unlinked");
        robot_runtime::accounts::link_sso(&app.runtime.store, &by, sara.id, &idp.issuer(), "sub-sara")
            .await
            .unwrap();
        assert_eq!(sso(&app).await.status(), 200, "{engine:?}: linked again");
        app.stop().await;
    }
}

/// `roles_from`: `auto` reads UserInfo when the ID token lacks the roles
/// (and only then); `userinfo` always, refusing an answer about another
/// subject; `id_token` never; `both` takes either.
#[tokio::test]
async fn roles_from_userinfo_when_configured_or_missing_and_its_subject_is_checked() {
    let (app, idp) = app_with_sso().await;
    idp.set_fault(Some(OidcFault::RolesOnlyInUserinfo));
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    assert_eq!(sso(&app).await.status(), 200, "auto: the roles from UserInfo");
    let u = app.runtime.store.user_by_name("sara").await.unwrap().unwrap();
    assert_eq!(u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(), ["handlaggare"]);
    idp.set_fault(Some(OidcFault::UserinfoOtherSubject));
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    assert_eq!(
        sso(&app).await.status(),
        200,
        "auto: the ID token has the roles, UserInfo is not asked"
    );

    let restart = |app: WebApp, from: robot_runtime::web::RolesFrom| async move {
        let (mut env, clock) = app.stop().await;
        env.settings.web.oidc.as_mut().unwrap().roles_from = from;
        WebApp::start_with(env, clock).await
    };
    let app = restart(app, robot_runtime::web::RolesFrom::Userinfo).await;
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    let r = sso(&app).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("gällde inte den som loggade in"), "{html}");
    assert!(
        html.contains("<title>Inloggningen misslyckades – Handläggarrobot</title>"),
        "{html}"
    );
    idp.set_fault(None);
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    assert_eq!(sso(&app).await.status(), 200, "userinfo: the same subject");

    let app = restart(app, robot_runtime::web::RolesFrom::IdToken).await;
    idp.set_fault(Some(OidcFault::RolesOnlyInUserinfo));
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    let r = sso(&app).await;
    assert_eq!(r.status(), 403, "id_token: UserInfo's roles are not read");
    assert!(r.text().await.unwrap().contains("ingen roll"));

    let app = restart(app, robot_runtime::web::RolesFrom::Both).await;
    idp.sign_in_as(identity("sara", &["SOC-Handlaggare"]));
    assert_eq!(sso(&app).await.status(), 200, "both: UserInfo's roles count");
    app.stop().await;
}

/// A link is one administratör's act, so the provider's word on the person
/// must agree with the account's: an account linked to another person's
/// identity (an insider linking their own to a colleague's account) is
/// refused at sign-in, and the account's own person gets in.
#[tokio::test]
async fn a_linked_account_refuses_a_sign_in_that_names_another_person() {
    let (app, idp) = app_with_sso().await;
    app.add_user("hanna", &["handlaggare"], Some("196507132758")).await;
    let hanna = app.runtime.store.user_by_name("hanna").await.unwrap().unwrap();
    let by = robot_runtime::accounts::By::Setup;
    robot_runtime::accounts::link_sso(&app.runtime.store, &by, hanna.id, &idp.issuer(), "sub-mallory")
        .await
        .unwrap();

    // Mallory's identity, with Mallory's personnummer, on Hanna's account.
    let mut mallory = identity("mallory", &["SOC-Handlaggare"]);
    mallory.subject = "sub-mallory".into();
    mallory.personnummer = Some("196604072634".into());
    idp.sign_in_as(mallory.clone());
    let r = sso(&app).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("anger en annan person än den som kontot tillhör"),
        "{html}"
    );
    assert!(
        !html.contains("196604072634") && !html.contains("196507132758"),
        "{html}"
    );
    let after = app.runtime.store.user_by_id(hanna.id).await.unwrap().unwrap();
    assert_eq!(after.roles, hanna.roles, "the refused sign-in changed no roles");

    // The account's own person gets in.
    mallory.personnummer = Some("196507132758".into());
    idp.sign_in_as(mallory);
    assert_eq!(sso(&app).await.status(), 200);
}
