//! The click hot path (`shared/design/performance.md` (i)): handlers look programs and links
//! up in memory ([`cache`]), answer at once, and hand each click to a bounded channel; one
//! writer task ([`writer`]) hashes visitors, drops repeats within the hour and stores the
//! clicks in batches. Nothing on the request path waits for storage once a link is cached.
//!
//! What a hard kill can lose: the clicks in the channel and the batch being written (at most
//! [`QUEUE_CAPACITY`] clicks, in practice the last few milliseconds). A graceful shutdown
//! ([`Tracking::shutdown`]) stores everything queued first. When the channel is full (the
//! database cannot keep up), new clicks are dropped and counted, never waited for.

mod cache;
pub mod client;
mod limit;
mod writer;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use referd_core::Store;
use referd_core::program::Program;
use referd_core::time::Timestamp;
use referd_core::tracking::{ClickSource, LinkTarget};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use cache::Caches;
pub use limit::RateLimiter;

/// Clicks waiting for the writer; beyond this they are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 65_536;

/// A click as a handler sees it (the address is hashed by the writer, never stored).
#[derive(Debug)]
pub struct ClickEvent {
    pub program: referd_core::program::ProgramRowId,
    pub target: LinkTarget,
    pub ip: IpAddr,
    pub user_agent: Box<str>,
    pub source: ClickSource,
    pub at: Timestamp,
}

pub(crate) enum Message {
    Click(ClickEvent),
    /// Answer once every click queued before this one is stored.
    Flush(oneshot::Sender<()>),
    /// Store what is queued, then stop.
    Stop,
}

/// Counters for operators and the benchmark.
#[derive(Default)]
pub struct ClickCounters {
    pub queued: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub repeats: AtomicU64,
    pub stored: AtomicU64,
    pub failed: AtomicU64,
}

pub struct Tracking {
    pub caches: Caches,
    pub signups: RateLimiter,
    /// Keys the in-memory rate-limit digests of addresses (random per process).
    pub limit_secret: [u8; 32],
    pub counters: Arc<ClickCounters>,
    queue: mpsc::Sender<Message>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Tracking {
    /// Starts the click writer; must run inside a tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let counters = Arc::new(ClickCounters::default());
        let writer = tokio::spawn(writer::run(store.clone(), rx, counters.clone()));
        Self {
            caches: Caches::new(store),
            signups: RateLimiter::signups(),
            limit_secret: rand::random(),
            counters,
            queue,
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Queues a click without waiting; a full queue drops it (counted).
    pub fn record(&self, click: ClickEvent) {
        match self.queue.try_send(Message::Click(click)) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.counters
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits until every click queued so far is stored (stats read their own clicks).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Stores every queued click and stops the writer (graceful shutdown).
    pub async fn shutdown(&self) {
        let Some(writer) = self.writer.lock().await.take() else {
            return;
        };
        if self.queue.send(Message::Stop).await.is_ok() {
            let _ = writer.await;
        }
        let c = &self.counters;
        tracing::info!(
            queued = c.queued.load(Ordering::Relaxed),
            stored = c.stored.load(Ordering::Relaxed),
            repeats = c.repeats.load(Ordering::Relaxed),
            dropped_queue_full = c.dropped_queue_full.load(Ordering::Relaxed),
            failed = c.failed.load(Ordering::Relaxed),
            "click writer stopped"
        );
    }
}

/// The program of a public id, from the cache.
pub async fn program(tracking: &Tracking, public_id: &str) -> Option<Arc<Program>> {
    tracking.caches.program(public_id).await
}
