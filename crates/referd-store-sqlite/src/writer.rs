//! The single writer thread and its group commit.
//!
//! Callers send a job (a closure over the connection) and await its answer. The thread takes
//! the first queued job and then, greedily and without waiting, every job already queued (up
//! to [`MAX_BATCH`]); it runs each in its own SAVEPOINT inside one `BEGIN IMMEDIATE`
//! transaction, so a failing job rolls back only itself; commits once; and only after the
//! commit answers each caller. `performance.md` measured this at 45-51k durable inserts/s
//! here, against about 7k for one autocommit per request.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::thread::JoinHandle;

use referd_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

/// Most jobs in one transaction: enough to amortise the fsync, small enough to keep the
/// latency of the first job in a batch low.
const MAX_BATCH: usize = 256;
/// Jobs that may wait in the queue before callers wait to enqueue (backpressure).
const QUEUE_DEPTH: usize = 4096;

/// One write, type-erased so jobs of any result type share the queue.
trait WriteJob: Send {
    /// Runs the job inside the open transaction and keeps its result.
    fn execute(&mut self, tx: &mut Transaction<'_>);
    /// Answers the caller: the kept result if the transaction committed, else the error.
    fn finish(self: Box<Self>, commit: Result<(), &str>);
}

struct Job<R, F> {
    work: Option<F>,
    result: Option<StoreResult<R>>,
    reply: oneshot::Sender<StoreResult<R>>,
}

impl<R, F> WriteJob for Job<R, F>
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
{
    fn execute(&mut self, tx: &mut Transaction<'_>) {
        let Some(work) = self.work.take() else { return };
        // SQLite rolls the whole transaction back by itself on some errors (I/O, disk full);
        // a SAVEPOINT would then silently open a new one. Refuse instead.
        self.result = Some(if tx.is_autocommit() {
            Err(StoreError::Backend(
                "the batch transaction was rolled back".into(),
            ))
        } else {
            in_savepoint(tx, work)
        });
    }

    fn finish(self: Box<Self>, commit: Result<(), &str>) {
        let answer = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Backend("write job did not run".into())),
            (Err(e), _) => Err(StoreError::Backend(format!("commit failed: {e}"))),
        };
        // The caller may have gone away (client disconnected); the write stands regardless.
        let _ = self.reply.send(answer);
    }
}

/// Runs `work` inside `SAVEPOINT job`: released when it succeeds, rolled back (only this job's
/// changes) when it fails or panics. The three statements are prepared once and cached:
/// `execute_batch` would parse them again for every job on the writer's hot path.
fn in_savepoint<R>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> StoreResult<R>,
) -> StoreResult<R> {
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map_err(|e| StoreError::Backend(e.to_string()))
    };
    run("SAVEPOINT job")?;
    // A panicking job must not take the writer (and every later write) down.
    let outcome = catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(StoreError::Backend("write job panicked".into())));
    match outcome {
        Ok(value) => run("RELEASE job").map(|_| value),
        Err(e) => {
            // ROLLBACK TO undoes the job's changes; RELEASE then removes the savepoint.
            let _ = run("ROLLBACK TO job").and_then(|_| run("RELEASE job"));
            Err(e)
        }
    }
}

enum Message {
    Job(Box<dyn WriteJob>),
    /// Finish what is queued before this, then stop.
    Stop,
}

pub(crate) struct Writer {
    queue: mpsc::Sender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(conn: Connection) -> StoreResult<Self> {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("referd-sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            queue,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `work` on the writer connection; answers once its batch has committed.
    pub(crate) async fn run<R, F>(&self, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            work: Some(work),
            result: None,
            reply,
        });
        self.queue
            .send(Message::Job(job))
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?
    }

    /// Lets the writer finish every job queued so far, then joins its thread.
    pub(crate) async fn stop(&self) {
        let _ = self.queue.send(Message::Stop).await;
        let handle = self.thread.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Message>) {
    conn.set_prepared_statement_cache_capacity(64);
    let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    while !stopping {
        match rx.blocking_recv() {
            Some(Message::Job(job)) => batch.push(job),
            Some(Message::Stop) | None => break,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Message::Job(job)) => batch.push(job),
                Ok(Message::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, &mut batch);
    }
    tracing::debug!("SQLite writer stopped");
}

fn commit_batch(conn: &mut Connection, batch: &mut Vec<Box<dyn WriteJob>>) {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            tracing::error!(error = %msg, "cannot begin a write transaction");
            for job in batch.drain(..) {
                job.finish(Err(&msg));
            }
            return;
        }
    };
    for job in batch.iter_mut() {
        job.execute(&mut tx);
    }
    if tx.is_autocommit() {
        // Rolled back under us: none of the batch was written, whatever the jobs returned.
        let msg = "the batch transaction was rolled back by SQLite";
        tracing::error!("{msg}");
        for job in batch.drain(..) {
            job.finish(Err(msg));
        }
        return;
    }
    match tx.commit() {
        Ok(()) => {
            for job in batch.drain(..) {
                job.finish(Ok(()));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            tracing::error!(error = %msg, "write transaction failed to commit");
            for job in batch.drain(..) {
                job.finish(Err(&msg));
            }
        }
    }
}
