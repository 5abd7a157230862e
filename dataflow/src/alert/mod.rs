//! Alert rules over streams: step partials, condition evaluation and the alert state machine.

mod condition;
mod evaluator;
mod group_values;
mod handoff;
mod machine;
mod partials;
mod records;
mod running;
mod slots;
mod step_clock;
mod term_state;

pub use condition::{GroupLabels, Groups, TermValues, evaluate, groups};
pub use evaluator::{Evaluator, Transition};
pub use handoff::Handoff;
pub use machine::{Active, Change, Machine, TransitionKind};
pub use partials::PartialStore;
pub use records::{StepRecord, TermBatch, TermGroup};
pub use step_clock::StepClock;
pub use term_state::TermState;
