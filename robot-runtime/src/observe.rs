//! What `/metrics` reads at scrape time (the store's counts and ages, the
//! audit log's checkpoint and witness, the ruleset in force per casework
//! type, each robot's schedule) and the HTTP layer that counts and times
//! every request by its route template. See `metrics.rs` for the names.

use crate::metrics::{AgeLabels, Metrics, OutboxLabels, RobotNameLabels, RulesetLabels, StateLabels, WAITING_DAYS};
use crate::runtime::Runtime;
use crate::scheduler::Schedule;
use crate::store::{DeliveryStatus, WorkStatus};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Instant;

/// The route the identity provider sends the browser back to; a refused
/// callback is a failed SSO sign-in (a successful one is counted where
/// the session starts).
const SSO_CALLBACK: &str = "/logga-in/sso/klar";

/// Counts and times one HTTP request under its route's template (never
/// the path itself, which can carry ids) and its status.
pub async fn track_http(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status();
    metrics.http_request(&route, method, status.as_u16(), started.elapsed().as_secs_f64());
    // 404: single sign-on is not configured, so nobody tried it.
    if route == SSO_CALLBACK
        && status != axum::http::StatusCode::NOT_FOUND
        && (status.is_client_error() || status.is_server_error())
    {
        metrics.login("sso", false);
    }
    res
}

/// The latest fire time at or before `now`, looked for in growing windows
/// so that a schedule firing every second walks only a few hundred times.
fn previous_fire(schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    [120, 7_200, 172_800, 691_200, 3_024_000].into_iter().find_map(|secs| {
        schedule
            .fires_between(now - chrono::Duration::seconds(secs), now, 1)
            .pop()
    })
}

fn seconds(us: i64) -> i64 {
    us / 1_000_000
}

/// Sets the scrape-time gauges from the store and the configuration. A
/// part that cannot be read keeps its last value and `hrobot_store_up`
/// says so.
pub async fn refresh(rt: &Runtime) {
    let m = &rt.metrics;
    let g = &m.store;
    let now = rt.clock.now();
    match rt.store.ops_snapshot(&WAITING_DAYS).await {
        Ok(s) => {
            g.store_up.set(1);
            for st in WorkStatus::ALL {
                let (n, age) = s
                    .work_items
                    .iter()
                    .find(|(name, _, _)| name == st.as_str())
                    .map_or((0, 0), |(_, n, a)| (*n, *a));
                let l = StateLabels {
                    state: st.as_str().into(),
                };
                g.work_items.get_or_create(&l).set(n);
                if matches!(st, WorkStatus::Pending | WorkStatus::Leased) {
                    g.work_item_oldest_age.get_or_create(&l).set(age);
                }
            }
            for st in DeliveryStatus::ALL {
                let (n, age) = s
                    .outbox
                    .iter()
                    .find(|(name, _, _)| name == st.as_str())
                    .map_or((0, 0), |(_, n, a)| (*n, *a));
                let l = OutboxLabels {
                    state: st.as_str().into(),
                };
                g.outbox.get_or_create(&l).set(n);
                if *st != DeliveryStatus::Delivered {
                    g.outbox_oldest_age.get_or_create(&l).set(age);
                }
            }
            g.awaiting_decision_total.set(s.awaiting);
            g.awaiting_decision_oldest_age.set(s.awaiting_oldest_age);
            for (days, n) in &s.awaiting_older {
                g.awaiting_decision
                    .get_or_create(&AgeLabels {
                        older_than: format!("{days}d"),
                    })
                    .set(*n);
            }
            g.kommunicering_open.set(s.kommunicering_open);
            g.kommunicering_overdue.set(s.kommunicering_overdue);
            g.audit_entries.set(s.audit_size);
            g.audit_unsigned_entries
                .set((s.audit_size - s.audit_checkpoint_size).max(0));
            // audit_head keeps the policy's clock from the first entry on,
            // before any checkpoint is signed.
            let signed = s.audit_checkpoint_size > 0;
            g.audit_checkpoint_timestamp
                .set(if signed { seconds(s.audit_checkpoint_us) } else { 0 });
            let since = if signed {
                Some(s.audit_checkpoint_us)
            } else {
                s.audit_first_us
            };
            g.audit_checkpoint_age
                .set(since.map_or(0, |t| seconds((crate::store::us(now) - t).max(0))));
            let lag = match rt.settings.audit.witness_dir.clone() {
                None => 0,
                Some(dir) => {
                    let newest =
                        tokio::task::spawn_blocking(move || audit::witness::WitnessDir::new(dir).newest_size())
                            .await
                            .ok()
                            .and_then(Result::ok)
                            .flatten()
                            .unwrap_or(0);
                    (s.audit_checkpoint_size - i64::try_from(newest).unwrap_or(i64::MAX)).max(0)
                }
            };
            g.audit_witness_lag.set(lag);
            for name in rt.robots.keys() {
                let last = s.last_success.iter().find(|(r, _)| r == name).map_or(0, |(_, t)| *t);
                g.robot_last_success
                    .get_or_create(&RobotNameLabels { robot: name.clone() })
                    .set(seconds(last));
            }
        }
        Err(e) => {
            g.store_up.set(0);
            tracing::warn!(error = %e, "metrics: the store could not be read");
        }
    }
    for (name, robot) in rt.robots.iter().filter(|(_, r)| r.settings.enabled) {
        let l = RobotNameLabels { robot: name.clone() };
        if let Some(next) = robot.schedule.next_after(now) {
            g.robot_next_run.get_or_create(&l).set(next.timestamp());
        }
        if let Some(prev) = previous_fire(&robot.schedule, now) {
            g.robot_previous_run.get_or_create(&l).set(prev.timestamp());
        }
        if let Ok(p) = rt.store.paused(name).await {
            g.robot_paused.get_or_create(&l).set(i64::from(p.is_some()));
        }
    }
    // The ruleset in force today per casework type, as the next batch
    // would choose it (without publishing anything).
    let mut active = Vec::new();
    for robot in rt.robots.values() {
        if let Ok((r, _)) =
            crate::rulebook::in_force_for_robot(&rt.store, &rt.settings.data_dir, &robot.settings.ruleset).await
        {
            let hex = r.hash().trim_start_matches("sha256:");
            active.push(RulesetLabels {
                casework_type: r.type_name().to_owned(),
                ruleset: r.name().to_owned(),
                version: r.version().to_owned(),
                hash: hex.chars().take(12).collect(),
            });
        }
    }
    g.ruleset_active.clear();
    for l in active {
        g.ruleset_active.get_or_create(&l).set(1);
    }
}
