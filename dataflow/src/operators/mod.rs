//! The timely operators that the plan is built from; each file is one operator.

mod cascade;
mod evaluate;
mod merge;
mod rollup_alerts;
mod series_stage;
mod timing;

pub use crate::rollup::WindowResult;
pub use cascade::cascade;
pub use evaluate::evaluate;
pub use merge::merge_windows;
pub use rollup_alerts::rollup_alerts;
pub use series_stage::{StageStreams, series_stage};
