//! What the integration tests share: a fixed environment, so results never depend on the
//! machine's variables, a generator of random pipelines, and plan comparison without spans.

#![allow(dead_code)] // each test binary uses part of this module

pub mod generate;

use pipe_dsl::{Compiled, compile};

/// The environment the tests see: `PIPE_TEST_SET` is set, nothing else is.
pub fn test_env(var: &str) -> Option<String> {
    (var == "PIPE_TEST_SET").then(|| "from-the-environment".to_string())
}

/// Compiles with the test environment.
pub fn compile_for_test(source: &str) -> Compiled {
    compile(source, &test_env)
}

/// What a compilation says, without where it says it: the plan as JSON with every span removed,
/// and the diagnostic codes in order. Equal for two texts that mean the same.
pub fn meaning(source: &str) -> (Option<serde_json::Value>, Vec<&'static str>) {
    let compiled = compile_for_test(source);
    let plan = compiled.plan.map(|plan| {
        let mut json = serde_json::to_value(plan).unwrap();
        strip_spans(&mut json);
        json
    });
    let mut codes: Vec<&'static str> = compiled.diagnostics.iter().map(|d| d.code.id()).collect();
    codes.sort();
    (plan, codes)
}

fn strip_spans(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("span");
            map.values_mut().for_each(strip_spans);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_spans),
        _ => {}
    }
}
