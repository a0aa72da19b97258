//! Logging: tracing to stderr, human or JSON. Log lines carry ids and
//! counts, never personnummer, names or amounts.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Installs the global subscriber. `RUST_LOG` overrides everything; then
/// `-v` flags; then the configured level; else warnings only.
pub fn init(format: LogFormat, verbose: u8, configured: Option<&str>) {
    let default = match (verbose, configured) {
        (0, Some(level)) => level.to_string(),
        (0, None) => "warn".into(),
        (1, _) => "info".into(),
        (2, _) => "debug".into(),
        _ => "trace".into(),
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&default))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
