//! Rollups: windows of a source's samples (or of a finer rollup's windows) per group, each
//! worker holding partial windows for the series it owns (`local.rs`), merged on the group's
//! owner when they close.

mod local;

pub(crate) use local::NO_GROUP;
pub use local::{CLOSE_BUDGET, LocalRollup};

use serde::{Deserialize, Serialize};

use crate::series::{GroupId, Labels};
use crate::state::RollupState;

/// A group's window of a rollup: what one worker saw of it, sent to the group's owner when the
/// window closes there, and after the owner merged every worker's, the closed window that sinks
/// write and cascades merge. One type for both, so that with one worker the partial is the
/// closed window and passes on as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    /// Which rollup of the plan.
    pub rollup: u16,
    /// The group.
    pub group: GroupId,
    /// The group's labels.
    pub labels: Labels,
    /// Window start.
    pub start: u64,
    /// Window end (exclusive).
    pub end: u64,
    /// The window's state; its aggregates are computed from it.
    pub state: RollupState,
}
