//! The group machinery shared by the customer writers and the API-key reader: one task that
//! takes jobs from a bounded queue and hands them to a [`Handler`] in batches.
//!
//! Why: on PostgreSQL the fixed cost of a statement (a round trip, parse/bind/execute, and for
//! writes a WAL flush) dwarfs the work of one small row. When many requests ask the same kind
//! of question at once, answering them with one statement per batch is what lets referd keep
//! up with the database's own single-statement rate.
//!
//! - Greedy drain, no timer: after one job arrives, the task takes whatever else is already
//!   queued (up to the batch limit) and hands the batch over at once. An idle store adds no
//!   latency; under load, batches grow by themselves while the previous one is in flight.
//! - One batch at a time, which keeps batches as large as the load allows.
//! - The bounded queue pushes back on callers when the database falls behind.
//! - Shutdown closes the queue, lets the handler finish every job already queued, then stops.

use std::future::Future;

use tokio::sync::{mpsc, watch};

/// What a batch task does with its jobs. It answers each job itself (jobs carry their reply
/// channel), and only once the statement that serves it has completed.
pub(crate) trait Handler: Send + 'static {
    type Job: Send + 'static;

    fn handle(&mut self, jobs: Vec<Self::Job>) -> impl Future<Output = ()> + Send;
}

/// The batch task no longer accepts jobs: the store is closed.
#[derive(Debug)]
pub(crate) struct Closed;

enum Message<J> {
    Job(J),
    /// Stop accepting jobs, handle the queued ones, then exit.
    Shutdown,
}

/// The handle on a batch task: submits jobs and stops the task.
pub(crate) struct Batcher<J> {
    queue: mpsc::Sender<Message<J>>,
    /// Becomes `true` (or loses its sender) once the task has exited.
    stopped: watch::Receiver<bool>,
}

impl<J: Send + 'static> Batcher<J> {
    /// Starts the task on the current tokio runtime.
    pub(crate) fn spawn<H>(handler: H, max_batch: usize, capacity: usize) -> Self
    where
        H: Handler<Job = J>,
    {
        let (queue, receiver) = mpsc::channel(capacity);
        let (stopped_tx, stopped) = watch::channel(false);
        tokio::spawn(async move {
            run(handler, receiver, max_batch).await;
            // Nobody may be watching any more; that is fine.
            let _ = stopped_tx.send(true);
        });
        Self { queue, stopped }
    }

    /// Queues a job; fails when the task no longer accepts jobs (after shutdown).
    pub(crate) async fn submit(&self, job: J) -> Result<(), Closed> {
        self.queue.send(Message::Job(job)).await.map_err(|_| Closed)
    }

    /// Stops the task after it has handled every job queued so far. Idempotent.
    pub(crate) async fn shutdown(&self) {
        // Fails only when the queue is already closed, i.e. a shutdown is under way.
        let _ = self.queue.send(Message::Shutdown).await;
        let mut stopped = self.stopped.clone();
        // An error means the task has gone, which is what we wait for anyway.
        let _ = stopped.wait_for(|done| *done).await;
    }
}

/// The task: batches queued jobs until the queue is closed and empty.
async fn run<H: Handler>(
    mut handler: H,
    mut receiver: mpsc::Receiver<Message<H::Job>>,
    max: usize,
) {
    let mut batch = Vec::with_capacity(max);
    while let Some(first) = receiver.recv().await {
        accept(first, &mut batch, &mut receiver);
        while batch.len() < max {
            match receiver.try_recv() {
                Ok(next) => accept(next, &mut batch, &mut receiver),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            handler.handle(std::mem::take(&mut batch)).await;
        }
    }
}

/// Adds a job to the batch, or closes the queue on shutdown (jobs already queued are still
/// received and handled; new submissions fail).
fn accept<J>(message: Message<J>, batch: &mut Vec<J>, receiver: &mut mpsc::Receiver<Message<J>>) {
    match message {
        Message::Job(job) => batch.push(job),
        Message::Shutdown => receiver.close(),
    }
}
