//! The official's whole day in a real browser (Chromium through
//! chromedriver): find a case, open it, see who it is about, confirm an
//! assessment, kommunicera and record the reply, amend (with a form error
//! shown in place), approve as the second official after seeing the
//! comparison and the letter, approve and open the next case — with the
//! keyboard alone where the flow is the everyday one. axe-core checks every
//! page and state at 1366×900 and at 390×844, and no page scrolls sideways
//! on the phone. Screenshots of the case page and the queue at both sizes
//! go to `target/ci-artefacts/screenshots/` (kept by CI, not committed).

use crate::support::{Engine, clock_at};
use crate::web_browser::{
    active_id, axe, axe_source, chrome_sized, configure_smtp, login_with_keyboard, tab_until, text, wait_for,
};
use crate::web_support::{OFFICIALS, WebApp};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use std::path::PathBuf;
use std::time::Duration;

/// A shipped test application as another person: the household's adults
/// renamed and renumbered (Skatteverket's test personnummer), so cases of
/// one test do not share a person and a period.
fn case_file(dir: &std::path::Path, src: &str, id: &str, people: &[(&str, &str, &str)]) -> PathBuf {
    let from = crate::support::ruleset().join(format!("tests/{src}.json"));
    let mut text = std::fs::read_to_string(from).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let old_id = v["external_id"].as_str().unwrap().to_string();
    text = text.replace(&format!("\"{old_id}\""), &format!("\"{id}\""));
    for (i, (name, pnr, _)) in people.iter().enumerate() {
        let adult = &v["household"]["adults"][i];
        let old_pnr = adult["personnummer"].as_str().unwrap();
        let old_name = adult["name"].as_str().unwrap();
        text = text.replace(old_pnr, pnr);
        text = text.replace(&format!("\"{old_name}\""), &format!("\"{name}\""));
    }
    let out = dir.join(format!("{id}.json"));
    std::fs::write(&out, text).unwrap();
    out
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ci-artefacts/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn key(c: &Client, k: Key) {
    let e = c.active_element().await.unwrap();
    e.send_keys(&String::from(char::from(k))).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn value(c: &Client, css: &str) -> String {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.prop("value").await.unwrap().unwrap_or_default()
}

async fn exists(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

/// Waits until the page has this text.
async fn wait_text(c: &Client, want: &str) {
    for _ in 0..200 {
        if text(c).await.contains(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the page never said {want:?}:\n{}", text(c).await);
}

/// The page's width beyond the viewport (0: nothing scrolls sideways).
async fn sideways(c: &Client) -> i64 {
    let v = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    v.as_i64().unwrap_or(0)
}

/// Every page a state of the day passes through, checked by axe (and, on the
/// phone, for sideways scrolling); a screenshot when `shot` names one.
struct Checks {
    axe_js: String,
    report: Vec<String>,
    pages: usize,
}

impl Checks {
    async fn page(&mut self, c: &Client, what: &str, shot: Option<&str>) {
        let title = c.title().await.unwrap();
        assert!(!title.is_empty(), "{what} has a title");
        for v in axe(c, &self.axe_js).await {
            self.report.push(format!("{what}: {v}"));
        }
        self.pages += 1;
        if let Some(name) = shot {
            let png = c.screenshot().await.unwrap();
            std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
        }
    }
}

#[tokio::test]
async fn an_officials_day_in_the_browser() {
    let maildir = tempfile::tempdir().unwrap();
    let smtp = tests::smtp::SmtpServer::start(&maildir.path().join("mail")).unwrap();
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    configure_smtp(&mut env, smtp.port);
    let app = WebApp::start_with(env, clock_at("2021-03-10T09:00:00Z")).await;
    for (u, roles) in OFFICIALS {
        app.add_user(u, roles, None).await;
    }
    let files = tempfile::tempdir().unwrap();
    let d = files.path();
    // Seeded in this order: the queue's oldest first is the same order.
    let seeded = app
        .seed(&[
            case_file(
                d,
                "05-lon-med-jobbstimulans",
                "DAG-1",
                &[("Åsa Östlund", "197912129280", "")],
            ),
            case_file(
                d,
                "01-ensamstaende-utan-inkomst",
                "DAG-2",
                &[("Nils Ek", "199008082399", "")],
            ),
            case_file(
                d,
                "03-sambor-tva-barn",
                "DAG-3",
                &[
                    ("Örjan Lindqvist", "198303229291", ""),
                    ("Eva Lindqvist", "198309119264", ""),
                ],
            ),
            case_file(
                d,
                "103-hyra-tak-bedomning-och-kommunicering",
                "DAG-4",
                &[("Karin Berg", "198208059280", "")],
            ),
        ])
        .await;
    assert_eq!(seeded.len(), 4);
    let (simple, next, big, adverse) = (
        app.case_by_external_id("DAG-1").await,
        app.case_by_external_id("DAG-2").await,
        app.case_by_external_id("DAG-3").await,
        app.case_by_external_id("DAG-4").await,
    );
    let mut checks = Checks {
        axe_js: axe_source(),
        report: Vec::new(),
        pages: 0,
    };
    let mut visited: Vec<String> = Vec::new();

    let b = chrome_sized(false).await;
    let c = &b.client;

    // ---- Anna: the queue, then a simple case with the keyboard alone.
    login_with_keyboard(c, &app.base, "anna").await;
    c.goto(&app.url("/arenden")).await.unwrap();
    wait_text(c, "Ärenden").await;
    checks.page(c, "the queue", Some("queue-desktop")).await;
    visited.push("/arenden".into());
    // A client calls: find her by part of her name, typed without accents,
    // with the keyboard alone.
    key(c, Key::Tab).await;
    assert!(
        tab_until(c, 60, || async { active_id(c).await == "f-q" }).await,
        "the search field is reachable with Tab"
    );
    let e = c.active_element().await.unwrap();
    e.send_keys("ostlund").await.unwrap();
    e.send_keys(&String::from(char::from(Key::Enter))).await.unwrap();
    wait_for(c, |u| u.contains("q=ostlund")).await;
    let found = text(c).await;
    assert!(found.contains("Åsa Östlund"), "found by name: {found}");
    assert!(!found.contains("Nils Ek"), "and only her");
    checks.page(c, "a search", Some("queue-search-desktop")).await;
    visited.push("/arenden?q=ostlund".into());
    // And by the last four digits of the personnummer.
    c.goto(&app.url("/arenden?q=9280")).await.unwrap();
    assert!(text(c).await.contains("Åsa Östlund"), "found by the last four digits");
    c.goto(&app.url("/arenden?q=ostlund")).await.unwrap();
    wait_text(c, "Åsa Östlund").await;
    key(c, Key::Tab).await;
    let want = format!("/arenden/{simple}");
    assert!(
        tab_until(c, 120, || async {
            let e = c.active_element().await.unwrap();
            e.attr("href").await.unwrap().unwrap_or_default().ends_with(&want)
        })
        .await,
        "the case's link is reachable with Tab"
    );
    key(c, Key::Enter).await;
    wait_for(c, |u| u.ends_with(&want)).await;
    // Who the case is about, at the top.
    let header = c
        .find(Locator::Css(".arendehuvud"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(header.contains("Åsa Östlund"), "{header}");
    let facts = text(c).await;
    assert!(facts.contains("19791212-9280"), "the personnummer is shown");
    assert!(facts.contains("mars 2021"), "the period in words");
    checks.page(c, "a case awaiting a decision", Some("case-desktop")).await;
    visited.push(want.clone());
    assert!(
        tab_until(c, 80, || async { active_id(c).await == "godkann" }).await,
        "the approve button is reachable with Tab"
    );
    key(c, Key::Enter).await;
    wait_text(c, "Brevet som skickas").await;
    let confirm = text(c).await;
    assert!(confirm.contains("Åsa Östlund"), "the confirmation names the recipient");
    assert!(confirm.contains("4 450 kr"), "and the amount: {confirm}");
    checks.page(c, "the confirmation step", Some("confirm-desktop")).await;
    assert!(
        tab_until(c, 40, || async { active_id(c).await == "bekrafta-nasta" }).await,
        "approve-and-next is reachable with Tab"
    );
    key(c, Key::Enter).await;
    // The next case opens, with the notice about the one just approved.
    wait_for(c, |u| u.contains(&format!("/arenden/{next}?klart=godkant-forra"))).await;
    wait_text(c, &format!("Beslutet i ärende {simple} är godkänt")).await;
    checks.page(c, "the next case after approving", None).await;

    // ---- A case of 15 000 kr or more: two officials, said up front.
    c.goto(&app.url(&format!("/arenden/{big}"))).await.unwrap();
    wait_text(c, "Örjan Lindqvist").await;
    let page = text(c).await;
    assert!(page.contains("Eva Lindqvist"), "both adults in the header");
    assert!(
        page.contains("Två handläggare") && page.contains("15 000 kr"),
        "the four-eyes rule is said before approving"
    );
    visited.push(format!("/arenden/{big}"));
    // Amend with an amount typed as people do, one wrong: the error comes
    // back on the page, next to the field, with what was typed.
    let first_amount = "#andra-rad-norm-0-belopp";
    fill(c, first_amount, "17 540 kronor").await;
    fill(c, "#andra-motivering", "Merkostnad för läkarvård enligt kvitto.").await;
    click(c, "#spara-andring").await;
    wait_text(c, "Beslutet kunde inte sparas").await;
    assert!(c.title().await.unwrap().contains("rättas"));
    assert_eq!(
        value(c, "#andra-motivering").await,
        "Merkostnad för läkarvård enligt kvitto."
    );
    assert_eq!(value(c, first_amount).await, "17 540 kronor");
    let invalid = c
        .find(Locator::Css(&format!("{first_amount}[aria-invalid=true]")))
        .await
        .unwrap();
    assert!(
        invalid
            .attr("aria-describedby")
            .await
            .unwrap()
            .is_some_and(|d| !d.is_empty())
    );
    assert!(text(c).await.contains("Beslutet kunde inte sparas"));
    assert!(exists(c, "nav[aria-label=Huvudmeny]").await, "the menu stays");
    checks
        .page(c, "an amend form with an error", Some("case-form-error-desktop"))
        .await;
    // The proposal's row was 7 540 kr? Whatever it was: add 500 kr to it,
    // written "x xxx kr".
    let proposed: String = value(c, "input[name='rad.norm.0.forslag']").await;
    let kronor: i64 = proposed.replace([' ', '\u{a0}'], "").parse().unwrap();
    fill(
        c,
        first_amount,
        &format!("{} {:03} kr", (kronor + 500) / 1000, (kronor + 500) % 1000),
    )
    .await;
    fill(c, "#andra-rad-norm-0-skal", "Kvitto på läkarvård").await;
    click(c, "#spara-andring").await;
    wait_text(c, "väntar på en andra handläggare").await;
    // The first official cannot approve their own amendment: no button.
    assert!(!exists(c, "#godkann").await, "no approve button for the first official");
    assert!(text(c).await.contains("Du har redan"));
    checks
        .page(c, "a case awaiting a second official, as the first", None)
        .await;

    // ---- An adverse proposal with an assessment: kommunicera first.
    c.goto(&app.url(&format!("/arenden/{adverse}"))).await.unwrap();
    wait_text(c, "Karin Berg").await;
    visited.push(format!("/arenden/{adverse}"));
    checks.page(c, "an adverse proposal with an assessment", None).await;
    // Approving without the assessment confirmed: said in place.
    click(c, "#godkann").await;
    wait_text(c, "Beslutet kunde inte godkännas").await;
    checks.page(c, "approve without the assessment", None).await;
    click(c, "form[action$='/kommunicera'] button").await;
    wait_text(c, "Kommuniceringsbrevet är skickat").await;
    checks.page(c, "a case in kommunicering", None).await;
    fill(c, "#svar-svar", "Jag har letat bostad men inte hittat någon billigare.").await;
    click(c, "form[action$='/svar'] button").await;
    wait_text(c, "Svaret är registrerat").await;
    let box_ = c.find(Locator::Css("input[name=bedomning]")).await.unwrap();
    box_.click().await.unwrap();
    click(c, "#godkann").await;
    // 19 250 kr: the confirmation says nothing is sent yet.
    wait_text(c, "Inget skickas ännu").await;
    checks.page(c, "the confirmation before a second official", None).await;
    click(c, "#bekrafta").await;
    wait_text(c, "Ditt godkännande är sparat").await;

    // ---- Bo: the second approval, seeing what changed.
    c.delete_all_cookies().await.unwrap();
    login_with_keyboard(c, &app.base, "bo").await;
    // Bo's view of what waits for him as the second reviewer: the amended
    // case and the adverse one, with the pending amount.
    c.goto(&app.url("/arenden?vy=andra-granskare")).await.unwrap();
    wait_text(c, "Örjan Lindqvist").await;
    let view = text(c).await;
    assert!(view.contains("Karin Berg"), "{view}");
    assert!(
        view.contains("17 540 kr"),
        "the pending amount, not the draft's: {view}"
    );
    checks
        .page(c, "the second reviewer's view", Some("queue-second-desktop"))
        .await;
    visited.push("/arenden?vy=andra-granskare".into());
    c.goto(&app.url(&format!("/arenden/{big}"))).await.unwrap();
    wait_text(c, "Beslutet jämfört med robotens förslag").await;
    let page = text(c).await;
    assert!(page.contains("+500 kr"), "the change row by row: {page}");
    assert!(page.contains("Kvitto på läkarvård"));
    checks
        .page(c, "a case awaiting a second official", Some("case-second-desktop"))
        .await;
    click(c, "#godkann").await;
    wait_text(c, "Brevet som skickas").await;
    let letter = text(c).await;
    let amended = format!("{} {:03} kr", (17_040 + 500) / 1000, (17_040 + 500) % 1000);
    assert!(
        letter.contains(&amended),
        "the letter states the amended amount {amended}"
    );
    click(c, "#bekrafta").await;
    wait_text(c, "Beslutet är godkänt").await;
    checks.page(c, "a decided case", None).await;
    // And the adverse one, whose letter says the applicant was heard.
    c.goto(&app.url(&format!("/arenden/{adverse}"))).await.unwrap();
    wait_text(c, "Karin Berg").await;
    click(c, "#godkann").await;
    wait_text(c, "Brevet som skickas").await;
    assert!(
        text(c).await.contains("yttra"),
        "the letter says the applicant was heard"
    );
    click(c, "#bekrafta").await;
    wait_text(c, "Beslutet är godkänt").await;
    visited.push("/arenden?status=alla".into());
    b.client.clone().close().await.unwrap();

    // Three decision letters and one kommuniceringsbrev, once each.
    let mut got = Vec::new();
    for _ in 0..400 {
        got = smtp.messages();
        if got.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got.len(), 4, "three decisions and one kommunicering");

    // ---- The same pages on a phone: axe, and nothing scrolls sideways.
    let m = chrome_sized(true).await;
    let c = &m.client;
    login_with_keyboard(c, &app.base, "anna").await;
    let mut wide = Vec::new();
    for p in visited
        .iter()
        .cloned()
        .chain([format!("/arenden/{next}"), format!("/arenden/{simple}/beslutsbrev")])
    {
        c.goto(&app.url(&p)).await.unwrap();
        let shot = match p.as_str() {
            "/arenden" => Some("queue-phone"),
            x if x == format!("/arenden/{big}") => Some("case-phone"),
            _ => None,
        };
        checks.page(c, &format!("{p} on a phone"), shot).await;
        let w = sideways(c).await;
        if w > 0 {
            wide.push(format!("{p}: {w} px"));
        }
    }
    // The revisor's pages on the phone too.
    c.delete_all_cookies().await.unwrap();
    login_with_keyboard(c, &app.base, "vera").await;
    for p in [
        "/granskning".to_string(),
        "/granskning/handelser".into(),
        format!("/granskning/handelser?arende={big}"),
        "/granskning/handelser/1".into(),
    ] {
        c.goto(&app.url(&p)).await.unwrap();
        checks.page(c, &format!("{p} on a phone"), None).await;
        let w = sideways(c).await;
        if w > 0 {
            wide.push(format!("{p}: {w} px"));
        }
    }
    m.client.clone().close().await.unwrap();
    assert!(checks.pages >= 15, "{} page states checked", checks.pages);
    assert!(
        checks.report.is_empty(),
        "axe found {} violation(s):\n{}",
        checks.report.len(),
        checks.report.join("\n")
    );
    assert!(wide.is_empty(), "pages scroll sideways at 390 px: {wide:?}");
    app.stop().await;
}
