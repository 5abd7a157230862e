//! Shared by the dataflow tests: a naive batch oracle of the harness's semantics
//! (`pipe_dataflow::harness`), and random inputs.

#![allow(dead_code)] // each test binary uses part of this module

pub mod inputs;
pub mod oracle;

use pipe_dsl::Plan;

/// Compiles a pipeline for a test; panics with the diagnostics when it is invalid.
pub fn plan(text: &str) -> Plan {
    let compiled = pipe_dsl::compile(text, &|_| None);
    compiled
        .plan
        .unwrap_or_else(|| panic!("invalid test pipeline: {:#?}", compiled.diagnostics))
}
