//! Prometheus metrics: counters for robot runs, cases and failures,
//! latency histograms, and the number of cases in each state (read from
//! the store at scrape time, so every worker reports the same truth).
//!
//! What can get stuck or slow is here too: work items and outbox rows by
//! state with the age of the oldest, cases waiting for an official by
//! age, kommunicering deadlines passed, the audit log's size and
//! checkpoint age, the active ruleset per casework type and each robot's
//! last successful and next scheduled run (all set at scrape time, see
//! `http.rs`); and, counted where they happen, deliveries, connector
//! calls, HTTP requests and logins. Names follow Prometheus' conventions
//! (base units in the name, counters end `_total`, which the encoder adds);
//! labels are bounded sets (states, robots, connectors, route templates)
//! and never carry a case id or anything about a person.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RobotLabels {
    pub robot: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutboxLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// The configured channel's name (maildir, smtp, legacy …).
    pub outlet: String,
    /// beslut or kommunicering.
    pub kind: String,
    /// delivered, retry, failing, lease_lost.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorLabels {
    /// The connector's name (the source's configured name, `ssbtek`, …).
    pub connector: String,
    /// health, list, fetch, acknowledge, lookup, deliver, write_back.
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorResultLabels {
    pub connector: String,
    pub kind: String,
    /// ok, retriable, permanent, refused.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route's template (`/arenden/{id}`), never the path itself;
    /// `unmatched` for requests no route took.
    pub route: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpStatusLabels {
    pub route: String,
    pub method: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// password or sso.
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgeLabels {
    /// `1d`, `3d`, `7d`, `14d`, `30d`: waiting at least that long.
    pub older_than: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RulesetLabels {
    pub casework_type: String,
    /// The ruleset's name and version from its manifest.
    pub ruleset: String,
    pub version: String,
    /// The first 12 hex digits of the content hash.
    pub hash: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RobotNameLabels {
    pub robot: String,
}

/// The result label of a connector call: `ok`, `refused`, `retriable` or
/// `permanent`.
pub fn connector_result<T>(r: &Result<T, connectors::ConnectorError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) if e.is_refused() => "refused",
        Err(e) if e.is_retriable() => "retriable",
        Err(_) => "permanent",
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn connector_histogram() -> Histogram {
    // 1 ms … ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

fn http_histogram() -> Histogram {
    // 1 ms … ~32 s
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The days of the `older_than` buckets of cases awaiting a decision.
pub const WAITING_DAYS: [i64; 5] = [1, 3, 7, 14, 30];

/// Gauges read from the store at scrape time (see `http.rs`).
pub struct StoreGauges {
    /// Work items by state (`work_items.status`).
    pub work_items: Family<StateLabels, Gauge>,
    /// Age of the oldest work item in a state that is still to be worked
    /// (pending, leased), from when its case was received.
    pub work_item_oldest_age: Family<StateLabels, Gauge>,
    /// Outbox rows (letters and write-backs) by state.
    pub outbox: Family<OutboxLabels, Gauge>,
    /// Age of the oldest undelivered outbox row per state, from its creation.
    pub outbox_oldest_age: Family<OutboxLabels, Gauge>,
    /// Cases waiting for an official's decision (awaiting_approval,
    /// awaiting_second_approval) at least `older_than`, counted from the
    /// application's own date.
    pub awaiting_decision: Family<AgeLabels, Gauge>,
    pub awaiting_decision_total: Gauge,
    pub awaiting_decision_oldest_age: Gauge,
    /// Open kommuniceringar, and those whose answer deadline has passed
    /// but are still waiting (the outbox worker should move them back).
    pub kommunicering_open: Gauge,
    pub kommunicering_overdue: Gauge,
    pub audit_entries: Gauge,
    pub audit_unsigned_entries: Gauge,
    pub audit_checkpoint_age: Gauge,
    pub audit_checkpoint_timestamp: Gauge,
    /// Entries signed in the newest checkpoint but not yet in the witness.
    pub audit_witness_lag: Gauge,
    pub ruleset_active: Family<RulesetLabels, Gauge>,
    pub robot_last_success: Family<RobotNameLabels, Gauge>,
    pub robot_next_run: Family<RobotNameLabels, Gauge>,
    /// The latest fire time at or before now by the schedule: a robot
    /// whose last success is older missed it (or is still running).
    pub robot_previous_run: Family<RobotNameLabels, Gauge>,
    pub robot_paused: Family<RobotNameLabels, Gauge>,
    /// 1 when the last scrape could read the store, else 0.
    pub store_up: Gauge,
}

pub struct Metrics {
    registry: Registry,
    pub robot_runs: Family<RobotLabels, Counter>,
    pub fetched: Counter,
    pub duplicates: Counter,
    /// Work items finished, by result: drafted, invalid, failed, retry.
    pub work_items: Family<ResultLabels, Counter>,
    pub evaluation_seconds: Histogram,
    pub run_seconds: Histogram,
    pub cases: Family<StateLabels, Gauge>,
    pub open_work: Gauge,
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub connector_calls: Family<ConnectorResultLabels, Counter>,
    pub connector_seconds: HistogramFamily<ConnectorLabels>,
    pub http_requests: Family<HttpStatusLabels, Counter>,
    pub http_seconds: HistogramFamily<HttpLabels>,
    pub logins: Family<MethodLabels, Counter>,
    pub login_failures: Family<MethodLabels, Counter>,
    pub store: StoreGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hrobot");
        let robot_runs = Family::<RobotLabels, Counter>::default();
        registry.register("robot_runs", "Robot runs, by robot and result", robot_runs.clone());
        let fetched = Counter::default();
        registry.register(
            "applications_fetched",
            "Applications stored as new cases",
            fetched.clone(),
        );
        let duplicates = Counter::default();
        registry.register(
            "applications_duplicate",
            "Applications fetched again and recognised as already stored",
            duplicates.clone(),
        );
        let work_items = Family::<ResultLabels, Counter>::default();
        registry.register("work_items", "Work items finished, by result", work_items.clone());
        let evaluation_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "evaluation_seconds",
            "Time to evaluate one application with its ruleset",
            evaluation_seconds.clone(),
        );
        let run_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        registry.register(
            "robot_run_seconds",
            "Duration of a robot run's fetch phase",
            run_seconds.clone(),
        );
        let cases = Family::<StateLabels, Gauge>::default();
        registry.register("cases", "Cases in the store, by state", cases.clone());
        let open_work = Gauge::default();
        registry.register("open_work_items", "Work items pending or leased", open_work.clone());
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Outbox delivery attempts, by outlet, letter kind and result",
            deliveries.clone(),
        );
        let connector_calls = Family::<ConnectorResultLabels, Counter>::default();
        registry.register(
            "connector_calls",
            "Calls to connectors, by connector, kind and result",
            connector_calls.clone(),
        );
        let connector_seconds = HistogramFamily::<ConnectorLabels>::new_with_constructor(connector_histogram);
        registry.register(
            "connector_call_duration_seconds",
            "Duration of calls to connectors, by connector and kind",
            connector_seconds.clone(),
        );
        let http_requests = Family::<HttpStatusLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            http_requests.clone(),
        );
        let http_seconds = HistogramFamily::<HttpLabels>::new_with_constructor(http_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method",
            http_seconds.clone(),
        );
        let logins = Family::<MethodLabels, Counter>::default();
        registry.register("logins", "Successful sign-ins, by method", logins.clone());
        let login_failures = Family::<MethodLabels, Counter>::default();
        registry.register(
            "login_failures",
            "Refused sign-ins (wrong password, unknown user, throttled, SSO callback refused), by method",
            login_failures.clone(),
        );
        let store = StoreGauges::register(&mut registry);
        Metrics {
            registry,
            robot_runs,
            fetched,
            duplicates,
            work_items,
            evaluation_seconds,
            run_seconds,
            cases,
            open_work,
            deliveries,
            connector_calls,
            connector_seconds,
            http_requests,
            http_seconds,
            logins,
            login_failures,
            store,
        }
    }

    /// One call to a connector: its result and how long it took.
    pub fn connector_call(&self, connector: &str, kind: &str, result: &str, seconds: f64) {
        self.connector_seconds
            .get_or_create(&ConnectorLabels {
                connector: connector.into(),
                kind: kind.into(),
            })
            .observe(seconds);
        self.connector_calls
            .get_or_create(&ConnectorResultLabels {
                connector: connector.into(),
                kind: kind.into(),
                result: result.into(),
            })
            .inc();
    }

    pub fn delivery(&self, outlet: &str, kind: &str, result: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                outlet: outlet.into(),
                kind: kind.into(),
                result: result.into(),
            })
            .inc();
    }

    /// A sign-in that succeeded (`ok`) or was refused, by method
    /// (`password`, `sso`).
    pub fn login(&self, method: &str, ok: bool) {
        let labels = MethodLabels { method: method.into() };
        if ok {
            self.logins.get_or_create(&labels).inc();
        } else {
            self.login_failures.get_or_create(&labels).inc();
        }
    }

    /// One answered HTTP request.
    pub fn http_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.http_seconds
            .get_or_create(&HttpLabels {
                route: route.into(),
                method: method.into(),
            })
            .observe(seconds);
        self.http_requests
            .get_or_create(&HttpStatusLabels {
                route: route.into(),
                method: method.into(),
                status: status.to_string(),
            })
            .inc();
    }

    pub fn work_item(&self, result: &str) {
        self.work_items
            .get_or_create(&ResultLabels { result: result.into() })
            .inc();
    }

    pub fn robot_run(&self, robot: &str, status: &str) {
        self.robot_runs
            .get_or_create(&RobotLabels {
                robot: robot.into(),
                status: status.into(),
            })
            .inc();
    }

    /// Makes the counters of every connector call, delivery and login
    /// result appear at 0 before the first one happens, so that rate()
    /// and absent() in alert rules see them from the start.
    pub fn prime(&self, connectors: &[(&str, &[&str])], outlet: &str) {
        for (connector, kinds) in connectors {
            for kind in *kinds {
                for result in ["ok", "retriable", "permanent"] {
                    let _ = self.connector_calls.get_or_create(&ConnectorResultLabels {
                        connector: (*connector).into(),
                        kind: (*kind).into(),
                        result: result.into(),
                    });
                }
            }
        }
        for kind in ["beslut", "kommunicering"] {
            for result in ["delivered", "retry", "failing"] {
                let _ = self.deliveries.get_or_create(&DeliveryLabels {
                    outlet: outlet.into(),
                    kind: kind.into(),
                    result: result.into(),
                });
            }
        }
        for method in ["password", "sso"] {
            let labels = MethodLabels { method: method.into() };
            let _ = self.logins.get_or_create(&labels);
            let _ = self.login_failures.get_or_create(&labels);
        }
        for result in ["drafted", "invalid", "failed", "retry"] {
            let _ = self.work_items.get_or_create(&ResultLabels { result: result.into() });
        }
    }

    /// The classic Prometheus text format (0.0.4), for clients that do not
    /// ask for OpenMetrics (`curl`, `promtool check metrics`): the same
    /// samples, with a counter's family named like its `_total` sample and
    /// without `# EOF`. prometheus-client writes only OpenMetrics.
    pub fn render_text(&self) -> String {
        let om = self.render();
        let counters: std::collections::HashSet<&str> = om
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
            .collect();
        let mut out = String::with_capacity(om.len() + counters.len() * 16);
        for line in om.lines() {
            if line == "# EOF" || line.starts_with("# UNIT ") {
                continue;
            }
            let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
                let rest = line.strip_prefix(p)?;
                let (name, tail) = rest.split_once(' ')?;
                counters.contains(name).then(|| format!("{p}{name}_total {tail}"))
            });
            match renamed {
                Some(r) => out.push_str(&r),
                None => out.push_str(line),
            }
            out.push('\n');
        }
        out
    }

    /// The OpenMetrics text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl StoreGauges {
    fn register(registry: &mut Registry) -> StoreGauges {
        let g = StoreGauges {
            work_items: Family::default(),
            work_item_oldest_age: Family::default(),
            outbox: Family::default(),
            outbox_oldest_age: Family::default(),
            awaiting_decision: Family::default(),
            awaiting_decision_total: Gauge::default(),
            awaiting_decision_oldest_age: Gauge::default(),
            kommunicering_open: Gauge::default(),
            kommunicering_overdue: Gauge::default(),
            audit_entries: Gauge::default(),
            audit_unsigned_entries: Gauge::default(),
            audit_checkpoint_age: Gauge::default(),
            audit_checkpoint_timestamp: Gauge::default(),
            audit_witness_lag: Gauge::default(),
            ruleset_active: Family::default(),
            robot_last_success: Family::default(),
            robot_next_run: Family::default(),
            robot_previous_run: Family::default(),
            robot_paused: Family::default(),
            store_up: Gauge::default(),
        };
        registry.register(
            "work_items_by_state",
            "Work items in the store, by state",
            g.work_items.clone(),
        );
        registry.register(
            "work_items_oldest_age_seconds",
            "Age of the oldest pending or leased work item, from its case's receipt",
            g.work_item_oldest_age.clone(),
        );
        registry.register("outbox_items", "Outbox rows, by state", g.outbox.clone());
        registry.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox row, by state",
            g.outbox_oldest_age.clone(),
        );
        registry.register(
            "cases_awaiting_decision_older_than",
            "Cases waiting for an official's decision at least older_than, from the application's date",
            g.awaiting_decision.clone(),
        );
        registry.register(
            "cases_awaiting_decision",
            "Cases waiting for an official's decision",
            g.awaiting_decision_total.clone(),
        );
        registry.register(
            "cases_awaiting_decision_oldest_age_seconds",
            "Age of the oldest case waiting for an official's decision, from the application's date",
            g.awaiting_decision_oldest_age.clone(),
        );
        registry.register(
            "kommuniceringar_open",
            "Kommuniceringar waiting for the applicant's answer",
            g.kommunicering_open.clone(),
        );
        registry.register(
            "kommuniceringar_deadline_passed",
            "Open kommuniceringar whose answer deadline has passed (not yet returned to the queue)",
            g.kommunicering_overdue.clone(),
        );
        registry.register("audit_log_entries", "Entries in the audit log", g.audit_entries.clone());
        registry.register(
            "audit_log_unsigned_entries",
            "Audit log entries after the last signed checkpoint",
            g.audit_unsigned_entries.clone(),
        );
        registry.register(
            "audit_checkpoint_age_seconds",
            "Seconds since the last signed checkpoint (since the first entry when none is signed; 0 for an empty log)",
            g.audit_checkpoint_age.clone(),
        );
        registry.register(
            "audit_checkpoint_timestamp_seconds",
            "When the last checkpoint was signed, Unix time (0: none yet)",
            g.audit_checkpoint_timestamp.clone(),
        );
        registry.register(
            "audit_witness_lag_entries",
            "Entries covered by the newest signed checkpoint but not by the newest one in the witness (0 without a witness)",
            g.audit_witness_lag.clone(),
        );
        registry.register(
            "ruleset_active_info",
            "The ruleset version in force today per casework type (value 1)",
            g.ruleset_active.clone(),
        );
        registry.register(
            "robot_last_success_timestamp_seconds",
            "When the robot's last successful run finished, Unix time (0: never)",
            g.robot_last_success.clone(),
        );
        registry.register(
            "robot_next_run_timestamp_seconds",
            "The robot's next scheduled fire time, Unix time",
            g.robot_next_run.clone(),
        );
        registry.register(
            "robot_scheduled_run_timestamp_seconds",
            "The robot's latest fire time at or before now by its schedule, Unix time",
            g.robot_previous_run.clone(),
        );
        registry.register("robot_paused", "1 when the robot is paused", g.robot_paused.clone());
        registry.register(
            "store_up",
            "1 when the last scrape could read the case store",
            g.store_up.clone(),
        );
        g
    }
}
