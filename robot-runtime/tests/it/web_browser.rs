//! The web UI in a real browser (fantoccini → chromedriver → headless
//! Chromium): an official logs in, opens the queue and a case and approves
//! it with the keyboard only, and the SMTP server receives exactly one
//! letter; and axe-core (npm `axe-core`, injected through WebDriver) finds
//! no WCAG 2.1 A/AA violation on any page of the UI.

use crate::support::{Engine, TestEnv, clock_at};
use crate::web_support::{OFFICIALS, WebApp};
use fantoccini::key::Key;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use std::path::PathBuf;
use std::time::Duration;

/// chromedriver and a headless Chromium with a fresh profile; both end on drop.
pub(crate) struct Chrome {
    pub(crate) client: Client,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A session not closed politely leaves Chromium running without
        // its driver; it would outlive the test.
        connectors::legacy::kill_browser_processes(self._profile.path());
    }
}

pub(crate) async fn chrome() -> Chrome {
    chrome_sized(false).await
}

/// A browser at 1366×900, or a phone's 390×844 (Chromium's mobile
/// emulation: the viewport, touch and the device scale).
pub(crate) async fn chrome_sized(phone: bool) -> Chrome {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = std::process::Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .arg("--log-level=OFF")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver (apt install chromium-driver)");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = connectors::legacy::CHROMIUM_FLAGS
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut caps = Capabilities::new();
    caps.insert("browserName".into(), "chrome".into());
    let mut options = serde_json::json!({"binary": "/usr/bin/chromium", "args": args});
    if phone {
        options["mobileEmulation"] =
            serde_json::json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1.0}});
    } else {
        options["args"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::Value::String("--window-size=1366,900".into()));
    }
    caps.insert("goog:chromeOptions".into(), options);
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a browser session");
    Chrome {
        client,
        driver,
        _profile: profile,
    }
}

/// axe-core, installed with npm into the test's scratch folder (once).
pub(crate) fn axe_source() -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("axe");
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if !file.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .arg("axe-core@4")
            .status()
            .expect("npm (apt install npm)");
        assert!(ok.success(), "npm install axe-core failed");
    }
    std::fs::read_to_string(file).unwrap()
}

/// Runs axe on the current page; returns the violations as readable lines.
pub(crate) async fn axe(c: &Client, axe: &str) -> Vec<String> {
    c.execute(axe, vec![]).await.expect("axe loads");
    let r = c
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})\
                .then(r => done([r.passes.length].concat(r.violations.map(v => v.id + ': ' + v.help + ' — ' + v.nodes.map(n => n.target.join(' ')).join(', ')))))\
                .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe runs");
    let a = r.as_array().expect("axe's answer");
    // The first element counts the rules that passed: axe really ran.
    assert!(
        a.first().and_then(|p| p.as_u64()).is_some_and(|p| p >= 5),
        "axe did not run: {a:?}"
    );
    a.iter()
        .skip(1)
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

pub(crate) async fn active_id(c: &Client) -> String {
    let e = c.active_element().await.unwrap();
    e.attr("id").await.unwrap().unwrap_or_default()
}

pub(crate) async fn active_href(c: &Client) -> String {
    let e = c.active_element().await.unwrap();
    e.attr("href").await.unwrap().unwrap_or_default()
}

/// Presses Tab until `pred` holds for the focused element (at most `max` times).
pub(crate) async fn tab_until<F, Fut>(c: &Client, max: usize, pred: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..max {
        if pred().await {
            return true;
        }
        let e = c.active_element().await.unwrap();
        e.send_keys(&String::from(char::from(Key::Tab))).await.unwrap();
    }
    pred().await
}

pub(crate) async fn text(c: &Client) -> String {
    // Read in one script, so a page that is just being replaced gives its
    // old or its new text, never a stale element.
    for _ in 0..40 {
        if let Ok(v) = c
            .execute(
                "const m = document.querySelector('main'); return m ? m.innerText : '';",
                vec![],
            )
            .await
            && let Some(t) = v.as_str()
        {
            return t.replace(['\u{a0}', '\u{202f}'], " ");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the page's text could not be read");
}

pub(crate) async fn login_with_keyboard(c: &Client, base: &str, user: &str) {
    c.goto(&format!("{base}/logga-in")).await.unwrap();
    // The username field has focus (autofocus); type, Tab, type, Enter.
    assert_eq!(active_id(c).await, "anvandarnamn");
    let e = c.active_element().await.unwrap();
    e.send_keys(user).await.unwrap();
    e.send_keys(&String::from(char::from(Key::Tab))).await.unwrap();
    assert_eq!(active_id(c).await, "losenord");
    let e = c.active_element().await.unwrap();
    e.send_keys(crate::web_support::PASSWORD).await.unwrap();
    e.send_keys(&String::from(char::from(Key::Enter))).await.unwrap();
    wait_for(c, |url| !url.contains("/logga-in")).await;
}

pub(crate) async fn wait_for(c: &Client, pred: impl Fn(&str) -> bool) {
    for _ in 0..200 {
        let url = c.current_url().await.unwrap().to_string();
        if pred(&url) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the page did not change: {}", c.current_url().await.unwrap());
}

#[tokio::test]
async fn an_official_approves_a_case_with_the_keyboard_and_one_letter_is_sent() {
    let maildir = tempfile::tempdir().unwrap();
    let smtp = tests::smtp::SmtpServer::start(&maildir.path().join("mail")).unwrap();
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    configure_smtp(&mut env, smtp.port);
    let app = WebApp::start_with(env, clock_at("2021-03-10T09:00:00Z")).await;
    for (u, roles) in OFFICIALS {
        app.add_user(u, roles, None).await;
    }
    // One case below the four-eyes limit.
    let file = crate::support::ruleset().join("tests/05-lon-med-jobbstimulans.json");
    let ids = app.seed(&[file]).await;
    let case = ids[0];

    let b = chrome().await;
    let c = &b.client;
    login_with_keyboard(c, &app.base, "anna").await;
    c.goto(&app.url("/arenden")).await.unwrap();
    assert!(text(c).await.contains("Ärenden"));
    // Keyboard only: the skip link first, then to the case's link.
    let e = c.active_element().await.unwrap();
    e.send_keys(&String::from(char::from(Key::Tab))).await.unwrap();
    let want = format!("/arenden/{case}");
    assert!(
        tab_until(c, 80, || async { active_href(c).await.ends_with(&want) }).await,
        "the case link is reachable with Tab"
    );
    let e = c.active_element().await.unwrap();
    e.send_keys(&String::from(char::from(Key::Enter))).await.unwrap();
    wait_for(c, |u| u.ends_with(&want)).await;
    assert!(text(c).await.contains("Beräkning"));
    assert!(
        tab_until(c, 200, || async { active_id(c).await == "godkann" }).await,
        "the approve button is reachable with Tab"
    );
    let e = c.active_element().await.unwrap();
    e.send_keys(&String::from(char::from(Key::Enter))).await.unwrap();
    // The confirmation step: what will be sent, then approve.
    wait_for(c, |u| u.ends_with(&format!("/arenden/{case}/godkann"))).await;
    assert!(text(c).await.contains("Brevet som skickas"));
    assert!(
        tab_until(c, 40, || async { active_id(c).await == "bekrafta" }).await,
        "the confirm button is reachable with Tab"
    );
    let e = c.active_element().await.unwrap();
    e.send_keys(&String::from(char::from(Key::Enter))).await.unwrap();
    wait_for(c, |u| u.contains("klart=godkant")).await;
    assert!(text(c).await.contains("Beslutet är godkänt"));

    // The outbox delivers it: exactly one letter, and no second one later.
    let mut got = Vec::new();
    for _ in 0..400 {
        got = smtp.messages();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got.len(), 1, "one letter");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1, "still one letter");
    b.client.clone().close().await.unwrap();
    app.stop().await;
}

/// Points the outbox's delivery at the test's SMTP server.
pub(crate) fn configure_smtp(env: &mut TestEnv, port: u16) {
    env.settings.outbox.delivery = Some(
        serde_json::from_value(serde_json::json!({
            "kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
            "from": "Socialtjänsten <beslut@kommun.invalid>", "default_to": "digitalbrevlada@kommun.invalid"
        }))
        .unwrap(),
    );
    env.settings.outbox.poll_millis = 100;
}

#[tokio::test]
async fn axe_finds_no_violations_on_any_page() {
    let axe_js = axe_source();
    let app = WebApp::start(Engine::Sqlite).await;
    let ids = app.seed(&[]).await;
    let case = app.awaiting().await[0];
    let b = chrome().await;
    let c = &b.client;
    let mut report = Vec::new();
    let check = async |c: &Client, path: &str, report: &mut Vec<String>| {
        c.goto(&app.url(path)).await.unwrap();
        let title = c.title().await.unwrap();
        assert!(!title.is_empty(), "{path} has a title");
        for v in axe(c, &axe_js).await {
            report.push(format!("{path}: {v}"));
        }
    };
    check(c, "/logga-in", &mut report).await;
    check(c, "/finns-inte", &mut report).await;
    login_with_keyboard(c, &app.base, "anna").await;
    for p in [
        "/arenden".to_string(),
        "/arenden?status=alla&sortering=belopp_hogst".into(),
        "/arenden?status=avslag-finns-inte".into(),
        "/arenden?vy=andra-granskare".into(),
        "/arenden?mina=1&status=alla".into(),
        "/arenden?status=invalid".into(),
        "/arenden?q=tolvan&status=alla&sortering=period".into(),
        "/arenden?q=zz-inget".into(),
        format!("/arenden/{case}"),
        format!("/arenden/{case}/beslutsbrev"),
        format!("/arenden/{}", ids[ids.len() - 1]),
        "/regler".into(),
    ] {
        check(c, &p, &mut report).await;
    }
    // After an action, with its notice.
    c.goto(&app.url(&format!("/arenden/{case}?klart=kommentar")))
        .await
        .unwrap();
    for v in axe(c, &axe_js).await {
        report.push(format!("notice: {v}"));
    }
    for (user, pages) in [
        ("rut", vec!["/regler", "/arenden"]),
        (
            "adam",
            vec![
                "/admin/anvandare",
                "/admin/anvandare/1/sso",
                "/admin/robotar",
                "/admin/konfiguration",
                "/admin/utkorg",
            ],
        ),
        (
            "vera",
            vec![
                "/granskning",
                "/arenden",
                "/granskning/handelser",
                "/granskning/handelser?utford_av=anna&typ=login",
                "/granskning/handelser?arende=tolv&fran=ig%C3%A5r",
                "/granskning/handelser/1",
            ],
        ),
    ] {
        c.delete_all_cookies().await.unwrap();
        login_with_keyboard(c, &app.base, user).await;
        for p in pages {
            check(c, p, &mut report).await;
        }
    }
    b.client.clone().close().await.unwrap();
    assert!(
        report.is_empty(),
        "axe found {} violation(s):\n{}",
        report.len(),
        report.join("\n")
    );
    app.stop().await;
}

/// At a phone's width (390 × 844 CSS pixels) the queue's pages never
/// scroll sideways: the table becomes one block per case.
#[tokio::test]
async fn queue_has_no_sideways_scroll_at_390_px() {
    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[]).await;
    let b = chrome().await;
    let c = &b.client;
    c.set_window_size(390, 844).await.unwrap();
    login_with_keyboard(c, &app.base, "anna").await;
    for path in [
        "/arenden",
        "/arenden?status=alla",
        "/arenden?status=alla&sortering=belopp_hogst&sida=2",
        "/arenden?vy=andra-granskare",
        "/arenden?q=tolvan&status=alla",
        "/arenden?status=invalid",
    ] {
        c.goto(&app.url(path)).await.unwrap();
        let v = c
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (v[0].as_u64().unwrap(), v[1].as_u64().unwrap());
        assert!(inner <= 400, "the window is a phone's: {inner}");
        assert!(scroll <= inner, "{path} scrolls sideways: {scroll} > {inner}");
    }
    app.stop().await;
}
