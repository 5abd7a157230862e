//! Everything that touches the world: files, the terminal, and (in later parts) Kafka, the
//! databases, HTTP, the cluster and the control plane. The `pipectl` binary lives here.

pub mod cli;
