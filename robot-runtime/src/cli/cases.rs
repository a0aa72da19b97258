//! `hrobot cases list|show|requeue`: the store, for IT.

use crate::clock::SystemClock;
use crate::config::Settings;
use domain::CaseState;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum CasesCommand {
    /// List cases.
    List {
        /// Only cases in this state (received, awaiting_approval, invalid, failed, …).
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        robot: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one case: state, reasons, work status and the draft.
    Show {
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Send a failed case through the pipeline again.
    Requeue { id: i64 },
}

pub fn run(settings: Settings, cmd: CasesCommand) -> u8 {
    let rt = match super::tokio_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    match rt.block_on(run_async(settings, cmd)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

async fn run_async(settings: Settings, cmd: CasesCommand) -> anyhow::Result<u8> {
    let store = &crate::runtime::open_store(&settings, Arc::new(SystemClock)).await?;
    let code = match cmd {
        CasesCommand::List {
            state,
            robot,
            limit,
            offset,
            format,
        } => {
            let state = match state.as_deref().map(str::parse::<CaseState>) {
                None => None,
                Some(Ok(s)) => Some(s),
                Some(Err(_)) => {
                    let all: Vec<&str> = CaseState::ALL.iter().map(|s| s.as_str()).collect();
                    eprintln!("unknown state; use one of: {}", all.join(", "));
                    return Ok(2);
                }
            };
            let cases = store.list_cases(state, robot.as_deref(), limit, offset).await?;
            match format {
                Format::Json => {
                    for c in &cases {
                        println!("{}", serde_json::to_string(c)?);
                    }
                }
                Format::Table => {
                    println!(
                        "{:>7}  {:<20}  {:<20}  {:<14}  {:<8}  {:>10}  {:<22}",
                        "ID", "ROBOT", "EXTERNT ID", "UTFALL", "PERIOD", "BELOPP", "STATUS"
                    );
                    for c in &cases {
                        println!(
                            "{:>7}  {:<20}  {:<20}  {:<14}  {:<8}  {:>10}  {:<22}",
                            c.id,
                            truncate(&c.robot, 20),
                            truncate(&c.external_id, 20),
                            c.outcome.map_or("–", |o| o.as_str()),
                            c.period.as_deref().unwrap_or("–"),
                            c.amount_ore
                                .map_or("–".to_string(), |a| domain::Money::from_ore(a).to_string()),
                            c.state.as_str(),
                        );
                    }
                    println!("{} ärenden", cases.len());
                }
            }
            0
        }
        CasesCommand::Show { id, format } => {
            let d = store.case_detail(id).await?;
            // The command line reads a case too: the access log says who.
            store
                .log_case_read(
                    id,
                    &crate::accounts::By::cli().actor(),
                    serde_json::json!({"via": "cli"}),
                )
                .await?;
            match format {
                Format::Json => {
                    let draft: Option<serde_json::Value> =
                        d.draft_json.as_deref().and_then(|j| serde_json::from_str(j).ok());
                    println!(
                        "{}",
                        serde_json::json!({
                            "case": d.summary,
                            "work": {"status": d.work_status, "attempts": d.attempts, "last_error": d.last_error},
                            "draft": draft,
                        })
                    );
                }
                Format::Table => {
                    let s = &d.summary;
                    println!("Ärende {} ({} / {})", s.id, s.source, s.external_id);
                    println!("  status:        {} ({})", s.state.label(), s.state.as_str());
                    if let Some(r) = &s.state_reason {
                        println!("  orsak:         {r}");
                    }
                    println!("  robot:         {}", s.robot);
                    println!("  regler:        {}", s.ruleset.as_deref().unwrap_or("–"));
                    println!("  mottaget:      {}", s.received.to_rfc3339());
                    println!(
                        "  arbete:        {} ({} försök)",
                        d.work_status.map_or("–", |s| s.as_str()),
                        d.attempts.unwrap_or(0)
                    );
                    if let Some(e) = &d.last_error {
                        println!("  senaste fel:   {e}");
                    }
                    if let Some(j) = &d.draft_json
                        && let Ok(draft) = domain::Draft::from_json(j)
                    {
                        println!("\n{}", super::evaluate::text_report(&draft));
                    }
                }
            }
            0
        }
        CasesCommand::Requeue { id } => {
            store.requeue("operator:cli", id).await?;
            println!("case {id} is queued again");
            0
        }
    };
    store.close().await;
    Ok(code)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
