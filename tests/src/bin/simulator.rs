//! Runs the simulated municipality on its own, for trying connectors by
//! hand: `cargo run -p tests --bin simulator -- --applications DIR`.

#![allow(clippy::print_stdout, reason = "prints where the services listen")]

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// A folder of applications (ekonomiskt-bistand/ansokan/v1 JSON) to seed the systems with.
    #[arg(long)]
    applications: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = Args::parse();
    let sim = tests::Simulator::start(&args.applications).await?;
    println!(
        "{}",
        serde_json::json!({"eservice": format!("http://{}", sim.eservice), "legacy": format!("http://{}", sim.legacy), "applications": sim.data.len()})
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
