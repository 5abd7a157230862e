//! Deploys reaching the workers. The control API queues a deploy; worker 0 puts its rule
//! changes in the rules collection at the event time its rules input has reached, and sends its
//! additions to every worker through the dataflow; each worker installs them as a new dataflow.
//! The rules input holds every operator of every worker at that time until the changes are in,
//! so once worker 0 has flushed them, all of them apply from that one time everywhere: worker 0
//! answers then, with the time. (Waiting for the alerts to pass it would add up to a step.)

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Mutex;

use differential_dataflow::input::InputSession;
use pipe_dataflow::rules::RuleRecord;
use pipe_dsl::Plan;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::{InputHandle, Stream};

/// One deploy, as the control API hands it to the workers.
pub struct Deploy {
    /// Records to add (+1) to and remove (−1) from the rules collection.
    pub rules: Vec<(RuleRecord, isize)>,
    /// The dataflow to add beside the running ones ([`pipe_dsl::plan::diff::additions`]).
    pub additions: Option<Plan>,
    /// Told the event time at which the deploy took effect.
    pub reply: tokio::sync::oneshot::Sender<u64>,
}

/// Deploys waiting for worker 0.
#[derive(Default)]
pub struct Deploys {
    queue: Mutex<Vec<Deploy>>,
    /// Set once worker 0 stopped feeding: deploys are refused (their reply dropped).
    closed: std::sync::atomic::AtomicBool,
}

impl Deploys {
    /// Queues a deploy for worker 0; drops it (the caller hears the pipeline is stopping) once
    /// worker 0 no longer takes any.
    pub fn submit(&self, deploy: Deploy) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if !self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            queue.push(deploy);
        }
    }

    /// Refuses the deploys waiting and every later one: the run is ending.
    pub fn close(&self) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        queue.clear();
    }

    fn take(&self) -> Vec<Deploy> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The additions of each deploy as JSON plans, broadcast to every worker.
pub type AdditionsInput = InputHandle<u64, CapacityContainerBuilder<Vec<String>>>;

/// The additions this worker has received and not installed yet.
pub type Received = Rc<RefCell<Vec<String>>>;

/// Broadcasts the additions worker 0 sends; every worker collects them in what it returns.
pub fn receive<'s>(additions: Stream<'s, u64, Vec<String>>) -> Received {
    let received: Received = Rc::default();
    let collected = Rc::clone(&received);
    additions
        .broadcast()
        .sink(Pipeline, "ReceiveAdditions", move |(input, _)| {
            input.for_each(|_, plans| collected.borrow_mut().append(plans));
        });
    received
}

/// Applies every queued deploy at the rules input's time and answers it with that time:
/// worker 0's part.
pub fn apply(
    deploys: &Deploys,
    rules: &mut InputSession<u64, RuleRecord, isize>,
    additions: &mut AdditionsInput,
) {
    for deploy in deploys.take() {
        let at = *rules.time();
        for (record, diff) in deploy.rules {
            rules.update(record, diff);
        }
        rules.flush();
        if let Some(plan) = deploy.additions {
            additions.advance_to(at.max(*additions.time()));
            additions.send(serde_json::to_string(&plan).expect("plans serialise"));
        }
        tracing::info!(
            at,
            "deploy applied at event time {}",
            crate::time::rfc3339(at)
        );
        // The caller may have gone: the deploy took effect all the same.
        let _ = deploy.reply.send(at);
    }
}
