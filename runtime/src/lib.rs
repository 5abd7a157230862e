//! Everything that touches the world: the sources that feed the dataflow, the sinks it writes
//! to, the workers that run it, the terminal, and the `pipectl` binary.

mod append;
pub mod capacity;
pub mod cli;
pub mod control;
pub mod loadgen;
pub mod pipeline;
pub mod rule_test;
pub mod sinks;
pub mod sources;
pub mod status;
pub mod storage_bench;
pub mod time;
pub mod usage;
