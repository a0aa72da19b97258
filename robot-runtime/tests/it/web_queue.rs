//! The work queue as officials use it (issue 12): search on name,
//! personnummer and diarienummer, counts that match the filters, the view
//! of cases waiting for me as second reviewer, the pending decision's
//! amount, days from the application's own date, and the backfill of an
//! older database. Only Skatteverket's test personnummer.

use crate::support::{Engine, ruleset};
use crate::web_support::*;
use serde_json::{Value, json};

/// Writes applications made from a shipped case with other people, ids
/// and received dates; returns the files.
fn applications(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let one = |ext: &str, name: &str, pnr: &str, received: &str| {
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(ruleset().join("tests/01-ensamstaende-utan-inkomst.json")).unwrap())
                .unwrap();
        v["external_id"] = json!(ext);
        v["household"]["adults"][0]["name"] = json!(name);
        v["received_at"] = json!(received);
        // The person everywhere the application names them (register too).
        serde_json::from_str::<Value>(&v.to_string().replace("198112189876", pnr)).unwrap()
    };
    let mut two: Value =
        serde_json::from_slice(&std::fs::read(ruleset().join("tests/03-sambor-tva-barn.json")).unwrap()).unwrap();
    two["external_id"] = json!("KO-C3");
    two["household"]["adults"][0]["name"] = json!("Mårten Ek");
    two["household"]["adults"][1]["name"] = json!("Lena Ek");
    let docs = [
        (
            "a",
            one("KO-A1", "Åsa Östlund", "198709149838", "2021-02-20T09:30:00+01:00"),
        ),
        (
            "b",
            one("KO-B2", "Tolvan Exempel", "198112189876", "2021-03-02T09:30:00+01:00"),
        ),
        ("c", two),
    ];
    docs.iter()
        .map(|(n, v)| {
            let f = dir.join(format!("ko-{n}.json"));
            std::fs::write(&f, v.to_string()).unwrap();
            f
        })
        .collect()
}

struct Api {
    base: String,
    token: String,
}

impl Api {
    async fn list(&self, query: &str) -> Value {
        let r = client()
            .get(format!("{}/api/v1/cases?state=alla&limit=500&{query}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{query}");
        r.json().await.unwrap()
    }

    /// The external ids a search finds.
    async fn found(&self, q: &str) -> Vec<String> {
        let v = self.list(&format!("q={}", urlencode(q))).await;
        let mut ids: Vec<String> = v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["external_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn seeded(engine: Engine) -> (WebApp, tempfile::TempDir) {
    let app = WebApp::start(engine).await;
    let dir = tempfile::tempdir().unwrap();
    app.seed(&applications(dir.path())).await;
    (app, dir)
}

async fn check_search(app: &WebApp) {
    let api = Api {
        base: app.base.clone(),
        token: app.token("anna").await,
    };
    let a = ["KO-A1"];
    let ac = ["KO-A1", "KO-C3"];
    for (q, want) in [
        ("ostlund", &a[..]),
        ("ÖSTL", &a[..]),
        ("Åsa öst", &a[..]),
        ("lund", &a[..]),
        ("198709149838", &ac[..]),
        ("19870914-9838", &ac[..]),
        ("8709149838", &ac[..]),
        ("870914-9838", &ac[..]),
        ("9838", &ac[..]),
        ("marten", &["KO-C3"][..]),
        ("ek lena", &["KO-C3"][..]),
        ("tolvan 9876", &["KO-B2"][..]),
        ("ko-b2", &["KO-B2"][..]),
        ("östlund 9876", &[][..]),
    ] {
        assert_eq!(api.found(q).await, want, "search {q:?}");
    }
    // By diarienummer, as the API gives it.
    let v = api.list("q=ostlund").await;
    let dnr = v["cases"][0]["diarienummer"].as_str().unwrap().to_string();
    assert_eq!(api.found(&dnr).await, a, "search {dnr:?}");

    // The page: the count of the view is the number of rows it lists, and
    // the views' counts follow the search.
    let b = app.login("anna").await;
    let html = b.get("/arenden?status=alla&q=9838").await.text().await.unwrap();
    assert!(html.contains("<strong>2 ärenden</strong>"), "{html}");
    assert_eq!(html.matches("<th scope=\"row\">").count(), 2);
    assert!(html.contains("Alla <span class=\"tal\">2</span>"), "{html}");
    assert!(html.contains("Åsa Östlund <span class=\"pnr\">19870914-9838</span>"));
    assert!(html.contains("Mårten Ek <span class=\"pnr\">19850403-9820</span>"));
    assert!(html.contains("Lena Ek <span class=\"pnr\">19870914-9838</span>"));
    assert!(html.contains("mars 2021"), "the period in words");
    assert!(html.contains("name=\"q\" type=\"search\" value=\"9838\""));
    assert!(html.contains("sökning ”9838”"), "the title names the search");
    // The search is in every link of the page (views, sorting, pages).
    for href in html.split("href=\"/arenden?").skip(1) {
        let href = href.split('"').next().unwrap();
        assert!(href.contains("q=9838"), "{href}");
    }
    let all = b.get("/arenden?status=alla").await.text().await.unwrap();
    let n = api.list("").await["cases"].as_array().unwrap().len();
    assert!(all.contains(&format!("<strong>{n} ärenden</strong>")), "{all}");
}

#[tokio::test]
async fn queue_search_finds_name_personnummer_and_diarienummer_sqlite() {
    let (app, _dir) = seeded(Engine::Sqlite).await;
    check_search(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn queue_search_finds_name_personnummer_and_diarienummer_postgres() {
    let (app, _dir) = seeded(Engine::Postgres).await;
    check_search(&app).await;
    app.stop().await;
}

async fn case_of(app: &WebApp, ext: &str) -> i64 {
    app.runtime
        .store
        .list_cases(None, None, 10_000, 0)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.external_id == ext)
        .unwrap()
        .id
}

async fn check_second_reviewer(app: &WebApp) {
    let case = case_of(app, "KO-B2").await;
    let anna = app.token("anna").await;
    // Anna amends: the decision waits for a second official.
    let amend = json!({
        "changes": [{"op": "add", "section": "costs", "label": "Tandvård", "amount_ore": 50_000, "reason": "Kostnadsförslag från tandläkaren."}],
        "motivering": "Tandvården är nödvändig."
    });
    let r = client()
        .post(app.url(&format!("/api/v1/cases/{case}/amend")))
        .bearer_auth(&anna)
        .json(&amend)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let record = robot_runtime::approval::case_view(&app.runtime.store, case)
        .await
        .unwrap()
        .record
        .unwrap();

    let bo = app.login("bo").await;
    let html = bo.get("/arenden?vy=andra-granskare").await.text().await.unwrap();
    assert!(html.contains(&format!("href=\"/arenden/{case}\"")), "{html}");
    assert!(html.contains("<strong>1 ärende</strong>"), "{html}");
    assert!(html.contains("Väntar på mig som andra granskare <span class=\"tal\">1</span>"));
    assert!(html.contains("aria-current=\"page\">Väntar på mig som andra granskare"));
    assert!(html.contains(&record.amount.to_string()), "the pending amount");
    assert!(html.contains("<span class=\"not\">ändrat</span>"));
    assert!(html.contains("Väntar på andra granskare (godkänt av"));
    let title = html.split("<title>").nth(1).unwrap().split("</title>").next().unwrap();
    assert!(title.contains("Väntar på mig som andra granskare"), "{title}");

    let a = app.login("anna").await;
    let html = a.get("/arenden?vy=andra-granskare").await.text().await.unwrap();
    assert!(
        !html.contains(&format!("href=\"/arenden/{case}\"")),
        "not for the first approver"
    );
    assert!(html.contains("<strong>0 ärenden</strong>"));

    // The API's list has the pending decision's amount too.
    let v: Value = client()
        .get(app.url("/api/v1/cases?state=awaiting_second_approval"))
        .bearer_auth(&anna)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["cases"][0]["amount_ore"], json!(record.amount.ore()));
}

#[tokio::test]
async fn queue_second_reviewer_view_and_pending_amount_sqlite() {
    let (app, _dir) = seeded(Engine::Sqlite).await;
    check_second_reviewer(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn queue_second_reviewer_view_and_pending_amount_postgres() {
    let (app, _dir) = seeded(Engine::Postgres).await;
    check_second_reviewer(&app).await;
    app.stop().await;
}

/// The "Dagar" cell of a case's row.
fn days_of(html: &str, case: i64) -> String {
    let row = html.split(&format!("href=\"/arenden/{case}\"")).nth(1).unwrap();
    let cell = row.split("data-label=\"Dagar\" class=\"tal\">").nth(1).unwrap();
    cell.split('<').next().unwrap().to_string()
}

#[tokio::test]
async fn queue_days_count_from_the_application_and_sort_by_them() {
    let (app, _dir) = seeded(Engine::Sqlite).await;
    let (a, b) = (case_of(&app, "KO-A1").await, case_of(&app, "KO-B2").await);
    let anna = app.login("anna").await;
    // The clock is 2021-03-10 09:00 UTC; A came in 2021-02-20, B 2021-03-02.
    let html = anna.get("/arenden?status=alla").await.text().await.unwrap();
    assert_eq!(days_of(&html, a), "18");
    assert_eq!(days_of(&html, b), "8");
    assert!(
        html.find(&format!("/arenden/{a}\"")) < html.find(&format!("/arenden/{b}\"")),
        "oldest first"
    );
    let th = |html: &str| html.split("<th").find(|t| t.contains(">Dagar<")).unwrap().to_string();
    let dagar = th(&html);
    assert!(
        dagar.contains("aria-sort=\"descending\"") && dagar.contains("sortering=nyast"),
        "{dagar}"
    );
    let html = anna
        .get("/arenden?status=alla&sortering=nyast")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.find(&format!("/arenden/{b}\"")) < html.find(&format!("/arenden/{a}\"")));
    let dagar = th(&html);
    assert!(
        dagar.contains("aria-sort=\"ascending\"") && dagar.contains("sortering=aldst"),
        "{dagar}"
    );
    // The age filter counts from the application too.
    let html = anna
        .get("/arenden?status=alla&alder=8-30&q=ostlund")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("/arenden/{a}\"")));
    let html = anna
        .get("/arenden?status=alla&alder=0-7&q=ostlund")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&format!("/arenden/{a}\"")));
    app.clock.advance(chrono::Duration::days(2));
    let anna = app.login("anna").await;
    let html = anna.get("/arenden?status=alla").await.text().await.unwrap();
    assert_eq!(days_of(&html, a), "20");
    app.stop().await;
}

async fn forget_queue_rows(app: &WebApp) {
    let sql = [
        "DELETE FROM case_terms",
        "DELETE FROM case_people",
        "UPDATE cases SET applied_us = NULL, assessments = 0",
    ];
    for s in sql {
        if let Some(p) = app.runtime.store.sqlite_pool() {
            sqlx::query(s).execute(p).await.unwrap();
        } else if let Some(p) = app.runtime.store.postgres_pool() {
            sqlx::query(s).execute(p).await.unwrap();
        }
    }
}

async fn check_backfill(engine: Engine) {
    let (app, dir) = seeded(engine).await;
    forget_queue_rows(&app).await;
    let token = app.token("anna").await;
    let api = Api {
        base: app.base.clone(),
        token: token.clone(),
    };
    assert!(api.found("ostlund").await.is_empty(), "forgotten");
    let (env, clock) = app.stop().await;
    // Started again: the stored documents are read again.
    let app = WebApp::start_with(env, clock).await;
    let api = Api {
        base: app.base.clone(),
        token: app.token("anna").await,
    };
    assert_eq!(api.found("ostlund").await, ["KO-A1"]);
    assert_eq!(api.found("9838").await, ["KO-A1", "KO-C3"]);
    let v = api.list("q=ostlund").await;
    assert_eq!(v["cases"][0]["application_received"], "2021-02-20T08:30:00+00:00");
    // Once is enough: a third start finds nothing to do and changes nothing.
    let (env, clock) = app.stop().await;
    let app = WebApp::start_with(env, clock).await;
    let api = Api {
        base: app.base.clone(),
        token: app.token("anna").await,
    };
    assert_eq!(api.found("9838").await, ["KO-A1", "KO-C3"]);
    app.stop().await;
    drop(dir);
}

#[tokio::test]
async fn queue_backfill_fills_an_older_database_sqlite() {
    check_backfill(Engine::Sqlite).await;
}

#[tokio::test]
async fn queue_backfill_fills_an_older_database_postgres() {
    check_backfill(Engine::Postgres).await;
}

/// A broad search (one word matching 2,000 terms or more) walks the
/// sort order instead of sorting its matches: the same rows in the same
/// order as a narrow one would give, on both engines.
async fn check_broad_search(engine: Engine) {
    use robot_runtime::store::queue::{QueueFilter, QueueSort};
    use robot_runtime::store::{CasePerson, NewCase};
    let env = crate::support::TestEnv::new(engine).await;
    let clock = crate::support::clock_at("2026-12-10T09:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let pnrs = ["198112189876", "198504039820", "198709149838"];
    let start: chrono::DateTime<chrono::Utc> = "2026-10-01T08:00:00Z".parse().unwrap();
    let n = 2_100usize;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let cases: Vec<NewCase> = chunk
            .iter()
            .map(|&k| NewCase {
                source: "s".into(),
                external_id: format!("BRED-{k}"),
                source_ref: format!("{k}.json"),
                robot: "r1".into(),
                run_id: None,
                document: format!("{{\"k\": {k}}}").into_bytes(),
                period: Some("2026-12".into()),
                subjects: vec![],
                adults: 0,
                refused: None,
                people: vec![CasePerson {
                    role: "Sökande".into(),
                    name: Some(if k % 2 == 0 { "Anna Lindström" } else { "Bo Lindgren" }.into()),
                    personnummer: domain::Personnummer::parse(pnrs[k % 3], day).unwrap(),
                }],
                // Received in an order unlike the ids.
                applied: Some(start + chrono::Duration::minutes(((k * 7919) % n) as i64)),
                correlation_id: String::new(),
            })
            .collect();
        rt.store.insert_cases(&cases).await.unwrap();
    }
    let page = |q: &str| {
        let f = QueueFilter {
            search: Some(q.into()),
            ..QueueFilter::default()
        };
        let store = rt.store.clone();
        async move { store.queue(&f, QueueSort::Oldest, 50, 100).await.unwrap() }
    };
    // "lind" matches every case (2,100 terms): broad, walked in order.
    // "anna" (half) and "9876" (a third) are narrow, so "anna lind" and
    // "lind 9876" start from their terms: the same answer either way.
    for (q, every) in [("lind", 1), ("anna lind", 2), ("lind 9876", 3)] {
        let p = page(q).await;
        assert_eq!(p.rows.len(), 50, "{q}");
        assert!(p.has_more);
        let want: Vec<usize> = {
            let mut v: Vec<usize> = (0..n)
                .filter(|k| match every {
                    2 => k % 2 == 0,
                    3 => k % 3 == 0,
                    _ => true,
                })
                .collect();
            v.sort_by_key(|&k| ((k * 7919) % n, k));
            v.into_iter().skip(100).take(50).collect()
        };
        let got: Vec<String> = p.rows.iter().map(|r| r.external_id.clone()).collect();
        let want: Vec<String> = want.iter().map(|k| format!("BRED-{k}")).collect();
        assert_eq!(got, want, "{q}");
        let f = QueueFilter {
            search: Some(q.into()),
            ..QueueFilter::default()
        };
        let total: i64 = rt.store.queue_counts(&f).await.unwrap().iter().map(|(_, c)| c).sum();
        assert_eq!(total as usize, n / every, "{q}");
        // The page's counts stop at 2,000 for a broad search.
        let (tally, capped) = rt.store.queue_tally(&f, 1).await.unwrap();
        let counted: i64 = tally.iter().map(|t| t.all).sum();
        if every == 1 {
            assert!(capped && counted == 2_001, "{q}: {counted}");
        } else {
            assert!(!capped && counted as usize == n / every, "{q}: {counted}");
        }
    }
}

#[tokio::test]
async fn queue_broad_search_walks_the_sort_order_sqlite() {
    check_broad_search(Engine::Sqlite).await;
}

#[tokio::test]
async fn queue_broad_search_walks_the_sort_order_postgres() {
    check_broad_search(Engine::Postgres).await;
}
