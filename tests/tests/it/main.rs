//! End-to-end tests against the simulated municipality.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

mod compliance;
mod eservice;
mod legacy;
mod simulator;
mod smtp;
mod sql_source;
mod ssbtek;
mod support;
