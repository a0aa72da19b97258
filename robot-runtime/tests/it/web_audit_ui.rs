//! The revisor's event list, one event and its proof
//! (`/granskning/handelser…`) through the real service, on both engines:
//! filters by case, actor, kind and time against the log read another way
//! (`audit::Db::export`), paging, a downloaded proof checked as `hrobot
//! audit verify-proof` checks it, refusal for other roles, and bad filter
//! input given back with its errors.

use crate::support::Engine;
use crate::web_support::{Browser, WebApp};
use audit::offline::{Verdict, verify_file};
use audit::store::ExportedEvent;
use domain::CaseState;

/// Every event of the log, oldest first, read without the listing's SQL.
async fn all_events(app: &WebApp) -> Vec<ExportedEvent> {
    let mut out = Vec::new();
    app.runtime
        .store
        .audit_db()
        .export(None, 0, None, |e| {
            out.push(e);
            Ok(())
        })
        .await
        .unwrap();
    out
}

/// The event numbers a list page shows, in its order.
fn listed(html: &str) -> Vec<u64> {
    html.match_indices("href=\"/granskning/handelser/")
        .filter_map(|(at, m)| {
            let rest = &html[at + m.len()..];
            let end = rest.find('"')?;
            rest[..end].strip_suffix("/bevis")?.parse().ok()
        })
        .collect()
}

/// The newest first, at most a page.
fn newest(events: &[ExportedEvent], keep: impl Fn(&ExportedEvent) -> bool) -> Vec<u64> {
    let mut v: Vec<u64> = events.iter().filter(|e| keep(e)).map(|e| e.seq).collect();
    v.reverse();
    v.truncate(50);
    v
}

async fn page(b: &Browser, path: &str) -> (u16, String) {
    let r = b.get(path).await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// The `href` of a link with this text.
fn link(html: &str, text: &str) -> Option<String> {
    let end = html.find(&format!(">{text}</a>"))?;
    let start = html[..end].rfind("href=\"")? + 6;
    let href = &html[start..end];
    Some(href[..href.find('"')?].replace("&amp;", "&").replace("&#38;", "&"))
}

async fn check(engine: Engine) {
    let app = WebApp::start(engine).await;
    app.seed(&[]).await;
    let awaiting = app.awaiting().await;
    let anna = app.login("anna").await;
    // Anna approves a case (or gives it its first approval).
    let case = awaiting[0];
    let r = anna
        .post(&format!("/arenden/{case}/godkann"), &[("steg", "bekrafta")])
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    // The outbox sends the decision on its own: wait for it, so that the
    // log holds still while it is compared.
    for _ in 0..500 {
        let state = app.runtime.store.case_detail(case).await.unwrap().summary.state;
        if matches!(state, CaseState::Sent | CaseState::AwaitingSecondApproval) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Two days later Bo comments on another case.
    app.clock.advance(chrono::Duration::days(2));
    let bo = app.login("bo").await;
    let other = awaiting[1];
    let r = bo
        .post(
            &format!("/arenden/{other}/kommentar"),
            &[("text", "Kollar inkomsterna.")],
        )
        .await;
    assert_eq!(r.status(), 303);

    let vera = app.login("vera").await;
    let (s, html) = page(&vera, "/granskning").await;
    assert_eq!(s, 200);
    assert!(
        html.contains("href=\"/granskning/handelser\""),
        "linked from /granskning"
    );

    let events = all_events(&app).await;
    let case_ref = format!("case:{case}");
    let checks: Vec<(String, Vec<u64>)> = vec![
        (
            format!("/granskning/handelser?arende={case}"),
            newest(&events, |e| e.case.as_deref() == Some(case_ref.as_str())),
        ),
        (
            "/granskning/handelser?utford_av=anna".into(),
            newest(&events, |e| e.actor == "user:anna"),
        ),
        (
            "/granskning/handelser?typ=commented".into(),
            newest(&events, |e| e.kind == "commented"),
        ),
        (
            format!("/granskning/handelser?typ=approved&utford_av=user%3Aanna&arende={case}"),
            newest(&events, |e| {
                e.kind == "approved" && e.actor == "user:anna" && e.case.as_deref() == Some(case_ref.as_str())
            }),
        ),
        // Swedish dates: the seeding day, and from two days later on.
        (
            "/granskning/handelser?fran=2021-03-10&till=2021-03-10".into(),
            newest(&events, |e| e.time.starts_with("2021-03-10")),
        ),
        (
            "/granskning/handelser?fran=2021-03-12".into(),
            newest(&events, |e| e.time.starts_with("2021-03-12")),
        ),
        ("/granskning/handelser?till=2021-03-09".into(), vec![]),
        ("/granskning/handelser".into(), newest(&events, |_| true)),
    ];
    for (path, want) in &checks {
        let (s, html) = page(&vera, path).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(&listed(&html), want, "{path}");
        assert!(!want.is_empty() || html.contains("Inga händelser hittades."), "{path}");
    }
    let approved = newest(&events, |e| e.kind == "approved" && e.actor == "user:anna")[0];
    let commented = newest(&events, |e| e.kind == "commented")[0];
    assert!(!listed(&page(&vera, "/granskning/handelser?fran=2021-03-12").await.1).contains(&approved));
    assert!(listed(&page(&vera, "/granskning/handelser?fran=2021-03-12").await.1).contains(&commented));
    // The row reads in Swedish and links to the case.
    let (_, html) = page(&vera, &format!("/granskning/handelser?arende={case}&typ=approved")).await;
    assert!(
        html.contains("<td>Godkänt</td>") && html.contains(&format!("href=\"/arenden/{case}\"")),
        "{html}"
    );
    assert!(html.contains("<th scope=\"col\">Utförd av</th>") && html.contains("<caption"));
    for word in ["payload", "JSON", "seq", "case:", "user:"] {
        assert!(!html.contains(&format!(">{word}")), "{word} shown");
    }

    // Paging: the whole log is more than a page; next and back again.
    assert!(events.len() > 50, "{} events", events.len());
    let (_, first) = page(&vera, "/granskning/handelser").await;
    assert!(first.contains("<title>Alla händelser, sida 1"));
    let next = link(&first, "Nästa sida (äldre)").expect("a next page");
    let (_, second) = page(&vera, &next).await;
    let want: Vec<u64> = events.iter().rev().skip(50).take(50).map(|e| e.seq).collect();
    assert_eq!(listed(&second), want);
    assert!(second.contains("<title>Alla händelser, sida 2"));
    let back = link(&second, "Föregående sida (nyare)").expect("a page before");
    assert_eq!(listed(&page(&vera, &back).await.1), listed(&first));
    // The filter stays on the pages' links.
    let (_, by_anna) = page(&vera, "/granskning/handelser?utford_av=anna").await;
    assert!(link(&by_anna, "Nästa sida (äldre)").is_none_or(|l| l.contains("utford_av=anna")));

    // One event, and its proof.
    let (s, html) = page(&vera, &format!("/granskning/handelser/{approved}")).await;
    assert_eq!(s, 200);
    assert!(html.contains(&format!("Händelse {approved}: Godkänt")), "{html}");
    assert!(html.contains("hrobot audit verify-proof"));
    assert!(!html.contains("(dolt)"));
    let r = vera.get(&format!("/granskning/handelser/{approved}/bevis")).await;
    assert_eq!(r.status(), 200);
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"granskningsbevis-{approved}.tlog-proof\"")
    );
    let bytes = r.bytes().await.unwrap().to_vec();
    let db = app.runtime.store.audit_db();
    // Byte for byte what `hrobot audit prove` writes.
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        db.prove(approved, None).await.unwrap().to_text()
    );
    let verifier = app.runtime.store.audit().verifier();
    match verify_file(&bytes, std::slice::from_ref(&verifier)).unwrap() {
        Verdict::Valid(_) => {}
        Verdict::Invalid(why) => panic!("the proof does not verify: {why}"),
    }
    // Against the log's own root, for the event's own leaf.
    let proof = audit::TlogProof::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
    let verified = proof.verify(std::slice::from_ref(&verifier)).unwrap();
    let latest = db.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(verified.checkpoint.checkpoint.root, latest.checkpoint.root);
    assert_eq!(proof.index, approved);
    let leaf = audit::LeafEvent::decode(proof.extra.as_ref().unwrap()).unwrap();
    assert_eq!((leaf.seq, leaf.kind.as_str()), (approved, "approved"));
    // A proof with a wrong byte does not verify.
    for at in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 10] {
        let mut bad = bytes.clone();
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        assert!(
            !matches!(
                verify_file(&bad, std::slice::from_ref(&verifier)),
                Ok(Verdict::Valid(_))
            ),
            "a changed byte at {at} went unnoticed"
        );
    }
    // An event that is not there.
    let missing = events.len() as u64 + 100;
    for p in [
        format!("/granskning/handelser/{missing}"),
        format!("/granskning/handelser/{missing}/bevis"),
        "/granskning/handelser/tolv".into(),
    ] {
        assert_eq!(vera.get(&p).await.status(), 404, "{p}");
    }
    // The verify button is on the list page and still works.
    let (_, html) = page(&vera, "/granskning/handelser").await;
    assert!(html.contains("action=\"/granskning/verifiera\""));
    let r = vera.post("/granskning/verifiera", &[]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Loggen är oförändrad"));

    // Bad input: the page again, each error at its field, the text kept.
    let (s, html) = page(
        &vera,
        "/granskning/handelser?arende=tolv&utford_av=anna%20svensson&typ=raderad&fran=ig%C3%A5r&till=2021-02-30",
    )
    .await;
    assert_eq!(s, 422);
    for want in [
        "Skriv ärendets nummer med siffror",
        "Skriv ett användarnamn",
        "Välj en händelse i listan.",
        "Skriv datumet som år-månad-dag, till exempel 2026-03-10.",
        "Skriv datumet som år-månad-dag, till exempel 2026-03-31.",
        "value=\"tolv\"",
        "value=\"anna svensson\"",
        "value=\"igår\"",
        "value=\"2021-02-30\"",
        "aria-invalid=\"true\"",
    ] {
        assert!(html.contains(want), "{want}:\n{html}");
    }
    assert!(listed(&html).is_empty());

    // Only a revisor (Anna's session from two days ago has gone idle).
    let anna = app.login("anna").await;
    for p in [
        "/granskning/handelser".to_string(),
        format!("/granskning/handelser/{approved}"),
        format!("/granskning/handelser/{approved}/bevis"),
    ] {
        assert_eq!(anna.get(&p).await.status(), 403, "{p}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_revisor_lists_filters_and_proves_events_on_sqlite() {
    check(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_revisor_lists_filters_and_proves_events_on_postgresql() {
    check(Engine::Postgres).await;
}

/// A row's leaf, its actor column, and the actor migration 10004 reads
/// from the leaf.
type StoredActor = (Vec<u8>, Option<String>, Option<String>);

/// Migration 10004's expression gives each stored leaf's actor (what it
/// filled in for events written before it), the column written on append
/// is the leaf's, and the list's filters are answered by indexes.
async fn actor_column(engine: Engine) {
    let app = WebApp::start(engine).await;
    let db = app.runtime.store.audit_db();
    let file = match engine {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
    };
    let sql = std::fs::read_to_string(format!(
        "{}/../audit/migrations/{file}/10004_event_actor_and_list_indexes.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let start = sql.find("SET actor = ").unwrap() + "SET actor = ".len();
    let expr = &sql[start..start + sql[start..].find(';').unwrap()];
    let select = format!("SELECT leaf, actor, {expr} AS derived FROM audit_events ORDER BY seq");
    let plan_of = |q: &str| match engine {
        Engine::Sqlite => format!("EXPLAIN QUERY PLAN {q}"),
        Engine::Postgres => format!("EXPLAIN {q}"),
    };
    let queries = [
        (
            "SELECT seq FROM audit_events WHERE actor = 'user:x' ORDER BY seq DESC LIMIT 51",
            "audit_events_by_actor",
        ),
        (
            "SELECT seq FROM audit_events WHERE kind = 'login' ORDER BY seq DESC LIMIT 51",
            "audit_events_by_kind",
        ),
        (
            "SELECT seq FROM audit_events WHERE case_ref = 'case:1' ORDER BY seq DESC LIMIT 51",
            "audit_events_by_case",
        ),
    ];
    let (rows, plans): (Vec<StoredActor>, Vec<String>) = match &db {
        audit::Db::Sqlite(p) => {
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                .fetch_all(p)
                .await
                .unwrap();
            let mut plans = Vec::new();
            for (q, _) in queries {
                let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(plan_of(q)))
                    .fetch_all(p)
                    .await
                    .unwrap();
                plans.push(plan.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n"));
            }
            (rows, plans)
        }
        audit::Db::Postgres(p) => {
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                .fetch_all(p)
                .await
                .unwrap();
            let mut plans = Vec::new();
            for (q, _) in queries {
                // A small table is scanned whatever its indexes: ask for them.
                let mut c = p.acquire().await.unwrap();
                sqlx::query("SET enable_seqscan = off").execute(&mut *c).await.unwrap();
                let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(plan_of(q)))
                    .fetch_all(&mut *c)
                    .await
                    .unwrap();
                plans.push(plan.join("\n"));
            }
            (rows, plans)
        }
    };
    assert!(!rows.is_empty());
    for (leaf, actor, derived) in &rows {
        let e = audit::LeafEvent::decode(leaf).unwrap();
        assert_eq!(actor.as_deref(), Some(e.actor.as_str()));
        assert_eq!(derived.as_deref(), Some(e.actor.as_str()));
    }
    for ((q, index), plan) in queries.iter().zip(&plans) {
        assert!(plan.contains(index), "{q}: {plan}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_actor_column_is_the_leafs_and_the_filters_use_indexes_on_sqlite() {
    actor_column(Engine::Sqlite).await;
}

#[tokio::test]
async fn the_actor_column_is_the_leafs_and_the_filters_use_indexes_on_postgresql() {
    actor_column(Engine::Postgres).await;
}
