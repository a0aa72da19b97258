//! A shadow run over many stored cases: a candidate ruleset (ekonomiskt
//! bistånd with the rent guide values 1 000 kr higher) evaluated over N
//! stored cases and compared with the version in force, as `hrobot rules
//! shadow` does it (`rulebook::shadow::run`), timed from the first read of
//! the store to the finished report.
//!
//! ```sh
//! cargo bench -p robot-runtime --bench shadow                        # SQLite, 100,000 cases
//! cargo bench -p robot-runtime --bench shadow -- --postgres postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench -p robot-runtime --bench shadow -- --cases 10000 --evaluate-baseline
//! ```
//!
//! Cases are written straight into the tables: every shipped test
//! application of ekonomiskt bistånd that is valid, with the draft the
//! shipped ruleset makes for it, reused with new ids. `--evaluate-baseline`
//! compares with a version that did not make the stored drafts, so the
//! baseline is evaluated too (two evaluations per case).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use robot_runtime::clock::SystemClock;
use robot_runtime::config::Settings;
use robot_runtime::rulebook::shadow;
use robot_runtime::store::rulesets::CaseFilter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn changed(dir: &Path, from: &str, to: &str, version: &str) -> PathBuf {
    copy_dir(&repo().join("rulesets/ekonomiskt-bistand"), dir);
    let p = dir.join("parameters/kommun.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from));
    std::fs::write(&p, text.replace(from, to)).unwrap();
    let m = dir.join("ruleset.toml");
    let t = std::fs::read_to_string(&m)
        .unwrap()
        .replace("version = \"2.0.0\"", &format!("version = \"{version}\""));
    std::fs::write(&m, t).unwrap();
    dir.to_path_buf()
}

/// (document, draft JSON, outcome, amount) of every valid shipped application.
fn templates(rs: &sandbox::Ruleset) -> Vec<(serde_json::Value, String, String, Option<i64>)> {
    let dir = repo().join("rulesets/ekonomiskt-bistand/tests");
    let mut out = Vec::new();
    for (_, input, _) in sandbox::testing::cases(&dir).unwrap() {
        let bytes = std::fs::read(&input).unwrap();
        let Ok(app) = rs.read(&bytes) else { continue };
        let Ok(d) = rs.evaluate_input(&app) else { continue };
        out.push((
            serde_json::from_slice(&bytes).unwrap(),
            d.to_json(),
            d.outcome().as_str().to_string(),
            d.amount().map(domain::Money::ore),
        ));
    }
    out
}

macro_rules! seed_with {
    ($pool:expr, $n:expr, $rs:expr, $t:expr, $now:expr) => {{
        let pool = $pool;
        let t = $t;
        let mut i = 0usize;
        while i < $n {
            let end = ($n).min(i + 500);
            let mut tx = pool.begin().await.unwrap();
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO cases (source, external_id, source_ref, robot, state, period, ruleset_name, ruleset_version, ruleset_hash, outcome, amount_ore, received_us, updated_us, diarienummer) ",
            );
            qb.push_values(i..end, |mut b, k| {
                let (doc, _, outcome, amount) = &t[k % t.len()];
                b.push_bind("bench")
                    .push_bind(format!("S-{k:07}"))
                    .push_bind(format!("bench/{k}"))
                    .push_bind("r1")
                    .push_bind("awaiting_approval")
                    .push_bind(doc["period"].as_str().unwrap_or("2021-03").to_string())
                    .push_bind($rs.name().to_string())
                    .push_bind($rs.version().to_string())
                    .push_bind($rs.hash().to_string())
                    .push_bind(outcome.clone())
                    .push_bind(*amount)
                    .push_bind($now - (k as i64) * 1_000_000)
                    .push_bind($now)
                    .push_bind(format!("SN 2026/{:06}", k + 1));
            });
            qb.push(" RETURNING id");
            let ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await.unwrap();
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO applications (case_id, document) ");
            qb.push_values(ids.iter().zip(i..end), |mut b, (id, k)| {
                let mut doc = t[k % t.len()].0.clone();
                doc["external_id"] = serde_json::json!(format!("S-{k:07}"));
                b.push_bind(*id).push_bind(doc.to_string().into_bytes());
            });
            qb.build().execute(&mut *tx).await.unwrap();
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO drafts (case_id, draft, created_us) ");
            qb.push_values(ids.iter().zip(i..end), |mut b, (id, k)| {
                let mut d: serde_json::Value = serde_json::from_str(&t[k % t.len()].1).unwrap();
                d["external_id"] = serde_json::json!(format!("S-{k:07}"));
                b.push_bind(*id).push_bind(d.to_string()).push_bind($now);
            });
            qb.build().execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
            i = end;
        }
    }};
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| v.iter().position(|a| a == name).and_then(|i| v.get(i + 1)).cloned();
    let cases: usize = arg("--cases").map(|s| s.parse().unwrap()).unwrap_or(100_000);
    let postgres = arg("--postgres");
    let evaluate_baseline = v.iter().any(|a| a == "--evaluate-baseline");

    let tmp = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: tmp.path().to_path_buf(),
        ..Settings::default()
    };
    let name = format!("shadow_bench_{}", std::process::id());
    if let Some(url) = &postgres {
        // A database of its own, dropped at the end.
        let admin = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let (base, _) = url.rsplit_once('/').unwrap();
        settings.database.url = Some(audit::secret::Secret::new(format!("{base}/{name}")));
    }
    robot_runtime::keys::ensure_keys(&settings, "hrobot.invalid/bench").unwrap();
    let store = robot_runtime::runtime::open_store(&settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let in_force = sandbox::Ruleset::load(&repo().join("rulesets/ekonomiskt-bistand")).unwrap();
    let t = templates(&in_force);
    let now = robot_runtime::clock::Clock::now(&SystemClock).timestamp_micros();
    let seeding = Instant::now();
    match (store.sqlite_pool(), store.postgres_pool()) {
        (Some(p), _) => seed_with!(p, cases, in_force, &t, now),
        (_, Some(p)) => seed_with!(p, cases, in_force, &t, now),
        _ => unreachable!(),
    }
    println!(
        "seeded {cases} cases ({} distinct applications) in {:.1} s on {}",
        t.len(),
        seeding.elapsed().as_secs_f64(),
        if postgres.is_some() { "PostgreSQL" } else { "SQLite" }
    );
    let candidate = sandbox::Ruleset::load(&changed(
        &tmp.path().join("kandidat"),
        "hyra_riktvarde_0_barn = 6500",
        "hyra_riktvarde_0_barn = 7500",
        "2.1.0",
    ))
    .unwrap();
    let baseline = if evaluate_baseline {
        // Not the version the stored drafts were made with.
        sandbox::Ruleset::load(&changed(
            &tmp.path().join("annan"),
            "arbetsresor_tak = 800",
            "arbetsresor_tak = 900",
            "2.0.1",
        ))
        .unwrap()
    } else {
        in_force
    };
    let started = Instant::now();
    let report = shadow::run(&store, candidate, Some(baseline), CaseFilter::default(), "all")
        .await
        .unwrap();
    let took = started.elapsed().as_secs_f64();
    println!(
        "shadow: {} cases in {took:.1} s ({:.0} cases/s): {} changed, {} unchanged, {} failed, baseline evaluated for {}",
        report.cases,
        report.cases as f64 / took,
        report.changed,
        report.unchanged,
        report.failed,
        report.baseline_evaluated
    );
    for tr in report.transitions.iter().filter(|t| t.from != t.to) {
        println!("  {} -> {}: {}", tr.from, tr.to, tr.cases);
    }
    assert_eq!(report.cases as usize, cases);
    store.close().await;
    if let Some(url) = &postgres {
        let admin = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
    }
}
