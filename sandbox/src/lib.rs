//! Safe rule execution.
//!
//! A ruleset is a folder of Rhai scripts and dated parameter files. This
//! crate loads and checks it, compiles it once per content hash, and turns
//! valid applications into draft decisions under hard limits: no I/O, no
//! clock, no randomness, bounded operations, memory and wall time.

mod api;
pub mod casework;
pub mod coverage;
mod engine;
mod error;
mod params;
mod ruleset;
pub mod testing;

pub use api::{DraftSpec, SectionSpec, UNVERIFIED_PARAMETERS, is_parameter_notice, parameter_notice_body};
pub use casework::{Casework, Document, InputError, InputProblem, Labels, Person};
pub use engine::{LIMITS, Limits, set_heap_probe};
pub use error::{Problem, RulesetError};
pub use params::{ParamFile, ParamTable, ParamType, ParamValue, ResolvedParam, ResolvedParams, ValueSet};
pub use ruleset::{Input, MANIFEST, Package, ReadError, Ruleset};
