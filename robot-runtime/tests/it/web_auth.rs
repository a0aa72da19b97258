//! Login, logout, cookies, CSRF, login rate limiting, idle timeout, and
//! sessions that survive a restart — through the real service on port 0.

use crate::support::Engine;
use crate::web_support::{PASSWORD, WebApp, client, field, location, set_cookie};

#[tokio::test]
async fn login_sets_a_strict_httponly_cookie_and_logout_ends_the_session() {
    let app = WebApp::start(Engine::Sqlite).await;
    // Anonymous: to the login page, remembering where we were going.
    let r = client().get(app.url("/arenden?status=alla")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/logga-in?nasta=/arenden%3Fstatus%3Dalla");
    let page = client().get(app.url("/logga-in")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"sv\">"));
    assert!(html.contains("<label for=\"anvandarnamn\">Användarnamn</label>"));

    assert_eq!(app.try_login("anna", "fel lösenord här").await.err(), Some(401));
    assert_eq!(app.try_login("ingen-sadan", PASSWORD).await.err(), Some(401));

    // The cookie's flags.
    let c = client();
    let page = c.get(app.url("/logga-in")).send().await.unwrap();
    let lc = set_cookie(&page, "hrobot-login").unwrap();
    let token = field(&page.text().await.unwrap(), "_login").unwrap();
    let r = c
        .post(app.url("/logga-in"))
        .header("cookie", format!("hrobot-login={lc}"))
        .form(&[
            ("_login", token.as_str()),
            ("anvandarnamn", "Anna"),
            ("losenord", PASSWORD),
            ("nasta", "/arenden/1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/arenden/1", "back to where the official was going");
    let sc: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = sc.iter().find(|c| c.starts_with("hrobot=")).unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Path=/"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "secure cookies are off in this test");
    // An open redirect is not followed.
    let b = app.login("anna").await;
    let r = b.get("/").await;
    assert_eq!(location(&r), "/arenden");

    // Logout: the cookie no longer works.
    let r = b.post("/logga-ut", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/logga-in");
    let r = b.get("/arenden").await;
    assert_eq!(r.status(), 303, "the session is gone");
    app.stop().await;
}

#[tokio::test]
async fn secure_cookies_use_the_host_prefix() {
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    env.settings.web.secure_cookies = true;
    let app = WebApp::start_with(env, crate::support::clock_at("2021-03-10T09:00:00Z")).await;
    let page = client().get(app.url("/logga-in")).send().await.unwrap();
    let sc = page.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(
        sc.starts_with("__Host-hrobot-login=") && sc.contains("; Secure"),
        "{sc}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_state_changing_form_needs_the_sessions_csrf_token() {
    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[]).await;
    let case = app.awaiting().await[0];
    let anna = app.login("anna").await;
    let bo = app.login("bo").await;
    assert!(!anna.csrf.is_empty() && anna.csrf != bo.csrf, "a token per session");
    let path = format!("/arenden/{case}/godkann");
    for (what, fields) in [
        ("no token", vec![]),
        (
            "a wrong token",
            vec![("_csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
        ),
        ("another session's token", vec![("_csrf", bo.csrf.as_str())]),
        ("an empty token", vec![("_csrf", "")]),
    ] {
        let r = anna.post_raw(&path, &fields).await;
        assert_eq!(r.status(), 403, "{what}");
        assert!(r.text().await.unwrap().contains("säkerhetskoden"), "{what}");
    }
    let r = client()
        .post(app.url(&path))
        .header("cookie", format!("hrobot={}", anna.cookie))
        .header("x-csrf-token", "fel")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a wrong header token");
    for p in ["/logga-ut", "/admin/anvandare", &format!("/arenden/{case}/kommentar")] {
        let r = anna.post_raw(p, &[("text", "x")]).await;
        assert!(r.status() == 403, "{p}: {}", r.status());
    }
    let state = app.runtime.store.case_detail(case).await.unwrap().summary.state;
    assert_eq!(state, domain::CaseState::AwaitingApproval, "nothing happened");
    // The login form has its own (double-submitted) token.
    let r = client()
        .post(app.url("/logga-in"))
        .form(&[("_login", "x"), ("anvandarnamn", "anna"), ("losenord", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "login without the login cookie");
    // With the token the form goes through to the approval core.
    let r = anna
        .post(&format!("/arenden/{case}/kommentar"), &[("text", "Ser rimligt ut.")])
        .await;
    assert_eq!(r.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn logins_are_rate_limited_per_user_and_per_address() {
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    env.settings.web.login_max_failures_per_user = 3;
    env.settings.web.login_max_failures_per_ip = 6;
    env.settings.web.login_window_minutes = 15;
    let clock = crate::support::clock_at("2021-03-10T09:00:00Z");
    let app = WebApp::start_with(env, clock.clone()).await;
    for (u, _) in crate::web_support::OFFICIALS {
        app.add_user(u, &["handlaggare"], None).await;
    }
    for _ in 0..3 {
        assert_eq!(app.try_login("anna", "fel lösenord igen").await.err(), Some(401));
    }
    // Now even the right password is refused, without being checked.
    assert_eq!(app.try_login("anna", PASSWORD).await.err(), Some(429));
    let r = client()
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"username": "anna", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_many_requests");
    // Another user from the same address still may (3 of 6 used) …
    app.login("bo").await;
    for _ in 0..3 {
        assert_eq!(app.try_login("rut", "fel lösenord igen").await.err(), Some(401));
    }
    // … until the address has used up its 6.
    assert_eq!(app.try_login("vera", PASSWORD).await.err(), Some(429));
    // The window slides: 15 minutes later everyone may try again.
    clock.advance(chrono::Duration::minutes(15));
    app.login("anna").await;
    app.login("vera").await;
    app.stop().await;
}

#[tokio::test]
async fn a_session_ends_after_the_idle_timeout_and_after_the_longest_session() {
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    env.settings.web.idle_timeout_minutes = 30;
    env.settings.web.session_max_hours = 2;
    let clock = crate::support::clock_at("2021-03-10T09:00:00Z");
    let app = WebApp::start_with(env, clock.clone()).await;
    app.add_user("anna", &["handlaggare"], None).await;
    let anna = app.login("anna").await;
    // Activity keeps it alive …
    for _ in 0..3 {
        clock.advance(chrono::Duration::minutes(29));
        assert_eq!(anna.get("/arenden").await.status(), 200);
    }
    // … idleness ends it.
    clock.advance(chrono::Duration::minutes(31));
    let r = anna.get("/arenden").await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/logga-in"));

    // And however active, a session ends after session_max_hours.
    let anna = app.login("anna").await;
    for minutes in [20, 20, 20, 20, 20, 19] {
        clock.advance(chrono::Duration::minutes(minutes));
        assert_eq!(anna.get("/arenden").await.status(), 200);
    }
    clock.advance(chrono::Duration::minutes(2));
    assert_eq!(anna.get("/arenden").await.status(), 303, "two hours after login");
    // API tokens have their own idle timeout.
    let token = app.token("anna").await;
    let get = |t: String| {
        let url = app.url("/api/v1/cases");
        async move { client().get(url).bearer_auth(t).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(token.clone()).await, 200);
    clock.advance(chrono::Duration::hours(8) + chrono::Duration::minutes(1));
    assert_eq!(get(token).await, 401);
    app.stop().await;
}

#[tokio::test]
async fn sessions_survive_a_restart_and_end_when_the_user_is_disabled() {
    let app = WebApp::start(Engine::Sqlite).await;
    let anna = app.login("anna").await;
    let token = app.token("anna").await;
    let (env, clock) = app.stop().await;
    let app = WebApp::start_with(env, clock).await;
    let anna = crate::web_support::Browser {
        base: app.base.clone(),
        ..anna
    };
    assert_eq!(anna.get("/arenden").await.status(), 200, "the browser session survived");
    let r = client()
        .get(app.url("/api/v1/cases"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the API token survived");
    app.runtime.store.set_disabled("anna", true).await.unwrap();
    assert_eq!(anna.get("/arenden").await.status(), 303);
    assert_eq!(app.try_login("anna", PASSWORD).await.err(), Some(401));
    app.stop().await;
}

#[tokio::test]
async fn sessions_live_in_postgresql_too() {
    let app = WebApp::start(Engine::Postgres).await;
    let anna = app.login("anna").await;
    let (env, clock) = app.stop().await;
    let app = WebApp::start_with(env, clock).await;
    let anna = crate::web_support::Browser {
        base: app.base.clone(),
        ..anna
    };
    assert_eq!(anna.get("/arenden").await.status(), 200);
    app.stop().await;
}
