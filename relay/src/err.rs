//! Errors of the relay process.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::store::StoreError;

/// Why the relay could not start or stopped with a failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listener could not be set up.
    #[error("cannot listen on {what}: {source}")]
    Listen {
        /// The listener (for example `tcp 127.0.0.1:7447`).
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file of the data directory could not be written or read.
    #[error("{action} {path}: {source}")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The writer thread could not be started or stopped cleanly.
    #[error("the store writer {0}")]
    Writer(&'static str),
}
