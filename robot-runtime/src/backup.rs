//! `hrobot backup` and `hrobot restore`: the case store, the audit log and
//! the data directory's other files (letters, filed applications, written-out
//! ruleset versions, the witness copy), never the keys.
//!
//! A backup is a directory (0700, files 0600):
//!
//! - `manifest.json`: when, by which hrobot, the engine, the applied
//!   migrations, every table's row count, the audit log's size and root
//!   hash (read from the same snapshot as the data), each copied file with
//!   its SHA-256, and the key files that are *not* included;
//! - SQLite: `hrobot.sqlite`, written by `VACUUM INTO` (one read
//!   transaction: a consistent snapshot while the service keeps writing);
//!   PostgreSQL: `hrobot.pgdump`, `pg_dump --format=custom` of the `public`
//!   schema, taken in a snapshot exported by a repeatable-read transaction
//!   in which the manifest's counts and log head are read too;
//! - `files/`: the data directory's files, copied before the snapshot (so
//!   the witness copy holds no checkpoint newer than the log).
//!
//! Restore never leaves a half-restored target: it restores into a staging
//! place (a folder beside the data, a temporary PostgreSQL database),
//! checks the files' hashes, the row counts and the log's size and root
//! against the manifest, verifies the log (against the witness copy, when
//! there is one) and holds the case store to it (`audit_cases::check`),
//! and only then moves everything into place.

use crate::clock::Clock;
use crate::config::Settings;
use crate::store::DatabaseKind;
use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, Row};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "manifest.json";
pub const SQLITE_FILE: &str = "hrobot.sqlite";
pub const PG_DUMP_FILE: &str = "hrobot.pgdump";
const FILES: &str = "files";
const STAGING_PREFIX: &str = ".hrobot-restore-";
const FORMAT: u32 = 1;

/// What a backup holds, written beside it as `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub created: DateTime<Utc>,
    pub hrobot_version: String,
    /// `sqlite` or `postgres`.
    pub engine: String,
    /// The database file or dump in the backup folder.
    pub database_file: String,
    pub database_sha256: String,
    /// `pg_dump --version`, for PostgreSQL.
    #[serde(default)]
    pub pg_dump: Option<String>,
    /// Applied migration versions (the case store's and the audit log's).
    pub migrations: Vec<i64>,
    /// Rows per table in the snapshot.
    pub tables: BTreeMap<String, i64>,
    pub audit_log: LogHead,
    pub files: Vec<FileEntry>,
    /// The key files this backup does not hold: back them up separately.
    pub keys_not_included: Vec<String>,
}

/// The audit log as the snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogHead {
    /// Events in the log.
    pub size: u64,
    /// The Merkle tree's root hash at that size (base64).
    pub root: String,
    /// The size of the latest signed checkpoint, if any.
    pub latest_checkpoint: Option<u64>,
}

/// A file copied from the data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a snapshot of the database says about itself.
struct DbState {
    migrations: Vec<i64>,
    tables: BTreeMap<String, i64>,
    head: LogHead,
}

// ------------------------------------------------------------------ backup

/// Writes a backup of `settings`' database and data directory to `dest`
/// (a new or empty folder).
pub async fn backup(settings: &Settings, dest: &Path, clock: &dyn Clock) -> Result<Manifest> {
    prepare_dest(dest)?;
    let url = settings.database_url().expose().clone();
    let keys = key_files(settings);
    // Files first: the witness copy then holds no checkpoint the snapshot
    // of the log is too short for.
    let skip = Skip::new(settings, &url, Some(dest));
    let files = copy_tree(&settings.data_dir, &dest.join(FILES), &skip)?;
    let kind = DatabaseKind::of_url(&url);
    let (database_file, state, pg_dump) = if kind == Some(DatabaseKind::Sqlite) {
        let db = sqlite_path(&url)?;
        let target = dest.join(SQLITE_FILE);
        sqlite_snapshot(&db, &target).await?;
        let state = sqlite_state_of_file(&target).await?;
        (SQLITE_FILE, state, None)
    } else if kind == Some(DatabaseKind::Postgres) {
        let (state, version) = pg_snapshot(&url, &dest.join(PG_DUMP_FILE)).await?;
        (PG_DUMP_FILE, state, Some(version))
    } else {
        bail!("unsupported database URL (use sqlite://… or postgres://…)");
    };
    let database_sha256 = sha256_file(&dest.join(database_file))?;
    let manifest = Manifest {
        format: FORMAT,
        created: clock.now(),
        hrobot_version: env!("CARGO_PKG_VERSION").to_string(),
        engine: if pg_dump.is_some() {
            DatabaseKind::Postgres
        } else {
            DatabaseKind::Sqlite
        }
        .id()
        .to_string(),
        database_file: database_file.to_string(),
        database_sha256,
        pg_dump,
        migrations: state.migrations,
        tables: state.tables,
        audit_log: state.head,
        files,
        keys_not_included: keys.iter().map(|p| p.display().to_string()).collect(),
    };
    let text = serde_json::to_string_pretty(&manifest)?;
    write_new_private(&dest.join(MANIFEST), text.as_bytes())?;
    Ok(manifest)
}

/// The key files of this configuration (never in a backup).
pub fn key_files(settings: &Settings) -> Vec<PathBuf> {
    vec![settings.signing_key_file(), settings.master_key_file()]
}

fn prepare_dest(dest: &Path) -> Result<()> {
    if dest.exists() {
        let mut entries = std::fs::read_dir(dest).with_context(|| format!("reading {}", dest.display()))?;
        if entries.next().is_some() {
            bail!("{} is not empty: back up into a new folder", dest.display());
        }
    }
    make_private_dir(dest)
}

fn make_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

fn set_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    Ok(())
}

fn create_private(path: &Path) -> Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).with_context(|| format!("creating {}", path.display()))
}

fn write_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = create_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// What the copy of the data directory leaves out.
struct Skip {
    exact: Vec<PathBuf>,
    under: Vec<PathBuf>,
}

impl Skip {
    fn new(settings: &Settings, url: &str, dest: Option<&Path>) -> Skip {
        let mut exact = key_files(settings);
        if let Ok(db) = sqlite_path(url) {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut s = db.clone().into_os_string();
                s.push(suffix);
                exact.push(PathBuf::from(s));
            }
        }
        let exact = exact.iter().map(|p| absolute(p)).collect();
        Skip {
            exact,
            under: dest.map(absolute).into_iter().collect(),
        }
    }

    fn skips(&self, path: &Path) -> bool {
        let abs = absolute(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.exact.contains(&abs)
            || self.under.iter().any(|u| abs.starts_with(u))
            || name.starts_with(STAGING_PREFIX)
            || path.extension().is_some_and(|e| e == "key")
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Copies the regular files under `from` to `to` (folders 0700, files
/// 0600), leaving out what `skip` names and symbolic links; returns them
/// sorted by path.
fn copy_tree(from: &Path, to: &Path, skip: &Skip) -> Result<Vec<FileEntry>> {
    let mut out = Vec::new();
    make_private_dir(to)?;
    if from.is_dir() {
        copy_dir(from, to, "", skip, &mut out)?;
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path, rel: &str, skip: &Skip, out: &mut Vec<FileEntry>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .with_context(|| format!("reading {}", from.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if skip.skips(&path) {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            make_private_dir(&to.join(&name))?;
            copy_dir(&path, &to.join(&name), &rel, skip, out)?;
        } else if meta.is_file() {
            let (bytes, sha256) = copy_file(&path, &to.join(&name))?;
            out.push(FileEntry {
                path: rel,
                bytes,
                sha256,
            });
        }
        // Links, pipes, sockets: not data of ours.
    }
    Ok(())
}

/// Copies one file to a new file (0600), fsynced; returns its size and hash.
fn copy_file(from: &Path, to: &Path) -> Result<(u64, String)> {
    use sha2::Digest;
    let mut src = std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut dst = create_private(to)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = src.read(&mut buf)?;
        if k == 0 {
            break;
        }
        let chunk = buf.get(..k).unwrap_or_default();
        hasher.update(chunk);
        dst.write_all(chunk)?;
        n += k as u64;
    }
    dst.sync_all()?;
    Ok((n, hex::encode(hasher.finalize())))
}

fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        hasher.update(buf.get(..k).unwrap_or_default());
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The file of a `sqlite:` URL.
pub fn sqlite_path(url: &str) -> Result<PathBuf> {
    if DatabaseKind::of_url(url) != Some(DatabaseKind::Sqlite) {
        bail!("not a sqlite URL");
    }
    crate::private::sqlite_file(url)
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("an in-memory database cannot be backed up"))
}

/// `VACUUM INTO`: SQLite copies the database as one read transaction sees
/// it, while writers carry on (WAL), into a new file.
async fn sqlite_snapshot(db: &Path, target: &Path) -> Result<()> {
    use sqlx::ConnectOptions;
    if !db.is_file() {
        bail!("the database {} does not exist", db.display());
    }
    let part = target.with_extension("sqlite.part");
    // Not read-only: a read-only connection cannot open a WAL database
    // whose `-shm` is missing (after a clean shutdown). It only reads.
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .context("opening the database")?;
    let to = part.to_str().ok_or_else(|| anyhow!("the backup path is not UTF-8"))?;
    sqlx::query("VACUUM INTO $1")
        .bind(to)
        .execute(&mut conn)
        .await
        .context("VACUUM INTO (the online copy)")?;
    conn.close().await?;
    set_private(&part)?;
    std::fs::File::open(&part)?.sync_all()?;
    std::fs::rename(&part, target)?;
    Ok(())
}

async fn sqlite_state_of_file(file: &Path) -> Result<DbState> {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .connect()
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let state = sqlite_state(&mut conn).await;
    conn.close().await?;
    state
}

macro_rules! state_of {
    ($conn:expr, $tables_sql:expr, $quote:expr) => {{
        let conn = $conn;
        let migrations: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .context("reading the applied migrations")?;
        let names: Vec<String> = sqlx::query_scalar($tables_sql).fetch_all(&mut *conn).await?;
        let mut tables = BTreeMap::new();
        for name in names {
            let sql = format!("SELECT COUNT(*) FROM {}", $quote(&name));
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *conn)
                .await
                .with_context(|| format!("counting {name}"))?;
            tables.insert(name, n);
        }
        let row = sqlx::query("SELECT size, frontier FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await
            .context("reading the audit log's head")?;
        let size: i64 = row.try_get("size")?;
        let frontier: Vec<u8> = row.try_get("frontier")?;
        let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(size) FROM audit_checkpoints")
            .fetch_one(&mut *conn)
            .await?;
        let size = u64::try_from(size).map_err(|_| anyhow!("the audit log's head has a negative size"))?;
        let root = audit::tree::Frontier::from_bytes(size, &frontier)
            .ok_or_else(|| anyhow!("the audit log's head is corrupt (its frontier does not fit its size)"))?
            .root();
        Ok(DbState {
            migrations,
            tables,
            head: LogHead {
                size,
                root: root.to_string(),
                latest_checkpoint: latest.and_then(|v| u64::try_from(v).ok()),
            },
        })
    }};
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn sqlite_state(conn: &mut sqlx::SqliteConnection) -> Result<DbState> {
    state_of!(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        quote_ident
    )
}

async fn pg_state(conn: &mut sqlx::PgConnection) -> Result<DbState> {
    state_of!(
        conn,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        quote_ident
    )
}

/// A PostgreSQL URL split for libpq's tools: the URL without its password,
/// and the password (given to them in `PGPASSWORD`, never on the command
/// line, where `ps` shows it).
struct PgTarget {
    url: String,
    password: Option<String>,
    database: String,
}

impl PgTarget {
    fn parse(url: &str) -> Result<PgTarget> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| anyhow!("not a PostgreSQL URL"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (Some(user), Some(pw.to_string())),
                None => (Some(u), None),
            },
            None => (None, None),
        };
        let database = if database.is_empty() {
            user.unwrap_or("postgres").to_string()
        } else {
            database.to_string()
        };
        let mut url = format!("{scheme}://");
        if let Some(u) = user {
            url.push_str(u);
            url.push('@');
        }
        url.push_str(host);
        url.push('/');
        url.push_str(&database);
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        Ok(PgTarget {
            url,
            password,
            database,
        })
    }

    /// The same server, another database.
    fn with_database(&self, name: &str) -> PgTarget {
        let base = self.url.split('?').next().unwrap_or_default();
        let query = self.url.split_once('?').map(|(_, q)| q);
        let prefix = base.rsplit_once('/').map(|(p, _)| p).unwrap_or(base);
        let mut url = format!("{prefix}/{name}");
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        PgTarget {
            url,
            password: self.password.clone(),
            database: name.to_string(),
        }
    }

    /// The URL with the password, for sqlx.
    fn full_url(&self) -> String {
        match &self.password {
            None => self.url.clone(),
            Some(pw) => match self.url.split_once("://") {
                Some((scheme, rest)) => match rest.split_once('@') {
                    Some((user, tail)) => format!("{scheme}://{user}:{pw}@{tail}"),
                    None => self.url.clone(),
                },
                None => self.url.clone(),
            },
        }
    }

    fn command(&self, program: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(program);
        if let Some(pw) = &self.password {
            c.env("PGPASSWORD", pw);
        }
        c.kill_on_drop(true);
        c
    }
}

async fn tool_version(program: &str) -> Result<String> {
    let out = tokio::process::Command::new(program)
        .arg("--version")
        .output()
        .await
        .with_context(|| {
            format!("{program} is not on PATH: install the PostgreSQL client tools of the server's major version (Debian: postgresql-client)")
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `pg_dump --format=custom` of the `public` schema, in a snapshot
/// exported by a repeatable-read transaction that reads the manifest's
/// counts and the log's head in the same snapshot.
async fn pg_snapshot(url: &str, target: &Path) -> Result<(DbState, String)> {
    let version = tool_version("pg_dump").await?;
    let pg = PgTarget::parse(url)?;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut conn)
        .await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut conn)
        .await?;
    let state = pg_state(&mut conn).await?;
    let part = target.with_extension("pgdump.part");
    let out = pg
        .command("pg_dump")
        .arg("--format=custom")
        .arg("--schema=public")
        .arg("--no-owner")
        .arg(format!("--snapshot={snapshot}"))
        .arg(format!("--file={}", part.display()))
        .arg(format!("--dbname={}", pg.url))
        .output()
        .await
        .context("running pg_dump")?;
    sqlx::query("COMMIT").execute(&mut conn).await?;
    conn.close().await?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&part);
        bail!("pg_dump failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    set_private(&part)?;
    std::fs::File::open(&part)?.sync_all()?;
    std::fs::rename(&part, target)?;
    Ok((state, version))
}

// ----------------------------------------------------------------- restore

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub events: u64,
    pub cases: usize,
    pub files: usize,
    /// The witness checkpoint the restored log was checked against.
    pub witness: Option<u64>,
}

/// Why a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The target holds data and `--force` was not given.
    #[error("{0}")]
    NotEmpty(String),
    /// The restored copy did not verify; nothing was put in place.
    #[error("the backup did not verify; nothing was restored:\n  {}", .0.join("\n  "))]
    Refused(Vec<String>),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RestoreError {
    fn from(e: sqlx::Error) -> RestoreError {
        RestoreError::Other(e.into())
    }
}

impl From<std::io::Error> for RestoreError {
    fn from(e: std::io::Error) -> RestoreError {
        RestoreError::Other(e.into())
    }
}

/// Restores the backup in `src` into `settings`' database and data
/// directory, which must be empty unless `force`.
pub async fn restore(settings: &Settings, src: &Path, force: bool) -> Result<Restored, RestoreError> {
    let text = std::fs::read_to_string(src.join(MANIFEST))
        .with_context(|| format!("reading {}", src.join(MANIFEST).display()))?;
    let manifest: Manifest = serde_json::from_str(&text).context("the backup's manifest")?;
    if manifest.format != FORMAT {
        return Err(anyhow!("backup format {} is not known to this hrobot", manifest.format).into());
    }
    let url = settings.database_url().expose().clone();
    let engine = DatabaseKind::of_url(&url)
        .ok_or_else(|| anyhow!("unsupported database URL (use sqlite://… or postgres://…)"))?
        .id();
    if manifest.engine != engine {
        return Err(anyhow!(
            "the backup is of a {} database, the configuration's is {engine}",
            manifest.engine
        )
        .into());
    }
    let known = crate::store::known_migrations(engine);
    let newer: Vec<String> = manifest
        .migrations
        .iter()
        .filter(|v| !known.contains(v))
        .map(i64::to_string)
        .collect();
    if !newer.is_empty() {
        return Err(anyhow!(
            "the backup was made by a newer hrobot ({}; migrations {}): restore it with that version",
            manifest.hrobot_version,
            newer.join(", ")
        )
        .into());
    }
    let dump = src.join(&manifest.database_file);
    if sha256_file(&dump)? != manifest.database_sha256 {
        return Err(RestoreError::Refused(vec![format!(
            "{} is not the file the manifest names (its SHA-256 differs)",
            manifest.database_file
        )]));
    }
    let data_dir = settings.data_dir.clone();
    make_private_dir(&data_dir)?;
    let skip = Skip::new(settings, &url, None);
    let target_files = data_files(&data_dir, &skip)?;
    let staging = data_dir.join(format!("{STAGING_PREFIX}{}", random_hex::<6>()));
    let result = if engine == "sqlite" {
        restore_sqlite(settings, &url, src, &manifest, &staging, &target_files, force).await
    } else {
        restore_pg(settings, &url, src, &manifest, &staging, &target_files, force).await
    };
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn random_hex<const N: usize>() -> String {
    let mut b = [0u8; N];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
    hex::encode(b)
}

/// Files (not folders) the data directory holds, besides keys and the database.
fn data_files(dir: &Path, skip: &Skip) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    fn walk(d: &Path, skip: &Skip, out: &mut Vec<PathBuf>) -> Result<()> {
        if !d.is_dir() {
            return Ok(());
        }
        for e in std::fs::read_dir(d)? {
            let p = e?.path();
            if skip.skips(&p) {
                continue;
            }
            let m = std::fs::symlink_metadata(&p)?;
            if m.is_dir() {
                walk(&p, skip, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    walk(dir, skip, &mut out)?;
    Ok(out)
}

/// Copies the backup's files into `staging/files`, checking each against
/// the manifest; returns the problems.
fn stage_files(src: &Path, manifest: &Manifest, staging: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let to = staging.join(FILES);
    make_private_dir(&to)?;
    for f in &manifest.files {
        let rel = Path::new(&f.path);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            problems.push(format!(
                "the manifest names a file outside the data directory: {:?}",
                f.path
            ));
            continue;
        }
        let from = src.join(FILES).join(rel);
        let dest = to.join(rel);
        if let Some(parent) = dest.parent() {
            make_private_dir(parent)?;
        }
        match copy_file(&from, &dest) {
            Ok((bytes, sha)) if bytes == f.bytes && sha == f.sha256 => {}
            Ok(_) => problems.push(format!("file {} differs from the manifest (size or SHA-256)", f.path)),
            Err(e) => problems.push(format!("file {}: {e:#}", f.path)),
        }
    }
    Ok(problems)
}

/// Holds a restored database to the manifest and to its own audit log.
async fn check_restored(
    settings: &Settings,
    db_url: &str,
    manifest: &Manifest,
    witness_dir: Option<&Path>,
) -> Result<(Vec<String>, u64, usize, Option<u64>)> {
    let mut problems = Vec::new();
    let db = audit::Db::connect(db_url)
        .await
        .context("opening the restored database")?;
    let state = match &db {
        audit::Db::Sqlite(pool) => sqlite_state(&mut *pool.acquire().await?).await?,
        audit::Db::Postgres(pool) => pg_state(&mut *pool.acquire().await?).await?,
    };
    if state.migrations != manifest.migrations {
        problems.push("the applied migrations differ from the manifest's".to_string());
    }
    for (table, n) in &manifest.tables {
        match state.tables.get(table) {
            Some(m) if m == n => {}
            Some(m) => problems.push(format!("table {table}: {m} rows, the manifest says {n}")),
            None => problems.push(format!("table {table} is missing")),
        }
    }
    for table in state.tables.keys() {
        if !manifest.tables.contains_key(table) {
            problems.push(format!("table {table} is not in the manifest"));
        }
    }
    if state.head != manifest.audit_log {
        problems.push(format!(
            "the audit log's head is size {} root {}, the manifest says size {} root {}",
            state.head.size, state.head.root, manifest.audit_log.size, manifest.audit_log.root
        ));
    }
    let audit = crate::keys::audit_settings(settings);
    let known = audit
        .verifiers()
        .context("the audit signing key (restore the keys first: they are not in the backup)")?;
    let witness = match witness_dir.filter(|d| d.is_dir()) {
        Some(d) => audit::witness::WitnessDir::new(d)
            .newest(&known)
            .context("the witness copy")?
            .found
            .map(|(_, cp)| cp),
        None => None,
    };
    let report = db
        .verify_against(&known, witness.as_ref().map(|cp| &cp.checkpoint))
        .await
        .context("verifying the restored audit log")?;
    if !report.is_ok() {
        let first = report
            .first_bad_seq()
            .map(|s| format!(" (first bad sequence number {s})"))
            .unwrap_or_default();
        problems.push(format!("the audit log does not verify{first}:"));
        for p in report.problems.iter().take(10) {
            problems.push(format!("  {p}"));
        }
    } else if report.root.to_string() != manifest.audit_log.root || report.events != manifest.audit_log.size {
        problems.push(format!(
            "the recomputed log (size {}, root {}) is not the manifest's (size {}, root {})",
            report.events, report.root, manifest.audit_log.size, manifest.audit_log.root
        ));
    }
    // The case store is held to the log only when the log itself is sound.
    let mut case_count = 0;
    if report.is_ok() {
        match crate::audit_cases::check(&db).await {
            Ok(cases) => {
                case_count = cases.cases;
                for f in cases.findings.iter().take(20) {
                    problems.push(format!("case {}: {}", f.case, f.what));
                }
                if cases.findings.len() > 20 {
                    problems.push(format!("… and {} more case differences", cases.findings.len() - 20));
                }
                for r in cases.rules.iter().take(20) {
                    problems.push(format!("rulesets: {r}"));
                }
            }
            Err(e) => problems.push(format!("the case store could not be held to the log: {e:#}")),
        }
    }
    db.close().await;
    Ok((
        problems,
        report.events,
        case_count,
        witness.map(|cp| cp.checkpoint.size),
    ))
}

fn not_empty(what: &str) -> RestoreError {
    RestoreError::NotEmpty(format!(
        "{what}: restore goes into an empty data directory and database; --force replaces what is there (the keys are kept)"
    ))
}

async fn restore_sqlite(
    settings: &Settings,
    url: &str,
    src: &Path,
    manifest: &Manifest,
    staging: &Path,
    target_files: &[PathBuf],
    force: bool,
) -> Result<Restored, RestoreError> {
    let db = sqlite_path(url)?;
    let db_exists = std::fs::metadata(&db).is_ok_and(|m| m.len() > 0);
    if !force && (db_exists || !target_files.is_empty()) {
        return Err(not_empty(&format!(
            "{} holds data ({})",
            settings.data_dir.display(),
            if db_exists { "a database" } else { "files" }
        )));
    }
    make_private_dir(staging)?;
    let mut problems = stage_files(src, manifest, staging)?;
    let staged_db = staging.join(SQLITE_FILE);
    copy_file(&src.join(&manifest.database_file), &staged_db)?;
    let staged_url = format!("sqlite://{}", staged_db.display());
    let (more, events, cases, witness) = check_restored(
        settings,
        &staged_url,
        manifest,
        Some(&staging.join(FILES).join("audit-witness")),
    )
    .await?;
    problems.extend(more);
    if !problems.is_empty() {
        return Err(RestoreError::Refused(problems));
    }
    // Verified: replace what is there.
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut s = db.clone().into_os_string();
        s.push(suffix);
        let p = PathBuf::from(s);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    for f in target_files {
        std::fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
    }
    move_tree(&staging.join(FILES), &settings.data_dir)?;
    if let Some(parent) = db.parent() {
        make_private_dir(parent)?;
    }
    move_file(&staged_db, &db)?;
    for suffix in ["-wal", "-shm"] {
        let mut s = staged_db.clone().into_os_string();
        s.push(suffix);
        let p = PathBuf::from(s);
        if p.exists() {
            let mut t = db.clone().into_os_string();
            t.push(suffix);
            move_file(&p, Path::new(&t))?;
        }
    }
    Ok(Restored {
        manifest: manifest.clone(),
        events,
        cases,
        files: manifest.files.len(),
        witness,
    })
}

/// Moves every file under `from` into the same place under `to`.
fn move_tree(from: &Path, to: &Path) -> Result<()> {
    make_private_dir(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let p = e.path();
        let t = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            move_tree(&p, &t)?;
        } else {
            move_file(&p, &t)?;
        }
    }
    Ok(())
}

/// Renames, or copies and removes across file systems.
fn move_file(from: &Path, to: &Path) -> Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    if to.exists() {
        std::fs::remove_file(to)?;
    }
    copy_file(from, to)?;
    std::fs::remove_file(from)?;
    Ok(())
}

async fn restore_pg(
    settings: &Settings,
    url: &str,
    src: &Path,
    manifest: &Manifest,
    staging: &Path,
    target_files: &[PathBuf],
    force: bool,
) -> Result<Restored, RestoreError> {
    tool_version("pg_restore").await?;
    let target = PgTarget::parse(url)?;
    let admin_target = target.with_database("postgres");
    let mut admin = sqlx::PgConnection::connect(&admin_target.full_url())
        .await
        .context("connecting to the server's postgres database (restore needs a role that may create databases)")?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&target.database)
        .fetch_one(&mut admin)
        .await?;
    let has_tables = if exists {
        let mut c = sqlx::PgConnection::connect(url)
            .await
            .context("connecting to the target database")?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&mut c)
            .await?;
        c.close().await?;
        n > 0
    } else {
        false
    };
    if !force && (has_tables || !target_files.is_empty()) {
        return Err(not_empty(&if has_tables {
            format!("the database {} holds tables", target.database)
        } else {
            format!("{} holds files", settings.data_dir.display())
        }));
    }
    make_private_dir(staging)?;
    let mut problems = stage_files(src, manifest, staging)?;
    let temp_name = format!(
        "{}_restore_{}",
        target.database.chars().take(40).collect::<String>(),
        random_hex::<4>()
    );
    let temp = target.with_database(&temp_name);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {} TEMPLATE template0",
        quote_ident(&temp_name)
    )))
    .execute(&mut admin)
    .await
    .context("creating the temporary database")?;
    let checked = async {
        // The dump creates the schema `public` itself.
        let mut c = sqlx::PgConnection::connect(&temp.full_url()).await?;
        sqlx::query("DROP SCHEMA public CASCADE").execute(&mut c).await?;
        c.close().await?;
        let out = temp
            .command("pg_restore")
            .arg("--no-owner")
            .arg("--exit-on-error")
            .arg(format!("--dbname={}", temp.url))
            .arg(src.join(&manifest.database_file))
            .output()
            .await
            .context("running pg_restore")?;
        if !out.status.success() {
            bail!("pg_restore failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        check_restored(
            settings,
            &temp.full_url(),
            manifest,
            Some(&staging.join(FILES).join("audit-witness")),
        )
        .await
    }
    .await;
    let (more, events, cases, witness) = match checked {
        Ok(c) => c,
        Err(e) => {
            drop_database(&mut admin, &temp_name).await;
            return Err(e.into());
        }
    };
    problems.extend(more);
    if !problems.is_empty() {
        drop_database(&mut admin, &temp_name).await;
        return Err(RestoreError::Refused(problems));
    }
    // Verified: the temporary database becomes the target.
    let committed = async {
        if exists {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {} WITH (FORCE)",
                quote_ident(&target.database)
            )))
            .execute(&mut admin)
            .await
            .context("dropping the empty target database")?;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&temp_name),
            quote_ident(&target.database)
        )))
        .execute(&mut admin)
        .await
        .context("renaming the restored database")?;
        for f in target_files {
            std::fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
        }
        move_tree(&staging.join(FILES), &settings.data_dir)?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = committed {
        drop_database(&mut admin, &temp_name).await;
        return Err(e.into());
    }
    let _ = admin.close().await;
    Ok(Restored {
        manifest: manifest.clone(),
        events,
        cases,
        files: manifest.files.len(),
        witness,
    })
}

/// Best effort: the temporary database of a refused or failed restore.
async fn drop_database(admin: &mut sqlx::PgConnection, name: &str) {
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    )))
    .execute(admin)
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_lose_their_password_to_the_environment() {
        let t = PgTarget::parse("postgres://hrobot:s3cret@db.example:5432/hrobot?sslmode=require").unwrap();
        assert_eq!(t.url, "postgres://hrobot@db.example:5432/hrobot?sslmode=require");
        assert_eq!(t.password.as_deref(), Some("s3cret"));
        assert_eq!(t.database, "hrobot");
        let a = t.with_database("postgres");
        assert_eq!(a.url, "postgres://hrobot@db.example:5432/postgres?sslmode=require");
        assert_eq!(
            a.full_url(),
            "postgres://hrobot:s3cret@db.example:5432/postgres?sslmode=require"
        );
        let plain = PgTarget::parse("postgres://postgres@127.0.0.1:5432/x").unwrap();
        assert_eq!(plain.password, None);
        assert_eq!(plain.full_url(), "postgres://postgres@127.0.0.1:5432/x");
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/hrobot/hrobot.sqlite?mode=rwc").unwrap(),
            PathBuf::from("/var/lib/hrobot/hrobot.sqlite")
        );
        assert_eq!(
            sqlite_path("sqlite:data/x.sqlite").unwrap(),
            PathBuf::from("data/x.sqlite")
        );
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
