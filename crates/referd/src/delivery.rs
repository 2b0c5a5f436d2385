//! Wires the webhook delivery worker (`referd-webhooks`) into `referd serve`: event `data`
//! comes from the API's wire shapes (`referd_api::events`), and the worker stops with the
//! server.

use std::sync::Arc;

use async_trait::async_trait;
use referd_api::AppState;
use referd_api::events::{self, EventSource};
use referd_core::webhook::ClaimedDelivery;
use referd_webhooks::{Config, Render, Worker};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Renders event data with the same code as the GET endpoints.
pub struct ApiRender(pub AppState);

#[async_trait]
impl Render for ApiRender {
    async fn render(&self, c: &ClaimedDelivery) -> Result<Value, String> {
        let d = &c.delivery;
        events::render(
            &self.0,
            &EventSource {
                program_public_id: &c.program_public_id,
                event: &d.event,
                resource_kind: &d.resource_kind,
                resource_row_id: d.resource_row_id,
                snapshot: &d.snapshot,
            },
        )
        .await
    }
}

/// A running worker: stop it with [`RunningWorker::stop`].
pub struct RunningWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningWorker {
    /// Lets the claim in progress finish, then returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the delivery worker over the server's state.
pub fn start(state: &AppState, config: Config) -> Result<RunningWorker, String> {
    let worker = Worker::new(
        state.store.clone(),
        Arc::new(ApiRender(state.clone())),
        state.clock.clone(),
        config,
    )?;
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(Arc::new(worker).run(rx));
    Ok(RunningWorker { stop, task })
}

/// Whether this instance delivers webhooks: `REFERD_WEBHOOKS_WORKER` unset or not
/// `false`/`0`/`no`.
pub fn worker_enabled() -> bool {
    std::env::var("REFERD_WEBHOOKS_WORKER").map_or(true, |v| {
        !matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0" | "no")
    })
}
