//! `hrobot serve`.

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::service::{Service, shutdown_signal};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen address (overrides the configuration).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

pub fn run(mut settings: Settings, args: Args) -> u8 {
    if let Some(l) = args.listen {
        settings.http.listen = l;
    }
    let problems = settings.check();
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("configuration: {p}");
        }
        return 1;
    }
    let rt = match super::tokio_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        let listen = settings.http.listen;
        let service = Service::build(settings, Arc::new(SystemClock)).await?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        service.run(listener, shutdown_signal()).await
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
