//! Single sign-on against the simulated OpenID Connect provider
//! (`tests::oidc`): the whole code + PKCE flow as a browser would follow it,
//! role mapping from a claim, and every way a login must be refused.

use crate::support::{Engine, clock_at};
use crate::web_support::{WebApp, client, location, set_cookie};
use robot_runtime::clock::Clock;
use std::collections::BTreeMap;
use tests::oidc::{Identity, OidcFault, OidcProvider};

pub(crate) async fn app_with_sso() -> (WebApp, OidcProvider) {
    let idp = OidcProvider::start("hrobot", "hemlig-klient", "groups").await.unwrap();
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
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
        role_map,
        username_claim: "preferred_username".into(),
        personnummer_claim: Some("personnummer".into()),
        button_label: "Logga in med kommunens inloggning".into(),
        ca_file: None,
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
