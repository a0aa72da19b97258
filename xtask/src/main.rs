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
use std::time::{Duration, Instant};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root()?;
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("setup") => setup(),
        Some("deny") => deny(),
        Some("fuzz") => fuzz(&root, args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60)),
        _ => {
            eprintln!("usage: cargo xtask ci | setup | deny | fuzz [SECONDS]");
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
    // promtool (Debian's prometheus package): the live /metrics, the alert
    // rules and their unit tests are checked with it (ops/prometheus/).
    ensure_packages(&[("promtool", "prometheus")])?;
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
    deny()?;
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
    // Every casework type in rulesets/ passes its own suite.
    let mut types: Vec<String> = std::fs::read_dir(root.join("rulesets"))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("ruleset.toml").is_file())
        .filter_map(|e| e.file_name().to_str().map(|n| format!("rulesets/{n}")))
        .collect();
    types.sort();
    for t in &types {
        run(hrobot, &["rules", "check", t])?;
        run(hrobot, &["rules", "test", t])?;
    }
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
    prometheus_rules(root)?;
    container(hrobot)?;
    // The browser tests' screenshots (the queue and the case page at
    // 1366×900 and 390×844): CI artefacts, never committed.
    let shots = root.join("target/ci-artefacts/screenshots");
    if let Ok(entries) = std::fs::read_dir(&shots) {
        println!("\nscreenshots ({}): {}", entries.count(), shots.display());
    }
    println!("\nci: all checks passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The container image (ops/container/Containerfile), built and smoke-tested
/// where a container engine can run: podman is installed from Debian when
/// neither podman nor docker answers. The image carries the binary CI just
/// built (the Rust image cannot be pulled on a closed network); the script
/// says so, and says when no engine runs here at all.
fn container(hrobot: &str) -> Result<()> {
    let engine_runs = |e: &str| have(e) && succeeds(e, &["info"]);
    if !engine_runs("podman") && !engine_runs("docker") {
        // Best effort: a machine without apt or without the rights for
        // namespaces gets the script's own "skipped" line below.
        // With recommends: podman's helpers; runc for sandboxes where crun
        // cannot run (hybrid cgroups).
        let _ = run("apt-get", &["install", "-y", "-qq", "podman", "runc", "debootstrap"]);
    }
    run_bounded("ops/container/smoke.sh", &[hrobot], Duration::from_secs(20 * 60))
}

/// The alert rules, their unit tests and the example scrape configuration
/// (ops/prometheus/), each through promtool, bounded in time. The live
/// `/metrics` is checked by `promtool check metrics` in the integration
/// tests (`robot-runtime/tests/it/metrics_live.rs`).
fn prometheus_rules(root: &Path) -> Result<()> {
    let dir = root.join("ops/prometheus");
    let file = |name: &str| -> Result<String> { Ok(dir.join(name).to_str().context("non-UTF-8 path")?.to_string()) };
    let limit = Duration::from_secs(120);
    run_bounded("promtool", &["check", "rules", &file("alerts.yml")?], limit)?;
    run_bounded("promtool", &["check", "config", &file("prometheus.yml")?], limit)?;
    // `test rules` finds alerts.yml relative to the test file.
    run_bounded("promtool", &["test", "rules", &file("alerts_test.yml")?], limit)
}

/// Like [`run`], but the command is killed after `limit`.
fn run_bounded(program: &str, args: &[&str], limit: Duration) -> Result<()> {
    println!("\n$ {program} {}   (at most {} s)", args.join(" "), limit.as_secs());
    let started = Instant::now();
    let status = wait_bounded(
        Command::new(program)
            .args(args)
            .spawn()
            .with_context(|| format!("cannot start {program}"))?,
        limit,
    )?;
    println!("  ({:.1} s)", started.elapsed().as_secs_f64());
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => bail!("{program} {} failed with {s}", args.join(" ")),
        None => bail!("{program} {} took longer than {} s", args.join(" "), limit.as_secs()),
    }
}

/// Waits for a child at most `limit`; kills it then (`None`).
fn wait_bounded(mut child: std::process::Child, limit: Duration) -> Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Where cargo-deny keeps its advisory databases (deny.toml's `db-path`).
fn advisory_dbs() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("advisory-dbs")
}

/// A local copy of an advisory database: a folder in `dbs` with the
/// RustSec layout (`crates/<name>/RUSTSEC-….md`), not just a failed clone.
fn local_advisory_db(dbs: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dbs)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("crates").is_dir())
}

/// `cargo deny check` (deny.toml): licences, bans and sources always;
/// security advisories when the RustSec advisory database is at hand. It
/// lives on GitHub, which this build machine cannot reach: then a local
/// copy is used if there is one, and otherwise the advisory check is
/// skipped and the output says so. Every step is bounded in time.
fn deny() -> Result<()> {
    let started = Instant::now();
    if !succeeds("cargo", &["deny", "--version"]) {
        // Built once from crates.io, then cached in ~/.cargo/bin.
        run_bounded(
            "cargo",
            &["install", "--locked", "cargo-deny"],
            Duration::from_secs(30 * 60),
        )?;
    }
    let dbs = advisory_dbs();
    if local_advisory_db(&dbs).is_none() {
        // Where GitHub is reachable this fetches the database; here it
        // fails quickly (or is cut off).
        println!("\nno local advisory database in {}: trying to fetch one", dbs.display());
        let fetched = Command::new("cargo")
            .args(["deny", "fetch", "db"])
            .spawn()
            .ok()
            .map(|c| wait_bounded(c, Duration::from_secs(60)));
        if !matches!(fetched, Some(Ok(Some(s))) if s.success()) {
            println!("  (fetching the advisory database failed or timed out)");
        }
    }
    let limit = Duration::from_secs(10 * 60);
    match local_advisory_db(&dbs) {
        Some(db) => {
            let age = std::fs::metadata(&db)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .map_or_else(
                    || "unknown age".to_string(),
                    |d| format!("{} days old", d.as_secs() / 86_400),
                );
            println!("advisory database: {} ({age})", db.display());
            run_bounded("cargo", &["deny", "--frozen", "check", "--hide-inclusion-graph"], limit)?;
        }
        None => {
            run_bounded(
                "cargo",
                &[
                    "deny",
                    "--locked",
                    "check",
                    "--hide-inclusion-graph",
                    "licenses",
                    "bans",
                    "sources",
                ],
                limit,
            )?;
            println!(
                "\nADVISORIES NOT CHECKED: the RustSec advisory database is on GitHub, which cannot be reached \
                 from here, and there is no local copy in {}. Licences, bans and sources were checked. \
                 To check advisories, clone https://github.com/rustsec/advisory-db there as \
                 advisory-db-3157b0e258782691 (the folder cargo-deny 0.20 uses for that URL; \
                 `cargo deny fetch db` does it where GitHub is reachable).",
                dbs.display()
            );
        }
    }
    println!("cargo deny: {:.1} s", started.elapsed().as_secs_f64());
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
