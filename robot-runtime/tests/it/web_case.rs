//! The case page's promises, over HTTP on both engines: the confirmation
//! step changes nothing (no decision, no letter, no audit event) until the
//! official confirms; a form error comes back on the case page, next to the
//! field, with what was typed; amounts are read as people write them; the
//! page offers only actions that can succeed, and says up front when a
//! second official is needed; the header says whom the case is about.

use crate::support::{ENGINES, Engine, ruleset};
use crate::web_support::{WebApp, location};
use domain::CaseState;

/// The case's decisions and whether a letter is queued.
async fn decided(app: &WebApp, case: i64) -> (usize, bool) {
    let v = robot_runtime::approval::case_view(&app.runtime.store, case)
        .await
        .unwrap();
    (v.decisions.len(), v.outbox.is_some())
}

async fn state(app: &WebApp, case: i64) -> CaseState {
    app.runtime.store.case_detail(case).await.unwrap().summary.state
}

async fn case_page_promises(engine: Engine) {
    let app = WebApp::start(engine).await;
    let ids = app
        .seed(&[
            ruleset().join("tests/05-lon-med-jobbstimulans.json"),
            ruleset().join("tests/03-sambor-tva-barn.json"),
            ruleset().join("tests/08-nyansokan-manuell.json"),
        ])
        .await;
    let (small, big, manual) = (
        app.case_by_external_id("EX-2021-0005").await,
        app.case_by_external_id("EX-2021-0003").await,
        app.case_by_external_id("EX-2021-0008").await,
    );
    assert_eq!(ids.len(), 3);
    let anna = app.login("anna").await;
    let bo = app.login("bo").await;

    // Whom the case is about: names and personnummer in the header.
    let page = anna.get(&format!("/arenden/{big}")).await.text().await.unwrap();
    let header = &page[page.find("class=\"arendehuvud\"").unwrap()..page.find("id=\"h-fakta\"").unwrap()];
    assert!(header.contains("Anna"), "the applicant's name in the header");
    let facts = &page[page.find("id=\"h-fakta\"").unwrap()..page.find("id=\"beslutspanel\"").unwrap()];
    assert!(
        facts.contains("19850403-9820") && facts.contains("19870914-9838"),
        "both adults' personnummer"
    );
    // 17 040 kr: two officials, said before approving.
    assert!(page.contains("Två handläggare"), "the four-eyes rule up front");
    // A manual draft offers no approve button (it cannot succeed).
    let page = anna.get(&format!("/arenden/{manual}")).await.text().await.unwrap();
    assert!(!page.contains("id=\"godkann\""), "no approve button on a manual draft");
    assert!(page.contains("Besluta efter manuell handläggning"));

    // The confirmation step: nothing happens until the official confirms.
    let r = anna.post(&format!("/arenden/{small}/godkann"), &[]).await;
    assert_eq!(r.status(), 200);
    let confirm = r.text().await.unwrap();
    assert!(
        confirm.contains("Brevet som skickas") && confirm.contains("4\u{a0}450\u{a0}kr"),
        "{confirm}"
    );
    assert_eq!(state(&app, small).await, CaseState::AwaitingApproval, "not decided yet");
    assert_eq!(decided(&app, small).await, (0, false), "no decision, no letter queued");
    // Confirmed and on to the next case.
    let r = anna
        .post(&format!("/arenden/{small}/godkann"), &[("steg", "bekrafta-nasta")])
        .await;
    assert_eq!(r.status(), 303);
    let next = location(&r);
    assert!(
        next.starts_with("/arenden/")
            && next.contains(&format!("forra={small}"))
            && !next.starts_with(&format!("/arenden/{small}?")),
        "{next}"
    );
    assert_eq!(decided(&app, small).await, (1, true), "decided, the letter queued");

    // A form error on the page itself, typed values kept, the field marked.
    let row = "rad.norm.0";
    let r = anna
        .post(
            &format!("/arenden/{big}/andra"),
            &[
                ("beslut", "rader"),
                (&format!("{row}.forslag") as &str, "1 000"),
                (&format!("{row}.belopp") as &str, "åtta tusen"),
                ("motivering", "Läkarvård enligt kvitto."),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("role=\"alert\""), "an error summary");
    assert!(page.contains("value=\"åtta tusen\""), "the typed amount kept");
    assert!(
        page.contains(">Läkarvård enligt kvitto.</textarea>"),
        "the motivering kept"
    );
    assert!(
        page.contains("id=\"andra-rad-norm-0-belopp\"") && page.contains("aria-invalid=\"true\""),
        "the field marked"
    );
    assert!(page.contains("aria-label=\"Huvudmeny\""), "the menu is still there");
    assert_eq!(state(&app, big).await, CaseState::AwaitingApproval);
    // Amounts as people write them: "8 040 kr".
    let proposed = {
        let p = anna.get(&format!("/arenden/{big}")).await.text().await.unwrap();
        crate::web_support::field(&p, &format!("{row}.forslag")).unwrap()
    };
    let kronor: i64 = proposed.replace([' ', '\u{a0}'], "").parse().unwrap();
    let typed = format!("{} {:03} kr", (kronor + 500) / 1000, (kronor + 500) % 1000);
    let r = anna
        .post(
            &format!("/arenden/{big}/andra"),
            &[
                ("beslut", "rader"),
                (&format!("{row}.forslag") as &str, &proposed),
                (&format!("{row}.belopp") as &str, &typed),
                (&format!("{row}.skal") as &str, "Kvitto"),
                ("motivering", "Läkarvård enligt kvitto."),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "saved");
    assert_eq!(state(&app, big).await, CaseState::AwaitingSecondApproval);
    // The first official gets no approve button, and approving anyway is
    // refused on the page, not with an error page.
    let page = anna.get(&format!("/arenden/{big}")).await.text().await.unwrap();
    assert!(!page.contains("id=\"godkann\""));
    let r = anna
        .post(&format!("/arenden/{big}/godkann"), &[("steg", "bekrafta")])
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Beslutet kunde inte godkännas"));
    // The second official sees the change row by row and the letter with
    // the amended amount before confirming.
    let page = bo.get(&format!("/arenden/{big}")).await.text().await.unwrap();
    assert!(page.contains("+500\u{a0}kr"), "the change");
    let confirm = bo
        .post(&format!("/arenden/{big}/godkann"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        confirm.contains("17\u{a0}540\u{a0}kr"),
        "the letter states the amended amount"
    );
    assert_eq!(state(&app, big).await, CaseState::AwaitingSecondApproval);
    let r = bo
        .post(&format!("/arenden/{big}/godkann"), &[("steg", "bekrafta")])
        .await;
    assert_eq!(r.status(), 303);
    assert!(matches!(state(&app, big).await, CaseState::Amended | CaseState::Sent));
    app.stop().await;
}

#[tokio::test]
async fn the_case_page_keeps_its_promises() {
    for engine in ENGINES {
        case_page_promises(engine).await;
    }
}
