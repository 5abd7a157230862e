//! Commits a worker's positions on a thread of its own, so that a slow coordinator never stalls
//! the dataflow. Two things are committed, in this order: per partition, the durable frontier
//! (the event time before which every output was durable), as the committed position of the
//! companion group `GROUP.durable-frontier`; then the offsets to read from again, in `GROUP`.
//!
//! Kafka keeps per-partition commit metadata, but not every Kafka-protocol broker returns it;
//! a second group works on all of them. In this order, a crash between the two commits leaves
//! a newer frontier with older offsets: a restart reads more than it needs, and writes nothing
//! twice. Commits are coalesced: only the newest waiting one is sent.

use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::config::{KafkaClient, Logged};

/// The suffix of the group that holds each partition's durable frontier.
pub const FRONTIER_GROUP_SUFFIX: &str = ".durable-frontier";

/// Positions to commit.
pub struct Positions {
    /// Per partition: the durable frontier, and the offset to read again from.
    pub partitions: Vec<(i32, u64, i64)>,
    /// Answered once committed, for the last commit of a run.
    pub done: Option<SyncSender<()>>,
}

/// Makes the dead letters sent so far durable before offsets past them are committed.
pub type FlushDeadLetters = Box<dyn FnMut() -> anyhow::Result<()> + Send>;

/// A worker's commit thread.
pub struct Committer {
    send: Option<Sender<Positions>>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Starts committing positions of `topic` for `group`.
    pub fn start(
        client: &KafkaClient,
        group: &str,
        topic: &str,
        flush: FlushDeadLetters,
    ) -> anyhow::Result<Committer> {
        let consumer = |group: &str| -> anyhow::Result<BaseConsumer<Logged>> {
            let config = client.config(&[("group.id", group), ("enable.auto.commit", "false")]);
            client.create(&config, "cannot create the Kafka commit client")
        };
        let offsets = consumer(group)?;
        let frontiers = consumer(&format!("{group}{FRONTIER_GROUP_SUFFIX}"))?;
        let (send, receive) = channel();
        let topic = topic.to_string();
        let thread = std::thread::Builder::new()
            .name("kafka-commit".into())
            .spawn(move || run(receive, &topic, &offsets, &frontiers, flush))?;
        Ok(Committer {
            send: Some(send),
            thread: Some(thread),
        })
    }

    /// Queues positions; the newest queued are committed next.
    pub fn commit(&self, partitions: Vec<(i32, u64, i64)>) {
        if let Some(send) = &self.send {
            let _ = send.send(Positions {
                partitions,
                done: None,
            });
        }
    }

    /// Commits positions and waits until they are committed (or failed).
    pub fn commit_and_wait(&self, partitions: Vec<(i32, u64, i64)>) {
        let (done, wait) = sync_channel(1);
        if let Some(send) = &self.send
            && send
                .send(Positions {
                    partitions,
                    done: Some(done),
                })
                .is_ok()
        {
            let _ = wait.recv();
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.send.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    receive: Receiver<Positions>,
    topic: &str,
    offsets: &BaseConsumer<Logged>,
    frontiers: &BaseConsumer<Logged>,
    mut flush: FlushDeadLetters,
) {
    while let Ok(mut positions) = receive.recv() {
        let mut waiting = positions.done.take().into_iter().collect::<Vec<_>>();
        while let Ok(mut newer) = receive.try_recv() {
            waiting.extend(newer.done.take());
            positions = newer;
        }
        if let Err(error) = commit(topic, &positions, offsets, frontiers, &mut flush) {
            tracing::warn!(
                "cannot commit positions of `{topic}` (the next commit will try again): {error:#}"
            );
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}

fn commit(
    topic: &str,
    positions: &Positions,
    offsets: &BaseConsumer<Logged>,
    frontiers: &BaseConsumer<Logged>,
    flush: &mut FlushDeadLetters,
) -> anyhow::Result<()> {
    if positions.partitions.is_empty() {
        return Ok(());
    }
    flush()?;
    let mut frontier_list = TopicPartitionList::new();
    let mut offset_list = TopicPartitionList::new();
    for &(partition, frontier, offset) in &positions.partitions {
        frontier_list.add_partition_offset(topic, partition, Offset::Offset(frontier as i64))?;
        offset_list.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    frontiers.commit(&frontier_list, CommitMode::Sync)?;
    offsets.commit(&offset_list, CommitMode::Sync)?;
    Ok(())
}
