//! The rule author's pages over HTTP on both engines: a published version
//! is asked for by one regelförfattare and approved only by another person
//! (the same one is refused on the page), then it is "Gäller nu"; a
//! rollback is an activation of the earlier version; a revisor reads but
//! has no buttons and is refused every POST; a shadow report is shown with
//! its counts; "pröva en ansökan" shows a draft or each error at its
//! pointer, and logs nothing of the document; a drafted case replays
//! identically from its page.

use crate::support::{ENGINES, Engine, ruleset};
use crate::web_support::{Browser, WebApp, location};
use robot_runtime::accounts::By;
use robot_runtime::rulebook;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Every log line of this process (each test runs in its own process
/// under nextest), at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let c = Captured::default();
        let w = c.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || w.clone())
            .try_init();
        c
    })
    .clone()
}

/// The rules folder with another version number: the same rules, another
/// content hash.
fn copy_with_version(to: &std::path::Path, version: &str) {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let t = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &t);
            } else {
                std::fs::copy(e.path(), &t).unwrap();
            }
        }
    }
    copy(&ruleset(), to);
    let manifest = to.join("ruleset.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let changed = text.replacen("version = \"2.0.0\"", &format!("version = \"{version}\""), 1);
    assert_ne!(text, changed, "the manifest names its version");
    std::fs::write(manifest, changed).unwrap();
}

async fn page(b: &Browser, path: &str) -> String {
    let r = b.get(path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.text().await.unwrap()
}

/// The versions page's row for a version (its link to the end of the row).
fn row<'a>(html: &'a str, hex: &str) -> &'a str {
    let at = html
        .find(&format!("/regler/versioner/{hex}\""))
        .unwrap_or_else(|| panic!("no row for {hex}"));
    let rest = &html[at..];
    &rest[..rest.find("</tr>").unwrap()]
}

/// The id of the newest open request.
fn open_request(html: &str) -> i64 {
    let at = html.find("id=\"begaran-").expect("an open request");
    let rest = &html[at + 12..];
    rest[..rest.find('"').unwrap()].parse().unwrap()
}

fn hex(hash: &str) -> String {
    hash.trim_start_matches("sha256:").to_string()
}

async fn rule_pages(engine: Engine) {
    let logs = capture_logs();
    let app = WebApp::start(engine).await;
    let ids = app
        .seed(&[
            ruleset().join("tests/05-lon-med-jobbstimulans.json"),
            ruleset().join("tests/03-sambor-tva-barn.json"),
        ])
        .await;
    assert_eq!(ids.len(), 2);
    app.add_user("rakel", &["regelforfattare"], None).await;
    let store = &app.runtime.store;
    // The robot's configured folder is published before its first draft
    // (`rulebook::ensure_published`). That remembers published hashes per
    // process, not per store, so on the second engine of this test it is
    // published here.
    let config = hex(&rulebook::publish(store, &By::Setup, &ruleset()).await.unwrap().row.hash);
    assert_eq!(store.ruleset_versions(None).await.unwrap().len(), 1);
    // A new version, published through the library.
    let dir = tempfile::tempdir().unwrap();
    copy_with_version(dir.path(), "2.0.1");
    let published = rulebook::publish(store, &By::Setup, dir.path()).await.unwrap();
    assert!(published.new);
    assert_eq!(published.row.tests_failed, 0, "the copy passes its tests");
    let new = hex(&published.row.hash);

    let rut = app.login("rut").await;
    let rakel = app.login("rakel").await;
    let adam = app.login("adam").await;
    let vera = app.login("vera").await;
    let anna = app.login("anna").await;

    // The overview: what the robot uses today (the configured folder).
    let html = page(&rut, "/regler").await;
    assert!(html.contains("konfigurationens mapp"), "{html}");
    assert!(html.contains("/regler/versioner\"") && html.contains("/regler/aktiveringar\""));
    // The versions: both, neither in force.
    let html = page(&rut, "/regler/versioner").await;
    assert!(row(&html, &new).contains("2.0.1"));
    assert!(!html.contains("Gäller nu"));

    // One version: parameters with provenance, tests run now, forms.
    let html = page(&rut, &format!("/regler/versioner/{new}")).await;
    assert!(html.contains("Parametrar och var de kommer ifrån"));
    assert!(
        html.contains("riksnorm.") && html.contains("Källa:"),
        "parameters with sources"
    );
    assert!(html.contains("tester godkända när de kördes nu"), "the tests ran");
    assert!(!html.contains("<strong>Fel</strong>"), "no test failed");
    assert!(html.contains("Kör skuggkörning") && html.contains("Begär aktivering"));
    // A file, read-only.
    let html = page(&rut, &format!("/regler/versioner/{new}/fil?sokvag=ruleset.toml")).await;
    assert!(html.contains("version = &#34;2.0.1&#34;"), "{html}");

    // A shadow run over every stored case: the report with its counts.
    let r = rut
        .post(
            &format!("/regler/versioner/{new}/skuggkorning"),
            &[("urval", "nonsense")],
        )
        .await;
    assert_eq!(r.status(), 422, "a bad filter comes back on the page");
    let html = r.text().await.unwrap();
    assert!(html.contains("aria-invalid=\"true\"") && html.contains("value=\"nonsense\""));
    let r = rut
        .post(&format!("/regler/versioner/{new}/skuggkorning"), &[("urval", "all")])
        .await;
    assert_eq!(r.status(), 303);
    let report = location(&r);
    assert!(report.starts_with("/regler/skuggkorningar/"), "{report}");
    let html = page(&rut, &report).await;
    assert!(html.contains("<dt>Ärenden</dt><dd>2</dd>"), "{html}");
    assert!(html.contains("<dt>Kunde inte bedömas</dt><dd>0</dd>"));
    let json: serde_json::Value = rut.get(&format!("{report}.json")).await.json().await.unwrap();
    assert_eq!(json["cases"], 2);
    assert_eq!(json["candidate"]["version"], "2.0.1");

    // rut asks for the new version from today; rut cannot approve it.
    let r = rut
        .post(
            &format!("/regler/versioner/{new}/aktivering"),
            &[("fran", "2021-03-10"), ("motivering", "")],
        )
        .await;
    assert_eq!(r.status(), 422, "a reason is required");
    assert!(r.text().await.unwrap().contains("Skriv varför"));
    let r = rut
        .post(
            &format!("/regler/versioner/{new}/aktivering"),
            &[("fran", "2021-03-10"), ("motivering", "Ny version för test.")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/regler/aktiveringar"));
    let html = page(&rut, "/regler/aktiveringar").await;
    let id = open_request(&html);
    assert!(html.contains("Ny version för test."), "the reason");
    assert!(html.contains(&format!(
        "/regler/skuggkorningar/{}",
        report.rsplit('/').next().unwrap()
    )));
    assert!(html.contains("Du har själv begärt aktiveringen"));
    assert!(
        !html.contains(&format!("id=\"godkann-{id}\"")),
        "no approve button for the requester"
    );
    assert!(html.contains(&format!("id=\"aterkalla-{id}\"")));
    let r = rut
        .post(&format!("/regler/aktiveringar/{id}"), &[("atgard", "godkann")])
        .await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Någon annan än den som begärde aktiveringen måste besluta om den (fyra ögon)"),
        "{html}"
    );
    assert!(
        html.contains("role=\"alert\"") && html.contains("aria-label=\"Huvudmeny\""),
        "in place"
    );
    let html = page(&rut, "/regler/versioner").await;
    assert!(row(&html, &new).contains("Väntar på godkännande"));

    // A revisor reads everything but has no buttons, and every POST is refused.
    let html = page(&vera, "/regler/aktiveringar").await;
    assert!(html.contains("Ny version för test."));
    assert!(!html.contains("name=\"atgard\""), "no buttons for a revisor");
    let html = page(&vera, &format!("/regler/versioner/{new}")).await;
    assert!(!html.contains("/skuggkorning\"") && !html.contains("/aktivering\""));
    page(&vera, &report).await;
    for (path, fields) in [
        (format!("/regler/aktiveringar/{id}"), vec![("atgard", "godkann")]),
        (
            format!("/regler/versioner/{new}/aktivering"),
            vec![("fran", "2021-03-10"), ("motivering", "x")],
        ),
        (format!("/regler/versioner/{new}/skuggkorning"), vec![("urval", "all")]),
        ("/regler/prova".to_string(), vec![("version", ""), ("ansokan", "{}")]),
    ] {
        assert_eq!(
            vera.post(&path, &fields).await.status(),
            403,
            "POST {path} as a revisor"
        );
    }

    // A refusal needs a note; another regelförfattare approves.
    let r = rakel
        .post(&format!("/regler/aktiveringar/{id}"), &[("atgard", "avsla")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Skriv varför aktiveringen avslås"));
    let r = rakel
        .post(
            &format!("/regler/aktiveringar/{id}"),
            &[("atgard", "godkann"), ("anteckning", "Skuggkörningen granskad.")],
        )
        .await;
    assert_eq!(r.status(), 303, "a second regelförfattare approves");
    let r = adam
        .post(
            &format!("/regler/aktiveringar/{id}"),
            &[("atgard", "avsla"), ("anteckning", "Sent.")],
        )
        .await;
    assert_eq!(r.status(), 422, "decided once");
    assert!(r.text().await.unwrap().contains("Begäran är redan avgjord"));
    let html = page(&rut, "/regler/versioner").await;
    assert!(row(&html, &new).contains("Gäller nu"), "{html}");
    assert!(!row(&html, &config).contains("Gäller nu"));
    let html = page(&rut, "/regler").await;
    assert!(html.contains("2.0.1, aktiverad från 2021-03-10"), "{html}");

    // Rollback: the earlier version activated again, approved by an administratör.
    let r = rut
        .post(
            &format!("/regler/versioner/{config}/aktivering"),
            &[("fran", "2021-03-10"), ("motivering", "Tillbaka till 2.0.0.")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let id = open_request(&page(&adam, "/regler/aktiveringar").await);
    let r = adam
        .post(&format!("/regler/aktiveringar/{id}"), &[("atgard", "godkann")])
        .await;
    assert_eq!(r.status(), 303, "an administratör approves");
    let html = page(&rut, "/regler/versioner").await;
    assert!(row(&html, &config).contains("Gäller nu"), "{html}");
    assert!(!row(&html, &new).contains("Gäller nu"));
    let html = page(&rut, "/regler/aktiveringar").await;
    assert!(html.contains("Godkänd") && html.contains("Skuggkörningen granskad."));
    // Approved from a later day; a request withdrawn by the one who asked
    // (nobody else may).
    let ask = async |from: &str| {
        let r = rut
            .post(
                &format!("/regler/versioner/{new}/aktivering"),
                &[("fran", from), ("motivering", "Från nästa månad.")],
            )
            .await;
        assert_eq!(r.status(), 303);
        open_request(&page(&rut, "/regler/aktiveringar").await)
    };
    let later = ask("2021-04-01").await;
    let r = rakel
        .post(&format!("/regler/aktiveringar/{later}"), &[("atgard", "aterkalla")])
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Bara den som begärde kan återkalla"));
    let r = adam
        .post(&format!("/regler/aktiveringar/{later}"), &[("atgard", "godkann")])
        .await;
    assert_eq!(r.status(), 303);
    let html = page(&rut, "/regler/versioner").await;
    assert!(row(&html, &new).contains("Godkänd från 2021-04-01"), "{html}");
    assert!(row(&html, &config).contains("Gäller nu"));
    let withdrawn = ask("2021-05-01").await;
    let r = rut
        .post(&format!("/regler/aktiveringar/{withdrawn}"), &[("atgard", "aterkalla")])
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let html = page(&rut, "/regler/aktiveringar").await;
    assert!(html.contains("Ingen begäran väntar på beslut") && html.contains("Återkallad"));

    // Pröva en ansökan: the version in force, a valid application.
    let html = page(&rut, "/regler/prova").await;
    let choice = crate::web_support::field(&html.replace("<option value=", "name=\"version\" value="), "version")
        .expect("a version to choose");
    assert!(choice.starts_with("galler:"), "{choice}");
    let secret = "Zebulon Qvarnström";
    let valid = std::fs::read_to_string(ruleset().join("tests/05-lon-med-jobbstimulans.json"))
        .unwrap()
        .replace("\"Vuxen\"", &format!("\"{secret}\""));
    let r = rut
        .post(
            "/regler/prova",
            &[("version", choice.as_str()), ("ansokan", valid.as_str())],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Förslag: Bifall, 4\u{a0}450\u{a0}kr"), "{html}");
    assert!(html.contains("Beräkning") && html.contains("Lagrum:") && html.contains("Reglerna steg för steg"));
    assert!(
        html.contains("ekonomiskt-bistand 2.0.0"),
        "the version in force after the rollback"
    );
    // A published version by its hash, and an invalid application.
    let invalid = valid.replace("\"rent\": 5200", "\"rent\": \"mycket\"");
    let r = rut
        .post(
            "/regler/prova",
            &[("version", new.as_str()), ("ansokan", invalid.as_str())],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("Ansökan är inte giltig"));
    assert!(
        html.contains("<strong>Hyra</strong> (<code>/costs/rent</code>)"),
        "{html}"
    );
    assert!(html.contains("ekonomiskt-bistand 2.0.1"));
    assert!(html.contains("&#34;mycket&#34;"), "the typed document kept");
    let r = rut
        .post("/regler/prova", &[("version", new.as_str()), ("ansokan", "{")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("inte JSON"));

    // Replay from the case page: identical, with the version and hash.
    let case = app.case_by_external_id("EX-2021-0005").await;
    let html = page(&anna, &format!("/arenden/{case}")).await;
    assert!(html.contains(&format!("action=\"/arenden/{case}/kor-om\"")));
    let r = anna.post(&format!("/arenden/{case}/kor-om"), &[]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Samma resultat"), "{html}");
    assert!(html.contains("ekonomiskt-bistand 2.0.0") && html.contains(&config));
    assert_eq!(rut.post(&format!("/arenden/{case}/kor-om"), &[]).await.status(), 200);

    // Nothing of the pasted documents in any log line.
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(!text.is_empty(), "logs were captured");
    assert!(
        !text.contains("Zebulon") && !text.contains("mycket"),
        "the document in a log line"
    );
    app.stop().await;
}

#[tokio::test]
async fn rule_authors_publish_activate_roll_back_and_try() {
    for engine in ENGINES {
        rule_pages(engine).await;
    }
}

/// The rule author's pages in Chromium: axe-core finds no WCAG 2.1 A/AA
/// violation at 1366×900 and at 390×844, and nothing scrolls sideways on
/// the phone, in every state (forms with errors, a draft tried, an
/// invalid application, an open request, a replay).
#[tokio::test]
async fn the_rule_pages_pass_axe_and_fit_a_phone() {
    use crate::web_browser::{axe, axe_source, chrome_sized, login_with_keyboard, text};
    use fantoccini::{Client, Locator};

    async fn submit_form(c: &Client, action: &str, fill: &[(&str, &str)]) {
        for (name, value) in fill {
            let e = c
                .find(Locator::Css(&format!("form[action=\"{action}\"] [name=\"{name}\"]")))
                .await
                .unwrap();
            e.clear().await.unwrap();
            e.send_keys(value).await.unwrap();
        }
        // Mark this page, so the next one is known by the mark's absence.
        c.execute("window.hrobotOld = true;", vec![]).await.unwrap();
        c.find(Locator::Css(&format!(
            "form[action=\"{action}\"] button[type=\"submit\"]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
        for _ in 0..400 {
            let v = c
                .execute(
                    "return !window.hrobotOld && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool());
            if v == Some(true) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    // Screenshots to look at, beside the official's day's (web_desk.rs).
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ci-artefacts/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = async |c: &Client, name: &str| {
        let png = c.screenshot().await.unwrap();
        std::fs::write(shots.join(format!("{name}.png")), png).unwrap();
    };
    let axe_js = axe_source();
    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[ruleset().join("tests/05-lon-med-jobbstimulans.json")]).await;
    app.add_user("rakel", &["regelforfattare"], None).await;
    let store = &app.runtime.store;
    let dir = tempfile::tempdir().unwrap();
    copy_with_version(dir.path(), "2.0.1");
    let new = hex(&rulebook::publish(store, &By::Setup, dir.path()).await.unwrap().row.hash);
    let case = app.case_by_external_id("EX-2021-0005").await;
    // A shadow report and an open request, made over HTTP.
    let rut = app.login("rut").await;
    let r = rut
        .post(&format!("/regler/versioner/{new}/skuggkorning"), &[("urval", "all")])
        .await;
    let report = location(&r);
    let r = rut
        .post(
            &format!("/regler/versioner/{new}/aktivering"),
            &[("fran", "2021-03-10"), ("motivering", "Ny riksnorm.")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let valid = std::fs::read_to_string(ruleset().join("tests/05-lon-med-jobbstimulans.json")).unwrap();
    let invalid = valid.replace("\"rent\": 5200", "\"rent\": \"mycket\"");

    let mut report_lines = Vec::new();
    let mut wide = Vec::new();
    let mut checked = 0;
    for phone in [false, true] {
        let b = chrome_sized(phone).await;
        let c = &b.client;
        let size = if phone { "390×844" } else { "1366×900" };
        let mut check = async |c: &Client, what: &str| {
            let title = c.title().await.unwrap();
            assert!(!title.is_empty(), "{what} has a title");
            for v in axe(c, &axe_js).await {
                report_lines.push(format!("{what} ({size}): {v}"));
            }
            let w = c
                .execute(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                    vec![],
                )
                .await
                .unwrap()
                .as_i64()
                .unwrap_or(0);
            if phone && w > 0 {
                wide.push(format!("{what}: {w} px"));
            }
            checked += 1;
        };
        for (user, pages) in [
            (
                "rut",
                vec![
                    "/regler".to_string(),
                    "/regler/versioner".into(),
                    format!("/regler/versioner/{new}"),
                    format!("/regler/versioner/{new}/fil?sokvag=rules/main.rhai"),
                    format!("/regler/versioner/{new}/fil?sokvag=parameters/riksnorm.toml"),
                    report.clone(),
                    "/regler/aktiveringar".into(),
                    "/regler/prova".into(),
                ],
            ),
            ("rakel", vec!["/regler/aktiveringar".to_string()]),
            (
                "adam",
                vec!["/regler/aktiveringar".to_string(), format!("/regler/versioner/{new}")],
            ),
            ("vera", vec!["/regler/aktiveringar".to_string(), "/regler".into()]),
        ] {
            c.delete_all_cookies().await.unwrap();
            login_with_keyboard(c, &app.base, user).await;
            for p in pages {
                c.goto(&app.url(&p)).await.unwrap();
                check(c, &format!("{p} as {user}")).await;
                let name = match (user, p.as_str()) {
                    ("rut", x) if x == format!("/regler/versioner/{new}") => Some("rules-version"),
                    ("rakel", "/regler/aktiveringar") => Some("rules-activations"),
                    _ => None,
                };
                if let Some(n) = name {
                    shot(c, &format!("{n}-{}", if phone { "phone" } else { "wide" })).await;
                }
            }
        }
        // The states after a form, as rut.
        c.delete_all_cookies().await.unwrap();
        login_with_keyboard(c, &app.base, "rut").await;
        c.goto(&app.url(&format!("/regler/versioner/{new}"))).await.unwrap();
        let action = format!("/regler/versioner/{new}/skuggkorning");
        submit_form(c, &action, &[("urval", "from=igår")]).await;
        assert!(text(c).await.contains("Skuggkörningen kunde inte startas"));
        check(c, "a shadow run's filter error").await;
        c.goto(&app.url("/regler/prova")).await.unwrap();
        submit_form(c, "/regler/prova#resultat", &[("ansokan", &valid)]).await;
        assert!(text(c).await.contains("Reglerna steg för steg"), "{}", text(c).await);
        check(c, "a draft tried").await;
        shot(c, if phone { "rules-try-phone" } else { "rules-try-wide" }).await;
        submit_form(c, "/regler/prova#resultat", &[("ansokan", &invalid)]).await;
        assert!(text(c).await.contains("Ansökan är inte giltig"));
        check(c, "an invalid application tried").await;
        // rut's own request: the decision refused in place.
        c.goto(&app.url(&format!("/arenden/{case}"))).await.unwrap();
        submit_form(c, &format!("/arenden/{case}/kor-om"), &[]).await;
        assert!(text(c).await.contains("Samma resultat"), "{}", text(c).await);
        check(c, "a replay").await;
        b.client.clone().close().await.unwrap();
    }
    assert_eq!(checked, 2 * 17, "every page and state at both sizes");
    assert!(
        report_lines.is_empty(),
        "axe found {} violation(s):\n{}",
        report_lines.len(),
        report_lines.join("\n")
    );
    assert!(wide.is_empty(), "pages scroll sideways at 390 px: {wide:?}");
    app.stop().await;
}
