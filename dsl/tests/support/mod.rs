//! What the integration tests share: a fixed environment, so results never depend on the
//! machine's variables.

use pipe_dsl::{Compiled, compile};

/// The environment the tests see: `PIPE_TEST_SET` is set, nothing else is.
pub fn test_env(var: &str) -> Option<String> {
    (var == "PIPE_TEST_SET").then(|| "from-the-environment".to_string())
}

/// Compiles with the test environment.
pub fn compile_for_test(source: &str) -> Compiled {
    compile(source, &test_env)
}
