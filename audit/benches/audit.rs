//! Audit log benchmarks: appends per second (single and batched, SQLite
//! and PostgreSQL), proof generation latency, and `verify` over 1,000,000
//! events.
//!
//! `cargo bench -p audit --bench audit` (release profile). PostgreSQL runs
//! against `HROBOT_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432)
//! in a fresh database that is dropped afterwards; set `AUDIT_BENCH_NO_PG=1`
//! to skip it. `AUDIT_BENCH_VERIFY_EVENTS` changes the size of the big log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use audit::crypto::MasterKeys;
use audit::{Actor, AuditLog, CaseRef, CheckpointPolicy, Db, Event, EventKind, FixedClock, MasterKey, NoteSigner};
use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use domain::Personnummer;
use serde_json::json;
use sqlx::Connection;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ORIGIN: &str = "bench.hrobot.example/audit";

fn log() -> AuditLog {
    AuditLog::new(
        ORIGIN,
        NoteSigner::generate(ORIGIN).unwrap(),
        MasterKeys::new(MasterKey::generate(), vec![]),
        CheckpointPolicy {
            every_events: 1000,
            every: Duration::from_secs(3600),
        },
        Arc::new(FixedClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap())),
    )
    .unwrap()
}

const PEOPLE: [&str; 3] = ["19121212-1212", "19800101-0019", "20010203-0012"];

/// A realistic event: ids, a small public payload; every third carries
/// personal data about one of three people (sealed on append).
fn event(i: u64) -> Event {
    let e = Event::new(
        [EventKind::Fetched, EventKind::Evaluated, EventKind::Drafted][(i % 3) as usize],
        Actor::parse("robot:ekonomiskt-bistand").unwrap(),
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap() + chrono::Duration::milliseconds(i as i64),
    )
    .with_case(CaseRef::parse(&format!("EB-2026-{:07}", i / 3)).unwrap())
    .with_payload(json!({"state": "drafted", "outcome": "bifall", "robot_run": i / 100}))
    .unwrap();
    if i.is_multiple_of(3) {
        let p = Personnummer::parse(
            PEOPLE[(i / 3 % 3) as usize],
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        )
        .unwrap();
        e.with_personal(&p, json!({"namn": "Förnamn Efternamn", "belopp_ore": 1_234_500 + i}))
            .unwrap()
    } else {
        e
    }
}

struct BenchDb {
    db: Db,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

async fn sqlite() -> BenchDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.sqlite").display());
    let db = Db::connect_or_create(&url).await.unwrap();
    db.migrate().await.unwrap();
    BenchDb {
        db,
        _dir: Some(dir),
        pg: None,
    }
}

fn pg_base() -> String {
    std::env::var("HROBOT_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn postgres() -> BenchDb {
    let name = format!("audit_bench_{}", hex::encode(&MasterKey::generate().id().0[..5]));
    let mut admin = sqlx::PgConnection::connect(&format!("{}/test", pg_base()))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let db = Db::connect(&format!("{}/{name}", pg_base())).await.unwrap();
    db.migrate().await.unwrap();
    BenchDb {
        db,
        _dir: None,
        pg: Some((pg_base(), name)),
    }
}

impl BenchDb {
    async fn drop_pg(self) {
        self.db.close().await;
        if let Some((base, name)) = self.pg {
            let mut admin = sqlx::PgConnection::connect(&format!("{base}/test")).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut engines = vec!["sqlite"];
    if std::env::var_os("AUDIT_BENCH_NO_PG").is_none() {
        engines.push("postgres");
    }
    for engine in engines {
        let bench = rt.block_on(async {
            if engine == "sqlite" {
                sqlite().await
            } else {
                postgres().await
            }
        });
        let log = log();
        let mut next = 0u64;
        let mut g = c.benchmark_group(format!("append/{engine}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("single (one event per transaction)", |b| {
            b.iter_batched(
                || {
                    next += 1;
                    event(next)
                },
                |e| rt.block_on(bench.db.append(&log, std::slice::from_ref(&e))).unwrap(),
                BatchSize::SmallInput,
            )
        });
        const BATCH: u64 = 1000;
        g.throughput(Throughput::Elements(BATCH));
        g.bench_function("batched (1000 events per transaction)", |b| {
            b.iter_batched(
                || {
                    let events: Vec<Event> = (next..next + BATCH).map(event).collect();
                    next += BATCH;
                    events
                },
                |events| rt.block_on(bench.db.append(&log, &events)).unwrap(),
                BatchSize::LargeInput,
            )
        });
        g.finish();
        rt.block_on(bench.drop_pg());
    }
}

/// The big log for proofs and verification, built once.
fn big_log(rt: &tokio::runtime::Runtime, n: u64) -> (BenchDb, AuditLog) {
    rt.block_on(async {
        let bench = sqlite().await;
        let log = log();
        let start = Instant::now();
        let mut at = 0;
        while at < n {
            let end = (at + 5000).min(n);
            let events: Vec<Event> = (at..end).map(event).collect();
            bench.db.append(&log, &events).await.unwrap();
            at = end;
        }
        bench.db.checkpoint(&log).await.unwrap();
        println!(
            "built a log of {n} events in {:.1} s ({:.0} appends/s in batches of 5000)",
            start.elapsed().as_secs_f64(),
            n as f64 / start.elapsed().as_secs_f64()
        );
        (bench, log)
    })
}

fn proofs_and_verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let n: u64 = std::env::var("AUDIT_BENCH_VERIFY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (bench, log) = big_log(&rt, n);

    let mut g = c.benchmark_group(format!("proof/sqlite/{n} events"));
    let mut seq = 0u64;
    g.bench_function("prove (tlog-proof of one event against the latest checkpoint)", |b| {
        b.iter(|| {
            seq = (seq + 7_919) % n;
            rt.block_on(bench.db.prove(seq, None)).unwrap()
        })
    });
    let mut k = 0u64;
    g.bench_function("inclusion proof only", |b| {
        let Db::Sqlite(pool) = &bench.db else { unreachable!() };
        b.iter(|| {
            k = (k + 7_919) % n;
            rt.block_on(async {
                let mut c = pool.acquire().await.unwrap();
                audit::store::inclusion_proof(&mut *c, k, n).await.unwrap()
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("verify/sqlite/{n} events"));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(30));
    g.throughput(Throughput::Elements(n));
    g.bench_function("verify (recompute every leaf and node, check every checkpoint)", |b| {
        b.iter(|| {
            let report = rt.block_on(bench.db.verify(&[log.verifier()])).unwrap();
            assert!(report.is_ok());
            assert_eq!(report.events, n);
        })
    });
    g.finish();
}

criterion_group!(benches, appends, proofs_and_verify);
criterion_main!(benches);
