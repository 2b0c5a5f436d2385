//! `sqlite:` URLs to file paths.

use std::path::PathBuf;

use referd_core::store::{StoreError, StoreResult};

/// `sqlite:data/x.db`, `sqlite://./data/x.db` and `sqlite:///abs/x.db` name files;
/// anything after `?` is ignored. In-memory databases are refused: the writer and the
/// readers are separate connections and must share one file.
pub fn sqlite_path_from_url(url: &str) -> StoreResult<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Backend(format!("not a sqlite: URL: {url}")))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Backend(
            "a sqlite: URL must name a file (in-memory databases are not supported)".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let p = |u| sqlite_path_from_url(u).unwrap();
        assert_eq!(p("sqlite:data/x.db"), PathBuf::from("data/x.db"));
        assert_eq!(p("sqlite://./data/x.db"), PathBuf::from("./data/x.db"));
        assert_eq!(p("sqlite:///tmp/x.db"), PathBuf::from("/tmp/x.db"));
        assert_eq!(p("sqlite:x.db?mode=rwc"), PathBuf::from("x.db"));
        assert!(sqlite_path_from_url("sqlite::memory:").is_err());
        assert!(sqlite_path_from_url("sqlite:").is_err());
        assert!(sqlite_path_from_url("postgres://x").is_err());
    }
}
