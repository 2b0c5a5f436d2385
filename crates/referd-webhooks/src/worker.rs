//! The delivery worker that runs inside `referd serve`: it leases due deliveries from the
//! outbox, renders and freezes each body, sends it signed, logs the attempt and schedules a
//! retry or marks the delivery done or failed. Each webhook's deliveries from one claim are
//! sent one after another, oldest first; different webhooks are served concurrently.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use referd_core::Store;
use referd_core::program::ProgramRowId;
use referd_core::time::{Clock, Timestamp};
use referd_core::webhook::{AttemptOutcome, ClaimedDelivery};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::backoff::{self, MAX_ATTEMPTS};
use crate::send::{self, Outgoing};

/// How often a worker deletes old delivered deliveries.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often rewards whose review window ended are announced (`reward.approved` may lag the
/// end of the window by this much).
const APPROVALS_EVERY: Duration = Duration::from_secs(30);

/// Turns an outbox row into the event's `data`: the resource as its GET answers it (the
/// HTTP layer knows that shape, so it implements this).
#[async_trait]
pub trait Render: Send + Sync {
    async fn render(&self, delivery: &ClaimedDelivery) -> Result<Value, String>;
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Send to private, loopback and link-local addresses (`REFERD_WEBHOOKS_ALLOW_PRIVATE`).
    pub allow_private: bool,
    /// How long a claim keeps a delivery from other workers. Longer than a claim's sends can
    /// take; a crashed instance's deliveries wait this long before another takes them.
    pub lease: Duration,
    /// Deliveries taken per claim.
    pub batch: u32,
    /// Sleep between claims that found nothing.
    pub idle_poll: Duration,
    /// Identifies this worker's leases (unique per process).
    pub owner: String,
    /// Serve one program only (`None`: every program, as `referd serve` does).
    pub only: Option<ProgramRowId>,
    /// Delivered deliveries older than this are deleted (`REFERD_WEBHOOKS_RETENTION_DAYS`,
    /// default 30); failed ones are kept until redelivered.
    pub retention: Duration,
}

impl Config {
    /// From the environment: `REFERD_WEBHOOKS_ALLOW_PRIVATE` (`true`/`1`),
    /// `REFERD_WEBHOOKS_LEASE_SECS` (default 300).
    pub fn from_env() -> Self {
        let allow_private = std::env::var("REFERD_WEBHOOKS_ALLOW_PRIVATE")
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
        let lease = std::env::var("REFERD_WEBHOOKS_LEASE_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| *s >= 1)
            .unwrap_or(300);
        let retention_days = std::env::var("REFERD_WEBHOOKS_RETENTION_DAYS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|d| *d >= 1)
            .unwrap_or(30);
        Self {
            retention: Duration::from_secs(retention_days * 86_400),
            allow_private,
            lease: Duration::from_secs(lease),
            batch: 32,
            idle_poll: Duration::from_millis(200),
            owner: format!("{}-{}", std::process::id(), rand::random::<u64>()),
            only: None,
        }
    }
}

pub struct Worker {
    store: Arc<dyn Store>,
    render: Arc<dyn Render>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    config: Config,
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        render: Arc<dyn Render>,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> Result<Self, String> {
        // 5 s per send and `batch` sends in a row at most must fit in a lease.
        let longest = send::TIMEOUT.saturating_mul(config.batch + 1);
        if config.lease < longest {
            tracing::warn!(
                lease_secs = config.lease.as_secs(),
                "webhook lease shorter than a claim's worst case; a slow receiver may get a delivery twice"
            );
        }
        Ok(Self {
            client: send::client(config.allow_private)?,
            store,
            render,
            clock,
            config,
        })
    }

    /// Runs until `stop` turns true; a claim in progress is finished first.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        tracing::info!(owner = %self.config.owner, "webhook delivery worker started");
        let mut last_prune: Option<std::time::Instant> = None;
        let mut last_sweep: Option<std::time::Instant> = None;
        while !*stop.borrow() {
            if last_prune.is_none_or(|t| t.elapsed() > PRUNE_EVERY) {
                last_prune = Some(std::time::Instant::now());
                self.prune().await;
            }
            if last_sweep.is_none_or(|t| t.elapsed() > APPROVALS_EVERY) {
                last_sweep = Some(std::time::Instant::now());
                self.announce_approvals().await;
            }
            let worked = match self.tick().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(error = %e, "webhook claim failed");
                    false
                }
            };
            if !worked {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// Queues `reward.approved` for the rewards whose review window has ended (every instance
    /// may; each reward is announced once).
    pub async fn announce_approvals(&self) {
        match self
            .store
            .sweep_reward_approvals(self.clock.now(), self.config.only)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(announced = n, "rewards approved"),
            Err(e) => tracing::warn!(error = %e, "reward approval sweep failed"),
        }
    }

    /// Deletes delivered deliveries past the retention period (every instance may; the
    /// statement is idempotent).
    pub async fn prune(&self) {
        let before = Timestamp::from_micros(
            self.clock.now().as_micros() - self.config.retention.as_micros() as i64,
        );
        match self.store.prune_deliveries(before, self.config.only).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "pruned delivered webhook deliveries"),
            Err(e) => tracing::warn!(error = %e, "webhook delivery pruning failed"),
        }
    }

    /// One claim and its sends; answers how many deliveries were handled.
    pub async fn tick(self: &Arc<Self>) -> Result<usize, String> {
        let now = self.clock.now();
        let until = Timestamp::from_micros(now.as_micros() + self.config.lease.as_micros() as i64);
        let claimed = self
            .store
            .claim_deliveries(
                &self.config.owner,
                now,
                until,
                self.config.batch,
                self.config.only,
            )
            .await
            .map_err(|e| e.to_string())?;
        let n = claimed.len();
        let mut by_webhook: BTreeMap<i64, Vec<ClaimedDelivery>> = BTreeMap::new();
        for c in claimed {
            by_webhook
                .entry(c.delivery.webhook_row_id.0)
                .or_default()
                .push(c);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (_, group) in by_webhook {
            let me = Arc::clone(self);
            tasks.spawn(async move {
                let mut group = group.into_iter();
                while let Some(c) = group.next() {
                    if let Some(retry_at) = me.deliver(c).await {
                        // An earlier event failed: the later ones wait for it, in order.
                        for later in group.by_ref() {
                            let released = me
                                .store
                                .release_delivery(later.delivery.row_id, &me.config.owner, retry_at)
                                .await;
                            if let Err(e) = released {
                                tracing::error!(error = %e, "webhook delivery not released; its lease will expire");
                            }
                        }
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(n)
    }

    async fn body(&self, c: &ClaimedDelivery) -> Result<String, String> {
        if let Some(p) = &c.delivery.payload {
            return Ok(p.clone());
        }
        let data = self.render.render(c).await?;
        let envelope = json!({
            "event": c.delivery.event,
            "url": c.url,
            "webhook_key": c.delivery.webhook_key,
            "created_at": c.delivery.created_at.to_laravel(),
            "data": data,
        });
        let text = serde_json::to_string(&envelope).map_err(|e| e.to_string())?;
        self.store
            .freeze_payload(c.delivery.row_id, text)
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends one delivery and records the attempt; answers the retry time when it failed and
    /// will be tried again, or the lease end when it could not be sent at all.
    async fn deliver(&self, c: ClaimedDelivery) -> Option<Timestamp> {
        let body = match self.body(&c).await {
            Ok(b) => b,
            Err(e) => {
                // Rendering failed (storage unreachable): the lease runs out and a later
                // claim tries again; nothing is lost.
                tracing::error!(delivery = c.delivery.row_id.0, error = %e, "webhook payload render failed");
                return Some(Timestamp::from_micros(
                    self.clock.now().as_micros() + self.config.lease.as_micros() as i64,
                ));
            }
        };
        let message_id = format!("msg_{}", c.delivery.row_id.0);
        let out = Outgoing {
            url: &c.url,
            body: body.as_bytes(),
            message_id: &message_id,
            secret: &c.secret,
            previous_secret: c.previous_secret.as_deref(),
            allow_private: self.config.allow_private,
        };
        let now = self.clock.now();
        let attempt = send::send(&self.client, &out, now).await;
        let ok = attempt.status_code.is_some_and(|s| (200..300).contains(&s));
        let outcome = if ok {
            AttemptOutcome::Delivered
        } else if c.delivery.attempts >= MAX_ATTEMPTS {
            AttemptOutcome::Failed
        } else {
            let wait = backoff::delay(c.delivery.attempts);
            AttemptOutcome::RetryAt(Timestamp::from_micros(
                self.clock.now().as_micros() + wait.as_micros() as i64,
            ))
        };
        let retry_at = match outcome {
            AttemptOutcome::RetryAt(at) => Some(at),
            _ => None,
        };
        match self
            .store
            .finish_attempt(c.delivery.row_id, &self.config.owner, &attempt, outcome)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                delivery = c.delivery.row_id.0,
                "webhook lease lost before the attempt was recorded"
            ),
            Err(e) => {
                tracing::error!(delivery = c.delivery.row_id.0, error = %e, "webhook attempt not recorded")
            }
        }
        retry_at
    }
}
