//! The click writer: one task that takes clicks off the channel as they come, hashes each
//! visitor, drops repeats within the hour ([`Dedupe`]) and stores what is left in one batch
//! per wake-up. Under load, clicks pile up while a batch is written and the next batch is
//! bigger: group commit, so the database sees a few transactions per second, not one per
//! click. A batch that fails is retried twice, then dropped and counted (logged).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use referd_core::Store;
use referd_core::tracking::visitor::{DEDUPE_WINDOW_MICROS, Dedupe, VisitorHasher};
use referd_core::tracking::{LinkTarget, NewClick};
use tokio::sync::mpsc;

use super::{ClickCounters, Message};

/// Clicks taken off the channel per batch at most.
const BATCH: usize = 4096;

pub(crate) async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Message>,
    counters: Arc<ClickCounters>,
) {
    let mut hasher = VisitorHasher::default();
    let mut dedupe: Dedupe<(LinkTarget, String)> = Dedupe::new(DEDUPE_WINDOW_MICROS);
    let mut messages = Vec::with_capacity(BATCH);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if rx.recv_many(&mut messages, BATCH).await == 0 {
            return;
        }
        let mut flushed = Vec::new();
        let mut stop = false;
        for m in messages.drain(..) {
            match m {
                Message::Click(c) => {
                    let visitor = hasher.hash(c.ip, &c.user_agent, c.at);
                    if !dedupe.admit((c.target, visitor.clone()), c.at) {
                        counters.repeats.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    batch.push(NewClick {
                        program_id: c.program,
                        target: c.target,
                        visitor,
                        source: c.source,
                        created_at: c.at,
                    });
                }
                Message::Flush(done) => flushed.push(done),
                Message::Stop => stop = true,
            }
        }
        store_batch(&*store, &mut batch, &counters).await;
        for done in flushed {
            let _ = done.send(());
        }
        if stop {
            return;
        }
    }
}

async fn store_batch(store: &dyn Store, batch: &mut Vec<NewClick>, counters: &ClickCounters) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    for attempt in 0..3 {
        match store.insert_clicks(batch.clone()).await {
            Ok(()) => {
                counters.stored.fetch_add(n, Ordering::Relaxed);
                batch.clear();
                return;
            }
            Err(e) if attempt < 2 => {
                tracing::warn!(error = %e, clicks = n, "storing clicks failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, clicks = n, "storing clicks failed; dropped");
            }
        }
    }
    counters.failed.fetch_add(n, Ordering::Relaxed);
    batch.clear();
}
