//! The `pipe` package gathers the three crates for the examples and benchmarks that span them.
//!
//! Text becomes a [`dsl::Plan`], the plan becomes a timely dataflow in [`dataflow`], and
//! [`runtime`] connects that dataflow to the world.

pub use pipe_dataflow as dataflow;
pub use pipe_dsl as dsl;
pub use pipe_runtime as runtime;
