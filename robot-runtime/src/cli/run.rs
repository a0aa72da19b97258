//! `hrobot run ROBOT`: one run now, with a progress bar and a summary.

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::pipeline::{drain_run, run_robot};
use crate::runtime::Runtime;
use crate::store::Trigger;
use domain::CaseState;
use std::io::IsTerminal;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The robot's name in the configuration.
    robot: String,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub run_id: i64,
    pub fetched: i64,
    pub drafted: i64,
    pub invalid: i64,
    pub failed: i64,
    pub waiting_for_retry: i64,
    pub skipped_duplicates: i64,
}

pub fn run(settings: Settings, args: Args) -> u8 {
    let rt = match super::tokio_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    match rt.block_on(run_once(settings, &args.robot)) {
        Ok(Some(s)) => {
            if args.json {
                println!("{}", serde_json::to_string(&s).unwrap_or_default());
            } else {
                println!(
                    "Robot {}: körning {} klar.\n  hämtade:            {}\n  utkast:             {}\n  ogiltiga:           {}\n  fel:                {}\n  väntar på nytt försök: {}\n  dubbletter (hoppade över): {}",
                    args.robot,
                    s.run_id,
                    s.fetched,
                    s.drafted,
                    s.invalid,
                    s.failed,
                    s.waiting_for_retry,
                    s.skipped_duplicates
                );
            }
            0
        }
        Ok(None) => {
            eprintln!("the robot did not run (it is paused, already running, or disabled); see the log (-v)");
            1
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

pub async fn run_once(settings: Settings, robot: &str) -> anyhow::Result<Option<Summary>> {
    let runtime = Arc::new(Runtime::build(settings, Arc::new(SystemClock)).await?);
    // This process holds the robot lock and leases: it says it is alive,
    // so the service's nodes do not take them over.
    let (stop_heartbeat, stopped) = tokio::sync::watch::channel(false);
    let heartbeat = tokio::spawn(runtime.clone().heartbeat_loop(false, stopped));
    let result = run_and_drain(&runtime, robot).await;
    let _ = stop_heartbeat.send(true);
    let _ = heartbeat.await;
    runtime.store.close().await;
    result
}

async fn run_and_drain(runtime: &Runtime, robot: &str) -> anyhow::Result<Option<Summary>> {
    let now = runtime.clock.now();
    let Some(report) = run_robot(runtime, robot, Trigger::Manual, now).await? else {
        return Ok(None);
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(u64::try_from(report.counts.fetched).unwrap_or(0));
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} ärenden behandlade ({per_sec}, {eta} kvar)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let total = report.counts.fetched;
    drain_run(runtime, report.run_id, |due, later| {
        if let Some(b) = &bar {
            b.set_position(u64::try_from(total - due - later).unwrap_or(0));
        }
    })
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let states = runtime.store.run_states(report.run_id).await?;
    let count = |s: CaseState| states.iter().filter(|(st, _)| *st == s).map(|(_, n)| *n).sum::<i64>();
    let (_, later) = runtime.store.open_work_for_run(report.run_id).await?;
    let summary = Summary {
        run_id: report.run_id,
        fetched: report.counts.fetched,
        drafted: count(CaseState::AwaitingApproval),
        invalid: count(CaseState::Invalid),
        failed: count(CaseState::Failed),
        waiting_for_retry: later,
        skipped_duplicates: report.counts.duplicates,
    };
    let _ = runtime.store.checkpoint(false).await;
    if let Some(w) = crate::service::witness(runtime) {
        crate::service::publish_witness_bounded(runtime, &w).await;
    }
    Ok(Some(summary))
}
