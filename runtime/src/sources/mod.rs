//! Sources: where samples come from. Each gives a worker its share of the samples, in records
//! the dataflow takes, and the watermark the worker's input advances to.

pub mod generator;
