//! File names of a profile directory and the few file-system steps the store
//! needs to be durable.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::StoreError;

/// The passphrase-sealed key file (layout in `identity/keyfile.rs`).
pub const KEY_FILE: &str = "profile.key";
/// The redb database.
pub(crate) const STORE_FILE: &str = "store.redb";
/// The short-lived secrets file.
pub(crate) const SECRETS_FILE: &str = "secrets.bin";

fn private(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Opens `path` read-write, creating it (owner-only) if missing. Returns the
/// file and whether it was created.
pub(crate) fn open_private(path: &Path) -> Result<(File, bool), StoreError> {
    match private(OpenOptions::new().read(true).write(true).create_new(true)).open(path) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(|f| (f, false))
            .map_err(|e| StoreError::io("opening", path, e)),
        Err(e) => Err(StoreError::io("creating", path, e)),
    }
}

/// Makes a directory entry change (create, rename) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing directory", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `dir` (owner-only on Unix) if it does not exist.
pub(crate) fn create_dir_private(dir: &Path) -> Result<(), StoreError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| StoreError::io("creating directory", dir, e))
}

/// Writes `bytes` to `dir/name` atomically: a temporary file is written and
/// synced, renamed over `name`, and the directory is synced. A crash leaves
/// either no file or the whole file, never part of one.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = private(OpenOptions::new().write(true).create(true).truncate(true))
        .open(&tmp)
        .map_err(|e| StoreError::io("creating", &tmp, e))?;
    f.write_all(bytes).map_err(|e| StoreError::io("writing", &tmp, e))?;
    f.sync_all().map_err(|e| StoreError::io("syncing", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("renaming into place", &path, e))?;
    sync_dir(dir)
}
