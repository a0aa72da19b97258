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
    /// Evaluate a case again with its own ruleset version and stored
    /// inputs, and show that the draft is byte-identical, or the
    /// difference. Exit 0 when every replayed draft is identical.
    Replay {
        /// The case (or --all).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every stored case with a draft (narrowed by --cases).
        #[arg(long)]
        all: bool,
        /// With --all: from=YYYY-MM-DD, to=…, period=YYYY-MM, robot=NAME,
        /// state=STATE, limit=N, last-month.
        #[arg(long, default_value = "all")]
        cases: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
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
        CasesCommand::Replay { id, all, cases, format } => replay(store, &settings, id, all, &cases, format).await?,
    };
    store.close().await;
    Ok(code)
}

async fn replay(
    store: &crate::store::Store,
    settings: &Settings,
    id: Option<i64>,
    all: bool,
    cases: &str,
    format: Format,
) -> anyhow::Result<u8> {
    use crate::rulebook::{replay, shadow, swedish_day};
    let actor = crate::accounts::By::cli().actor();
    let ids: Vec<i64> = if all {
        let filter = match shadow::parse_filter(cases, swedish_day(store.clock().now())) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: --cases: {e}");
                return Ok(2);
            }
        };
        let limit = filter.limit.unwrap_or(i64::MAX);
        let mut ids = Vec::new();
        let mut after = 0;
        loop {
            let page = store.stored_inputs(&filter, after, 1_000).await?;
            let Some(last) = page.last() else { break };
            after = last.case_id;
            ids.extend(page.iter().map(|s| s.case_id));
            if ids.len() as i64 >= limit {
                ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                break;
            }
        }
        ids
    } else {
        id.into_iter().collect()
    };
    let (mut same, mut different) = (0u64, 0u64);
    for case in ids {
        let r = match replay::replay_case(store, &settings.data_dir, case, &actor).await {
            Ok(r) => r,
            Err(e) => {
                different += 1;
                match format {
                    Format::Json => println!("{}", serde_json::json!({"case_id": case, "error": e})),
                    Format::Table => println!("case {case}: cannot replay: {e}"),
                }
                continue;
            }
        };
        if r.identical {
            same += 1;
        } else {
            different += 1;
        }
        match format {
            Format::Json => {
                let mut v = serde_json::to_value(&r)?;
                if let Some(m) = v.as_object_mut() {
                    // The drafts themselves are in `cases show`.
                    m.remove("stored");
                    m.remove("replayed");
                }
                println!("{v}");
            }
            Format::Table => {
                let name = r.diarienummer.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                if r.identical {
                    println!("case {case}{name}: identical ({} {}, {})", r.name, r.version, r.hash);
                } else if let Some(e) = &r.error {
                    println!(
                        "case {case}{name}: DIFFERENT ({} {}): cannot be evaluated again: {e}",
                        r.name, r.version
                    );
                } else {
                    println!("case {case}{name}: DIFFERENT ({} {}, {}):", r.name, r.version, r.hash);
                    for d in &r.differences {
                        println!("    {d}");
                    }
                }
            }
        }
    }
    if format == Format::Table && (all || same + different != 1) {
        println!("{same} identical, {different} different");
    }
    Ok(u8::from(different > 0))
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
