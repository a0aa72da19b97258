//! Separation of duties, the access log, least privilege, jäv, and the case
//! store held to the audit log: the findings of the security review
//! (shared/reviews/security-probes.md), each as a test.

use crate::support::{Engine, TestEnv, ruleset};
use crate::web_support::{OFFICIAL_PERSONNUMMER, PASSWORD, WebApp, client};
use serde_json::{Value, json};

fn db_url(env: &TestEnv) -> String {
    match &env.settings.database.url {
        Some(u) => u.expose().clone(),
        None => format!("sqlite://{}", env.dir.path().join("hrobot.sqlite").display()),
    }
}

/// Every event of the log, public part only.
pub async fn events(app: &WebApp) -> Vec<audit::store::ExportedEvent> {
    let db = audit::Db::connect(&db_url(&app.env)).await.unwrap();
    let mut out = Vec::new();
    db.export(None, 0, None, |e| {
        out.push(e);
        Ok(())
    })
    .await
    .unwrap();
    db.close().await;
    out
}

async fn post_json(app: &WebApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    client()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn try_token(app: &WebApp, user: &str) -> Option<String> {
    let r = client()
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    if r.status() != 201 {
        return None;
    }
    Some(r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string())
}

/// HIGH-1: an administratör who makes two handläggare accounts cannot get a
/// four-eyes decision out alone; everything they do is in the audit log.
#[tokio::test]
async fn one_administrator_cannot_get_a_four_eyes_decision_out_alone_sqlite() {
    one_administrator_alone(Engine::Sqlite).await;
}

#[tokio::test]
async fn one_administrator_cannot_get_a_four_eyes_decision_out_alone_postgres() {
    one_administrator_alone(Engine::Postgres).await;
}

async fn one_administrator_alone(engine: Engine) {
    let app = WebApp::start(engine).await;
    // A second administratör, a different person.
    app.add_user("alva", &["administrator"], Some(OFFICIAL_PERSONNUMMER[6]))
        .await;
    let big = ruleset().join("tests/01-ensamstaende-utan-inkomst.json");
    app.seed(&[big]).await;
    let case = app.awaiting().await[0];

    let adam = app.login("adam").await;
    let mk = |user: &'static str, name: &'static str, pnr: &'static str| {
        [
            ("anvandarnamn", user),
            ("namn", name),
            ("losenord", PASSWORD),
            ("personnummer", pnr),
            ("handlaggare", "1"),
        ]
    };
    // A display name of a colleague (bo's) is refused.
    let r = adam
        .post(
            "/admin/anvandare",
            &mk("evil0", "bo Testsson", OFFICIAL_PERSONNUMMER[5]),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("används redan"));
    // A username with a personnummer in it is refused when made.
    let r = adam
        .post(
            "/admin/anvandare",
            &mk("h.197904129637", "Hemlig Person", OFFICIAL_PERSONNUMMER[5]),
        )
        .await;
    assert_eq!(r.status(), 422);
    // A handläggare without a personnummer is refused.
    let r = adam.post("/admin/anvandare", &mk("evil0", "Eve Ondsson", "")).await;
    assert_eq!(r.status(), 422);
    // Two accounts of one person (the same personnummer).
    let r = adam
        .post("/admin/anvandare", &mk("evil", "Eve Ondsson", OFFICIAL_PERSONNUMMER[5]))
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        crate::web_support::location(&r).contains("klart=begard"),
        "the role waits"
    );
    let r = adam
        .post(
            "/admin/anvandare",
            &mk("evil2", "Eve Ondsson", OFFICIAL_PERSONNUMMER[5]),
        )
        .await;
    assert_eq!(r.status(), 303, "one person may have two accounts under one name");

    // The roles are not given yet: the accounts cannot decide.
    let evil = try_token(&app, "evil").await.expect("evil can sign in");
    let r = post_json(&app, &format!("/api/v1/cases/{case}/approve"), &evil, json!({})).await;
    assert_eq!(r.status(), 403, "no role before a second administratör");

    // adam cannot approve the roles he asked for.
    let requests = app.runtime.store.role_requests(true).await.unwrap();
    assert_eq!(requests.len(), 2);
    let html = adam.get("/admin/anvandare").await.text().await.unwrap();
    assert!(html.contains("väntar på en andra administratör"), "{html}");
    for q in &requests {
        let r = adam
            .post(&format!("/admin/rollbegaran/{}", q.id), &[("atgard", "godkann")])
            .await;
        assert_eq!(r.status(), 422, "the administratör who asked cannot grant");
    }
    // An administratör cannot make themself a handläggare either.
    let me = app.runtime.store.user_by_name("adam").await.unwrap().unwrap();
    let r = adam
        .post(
            &format!("/admin/anvandare/{}/roll", me.id),
            &[("roll", "handlaggare"), ("atgard", "ge")],
        )
        .await;
    assert_eq!(r.status(), 422);

    // A second administratör grants both (they could collude; it is logged).
    let alva = app.login("alva").await;
    for q in &requests {
        let r = alva
            .post(&format!("/admin/rollbegaran/{}", q.id), &[("atgard", "godkann")])
            .await;
        assert_eq!(r.status(), 303, "granted by a second administratör");
    }
    // Two accounts, one person: the second approval is refused. (An
    // amendment always needs four eyes.)
    let evil = try_token(&app, "evil").await.unwrap();
    let evil2 = try_token(&app, "evil2").await.unwrap();
    let r = post_json(
        &app,
        &format!("/api/v1/cases/{case}/amend"),
        &evil,
        json!({
            "changes": [{"op": "add", "section": "costs", "label": "Resekostnad", "amount_ore": 1_000_000, "reason": "Biljetter finns."}],
            "motivering": "Resan är nödvändig.",
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["result"], "awaiting_second_approval");
    let r = post_json(&app, &format!("/api/v1/cases/{case}/approve"), &evil2, json!({})).await;
    assert_eq!(r.status(), 403, "four eyes are two persons");
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "same_approver");
    let mut tx = app.runtime.store.begin().await.unwrap();
    assert!(
        tx.outbox_for_case(case, domain::LetterKind::Beslut)
            .await
            .unwrap()
            .is_none(),
        "nothing sent"
    );
    drop(tx);
    // A different person can.
    let bo = app.token("bo").await;
    let r = post_json(&app, &format!("/api/v1/cases/{case}/approve"), &bo, json!({})).await;
    assert_eq!(r.status(), 200);

    // Who did what is in the log.
    let ev = events(&app).await;
    let find = |kind: &str, actor: &str| ev.iter().filter(|e| e.kind == kind && e.actor == actor).count();
    assert_eq!(find("user_added", "user:adam"), 2);
    assert_eq!(find("role_requested", "user:adam"), 2);
    assert_eq!(find("role_granted", "user:alva"), 2);
    assert!(ev.iter().any(|e| e.kind == "amended" && e.actor == "user:evil"));
    assert!(!ev.iter().any(|e| e.kind == "approved" && e.actor == "user:evil2"));
    // No personnummer in the public part of any event.
    for e in &ev {
        assert!(
            !audit::event::contains_personnummer(&e.payload.to_string()),
            "{}",
            e.kind
        );
    }
    app.stop().await;
}

/// MEDIUM-4: the log records what was decided, and `verify --cases` finds a
/// case store changed behind its back. LOW-8: the amending official's event
/// is `amended`, the second approver's `approved`.
#[tokio::test]
async fn the_case_store_is_held_to_the_log_sqlite() {
    case_store_held_to_the_log(Engine::Sqlite).await;
}

#[tokio::test]
async fn the_case_store_is_held_to_the_log_postgres() {
    case_store_held_to_the_log(Engine::Postgres).await;
}

async fn case_store_held_to_the_log(engine: Engine) {
    let app = WebApp::start(engine).await;
    let ids = app.seed(&[]).await;
    let awaiting = app.awaiting().await;
    let (anna, bo) = (app.token("anna").await, app.token("bo").await);
    // An amendment by anna, approved by bo.
    let amended = awaiting[0];
    let r = post_json(
        &app,
        &format!("/api/v1/cases/{amended}/amend"),
        &anna,
        json!({
            "changes": [{"op": "add", "section": "costs", "label": "Tandvård", "amount_ore": 120_000, "reason": "Kostnadsförslag från tandläkaren."}],
            "motivering": "Tandvården är nödvändig.",
        }),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post_json(&app, &format!("/api/v1/cases/{amended}/approve"), &bo, json!({})).await;
    assert_eq!(r.status(), 200);
    // A first approval left pending, a comment, an assignment.
    let pending = awaiting[1];
    let r = post_json(
        &app,
        &format!("/api/v1/cases/{pending}/amend"),
        &anna,
        json!({
            "changes": [{"op": "add", "section": "costs", "label": "Glasögon", "amount_ore": 150_000, "reason": "Recept från optiker."}],
            "motivering": "Glasögon behövs för arbetet.",
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let b = app.login("anna").await;
    let r = b
        .post(
            &format!("/arenden/{}/kommentar", awaiting[2]),
            &[("text", "Ring den sökande.")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let bo_id = app.runtime.store.user_by_name("bo").await.unwrap().unwrap().id;
    let r = post_json(
        &app,
        &format!("/api/v1/cases/{}/assign", awaiting[3]),
        &anna,
        json!({"user_id": bo_id}),
    )
    .await;
    assert_eq!(r.status(), 200);

    let ev = events(&app).await;
    let of = |case: i64| -> Vec<&audit::store::ExportedEvent> {
        ev.iter()
            .filter(|e| e.case.as_deref() == Some(&format!("case:{case}")))
            .collect()
    };
    let decided: Vec<_> = of(amended)
        .into_iter()
        .filter(|e| e.kind == "amended" || e.kind == "approved")
        .collect();
    assert_eq!(decided.len(), 2);
    assert_eq!(
        (decided[0].kind.as_str(), decided[0].actor.as_str()),
        ("amended", "user:anna")
    );
    assert_eq!(
        (decided[1].kind.as_str(), decided[1].actor.as_str()),
        ("approved", "user:bo")
    );
    for e in &decided {
        assert!(e.payload["record_sha256"].as_str().unwrap().starts_with("sha256:"));
        assert!(e.payload["application_sha256"].as_str().unwrap().starts_with("sha256:"));
        assert!(e.payload["state"].is_string());
        assert_eq!(e.personal.len(), 1, "the record, sealed for the applicant");
    }

    let db = audit::Db::connect(&db_url(&app.env)).await.unwrap();
    let clean = robot_runtime::audit_cases::check(&db).await.unwrap();
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert_eq!(clean.cases, ids.len());

    // Tamper with the case store as an insider with database access would.
    let doc_case = awaiting[4];
    let change_document = match &db {
        Db::Sqlite(_) => {
            format!("UPDATE applications SET document = replace(document, 'rent', 'rent ') WHERE case_id = {doc_case}")
        }
        Db::Postgres(_) => format!(
            "UPDATE applications SET document = convert_to(replace(convert_from(document, 'UTF8'), 'rent', 'rent '), 'UTF8') WHERE case_id = {doc_case}"
        ),
    };
    for sql in [
        change_document,
        format!("UPDATE cases SET state = 'approved' WHERE id = {}", awaiting[5]),
        format!("UPDATE decisions SET amount_ore = 100 WHERE case_id = {pending} AND final = false"),
        format!("DELETE FROM comments WHERE case_id = {}", awaiting[2]),
        format!("UPDATE cases SET assigned_to = NULL WHERE id = {}", awaiting[3]),
    ] {
        match &db {
            Db::Sqlite(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
            }
            Db::Postgres(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
            }
        }
    }
    let report = robot_runtime::audit_cases::check(&db).await.unwrap();
    let named = |case: i64, words: &str| report.findings.iter().any(|f| f.case == case && f.what.contains(words));
    assert!(named(doc_case, "application document"), "{:?}", report.findings);
    assert!(named(awaiting[5], "state is approved"), "{:?}", report.findings);
    assert!(named(pending, "amount"), "{:?}", report.findings);
    assert!(named(awaiting[2], "comment"), "{:?}", report.findings);
    assert!(named(awaiting[3], "assignment"), "{:?}", report.findings);
    let touched = [doc_case, awaiting[5], pending, awaiting[2], awaiting[3]];
    assert!(
        report.findings.iter().all(|f| touched.contains(&f.case)),
        "only the changed cases are named: {:?}",
        report.findings
    );
    db.close().await;
    app.stop().await;
}

use audit::Db;

/// MEDIUM-7: reads are logged with the reader; a regelförfattare sees no
/// personal data; a revisor lists who read a case.
#[tokio::test]
async fn reads_are_logged_and_rule_authors_see_cases_pseudonymised() {
    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[]).await;
    let case = app.awaiting().await[0];
    let anna = app.token("anna").await;
    let r = client()
        .get(app.url(&format!("/api/v1/cases/{case}")))
        .bearer_auth(&anna)
        .send()
        .await
        .unwrap();
    let full = r.text().await.unwrap();
    assert!(
        audit::event::contains_personnummer(&full),
        "a handläggare sees the application"
    );

    let rut = app.token("rut").await;
    let r = client()
        .get(app.url(&format!("/api/v1/cases/{case}")))
        .bearer_auth(&rut)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["pseudonymised"], true);
    let text = body.to_string();
    assert!(
        !audit::event::contains_personnummer(&text),
        "no personnummer for a rule author"
    );
    let full: Value = serde_json::from_str(&full).unwrap();
    for adult in full["application"]["household"]["adults"].as_array().unwrap() {
        let name = adult["name"].as_str().unwrap();
        assert!(!text.contains(name), "the name {name} is hidden");
    }
    let b = app.login("rut").await;
    let page = b.get(&format!("/arenden/{case}")).await.text().await.unwrap();
    assert!(page.contains("utan personuppgifter"));
    assert!(!audit::event::contains_personnummer(&page));
    assert_eq!(b.get(&format!("/arenden/{case}/beslutsbrev")).await.status(), 403);

    let vera = app.login("vera").await;
    let html = vera
        .get(&format!("/granskning/lasningar?arende={case}"))
        .await
        .text()
        .await
        .unwrap();
    for who in ["anna", "rut"] {
        assert!(html.contains(&format!("<td>{who}</td>")), "{who} is listed: {html}");
    }
    // By personnummer: the applicant's cases.
    let pnr = full["application"]["household"]["adults"][0]["personnummer"]
        .as_str()
        .unwrap();
    let html = vera
        .get(&format!("/granskning/lasningar?personnummer={pnr}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("/arenden/{case}\"")), "{html}");
    let reads = app.runtime.store.case_reads(case).await.unwrap();
    assert!(
        reads
            .iter()
            .any(|(_, a, p)| a == "user:rut" && p["pseudonymised"] == true)
    );
    app.stop().await;
}

/// MEDIUM-8 and LOW-1: a conflicted official cannot open, comment on or be
/// assigned their own household's case; assignment goes only to active
/// deciding officials.
#[tokio::test]
async fn jav_and_assignment_are_enforced() {
    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[]).await;
    let case = app.awaiting().await[0];
    let anna = app.token("anna").await;
    let doc: Value = client()
        .get(app.url(&format!("/api/v1/cases/{case}")))
        .bearer_auth(&anna)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pnr = doc["application"]["household"]["adults"][0]["personnummer"]
        .as_str()
        .unwrap()
        .to_string();
    let jav_id = app.add_user("jav", &["handlaggare"], Some(&pnr)).await;
    let jav = app.token("jav").await;
    let r = client()
        .get(app.url(&format!("/api/v1/cases/{case}")))
        .bearer_auth(&jav)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let b = app.login("jav").await;
    assert_eq!(b.get(&format!("/arenden/{case}")).await.status(), 403);
    let r = b.post(&format!("/arenden/{case}/kommentar"), &[("text", "Hej")]).await;
    assert_eq!(r.status(), 403);
    let r = post_json(
        &app,
        &format!("/api/v1/cases/{case}/assign"),
        &jav,
        json!({"user_id": jav_id}),
    )
    .await;
    assert_eq!(r.status(), 403);

    let vera = app.runtime.store.user_by_name("vera").await.unwrap().unwrap().id;
    for to in [jav_id, vera, 99_999, -5] {
        let r = post_json(
            &app,
            &format!("/api/v1/cases/{case}/assign"),
            &anna,
            json!({"user_id": to}),
        )
        .await;
        assert_eq!(r.status(), 422, "assign to {to}");
    }
    let bo = app.runtime.store.user_by_name("bo").await.unwrap().unwrap().id;
    let r = post_json(
        &app,
        &format!("/api/v1/cases/{case}/assign"),
        &anna,
        json!({"user_id": bo}),
    )
    .await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

/// LOW-4: amounts have a plausible bound, rows a count, texts no control
/// characters.
#[tokio::test]
async fn amounts_rows_and_texts_are_bounded() {
    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[]).await;
    let case = app.awaiting().await[0];
    let anna = app.token("anna").await;
    let amend = |amount: i64, motivering: &str| {
        json!({
            "changes": [{"op": "add", "section": "costs", "label": "Kostnad", "amount_ore": amount, "reason": "Underlag finns."}],
            "motivering": motivering,
        })
    };
    for (amount, motivering) in [
        (9_223_372_036_854_775_800, "Stort belopp."),
        (100_000_100, "Strax över gränsen."),
        (100_000, "a\u{0}b\u{1b}[31m"),
    ] {
        let r = post_json(
            &app,
            &format!("/api/v1/cases/{case}/amend"),
            &anna,
            amend(amount, motivering),
        )
        .await;
        assert_eq!(r.status(), 422, "{amount} {motivering:?}: {}", r.text().await.unwrap());
    }
    let many: Vec<Value> = (0..61)
        .map(|i| json!({"op": "add", "section": "costs", "label": format!("Rad {i}"), "amount_ore": 100, "reason": "Underlag."}))
        .collect();
    let r = post_json(
        &app,
        &format!("/api/v1/cases/{case}/amend"),
        &anna,
        json!({"changes": many, "motivering": "Många rader."}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = post_json(
        &app,
        &format!("/api/v1/cases/{case}/amend"),
        &anna,
        amend(100_000, "Rimligt belopp."),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    app.stop().await;
}

/// LOW-7: a username with a personnummer is refused when the account is made.
#[test]
fn usernames_are_checked_once_when_made() {
    use robot_runtime::accounts::check_username;
    assert!(check_username("h.197904129637").is_err());
    assert!(check_username("h.790412-9637").is_err());
    assert!(check_username("Anna.Svensson").is_ok_and(|u| u == "anna.svensson"));
    assert!(check_username("anna svensson").is_err());
}
