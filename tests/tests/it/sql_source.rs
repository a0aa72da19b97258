//! The SQL source: applications read from a view in another database
//! (PostgreSQL and SQLite), acknowledged by a statement.

use crate::support::*;
use connectors::sql_source::{SqlSource, SqlSourceConfig};
use connectors::{Ack, ApplicationSource};
use sqlx::Connection;

/// Another system's tables, and the view we read.
const SCHEMA: &[&str] = &[
    "CREATE TABLE ekb_ansokan (nr TEXT PRIMARY KEY, innehall TEXT NOT NULL, hamtad INTEGER NOT NULL DEFAULT 0)",
    "CREATE VIEW v_att_hamta AS SELECT nr AS id, innehall AS document FROM ekb_ansokan WHERE hamtad = 0",
];

fn seeded() -> Vec<(String, String)> {
    tests::data::Dataset::load(&seeded_applications())
        .unwrap()
        .iter()
        .take(15)
        .map(|s| (s.file.trim_end_matches(".json").to_string(), s.application.to_string()))
        .collect()
}

async fn exercise(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("url");
    std::fs::write(&url_file, url).unwrap();
    let cfg = SqlSourceConfig {
        url_env: None,
        url_file: Some(url_file),
        query: "SELECT id, document FROM v_att_hamta".into(),
        acknowledge: Some("UPDATE ekb_ansokan SET hamtad = 1 WHERE nr = $1".into()),
        field_map: None,
        timeout_seconds: 5,
    };
    let src = SqlSource::new("sql", &cfg).await.unwrap();
    src.health().await.unwrap();
    let rows = seeded();
    let items = src.list_new(100).await.unwrap();
    assert_eq!(items.len(), rows.len());
    let mut sorted: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    sorted.sort();
    assert_eq!(
        items.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        sorted,
        "ordered by id"
    );
    for item in &items[..5] {
        let doc = src.fetch(item).await.unwrap();
        let want = &rows.iter().find(|r| r.0 == item.id).unwrap().1;
        assert_eq!(String::from_utf8(doc).unwrap(), *want);
        src.acknowledge(item, &Ack::Accepted).await.unwrap();
        src.acknowledge(item, &Ack::Accepted).await.unwrap();
    }
    assert_eq!(
        src.list_new(100).await.unwrap().len(),
        rows.len() - 5,
        "acknowledged rows leave the view"
    );
    assert_eq!(src.list_new(3).await.unwrap().len(), 3);
    // A query that names a missing column is a permanent error.
    let bad = SqlSource::new(
        "sql",
        &SqlSourceConfig {
            query: "SELECT nr AS id FROM ekb_ansokan".into(),
            ..cfg.clone()
        },
    )
    .await
    .unwrap();
    let item = src.list_new(1).await.unwrap().pop().unwrap();
    assert!(!bad.fetch(&item).await.unwrap_err().is_retriable());
    // Not a SELECT: refused up front.
    assert!(
        SqlSource::new(
            "sql",
            &SqlSourceConfig {
                query: "DELETE FROM ekb_ansokan".into(),
                ..cfg.clone()
            }
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn reads_a_view_in_postgresql() {
    let name = format!("hrobot_sqlsrc_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/test")
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    for s in SCHEMA {
        sqlx::query(sqlx::AssertSqlSafe(*s)).execute(&mut c).await.unwrap();
    }
    for (id, doc) in seeded() {
        sqlx::query("INSERT INTO ekb_ansokan (nr, innehall) VALUES ($1, $2)")
            .bind(id)
            .bind(doc)
            .execute(&mut c)
            .await
            .unwrap();
    }
    exercise(&url).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

#[tokio::test]
async fn reads_a_view_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("other.sqlite").display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for s in SCHEMA {
        sqlx::query(sqlx::AssertSqlSafe(*s)).execute(&mut c).await.unwrap();
    }
    for (id, doc) in seeded() {
        sqlx::query("INSERT INTO ekb_ansokan (nr, innehall) VALUES ($1, $2)")
            .bind(id)
            .bind(doc)
            .execute(&mut c)
            .await
            .unwrap();
    }
    exercise(&url).await;
}
