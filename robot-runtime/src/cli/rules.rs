//! `hrobot rules test|check|publish|versions|activate|activations|shadow`:
//! for rule authors. `test` and `check` read a folder; the others work on
//! the service's store (its configuration names it).

use crate::accounts::By;
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::rulebook::{self, shadow};
use sandbox::Ruleset;
use sandbox::testing::{cases, run_case};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Run the ruleset's test cases (its `tests/` folder, or `--cases DIR`).
    Test {
        /// The ruleset folder.
        dir: PathBuf,
        /// Another folder of cases to run against the ruleset.
        #[arg(long)]
        cases: Option<PathBuf>,
        /// Show what the scripts printed for failing cases.
        #[arg(long)]
        show_output: bool,
    },
    /// Compile the scripts and check the parameter files.
    Check {
        /// The ruleset folder.
        dir: PathBuf,
    },
    /// Store a ruleset folder as an immutable version (its files and
    /// content hash; its tests are run and recorded).
    Publish {
        /// The ruleset folder.
        dir: PathBuf,
    },
    /// List the published versions and where each stands.
    Versions {
        /// Only versions of this casework type.
        #[arg(long = "type")]
        casework_type: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Ask for a version to be used for its casework type from a date; a
    /// second person (regelförfattare or administratör) approves it in the
    /// web UI (Regler → Aktiveringar).
    Activate {
        /// The version's hash (or a unique prefix of 8+ hex digits).
        version: String,
        /// The first day (YYYY-MM-DD, Swedish time) the robots use it.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Why (shown to the one who approves, kept in the store).
        #[arg(long)]
        reason: String,
    },
    /// List activation requests and decisions.
    Activations {
        #[arg(long = "type")]
        casework_type: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Evaluate a candidate (a published version or a folder) over stored
    /// cases and report what would change, against the version in force.
    Shadow {
        /// A version's hash (or prefix), or a ruleset folder.
        candidate: String,
        /// Which stored cases: `all`, `last-month`, or comma-separated
        /// from=YYYY-MM-DD, to=YYYY-MM-DD, period=YYYY-MM, robot=NAME,
        /// state=STATE, limit=N.
        #[arg(long, default_value = "all")]
        cases: String,
        /// Compare with the stored drafts as they are, instead of the
        /// version in force today.
        #[arg(long)]
        against_stored: bool,
        /// Write `shadow-ID.json` and `shadow-ID.html` here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The web UI's address, for links to cases in the HTML file.
        #[arg(long, default_value = "")]
        link_base: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

impl RulesCommand {
    /// Whether the verb works on the service's store.
    pub fn needs_store(&self) -> bool {
        !matches!(self, RulesCommand::Test { .. } | RulesCommand::Check { .. })
    }
}

pub fn run(cmd: RulesCommand, settings: Option<Settings>) -> ExitCode {
    let code = match (cmd, settings) {
        (
            RulesCommand::Test {
                dir,
                cases,
                show_output,
            },
            _,
        ) => super::on_big_stack(move || test(dir, cases, show_output)).unwrap_or(1),
        (RulesCommand::Check { dir }, _) => super::on_big_stack(move || check(dir)).unwrap_or(1),
        (cmd, Some(settings)) => match super::tokio_runtime() {
            Ok(rt) => match rt.block_on(with_store(settings, cmd)) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    1
                }
            },
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        },
        (_, None) => {
            eprintln!("error: this verb needs the service's configuration (--config or HROBOT_CONFIG)");
            1
        }
    };
    ExitCode::from(code)
}

async fn with_store(settings: Settings, cmd: RulesCommand) -> anyhow::Result<u8> {
    let store = &crate::runtime::open_store(&settings, Arc::new(SystemClock)).await?;
    let by = By::cli();
    Ok(match cmd {
        RulesCommand::Test { .. } | RulesCommand::Check { .. } => 1,
        RulesCommand::Publish { dir } => match rulebook::publish(store, &by, &dir).await {
            Ok(p) => {
                let v = &p.row;
                println!(
                    "{} {} {} ({}): {}",
                    if p.new { "published" } else { "already published" },
                    v.name,
                    v.version,
                    v.casework_type,
                    v.hash
                );
                println!("tests: {} passed, {} failed", v.tests_passed, v.tests_failed);
                if v.tests_failed > 0 {
                    println!("note: a version whose tests fail cannot be activated");
                }
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        },
        RulesCommand::Versions { casework_type, format } => {
            let states = rulebook::version_states(store, casework_type.as_deref())
                .await
                .map_err(anyhow::Error::msg)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&states)?),
                Format::Table => {
                    println!(
                        "{:<20} {:<22} {:<9} {:<16} {:<8} {:<26} HASH",
                        "TYPE", "NAME", "VERSION", "PUBLISHED", "TESTS", "STATE"
                    );
                    for s in &states {
                        let v = &s.row;
                        let state = if s.active {
                            "active".to_string()
                        } else if let Some(d) = s.scheduled_from {
                            format!("approved from {d}")
                        } else if !s.requested.is_empty() {
                            format!("requested (#{})", join_ids(&s.requested))
                        } else {
                            "-".to_string()
                        };
                        println!(
                            "{:<20} {:<22} {:<9} {:<16} {:<8} {:<26} {}",
                            v.casework_type,
                            v.name,
                            v.version,
                            v.published_at
                                .with_timezone(&chrono_tz::Europe::Stockholm)
                                .format("%Y-%m-%d %H:%M"),
                            format!("{}/{}", v.tests_passed, v.tests_passed + v.tests_failed),
                            state,
                            v.hash
                        );
                    }
                    if states.is_empty() {
                        println!("(no published versions)");
                    }
                }
            }
            0
        }
        RulesCommand::Activate { version, from, reason } => {
            let v = match rulebook::find_version(store, &version).await {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(1);
                }
            };
            match rulebook::request_activation(store, &by, &v.hash, from, &reason).await {
                Ok(id) => {
                    println!(
                        "activation request #{id}: {} {} for {} from {from}; waiting for a second person (regelförfattare or administratör) in the web UI",
                        v.name, v.version, v.casework_type
                    );
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            }
        }
        RulesCommand::Activations { casework_type, format } => {
            let list = store.activations(casework_type.as_deref()).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&list)?),
                Format::Table => {
                    println!(
                        "{:>5} {:<20} {:<10} {:<10} {:<20} {:<20} HASH",
                        "ID", "TYPE", "FROM", "STATE", "REQUESTED BY", "DECIDED BY"
                    );
                    for a in &list {
                        println!(
                            "{:>5} {:<20} {:<10} {:<10} {:<20} {:<20} {}",
                            a.id,
                            a.casework_type,
                            a.valid_from,
                            a.state.as_str(),
                            a.requested_by,
                            a.decided_by.as_deref().unwrap_or("-"),
                            a.hash
                        );
                    }
                }
            }
            0
        }
        RulesCommand::Shadow {
            candidate,
            cases,
            against_stored,
            out,
            link_base,
        } => {
            shadow(
                store,
                &settings,
                &by,
                &candidate,
                &cases,
                against_stored,
                out,
                &link_base,
            )
            .await?
        }
    })
}

fn join_ids(ids: &[i64]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", #")
}

#[allow(clippy::too_many_arguments)]
async fn shadow(
    store: &crate::store::Store,
    settings: &Settings,
    by: &By,
    candidate: &str,
    cases: &str,
    against_stored: bool,
    out: Option<PathBuf>,
    link_base: &str,
) -> anyhow::Result<u8> {
    let path = PathBuf::from(candidate);
    let cand = if path.join(sandbox::MANIFEST).is_file() {
        match Ruleset::load(&path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: ruleset {}:\n{e}", path.display());
                return Ok(1);
            }
        }
    } else {
        match rulebook::find_version(store, candidate).await {
            Ok(v) => rulebook::load_version(store, &settings.data_dir, &v.hash)
                .await
                .map_err(anyhow::Error::msg)?,
            Err(e) => {
                eprintln!("error: {e} (or name a ruleset folder)");
                return Ok(1);
            }
        }
    };
    let today = rulebook::swedish_day(store.clock().now());
    let filter = match shadow::parse_filter(cases, today) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --cases: {e}");
            return Ok(2);
        }
    };
    let baseline = if against_stored {
        None
    } else {
        let robots: Vec<(String, PathBuf)> = settings
            .robots
            .iter()
            .map(|r| (r.name.clone(), r.ruleset.clone()))
            .collect();
        rulebook::in_force(store, &settings.data_dir, &robots, cand.type_name())
            .await
            .map_err(anyhow::Error::msg)?
    };
    let report = shadow::run(store, cand, baseline, filter, cases)
        .await
        .map_err(anyhow::Error::msg)?;
    let id = shadow::save(store, &by.actor(), &report)
        .await
        .map_err(anyhow::Error::msg)?;
    println!(
        "shadow report #{id}: {} cases in {:.1} s: {} changed, {} unchanged, {} could not be evaluated",
        report.cases, report.seconds, report.changed, report.unchanged, report.failed
    );
    for t in report.transitions.iter().filter(|t| t.from != t.to) {
        println!("  {} -> {}: {}", t.from, t.to, t.cases);
    }
    println!(
        "  amounts: {} increased, {} decreased, total change {}",
        report.amounts.increased,
        report.amounts.decreased,
        domain::Money::from_ore(report.amounts.total_change_ore)
    );
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir)?;
        let json = dir.join(format!("shadow-{id}.json"));
        let html = dir.join(format!("shadow-{id}.html"));
        std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
        std::fs::write(&html, shadow::html(&report, link_base).map_err(anyhow::Error::msg)?)?;
        println!("  written: {} and {}", json.display(), html.display());
    }
    Ok(0)
}

fn test(dir: PathBuf, cases_dir: Option<PathBuf>, show_output: bool) -> u8 {
    let ruleset = match Ruleset::load(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: ruleset {}:\n{e}", dir.display());
            return 1;
        }
    };
    let cases_dir = cases_dir.unwrap_or_else(|| dir.join("tests"));
    let list = match cases(&cases_dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {}: {e}", cases_dir.display());
            return 1;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for (name, input, expected) in list {
        let r = run_case(&ruleset, &name, &input, &expected);
        if r.passed {
            passed += 1;
            println!("ok     {name}");
        } else {
            failed += 1;
            println!("FAILED {name}");
            for d in &r.diffs {
                println!("         {d}");
            }
            if show_output {
                for p in &r.printed {
                    println!("         print: {p}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || passed == 0 { 1 } else { 0 }
}

fn check(dir: PathBuf) -> u8 {
    let problems = Ruleset::check(&dir);
    if problems.is_empty() {
        match Ruleset::load(&dir) {
            Ok(r) => {
                println!("ok: {} {} ({})", r.name(), r.version(), r.hash());
                for f in &r.params().files {
                    let unverified = f.sets.iter().filter(|s| !s.verified).count();
                    println!(
                        "  {}: {} värdeuppsättningar {}–{}, {} ej verifierade",
                        f.path,
                        f.sets.len(),
                        f.sets.first().map(|s| s.valid_from.to_string()).unwrap_or_default(),
                        f.sets.last().map(|s| s.valid_from.to_string()).unwrap_or_default(),
                        unverified
                    );
                }
                0
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        }
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("{} problem(s)", problems.len());
        1
    }
}
