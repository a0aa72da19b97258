//! `hrobot robots pause|resume|runs`.

use crate::clock::SystemClock;
use crate::config::Settings;
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub enum RobotsCommand {
    /// Stop a robot from running (every worker sees it) until resumed.
    Pause {
        name: String,
        #[arg(long, default_value = "paused by an operator")]
        reason: String,
    },
    /// Let a paused robot run again.
    Resume { name: String },
    /// The latest runs.
    Runs {
        #[arg(long)]
        robot: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

pub fn run(settings: Settings, cmd: RobotsCommand) -> u8 {
    let rt = match super::tokio_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        let known: Vec<String> = settings.robots.iter().map(|r| r.name.clone()).collect();
        let store = &crate::runtime::open_store(&settings, Arc::new(SystemClock)).await?;
        match cmd {
            RobotsCommand::Pause { name, .. } | RobotsCommand::Resume { name } if !known.contains(&name) => {
                anyhow::bail!("no robot named {name:?} in the configuration")
            }
            RobotsCommand::Pause { name, reason } => {
                store.set_paused(&name, true, Some(&reason)).await?;
                crate::accounts::robot_changed(store, &crate::accounts::By::cli(), &name, true)
                    .await
                    .map_err(anyhow::Error::msg)?;
                println!("{name} is paused");
            }
            RobotsCommand::Resume { name } => {
                store.set_paused(&name, false, None).await?;
                crate::accounts::robot_changed(store, &crate::accounts::By::cli(), &name, false)
                    .await
                    .map_err(anyhow::Error::msg)?;
                println!("{name} runs again");
            }
            RobotsCommand::Runs { robot, limit } => {
                for r in store.list_runs(robot.as_deref(), limit).await? {
                    println!(
                        "{:>6}  {:<20}  {}  {:<9}  {:<9}  hämtade {:>5}  dubbletter {:>5}  ogiltiga {:>5}{}",
                        r.id,
                        r.robot,
                        r.fire.to_rfc3339(),
                        r.trigger,
                        r.status,
                        r.counts.fetched,
                        r.counts.duplicates,
                        r.counts.rejected,
                        r.error.map(|e| format!("  fel: {e}")).unwrap_or_default()
                    );
                }
            }
        }
        store.close().await;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
