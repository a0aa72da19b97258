//! A legacy case system with no API, driven through its web UI like a
//! person would: fantoccini → chromedriver → headless Chromium.
//!
//! The screens it expects are those of the simulated "ÄrendeSys" in
//! `tests/src/legacy.rs` (login form, frameset, search, a paginated list
//! of open applications, case screens Ansökan / Hushåll / Ekonomi /
//! Historik / Beslut, a decision form with a "Spara?" overlay). Fields are
//! found by their labels and tables by caption and header, never by ids
//! (the system generates them per page load).
//!
//! * [`ApplicationSource`]: `list_new` pages through "Öppna ansökningar";
//!   `fetch` reads the four case screens into `ekonomiskt-bistand/ansokan/v1`
//!   JSON; `acknowledge` sets the case's status to "Hämtad av robot" (or
//!   "Åter till handläggare" with a note, for an application the robot
//!   could not read), which takes it off the list.
//! * [`CaseWriteBack`]: finds the case, and unless a decision with the
//!   idempotency key as its `Referens` is already recorded, fills in the
//!   decision form, confirms the overlay and checks the decision is listed.
//!
//! **Waits.** Every step has a deadline (`step_timeout_ms`): a navigation
//! is followed by polling until the expected screen is there (by title),
//! complete (its footer) and not the "session expired" page, an HTTP
//! error or a browser error page. Every WebDriver call is itself bounded.
//!
//! **Sessions.** One browser per connector, reused while calls succeed;
//! an expired session means logging in again and repeating the step (at
//! most `max_relogins` times per call). Any other failure saves a
//! screenshot and the page source, then closes the browser; the next call
//! starts a fresh one. The browser is closed on drop too, also while a
//! panic unwinds, and a panic in the work becomes a permanent error.
//!
//! **Personal data.** Errors and logs name the operation, the screen and
//! the case number, never what the screens show. The saved page source
//! *does* contain personal data: it goes to `artefacts_dir` (create it in
//! the data directory; folders are made 0700 and files 0600) and must be
//! handled and cleared like the case data.

mod browser;
pub mod screens;

use crate::{Ack, ApplicationSource, CaseWriteBack, ConnectorError, IdempotencyKey, ItemRef, Receipt, WriteBack};
use async_trait::async_trait;
use browser::Browser;
use fantoccini::Locator;
use fantoccini::error::CmdError;
use screens::{CaseScreens, Missing, Screen};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use browser::{CHROMIUM_FLAGS, kill_browser_processes};

const CONNECTOR: &str = "legacy";
const TITLE_LOGIN: &str = "ÄrendeSys – Inloggning";
const TITLE_START: &str = "ÄrendeSys – Startsida";
const TITLE_SEARCH: &str = "ÄrendeSys – Sök ärende";
const TITLE_RESULTS: &str = "ÄrendeSys – Sökresultat";
const TITLE_LIST: &str = "ÄrendeSys – Öppna ansökningar";
const TITLE_SAVED: &str = "ÄrendeSys – Beslut sparat";
const SEARCH_PATH: &str = "/app/sok";
const LIST_PATH: &str = "/app/lista";
const STATUS_PICKED_UP: &str = "Hämtad av robot";
const STATUS_RETURNED: &str = "Åter till handläggare";

/// A password that never prints.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(p: impl Into<String>) -> Password {
        Password(p.into())
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// `[robots.NAME.source]` / write-back with `kind = "legacy"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyConfig {
    /// The case system, e.g. `http://arendesys.kommun.local`.
    pub base_url: String,
    pub username: String,
    pub password: Password,
    /// chromedriver to start (on a free local port) for each browser.
    #[serde(default = "default_chromedriver")]
    pub chromedriver_path: PathBuf,
    /// Use an already running WebDriver server instead of starting one.
    #[serde(default)]
    pub webdriver_url: Option<String>,
    #[serde(default = "default_chromium")]
    pub chromium_path: PathBuf,
    /// Deadline of each step (a screen to appear, a form to save).
    #[serde(default = "default_step_timeout_ms")]
    pub step_timeout_ms: u64,
    /// Deadline for starting chromedriver and the browser.
    #[serde(default = "default_startup_timeout_ms")]
    pub startup_timeout_ms: u64,
    /// Logins again after an expired session, per call.
    #[serde(default = "default_max_relogins")]
    pub max_relogins: u32,
    /// Where screenshots and page sources of failures go. They contain
    /// personal data: keep this inside the data directory.
    pub artefacts_dir: PathBuf,
    /// Where fresh browser profiles are made (the system temp folder if unset).
    #[serde(default)]
    pub profile_dir: Option<PathBuf>,
}

fn default_chromedriver() -> PathBuf {
    PathBuf::from("/usr/bin/chromedriver")
}
fn default_chromium() -> PathBuf {
    PathBuf::from("/usr/bin/chromium")
}
fn default_step_timeout_ms() -> u64 {
    10_000
}
fn default_startup_timeout_ms() -> u64 {
    30_000
}
fn default_max_relogins() -> u32 {
    20
}

impl LegacyConfig {
    /// A config with the defaults for everything but the essentials.
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: Password,
        artefacts_dir: impl Into<PathBuf>,
    ) -> LegacyConfig {
        LegacyConfig {
            base_url: base_url.into(),
            username: username.into(),
            password,
            chromedriver_path: default_chromedriver(),
            webdriver_url: None,
            chromium_path: default_chromium(),
            step_timeout_ms: default_step_timeout_ms(),
            startup_timeout_ms: default_startup_timeout_ms(),
            max_relogins: default_max_relogins(),
            artefacts_dir: artefacts_dir.into(),
            profile_dir: None,
        }
    }

    /// Checks what can be checked without starting anything.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        let ok_url = |u: &str| (u.starts_with("http://") || u.starts_with("https://")) && u.len() > 8;
        if !ok_url(&self.base_url) {
            return Err(ConnectorError::permanent(CONNECTOR, "base_url must be an http(s) URL"));
        }
        if self.username.is_empty() || self.password.expose().is_empty() {
            return Err(ConnectorError::permanent(
                CONNECTOR,
                "username and password are required",
            ));
        }
        if self.step_timeout_ms == 0 || self.startup_timeout_ms == 0 {
            return Err(ConnectorError::permanent(CONNECTOR, "timeouts must be positive"));
        }
        if let Some(u) = &self.webdriver_url
            && !u.starts_with("http://")
        {
            return Err(ConnectorError::permanent(
                CONNECTOR,
                "webdriver_url must be http://HOST:PORT",
            ));
        }
        Ok(())
    }

    fn step_timeout(&self) -> Duration {
        Duration::from_millis(self.step_timeout_ms)
    }

    fn startup_timeout(&self) -> Duration {
        Duration::from_millis(self.startup_timeout_ms)
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_string();
        }
        format!("{}{}", self.base_url.trim_end_matches('/'), path)
    }
}

/// Why a step failed, before it becomes a [`ConnectorError`].
#[derive(Debug)]
enum Failure {
    /// The session expired: log in again and repeat the step.
    Expired,
    Timeout {
        step: String,
    },
    Down {
        step: String,
    },
    Server {
        step: String,
        status: u64,
    },
    Malformed {
        step: String,
    },
    Layout(Vec<Missing>),
    BadCredentials,
    /// The case system refused what we entered (its own message is not
    /// repeated: it may quote the case).
    Refused {
        step: String,
    },
    NotFound {
        case: String,
    },
    WebDriver {
        step: String,
        what: String,
    },
    Start(String),
    Config(String),
    Panicked,
}

impl Failure {
    fn into_error(self, op: &str, artefacts: Option<&Path>) -> ConnectorError {
        use Failure::*;
        let (retriable, message) = match self {
            Expired => (true, "the session kept expiring".to_string()),
            Timeout { step } => (true, format!("timed out: {step}")),
            Down { step } => (true, format!("the case system did not answer: {step}")),
            Server { step, status } => (true, format!("the case system answered HTTP {status}: {step}")),
            Malformed { step } => (
                false,
                format!("malformed page (incomplete, its footer is missing): {step}"),
            ),
            Layout(missing) => (
                false,
                format!(
                    "the case system's screens have changed; pause the robot and update the connector: {}",
                    missing
                        .iter()
                        .map(|m| format!("screen '{}' has no {}", m.screen, m.what))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
            BadCredentials => (false, "login refused: wrong username or password".to_string()),
            Refused { step } => (false, format!("the case system refused the input: {step}")),
            NotFound { case } => (false, format!("case {case} not found")),
            WebDriver { step, what } => (true, format!("browser error ({what}): {step}")),
            Start(what) => (true, format!("browser start failed: {what}")),
            Config(what) => (false, format!("configuration: {what}")),
            Panicked => (false, "the browser work panicked; the browser was closed".to_string()),
        };
        let mut message = format!("{op}: {message}");
        if let Some(dir) = artefacts {
            message.push_str(&format!(" (screenshot and page source in {})", dir.display()));
        }
        if retriable {
            ConnectorError::retriable(CONNECTOR, message)
        } else {
            ConnectorError::permanent(CONNECTOR, message)
        }
    }

    /// Whether the browser is in a state worth a screenshot.
    fn wants_artefacts(&self) -> bool {
        !matches!(self, Failure::Start(_) | Failure::Config(_) | Failure::Panicked)
    }
}

impl From<Missing> for Failure {
    fn from(m: Missing) -> Failure {
        Failure::Layout(vec![m])
    }
}

fn webdriver_failure(step: &str, e: &CmdError) -> Failure {
    let what = match e {
        CmdError::Standard(w) => w.error.to_string(),
        CmdError::Lost(_) | CmdError::Failed(_) | CmdError::FailedC(_) => "connection to chromedriver lost".to_string(),
        CmdError::WaitTimeout => "wait timed out".to_string(),
        _ => "unexpected answer".to_string(),
    };
    if let CmdError::Standard(w) = e
        && w.message.contains("net::ERR_")
    {
        return Failure::Down { step: step.to_string() };
    }
    if let CmdError::Standard(w) = e
        && w.error == fantoccini::error::ErrorStatus::Timeout
    {
        return Failure::Timeout { step: step.to_string() };
    }
    Failure::WebDriver {
        step: step.to_string(),
        what,
    }
}

/// The work a call asks for.
enum Op {
    List(usize),
    Fetch(String),
    Ack(String, Ack),
    Write(IdempotencyKey, WriteBack),
    Health,
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::List(_) => "list_new",
            Op::Fetch(_) => "fetch",
            Op::Ack(..) => "acknowledge",
            Op::Write(..) => "write_back",
            Op::Health => "health",
        }
    }
}

enum Done {
    Items(Vec<ItemRef>),
    Document(Vec<u8>),
    Nothing,
    Receipt(Receipt),
}

struct Inner {
    config: LegacyConfig,
    browser: tokio::sync::Mutex<Option<Browser>>,
    /// Case number → its screen URL, learnt from lists and searches.
    case_urls: std::sync::Mutex<HashMap<String, String>>,
}

/// The legacy case system as a source and a write-back.
#[derive(Clone)]
pub struct LegacyConnector {
    name: String,
    inner: Arc<Inner>,
}

impl fmt::Debug for LegacyConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyConnector")
            .field("name", &self.name)
            .field("base_url", &self.inner.config.base_url)
            .finish_non_exhaustive()
    }
}

impl LegacyConnector {
    /// `name` identifies the source in the store (e.g. the robot's name).
    /// Starts nothing: the browser comes up on the first call.
    pub fn new(name: impl Into<String>, config: LegacyConfig) -> Result<LegacyConnector, ConnectorError> {
        config.validate()?;
        Ok(LegacyConnector {
            name: name.into(),
            inner: Arc::new(Inner {
                config,
                browser: tokio::sync::Mutex::new(None),
                case_urls: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn config(&self) -> &LegacyConfig {
        &self.inner.config
    }

    /// Logs in and checks that the screens the robot uses look as
    /// expected (labels, tables, columns). A changed layout is a permanent
    /// error that says so, so the runtime can pause the robot before it
    /// fails in the middle of a case. Reads only.
    pub async fn health(&self) -> Result<(), ConnectorError> {
        self.run(Op::Health).await.map(|_| ())
    }

    /// Closes the browser now (it is also closed on drop).
    pub async fn shutdown(&self) {
        let taken = self.inner.browser.lock().await.take();
        if let Some(b) = taken {
            b.close().await;
        }
    }

    async fn run(&self, op: Op) -> Result<Done, ConnectorError> {
        let name = op.name();
        let started = Instant::now();
        let inner = self.inner.clone();
        // The work runs in its own task: a panic there unwinds through the
        // browser guard (which ends the session) and comes back here as an
        // error instead of taking the caller down.
        let result = match tokio::spawn(async move { inner.execute(op).await }).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(Failure::Panicked.into_error(name, None)),
            Err(_) => Err(ConnectorError::retriable(CONNECTOR, format!("{name}: cancelled"))),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(_) => tracing::debug!(
                connector = CONNECTOR,
                operation = name,
                status = "ok",
                duration_ms,
                "call"
            ),
            Err(e) => tracing::warn!(
                connector = CONNECTOR,
                operation = name,
                status = if e.is_retriable() { "retriable" } else { "permanent" },
                duration_ms,
                error = %e,
                "call failed"
            ),
        }
        result
    }
}

impl Inner {
    async fn execute(&self, op: Op) -> Result<Done, ConnectorError> {
        let name = op.name();
        let mut slot = self.browser.lock().await;
        let mut browser = match slot.take() {
            Some(b) => b,
            None => Browser::start(&self.config)
                .await
                .map_err(|f| f.into_error(name, None))?,
        };
        let result = {
            let mut w = Work {
                b: &mut browser,
                cfg: &self.config,
                urls: &self.case_urls,
                relogins: 0,
            };
            w.op(&op).await
        };
        match result {
            Ok(done) => {
                *slot = Some(browser);
                Ok(done)
            }
            Err(failure) => {
                let artefacts = if failure.wants_artefacts() {
                    save_artefacts(&browser, &self.config, name).await
                } else {
                    None
                };
                browser.close().await;
                Err(failure.into_error(name, artefacts.as_deref()))
            }
        }
    }
}

/// Screenshot, page source (of the current frame) and the error class, in
/// a new 0700 folder. Best effort: a failure here must not hide the first.
async fn save_artefacts(b: &Browser, cfg: &LegacyConfig, op: &str) -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder.create(&cfg.artefacts_dir).ok()?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("{op}-"))
        .tempdir_in(&cfg.artefacts_dir)
        .ok()?
        .keep();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    let t = cfg.step_timeout();
    let write = |name: &str, bytes: &[u8]| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(name))?;
        std::io::Write::write_all(&mut f, bytes)
    };
    if let Ok(Ok(png)) = tokio::time::timeout(t, b.client.screenshot()).await {
        let _ = write("screenshot.png", &png);
    }
    if let Ok(Ok(html)) = tokio::time::timeout(t, b.client.source()).await {
        let _ = write("page.html", html.as_bytes());
    }
    tracing::warn!(connector = CONNECTOR, operation = op, folder = %dir.display(), "failure artefacts saved");
    Some(dir)
}

/// What the poll of a page found.
#[derive(Debug, Deserialize)]
struct Probe {
    state: String,
    #[serde(default)]
    status: u64,
}

/// Looks at the current document: loading, an error page, the expired
/// page, another screen, or the screen we want, complete.
const PROBE_JS: &str = r#"
const want = arguments[0];
if (location.href.startsWith('chrome-error:')) return {state: 'down'};
if (document.documentElement.hasAttribute('data-robot-old')) return {state: 'loading'};
if (document.readyState !== 'complete') return {state: 'loading'};
const nav = performance.getEntriesByType('navigation')[0];
const status = nav && nav.responseStatus ? nav.responseStatus : 0;
if (status >= 500) return {state: 'server', status};
const title = document.title;
if (want === '*frameset*') {
  if (document.querySelector('frame[name=innehall]')) return {state: 'ok'};
  if (document.querySelector('.fel')) return {state: 'refused'};
  return {state: 'other'};
}
if (title === 'ÄrendeSys – Sessionen har gått ut') return {state: 'expired'};
if (title === 'ÄrendeSys – Inloggning' && want !== title) return {state: 'expired'};
if (title !== want) return {state: 'other'};
if (!document.querySelector('td.sidfot')) return {state: 'malformed'};
return {state: 'ok'};
"#;

/// Marks the current document, then navigates (the probe waits for a new one).
const NAVIGATE_JS: &str =
    "document.documentElement.setAttribute('data-robot-old','1'); window.location.assign(arguments[0]); return true;";

/// Fills fields found by their label text: `[[label, value], …]`. Returns
/// the labels not found. Selects take an option's value or text.
const FILL_JS: &str = r#"
const norm = s => (s || '').replace(/\s+/g, ' ').trim();
const missing = [];
for (const [label, value] of arguments[0]) {
  const l = Array.from(document.querySelectorAll('label')).find(x => norm(x.textContent) === label);
  const el = l && document.getElementById(l.htmlFor);
  if (!el) { missing.push(label); continue; }
  if (el.tagName === 'SELECT') {
    const o = Array.from(el.options).find(o => o.value === value || norm(o.textContent) === value);
    if (!o) { missing.push(label + ' = ' + 'option'); continue; }
    el.value = o.value;
  } else {
    el.value = value;
  }
  el.dispatchEvent(new Event('input', {bubbles: true}));
  el.dispatchEvent(new Event('change', {bubbles: true}));
}
return missing;
"#;

/// Whether the "Spara?" overlay is showing its "Ja" button.
const OVERLAY_JS: &str = r#"
const d = Array.from(document.querySelectorAll('div')).find(x => x.offsetParent !== null && /Spara beslutet\?/.test(x.textContent) && getComputedStyle(x).display !== 'none');
return !!(d && Array.from(d.querySelectorAll('input[type=button],button')).some(b => (b.value || b.textContent).trim() === 'Ja'));
"#;

/// One call's work on a browser.
struct Work<'a> {
    b: &'a mut Browser,
    cfg: &'a LegacyConfig,
    urls: &'a std::sync::Mutex<HashMap<String, String>>,
    relogins: u32,
}

impl Work<'_> {
    async fn op(&mut self, op: &Op) -> Result<Done, Failure> {
        if !self.b.logged_in {
            self.login().await?;
        }
        match op {
            Op::List(limit) => self.list(*limit).await.map(Done::Items),
            Op::Fetch(id) => self.fetch(id).await.map(Done::Document),
            Op::Ack(id, ack) => self.acknowledge(id, ack).await.map(|()| Done::Nothing),
            Op::Write(key, d) => self.write_back(key, d).await.map(Done::Receipt),
            Op::Health => self.health().await.map(|()| Done::Nothing),
        }
    }

    /// A WebDriver call under the step deadline.
    async fn wd<T>(
        &self,
        step: &str,
        fut: impl std::future::Future<Output = Result<T, CmdError>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.cfg.step_timeout(), fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(webdriver_failure(step, &e)),
            Err(_) => Err(Failure::Timeout { step: step.to_string() }),
        }
    }

    async fn js(&self, step: &str, script: &str, args: Vec<Value>) -> Result<Value, Failure> {
        self.wd(step, self.b.client.execute(script, args)).await
    }

    /// Polls until the current document is `title`, complete.
    async fn wait_for(&self, title: &str) -> Result<(), Failure> {
        let step = format!("waiting for '{title}'");
        let deadline = Instant::now() + self.cfg.step_timeout();
        let mut last = String::from("loading");
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(match last.as_str() {
                    "down" => Failure::Down { step },
                    _ => Failure::Timeout { step },
                });
            }
            let probe = tokio::time::timeout(remaining, self.b.client.execute(PROBE_JS, vec![json!(title)])).await;
            match probe {
                Ok(Ok(v)) => {
                    let p: Probe = serde_json::from_value(v).map_err(|_| Failure::WebDriver {
                        step: step.clone(),
                        what: "unexpected probe answer".into(),
                    })?;
                    match p.state.as_str() {
                        "ok" => return Ok(()),
                        "expired" => return Err(Failure::Expired),
                        "server" => {
                            return Err(Failure::Server { step, status: p.status });
                        }
                        "malformed" => return Err(Failure::Malformed { step }),
                        "refused" => return Err(Failure::BadCredentials),
                        "down" => {
                            // A browser error page in the frame: the system did not answer.
                            return Err(Failure::Down { step });
                        }
                        other => last = other.to_string(),
                    }
                }
                Ok(Err(e)) => {
                    let f = webdriver_failure(&step, &e);
                    if matches!(f, Failure::Down { .. }) {
                        return Err(f);
                    }
                    // A page being replaced can refuse scripts for a moment.
                    last = "loading".into();
                }
                Err(_) => {
                    return Err(match last.as_str() {
                        "down" => Failure::Down { step },
                        _ => Failure::Timeout { step },
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }

    /// Logs in and enters the content frame.
    async fn login(&mut self) -> Result<(), Failure> {
        self.b.logged_in = false;
        let url = self.cfg.url("/login");
        self.wd("opening the login page", self.b.client.goto(&url)).await?;
        match self.wait_for(TITLE_LOGIN).await {
            Err(Failure::Expired) => {
                return Err(Failure::Timeout {
                    step: "login page".into(),
                });
            }
            r => r?,
        }
        let missing = self
            .js(
                "filling in the login form",
                FILL_JS,
                vec![json!([
                    ["Användarnamn", self.cfg.username],
                    ["Lösenord", self.cfg.password.expose()]
                ])],
            )
            .await?;
        self.no_missing(TITLE_LOGIN, &missing)?;
        self.click_button("Logga in", TITLE_LOGIN).await?;
        self.wait_for("*frameset*").await?;
        let frame = self
            .wd(
                "finding the content frame",
                self.b.client.find(Locator::Css("frame[name=innehall]")),
            )
            .await
            .map_err(|_| Failure::from(missing_on("ÄrendeSys", "frame 'innehall'")))?;
        self.wd("entering the content frame", frame.enter_frame()).await?;
        self.wait_for(TITLE_START).await?;
        self.b.logged_in = true;
        Ok(())
    }

    fn no_missing(&self, screen: &str, missing: &Value) -> Result<(), Failure> {
        let list: Vec<Missing> = missing
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|l| missing_on(screen, &format!("field '{l}'")))
                    .collect()
            })
            .unwrap_or_default();
        if list.is_empty() {
            Ok(())
        } else {
            Err(Failure::Layout(list))
        }
    }

    async fn relogin(&mut self) -> Result<(), Failure> {
        if self.relogins >= self.cfg.max_relogins {
            return Err(Failure::Expired);
        }
        self.relogins += 1;
        tracing::debug!(
            connector = CONNECTOR,
            relogins = self.relogins,
            "session expired, logging in again"
        );
        self.login().await
    }

    /// Navigates the content frame and waits for the screen (no re-login).
    async fn open_once(&self, path: &str, title: &str) -> Result<Screen, Failure> {
        let url = self.cfg.url(path);
        self.js(&format!("opening '{title}'"), NAVIGATE_JS, vec![json!(url)])
            .await?;
        self.wait_for(title).await?;
        self.read(title).await
    }

    /// Navigates the content frame; logs in again if the session expired.
    async fn open(&mut self, path: &str, title: &str) -> Result<Screen, Failure> {
        loop {
            match self.open_once(path, title).await {
                Err(Failure::Expired) => self.relogin().await?,
                r => return r,
            }
        }
    }

    async fn read(&self, title: &str) -> Result<Screen, Failure> {
        let v = self
            .js(&format!("reading '{title}'"), screens::EXTRACT_JS, vec![])
            .await?;
        serde_json::from_value(v).map_err(|_| Failure::WebDriver {
            step: format!("reading '{title}'"),
            what: "unexpected extraction answer".into(),
        })
    }

    /// Submits by clicking a button found by its text, and waits.
    async fn click_button(&self, value: &str, screen: &str) -> Result<(), Failure> {
        let selector = format!("input[type=submit][value='{value}'], input[type=button][value='{value}']");
        let button = self
            .wd(
                &format!("finding '{value}'"),
                self.b.client.find(Locator::Css(&selector)),
            )
            .await
            .map_err(|_| Failure::from(missing_on(screen, &format!("button '{value}'"))))?;
        self.js(
            "marking the page",
            "document.documentElement.setAttribute('data-robot-old','1'); return true;",
            vec![],
        )
        .await?;
        self.wd(&format!("clicking '{value}'"), button.click()).await
    }

    fn remember(&self, id: &str, href: &str) {
        if let Ok(mut m) = self.urls.lock() {
            m.insert(id.to_string(), href.to_string());
        }
    }

    fn remembered(&self, id: &str) -> Option<String> {
        self.urls.lock().ok().and_then(|m| m.get(id).cloned())
    }

    fn forget(&self, id: &str) {
        if let Ok(mut m) = self.urls.lock() {
            m.remove(id);
        }
    }

    // -- the operations --------------------------------------------------

    async fn list(&mut self, limit: usize) -> Result<Vec<ItemRef>, Failure> {
        let mut out = Vec::new();
        let mut path = LIST_PATH.to_string();
        let mut pages = 0;
        while out.len() < limit && pages < 1000 {
            pages += 1;
            let screen = self.open(&path, TITLE_LIST).await?;
            let table = screen.table("Öppna ansökningar", &["Ärendenummer"])?;
            for (cells, href) in table.rows() {
                if out.len() >= limit {
                    break;
                }
                let id = cells[0].to_string();
                if let Some(h) = href {
                    self.remember(&id, h);
                }
                out.push(ItemRef { id });
            }
            match screen.links.iter().find(|(t, _)| t == "Nästa »") {
                Some((_, next)) => path = next.clone(),
                None => break,
            }
        }
        Ok(out)
    }

    /// The case's first screen (Ansökan), checked to be the right case.
    async fn open_case(&mut self, id: &str) -> Result<Screen, Failure> {
        if let Some(href) = self.remembered(id) {
            let screen = self.open(&href, screens::TITLE_ANSOKAN).await?;
            if screen.field("Ärendenummer")? == id {
                return Ok(screen);
            }
            self.forget(id);
        }
        let href = self.search(id).await?;
        self.remember(id, &href);
        let screen = self.open(&href, screens::TITLE_ANSOKAN).await?;
        if screen.field("Ärendenummer")? != id {
            return Err(Failure::NotFound { case: id.to_string() });
        }
        Ok(screen)
    }

    /// Searches by case number; the link to the case.
    async fn search(&mut self, id: &str) -> Result<String, Failure> {
        loop {
            match self.search_once(id).await {
                Err(Failure::Expired) => self.relogin().await?,
                r => return r,
            }
        }
    }

    async fn search_once(&self, id: &str) -> Result<String, Failure> {
        self.open_once(SEARCH_PATH, TITLE_SEARCH).await?;
        let missing = self
            .js("filling in the search", FILL_JS, vec![json!([["Ärendenummer", id]])])
            .await?;
        self.no_missing(TITLE_SEARCH, &missing)?;
        self.click_button("Sök", TITLE_SEARCH).await?;
        self.wait_for(TITLE_RESULTS).await?;
        let screen = self.read(TITLE_RESULTS).await?;
        let table = screen.table("Träffar", &["Ärendenummer"])?;
        let found = table
            .rows()
            .find(|(c, _)| c[0] == id)
            .and_then(|(_, h)| h.map(str::to_string));
        found.ok_or_else(|| Failure::NotFound { case: id.to_string() })
    }

    async fn fetch(&mut self, id: &str) -> Result<Vec<u8>, Failure> {
        let ansokan = self.open_case(id).await?;
        let hushall = self.open(ansokan.link("Hushåll")?, screens::TITLE_HUSHALL).await?;
        let ekonomi = self.open(hushall.link("Ekonomi")?, screens::TITLE_EKONOMI).await?;
        let historik = self.open(ekonomi.link("Historik")?, screens::TITLE_HISTORIK).await?;
        for s in [&hushall, &ekonomi, &historik] {
            if s.field("Ärendenummer")? != id {
                return Err(Failure::NotFound { case: id.to_string() });
            }
        }
        let app = screens::application(&CaseScreens {
            ansokan,
            hushall,
            ekonomi,
            historik,
        })?;
        serde_json::to_vec(&app).map_err(|_| Failure::WebDriver {
            step: "encoding the application".into(),
            what: "serialisation".into(),
        })
    }

    async fn acknowledge(&mut self, id: &str, ack: &Ack) -> Result<(), Failure> {
        let (status, note) = match ack {
            Ack::Accepted => (STATUS_PICKED_UP, String::new()),
            Ack::Rejected { reason } => (
                STATUS_RETURNED,
                format!(
                    "Roboten kunde inte läsa ansökan: {}",
                    reason.chars().take(500).collect::<String>()
                ),
            ),
        };
        // Set, then check on a fresh load (after a re-login if need be).
        for _ in 0..3 {
            let screen = self.open_case(id).await?;
            if screen.field("Status")? == status {
                return Ok(());
            }
            match self.set_status(status, &note).await {
                Err(Failure::Expired) => self.relogin().await?,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
        }
        Err(Failure::Refused {
            step: format!("setting the status of case {id}"),
        })
    }

    async fn set_status(&self, status: &str, note: &str) -> Result<(), Failure> {
        let missing = self
            .js(
                "filling in the status",
                FILL_JS,
                vec![json!([["Ändra status", status], ["Ny anteckning", note]])],
            )
            .await?;
        self.no_missing(screens::TITLE_ANSOKAN, &missing)?;
        self.click_button("Spara status", screens::TITLE_ANSOKAN).await?;
        self.wait_for(screens::TITLE_ANSOKAN).await
    }

    async fn write_back(&mut self, key: &IdempotencyKey, d: &WriteBack) -> Result<Receipt, Failure> {
        let amount = match d.amount {
            None => String::new(),
            Some(m) => {
                let ore = m.ore();
                if ore % 100 == 0 {
                    (ore / 100).to_string()
                } else {
                    format!("{},{:02}", ore / 100, (ore % 100).abs())
                }
            }
        };
        let values = json!([
            ["Beslut", d.outcome.as_str()],
            ["Belopp (kr)", amount],
            ["Period", d.period.to_string()],
            ["Beslutstext", d.decision_text],
            ["Beslutsfattare", d.decided_by],
            ["Referens", key.as_str()],
        ]);
        let ansokan = self.open_case(&d.external_id).await?;
        let beslut_href = ansokan.link("Beslut")?.to_string();
        loop {
            // Check first (a retry, or a save whose answer we never saw),
            // then save: two screens, enough for even a short-lived session.
            let screen = self.open(&beslut_href, screens::TITLE_BESLUT).await?;
            if screen.field("Ärendenummer")? != d.external_id {
                return Err(Failure::NotFound {
                    case: d.external_id.clone(),
                });
            }
            if let Some(number) = recorded(&screen, key)? {
                return Ok(Receipt {
                    reference: number,
                    already_done: true,
                });
            }
            match self.save_decision(&values).await {
                Err(Failure::Expired) => {
                    self.relogin().await?;
                    continue;
                }
                Err(e) => return Err(e),
                Ok(saved) => {
                    // Verify: the decision is listed on the case.
                    let check = self.open(&beslut_href, screens::TITLE_BESLUT).await?;
                    return match recorded(&check, key)? {
                        Some(number) if number == saved.field("Beslutsnummer")? => Ok(Receipt {
                            reference: number,
                            already_done: saved.texts.iter().any(|t| t.contains("fanns redan")),
                        }),
                        _ => Err(Failure::Refused {
                            step: "the saved decision is not listed on the case".into(),
                        }),
                    };
                }
            }
        }
    }

    async fn save_decision(&self, values: &Value) -> Result<Screen, Failure> {
        let missing = self
            .js("filling in the decision", FILL_JS, vec![values.clone()])
            .await?;
        self.no_missing(screens::TITLE_BESLUT, &missing)?;
        let spara = self
            .wd(
                "finding 'Spara'",
                self.b.client.find(Locator::Css("input[type=button][value='Spara']")),
            )
            .await
            .map_err(|_| Failure::from(missing_on(screens::TITLE_BESLUT, "button 'Spara'")))?;
        self.wd("clicking 'Spara'", spara.click()).await?;
        // The overlay comes a moment later.
        let deadline = Instant::now() + self.cfg.step_timeout();
        loop {
            if self.js("waiting for 'Spara?'", OVERLAY_JS, vec![]).await? == json!(true) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Failure::Timeout {
                    step: "waiting for the 'Spara?' dialog".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        let ja = self
            .wd(
                "finding 'Ja'",
                self.b.client.find(Locator::XPath(
                    "//div[contains(., 'Spara beslutet?')]//input[@type='button' and @value='Ja']",
                )),
            )
            .await
            .map_err(|_| Failure::from(missing_on(screens::TITLE_BESLUT, "button 'Ja' in 'Spara?'")))?;
        self.js(
            "marking the page",
            "document.documentElement.setAttribute('data-robot-old','1'); return true;",
            vec![],
        )
        .await?;
        self.wd("confirming 'Spara?'", ja.click()).await?;
        match self.wait_for(TITLE_SAVED).await {
            Ok(()) => self.read(TITLE_SAVED).await,
            Err(Failure::Timeout { step }) => {
                // The form came back with the system's own error message?
                match self.read(screens::TITLE_BESLUT).await {
                    Ok(s) if s.title == screens::TITLE_BESLUT && !s.errors.is_empty() => Err(Failure::Refused {
                        step: "saving the decision".into(),
                    }),
                    _ => Err(Failure::Timeout { step }),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn health(&mut self) -> Result<(), Failure> {
        let mut missing = Vec::new();
        let search = self.open(SEARCH_PATH, TITLE_SEARCH).await?;
        let labels = self
            .js(
                "checking the search form",
                "const norm = s => (s || '').replace(/\\s+/g, ' ').trim(); return Array.from(document.querySelectorAll('label')).map(l => norm(l.textContent));",
                vec![],
            )
            .await?;
        for want in ["Personnummer", "Ärendenummer"] {
            if !labels.as_array().is_some_and(|a| a.iter().any(|l| l == want)) {
                missing.push(missing_on(&search.title, &format!("field '{want}'")));
            }
        }
        let list = self.open(LIST_PATH, TITLE_LIST).await?;
        let first = match list.table("Öppna ansökningar", &["Ärendenummer", "Inkom", "Avser månad", "Typ"]) {
            Ok(t) => t
                .rows()
                .next()
                .and_then(|(c, h)| h.map(|h| (c[0].to_string(), h.to_string()))),
            Err(m) => {
                missing.push(m);
                None
            }
        };
        // With a case to look at, every screen the robot reads is checked.
        if let Some((id, href)) = first {
            self.remember(&id, &href);
            let ansokan = self.open(&href, screens::TITLE_ANSOKAN).await?;
            missing.extend(screens::expectations(&ansokan));
            for (tab, title) in [
                ("Hushåll", screens::TITLE_HUSHALL),
                ("Ekonomi", screens::TITLE_EKONOMI),
                ("Historik", screens::TITLE_HISTORIK),
                ("Beslut", screens::TITLE_BESLUT),
            ] {
                match ansokan.link(tab) {
                    Ok(h) => {
                        let s = self.open(h, title).await?;
                        missing.extend(screens::expectations(&s));
                    }
                    Err(m) => missing.push(m),
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Failure::Layout(missing))
        }
    }
}

fn missing_on(screen: &str, what: &str) -> Missing {
    Missing {
        screen: screen.to_string(),
        what: what.to_string(),
    }
}

/// The decision number recorded with this reference, if any.
fn recorded(screen: &Screen, key: &IdempotencyKey) -> Result<Option<String>, Failure> {
    let table = screen.table("Registrerade beslut", &["Beslutsnummer", "Referens"])?;
    Ok(table
        .rows()
        .find(|(c, _)| c[1] == key.as_str())
        .map(|(c, _)| c[0].to_string()))
}

#[async_trait]
impl ApplicationSource for LegacyConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn list_new(&self, limit: usize) -> Result<Vec<ItemRef>, ConnectorError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self.run(Op::List(limit)).await? {
            Done::Items(items) => Ok(items),
            _ => Err(ConnectorError::permanent(CONNECTOR, "list_new: unexpected result")),
        }
    }

    async fn fetch(&self, item: &ItemRef) -> Result<Vec<u8>, ConnectorError> {
        match self.run(Op::Fetch(item.id.clone())).await? {
            Done::Document(bytes) => Ok(bytes),
            _ => Err(ConnectorError::permanent(CONNECTOR, "fetch: unexpected result")),
        }
    }

    async fn acknowledge(&self, item: &ItemRef, ack: &Ack) -> Result<(), ConnectorError> {
        self.run(Op::Ack(item.id.clone(), ack.clone())).await.map(|_| ())
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        LegacyConnector::health(self).await
    }
}

#[async_trait]
impl CaseWriteBack for LegacyConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn write_back(&self, key: &IdempotencyKey, decision: &WriteBack) -> Result<Receipt, ConnectorError> {
        match self.run(Op::Write(key.clone(), decision.clone())).await? {
            Done::Receipt(r) => Ok(r),
            _ => Err(ConnectorError::permanent(CONNECTOR, "write_back: unexpected result")),
        }
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        LegacyConnector::health(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_typed_and_the_password_never_prints() {
        let cfg: LegacyConfig = serde_json::from_value(json!({
            "base_url": "http://127.0.0.1:8080",
            "username": "robot",
            "password": "hemligt",
            "artefacts_dir": "/var/lib/hrobot/legacy",
            "step_timeout_ms": 5000
        }))
        .unwrap();
        assert_eq!(cfg.step_timeout_ms, 5000);
        assert_eq!(cfg.chromium_path, PathBuf::from("/usr/bin/chromium"));
        assert!(!format!("{cfg:?}").contains("hemligt"));
        cfg.validate().unwrap();
        let unknown = serde_json::from_value::<LegacyConfig>(json!({
            "base_url": "http://x", "username": "u", "password": "p", "artefacts_dir": "a", "pasword": "typo"
        }));
        assert!(unknown.is_err());
        let bad = LegacyConfig::new("ftp://x", "u", Password::new("p"), "a");
        assert!(!bad.validate().unwrap_err().is_retriable());
    }

    #[test]
    fn errors_say_what_to_do_without_personal_data() {
        let e = Failure::Layout(vec![missing_on(screens::TITLE_EKONOMI, "field 'Hyra'")]).into_error("health", None);
        assert!(!e.is_retriable());
        assert!(e.message.contains("screens have changed"), "{e}");
        assert!(e.message.contains("field 'Hyra'"));
        assert!(Failure::Expired.into_error("fetch", None).is_retriable());
        assert!(
            Failure::Server {
                step: "x".into(),
                status: 500
            }
            .into_error("fetch", None)
            .is_retriable()
        );
        assert!(
            !Failure::Malformed { step: "x".into() }
                .into_error("fetch", None)
                .is_retriable()
        );
    }
}
