//! The relay's store: envelopes per mailbox in one redb database
//! (`relay.redb` in the data directory).
//!
//! * [`RelayStore`] opens the database and serves reads (pages, heads);
//!   any number of threads may read at once.
//! * [`StoreWriter`] is the only writer: it assigns cursors, drops
//!   duplicates, applies the quotas, the proof-of-work rule for new
//!   mailboxes, fair-share eviction and retention. Each of its commits is
//!   durable (`fdatasync`) before it returns.
//!
//! Nothing is sealed: envelopes are already ciphertext, and the relay holds
//! no key. The layout is in `tables.rs` and `protocol-spec/relay.md`.

use std::path::{Path, PathBuf};

use cairn_proto::relay_proto::Item;
use cairn_proto::wire::MailboxId;
use redb::{ReadableDatabase, ReadableTable};

mod handle;
mod index;
mod tables;
mod write;

use handle::DbHandle;

pub use tables::MailboxRecord;
pub use write::{CommitReport, Policy, PostIn, RECOVER_EVERY, StoreWriter, SweepReport};

use tables::{ENVELOPES, MAILBOXES, META, META_NEXT_SLOT, META_VERSION};

/// The database file in the data directory.
pub const STORE_FILE: &str = "relay.redb";
/// The store format this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// redb failed.
    #[error("{action} {path}: {source}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// redb's error.
        source: Box<redb::Error>,
    },
    /// The data directory could not be created.
    #[error("creating data directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file holds something this build does not expect.
    #[error("{path} is damaged: {what}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// A newer cairn-relay wrote the store.
    #[error("{path} has store format {found}; this cairn-relay reads format {FORMAT_VERSION}")]
    NewerFormat {
        /// The database file.
        path: PathBuf,
        /// The format found.
        found: u64,
    },
    /// A write failed (a full disk, say); the database is closed and opened
    /// again before the next one, at most every few seconds.
    #[error("{path} is being reopened after a failed write (a full disk?); try again shortly")]
    Reopening {
        /// The database file.
        path: PathBuf,
    },
}

/// Maps a redb error to [`StoreError::Database`] with context.
pub(crate) fn db_err<'a, E: Into<redb::Error>>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(E) -> StoreError + 'a {
    move |e| StoreError::Database { action, path: path.to_owned(), source: Box::new(e.into()) }
}

/// An open store (cheap to clone; clones share the database).
#[derive(Clone)]
pub struct RelayStore {
    db: DbHandle,
    path: PathBuf,
}

impl core::fmt::Debug for RelayStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RelayStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl RelayStore {
    /// Opens (creating if missing) the store in `dir` with a page cache of
    /// `cache_bytes`. After a crash, redb repairs the file first.
    pub fn open(dir: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        create_private_dir(dir)?;
        let path = dir.join(STORE_FILE);
        let db = DbHandle::open(&path, cache_bytes)?;
        let store = Self { db, path };
        store.init()?;
        Ok(store)
    }

    /// Creates the tables and checks the format version.
    fn init(&self) -> Result<(), StoreError> {
        let db = self.db.get()?;
        let txn = db.begin_write().map_err(db_err(&self.path, "beginning a transaction"))?;
        {
            let mut meta = txn.open_table(META).map_err(db_err(&self.path, "opening meta"))?;
            let found = meta.get(META_VERSION).map_err(db_err(&self.path, "reading meta"))?;
            match found.map(|v| v.value()) {
                Some(FORMAT_VERSION) => {}
                Some(v) if v > FORMAT_VERSION => {
                    return Err(StoreError::NewerFormat { path: self.path.clone(), found: v });
                }
                Some(_) => {
                    let what = "unknown format version";
                    return Err(StoreError::Corrupt { path: self.path.clone(), what });
                }
                None => {
                    let put = |m: &mut redb::Table<&str, u64>, k, v| {
                        m.insert(k, v).map(drop).map_err(db_err(&self.path, "writing meta"))
                    };
                    put(&mut meta, META_VERSION, FORMAT_VERSION)?;
                    put(&mut meta, META_NEXT_SLOT, 0)?;
                }
            }
            let err = db_err(&self.path, "creating tables");
            txn.open_table(MAILBOXES).map_err(err)?;
            txn.open_table(ENVELOPES).map_err(db_err(&self.path, "creating tables"))?;
            txn.open_table(tables::DEDUPE).map_err(db_err(&self.path, "creating tables"))?;
        }
        txn.commit().map_err(db_err(&self.path, "committing"))
    }

    /// The writer (there must be only one), under `policy`.
    pub fn writer(&self, policy: Policy) -> Result<StoreWriter, StoreError> {
        StoreWriter::new(self.db.clone(), self.path.clone(), policy)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the database file in bytes.
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    fn record(
        &self,
        mailboxes: &impl ReadableTable<&'static [u8; 32], &'static [u8; tables::RECORD_LEN]>,
        mailbox: &MailboxId,
    ) -> Result<Option<MailboxRecord>, StoreError> {
        let Some(v) = mailboxes.get(&mailbox.0).map_err(db_err(&self.path, "reading"))? else {
            return Ok(None);
        };
        let what = "malformed mailbox record";
        MailboxRecord::decode(v.value())
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt { path: self.path.clone(), what })
    }

    /// Up to `limit` envelopes of `mailbox` with a cursor above `after`, in
    /// cursor order, and the mailbox's last assigned cursor (0: unknown
    /// mailbox).
    pub fn page(
        &self,
        mailbox: &MailboxId,
        after: u64,
        limit: usize,
    ) -> Result<(u64, Vec<Item>), StoreError> {
        let err = |a| db_err::<redb::Error>(&self.path, a);
        let db = self.db.get()?;
        let txn = db.begin_read().map_err(|e| err("beginning a read")(e.into()))?;
        let mailboxes =
            txn.open_table(MAILBOXES).map_err(|e| err("opening mailboxes")(e.into()))?;
        let Some(rec) = self.record(&mailboxes, mailbox)? else { return Ok((0, Vec::new())) };
        let start = after.saturating_add(1).max(rec.first);
        if start > rec.head || limit == 0 {
            return Ok((rec.head, Vec::new()));
        }
        let envelopes =
            txn.open_table(ENVELOPES).map_err(|e| err("opening envelopes")(e.into()))?;
        let (lo, hi) =
            (tables::envelope_key(rec.slot, start), tables::envelope_key(rec.slot, rec.head));
        let mut items = Vec::with_capacity(limit.min(64));
        let range = envelopes
            .range::<&[u8; tables::KEY_LEN]>(&lo..=&hi)
            .map_err(|e| err("reading envelopes")(e.into()))?;
        for entry in range.take(limit) {
            let (k, v) = entry.map_err(|e| err("reading envelopes")(e.into()))?;
            let (_, envelope) = tables::split_value(v.value());
            items.push(Item { cursor: tables::key_cursor(k.value()), envelope: envelope.to_vec() });
        }
        Ok((rec.head, items))
    }

    /// The last assigned cursor of each mailbox (0: unknown mailbox).
    pub fn heads(&self, mailboxes: &[MailboxId]) -> Result<Vec<u64>, StoreError> {
        let db = self.db.get()?;
        let txn = db.begin_read().map_err(db_err(&self.path, "beginning a read"))?;
        let table = txn.open_table(MAILBOXES).map_err(db_err(&self.path, "opening mailboxes"))?;
        mailboxes.iter().map(|m| Ok(self.record(&table, m)?.map_or(0, |r| r.head))).collect()
    }
}

/// Creates `dir` (mode 0700 on Unix) if it does not exist.
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|source| StoreError::Directory { path: dir.to_owned(), source })
}

#[cfg(test)]
mod test;
