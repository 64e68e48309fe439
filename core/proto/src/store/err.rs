//! Errors of the store.

use std::path::PathBuf;

use crate::crypto::PublicKey;
use crate::identity::KeyFileError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An entry's seq is not the next one for its author; nothing was written.
    #[error("entry is not contiguous: expected seq {expected}, got {got}")]
    NotContiguous {
        /// The seq the store would accept (tail + 1, or 0 for a new author).
        expected: u64,
        /// The seq of the refused entry.
        got: u64,
    },
    /// A different entry is already held at this (group, author, seq): an
    /// equivocation, to be handled above the store; nothing was written.
    #[error("a different entry is already stored at seq {seq} of author {author:?}")]
    Conflict {
        /// The author of both entries.
        author: PublicKey,
        /// The seq they share.
        seq: u64,
    },
    /// The entry id is already stored at another position (the entry does not
    /// hash to its id); nothing was written.
    #[error("entry id already stored at another position")]
    DuplicateId,
    /// A secret is longer than the secrets file can hold.
    #[error("secret is {len} bytes; at most {max} bytes can be stored")]
    SecretTooLarge {
        /// The length given.
        len: usize,
        /// [`super::MAX_SECRET_LEN`].
        max: usize,
    },
    /// The store was written by a newer cairn.
    #[error("store format version {found} is newer than this cairn understands; upgrade cairn")]
    NewerFormat {
        /// The version found on disk.
        found: u32,
        /// The newest version this build understands.
        supported: u32,
    },
    /// The storage key does not open this store.
    #[error("the storage key does not open this store (wrong key, or another profile's files)")]
    WrongKey,
    /// A stored value did not authenticate: the file is damaged or was
    /// tampered with.
    #[error("a value in {table} failed to decrypt: the store is damaged or was tampered with")]
    Decrypt {
        /// The table (or file) holding the value.
        table: &'static str,
    },
    /// A batch both appends to a group and forgets it; nothing was written.
    #[error("a batch appends to a group it forgets")]
    AppendToForgotten,
    /// A value decrypted but does not have the expected layout.
    #[error("the store is damaged: {what}")]
    Corrupt {
        /// What was malformed.
        what: &'static str,
    },
    /// A profile (or part of one) already exists where a new one was to be made.
    #[error("a profile already exists: {} is present", path.display())]
    ProfileExists {
        /// The existing file.
        path: PathBuf,
    },
    /// No profile key file where a profile was to be opened.
    #[error("no profile here: {} does not exist", path.display())]
    NoProfile {
        /// The missing key file.
        path: PathBuf,
    },
    /// The key file could not be opened or made.
    #[error("key file {}: {source}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: KeyFileError,
    },
    /// The redb database failed.
    #[error("database {}: {action} failed: {source}", path.display())]
    Database {
        /// What was being done (e.g. "commit").
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// The redb error.
        #[source]
        source: Box<redb::Error>,
    },
    /// The database was closed after a write failed (a full disk, say) and
    /// could not be opened again yet; the next commit tries again.
    #[error(
        "database {} is closed after a failed write and could not be opened again yet; \
         free disk space, then try again",
        path.display()
    )]
    Reopening {
        /// The database file.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (e.g. "writing").
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// An I/O error with its context.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { action, path: path.to_path_buf(), source }
    }
}
