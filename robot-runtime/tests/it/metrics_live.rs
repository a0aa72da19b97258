//! IT's console: a real service with work in it (applications fetched and
//! drafted, decisions approved and delivered, sign-ins, a kommunicering
//! past its deadline), its live `/metrics` checked by `promtool check
//! metrics` and family by family; the alert rules by `promtool check
//! rules` and `promtool test rules`; and every metric the alert rules and
//! the Grafana dashboard name is one the live service exposes.

use crate::support::*;
use crate::web_support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// `promtool` (Debian's `prometheus` package), installed when missing and
/// this user may; `Err` says why not.
fn promtool() -> Result<PathBuf, String> {
    let found = |p: &str| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if found("promtool") {
        return Ok("promtool".into());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut apt = if root {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "apt-get"]);
        c
    };
    let installed = apt
        .args(["install", "-y", "-qq", "--no-install-recommends", "prometheus"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    if installed && found("promtool") {
        Ok("promtool".into())
    } else {
        Err(
            "promtool is missing and `apt-get install prometheus` did not work here (not root, no sudo, or no network)"
                .into(),
        )
    }
}

/// One sample: its labels as written and its value.
type Samples = BTreeMap<String, Vec<(String, f64)>>;

/// The samples of a text exposition, by sample name.
fn samples(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (head, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match head.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (head, ""),
        };
        let v = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a number in {line:?}")),
        };
        out.entry(name.to_string()).or_default().push((labels.to_string(), v));
    }
    out
}

/// The value of the sample whose labels contain all of `want`.
fn value(s: &Samples, name: &str, want: &[&str]) -> f64 {
    let series = s.get(name).unwrap_or_else(|| panic!("{name} missing"));
    series
        .iter()
        .find(|(l, _)| want.iter().all(|w| l.contains(w)))
        .unwrap_or_else(|| panic!("{name} has no series with {want:?}: {series:?}"))
        .1
}

fn sum(s: &Samples, name: &str, want: &[&str]) -> f64 {
    s.get(name)
        .map(|series| {
            series
                .iter()
                .filter(|(l, _)| want.iter().all(|w| l.contains(w)))
                .map(|(_, v)| v)
                .sum()
        })
        .unwrap_or(0.0)
}

async fn scrape(app: &WebApp) -> String {
    let r = client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    r.text().await.unwrap()
}

/// A service with work in it; returns it and its `/metrics` after the work.
async fn service_with_work(engine: Engine) -> (WebApp, String) {
    let mut env = web_env(engine).await;
    env.settings.audit.witness_dir = Some(env.dir.path().join("witness"));
    env.settings.outbox.poll_millis = 20;
    let app = WebApp::start_with(env, clock_at("2021-03-10T09:00:00Z")).await;
    for (name, roles) in OFFICIALS {
        app.add_user(name, roles, None).await;
    }
    let cases = app.seed(&[]).await;
    assert!(!cases.is_empty());
    // Sign-ins: one refused, then through the form and the API.
    assert!(app.try_login("anna", "fel lösenord här").await.is_err());
    let _anna_web = app.login("anna").await;
    let anna = app.token("anna").await;
    let bo = app.token("bo").await;
    let c = client();
    let post = |path: String, token: &str, body: Value| c.post(app.url(&path)).bearer_auth(token).json(&body).send();
    // Approve what can be approved as drafted (a second official where
    // four eyes are needed); keep one case for a kommunicering and one
    // waiting.
    let awaiting = app.awaiting().await;
    assert!(awaiting.len() >= 3, "{awaiting:?}");
    let (kommunicera, approve) = (awaiting[0], &awaiting[2..]);
    let mut approved = 0;
    for case in approve {
        let r = post(format!("/api/v1/cases/{case}/approve"), &anna, json!({}))
            .await
            .unwrap();
        if r.status() != 200 {
            continue;
        }
        let mut result = r.json::<Value>().await.unwrap()["result"].clone();
        if result == "awaiting_second_approval" {
            let r = post(format!("/api/v1/cases/{case}/approve"), &bo, json!({}))
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            result = r.json::<Value>().await.unwrap()["result"].clone();
        }
        if result == "approved" {
            approved += 1;
        }
    }
    assert!(approved > 0, "no case could be approved as drafted");
    let r = post(
        format!("/api/v1/cases/{kommunicera}/kommunicering"),
        &anna,
        json!({"own_findings": "Hyresavin saknas."}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // The outbox delivers the decisions and the kommuniceringsbrev.
    let mut text = String::new();
    for _ in 0..400 {
        text = scrape(&app).await;
        let s = samples(&text);
        if value(&s, "hrobot_outbox_items", &["state=\"delivered\""]) >= f64::from(approved + 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    (app, text)
}

fn check_metrics(promtool: &PathBuf, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every family IT needs is there with values that fit the work done.
fn check_families(text: &str, engine: Engine) {
    let s = samples(text);
    let drafted = value(&s, "hrobot_work_items_total", &["result=\"drafted\""]);
    assert!(drafted >= 1.0, "{engine:?}");
    // Work items by state, with the age of the oldest open one.
    assert_eq!(value(&s, "hrobot_work_items_by_state", &["state=\"done\""]), drafted);
    for st in ["pending", "leased", "dead"] {
        assert_eq!(
            value(&s, "hrobot_work_items_by_state", &[&format!("state=\"{st}\"")]),
            0.0
        );
    }
    assert_eq!(
        value(&s, "hrobot_work_items_oldest_age_seconds", &["state=\"pending\""]),
        0.0
    );
    // The outbox and its deliveries.
    let delivered = value(&s, "hrobot_outbox_items", &["state=\"delivered\""]);
    assert!(delivered >= 2.0, "{engine:?}: {delivered}");
    assert_eq!(value(&s, "hrobot_outbox_items", &["state=\"failing\""]), 0.0);
    assert_eq!(
        value(&s, "hrobot_outbox_oldest_age_seconds", &["state=\"pending\""]),
        0.0
    );
    assert_eq!(sum(&s, "hrobot_deliveries_total", &["result=\"delivered\""]), delivered);
    assert_eq!(
        value(
            &s,
            "hrobot_deliveries_total",
            &["kind=\"kommunicering\"", "result=\"delivered\""]
        ),
        1.0
    );
    assert_eq!(sum(&s, "hrobot_deliveries_total", &["result=\"failing\""]), 0.0);
    // Connector calls with their latency: the inbox and the maildir outlet.
    let fetched = sum(&s, "hrobot_connector_calls_total", &["kind=\"fetch\"", "result=\"ok\""]);
    assert!(fetched >= drafted, "{engine:?}: fetched {fetched} < drafted {drafted}");
    assert_eq!(
        sum(
            &s,
            "hrobot_connector_calls_total",
            &["kind=\"deliver\"", "result=\"ok\""]
        ),
        delivered
    );
    assert_eq!(
        sum(
            &s,
            "hrobot_connector_call_duration_seconds_count",
            &["kind=\"deliver\""]
        ),
        delivered
    );
    assert!(sum(&s, "hrobot_connector_calls_total", &["kind=\"list\""]) >= 1.0);
    // HTTP by route template and status, never by the path itself.
    assert!(
        value(
            &s,
            "hrobot_http_requests_total",
            &["route=\"/api/v1/cases/{id}/approve\"", "status=\"200\""]
        ) >= 1.0
    );
    assert!(
        value(
            &s,
            "hrobot_http_request_duration_seconds_count",
            &["route=\"/logga-in\"", "method=\"POST\""]
        ) >= 2.0
    );
    for (labels, _) in &s["hrobot_http_requests_total"] {
        let route = labels.split("route=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(
            route == "unmatched"
                || !route
                    .split('/')
                    .any(|seg| seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty()),
            "a path with an id as a label: {labels}"
        );
    }
    // Sign-ins by method.
    assert!(value(&s, "hrobot_logins_total", &["method=\"password\""]) >= 3.0);
    assert_eq!(value(&s, "hrobot_login_failures_total", &["method=\"password\""]), 1.0);
    assert_eq!(value(&s, "hrobot_logins_total", &["method=\"sso\""]), 0.0);
    // Cases waiting for an official: the buckets only shrink with age.
    let waiting = value(&s, "hrobot_cases_awaiting_decision", &[]);
    let mut last = waiting;
    for d in ["1d", "3d", "7d", "14d", "30d"] {
        let n = value(
            &s,
            "hrobot_cases_awaiting_decision_older_than",
            &[&format!("older_than=\"{d}\"")],
        );
        assert!(n <= last, "{d}: {n} > {last}");
        last = n;
    }
    assert_eq!(
        waiting,
        value(&s, "hrobot_cases", &["state=\"awaiting_approval\""])
            + value(&s, "hrobot_cases", &["state=\"awaiting_second_approval\""])
    );
    if waiting > 0.0 {
        assert!(value(&s, "hrobot_cases_awaiting_decision_oldest_age_seconds", &[]) > 0.0);
    }
    assert_eq!(value(&s, "hrobot_kommuniceringar_open", &[]), 1.0);
    assert_eq!(value(&s, "hrobot_kommuniceringar_deadline_passed", &[]), 0.0);
    // The audit log.
    let entries = value(&s, "hrobot_audit_log_entries", &[]);
    assert!(entries > drafted, "{engine:?}: {entries}");
    assert!(value(&s, "hrobot_audit_log_unsigned_entries", &[]) <= entries);
    assert!(value(&s, "hrobot_audit_checkpoint_age_seconds", &[]) >= 0.0);
    // No checkpoint signed yet (the test's clock stands still): no time.
    let signed = value(&s, "hrobot_audit_log_unsigned_entries", &[]) < entries;
    assert_eq!(
        value(&s, "hrobot_audit_checkpoint_timestamp_seconds", &[]) > 0.0,
        signed
    );
    assert!(value(&s, "hrobot_audit_witness_lag_entries", &[]) >= 0.0);
    // The ruleset in force, the robot's runs and schedule.
    assert_eq!(
        value(
            &s,
            "hrobot_ruleset_active_info",
            &["casework_type=\"ekonomiskt-bistand\""]
        ),
        1.0
    );
    let now = 1_615_366_800.0; // 2021-03-10T09:00:00Z, the test's clock
    assert!(value(&s, "hrobot_robot_last_success_timestamp_seconds", &["robot=\"r1\""]) >= now);
    assert!(value(&s, "hrobot_robot_next_run_timestamp_seconds", &["robot=\"r1\""]) > now);
    // Every ten minutes: the latest fire time is now's 09:00.
    assert_eq!(
        value(&s, "hrobot_robot_scheduled_run_timestamp_seconds", &["robot=\"r1\""]),
        now
    );
    assert_eq!(value(&s, "hrobot_robot_paused", &["robot=\"r1\""]), 0.0);
    assert_eq!(value(&s, "hrobot_store_up", &[]), 1.0);
    // The twelve from before.
    for name in [
        "hrobot_robot_runs_total",
        "hrobot_applications_fetched_total",
        "hrobot_applications_duplicate_total",
        "hrobot_evaluation_seconds_count",
        "hrobot_robot_run_seconds_count",
        "hrobot_open_work_items",
    ] {
        assert!(s.contains_key(name), "{name} missing");
    }
    // Nothing personal in a label: no personnummer-like digit runs.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(labels) = line
            .split_once('{')
            .and_then(|(_, l)| l.rsplit_once('}'))
            .map(|(l, _)| l)
        {
            let digits = labels.chars().filter(char::is_ascii_digit).count();
            assert!(digits < 10, "digits in labels: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_live_service_passes_promtool_and_shows_every_family() {
    let tool = match promtool() {
        Ok(t) => Some(t),
        Err(why) => {
            println!("SKIPPED promtool check metrics: {why}");
            None
        }
    };
    for engine in ENGINES {
        let (app, text) = service_with_work(engine).await;
        // Kept for a look (a CI artefact, never committed).
        let artefacts = repo().join("target/ci-artefacts");
        if std::fs::create_dir_all(&artefacts).is_ok() {
            let _ = std::fs::write(artefacts.join(format!("metrics-{engine:?}.txt")), &text);
        }
        if let Some(t) = &tool {
            check_metrics(t, &text);
        }
        check_families(&text, engine);
        // Prometheus asks for OpenMetrics and gets it: the same samples.
        let r = client()
            .get(app.url("/metrics"))
            .header(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )
            .send()
            .await
            .unwrap();
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        let om = r.text().await.unwrap();
        assert!(om.ends_with("# EOF\n"));
        assert!(om.contains("# TYPE hrobot_deliveries counter\n"));
        assert!(text.contains("# TYPE hrobot_deliveries_total counter\n"));
        assert_eq!(
            samples(&om).keys().collect::<Vec<_>>(),
            samples(&text).keys().collect::<Vec<_>>()
        );
        // Past the answer deadline the kommunicering is due (until the
        // once-a-minute check moves the case back to the queue).
        app.clock.advance(chrono::Duration::days(60));
        let s = samples(&scrape(&app).await);
        assert_eq!(
            value(&s, "hrobot_kommuniceringar_deadline_passed", &[]),
            1.0,
            "{engine:?}"
        );
        assert!(value(&s, "hrobot_cases_awaiting_decision_older_than", &["older_than=\"30d\""]) >= 1.0);
        app.stop().await;
    }
}

fn ops(path: &str) -> PathBuf {
    repo().join("ops").join(path)
}

/// The metric names an alert rule file or a dashboard uses.
fn names_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("hrobot_") {
        let start = i + at;
        let before_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |e| start + e);
        if before_ok && !out.iter().any(|n| n == &text[start..end]) {
            out.push(text[start..end].to_string());
        }
        i = end;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_used_by_alerts_and_dashboard_are_all_live() {
    let alerts = std::fs::read_to_string(ops("prometheus/alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(ops("grafana/hrobot.json")).unwrap();
    let d: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let exprs: Vec<String> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 10, "{} panel queries", exprs.len());
    let used_by_alerts = names_in(&alerts);
    let used_by_dashboard = names_in(&exprs.join("\n"));
    assert!(used_by_alerts.len() >= 8, "{used_by_alerts:?}");
    let (app, text) = service_with_work(Engine::Sqlite).await;
    let live = samples(&text);
    for name in used_by_alerts.iter().chain(&used_by_dashboard) {
        assert!(
            live.contains_key(name),
            "{name} is used in ops/ but the service does not expose it"
        );
    }
    app.stop().await;
}

#[test]
fn metrics_alert_rules_pass_promtool_check_and_unit_tests() {
    let tool = match promtool() {
        Ok(t) => t,
        Err(why) => {
            println!("SKIPPED promtool check/test rules: {why}");
            return;
        }
    };
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new(&tool)
            .args(&args)
            .current_dir(ops("prometheus"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every alert has a unit test, a severity and a runbook section.
    let alerts = std::fs::read_to_string(ops("prometheus/alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(ops("prometheus/alerts_test.yml")).unwrap();
    let runbook = std::fs::read_to_string(ops("runbooks/alerts.md")).unwrap();
    let names: Vec<&str> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    for n in &names {
        // One case where it fires, one where it stays quiet.
        assert!(
            tests.matches(&format!("alertname: {n}\n")).count() >= 2,
            "{n} lacks unit tests"
        );
        assert!(runbook.contains(&format!("## {n}")), "{n} has no runbook section");
        assert!(
            alerts.contains(&format!("runbooks/alerts.md#{}", n.to_lowercase())),
            "{n}'s runbook link"
        );
    }
    assert_eq!(alerts.matches("severity:").count(), names.len());
}

#[tokio::test]
async fn metrics_sso_sign_ins_and_refused_callbacks_are_counted() {
    let (app, idp) = crate::web_oidc::app_with_sso().await;
    idp.sign_in_as(crate::web_oidc::identity("sara", &["SOC-Handlaggare"]));
    assert_eq!(crate::web_oidc::sso(&app).await.status(), 200);
    // The provider sends the browser back with an error: refused.
    let r = client()
        .get(app.url("/logga-in/sso/klar?error=access_denied&state=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let s = samples(&scrape(&app).await);
    assert_eq!(value(&s, "hrobot_logins_total", &["method=\"sso\""]), 1.0);
    assert_eq!(value(&s, "hrobot_login_failures_total", &["method=\"sso\""]), 1.0);
    assert_eq!(value(&s, "hrobot_logins_total", &["method=\"password\""]), 0.0);
    assert_eq!(
        value(
            &s,
            "hrobot_http_requests_total",
            &["route=\"/logga-in/sso/klar\"", "status=\"403\""]
        ),
        1.0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_store_snapshot_ages_open_work_from_the_cases_receipt() {
    use robot_runtime::clock::Clock;
    for engine in ENGINES {
        let env = web_env(engine).await;
        let clock = clock_at("2021-03-10T09:00:00Z");
        // The runtime alone: no workers, so the fetched items stay pending.
        let rt = env.runtime(clock.clone()).await;
        env.put(&valid_cases()[..3]);
        robot_runtime::pipeline::run_robot(&rt, "r1", robot_runtime::store::Trigger::Manual, clock.now())
            .await
            .unwrap()
            .unwrap();
        clock.advance(chrono::Duration::hours(2));
        let s = rt.store.ops_snapshot(&[1]).await.unwrap();
        assert_eq!(s.work_items, vec![("pending".to_string(), 3, 7200)], "{engine:?}");
        assert_eq!(s.awaiting, 0);
        assert!(s.last_success.iter().any(|(r, t)| r == "r1" && *t > 0));
        while robot_runtime::pipeline::work_once(&rt).await.unwrap() > 0 {}
        let s = rt.store.ops_snapshot(&[1, 36_500]).await.unwrap();
        assert_eq!(s.work_items, vec![("done".to_string(), 3, 0)], "{engine:?}");
        assert_eq!(s.awaiting, 3, "{engine:?}");
        // Counted from the applications' own dates, which are in the past.
        assert_eq!(s.awaiting_older, vec![(1, 3), (36_500, 0)], "{engine:?}");
        assert!(s.awaiting_oldest_age > 86_400);
        assert!(s.outbox.is_empty());
        assert!(s.audit_size > 3);
    }
}

/// A real Prometheus server (Debian's `prometheus`, the package that brings
/// promtool) scrapes a service with work in it and loads the alert rules;
/// then every query of the Grafana dashboard is asked of it, as Grafana
/// would: each must evaluate, and each panel must show data. The alert
/// rules must all evaluate without error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_a_real_prometheus_answers_every_dashboard_query() {
    if let Err(why) = promtool() {
        println!("SKIPPED the Prometheus server check: {why}");
        return;
    }
    let prometheus = "/usr/bin/prometheus";
    assert!(
        std::path::Path::new(prometheus).is_file(),
        "Debian's prometheus package is installed (promtool is) but has no server"
    );
    let (app, _) = service_with_work(Engine::Sqlite).await;
    let target = app.base.trim_start_matches("http://").trim_end_matches('/').to_string();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{rules:?}]\n\
             scrape_configs:\n  - job_name: hrobot\n    static_configs: [{{targets: [{target:?}]}}]\n",
            rules = ops("prometheus/alerts.yml").display().to_string(),
        ),
    )
    .unwrap();
    let mut server = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus starts");
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let c = client();
    let query = |q: String| {
        let c = c.clone();
        let api = api.clone();
        async move {
            let r = c
                .get(format!("{api}/query"))
                .query(&[("query", q.as_str())])
                .send()
                .await;
            match r {
                Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        }
    };
    // Six scrapes at least, with requests between them, so rates exist.
    let mut scrapes = 0.0;
    for _ in 0..120 {
        let v = query("count_over_time(up{job=\"hrobot\"}[5m])".into()).await;
        scrapes = v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
        if scrapes >= 6.0 {
            break;
        }
        let _ = c.get(app.url("/healthz")).send().await;
        let _ = c.get(app.url("/arenden")).send().await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert!(scrapes >= 6.0, "Prometheus scraped {scrapes} times:\n{}", log());
    let up = query("up{job=\"hrobot\"}".into()).await;
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");

    let d: Value = serde_json::from_str(&std::fs::read_to_string(ops("grafana/hrobot.json")).unwrap()).unwrap();
    let mut panels = 0;
    let mut empty_panels = Vec::new();
    for panel in d["panels"].as_array().unwrap() {
        let Some(targets) = panel["targets"].as_array() else {
            continue;
        };
        if targets.is_empty() {
            continue;
        }
        panels += 1;
        let mut with_data = 0;
        for t in targets {
            // Grafana's own variables, as Grafana fills them in.
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m")
                .replace("$__interval", "15s")
                .replace("$__range", "1h");
            let v = query(expr.clone()).await;
            assert_eq!(v["status"], "success", "panel {}: {expr}: {v}", panel["title"]);
            if v["data"]["result"].as_array().is_some_and(|r| !r.is_empty()) {
                with_data += 1;
            }
        }
        if with_data == 0 {
            empty_panels.push(panel["title"].as_str().unwrap_or("?").to_string());
        }
    }
    assert!(panels >= 20, "{panels} panels with queries");
    assert!(
        empty_panels.is_empty(),
        "panels without data from a service with work: {empty_panels:?}"
    );

    // Every alert rule loaded and evaluated without error.
    let mut rules: Vec<Value> = Vec::new();
    for _ in 0..40 {
        let v = c
            .get(format!("{api}/rules"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        rules = v["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        if !rules.is_empty() && rules.iter().all(|r| r["health"] == "ok") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let alerts_in_file = std::fs::read_to_string(ops("prometheus/alerts.yml"))
        .unwrap()
        .matches("- alert:")
        .count();
    assert_eq!(rules.len(), alerts_in_file, "rules loaded by Prometheus:\n{}", log());
    for r in &rules {
        assert_eq!(r["health"], "ok", "{}: {}", r["name"], r["lastError"]);
    }
    println!(
        "Prometheus scraped the service {scrapes} times; {panels} dashboard panels answered with data; {} alert rules evaluated",
        rules.len()
    );
    let _ = server.kill();
    let _ = server.wait();
    app.stop().await;
}
