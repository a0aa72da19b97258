//! Integration tests of the audit crate: one binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

/// Runs an async scenario against a fresh SQLite file and a fresh
/// PostgreSQL database.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(crate::support::TestDb::sqlite().await).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(crate::support::TestDb::postgres().await).await;
            }
        }
    };
}

mod concurrency;
mod locate;
mod log;
mod note;
mod props;
mod rollback;
mod shred;
mod support;
mod tamper;
mod vectors;
