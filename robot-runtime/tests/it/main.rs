//! Integration tests of the `hrobot` binary, run as a real process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

mod api_contract;
mod approval;
mod audit_cli;
mod backup;
mod casework;
mod cli_service;
mod demo_data;
mod evaluate_cli;
mod hostile_cli;
mod http_limits;
mod inbox;
mod letters;
mod metrics_live;
mod module_graph;
mod municipality;
mod pipeline;
mod privacy;
mod rulebook;
mod rules_coverage;
mod runs_truth;
mod schedule;
mod security;
mod service_e2e;
mod store;
mod support;
mod upgrade;
mod web_api;
mod web_audit_ui;
mod web_auth;
mod web_browser;
mod web_case;
mod web_desk;
mod web_matrix;
mod web_oidc;
mod web_oidc_provider;
mod web_queue;
mod web_rules;
mod web_support;
mod web_xss;
