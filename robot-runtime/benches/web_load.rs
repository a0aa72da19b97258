//! Load on the approval UI: N officials at once against a store of many
//! cases, each in a loop of queue page → case page → approve, over real
//! HTTP to the real service. Prints p50/p99 latency and throughput per
//! kind of request.
//!
//! ```sh
//! cargo bench -p robot-runtime --bench web_load                       # SQLite, 100,000 cases, 50 officials, 30 s
//! cargo bench -p robot-runtime --bench web_load -- --postgres postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench -p robot-runtime --bench web_load -- --cases 10000 --officials 10 --seconds 10
//! cargo bench -p robot-runtime --bench web_load -- --think-ms 1000      # officials read each page for a second
//! ```
//!
//! Cases are written straight into the tables (a real draft per shipped
//! test application, reused with new ids), so seeding 100,000 takes
//! seconds; everything measured goes through HTTP, the guard, the store
//! and the approval core (decision, audit event, letter and PDF, outbox).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use robot_runtime::clock::SystemClock;
use robot_runtime::config::Settings;
use robot_runtime::service::Service;
use robot_runtime::store::users::NewUser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    postgres: Option<String>,
    cases: usize,
    officials: usize,
    seconds: u64,
    /// Each official's pause after every response (reading the page).
    think: Duration,
}

fn args() -> Args {
    let mut a = Args {
        postgres: None,
        cases: 100_000,
        officials: 50,
        seconds: 30,
        think: Duration::ZERO,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = || v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--postgres" => a.postgres = Some(next()),
            "--cases" => a.cases = next().parse().unwrap(),
            "--officials" => a.officials = next().parse().unwrap(),
            "--seconds" => a.seconds = next().parse().unwrap(),
            "--think-ms" => a.think = Duration::from_millis(next().parse().unwrap()),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// (document, draft JSON, outcome, amount öre) for each shipped valid case
/// whose draft is a decision (not manual handling).
fn templates() -> Vec<(serde_json::Value, serde_json::Value, String, Option<i64>)> {
    let rs = sandbox::Ruleset::load(&repo().join("rulesets/ekonomiskt-bistand")).unwrap();
    let mut out = Vec::new();
    for (_, input, _) in sandbox::testing::cases(&repo().join("rulesets/ekonomiskt-bistand/tests")).unwrap() {
        let bytes = std::fs::read(&input).unwrap();
        let Ok(app) = domain::Application::parse(&bytes) else {
            continue;
        };
        let Ok(d) = rs.evaluate(&app) else { continue };
        if d.outcome() == domain::Outcome::Manuell {
            continue;
        }
        out.push((
            serde_json::from_slice(&bytes).unwrap(),
            serde_json::from_str(&d.to_json()).unwrap(),
            d.outcome().as_str().to_string(),
            d.amount().map(domain::Money::ore),
        ));
    }
    out
}

const OTHER_STATES: &[&str] = &["sent", "closed", "returned_to_manual"];

macro_rules! seed_with {
    ($pool:expr, $n:expr, $t:expr, $now:expr) => {{
        let pool = $pool;
        let t = $t;
        let mut i = 0usize;
        while i < $n {
            let end = ($n).min(i + 500);
            let mut tx = pool.begin().await.unwrap();
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO cases (source, external_id, source_ref, robot, state, period, ruleset_name, ruleset_version, ruleset_hash, outcome, amount_ore, received_us, updated_us) ",
            );
            qb.push_values(i..end, |mut b, k| {
                let (doc, draft, outcome, amount) = &t[k % t.len()];
                let state = if k % 10 < 7 { "awaiting_approval" } else { OTHER_STATES[k % OTHER_STATES.len()] };
                b.push_bind("bench")
                    .push_bind(format!("B-{k:07}"))
                    .push_bind(format!("bench/{k}"))
                    .push_bind("r1")
                    .push_bind(state)
                    .push_bind(doc["period"].as_str().unwrap_or("2021-03").to_string())
                    .push_bind(draft["ruleset"]["name"].as_str().unwrap_or_default().to_string())
                    .push_bind(draft["ruleset"]["version"].as_str().unwrap_or_default().to_string())
                    .push_bind(draft["ruleset"]["hash"].as_str().unwrap_or_default().to_string())
                    .push_bind(outcome.clone())
                    .push_bind(*amount)
                    .push_bind($now - (k as i64) * 60_000_000)
                    .push_bind($now);
            });
            qb.push(" RETURNING id");
            let ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await.unwrap();
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO applications (case_id, document) ");
            qb.push_values(ids.iter().zip(i..end), |mut b, (id, k)| {
                let mut doc = t[k % t.len()].0.clone();
                doc["external_id"] = serde_json::json!(format!("B-{k:07}"));
                b.push_bind(*id).push_bind(doc.to_string().into_bytes());
            });
            qb.build().execute(&mut *tx).await.unwrap();
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO drafts (case_id, draft, created_us) ");
            qb.push_values(ids.iter().zip(i..end), |mut b, (id, k)| {
                let mut d = t[k % t.len()].1.clone();
                d["external_id"] = serde_json::json!(format!("B-{k:07}"));
                b.push_bind(*id).push_bind(d.to_string()).push_bind($now);
            });
            qb.build().execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
            i = end;
        }
    }};
}

#[derive(Default)]
struct Samples {
    queue: Vec<Duration>,
    case: Vec<Duration>,
    approve: Vec<Duration>,
    errors: usize,
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort();
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx].as_secs_f64() * 1000.0
}

fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    // PostgreSQL: a fresh database beside the one given, dropped at the end.
    let pg_db = match &a.postgres {
        Some(admin) => {
            use sqlx::Connection;
            let name = format!("hrobot_bench_{}", std::process::id());
            let mut c = sqlx::PgConnection::connect(admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut c)
                .await
                .unwrap();
            let base = &admin[..admin.rfind('/').unwrap()];
            settings.database.url = Some(audit::secret::Secret::new(format!("{base}/{name}")));
            Some((admin.clone(), name))
        }
        None => None,
    };
    settings.database.max_connections = 16;
    settings.web.secure_cookies = false;
    settings.workers.concurrency = 1;
    settings.log.level = "warn".into();
    robot_runtime::keys::ensure_keys(&settings, "hrobot.invalid/bench").unwrap();
    let engine = if a.postgres.is_some() { "PostgreSQL" } else { "SQLite" };

    let service = Service::build(settings, Arc::new(SystemClock)).await.unwrap();
    let rt = service.runtime.clone();
    let store = &rt.store;
    let t = templates();
    let now = rt.clock.now().timestamp_micros();
    let started = Instant::now();
    if let Some(p) = store.sqlite_pool() {
        seed_with!(p, a.cases, &t, now);
        sqlx::query("ANALYZE").execute(p).await.unwrap();
    } else if let Some(p) = store.postgres_pool() {
        seed_with!(p, a.cases, &t, now);
        sqlx::query("ANALYZE").execute(p).await.unwrap();
    }
    println!(
        "seeded {} cases on {engine} in {:.1} s",
        a.cases,
        started.elapsed().as_secs_f64()
    );

    let hash = robot_runtime::officials::hash_password("bench-losenord-1").unwrap();
    for i in 0..a.officials {
        store
            .add_user(&NewUser {
                username: format!("h{i:02}"),
                display_name: format!("Handläggare {i}"),
                roles: vec![robot_runtime::approval::Role::Handlaggare],
                password_hash: Some(hash.clone()),
                personnummer_sealed: None,
                oidc_subject: None,
            })
            .await
            .unwrap();
    }
    let awaiting: Vec<i64> = store
        .list_cases(Some(domain::CaseState::AwaitingApproval), None, i64::MAX, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service.run(listener, async move {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    connectors::http::install_crypto_provider();

    // Each official gets its own slice of the waiting cases.
    let per = awaiting.len() / a.officials.max(1);
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let mut tasks = Vec::new();
    let load_started = Instant::now();
    for i in 0..a.officials {
        let base = base.clone();
        let mine: Vec<i64> = awaiting[i * per..(i + 1) * per].to_vec();
        let think = a.think;
        let officials = a.officials;
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            // Log in through the form.
            let page = c.get(format!("{base}/logga-in")).send().await.unwrap();
            let lc = page
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| {
                    v.strip_prefix("hrobot-login=")
                        .map(|r| r.split(';').next().unwrap_or("").to_string())
                })
                .unwrap();
            let token = field(&page.text().await.unwrap(), "_login").unwrap();
            let r = c
                .post(format!("{base}/logga-in"))
                .header("cookie", format!("hrobot-login={lc}"))
                .form(&[
                    ("_login", token.as_str()),
                    ("anvandarnamn", &format!("h{i:02}")),
                    ("losenord", "bench-losenord-1"),
                ])
                .send()
                .await
                .unwrap();
            let session = r
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| {
                    v.strip_prefix("hrobot=")
                        .map(|r| r.split(';').next().unwrap_or("").to_string())
                })
                .expect("logged in");
            let cookie = format!("hrobot={session}");
            let mut s = Samples::default();
            let mut csrf = String::new();
            let mut n = 0usize;
            // Officials do not all click at the same instant: spread their
            // first request over one think time (a ramp-up, as load tools do).
            tokio::time::sleep(think.mul_f64(i as f64 / officials as f64)).await;
            while Instant::now() < deadline && n < mine.len() {
                let case = mine[n];
                n += 1;
                let page = 1 + (n % 20);
                let t0 = Instant::now();
                let r = c
                    .get(format!("{base}/arenden?sida={page}"))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap();
                let ok = r.status() == 200;
                let html = r.text().await.unwrap_or_default();
                s.queue.push(t0.elapsed());
                tokio::time::sleep(think).await;
                if !ok {
                    s.errors += 1;
                }
                if csrf.is_empty() {
                    csrf = field(&html, "_csrf").unwrap_or_default();
                }
                let t0 = Instant::now();
                let r = c
                    .get(format!("{base}/arenden/{case}"))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap();
                let ok = r.status() == 200;
                let _ = r.bytes().await;
                s.case.push(t0.elapsed());
                tokio::time::sleep(think).await;
                if !ok {
                    s.errors += 1;
                }
                let t0 = Instant::now();
                let r = c
                    .post(format!("{base}/arenden/{case}/godkann"))
                    .header("cookie", &cookie)
                    .form(&[("_csrf", csrf.as_str())])
                    .send()
                    .await
                    .unwrap();
                let ok = r.status() == 303;
                let _ = r.bytes().await;
                s.approve.push(t0.elapsed());
                tokio::time::sleep(think).await;
                if !ok {
                    s.errors += 1;
                }
            }
            s
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        let s = t.await.unwrap();
        all.queue.extend(s.queue);
        all.case.extend(s.case);
        all.approve.extend(s.approve);
        all.errors += s.errors;
    }
    let elapsed = load_started.elapsed().as_secs_f64();
    println!(
        "\n{engine}, {} cases, {} officials, think time {} ms, {elapsed:.1} s, {} errors",
        a.cases,
        a.officials,
        a.think.as_millis(),
        all.errors
    );
    println!("| request | count | p50 ms | p99 ms | per second |");
    println!("|---|---:|---:|---:|---:|");
    for (name, v) in [
        ("queue page", &mut all.queue),
        ("case page", &mut all.case),
        ("approve", &mut all.approve),
    ] {
        let count = v.len();
        println!(
            "| {name} | {count} | {:.1} | {:.1} | {:.1} |",
            pct(v, 0.50),
            pct(v, 0.99),
            count as f64 / elapsed
        );
    }
    let total = all.queue.len() + all.case.len() + all.approve.len();
    println!("| all | {total} | | | {:.1} |", total as f64 / elapsed);
    let _ = stop_tx.send(());
    let _ = server.await;
    if let Some((admin, name)) = pg_db {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut c)
        .await;
    }
}
