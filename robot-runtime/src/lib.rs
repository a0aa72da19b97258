//! The Handläggarrobot service: command line, and (as later parts land)
//! configuration, store, scheduler, pipeline, approval UI, outbox.

pub mod accounts;
pub mod approval;
pub mod audit_cases;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error_text;
pub mod faults;
pub mod http;
pub mod keys;
pub mod law;
pub mod metrics;
pub mod observe;
pub mod officials;
pub mod outbox;
pub mod pipeline;
pub mod private;
pub mod repeats;
pub mod request_id;
pub mod roles;
pub mod rulebook;
pub mod runtime;
pub mod scheduler;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod web;
