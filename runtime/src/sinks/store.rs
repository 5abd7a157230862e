//! What the sinks that write to a database share: rows gathered into batches, a thread per
//! worker that writes them in order over its own connection, and acknowledgements by event
//! time.
//!
//! A worker's sink never blocks: rows wait in it while the connection's queue is full, and its
//! durable frontier stays behind them, so that the pipeline's backpressure stops reading once
//! too much waits. A connection that fails, or a server that is down, is retried with backoff,
//! the batch kept: a database that is down slows the pipeline and loses nothing. An error the
//! server will give again stops the run with its message.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::SinkHealth;

/// Batches a worker's sink may have queued for its connection.
const QUEUE: usize = 2;

/// The longest wait between two attempts to reach the database.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often the connection's thread looks for work it does on its own (such as retention).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Why a write failed.
#[derive(Debug)]
pub enum StoreError {
    /// The connection or the server failed: trying again may succeed.
    Retry(String),
    /// The server refused what it will refuse again.
    Refused(String),
}

/// A database a sink writes to, from its connection's thread.
pub trait Store: Send + 'static {
    /// One row.
    type Row: Send + 'static;

    /// Writes a batch (connecting first when needed); once it returns `Ok`, the rows are
    /// durable. After an error the store reconnects on the next call.
    fn write(&mut self, rows: &[Self::Row]) -> impl Future<Output = Result<(), StoreError>>;

    /// Work the store does on its own between batches (partitions, retention).
    fn maintain(&mut self) -> impl Future<Output = Result<(), StoreError>> {
        std::future::ready(Ok(()))
    }
}

/// What the sink and its connection share.
#[derive(Default)]
struct Shared {
    /// Batches committed so far, in the order they were queued.
    committed: AtomicU64,
    /// Batches queued and not yet taken by the connection.
    queued: AtomicUsize,
    /// An error retrying will not cure.
    failure: Mutex<Option<String>>,
}

/// One worker's rows on their way to a store: batches of `batch_rows` rows (or what came within
/// `linger`), each acknowledged when its store committed it.
pub struct Batches<R> {
    what: String,
    queue: SyncSender<Vec<R>>,
    shared: Arc<Shared>,
    batch_rows: usize,
    linger: Duration,
    /// Rows not yet queued, with the event time they were written at, in order.
    waiting: VecDeque<(u64, R)>,
    /// When the oldest waiting row came.
    waiting_since: Option<Instant>,
    /// Batches queued and not yet committed: (number, earliest time).
    sent: VecDeque<(u64, u64)>,
    next_batch: u64,
}

impl<R: Send + 'static> Batches<R> {
    /// Starts the connection's thread for `store`; `what` names the sink in messages and in
    /// `health`, which hears when the connection cannot write and when it writes again.
    pub fn start<S: Store<Row = R>>(
        what: &str,
        store: S,
        batch_rows: usize,
        linger: Duration,
        health: Arc<SinkHealth>,
    ) -> anyhow::Result<Self> {
        let (queue, batches) = sync_channel(QUEUE);
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let thread_what = what.to_string();
        std::thread::Builder::new()
            .name(format!("store:{what}"))
            .spawn(move || connection(&thread_what, store, batches, &thread_shared, &health))?;
        Ok(Batches {
            what: what.to_string(),
            queue,
            shared,
            batch_rows,
            linger,
            waiting: VecDeque::new(),
            waiting_since: None,
            sent: VecDeque::new(),
            next_batch: 0,
        })
    }

    /// A row written at event time `time`.
    pub fn push(&mut self, time: u64, row: R) {
        if self.waiting.is_empty() {
            self.waiting_since = Some(Instant::now());
        }
        self.waiting.push_back((time, row));
    }

    /// Takes the acknowledgements in, queues what is ready, and reports a refusal.
    pub fn poll(&mut self) -> anyhow::Result<()> {
        let failure = self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(error) = failure {
            bail!("{}: the database refused a batch: {error}", self.what);
        }
        let committed = self.shared.committed.load(Ordering::Acquire);
        while self
            .sent
            .front()
            .is_some_and(|&(batch, _)| batch < committed)
        {
            self.sent.pop_front();
        }
        self.flush();
        Ok(())
    }

    /// The earliest event time written whose rows are not yet committed.
    pub fn unacknowledged(&self) -> Option<u64> {
        let sent = self.sent.front().map(|&(_, time)| time);
        let waiting = self.waiting.front().map(|&(time, _)| time);
        sent.into_iter().chain(waiting).min()
    }

    /// Queues full batches, and a partial one that waited long enough, while there is room.
    fn flush(&mut self) {
        while !self.waiting.is_empty() {
            let full = self.waiting.len() >= self.batch_rows;
            let lingered = self
                .waiting_since
                .is_some_and(|at| at.elapsed() >= self.linger);
            if !(full || lingered) || self.shared.queued.load(Ordering::Acquire) >= QUEUE {
                return;
            }
            let take = self.waiting.len().min(self.batch_rows);
            let earliest = self.waiting[0].0;
            let rows: Vec<R> = self.waiting.drain(..take).map(|(_, row)| row).collect();
            self.shared.queued.fetch_add(1, Ordering::AcqRel);
            if self.queue.send(rows).is_err() {
                // The thread ended: it left its reason for the next poll.
                return;
            }
            self.sent.push_back((self.next_batch, earliest));
            self.next_batch += 1;
            self.waiting_since = (!self.waiting.is_empty()).then(Instant::now);
        }
    }
}

fn connection<S: Store>(
    what: &str,
    mut store: S,
    batches: Receiver<Vec<S::Row>>,
    shared: &Shared,
    health: &SinkHealth,
) {
    let fail = |message: String| {
        *shared.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(format!("cannot start its runtime: {error}")),
    };
    runtime.block_on(async {
        let mut backoff = Backoff::default();
        loop {
            let rows = match batches.recv_timeout(IDLE_CHECK) {
                Ok(rows) => {
                    shared.queued.fetch_sub(1, Ordering::AcqRel);
                    Some(rows)
                }
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            loop {
                let mut result = store.maintain().await;
                if let (Ok(()), Some(rows)) = (&result, &rows) {
                    result = store.write(rows).await;
                }
                match result {
                    Ok(()) => {
                        if backoff.failing() {
                            tracing::info!("{what}: the database is reachable again");
                            health.recovered(what);
                        }
                        backoff = Backoff::default();
                        if rows.is_some() {
                            shared.committed.fetch_add(1, Ordering::AcqRel);
                        }
                        break;
                    }
                    Err(StoreError::Retry(error)) => {
                        if backoff.failing() {
                            health.still_failing(what, &error);
                        } else {
                            health.failing(what, &error);
                        }
                        let wait = backoff.next();
                        tracing::warn!(
                            "{what}: cannot write ({error}); retrying in {:.1} s, the batch kept",
                            wait.as_secs_f64()
                        );
                        tokio::time::sleep(wait).await;
                    }
                    Err(StoreError::Refused(error)) => return fail(error),
                }
            }
        }
    });
}

/// Waits that double from 100 ms up to [`MAX_BACKOFF`].
#[derive(Default)]
struct Backoff {
    attempts: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.attempts += 1;
        (Duration::from_millis(100) * 2u32.pow(self.attempts.min(7) - 1)).min(MAX_BACKOFF)
    }

    fn failing(&self) -> bool {
        self.attempts > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    /// Commits what it is given, once `open` is set; fails with `Retry` before.
    struct Gate {
        open: Arc<std::sync::atomic::AtomicBool>,
        written: Arc<Mutex<Vec<u32>>>,
    }

    impl Store for Gate {
        type Row = u32;

        async fn write(&mut self, rows: &[u32]) -> Result<(), StoreError> {
            if !self.open.load(Ordering::Acquire) {
                return Err(StoreError::Retry("closed".into()));
            }
            self.written.lock().unwrap().extend_from_slice(rows);
            Ok(())
        }
    }

    #[test]
    fn rows_wait_while_the_store_is_down_and_are_acknowledged_once_written() {
        let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let written = Arc::new(Mutex::new(Vec::new()));
        let store = Gate {
            open: Arc::clone(&open),
            written: Arc::clone(&written),
        };
        let mut batches = Batches::start("test", store, 2, Duration::ZERO, Arc::default()).unwrap();
        for (time, row) in [
            (10, 1),
            (10, 2),
            (20, 3),
            (30, 4),
            (30, 5),
            (40, 6),
            (50, 7),
        ] {
            batches.push(time, row);
        }
        batches.poll().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        batches.poll().unwrap();
        assert_eq!(batches.unacknowledged(), Some(10));
        assert!(written.lock().unwrap().is_empty());
        open.store(true, Ordering::Release);
        let deadline = Instant::now() + Duration::from_secs(10);
        while batches.unacknowledged().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            batches.poll().unwrap();
        }
        assert_eq!(batches.unacknowledged(), None);
        assert_eq!(*written.lock().unwrap(), [1, 2, 3, 4, 5, 6, 7]);
    }
}
