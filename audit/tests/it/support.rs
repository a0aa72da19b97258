//! Test fixtures: a real SQLite file in a temp dir, or a fresh PostgreSQL
//! database per test; keys; sample events.

use audit::crypto::MasterKeys;
use audit::{Actor, AuditLog, CaseRef, CheckpointPolicy, Db, Event, EventKind, FixedClock, MasterKey, NoteSigner};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::Personnummer;
use serde_json::json;
use sqlx::Connection;
use std::sync::Arc;

pub const ORIGIN: &str = "test.hrobot.example/audit";

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
}

pub fn pnr(s: &str) -> Personnummer {
    Personnummer::parse(s, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).unwrap()
}

pub struct Keys {
    pub signer: NoteSigner,
    pub master: MasterKey,
    pub clock: Arc<FixedClock>,
}

impl Keys {
    pub fn new() -> Keys {
        Keys {
            signer: NoteSigner::generate(ORIGIN).unwrap(),
            master: MasterKey::generate(),
            clock: Arc::new(FixedClock::new(t0())),
        }
    }

    pub fn log(&self, policy: CheckpointPolicy) -> AuditLog {
        AuditLog::new(
            ORIGIN,
            self.signer.clone(),
            MasterKeys::new(self.master.clone(), vec![]),
            policy,
            self.clock.clone(),
        )
        .unwrap()
    }
}

/// A policy that checkpoints every `n` events and never by time.
pub fn every(n: u64) -> CheckpointPolicy {
    CheckpointPolicy {
        every_events: n,
        every: std::time::Duration::from_secs(1_000_000),
    }
}

/// Event `i` of a varied, realistic stream: every third carries personal
/// data about one of three people.
pub fn event(i: u64) -> Event {
    let kinds = [
        EventKind::Fetched,
        EventKind::Evaluated,
        EventKind::Drafted,
        EventKind::Approved,
        EventKind::Sent,
    ];
    let kind = kinds[(i % kinds.len() as u64) as usize];
    let e = Event::new(
        kind,
        Actor::parse(if i % 4 == 3 {
            "user:k1042"
        } else {
            "robot:ekonomiskt-bistand"
        })
        .unwrap(),
        t0() + chrono::Duration::seconds(i as i64),
    )
    .with_case(CaseRef::parse(&format!("EB-2026-{:06}", i / 5)).unwrap())
    .with_payload(json!({"step": i, "state": kind.as_str()}))
    .unwrap();
    if i.is_multiple_of(3) {
        let who = PEOPLE[(i / 3 % 3) as usize];
        e.with_personal(
            &pnr(who),
            json!({"namn": format!("Person {who}"), "belopp_ore": 1_234_500 + i}),
        )
        .unwrap()
    } else {
        e
    }
}

pub const PEOPLE: [&str; 3] = ["19121212-1212", "19800101-0019", "20010203-0012"];

/// A database for one test; dropped (PostgreSQL) or deleted (SQLite) after.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

pub fn pg_base() -> String {
    std::env::var("HROBOT_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("case.sqlite").display());
        let db = Db::connect_or_create(&url).await.unwrap();
        db.migrate().await.unwrap();
        TestDb {
            db,
            url,
            _dir: Some(dir),
            pg_name: None,
        }
    }

    pub async fn postgres() -> TestDb {
        let name = format!("audit_test_{}", hex::encode(rand_bytes()));
        let mut admin = sqlx::PgConnection::connect(&format!("{}/test", pg_base()))
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = format!("{}/{name}", pg_base());
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        TestDb {
            db,
            url,
            _dir: None,
            pg_name: Some(name),
        }
    }
}

fn rand_bytes() -> [u8; 6] {
    let mut b = [0u8; 6];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
    b
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop needs async work: do it on a thread with its own runtime.
            // The pool belongs to the test's runtime, which is blocked here,
            // so leave it alone: FORCE ends its connections.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{}/test", pg_base())).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Flips one bit of a stored value, past the append-only triggers, as an
/// administrator with direct database access could.
pub async fn flip(db: &Db, table: &str, column: &str, key: (&str, i64), key2: Option<(&str, i64)>, bit: usize) {
    let filter = match key2 {
        Some((k2, v2)) => format!("{} = {} AND {k2} = {v2}", key.0, key.1),
        None => format!("{} = {}", key.0, key.1),
    };
    match db {
        Db::Sqlite(pool) => {
            let mut c = pool.acquire().await.unwrap();
            let value: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {column} FROM {table} WHERE {filter}"
            )))
            .fetch_one(&mut *c)
            .await
            .unwrap();
            let flipped = flip_bit(value, bit);
            for trig in ["no_update", "no_delete"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER IF EXISTS {table}_{trig}")))
                    .execute(&mut *c)
                    .await
                    .unwrap();
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET {column} = ?1 WHERE {filter}"
            )))
            .bind(flipped)
            .execute(&mut *c)
            .await
            .unwrap();
        }
        Db::Postgres(pool) => {
            let mut c = pool.acquire().await.unwrap();
            let value: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {column} FROM {table} WHERE {filter}"
            )))
            .fetch_one(&mut *c)
            .await
            .unwrap();
            let flipped = flip_bit(value, bit);
            sqlx::query(sqlx::AssertSqlSafe(format!("ALTER TABLE {table} DISABLE TRIGGER ALL")))
                .execute(&mut *c)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET {column} = $1 WHERE {filter}"
            )))
            .bind(flipped)
            .execute(&mut *c)
            .await
            .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("ALTER TABLE {table} ENABLE TRIGGER ALL")))
                .execute(&mut *c)
                .await
                .unwrap();
        }
    }
}

pub fn flip_bit(mut v: Vec<u8>, bit: usize) -> Vec<u8> {
    let bit = bit % (v.len() * 8);
    v[bit / 8] ^= 1 << (bit % 8);
    v
}
