//! Load on the officials' web UI: N officials at once against a store of
//! many cases, each in a loop of queue page → search → case page with a
//! think time after each response, over real HTTP to the real service.
//! Every request is measured from the first one (no warm-up is left out):
//! p50/p95/p99 per kind of request, overall and per minute.
//!
//! ```sh
//! cargo bench -p robot-runtime --bench web_load -- --think-ms 1000 --seconds 180          # SQLite, 100,000 cases, 50 officials
//! cargo bench -p robot-runtime --bench web_load -- --think-ms 1000 --seconds 180 --postgres postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench -p robot-runtime --bench web_load -- --cases 10000 --officials 10 --seconds 10
//! cargo bench -p robot-runtime --bench web_load -- --approve      # each loop also approves the case
//! ```
//!
//! Cases are written straight into the tables (a real draft per shipped
//! test application of both casework types, ekonomiskt bistånd and
//! avgift inom äldreomsorgen, reused with new ids; the queue's people and
//! search terms with names drawn from common Swedish first and family
//! names and Skatteverket's test personnummer in `ops/demo`), so seeding
//! 100,000 takes well under a minute; everything measured goes through
//! HTTP, the guard, the store and (with `--approve`) the approval core.

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
    /// Each loop also approves its case.
    approve: bool,
}

fn args() -> Args {
    let mut a = Args {
        postgres: None,
        cases: 100_000,
        officials: 50,
        seconds: 30,
        think: Duration::ZERO,
        approve: false,
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
            "--approve" => {
                a.approve = true;
                i += 1;
                continue;
            }
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
/// of both casework types whose draft is a decision (not manual handling).
fn templates() -> Vec<(serde_json::Value, serde_json::Value, String, Option<i64>)> {
    let mut out = Vec::new();
    for ty in ["ekonomiskt-bistand", "avgift-aldreomsorg"] {
        let rs = sandbox::Ruleset::load(&repo().join("rulesets").join(ty)).unwrap();
        for (_, input, _) in sandbox::testing::cases(&repo().join("rulesets").join(ty).join("tests")).unwrap() {
            let bytes = std::fs::read(&input).unwrap();
            let Ok(app) = rs.read(&bytes) else {
                continue;
            };
            let Ok(d) = rs.evaluate_input(&app) else { continue };
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
    }
    out
}

const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Eva",
    "Maria",
    "Karin",
    "Sara",
    "Christina",
    "Lena",
    "Emma",
    "Kerstin",
    "Marie",
    "Malin",
    "Ingrid",
    "Hanna",
    "Linnéa",
    "Sofia",
    "Elin",
    "Åsa",
    "Annika",
    "Birgitta",
    "Märta",
    "Ida",
    "Elsa",
    "Julia",
    "Ebba",
    "Lars",
    "Mikael",
    "Anders",
    "Johan",
    "Erik",
    "Per",
    "Karl",
    "Peter",
    "Thomas",
    "Jan",
    "Daniel",
    "Fredrik",
    "Hans",
    "Bengt",
    "Mats",
    "Magnus",
    "Stefan",
    "Jonas",
    "Björn",
    "Göran",
    "Håkan",
    "Örjan",
    "Nils",
    "Oskar",
    "Ali",
    "Mohammed",
    "Fatima",
    "Amina",
    "Yusuf",
    "Zeynep",
    "José",
    "Noël",
    "Chloé",
    "Zoë",
];

const FAMILY_NAMES: &[&str] = &[
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Jansson",
    "Hansson",
    "Bengtsson",
    "Jönsson",
    "Lindberg",
    "Jakobsson",
    "Magnusson",
    "Lindström",
    "Olofsson",
    "Lindqvist",
    "Lindgren",
    "Berg",
    "Axelsson",
    "Bergström",
    "Lundberg",
    "Lundgren",
    "Lind",
    "Lundqvist",
    "Mattsson",
    "Berglund",
    "Fredriksson",
    "Sandberg",
    "Henriksson",
    "Forsberg",
    "Sjöberg",
    "Wallin",
    "Ali",
    "Engström",
    "Mohammed",
    "Eklund",
    "Danielsson",
    "Lundin",
    "Håkansson",
    "Björk",
    "Bergman",
    "Gunnarsson",
    "Holm",
    "Wikström",
    "Samuelsson",
    "Isaksson",
    "Fransson",
    "Bergqvist",
    "Nyström",
    "Holmberg",
    "Arvidsson",
    "Löfgren",
    "Söderberg",
    "Nyberg",
    "Blomqvist",
    "Claesson",
    "Nordström",
    "Mårtensson",
    "Lundström",
    "Viklund",
    "Björklund",
    "Eliasson",
    "Pålsson",
    "Berggren",
    "Sandström",
    "Lund",
    "Nordin",
    "Ström",
    "Åberg",
    "Hermansson",
    "Ekström",
    "Holmgren",
    "Sundberg",
    "Hedlund",
    "Dahlberg",
    "Östlund",
];

/// Skatteverket's test personnummer the demo uses (ops/demo).
fn test_personnummer() -> Vec<domain::Personnummer> {
    let text = std::fs::read_to_string(repo().join("ops/demo/testpersonnummer.txt")).unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| l.len() == 12)
        .filter_map(|l| domain::Personnummer::parse(l, day).ok())
        .collect()
}

/// The people of bench case `k`: one adult, every third case two.
fn people_of(k: usize, pnrs: &[domain::Personnummer]) -> Vec<(String, String)> {
    let n = if k.is_multiple_of(3) { 2 } else { 1 };
    (0..n)
        .map(|j| {
            let h = k.wrapping_mul(2_654_435_761).wrapping_add(j * 40_503) >> 3;
            let name = format!(
                "{} {}",
                FIRST_NAMES[h % FIRST_NAMES.len()],
                FAMILY_NAMES[(h / FIRST_NAMES.len()) % FAMILY_NAMES.len()]
            );
            (name, pnrs[(k * 7 + j) % pnrs.len()].as_str().to_string())
        })
        .collect()
}

const OTHER_STATES: &[&str] = &["sent", "closed", "returned_to_manual"];

macro_rules! seed_with {
    ($pool:expr, $n:expr, $t:expr, $now:expr, $pnrs:expr) => {{
        let pool = $pool;
        let t = $t;
        let mut i = 0usize;
        while i < $n {
            let end = ($n).min(i + 500);
            let mut tx = pool.begin().await.unwrap();
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO cases (source, external_id, source_ref, robot, state, period, ruleset_name, ruleset_version, ruleset_hash, outcome, amount_ore, received_us, updated_us, diarienummer, applied_us, assessments) ",
            );
            qb.push_values(i..end, |mut b, k| {
                let (doc, draft, outcome, amount) = &t[k % t.len()];
                let state = if k % 10 < 7 { "awaiting_approval" } else { OTHER_STATES[k % OTHER_STATES.len()] };
                let robot = if draft["schema"].as_str().unwrap_or("").starts_with("ekonomiskt-bistand") { "r1" } else { "r2" };
                b.push_bind("bench")
                    .push_bind(format!("B-{k:07}"))
                    .push_bind(format!("bench/{k}"))
                    .push_bind(robot)
                    .push_bind(state)
                    .push_bind(doc["period"].as_str().unwrap_or("2021-03").to_string())
                    .push_bind(draft["ruleset"]["name"].as_str().unwrap_or_default().to_string())
                    .push_bind(draft["ruleset"]["version"].as_str().unwrap_or_default().to_string())
                    .push_bind(draft["ruleset"]["hash"].as_str().unwrap_or_default().to_string())
                    .push_bind(outcome.clone())
                    .push_bind(*amount)
                    .push_bind($now - (k as i64) * 60_000_000)
                    .push_bind($now)
                    .push_bind(format!("SN 2026/{:06}", k + 1))
                    // Applications received up to 60 days before the intake.
                    .push_bind($now - (k as i64) * 60_000_000 - ((k % 60) as i64) * 86_400_000_000)
                    .push_bind(draft["assessments"].as_array().map_or(0, |a| a.len() as i32));
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
            // Who each case is about, and its search terms.
            let mut people = Vec::new();
            let mut terms = Vec::new();
            for (id, k) in ids.iter().zip(i..end) {
                let ps = people_of(k, $pnrs);
                let dnr = format!("SN 2026/{:06}", k + 1);
                let ext = format!("B-{k:07}");
                let texts: Vec<&str> = ps
                    .iter()
                    .flat_map(|(n, p)| [n.as_str(), p.as_str()])
                    .chain([dnr.as_str(), ext.as_str()])
                    .collect();
                for t in robot_runtime::store::search::terms(texts) {
                    terms.push((t, *id));
                }
                for (pos, (n, p)) in ps.into_iter().enumerate() {
                    people.push((*id, pos as i32, if pos == 0 { "Sökande" } else { "Medsökande" }, n, p));
                }
            }
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO case_people (case_id, pos, role, name, personnummer) ");
            qb.push_values(people, |mut b, (id, pos, role, n, p)| {
                b.push_bind(id).push_bind(pos).push_bind(role).push_bind(n).push_bind(p);
            });
            qb.build().execute(&mut *tx).await.unwrap();
            for chunk in terms.chunks(5000) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO case_terms (term, case_id) ");
                qb.push_values(chunk, |mut b, (t, id)| {
                    b.push_bind(t.clone()).push_bind(*id);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
            i = end;
        }
    }};
}

/// Kinds of request measured.
const KINDS: &[&str] = &["queue page", "search", "case page", "approve"];

/// One measured request: kind, when it started (since the load began), how long it took.
type Sample = (usize, Duration, Duration);

#[derive(Default)]
struct Samples {
    all: Vec<Sample>,
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

/// A GET, measured; (200?, body).
async fn get(
    c: &reqwest::Client,
    url: &str,
    cookie: &str,
    s: &mut Samples,
    kind: usize,
    load_started: Instant,
) -> (bool, String) {
    let t0 = Instant::now();
    let r = c.get(url).header("cookie", cookie).send().await.unwrap();
    let ok = r.status() == 200;
    let body = r.text().await.unwrap_or_default();
    s.all.push((kind, t0 - load_started, t0.elapsed()));
    if !ok {
        s.errors += 1;
    }
    (ok, body)
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
    // Two robots, one per casework type, that never fetch: the queue knows
    // the types' titles and filters by them.
    for (name, ty) in [("r1", "ekonomiskt-bistand"), ("r2", "avgift-aldreomsorg")] {
        settings.robots.push(robot_runtime::config::RobotSettings {
            name: name.into(),
            enabled: false,
            schedule: "0 0 1 1 *".into(),
            time_zone: "Europe/Stockholm".into(),
            missed: robot_runtime::config::Missed::Skip,
            missed_limit_hours: 24,
            ruleset: repo().join("rulesets").join(ty),
            source: robot_runtime::config::SourceSettings::FileInbox {
                path: dir.path().join("inbox"),
            },
            lookups: vec![],
            options: Default::default(),
        });
    }
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
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
    let pnrs = test_personnummer();
    let now = rt.clock.now().timestamp_micros();
    let started = Instant::now();
    if let Some(p) = store.sqlite_pool() {
        seed_with!(p, a.cases, &t, now, &pnrs);
        sqlx::query("ANALYZE").execute(p).await.unwrap();
    } else if let Some(p) = store.postgres_pool() {
        seed_with!(p, a.cases, &t, now, &pnrs);
        // What autovacuum does to a settled database: statistics and the
        // visibility map (index-only scans).
        sqlx::query("VACUUM ANALYZE").execute(p).await.unwrap();
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
    // Everyone logs in first (argon2 is slow on purpose: 50 logins are
    // seconds of CPU); then the load starts, and every request from the
    // first on is measured.
    let logged_in = Arc::new(tokio::sync::Barrier::new(a.officials + 1));
    let go = Arc::new(tokio::sync::Barrier::new(a.officials + 1));
    let start_at: Arc<std::sync::OnceLock<(Instant, Instant)>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..a.officials {
        let (logged_in, go, start_at) = (logged_in.clone(), go.clone(), start_at.clone());
        let base = base.clone();
        let mine: Vec<i64> = awaiting[i * per..(i + 1) * per].to_vec();
        let think = a.think;
        let officials = a.officials;
        let approve_too = a.approve;
        let pnrs = pnrs.clone();
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
            logged_in.wait().await;
            go.wait().await;
            let (load_started, deadline) = *start_at.get().unwrap();
            let mut s = Samples::default();
            let mut csrf = String::new();
            let mut n = 0usize;
            let approve = approve_too;
            // Officials do not all click at the same instant: spread their
            // first request over one think time (as load tools ramp up).
            // The first requests are measured like every other.
            tokio::time::sleep(think.mul_f64(i as f64 / officials as f64)).await;
            let views = [
                "/arenden".to_string(),
                "/arenden?sortering=belopp_hogst".into(),
                "/arenden?vy=andra-granskare".into(),
                "/arenden?status=alla&sortering=period".into(),
                "/arenden?typ=avgift-aldreomsorg".into(),
                "/arenden?mina=1&status=alla".into(),
                "/arenden?status=alla&sortering=nyast".into(),
                "/arenden?sortering=forslag".into(),
            ];
            while Instant::now() < deadline && n < mine.len() {
                let case = mine[n];
                n += 1;
                let h = (i * 7919 + n * 104_729) >> 2;
                // A queue page: a view, sorting, sometimes a later page.
                let page = if n.is_multiple_of(4) { 1 + (n / 4) % 20 } else { 1 };
                let view = &views[h % views.len()];
                let sep = if view.contains('?') { '&' } else { '?' };
                let (ok, html) = get(
                    &c,
                    &format!("{base}{view}{sep}sida={page}"),
                    &cookie,
                    &mut s,
                    0,
                    load_started,
                )
                .await;
                if csrf.is_empty() && ok {
                    csrf = field(&html, "_csrf").unwrap_or_default();
                }
                tokio::time::sleep(think).await;
                // A search: a family name, a whole name, a personnummer in
                // one of its forms, a diarienummer.
                let (first, family) = (
                    FIRST_NAMES[h % FIRST_NAMES.len()],
                    FAMILY_NAMES[(h / 7) % FAMILY_NAMES.len()],
                );
                let pnr = pnrs[h % pnrs.len()].as_str().to_string();
                let q = match n % 6 {
                    0 => family.to_lowercase(),
                    1 => format!("{first} {family}"),
                    2 => format!("{}-{}", &pnr[2..8], &pnr[8..]),
                    3 => pnr[8..].to_string(),
                    4 => family.chars().take(4).collect(),
                    _ => format!("SN 2026/{:06}", 1 + h % 100_000),
                };
                let status = if n.is_multiple_of(2) { "&status=alla" } else { "" };
                let _ = get(
                    &c,
                    &format!("{base}/arenden?q={}{status}", urlencode(&q)),
                    &cookie,
                    &mut s,
                    1,
                    load_started,
                )
                .await;
                tokio::time::sleep(think).await;
                let _ = get(&c, &format!("{base}/arenden/{case}"), &cookie, &mut s, 2, load_started).await;
                tokio::time::sleep(think).await;
                if approve {
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
                    s.all.push((3, t0 - load_started, t0.elapsed()));
                    if !ok {
                        s.errors += 1;
                    }
                    tokio::time::sleep(think).await;
                }
            }
            s
        }));
    }
    logged_in.wait().await;
    let load_started = Instant::now();
    start_at
        .set((load_started, load_started + Duration::from_secs(a.seconds)))
        .unwrap();
    go.wait().await;
    let mut all = Samples::default();
    for t in tasks {
        let s = t.await.unwrap();
        all.all.extend(s.all);
        all.errors += s.errors;
    }
    let elapsed = load_started.elapsed().as_secs_f64();
    println!(
        "\n{engine}, {} cases, {} officials, think time {} ms, {elapsed:.1} s from the first request, {} errors",
        a.cases,
        a.officials,
        a.think.as_millis(),
        all.errors
    );
    println!("| request | minute | count | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let minutes = (elapsed / 60.0).ceil() as u64;
    for (k, name) in KINDS.iter().enumerate() {
        let of = |minute: Option<u64>| -> Vec<Duration> {
            all.all
                .iter()
                .filter(|(kind, at, _)| *kind == k && minute.is_none_or(|m| at.as_secs() / 60 == m))
                .map(|(.., d)| *d)
                .collect()
        };
        let mut rows: Vec<(String, Vec<Duration>)> =
            (0..minutes).map(|m| (format!("{}", m + 1), of(Some(m)))).collect();
        rows.push(("all".into(), of(None)));
        for (label, mut v) in rows {
            if v.is_empty() {
                continue;
            }
            let count = v.len();
            println!(
                "| {name} | {label} | {count} | {:.1} | {:.1} | {:.1} | {:.1} |",
                pct(&mut v, 0.50),
                pct(&mut v, 0.95),
                pct(&mut v, 0.99),
                pct(&mut v, 1.0)
            );
        }
    }
    println!(
        "| all | | {} | | | | |  ({:.1} per second)",
        all.all.len(),
        all.all.len() as f64 / elapsed
    );
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
