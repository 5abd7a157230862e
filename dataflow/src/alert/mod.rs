//! Alert rules over streams: step partials, condition evaluation and the alert state machine.

mod condition;
mod evaluator;
mod machine;
mod partials;

pub use condition::{Groups, TermValues, evaluate};
pub use evaluator::{ABSENT_MEMORY_MS, Evaluator, Transition};
pub use machine::{Change, Machine, TransitionKind};
pub use partials::{PartialStore, StepClock, StepRecord, TermWindow};
