//! The service's assembly: the store opened from the settings, the robots
//! with their connectors, the outbox's delivery channel, and this process's
//! name in leases and locks.
//!
//! Each part takes only what it uses: a robot run and the workers the
//! [`Runtime`], the outbox worker its [`Outbox`], the web its `Web`
//! context, and the command line's account and audit verbs only the
//! [`Store`] from [`open_store`], which builds no connector.

use crate::clock::{AuditClock, Clock};
use crate::config::{LookupSettings, RobotSettings, Settings, SourceSettings};
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Outlet};
use crate::scheduler::Schedule;
use crate::store::{Store, StoreError};
use anyhow::Context;
use connectors::file_inbox::FileInbox;
use connectors::file_register::FileRegister;
use connectors::{ApplicationSource, RegisterLookup};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tracing::{debug, info, warn};

/// Opens the case store (applying migrations) with its audit log and keys,
/// after securing the data directory. Builds no connector: this is all the
/// command line's `user …`, `audit …` and `cases …` verbs open.
pub async fn open_store(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Store> {
    // The casework types of the robots, so that stored documents, codes and
    // sections are read by their type (sandbox::Ruleset::of_type). A
    // ruleset that does not load is reported where it is used.
    for r in &settings.robots {
        if let Err(e) = sandbox::Ruleset::load(&r.ruleset) {
            tracing::warn!(robot = %r.name, error = %e, "the robot's ruleset does not load");
        }
    }
    // Personal data lives here: the owner's alone (see private.rs).
    crate::private::secure_data_dir(&settings.data_dir).context("the data directory")?;
    crate::private::precreate_sqlite(settings.database_url().expose()).context("the database file")?;
    let audit = crate::keys::audit_log(settings, clock.clone()).context("audit log")?;
    Ok(Store::open(
        settings.database_url().expose(),
        settings.database.max_connections,
        Arc::new(audit),
        clock,
    )
    .await
    .context("case store")?
    .with_diarium(settings.approval.diarium.clone()))
}

/// Cases stored before the queue knew who they are about (migration
/// 0008) are read again, each by its robot's ruleset (or by the type its
/// document names), so an upgraded installation is searchable.
async fn backfill_queue(settings: &Settings, store: &Store) -> anyhow::Result<()> {
    let rulesets: HashMap<String, Arc<sandbox::Ruleset>> = settings
        .robots
        .iter()
        .filter_map(|r| Some((r.name.clone(), sandbox::Ruleset::load(&r.ruleset).ok()?)))
        .collect();
    let read = |robot: &str, document: &[u8]| {
        let input = rulesets
            .get(robot)
            .and_then(|rs| rs.read(document).ok())
            .or_else(|| sandbox::Ruleset::read_stored(document))?;
        Some(crate::store::queue::ReadBack {
            people: crate::store::CasePerson::of(&input),
            applied: Some(input.received_at().with_timezone(&chrono::Utc)),
        })
    };
    let n = store
        .backfill_queue(&read)
        .await
        .context("filling in the queue's people and search terms")?;
    if n > 0 {
        info!(cases = n, "queue backfill done");
    }
    Ok(())
}

/// A configured robot with its connectors.
pub struct Robot {
    pub settings: RobotSettings,
    pub schedule: Schedule,
    pub source: Arc<dyn ApplicationSource>,
    pub lookups: Vec<Arc<dyn RegisterLookup>>,
}

/// What a robot run and the workers need: the store, the robots with their
/// connectors, and the outbox's context. The CLI's account and audit verbs
/// do not build it; they open only the store ([`open_store`]).
pub struct Runtime {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub faults: Faults,
    /// This process's name in leases and locks.
    pub owner: String,
    pub robots: HashMap<String, Robot>,
    /// The outbox worker's own context (sharing this store, clock, metrics
    /// and faults); it delivers through the channel built here.
    pub outbox: Outbox,
    /// Since when this node's heartbeats have succeeded without a break:
    /// it judges others by their heartbeats only after watching for
    /// [`DEAD_AFTER`] itself, so after an outage that cut every node off
    /// the first one back does not take the live ones for dead.
    heartbeats_since: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

/// `(host, pid)` of an owner name made by [`owner_name`].
fn owner_host_pid(owner: &str) -> Option<(&str, u32)> {
    let mut parts = owner.rsplitn(3, '-');
    let _nonce = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    let host = parts.next()?;
    Some((host, pid))
}

/// Whether `owner` names an instance on this host whose process is gone.
/// Only where `/proc` shows processes; a reused pid just means waiting for
/// the lease to expire, as before.
fn is_gone_local_instance(owner: &str, me: &str) -> bool {
    let (Some((host, pid)), Some((my_host, my_pid))) = (owner_host_pid(owner), owner_host_pid(me)) else {
        return false;
    };
    host == my_host
        && pid != my_pid
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

/// How often a node says it is alive (`nodes.last_seen_us`).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

/// A node not seen for this long (four heartbeats) is dead: what it holds
/// is taken over. Long enough for a slow database round or a pause of the
/// process; a node judged dead while alive loses nothing but its locks and
/// leases, which its writes check (the robot lock's renewal, the lease
/// owner in every finish), and its next heartbeat registers it again.
pub const DEAD_AFTER: std::time::Duration = std::time::Duration::from_secs(20);

/// Whether the holder `owner` is dead: its node has not been seen for
/// [`DEAD_AFTER`], or it is on this host and its process is gone. A holder
/// without a node row (a process of a release before the registry) is
/// judged by the pid alone, else left to its lease. Without `watching`
/// (this node has not itself been heartbeating for [`DEAD_AFTER`]) only
/// the pid counts.
fn is_dead(
    owner: &str,
    me: &str,
    nodes: &[crate::store::NodeRow],
    now: chrono::DateTime<chrono::Utc>,
    watching: bool,
) -> bool {
    if owner == me {
        return false;
    }
    let stale = watching
        && nodes.iter().find(|n| n.id == owner).is_some_and(|n| {
            now.signed_duration_since(n.last_seen)
                .to_std()
                .is_ok_and(|age| age > DEAD_AFTER)
        });
    stale || is_gone_local_instance(owner, me)
}

fn owner_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect();
    let host = if host.is_empty() { "host".to_string() } else { host };
    let nonce = audit::event::EventId::random();
    format!("{host}-{}-{}", std::process::id(), hex::encode(&nonce.0[..4]))
}

impl Runtime {
    /// Opens the store (applying migrations) and sets up the robots.
    pub async fn build(mut settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Runtime> {
        // Letters cite the legal references of the rulesets the robots use.
        settings.approval.law = crate::law::LawBook::new(settings.robots.iter().map(|r| r.ruleset.clone()))
            .with_versions(settings.data_dir.join("rulesets"));
        let settings = Arc::new(settings);
        let store = open_store(&settings, clock.clone()).await?;
        let mut robots = HashMap::new();
        for r in &settings.robots {
            let schedule = Schedule::new(&r.schedule, &r.time_zone).map_err(anyhow::Error::msg)?;
            let source: Arc<dyn ApplicationSource> = match &r.source {
                SourceSettings::FileInbox { path } => Arc::new(FileInbox::new(r.name.clone(), path.clone())),
                SourceSettings::Eservice(c) => Arc::new(
                    connectors::eservice::EserviceSource::new(r.name.clone(), c)
                        .with_context(|| format!("robot {}: the e-service source", r.name))?,
                ),
                SourceSettings::Sql(c) => Arc::new(
                    connectors::sql_source::SqlSource::new(r.name.clone(), c)
                        .await
                        .with_context(|| format!("robot {}: the SQL source", r.name))?,
                ),
                SourceSettings::Legacy(c) => Arc::new(
                    connectors::legacy::LegacyConnector::new(r.name.clone(), c.clone())
                        .with_context(|| format!("robot {}: the legacy case system", r.name))?,
                ),
            };
            let lookups = r
                .lookups
                .iter()
                .map(|l| -> anyhow::Result<Arc<dyn RegisterLookup>> {
                    Ok(match l {
                        LookupSettings::FileRegister { path } => Arc::new(FileRegister::new(path.clone())),
                        LookupSettings::Ssbtek(c) => Arc::new(
                            connectors::ssbtek::SsbtekLookup::new((**c).clone())
                                .with_context(|| format!("robot {}: the SSBTEK lookup", r.name))?,
                        ),
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            robots.insert(
                r.name.clone(),
                Robot {
                    settings: r.clone(),
                    schedule,
                    source,
                    lookups,
                },
            );
        }
        let outlet = Outlet::build(&settings.outbox, &settings.data_dir).context("the outbox's delivery channel")?;
        let metrics = Arc::new(Metrics::new());
        // Every connector's counters from the start (at 0), so alert rules see them.
        let mut calls: Vec<(&str, &[&str])> = Vec::new();
        for r in robots.values() {
            calls.push((r.source.name(), &["health", "list", "fetch", "acknowledge"]));
            for l in &r.lookups {
                calls.push((l.name(), &["lookup"]));
            }
        }
        let outlet_kind: &[&str] = match &outlet {
            Outlet::Letter(_) => &["deliver"],
            Outlet::WriteBack(_) => &["write_back"],
        };
        calls.push((outlet.name(), outlet_kind));
        metrics.prime(&calls, outlet.name());
        let faults = Faults::default();
        let owner = owner_name();
        let outbox = Outbox {
            store: store.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            faults: faults.clone(),
            owner: owner.clone(),
            lease: settings.lease(),
            settings: settings.outbox.clone(),
            outlet,
        };
        let rt = Runtime {
            settings,
            store,
            clock,
            metrics,
            faults,
            owner,
            robots,
            outbox,
            heartbeats_since: std::sync::Mutex::new(None),
        };
        backfill_queue(&rt.settings, &rt.store).await?;
        if let Err(e) = rt.heartbeat().await {
            warn!(error = %e, "could not register this node");
        }
        if let Err(e) = rt.take_over_dead().await {
            warn!(error = %e, "could not check for locks and leases of instances that are gone");
        }
        Ok(rt)
    }

    /// Says this node is alive (and registers it the first time).
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let host = owner_host_pid(&self.owner).map_or("", |(h, _)| h);
        let result = self.store.heartbeat(&self.owner, host, std::process::id()).await;
        let now = self.clock.now();
        let mut since = match self.heartbeats_since.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *since = match (&result, *since) {
            (Ok(()), Some(t)) => Some(t),
            (Ok(()), None) => Some(now),
            (Err(_), _) => None,
        };
        result
    }

    /// Whether this node has heartbeated without a break for [`DEAD_AFTER`].
    fn watching(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let since = match self.heartbeats_since.lock() {
            Ok(g) => *g,
            Err(poisoned) => *poisoned.into_inner(),
        };
        since.is_some_and(|t| now.signed_duration_since(t).to_std().is_ok_and(|d| d >= DEAD_AFTER))
    }

    /// Takes over what dead nodes hold (see [`is_dead`]): their runs
    /// still marked running are closed as `aborted` with what they stored,
    /// their robot locks released and their work and outbox leases expired
    /// now, so intake and work go on at once instead of after the lease.
    /// Each dead node is logged once, at WARN, with its id; then it is
    /// forgotten. Returns how many locks, leases and runs were taken over.
    pub async fn take_over_dead(&self) -> Result<u64, StoreError> {
        let nodes = self.store.nodes().await?;
        let now = self.clock.now();
        let mut owners: Vec<String> = self.store.holders().await?;
        owners.extend(self.store.running_run_owners().await?);
        owners.extend(nodes.iter().map(|n| n.id.clone()));
        owners.sort();
        owners.dedup();
        let mut total = 0;
        let watching = self.watching(now);
        for owner in owners.iter().filter(|o| is_dead(o, &self.owner, &nodes, now, watching)) {
            let last_seen = nodes
                .iter()
                .find(|n| &n.id == owner)
                .map(|n| n.last_seen.to_rfc3339())
                .unwrap_or_default();
            let runs = self
                .store
                .abort_runs_of(owner, &format!("aborted: the node {owner} that ran it stopped (no heartbeat, or its process is gone); counts are what it stored"))
                .await?;
            let released = self.store.release_holder(owner).await?;
            self.store.remove_node(owner).await?;
            for (run_id, counts) in &runs {
                warn!(node = %owner, run_id, fetched = counts.fetched, rejected = counts.rejected, "a dead node's run closed as aborted");
            }
            if released > 0 || !runs.is_empty() {
                warn!(
                    node = %owner,
                    last_seen = %last_seen,
                    released,
                    runs_aborted = runs.len(),
                    "node is dead; took over its robot locks and leases"
                );
            } else {
                debug!(node = %owner, "a node that is gone held nothing; forgotten");
            }
            total += released + runs.len() as u64;
        }
        Ok(total)
    }

    /// Says this node is alive every [`HEARTBEAT`] until `stop`; with
    /// `take_over` (the service), also takes over what dead nodes hold each
    /// round. At `stop` the node's row is removed: a clean stop is not a
    /// death.
    pub async fn heartbeat_loop(self: Arc<Self>, take_over: bool, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(HEARTBEAT) => {}
                () = crate::clock::stopped(&mut stop) => break,
            }
            if let Err(e) = self.heartbeat().await {
                let text = crate::error_text::of(&e);
                if let Some(r) = crate::repeats::global().admit("heartbeat", &text) {
                    warn!(error = %text, "could not say this node is alive{r}");
                }
                continue;
            }
            if take_over && let Err(e) = self.take_over_dead().await {
                let text = crate::error_text::of(&e);
                if let Some(r) = crate::repeats::global().admit("take_over", &text) {
                    warn!(error = %text, "could not check for dead nodes{r}");
                }
            }
        }
        if let Err(e) = self.store.remove_node(&self.owner).await {
            debug!(error = %e, "could not remove this node from the registry; it is forgotten once judged dead");
        }
    }

    pub fn audit_clock(&self) -> Arc<dyn audit::Clock> {
        Arc::new(AuditClock(self.clock.clone()))
    }

    pub(crate) fn backoff(&self, attempts: i64) -> chrono::Duration {
        let w = &self.settings.workers;
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let secs = w
            .backoff_base_seconds
            .saturating_mul(1u64 << exp)
            .min(w.backoff_cap_seconds);
        chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_local_instance_whose_process_is_gone_is_taken_over() {
        assert_eq!(owner_host_pid("web-01-1234-abcd1234"), Some(("web-01", 1234)));
        assert_eq!(owner_host_pid("w1"), None);
        assert_eq!(owner_host_pid("host-notapid-abcd"), None);
        let me = owner_name();
        let (host, pid) = owner_host_pid(&me).unwrap();
        assert_eq!(pid, std::process::id());
        assert!(!is_gone_local_instance(&me, &me), "this process");
        assert!(!is_gone_local_instance("w1", &me), "a name not made by hrobot");
        assert!(
            !is_gone_local_instance(&format!("{host}x-4194304-abcd"), &me),
            "another host"
        );
        // pid 1 always exists; 4,194,304 (2^22) is above the largest pid Linux gives.
        assert!(!is_gone_local_instance(&format!("{host}-1-abcd"), &me));
        assert!(is_gone_local_instance(&format!("{host}-4194304-abcd"), &me));
    }

    #[test]
    fn a_node_is_dead_after_four_missed_heartbeats_or_when_its_local_process_is_gone() {
        let me = owner_name();
        let now: chrono::DateTime<chrono::Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        let node = |id: &str, seen_secs_ago: i64| crate::store::NodeRow {
            id: id.into(),
            host: "b".into(),
            pid: 7,
            started: now - chrono::Duration::hours(1),
            last_seen: now - chrono::Duration::seconds(seen_secs_ago),
        };
        let nodes = [node("b-7-aa", 19), node("b-8-bb", 21), node(&me, 3600)];
        assert!(!is_dead("b-7-aa", &me, &nodes, now, true), "seen 19 s ago");
        assert!(is_dead("b-8-bb", &me, &nodes, now, true), "seen 21 s ago");
        assert!(
            !is_dead("b-8-bb", &me, &nodes, now, false),
            "not judged by a node that was itself cut off"
        );
        assert!(!is_dead(&me, &me, &nodes, now, true), "never this node");
        assert!(
            !is_dead("c-9-cc", &me, &nodes, now, true),
            "unknown, on another host: left to its lease"
        );
        let (host, _) = owner_host_pid(&me).unwrap();
        let gone = format!("{host}-4194304-dd");
        assert!(is_dead(&gone, &me, &nodes, now, true), "local, process gone");
        assert!(
            is_dead(&gone, &me, &nodes, now, false),
            "the pid is certain at any time"
        );
    }
}
