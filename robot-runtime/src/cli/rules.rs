//! `hrobot rules test|check|coverage`: for rule authors.

use sandbox::Ruleset;
use sandbox::coverage::{Kind, Report};
use sandbox::testing::{cases, run_case};
use std::path::PathBuf;
use std::process::ExitCode;

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

pub fn run(cmd: RulesCommand, config: Option<PathBuf>, data_dir: Option<PathBuf>) -> ExitCode {
    let code = super::on_big_stack(move || match cmd {
        RulesCommand::Test {
            dir,
            cases,
            show_output,
        } => test(dir, cases, show_output),
        RulesCommand::Check { dir } => check(dir),
        RulesCommand::Coverage {
            dir,
            cases,
            production,
            json,
            fail_under_rules,
        } => {
            let out = Output { json, fail_under_rules };
            if production {
                production_coverage(dir, config, data_dir, out)
            } else {
                tests_coverage(dir, cases, out)
            }
        }
    })
    .unwrap_or(1);
    ExitCode::from(code)
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

fn production_coverage(dir: PathBuf, config: Option<PathBuf>, data_dir: Option<PathBuf>, out: Output) -> u8 {
    let Some(ruleset) = load_ruleset(&dir) else { return 1 };
    let settings = match super::load(config.as_deref(), data_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
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
        let found = store.production_coverage(&ruleset).await;
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
                } else {
                    ", another version: compared with the folder's sources"
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
