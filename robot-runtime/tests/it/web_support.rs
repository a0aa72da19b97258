//! The service with its web UI on port 0, officials of every role, cases,
//! and an HTTP client that keeps a session by hand (so tests see every
//! cookie and redirect).

use crate::support::{Engine, TestEnv, clock_at, valid_cases};
use robot_runtime::clock::{Clock, ManualClock};
use robot_runtime::pipeline::{run_robot, work_once};
use robot_runtime::runtime::Runtime;
use robot_runtime::service::Service;
use robot_runtime::store::Trigger;
use std::sync::Arc;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "korrekt-häst-batteri";

/// Skatteverket's test personnummer for officials (in no test case).
pub const OFFICIAL_PERSONNUMMER: &[&str] = &[
    "198107249289",
    "198503209895",
    "196211262834",
    "199107062391",
    "199307242389",
    "199703242397",
    "196207142842",
    "198411279287",
];

/// An official's own test personnummer: anna and bo always get the same
/// ones; others one by the name, so two officials are two persons.
pub fn official_personnummer(name: &str) -> String {
    let i = match name {
        "anna" => 0,
        "bo" => 1,
        other => 2 + other.bytes().map(usize::from).sum::<usize>() % (OFFICIAL_PERSONNUMMER.len() - 2),
    };
    OFFICIAL_PERSONNUMMER[i].to_string()
}

/// The officials every web test has: (username, roles).
pub const OFFICIALS: &[(&str, &[&str])] = &[
    ("anna", &["handlaggare"]),
    ("bo", &["handlaggare"]),
    ("rut", &["regelforfattare"]),
    ("adam", &["administrator"]),
    ("vera", &["revisor"]),
];

pub struct WebApp {
    pub base: String,
    pub env: TestEnv,
    pub clock: Arc<ManualClock>,
    pub runtime: Arc<Runtime>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl WebApp {
    /// A fresh service with the officials and the shipped valid cases drafted.
    pub async fn start(engine: Engine) -> WebApp {
        let env = web_env(engine).await;
        let clock = clock_at("2021-03-10T09:00:00Z");
        let app = WebApp::start_with(env, clock).await;
        for (name, roles) in OFFICIALS {
            app.add_user(name, roles, None).await;
        }
        app
    }

    /// Starts the service on an existing environment (a restart).
    pub async fn start_with(mut env: TestEnv, clock: Arc<ManualClock>) -> WebApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        if let Some(o) = env.settings.web.oidc.as_mut() {
            o.redirect_url = format!("{base}/logga-in/sso/klar");
        }
        let service = Service::build(env.settings.clone(), clock.clone() as Arc<dyn Clock>)
            .await
            .unwrap();
        let runtime = service.runtime.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(service.run(listener, async move {
            let _ = rx.await;
        }));
        // Wait until it answers.
        let c = client();
        for _ in 0..200 {
            if c.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        WebApp {
            base,
            env,
            clock,
            runtime,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the service and gives back its environment (data, database).
    pub async fn stop(mut self) -> (TestEnv, Arc<ManualClock>) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        (self.env, self.clock)
    }

    pub async fn add_user(&self, name: &str, roles: &[&str], personnummer: Option<&str>) -> i64 {
        // A handläggare needs a personnummer (jäv, four eyes by person):
        // each gets one of Skatteverket's test numbers of their own.
        let own;
        let personnummer = match personnummer {
            None if roles.contains(&"handlaggare") => {
                own = official_personnummer(name);
                Some(own.as_str())
            }
            p => p,
        };
        let roles =
            robot_runtime::officials::parse_roles(&roles.iter().map(|r| r.to_string()).collect::<Vec<_>>()).unwrap();
        robot_runtime::accounts::create_user(
            &self.runtime.store,
            name,
            &format!("{name} Testsson"),
            Some(PASSWORD),
            personnummer,
            roles,
        )
        .await
        .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Puts the shipped valid cases (or the given files) through the robot.
    pub async fn seed(&self, files: &[std::path::PathBuf]) -> Vec<i64> {
        let files = if files.is_empty() {
            valid_cases()
        } else {
            files.to_vec()
        };
        self.env.put(&files);
        let now = self.clock.now();
        let report = run_robot(&self.runtime, "r1", Trigger::Manual, now).await.unwrap();
        // The service's own workers may hold some of the run's items:
        // wait until every one is worked, whoever works it.
        if let Some(r) = report {
            robot_runtime::pipeline::drain_run(&self.runtime, r.run_id, |_, _| {})
                .await
                .unwrap();
        }
        while work_once(&self.runtime).await.unwrap() > 0 {}
        let cases = self.runtime.store.list_cases(None, None, 10_000, 0).await.unwrap();
        cases.into_iter().map(|c| c.id).collect()
    }

    /// The case stored for an application's external id.
    pub async fn case_by_external_id(&self, external_id: &str) -> i64 {
        self.runtime
            .store
            .list_cases(None, None, 10_000, 0)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.external_id == external_id)
            .unwrap_or_else(|| panic!("no case for {external_id}"))
            .id
    }

    /// A case awaiting approval.
    pub async fn awaiting(&self) -> Vec<i64> {
        self.runtime
            .store
            .list_cases(Some(domain::CaseState::AwaitingApproval), None, 10_000, 0)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.outcome != Some(domain::Outcome::Manuell))
            .map(|c| c.id)
            .collect()
    }

    /// Logs in through the form, like a browser.
    pub async fn login(&self, user: &str) -> Browser {
        self.try_login(user, PASSWORD)
            .await
            .unwrap_or_else(|s| panic!("login as {user} failed: {s}"))
    }

    pub async fn try_login(&self, user: &str, password: &str) -> Result<Browser, u16> {
        let c = client();
        let page = c.get(self.url("/logga-in")).send().await.unwrap();
        let login_cookie = set_cookie(&page, "hrobot-login").expect("the login page sets its CSRF cookie");
        let html = page.text().await.unwrap();
        let token = field(&html, "_login").expect("the login form has its token");
        let r = c
            .post(self.url("/logga-in"))
            .header("cookie", format!("hrobot-login={login_cookie}"))
            .form(&[
                ("_login", token.as_str()),
                ("anvandarnamn", user),
                ("losenord", password),
                ("nasta", ""),
            ])
            .send()
            .await
            .unwrap();
        if r.status().as_u16() != 303 {
            return Err(r.status().as_u16());
        }
        let session = set_cookie(&r, "hrobot").expect("a session cookie");
        let mut b = Browser {
            base: self.base.clone(),
            cookie: session,
            csrf: String::new(),
        };
        let html = b.get("/arenden").await.text().await.unwrap();
        b.csrf = field(&html, "_csrf").unwrap_or_default();
        if b.csrf.is_empty() {
            let html = b.get("/admin/anvandare").await.text().await.unwrap();
            b.csrf = field(&html, "_csrf").unwrap_or_default();
        }
        Ok(b)
    }

    /// A bearer token from the API.
    pub async fn token(&self, user: &str) -> String {
        let r = client()
            .post(self.url("/api/v1/session"))
            .json(&serde_json::json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "API login as {user}");
        let v: serde_json::Value = r.json().await.unwrap();
        v["token"].as_str().unwrap().to_string()
    }
}

/// A test environment for the web: plain-HTTP cookies, and no register
/// lookups (so drafts are bifall/avslag, with the "not checked" warning).
pub async fn web_env(engine: Engine) -> TestEnv {
    let mut env = TestEnv::new(engine).await;
    env.settings.web.secure_cookies = false;
    env.settings.workers.concurrency = 1;
    for r in &mut env.settings.robots {
        r.lookups.clear();
    }
    env
}

pub fn client() -> reqwest::Client {
    connectors::http::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A cookie's value from `Set-Cookie` headers.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (kv, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, val) = kv.split_once('=')?;
        (k == name && !val.is_empty()).then(|| val.to_string())
    })
}

/// The value of a hidden form field.
pub fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

/// A signed-in browser: its session cookie and the page's CSRF token.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Browser {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("hrobot={}", self.cookie))
            .send()
            .await
            .unwrap()
    }

    /// A form POST with the session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut f: Vec<(&str, &str)> = vec![("_csrf", self.csrf.as_str())];
        f.extend_from_slice(fields);
        self.post_raw(path, &f).await
    }

    /// A form POST exactly as given (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        client()
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("hrobot={}", self.cookie))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
