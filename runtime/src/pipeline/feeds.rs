//! Making the feeds: this worker's share of every source of the plan, each with the input it
//! sends its records to once the dataflow is built.

use pipe_dataflow::{SourceInput, SourceRecord};
use pipe_dsl::Plan;
use prometheus_client::metrics::counter::Counter;

use super::{Progress, RunOptions};
use crate::sources::{self, Context, Source};
use crate::time::now_millis;

/// One source on this worker.
pub struct Feed {
    /// The source's name.
    pub name: String,
    /// This worker's share of it.
    pub source: Box<dyn Source>,
    /// Where its records go; `None` before the dataflow is built and once the source ended.
    pub input: Option<SourceInput>,
    /// The inputs of dataflows deploys added that read it too.
    pub additions: Vec<SourceInput>,
    /// The records of one poll, handed to the input whole: sending them one at a time copied
    /// each into the input's own buffer.
    pub batch: Vec<SourceRecord>,
    /// Samples it sent, for `/metrics`.
    pub samples: Counter,
}

/// Opens this worker's share of every source.
pub fn open(
    plan: &Plan,
    worker: &timely::worker::Worker,
    options: &RunOptions,
    progress: &Progress,
) -> anyhow::Result<Vec<Feed>> {
    let now_ms = now_millis();
    plan.sources
        .iter()
        .map(|source| {
            let context = Context {
                plan,
                source,
                worker: worker.index(),
                peers: worker.peers(),
                local_workers: options.workers,
                now_ms,
                run_for: options.run_for,
                shared: progress.sources.clone(),
            };
            let opened = match options.sources.get(&source.name) {
                Some(open) => open(&context),
                None => sources::open(&context),
            };
            Ok(Feed {
                name: source.name.clone(),
                source: opened?,
                input: None,
                additions: Vec::new(),
                batch: Vec::new(),
                samples: progress
                    .source_samples
                    .get_or_create(&vec![("source", source.name.clone())])
                    .clone(),
            })
        })
        .collect()
}

/// When the sources resumed from committed state: outputs before the newest time any of them
/// reports were durable then.
pub fn resumed(feeds: &[Feed]) -> Option<u64> {
    feeds.iter().filter_map(|feed| feed.source.resumed()).max()
}

/// Whether any source resumes after a restart from what it committed.
pub fn resumable(feeds: &[Feed]) -> bool {
    feeds.iter().any(|feed| feed.source.resumable())
}
