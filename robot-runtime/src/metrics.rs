//! Prometheus metrics: counters for robot runs, cases and failures,
//! latency histograms, and the number of cases in each state (read from
//! the store at scrape time, so every worker reports the same truth).

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
        }
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

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
