//! `cargo xtask ci`: everything CI checks, in order, on a fresh machine.
//!
//! The script is the set-up: it installs or starts what the tests need
//! (Debian packages, PostgreSQL) instead of assuming a machine prepared by
//! hand.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reporting progress"
)]

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root()?;
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("setup") => setup(),
        Some("fuzz") => fuzz(&root, args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60)),
        _ => {
            eprintln!("usage: cargo xtask ci | setup | fuzz [SECONDS]");
            bail!("unknown task")
        }
    }
}

fn root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent folder")
}

/// Runs a command, echoing it, failing on a non-zero exit.
fn run(program: &str, args: &[&str]) -> Result<()> {
    println!("\n$ {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    println!("  ({:.1} s)", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("{program} {} failed with {status}", args.join(" "));
    }
    Ok(())
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn have(program: &str) -> bool {
    succeeds("sh", &["-c", &format!("command -v {program} >/dev/null 2>&1")])
}

/// Installs Debian packages whose command is missing.
fn ensure_packages(wanted: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    apt_install(&missing)
}

/// `apt-get install`s the given Debian packages (as root, or through sudo).
fn apt_install(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let sudo: &[&str] = if succeeds("id", &["-u"]) && id_is_root() {
        &[]
    } else {
        &["sudo"]
    };
    let apt = |args: &[&str]| -> Result<()> {
        let mut full: Vec<&str> = sudo.to_vec();
        full.push("apt-get");
        full.extend_from_slice(args);
        let (program, rest) = full.split_first().context("empty command")?;
        run(program, rest)
    };
    println!("installing missing packages: {}", packages.join(" "));
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(packages.iter());
    apt(&args)
}

fn id_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// PostgreSQL on 127.0.0.1:5432: installed if missing, started if stopped.
fn ensure_postgres() -> Result<()> {
    if succeeds("pg_isready", &["-h", "127.0.0.1", "-p", "5432", "-q"]) {
        return Ok(());
    }
    ensure_packages(&[("pg_ctlcluster", "postgresql"), ("pg_isready", "postgresql-client")])?;
    let versions =
        std::fs::read_dir("/etc/postgresql").context("PostgreSQL is installed but /etc/postgresql is missing")?;
    for v in versions.flatten() {
        let version = v.file_name().to_string_lossy().into_owned();
        let _ = run(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", &version, "main", "start"],
        );
    }
    for _ in 0..30 {
        if succeeds("pg_isready", &["-h", "127.0.0.1", "-p", "5432", "-q"]) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    bail!("PostgreSQL did not start on 127.0.0.1:5432")
}

fn setup() -> Result<()> {
    ensure_packages(&[("python3", "python3"), ("prlimit", "util-linux")])?;
    ensure_packages(&[("chromium", "chromium"), ("chromedriver", "chromium-driver")])?;
    ensure_packages(&[("node", "nodejs"), ("npm", "npm")])?;
    // pdftotext: the letter tests read the PDF's text as a reader would
    // (they fall back to lopdf's extraction without it).
    ensure_packages(&[("pdftotext", "poppler-utils")])?;
    // A real SMTP server for the delivery tests: Debian's aiosmtpd, for
    // Debian's own Python (other Pythons on PATH do not see it).
    if !succeeds("/usr/bin/python3", &["-c", "import aiosmtpd"]) {
        apt_install(&["python3-aiosmtpd"])?;
    }
    ensure_postgres()
}

fn ci(root: &Path) -> Result<()> {
    let started = Instant::now();
    setup()?;
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run("cargo", &["build", "--workspace", "--all-targets", "--locked"])?;
    if succeeds("cargo", &["nextest", "--version"]) {
        run(
            "cargo",
            &["nextest", "run", "--workspace", "--locked", "--no-fail-fast"],
        )?;
        run("cargo", &["test", "--workspace", "--doc", "--locked"])?;
    } else {
        run("cargo", &["test", "--workspace", "--locked", "--no-fail-fast"])?;
    }
    let hrobot = root.join("target/debug/hrobot");
    let hrobot = hrobot.to_str().context("non-UTF-8 path")?;
    run(hrobot, &["rules", "check", "rulesets/ekonomiskt-bistand"])?;
    run(hrobot, &["rules", "test", "rulesets/ekonomiskt-bistand"])?;
    let shared = root.join("../shared/examples/ekonomiskt-bistand");
    if shared.is_dir() {
        let shared = shared.to_str().context("non-UTF-8 path")?;
        run(
            hrobot,
            &["rules", "test", "rulesets/ekonomiskt-bistand", "--cases", shared],
        )?;
    }
    let difftest = root.join("tests/reference/difftest.py");
    if difftest.is_file() {
        run(
            "python3",
            &[
                difftest.to_str().context("non-UTF-8 path")?,
                "--hrobot",
                hrobot,
                "--ruleset",
                "rulesets/ekonomiskt-bistand",
                "--n",
                "3000",
                "--seed",
                "20261125",
            ],
        )?;
    }
    fuzz(root, 20)?;
    println!("\nci: all checks passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Builds the fuzz target, and runs it for a while when cargo-fuzz is
/// installed (it needs nightly features, which RUSTC_BOOTSTRAP unlocks on
/// the stable toolchain).
fn fuzz(root: &Path, seconds: u32) -> Result<()> {
    let manifest = root.join("domain/fuzz/Cargo.toml");
    let manifest = manifest.to_str().context("non-UTF-8 path")?;
    if !succeeds("cargo", &["fuzz", "--version"]) {
        println!("cargo-fuzz is not installed: building the fuzz target without running it");
        return run(
            "cargo",
            &[
                "build",
                "--manifest-path",
                manifest,
                "--target-dir",
                "target/fuzz-build",
            ],
        );
    }
    let seeds = root.join("rulesets/ekonomiskt-bistand/tests");
    let seeds = seeds.to_str().context("non-UTF-8 path")?;
    let corpus = root.join("target/fuzz-corpus/application");
    std::fs::create_dir_all(&corpus)?;
    let corpus = corpus.to_str().context("non-UTF-8 path")?;
    let time = format!("-max_total_time={seconds}");
    let status = Command::new("cargo")
        .current_dir(root.join("domain"))
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "fuzz",
            "run",
            "application",
            corpus,
            seeds,
            "--",
            &time,
            "-max_len=65536",
        ])
        .status()
        .context("cannot run cargo fuzz")?;
    if !status.success() {
        bail!("fuzzing found a failure (see domain/fuzz/artifacts)");
    }
    Ok(())
}
