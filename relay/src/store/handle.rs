//! The database handle, shared by the readers and the writer.
//!
//! After an I/O error (a full disk, say) redb refuses every operation,
//! reads included, until the database is closed and opened again. The
//! writer does that ([`DbHandle::reopen`]); readers take the current
//! handle for each read and meanwhile get a clear error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::Database;

use super::{StoreError, db_err};

/// How long a reopen waits for reads in progress to let go of the old
/// handle.
const READERS_LET_GO: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(crate) struct DbHandle {
    current: Arc<RwLock<Option<Arc<Database>>>>,
    path: PathBuf,
    cache_bytes: usize,
}

impl DbHandle {
    /// Opens (creating if needed) the database at `path`.
    pub(crate) fn open(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        let db = open(path, cache_bytes)?;
        let current = Arc::new(RwLock::new(Some(Arc::new(db))));
        Ok(Self { current, path: path.to_owned(), cache_bytes })
    }

    /// The database now. Keep the handle for as long as a transaction of
    /// it lives.
    pub(crate) fn get(&self) -> Result<Arc<Database>, StoreError> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.clone().ok_or_else(|| StoreError::Reopening { path: self.path.clone() })
    }

    /// Closes the database and opens it again (redb recovers the last
    /// durable commit). Fails if reads keep the old handle for too long or
    /// the file cannot be opened; then the caller tries again later.
    pub(crate) fn reopen(&self) -> Result<(), StoreError> {
        let old = self.current.write().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(old) = old
            && let Err(kept) = wait_until_sole(old)
        {
            *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(kept);
            return Err(StoreError::Reopening { path: self.path.clone() });
        }
        let db = open(&self.path, self.cache_bytes)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(db));
        Ok(())
    }
}

/// Drops `db` once no reader holds it; gives it back if one still does
/// after [`READERS_LET_GO`].
fn wait_until_sole(mut db: Arc<Database>) -> Result<(), Arc<Database>> {
    let deadline = Instant::now() + READERS_LET_GO;
    loop {
        match Arc::try_unwrap(db) {
            Ok(sole) => {
                drop(sole);
                return Ok(());
            }
            Err(shared) if Instant::now() >= deadline => return Err(shared),
            Err(shared) => {
                db = shared;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn open(path: &Path, cache_bytes: usize) -> Result<Database, StoreError> {
    Database::builder().set_cache_size(cache_bytes).create(path).map_err(db_err(path, "opening"))
}
