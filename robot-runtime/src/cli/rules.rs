//! `hrobot rules test|check|coverage|publish|versions|activate|activations|shadow`:
//! for rule authors. `test`, `check` and `coverage` read a folder (and
//! `coverage --production` the store); the others work on the service's
//! store (its configuration names it).

use crate::accounts::By;
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::rulebook::{self, shadow};
use sandbox::Ruleset;
use sandbox::coverage::{Kind, Report};
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
    /// Which rules, rows, reasons and codes the test cases exercise (or,
    /// with `--production`, the drafts in the store, per ruleset version);
    /// lists those never exercised.
    Coverage {
        /// The ruleset folder.
        dir: PathBuf,
        /// Another folder of cases to run against the ruleset.
        #[arg(long, conflicts_with = "production")]
        cases: Option<PathBuf>,
        /// The drafts stored for cases of this ruleset (by name) in the
        /// configuration's database, one section per version, newest first.
        #[arg(long)]
        production: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 1 when less than N percent of the rules are exercised (with
        /// `--production`: by the drafts of the version in DIR).
        #[arg(long, value_name = "N")]
        fail_under_rules: Option<f64>,
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
        match self {
            RulesCommand::Test { .. } | RulesCommand::Check { .. } => false,
            RulesCommand::Coverage { production, .. } => *production,
            _ => true,
        }
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
        (
            RulesCommand::Coverage {
                dir,
                cases,
                production,
                json,
                fail_under_rules,
            },
            settings,
        ) => super::on_big_stack(move || {
            let out = Output { json, fail_under_rules };
            match (production, settings) {
                (true, Some(settings)) => production_coverage(dir, settings, out),
                (true, None) => {
                    eprintln!("error: --production needs the service's configuration (--config or HROBOT_CONFIG)");
                    1
                }
                (false, _) => tests_coverage(dir, cases, out),
            }
        })
        .unwrap_or(1),
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
        RulesCommand::Test { .. } | RulesCommand::Check { .. } | RulesCommand::Coverage { .. } => 1,
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
            let robots: Vec<(String, PathBuf)> = settings.ruleset_folders();
            let from_folders = rulebook::used_from_folders(store, &robots)
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
                        } else if from_folders.contains(&v.hash) {
                            "in use (configured folder)".to_string()
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
        let robots: Vec<(String, PathBuf)> = settings.ruleset_folders();
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

/// How `rules coverage` reports.
#[derive(Debug, Clone, Copy)]
struct Output {
    json: bool,
    fail_under_rules: Option<f64>,
}

impl Output {
    /// The exit code for a report's rule coverage.
    fn exit(self, report: &Report) -> u8 {
        let rules = report.kind(Kind::Rule);
        match self.fail_under_rules {
            Some(n) if rules.percent() < n => {
                eprintln!(
                    "rule coverage {:.1} % is under {n} % ({})",
                    rules.percent(),
                    rules.summary
                );
                1
            }
            _ => 0,
        }
    }
}

fn load_ruleset(dir: &std::path::Path) -> Option<std::sync::Arc<Ruleset>> {
    match Ruleset::load(dir) {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("error: ruleset {}:\n{e}", dir.display());
            None
        }
    }
}

fn tests_coverage(dir: PathBuf, cases_dir: Option<PathBuf>, out: Output) -> u8 {
    let Some(ruleset) = load_ruleset(&dir) else { return 1 };
    let cases_dir = cases_dir.unwrap_or_else(|| dir.join("tests"));
    let t = match sandbox::coverage::of_tests(&ruleset, &cases_dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", cases_dir.display());
            return 1;
        }
    };
    if out.json {
        match serde_json::to_string_pretty(&t) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    } else {
        println!(
            "Coverage of {} {} ({}) by the cases in {}: {} cases, {} drafts",
            ruleset.name(),
            ruleset.version(),
            ruleset.hash(),
            cases_dir.display(),
            t.cases,
            t.report.drafts
        );
        if !t.without_draft.is_empty() {
            println!(
                "  no draft (invalid application or ruleset error): {}",
                t.without_draft.join(", ")
            );
        }
        if !t.failed.is_empty() {
            println!(
                "  FAILED (drafts counted all the same; see `hrobot rules test`): {}",
                t.failed.join(", ")
            );
        }
        print_report(&t.report);
    }
    out.exit(&t.report)
}

fn production_coverage(dir: PathBuf, settings: Settings, out: Output) -> u8 {
    let Some(ruleset) = load_ruleset(&dir) else { return 1 };
    let rt = match super::tokio_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let found = rt.block_on(async {
        let clock = std::sync::Arc::new(crate::clock::SystemClock);
        let store = crate::runtime::open_store(&settings, clock).await?;
        // Published versions of this ruleset are measured against their own files.
        let mut stored = std::collections::HashMap::new();
        for v in store.ruleset_versions(None).await? {
            if v.name == ruleset.name()
                && let Ok(r) = rulebook::load_version(&store, &settings.data_dir, &v.hash).await
            {
                stored.insert(v.hash, r);
            }
        }
        let found = store.production_coverage(&ruleset, &stored).await;
        store.close().await;
        anyhow::Ok(found?)
    });
    let found = match found {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 1;
        }
    };
    // The exit code follows the version in DIR; no drafts of it: nothing exercised.
    let current = found
        .versions
        .iter()
        .find(|v| v.current)
        .map(|v| v.report.clone())
        .unwrap_or_else(|| sandbox::coverage::Coverage::new(&ruleset).report());
    if out.json {
        match serde_json::to_string_pretty(&found) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    } else {
        println!(
            "Production coverage of {} (the sources of {} {}, {}): {} version(s) in the store",
            ruleset.name(),
            ruleset.name(),
            ruleset.version(),
            ruleset.hash(),
            found.versions.len()
        );
        if found.unreadable > 0 {
            println!("  {} stored drafts could not be read (not counted)", found.unreadable);
        }
        if !found.versions.iter().any(|v| v.current) {
            println!("  no drafts of the version in {}", dir.display());
        }
        for v in &found.versions {
            println!();
            println!(
                "== version {} ({}){}: {} drafts",
                v.version,
                v.hash,
                if v.current {
                    ", the one in the folder"
                } else if v.own_sources {
                    ", another version: compared with its own published files"
                } else {
                    ", another version (not published): compared with the folder's sources"
                },
                v.report.drafts
            );
            print_report(&v.report);
        }
    }
    out.exit(&current)
}

/// The report as tables, then what was never exercised and the totals.
fn print_report(report: &Report) {
    for kind in Kind::ALL {
        let k = report.kind(kind);
        println!();
        match k.fired {
            Some(f) => println!(
                "{} ({:.0} %), {f} fired (recorded a row, reason, code, note or outcome)",
                k.summary,
                k.percent()
            ),
            None => println!("{} ({:.0} %)", k.summary, k.percent()),
        }
        let width = k
            .items
            .iter()
            .map(|i| i.name.chars().count())
            .max()
            .unwrap_or(0)
            .min(60);
        for i in &k.items {
            let place = if i.dynamic {
                format!("{}:{}  [{}]", i.file, i.line, i.pattern.as_deref().unwrap_or("*"))
            } else {
                i.sites.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            };
            let name = if i.dynamic { "dynamic" } else { i.name.as_str() };
            let fired = i.fired.map(|f| format!(" {f:>6} fired")).unwrap_or_default();
            println!(
                "  {:>6}{fired}  {name:<width$}  {place}{}",
                i.drafts,
                if i.exercised { "" } else { "  NEVER" }
            );
        }
        for o in &k.added_by_service {
            println!("  {:>6}  {:<width$}  added by the service", o.drafts, o.name);
        }
        for o in &k.not_in_sources {
            println!("  {:>6}  {:<width$}  NOT IN THE SOURCES", o.drafts, o.name);
        }
    }
    let never: Vec<_> = Kind::ALL
        .into_iter()
        .flat_map(|kind| report.kind(kind).never_exercised().map(move |i| (kind, i)))
        .collect();
    println!();
    if never.is_empty() {
        println!("Every rule, row, reason and code was exercised.");
    } else {
        println!("Never exercised ({}):", never.len());
        for (kind, i) in never {
            let what = match (&i.pattern, &i.expression) {
                (Some(p), Some(e)) => format!("{} [{p}] from `{e}`", i.name),
                _ => format!("{}  {}:{}", i.name, i.file, i.line),
            };
            println!("  {:<6}  {what}", kind.as_str());
        }
    }
    let unfired: Vec<_> = report
        .rules
        .items
        .iter()
        .filter(|i| i.exercised && i.fired == Some(0))
        .collect();
    if !unfired.is_empty() {
        println!("Rules that ran but never fired ({}):", unfired.len());
        for i in unfired {
            println!("  rule    {}  {}:{}", i.name, i.file, i.line);
        }
    }
    println!(
        "Total: {}",
        Kind::ALL
            .iter()
            .map(|k| report.kind(*k).summary.clone())
            .collect::<Vec<_>>()
            .join("; ")
    );
}
