//! Extractors we own, so that every rejection is one of our JSON errors (axum's built-in
//! rejections answer plain text).

mod admin;
mod auth;
mod params;
mod path;
mod update;

pub use admin::AdminAuth;
pub use auth::Auth;
pub use params::{MAX_BODY_BYTES, Params};
pub use path::PathIdent;
pub use update::UpdateFields;
