//! `hrobot rules test|check`: for rule authors.

use sandbox::Ruleset;
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
}

pub fn run(cmd: RulesCommand) -> ExitCode {
    let code = super::on_big_stack(move || match cmd {
        RulesCommand::Test {
            dir,
            cases,
            show_output,
        } => test(dir, cases, show_output),
        RulesCommand::Check { dir } => check(dir),
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
