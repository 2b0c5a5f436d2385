//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the files at compile
//! time, and cargo would not otherwise notice an edit under `migrations/`.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
