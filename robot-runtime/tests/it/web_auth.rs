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
    env.settings.web.login_backoff_after = 3;
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
    // Now even the right password is refused from this address, without
    // being checked (a back-off of 1 s; the clock stands still).
    assert_eq!(app.try_login("anna", PASSWORD).await.err(), Some(429));
    let c = client();
    let page = c.get(app.url("/logga-in")).send().await.unwrap();
    let lc = set_cookie(&page, "hrobot-login").unwrap();
    let token = field(&page.text().await.unwrap(), "_login").unwrap();
    let r = c
        .post(app.url("/logga-in"))
        .header("cookie", format!("hrobot-login={lc}"))
        .form(&[
            ("_login", token.as_str()),
            ("anvandarnamn", "anna"),
            ("losenord", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1", "the form's 429 says when to try again");
    assert!(r.text().await.unwrap().contains("Försök igen om 1 sekund."));
    let r = client()
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"username": "anna", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
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
    // API tokens have their own idle timeout …
    let token = app.token("anna").await;
    let get = |t: String| {
        let url = app.url("/api/v1/cases");
        async move { client().get(url).bearer_auth(t).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(token.clone()).await, 200);
    clock.advance(chrono::Duration::hours(8) + chrono::Duration::minutes(1));
    assert_eq!(get(token).await, 401);
    // … and however active, end after api_token_max_hours (24 by default).
    let token = app.token("anna").await;
    for _ in 0..23 {
        clock.advance(chrono::Duration::hours(1));
        assert_eq!(get(token.clone()).await, 200);
    }
    clock.advance(chrono::Duration::minutes(59));
    assert_eq!(get(token.clone()).await, 200, "23 h 59 min after login");
    clock.advance(chrono::Duration::minutes(1));
    assert_eq!(get(token).await, 401, "24 hours after login");
    app.stop().await;
}

#[tokio::test]
async fn api_token_max_hours_is_configurable() {
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    env.settings.web.api_token_max_hours = 2;
    let clock = crate::support::clock_at("2021-03-10T09:00:00Z");
    let app = WebApp::start_with(env, clock.clone()).await;
    app.add_user("anna", &["handlaggare"], None).await;
    let r = client()
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"username": "anna", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["max_hours"], 2);
    let token = v["token"].as_str().unwrap().to_string();
    let get = || client().get(app.url("/api/v1/cases")).bearer_auth(&token).send();
    clock.advance(chrono::Duration::minutes(119));
    assert_eq!(get().await.unwrap().status(), 200);
    clock.advance(chrono::Duration::minutes(1));
    assert_eq!(get().await.unwrap().status(), 401);
    app.stop().await;
}

/// The sign-in events in the audit log: (kind, actor, payload).
async fn sign_in_events(app: &WebApp) -> Vec<(String, String, serde_json::Value)> {
    let pool = app.runtime.store.sqlite_pool().unwrap();
    let leaves: Vec<Vec<u8>> = sqlx::query_scalar("SELECT leaf FROM audit_events ORDER BY seq")
        .fetch_all(pool)
        .await
        .unwrap();
    leaves
        .iter()
        .map(|l| audit::event::LeafEvent::decode(l).unwrap())
        .filter(|e| e.kind.as_str().starts_with("login"))
        .map(|e| (e.kind.as_str().to_string(), e.actor.as_str().to_string(), e.payload))
        .collect()
}

/// A JSON login from a client address that the (one) trusted proxy
/// appended to X-Forwarded-For, after whatever the client sent.
async fn api_login(app: &WebApp, user: &str, password: &str, client_sent: &str, addr: &str) -> reqwest::Response {
    client()
        .post(app.url("/api/v1/session"))
        .header("x-forwarded-for", format!("{client_sent}, {addr}"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn x_forwarded_for_is_read_from_the_right() {
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    env.settings.web.trusted_proxies = 1;
    let clock = crate::support::clock_at("2021-03-10T09:00:00Z");
    let app = WebApp::start_with(env, clock.clone()).await;
    app.add_user("anna", &["handlaggare"], None).await;
    // 40 failed logins for different usernames, each claiming a new address
    // in the first entry: the proxy's entry is the same, so the per-address
    // limit (30) holds.
    let mut statuses = Vec::new();
    for i in 0..40 {
        let r = api_login(
            &app,
            &format!("gissning{i}"),
            "fel",
            &format!("10.0.{}.{}", i / 250, i % 250 + 1),
            "203.0.113.9",
        )
        .await;
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..30], [403; 30], "{statuses:?}");
    assert_eq!(statuses[30..], [429; 10], "{statuses:?}");
    // Another client behind the same proxy is not affected …
    assert_eq!(
        api_login(&app, "anna", PASSWORD, "203.0.113.9", "198.51.100.4")
            .await
            .status(),
        201
    );
    // … and claiming the limited address in the first entry changes nothing.
    assert_eq!(
        api_login(&app, "anna", PASSWORD, "198.51.100.4", "203.0.113.9")
            .await
            .status(),
        429
    );
    app.stop().await;

    // `trust_forwarded_for = true` still reads one proxy; with 0 proxies the
    // header is ignored and the peer (127.0.0.1) counts.
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    env.settings.web.trust_forwarded_for = true;
    env.settings.web.login_max_failures_per_ip = 2;
    let app = WebApp::start_with(env, clock.clone()).await;
    app.add_user("anna", &["handlaggare"], None).await;
    for i in 0..2 {
        assert_eq!(
            api_login(&app, &format!("g{i}"), "fel", &format!("10.1.0.{i}"), "203.0.113.9")
                .await
                .status(),
            403
        );
    }
    assert_eq!(
        api_login(&app, "anna", PASSWORD, "x", "203.0.113.9").await.status(),
        429
    );
    assert_eq!(
        api_login(&app, "anna", PASSWORD, "x", "203.0.113.10").await.status(),
        201
    );
    app.stop().await;
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    env.settings.web.login_max_failures_per_ip = 2;
    let app = WebApp::start_with(env, clock).await;
    app.add_user("anna", &["handlaggare"], None).await;
    for i in 0..2 {
        assert_eq!(
            api_login(&app, &format!("g{i}"), "fel", "x", &format!("203.0.113.{i}"))
                .await
                .status(),
            403
        );
    }
    assert_eq!(
        api_login(&app, "anna", PASSWORD, "x", "203.0.113.50").await.status(),
        429,
        "the header is ignored"
    );
    app.stop().await;
}

#[tokio::test]
async fn guessing_slows_an_account_down_without_locking_its_official_out() {
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    env.settings.web.trusted_proxies = 1;
    env.settings.web.login_backoff_after = 3;
    env.settings.web.login_account_backoff_after = 6;
    env.settings.web.login_account_lock_after = 12;
    let clock = crate::support::clock_at("2021-03-10T09:00:00Z");
    let app = WebApp::start_with(env, clock.clone()).await;
    app.add_user("anna", &["handlaggare"], None).await;
    let attacker = "192.0.2.1";
    for _ in 0..3 {
        assert_eq!(api_login(&app, "anna", "fel", "-", attacker).await.status(), 403);
    }
    // From the attacker's address: a back-off of 1 s, then 2 s, 4 s.
    for wait in [1, 2, 4] {
        let r = api_login(&app, "anna", PASSWORD, "-", attacker).await;
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], wait.to_string().as_str());
        clock.advance(chrono::Duration::seconds(wait));
        assert_eq!(api_login(&app, "anna", "fel", "-", attacker).await.status(), 403);
    }
    // The official, from their own address, gets in.
    assert_eq!(
        api_login(&app, "anna", PASSWORD, "-", "198.51.100.20").await.status(),
        201
    );
    assert_eq!(api_login(&app, "anna", PASSWORD, "-", attacker).await.status(), 429);

    // Failures from many addresses (6 so far from one, now one each from
    // five more: 11 for the account) slow the account down from each of them …
    for n in 2..=6 {
        assert_eq!(
            api_login(&app, "anna", "fel", "-", &format!("192.0.2.{n}"))
                .await
                .status(),
            403
        );
    }
    let r = api_login(&app, "anna", PASSWORD, "-", "192.0.2.2").await;
    assert_eq!(r.status(), 429, "the account's back-off");
    assert_eq!(r.headers()["retry-after"], "32", "2^(11-6) s after its last failure");
    // … while an address with no failures for it still gets in.
    assert_eq!(
        api_login(&app, "anna", PASSWORD, "-", "198.51.100.21").await.status(),
        201
    );
    // From 12 failures, every address waits (a distributed attack).
    assert_eq!(api_login(&app, "anna", "fel", "-", "192.0.2.7").await.status(), 403);
    assert_eq!(
        api_login(&app, "anna", PASSWORD, "-", "198.51.100.22").await.status(),
        429
    );
    // A window after the last failure everything is forgotten.
    clock.advance(chrono::Duration::minutes(15));
    assert_eq!(api_login(&app, "anna", PASSWORD, "-", attacker).await.status(), 201);

    // The audit log has each sign-in, failure and throttling (once per
    // throttling); unknown usernames are never written down.
    assert_eq!(
        api_login(&app, "19790223-9446", "fel", "-", attacker).await.status(),
        403
    );
    let events = sign_in_events(&app).await;
    let count = |k: &str| events.iter().filter(|e| e.0 == k).count();
    assert_eq!(count("login"), 3, "{events:?}");
    assert_eq!(count("login_failed"), 13, "{events:?}");
    assert!(count("login_throttled") >= 5, "{events:?}");
    for (kind, _actor, payload) in &events {
        assert_eq!(payload["method"], "password");
        assert!(payload["client"].as_str().unwrap().contains('.'), "{payload}");
        if kind == "login_throttled" {
            assert!(payload["retry_after_secs"].as_i64().unwrap() >= 1);
            assert!(payload["reason"].is_string());
        }
        if kind == "login_failed" {
            assert!(payload["reason"].is_string());
        }
    }
    let last = events.last().unwrap();
    assert_eq!((last.0.as_str(), last.1.as_str()), ("login_failed", "web:anonym"));
    assert_eq!(last.2["reason"], "unknown_user");
    assert!(events.iter().all(|e| e.1 == "user:anna" || e.1 == "web:anonym"));
    assert!(!format!("{events:?}").contains("9446"));
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
