//! The Handläggarrobot service: command line, and (as later parts land)
//! configuration, store, scheduler, pipeline, approval UI, outbox.

pub mod cli;
pub mod telemetry;
