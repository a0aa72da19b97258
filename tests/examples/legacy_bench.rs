//! The Rust side of the legacy web UI benchmark (`tests/bench/legacy/run.sh`):
//! every open application in the simulated case system is read through the
//! WebDriver connector and a decision is written back, as a robot would.
//!
//! `cargo run --release -p tests --example legacy_bench -- BASE_URL`
//! prints one JSON line: cases, seconds, applications per minute.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark driver"
)]

use connectors::legacy::{LegacyConfig, LegacyConnector, Password};
use connectors::{ApplicationSource, CaseWriteBack, IdempotencyKey, WriteBack};
use domain::{Money, Outcome, Period};
use std::time::Instant;

#[tokio::main]
async fn main() {
    let base = std::env::args().nth(1).expect("usage: legacy_bench BASE_URL");
    let artefacts = std::env::temp_dir().join("legacy-bench-artefacts");
    let cfg = LegacyConfig::new(base, "robot", Password::new("sim-legacy-password"), artefacts);
    let started = Instant::now();
    let legacy = LegacyConnector::new("bench", cfg).unwrap();
    let items = legacy.list_new(100_000).await.unwrap();
    let listed = started.elapsed();
    for item in &items {
        let document = legacy.fetch(item).await.unwrap();
        assert!(document.starts_with(b"{"));
        let key = IdempotencyKey::new(format!("bench:{}", item.id)).unwrap();
        let decision = WriteBack {
            external_id: item.id.clone(),
            period: "2021-03".parse::<Period>().unwrap(),
            outcome: Outcome::Bifall,
            amount: Some(Money::from_kronor(1000).unwrap()),
            decision_text: "Du beviljas ekonomiskt bistånd med 1 000 kr för mars 2021.".into(),
            decided_by: "handl-042".into(),
        };
        let receipt = legacy.write_back(&key, &decision).await.unwrap();
        assert!(!receipt.already_done);
    }
    legacy.shutdown().await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "side": "rust-fantoccini",
            "cases": items.len(),
            "seconds": (seconds * 100.0).round() / 100.0,
            "startup_login_list_seconds": (listed.as_secs_f64() * 100.0).round() / 100.0,
            "per_minute": ((items.len() as f64) * 60.0 / seconds * 10.0).round() / 10.0,
        })
    );
}
