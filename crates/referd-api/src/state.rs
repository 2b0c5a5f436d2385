//! What every handler can reach.

use std::sync::Arc;

use referd_core::Store;
use referd_core::email::Template;
use referd_core::time::Clock;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The base of absolute URLs in responses (`links.next`), without a trailing slash.
    pub public_url: Arc<str>,
    /// The invitation template when email (SMTP) is configured; `None`: invitations answer
    /// 503 saying how to configure it.
    pub invite_template: Option<Arc<Template>>,
    /// The click pipeline and caches of the public tracking routes.
    pub tracking: Arc<crate::tracking::Tracking>,
}

impl AppState {
    /// Starts the click writer, so it must be called inside a tokio runtime.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, public_url: &str) -> Self {
        Self {
            tracking: Arc::new(crate::tracking::Tracking::start(store.clone())),
            store,
            clock,
            public_url: public_url.trim_end_matches('/').into(),
            invite_template: None,
        }
    }

    /// Enables invitations by email, with this template.
    pub fn with_invitations(mut self, template: Template) -> Self {
        self.invite_template = Some(Arc::new(template));
        self
    }
}
