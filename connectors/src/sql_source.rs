//! Applications read from a view (or any query) in another database, over
//! sqlx: PostgreSQL or SQLite.
//!
//! The query must return two text columns, `id` (the row's stable id) and
//! `document` (the application as JSON; cast JSONB with `::text`). It may
//! be a plain view name's `SELECT id, document FROM v_ekb_ansokningar`. The
//! optional `acknowledge` statement marks a row as picked up (`$1` is the
//! id); without one, rows stay in the view and the store recognises them as
//! already stored. With `field_map`, the document is mapped from the other
//! system's shape like the e-service's.

use crate::field_map::FieldMap;
use crate::{Ack, ApplicationSource, ConnectorError, ItemRef};
use async_trait::async_trait;
use serde::Deserialize;
use sqlx::Row;
use std::path::PathBuf;
use std::time::Duration;

const NAME: &str = "sql";

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SqlSourceConfig {
    /// The environment variable holding the database URL (it may carry a password) …
    pub url_env: Option<String>,
    /// … or a file holding it (mode 0600).
    pub url_file: Option<PathBuf>,
    /// `SELECT id, document FROM …` — the rows waiting to be fetched.
    pub query: String,
    /// Marks a row as fetched; `$1` is its id. Optional.
    pub acknowledge: Option<String>,
    pub field_map: Option<PathBuf>,
    #[serde(default = "timeout")]
    pub timeout_seconds: u64,
}

fn timeout() -> u64 {
    20
}

enum Pool {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

pub struct SqlSource {
    name: String,
    pool: Pool,
    query: String,
    acknowledge: Option<String>,
    map: Option<FieldMap>,
    timeout: Duration,
}

impl std::fmt::Debug for SqlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn db_error(operation: &str, e: &sqlx::Error) -> ConnectorError {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            ConnectorError::retriable(NAME, format!("{operation}: the database is unreachable"))
        }
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            // Serialization failures, deadlocks, lock timeouts, "busy": try again.
            let retriable = matches!(code.as_str(), "40001" | "40P01" | "55P03" | "57P01" | "5" | "6");
            let msg = format!("{operation}: database error {code}");
            if retriable {
                ConnectorError::retriable(NAME, msg)
            } else {
                ConnectorError::permanent(NAME, msg)
            }
        }
        sqlx::Error::ColumnNotFound(c) => {
            ConnectorError::permanent(NAME, format!("{operation}: the query has no column {c:?}"))
        }
        sqlx::Error::ColumnDecode { index, .. } => {
            ConnectorError::permanent(NAME, format!("{operation}: column {index} is not text (cast it)"))
        }
        _ => ConnectorError::permanent(
            NAME,
            format!("{operation}: {}", e.to_string().chars().take(120).collect::<String>()),
        ),
    }
}

impl SqlSource {
    pub async fn new(name: impl Into<String>, cfg: &SqlSourceConfig) -> Result<SqlSource, ConnectorError> {
        let url = match (&cfg.url_env, &cfg.url_file) {
            (Some(var), _) => std::env::var(var).map_err(|_| {
                ConnectorError::permanent(
                    NAME,
                    format!("the environment variable {var} (the database URL) is not set"),
                )
            })?,
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| {
                    ConnectorError::permanent(NAME, format!("cannot read the database URL file: {}", e.kind()))
                })?
                .trim()
                .to_string(),
            (None, None) => return Err(ConnectorError::permanent(NAME, "configure url_env or url_file")),
        };
        let timeout = Duration::from_secs(cfg.timeout_seconds.max(1));
        let pool = if url.starts_with("postgres") {
            Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(timeout)
                    .connect_lazy(&url)
                    .map_err(|e| db_error("connect", &e))?,
            )
        } else if url.starts_with("sqlite") {
            Pool::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(timeout)
                    .connect_lazy(&url)
                    .map_err(|e| db_error("connect", &e))?,
            )
        } else {
            return Err(ConnectorError::permanent(
                NAME,
                "the database URL must start with postgres:// or sqlite://",
            ));
        };
        let map = match &cfg.field_map {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConnectorError::permanent(NAME, format!("cannot read the field map: {}", e.kind())))?;
                Some(
                    toml::from_str(&text)
                        .map_err(|e| ConnectorError::permanent(NAME, format!("the field map: {e}")))?,
                )
            }
        };
        let q = cfg.query.trim().trim_end_matches(';').to_string();
        if !q.to_lowercase().starts_with("select") {
            return Err(ConnectorError::permanent(NAME, "the query must be a SELECT"));
        }
        Ok(SqlSource {
            name: name.into(),
            pool,
            query: q,
            acknowledge: cfg.acknowledge.clone(),
            map,
            timeout,
        })
    }

    async fn timed<T>(
        &self,
        operation: &str,
        f: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, ConnectorError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(|e| db_error(operation, &e)),
            Err(_) => Err(ConnectorError::retriable(NAME, format!("{operation}: timed out"))),
        }
    }
}

#[async_trait]
impl ApplicationSource for SqlSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn list_new(&self, limit: usize) -> Result<Vec<ItemRef>, ConnectorError> {
        let sql = format!("SELECT id FROM ({}) AS q ORDER BY id LIMIT $1", self.query);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ids: Vec<String> = match &self.pool {
            Pool::Postgres(p) => {
                self.timed(
                    "list",
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(p),
                )
                .await?
            }
            Pool::Sqlite(p) => {
                self.timed(
                    "list",
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(p),
                )
                .await?
            }
        };
        Ok(ids.into_iter().map(|id| ItemRef { id }).collect())
    }

    async fn fetch(&self, item: &ItemRef) -> Result<Vec<u8>, ConnectorError> {
        let sql = format!("SELECT document FROM ({}) AS q WHERE id = $1", self.query);
        let doc: Option<String> = match &self.pool {
            Pool::Postgres(p) => {
                self.timed("fetch", async {
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&item.id)
                        .fetch_optional(p)
                        .await?;
                    row.map(|r| r.try_get::<String, _>("document")).transpose()
                })
                .await?
            }
            Pool::Sqlite(p) => {
                self.timed("fetch", async {
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&item.id)
                        .fetch_optional(p)
                        .await?;
                    row.map(|r| r.try_get::<String, _>("document")).transpose()
                })
                .await?
            }
        };
        let doc = doc.ok_or_else(|| ConnectorError::permanent(NAME, "the row is gone"))?;
        match &self.map {
            None => Ok(doc.into_bytes()),
            Some(m) => {
                let v: serde_json::Value = serde_json::from_str(&doc)
                    .map_err(|_| ConnectorError::permanent(NAME, "the document column is not JSON"))?;
                let (mapped, _) = m.apply_lenient(&v);
                serde_json::to_vec(&mapped)
                    .map_err(|_| ConnectorError::permanent(NAME, "cannot encode the mapped application"))
            }
        }
    }

    async fn acknowledge(&self, item: &ItemRef, _ack: &Ack) -> Result<(), ConnectorError> {
        let Some(stmt) = &self.acknowledge else { return Ok(()) };
        match &self.pool {
            Pool::Postgres(p) => {
                self.timed(
                    "acknowledge",
                    sqlx::query(sqlx::AssertSqlSafe(stmt.clone())).bind(&item.id).execute(p),
                )
                .await?;
            }
            Pool::Sqlite(p) => {
                self.timed(
                    "acknowledge",
                    sqlx::query(sqlx::AssertSqlSafe(stmt.clone())).bind(&item.id).execute(p),
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        let sql = format!("SELECT COUNT(*) FROM ({}) AS q", self.query);
        match &self.pool {
            Pool::Postgres(p) => {
                self.timed(
                    "health",
                    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(p),
                )
                .await?;
            }
            Pool::Sqlite(p) => {
                self.timed(
                    "health",
                    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(p),
                )
                .await?;
            }
        }
        Ok(())
    }
}
