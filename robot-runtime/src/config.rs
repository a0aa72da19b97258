//! Typed, layered configuration: the TOML file, then environment variables
//! (`HROBOT_…`), then command-line flags. Secrets are wrapped so that they
//! never print.

mod approval;
mod outbox;
mod web;

pub use crate::scheduler::Missed;
pub use approval::ApprovalSettings;
pub use outbox::{DeliverySettings, OutboxSettings};
pub use web::{OidcSettings, RolesFrom, WebSettings};

use audit::secret::Secret;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the SQLite file, keys and demo data live by default.
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub workers: WorkerSettings,
    pub audit: AuditSection,
    pub log: LogSettings,
    pub approval: ApprovalSettings,
    pub outbox: OutboxSettings,
    #[serde(rename = "robots")]
    pub robots: Vec<RobotSettings>,
    /// The web UI and API: cookies, timeouts, login limits, single sign-on.
    pub web: WebSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (default: `hrobot.sqlite` in the data directory) or
    /// `postgres://…`. May carry a password, so it is a secret.
    #[serde(deserialize_with = "secret_opt")]
    pub url: Option<Secret<String>>,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// A connection must send a complete request head within this many
    /// seconds of opening (and of its previous response), or it is closed.
    pub header_read_timeout_secs: u64,
    /// A kept-alive connection with no request is closed after this many
    /// seconds (0 = one request per connection).
    pub keep_alive_idle_secs: u64,
    /// A request whose body and handling take longer is answered 408.
    pub request_timeout_secs: u64,
    /// Open connections at most; at the limit an idle one is closed to make
    /// room for a new one (see server.rs). Keep well below `LimitNOFILE`.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Work items processed at the same time by this process.
    pub concurrency: usize,
    /// Work items claimed (and committed) together.
    pub batch: i64,
    pub lease_seconds: u64,
    pub max_attempts: i64,
    pub backoff_base_seconds: u64,
    pub backoff_cap_seconds: u64,
    /// How often an idle worker looks for new work.
    pub poll_millis: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// The log's origin line (its name in checkpoints). Default: the
    /// signing key's name.
    pub origin: Option<String>,
    /// Default: `audit-signing.key` in the data directory.
    pub signing_key_file: Option<PathBuf>,
    /// Default: `master.key` in the data directory; `HROBOT_MASTER_KEY`
    /// wins over the file.
    pub master_key_file: Option<PathBuf>,
    pub checkpoint_every_events: u64,
    pub checkpoint_every_secs: u64,
    /// A directory that receives a copy of every signed checkpoint, outside
    /// the database (`audit::witness`); `hrobot audit verify` checks the log
    /// against the newest. Production puts it on another machine or mount.
    pub witness_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormatSetting {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormatSetting,
    /// A tracing filter, e.g. `info` or `info,hrobot=debug`.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotSettings {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A cron expression (5 fields, or 6 with seconds).
    pub schedule: String,
    #[serde(default = "stockholm")]
    pub time_zone: String,
    #[serde(default)]
    pub missed: Missed,
    /// Catch up only on fire times this recent.
    #[serde(default = "day")]
    pub missed_limit_hours: u64,
    pub ruleset: PathBuf,
    pub source: SourceSettings,
    #[serde(default)]
    pub lookups: Vec<LookupSettings>,
    #[serde(default)]
    pub options: RobotOptions,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSettings {
    /// A folder of application files.
    FileInbox { path: PathBuf },
    /// An e-service platform's REST API (see connectors/src/eservice.rs).
    Eservice(connectors::eservice::EserviceConfig),
    /// A view in another database (see connectors/src/sql_source.rs).
    Sql(connectors::sql_source::SqlSourceConfig),
    /// A legacy case system's web UI, through a browser (connectors/src/legacy).
    Legacy(connectors::legacy::LegacyConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LookupSettings {
    /// A folder of register answers: `PATH/<personnummer>/<YYYY-MM>.json`.
    FileRegister { path: PathBuf },
    /// An SSBTEK-style register service: SOAP over mutual TLS (connectors/src/ssbtek).
    Ssbtek(Box<connectors::ssbtek::SsbtekConfig>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobotOptions {
    /// Items fetched per run at most.
    pub max_items_per_run: usize,
    /// Items stored per transaction while fetching.
    pub fetch_batch: usize,
    /// A second application for an adult of the household and the same
    /// period goes to a person (`dubblett_period`). Keep it on; only test
    /// data that reuses one test person for many applications turns it off.
    pub same_period_check: bool,
}

fn yes() -> bool {
    true
}
fn stockholm() -> String {
    "Europe/Stockholm".into()
}
fn day() -> u64 {
    24
}

fn secret_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret<String>>, D::Error> {
    Option::<String>::deserialize(d).map(|o| o.map(Secret::new))
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            data_dir: PathBuf::from("data"),
            database: DatabaseSettings::default(),
            http: HttpSettings::default(),
            workers: WorkerSettings::default(),
            audit: AuditSection::default(),
            log: LogSettings::default(),
            approval: Default::default(),
            outbox: Default::default(),
            robots: Vec::new(),
            web: WebSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> DatabaseSettings {
        DatabaseSettings {
            url: None,
            max_connections: 8,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            header_read_timeout_secs: 10,
            keep_alive_idle_secs: 5,
            request_timeout_secs: 60,
            max_connections: 1024,
        }
    }
}

impl Default for WorkerSettings {
    fn default() -> WorkerSettings {
        WorkerSettings {
            concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            batch: 64,
            lease_seconds: 120,
            max_attempts: 6,
            backoff_base_seconds: 30,
            backoff_cap_seconds: 3600,
            poll_millis: 500,
        }
    }
}

impl Default for AuditSection {
    fn default() -> AuditSection {
        AuditSection {
            origin: None,
            signing_key_file: None,
            master_key_file: None,
            checkpoint_every_events: 1000,
            checkpoint_every_secs: 300,
            witness_dir: None,
        }
    }
}

impl Default for LogSettings {
    fn default() -> LogSettings {
        LogSettings {
            format: LogFormatSetting::Human,
            level: "info".into(),
        }
    }
}

impl Default for RobotOptions {
    fn default() -> RobotOptions {
        RobotOptions {
            max_items_per_run: 100_000,
            fetch_batch: 200,
            same_period_check: true,
        }
    }
}

/// Environment variables that override the file.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("HROBOT_DATA_DIR", "data_dir"),
    ("HROBOT_DATABASE_URL", "database.url"),
    ("HROBOT_HTTP_LISTEN", "http.listen"),
    ("HROBOT_WORKERS", "workers.concurrency"),
    ("HROBOT_LOG", "log.level"),
    ("HROBOT_LOG_FORMAT", "log.format"),
    ("HROBOT_AUDIT_ORIGIN", "audit.origin"),
    ("HROBOT_AUDIT_SIGNING_KEY", "audit.signing_key_file"),
    ("HROBOT_MASTER_KEY_FILE", "audit.master_key_file"),
    ("HROBOT_AUDIT_WITNESS_DIR", "audit.witness_dir"),
];

impl Settings {
    /// Reads the file (if any), then applies the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Settings::load_with_env(file, |k| std::env::var(k).ok())
    }

    pub fn load_with_env(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let (mut settings, base) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                    path: path.display().to_string(),
                    error,
                })?;
                let s: Settings = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                (s, path.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            None => (Settings::default(), PathBuf::new()),
        };
        settings.resolve_relative(&base);
        settings.apply_env(&env)?;
        Ok(settings)
    }

    /// Paths in the file are relative to the file's folder.
    fn resolve_relative(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !base.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        if let Some(p) = self.audit.signing_key_file.as_mut() {
            fix(p);
        }
        if let Some(p) = self.audit.master_key_file.as_mut() {
            fix(p);
        }
        if let Some(p) = self.audit.witness_dir.as_mut() {
            fix(p);
        }
        for r in &mut self.robots {
            fix(&mut r.ruleset);
            match &mut r.source {
                SourceSettings::FileInbox { path } => fix(path),
                SourceSettings::Eservice(c) => {
                    fix(&mut c.field_map);
                    for p in [
                        &mut c.token_file,
                        &mut c.tls.ca,
                        &mut c.tls.client_cert,
                        &mut c.tls.client_key,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        fix(p);
                    }
                }
                SourceSettings::Sql(c) => {
                    for p in [&mut c.url_file, &mut c.field_map].into_iter().flatten() {
                        fix(p);
                    }
                }
                SourceSettings::Legacy(c) => fix(&mut c.artefacts_dir),
            }
            for l in &mut r.lookups {
                match l {
                    LookupSettings::FileRegister { path } => fix(path),
                    LookupSettings::Ssbtek(c) => {
                        for p in [&mut c.client_cert, &mut c.client_key, &mut c.ca] {
                            fix(p);
                        }
                    }
                }
            }
        }
    }

    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let bad = |var: &str, what: &str| ConfigError::Invalid(format!("{var}: not {what}"));
        if let Some(v) = env("HROBOT_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("HROBOT_DATABASE_URL") {
            self.database.url = Some(Secret::new(v));
        }
        if let Some(v) = env("HROBOT_HTTP_LISTEN") {
            self.http.listen = v
                .parse()
                .map_err(|_| bad("HROBOT_HTTP_LISTEN", "an address like 127.0.0.1:8080"))?;
        }
        if let Some(v) = env("HROBOT_WORKERS") {
            self.workers.concurrency = v.parse().map_err(|_| bad("HROBOT_WORKERS", "a number"))?;
        }
        if let Some(v) = env("HROBOT_LOG") {
            self.log.level = v;
        }
        if let Some(v) = env("HROBOT_LOG_FORMAT") {
            self.log.format = match v.as_str() {
                "json" => LogFormatSetting::Json,
                "human" => LogFormatSetting::Human,
                _ => return Err(bad("HROBOT_LOG_FORMAT", "json or human")),
            };
        }
        if let Some(v) = env("HROBOT_AUDIT_ORIGIN") {
            self.audit.origin = Some(v);
        }
        if let Some(v) = env("HROBOT_AUDIT_SIGNING_KEY") {
            self.audit.signing_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("HROBOT_MASTER_KEY_FILE") {
            self.audit.master_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("HROBOT_AUDIT_WITNESS_DIR") {
            self.audit.witness_dir = Some(PathBuf::from(v));
        }
        Ok(())
    }

    /// The database URL: configured, or a SQLite file in the data directory.
    pub fn database_url(&self) -> Secret<String> {
        match &self.database.url {
            Some(u) => u.clone(),
            None => Secret::new(format!("sqlite://{}", self.data_dir.join("hrobot.sqlite").display())),
        }
    }

    pub fn signing_key_file(&self) -> PathBuf {
        self.audit
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-signing.key"))
    }

    pub fn master_key_file(&self) -> PathBuf {
        self.audit
            .master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    pub fn robot(&self, name: &str) -> Option<&RobotSettings> {
        self.robots.iter().find(|r| r.name == name)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.workers.lease_seconds.max(5))
    }

    /// Each robot's name and configured ruleset folder.
    pub fn ruleset_folders(&self) -> Vec<(String, PathBuf)> {
        self.robots
            .iter()
            .map(|r| (r.name.clone(), r.ruleset.clone()))
            .collect()
    }

    /// Checks what can be checked without touching other systems: names,
    /// schedules, time zones, that rulesets load and folders exist.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for r in &self.robots {
            let valid = !r.name.is_empty()
                && r.name.len() <= 64
                && r.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                problems.push(format!(
                    "robot {:?}: the name may use a–z, 0–9, - and _ (at most 64)",
                    r.name
                ));
            }
            if !names.insert(r.name.clone()) {
                problems.push(format!("robot {:?}: the name is used twice", r.name));
            }
            if let Err(e) = crate::scheduler::Schedule::new(&r.schedule, &r.time_zone) {
                problems.push(format!("robot {:?}: {e}", r.name));
            }
            if let Err(e) = sandbox::Ruleset::load(&r.ruleset) {
                problems.push(format!("robot {:?}: ruleset {}: {e}", r.name, r.ruleset.display()));
            }
            match &r.source {
                SourceSettings::FileInbox { path } if !path.is_dir() => {
                    problems.push(format!(
                        "robot {:?}: the inbox {} is not a folder",
                        r.name,
                        path.display()
                    ));
                }
                SourceSettings::Eservice(c) => {
                    if let Err(e) = connectors::eservice::EserviceSource::new(&r.name, c) {
                        problems.push(format!("robot {:?}: {e}", r.name));
                    }
                }
                _ => {}
            }
            for l in &r.lookups {
                match l {
                    LookupSettings::FileRegister { path } if !path.is_dir() => {
                        problems.push(format!(
                            "robot {:?}: the register folder {} is not a folder",
                            r.name,
                            path.display()
                        ));
                    }
                    LookupSettings::FileRegister { .. } => {}
                    LookupSettings::Ssbtek(c) => {
                        if let Err(e) = connectors::ssbtek::SsbtekLookup::new((**c).clone()) {
                            problems.push(format!("robot {:?}: {e}", r.name));
                        }
                    }
                }
            }
        }
        if self.workers.concurrency == 0 {
            problems.push("workers.concurrency must be at least 1".into());
        }
        if self.http.header_read_timeout_secs == 0 || self.http.request_timeout_secs == 0 {
            problems.push("http.header_read_timeout_secs and http.request_timeout_secs must be at least 1".into());
        }
        if self.http.max_connections == 0 {
            problems.push("http.max_connections must be at least 1".into());
        }
        if self.workers.batch < 1 {
            problems.push("workers.batch must be at least 1".into());
        }
        let url = self.database_url();
        if crate::store::DatabaseKind::of_url(url.expose()).is_none() {
            problems.push("database.url must start with sqlite:// or postgres://".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hrobot.toml");
        std::fs::write(
            &f,
            r#"
data_dir = "var"
[database]
url = "postgres://u:hemligt@db/hrobot"
[http]
listen = "0.0.0.0:9000"
[[robots]]
name = "r1"
schedule = "*/5 * * * *"
ruleset = "rules"
[robots.source]
kind = "file_inbox"
path = "inbox"
[[robots.lookups]]
kind = "file_register"
path = "/srv/register"
"#,
        )
        .unwrap();
        let s = Settings::load_with_env(Some(&f), |k| {
            (k == "HROBOT_HTTP_LISTEN").then(|| "127.0.0.1:7000".into())
        })
        .unwrap();
        assert_eq!(s.http.listen.port(), 7000, "the environment wins over the file");
        assert_eq!(s.data_dir, dir.path().join("var"), "paths are relative to the file");
        let r = s.robot("r1").unwrap();
        assert_eq!(r.time_zone, "Europe/Stockholm");
        assert!(matches!(&r.source, SourceSettings::FileInbox { path } if *path == dir.path().join("inbox")));
        assert!(matches!(&r.lookups[0], LookupSettings::FileRegister { path } if *path == Path::new("/srv/register")));
        assert!(!format!("{s:?}").contains("hemligt"), "the database URL is a secret");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hrobot.toml");
        std::fs::write(&f, "[database]\nurll = \"x\"\n").unwrap();
        let e = Settings::load_with_env(Some(&f), |_| None).unwrap_err();
        assert!(e.to_string().contains("urll"), "{e}");
    }

    #[test]
    fn defaults_put_everything_in_the_data_directory() {
        let s = Settings::load_with_env(None, |k| (k == "HROBOT_DATA_DIR").then(|| "/tmp/x".into())).unwrap();
        assert_eq!(s.database_url().expose(), "sqlite:///tmp/x/hrobot.sqlite");
        assert_eq!(s.signing_key_file(), Path::new("/tmp/x/audit-signing.key"));
    }

    #[test]
    fn the_example_configurations_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/config");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let s = Settings::load_with_env(Some(&p), |_| None).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert_eq!(s.robots.len(), 1, "{}", p.display());
                n += 1;
            }
        }
        assert!(n >= 2);
    }

    #[test]
    fn every_source_kind_parses() {
        let text = r#"
[[robots]]
name = "e"
schedule = "* * * * *"
ruleset = "r"
[robots.source]
kind = "eservice"
base_url = "https://etjanster.example"
token_env = "TOKEN"
field_map = "map.toml"
[robots.source.tls]
ca = "ca.pem"

[[robots]]
name = "s"
schedule = "* * * * *"
ruleset = "r"
[robots.source]
kind = "sql"
url_env = "URL"
query = "SELECT id, document FROM v"

[[robots]]
name = "l"
schedule = "* * * * *"
ruleset = "r"
[robots.source]
kind = "legacy"
base_url = "http://arendesys"
username = "robot"
password = "hemligt"
artefacts_dir = "artefacts"
"#;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, text).unwrap();
        let s = Settings::load_with_env(Some(&f), |_| None).unwrap();
        match &s.robots[0].source {
            SourceSettings::Eservice(c) => {
                assert_eq!(c.field_map, dir.path().join("map.toml"));
                assert_eq!(c.tls.ca.as_deref(), Some(dir.path().join("ca.pem").as_path()));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&s.robots[1].source, SourceSettings::Sql(_)));
        match &s.robots[2].source {
            SourceSettings::Legacy(c) => assert_eq!(c.artefacts_dir, dir.path().join("artefacts")),
            other => panic!("{other:?}"),
        }
        assert!(
            !format!("{s:?}").contains("hemligt"),
            "the legacy password does not print"
        );
        let bad = text.replace("token_env", "tokn_env");
        std::fs::write(&f, bad).unwrap();
        assert!(Settings::load_with_env(Some(&f), |_| None).is_err());
    }
}
