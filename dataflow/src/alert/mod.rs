//! Alert rules over streams: step partials, condition evaluation and the alert state machine.

mod condition;
mod evaluator;
mod group_values;
mod machine;
mod partials;
mod slots;
mod term_state;

pub use condition::{GroupLabels, Groups, TermValues, evaluate, groups};
pub use evaluator::{Evaluator, Transition};
pub use machine::{Change, Machine, TransitionKind};
pub use partials::{PartialStore, StepClock, StepRecord, TermBatch, TermGroup};
pub use term_state::TermState;
