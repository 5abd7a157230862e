//! Plans to timely dataflows: event-time windows, rollups and alert evaluation. It does no IO, so
//! its semantics are tested deterministically in-process.
