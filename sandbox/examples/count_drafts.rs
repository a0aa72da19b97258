#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a measuring tool: failing loudly is the point"
)]

//! A fixed amount of work for counting instructions with callgrind (the
//! benchmark machine has no hardware counters, and instruction counts do
//! not vary with load the way wall time does).
//!
//! Loads the ruleset, parses the benchmark inputs, evaluates each once to
//! warm up, then evaluates every input again inside `measured` (and, with
//! `pipeline`, also parses and serialises). Count only `measured`:
//!
//! ```sh
//! cargo build --release -p sandbox --example count_drafts
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='count_drafts::measured*' \
//!     $CARGO_TARGET_DIR/release/examples/count_drafts MODE [ROUNDS]
//! ```
//!
//! MODE: `evaluate` (Rhai, parsed application in, draft out), `pipeline`
//! (Rhai, JSON bytes in: parse, evaluate, `to_json`), `plain` and
//! `plain-pipeline` (the same with the benchmark's plain-Rust rules).
//!
//! Instructions per draft = the total ÷ (inputs × rounds).

#[path = "../benches/plain_rust.rs"]
mod plain_rust;

use domain::{Application, Period};
use sandbox::Ruleset;
use std::hint::black_box;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Evaluate,
    Pipeline,
    Plain,
    PlainPipeline,
}

#[inline(never)]
fn measured(
    ruleset: &Ruleset,
    plain: &plain_rust::PlainRules,
    apps: &[Application],
    raw: &[Vec<u8>],
    mode: Mode,
    rounds: usize,
) -> usize {
    let mut bytes = 0;
    for _ in 0..rounds {
        if mode == Mode::Plain {
            for app in apps {
                black_box(plain.evaluate(black_box(app)).unwrap());
            }
        } else if mode == Mode::PlainPipeline {
            for b in raw {
                let app = Application::parse(b).unwrap();
                bytes += plain.evaluate(&app).unwrap().to_json().len();
            }
        } else if mode == Mode::Pipeline {
            for b in raw {
                let app = Application::parse(b).unwrap();
                bytes += ruleset.evaluate(&app).unwrap().to_json().len();
            }
        } else {
            for app in apps {
                black_box(ruleset.evaluate(black_box(app)).unwrap());
            }
        }
    }
    bytes
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = match args.get(1).map_or("evaluate", String::as_str) {
        "evaluate" => Mode::Evaluate,
        "pipeline" => Mode::Pipeline,
        "plain" => Mode::Plain,
        "plain-pipeline" => Mode::PlainPipeline,
        other => panic!("unknown mode {other:?}: evaluate, pipeline, plain or plain-pipeline"),
    };
    let rounds: usize = args.get(2).map_or(1, |r| r.parse().unwrap());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("HROBOT_BENCH_RULESET")
        .map_or_else(|| root.join("../rulesets/ekonomiskt-bistand"), PathBuf::from);
    let ruleset = Ruleset::load(&dir).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("benches/data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let raw: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let apps: Vec<Application> = raw.iter().map(|b| Application::parse(b).unwrap()).collect();
    let plain = plain_rust::PlainRules::new(&ruleset, Period::new(2019, 1).unwrap(), Period::new(2030, 12).unwrap());
    for app in &apps {
        black_box(ruleset.evaluate(app).unwrap());
        black_box(plain.evaluate(app).unwrap());
    }
    let bytes = measured(&ruleset, &plain, &apps, &raw, mode, rounds);
    println!(
        "{} inputs × {rounds} rounds ({}), {bytes} bytes of drafts",
        apps.len(),
        args.get(1).map_or("evaluate", String::as_str)
    );
}
