//! What every handler can reach.

use std::sync::Arc;

use referd_core::Store;
use referd_core::time::Clock;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The base of absolute URLs in responses (`links.next`), without a trailing slash.
    pub public_url: Arc<str>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, public_url: &str) -> Self {
        Self {
            store,
            clock,
            public_url: public_url.trim_end_matches('/').into(),
        }
    }
}
